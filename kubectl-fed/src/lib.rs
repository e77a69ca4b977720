//! kubectl-fed: the `kubectl fed` plugin. Plain manifests → federated objects (`federate`), applied to the
//! host cluster (`apply`); types enabled and disabled for federation (`enable`, `disable`).
//!
//! Thin by design (design §2): every decision — conversion, placement, override checks, CRD and
//! FederatedTypeConfig shapes — is `kubefed_core`'s. This crate parses flags ([`cli`]), reads files
//! ([`input`]), talks to the host ([`client`], [`discovery`], [`enabled`]) and prints ([`output`]).

pub mod cli;
pub mod client;
pub mod commands;
pub mod discovery;
pub mod enabled;
pub mod input;
pub mod members;
pub mod output;
pub mod types;

use std::process::ExitCode;

use cli::{Cli, Command};

/// Stack of the runtime's threads: deeply nested manifests are parsed recursively (see
/// `kubefed_core::manifest::ParseLimits::max_depth`).
const THREAD_STACK: usize = 8 << 20;

/// Runs a parsed command line: prints `error: …` on stderr and returns exit code 1 on any failure.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(THREAD_STACK)
        .enable_all()
        .build();
    // kubectl diff's convention: 1 means "differences", so errors are 2.
    let error_code = match cli.command {
        Command::Diff(_) | Command::Check(_) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    };
    let result = match runtime {
        Ok(rt) => rt.block_on(dispatch(cli)),
        Err(e) => Err(anyhow::Error::new(e).context("while starting the async runtime")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            output::error(&format!("{e:#}"));
            error_code
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    // diff and check: exit code 1 is an answer ("differences", "denied"), not an error.
    let answer = |yes: bool| if yes { ExitCode::FAILURE } else { ExitCode::SUCCESS };
    match &cli.command {
        Command::Diff(args) => return Ok(answer(commands::diff::run(global, args).await?)),
        Command::Check(args) => return Ok(answer(!commands::check::run(global, args).await?)),
        _ => {}
    }
    match &cli.command {
        Command::Federate(args) => commands::federate::run(global, args).await,
        Command::Apply(args) => commands::apply::run(global, args).await,
        Command::Enable(args) => commands::enable::run(global, args).await,
        Command::Disable(args) => commands::disable::run(global, args).await,
        Command::Join(args) => commands::join::run(global, args).await,
        Command::Unjoin(args) => commands::unjoin::run(global, args).await,
        Command::Get(args) => commands::get::run(global, args).await,
        Command::Status(args) => commands::status::run(global, args).await,
        Command::Migrate(args) => commands::migrate::run(global, args).await,
        Command::Version(args) => commands::version::run(global, args).await,
        Command::Completion(args) => commands::completion::run(args),
        Command::Diff(_) | Command::Check(_) => Ok(()),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// The tracing filter for `-v LEVEL`, unless `RUST_LOG` is set.
pub fn log_filter(verbosity: u8) -> tracing_subscriber::EnvFilter {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        return filter;
    }
    let level = match verbosity {
        0 | 1 => "warn",
        2 | 3 => "info",
        4 | 5 => "debug",
        _ => "trace",
    };
    // Our crates at the chosen level. Dependencies only from -v 4: kube logs the errors it returns, which
    // are reported once, in our words, on stderr anyway.
    let deps = match verbosity {
        0..=3 => "off",
        4 | 5 => "info",
        _ => "trace",
    };
    tracing_subscriber::EnvFilter::new(format!("{deps},kubectl_fed={level},kubefed_core={level}"))
}
