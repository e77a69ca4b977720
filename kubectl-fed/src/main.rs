//! The `kubectl-fed` binary: parse the command line, install the TLS crypto provider and logging, run.

use std::process::ExitCode;

use clap::Parser;

// mimalloc: glibc's malloc/free were 16 % of `federate`'s CPU (perf); mimalloc takes ~12 % off the whole run.
// Built with `no_thp`: with transparent huge pages its arenas added ~14 MiB of peak RSS to a 10,000-object run
// (4.5x the input instead of 2.4x; docs/benchmarks.md `cli`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `kubectl_complete-fed` (kubectl's plugin completion) calls `kubectl-fed __complete WORD…`.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(kubectl_fed::commands::completion::COMPLETE_ARG) {
        return match kubectl_fed::commands::completion::print_completions(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let cli = kubectl_fed::cli::Cli::parse();
    // Fails only if a provider is already installed, which is then used.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(kubectl_fed::log_filter(cli.global.verbosity))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    kubectl_fed::run(cli)
}
