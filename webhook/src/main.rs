//! `kubefed-webhook`: parse arguments, install the crypto provider and logging, run.

/// A decision allocates many small JSON values per request; glibc malloc spent a quarter of the
/// webhook's CPU on them (perf), mimalloc much less.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::Parser;
use kubefed_webhook::{Args, LogFormat};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Used by the kube client; the server passes the same provider explicitly. Err means already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).init(),
    }
    kubefed_webhook::run(args)
        .await
        .context("kubefed-webhook stopped with an error")
}
