//! The `kubectl-fed` binary: parse the command line, install the TLS crypto provider and logging, run.

use std::process::ExitCode;

use clap::Parser;

/// `federate` parses and builds many small JSON values per object; with glibc malloc, allocation was a
/// sixth of its CPU (perf), mimalloc much less.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
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
