//! `kubectl fed completion bash|zsh|fish`: completion scripts generated from the clap definition, so they
//! always match the flags. The scripts complete the `kubectl-fed` command; completing `kubectl fed …` through
//! kubectl (an executable `kubectl_complete-fed`, kubectl 1.26+) is not provided yet.

use clap::CommandFactory;
use clap_complete::{Shell as ClapShell, generate};

use crate::cli::{Cli, CompletionArgs, Shell};

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
