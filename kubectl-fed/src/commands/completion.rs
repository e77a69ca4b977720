//! Shell completion, both ways:
//!
//! - `kubectl fed completion bash|zsh|fish`: scripts generated from the clap definition, so they always
//!   match the flags. They complete the `kubectl-fed` command.
//! - `kubectl fed <TAB>` through kubectl (1.26+): kubectl runs the executable `kubectl_complete-fed` (the shim
//!   in `plugins/kubectl_complete-fed`, installed next to `kubectl-fed`) with the words after `kubectl fed`,
//!   the last one being the word to complete, and reads Cobra's `__complete` protocol: one candidate per
//!   line (`value<TAB>description`), then `:<directive>`. The shim runs `kubectl-fed __complete "$@"`;
//!   [`complete`] answers from the same clap definition.

use clap::{Arg, ArgAction, CommandFactory};
use clap_complete::{Shell as ClapShell, generate};

use crate::cli::{Cli, CompletionArgs, Shell};

/// The hidden first argument of a completion request.
pub const COMPLETE_ARG: &str = "__complete";

/// Cobra's `ShellCompDirectiveNoFileComp`: do not fall back to file names.
const NO_FILE_COMP: u32 = 4;
/// Cobra's `ShellCompDirectiveDefault`: the shell completes file names when there is no candidate.
const FILES: u32 = 0;

/// Runs `kubectl fed completion`.
pub fn run(args: &CompletionArgs) -> anyhow::Result<()> {
    let shell = match args.shell {
        Shell::Bash => ClapShell::Bash,
        Shell::Zsh => ClapShell::Zsh,
        Shell::Fish => ClapShell::Fish,
    };
    let mut command = Cli::command();
    let mut out = Vec::new();
    generate(shell, &mut command, "kubectl-fed", &mut out);
    crate::output::print_stdout(&String::from_utf8_lossy(&out))
}

/// Answers `kubectl-fed __complete WORD… CURRENT` in Cobra's protocol (see the module docs).
pub fn print_completions(words: &[String]) -> anyhow::Result<()> {
    let (candidates, directive) = complete(&Cli::command(), words);
    let mut out = String::new();
    for c in candidates {
        out.push_str(&c);
        out.push('\n');
    }
    out.push_str(&format!(":{directive}\n"));
    crate::output::print_stdout(&out)
}

/// The candidates for the last of `words` (the words after `kubectl fed`; the last is being typed and may be
/// empty), and Cobra's directive.
pub fn complete(root: &clap::Command, words: &[String]) -> (Vec<String>, u32) {
    let (current, before) = match words.split_last() {
        Some((c, b)) => (c.as_str(), b),
        None => ("", &[][..]),
    };
    let globals: Vec<Arg> = root
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    let mut cmd = root.clone();
    let mut positionals = 0;
    let mut pending: Option<Arg> = None;
    for word in before {
        if pending.take().is_some() {
            continue;
        }
        if let Some(flag) = word.strip_prefix('-') {
            if word.contains('=') {
                continue;
            }
            if let Some(arg) = find_flag(&cmd, &globals, flag)
                && takes_value(&arg)
            {
                pending = Some(arg);
            }
            continue;
        }
        if let Some(sub) = cmd.find_subcommand(word).cloned() {
            cmd = sub;
            positionals = 0;
        } else {
            positionals += 1;
        }
    }

    // A flag's value.
    if let Some(arg) = pending {
        let values = possible_values(&arg);
        if values.is_empty() {
            return (Vec::new(), if wants_path(&arg) { FILES } else { NO_FILE_COMP });
        }
        return (filter(values, current), NO_FILE_COMP);
    }
    if current.starts_with('-') {
        let mut flags: Vec<String> = cmd
            .get_arguments()
            .chain(globals.iter())
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| {
                let long = a.get_long()?;
                let help = a
                    .get_help()
                    .map(|h| first_line(&h.to_string()))
                    .unwrap_or_default();
                Some(format!("--{long}\t{help}"))
            })
            .collect();
        flags.sort();
        flags.dedup();
        return (filter(flags, current), NO_FILE_COMP);
    }
    if cmd.has_subcommands() {
        let subs = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .map(|s| {
                let about = s
                    .get_about()
                    .map(|a| first_line(&a.to_string()))
                    .unwrap_or_default();
                format!("{}\t{about}", s.get_name())
            })
            .collect();
        return (filter(subs, current), NO_FILE_COMP);
    }
    let positional = cmd.get_positionals().nth(positionals).cloned();
    match positional {
        Some(arg) => (filter(possible_values(&arg), current), NO_FILE_COMP),
        None => (Vec::new(), NO_FILE_COMP),
    }
}

fn find_flag(cmd: &clap::Command, globals: &[Arg], flag: &str) -> Option<Arg> {
    let all = || cmd.get_arguments().chain(globals.iter());
    match flag.strip_prefix('-') {
        Some(long) => all()
            .find(|a| a.get_long() == Some(long) || a.get_all_aliases().is_some_and(|al| al.contains(&long)))
            .cloned(),
        None => {
            let short = flag.chars().next()?;
            all().find(|a| a.get_short() == Some(short)).cloned()
        }
    }
}

fn takes_value(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Set | ArgAction::Append)
        && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
}

fn possible_values(arg: &Arg) -> Vec<String> {
    arg.get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| match v.get_help() {
            Some(h) => format!("{}\t{}", v.get_name(), first_line(&h.to_string())),
            None => v.get_name().to_string(),
        })
        .collect()
}

/// Flags whose value is a file or folder: the shell completes file names.
fn wants_path(arg: &Arg) -> bool {
    matches!(
        arg.get_value_names().and_then(|v| v.first()).map(|v| v.as_str()),
        Some("PATH" | "FILE" | "DIR" | "FILE|DIR|-")
    )
}

fn filter(candidates: Vec<String>, prefix: &str) -> Vec<String> {
    candidates.into_iter().filter(|c| c.starts_with(prefix)).collect()
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(words: &[&str]) -> (Vec<String>, u32) {
        let words: Vec<String> = words.iter().map(|w| (*w).to_string()).collect();
        let (c, d) = complete(&Cli::command(), &words);
        (
            c.into_iter()
                .map(|c| c.split('\t').next().unwrap_or_default().to_string())
                .collect(),
            d,
        )
    }

    #[test]
    fn completes_commands_flags_and_values() {
        struct Case {
            name: &'static str,
            words: &'static [&'static str],
            want: &'static [&'static str],
            directive: u32,
        }
        let cases = [
            Case {
                name: "commands",
                words: &["d"],
                want: &["diff", "disable"],
                directive: NO_FILE_COMP,
            },
            Case {
                name: "all commands",
                words: &[""],
                want: &[],
                directive: NO_FILE_COMP,
            },
            Case {
                name: "get's resource",
                words: &["get", "cl"],
                want: &["clusters"],
                directive: NO_FILE_COMP,
            },
            Case {
                name: "-o values",
                words: &["get", "clusters", "-o", ""],
                want: &["wide", "yaml", "json"],
                directive: NO_FILE_COMP,
            },
            Case {
                name: "shell",
                words: &["completion", "z"],
                want: &["zsh"],
                directive: NO_FILE_COMP,
            },
            Case {
                name: "-f is a file",
                words: &["diff", "-f", ""],
                want: &[],
                directive: FILES,
            },
            Case {
                name: "global flag value is skipped",
                words: &["--context", "host", "status", "--wat"],
                want: &["--watch", "--watch-timeout"],
                directive: NO_FILE_COMP,
            },
            Case {
                name: "rbac value",
                words: &["join", "eu-1", "--rbac", "a"],
                want: &["admin"],
                directive: NO_FILE_COMP,
            },
            Case {
                name: "free positional",
                words: &["join", ""],
                want: &[],
                directive: NO_FILE_COMP,
            },
        ];
        for c in cases {
            let (got, directive) = names(c.words);
            if c.name == "all commands" {
                assert!(
                    got.contains(&"apply".to_string()) && got.contains(&"check".to_string()),
                    "{got:?}"
                );
                assert!(!got.contains(&"help".to_string()), "{got:?}");
            } else {
                assert_eq!(got, c.want, "case {}", c.name);
            }
            assert_eq!(directive, c.directive, "case {}", c.name);
        }
        let (flags, _) = names(&["apply", "--"]);
        assert!(
            flags.contains(&"--clusters".to_string()) && flags.contains(&"--kubeconfig".to_string()),
            "{flags:?}"
        );
    }
}
