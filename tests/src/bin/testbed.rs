//! `testbed`: run the kubefed-rs testbed by hand — a host and N member clusters on loopback.
//!
//! ```text
//! testbed up --members 2            # prints the kubeconfig path, runs until Ctrl-C
//! KUBECONFIG=<printed path> kubectl --context member-1 get ns
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kubefed_tests::{Binaries, ClusterOptions, Testbed, TestbedOptions};

#[derive(Parser)]
#[command(version, about = "Real kube-apiserver + etcd control planes on loopback, for kubefed-rs tests and demos")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a host and N member clusters, print how to reach them, and run until Ctrl-C.
    Up {
        /// Number of member clusters (named member-1 … member-N).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(0..=8))]
        members: u16,
        /// Do not run kube-controller-manager (saves CPU; no namespace deletion or garbage collection).
        #[arg(long)]
        no_controller_manager: bool,
        /// Also copy the kubeconfig to this path.
        #[arg(long)]
        kubeconfig_out: Option<PathBuf>,
    },
    /// Build (if missing) the control-plane binaries and print their directory.
    Bins,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Bins => {
            let bins = Binaries::locate().context("while building the testbed binaries")?;
            println!("{}", bins.dir.display());
        }
        Cmd::Up { members, no_controller_manager, kubeconfig_out } => {
            eprintln!("starting host + {members} member cluster(s)…");
            let opts = TestbedOptions {
                members: members.into(),
                cluster: ClusterOptions { controller_manager: !no_controller_manager },
                ..Default::default()
            };
            let tb = Testbed::start(opts).context("while starting the testbed")?;
            if let Some(out) = kubeconfig_out {
                std::fs::copy(&tb.kubeconfig, &out)
                    .with_context(|| format!("while copying the kubeconfig to {}", out.display()))?;
            }
            println!("ready in {:.1}s", tb.boot_time().as_secs_f64());
            for (name, mem) in tb.memory_per_cluster() {
                println!("  {name:<10} {}  {} MiB resident", tb.endpoint(&name)?, mem / (1024 * 1024));
            }
            println!("kubeconfig: {}", tb.kubeconfig.display());
            println!("contexts: {} (admin), and alice@/bob@/carol@<cluster>", tb.cluster_names().join(", "));
            println!("press Ctrl-C to stop");
            tokio::signal::ctrl_c().await.context("while waiting for Ctrl-C")?;
            eprintln!("stopping…");
            drop(tb);
        }
    }
    Ok(())
}
