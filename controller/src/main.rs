//! `kubefed-controller`: parse arguments, install the crypto provider and logging, run.

use anyhow::Context;
use clap::Parser;
use kubefed_controller::{Args, DEFAULT_LOG_FILTER, LogFormat};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Used by every kube client (host and members). Err means already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).init(),
    }
    kubefed_controller::run(args)
        .await
        .context("kubefed-controller stopped with an error")
}
