//! `testbed`: run the kubefed-rs testbed by hand — a host and N member clusters on loopback.
//!
//! ```text
//! testbed up --members 2            # prints the kubeconfig path, runs until Ctrl-C
//! KUBECONFIG=<printed path> kubectl --context member-1 get ns
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kubefed_tests::fixtures::{install_kubefed, join};
use kubefed_tests::{Binaries, ClusterOptions, Testbed, TestbedOptions};

#[derive(Parser)]
#[command(
    version,
    about = "Real kube-apiserver + etcd control planes on loopback, for kubefed-rs tests and demos"
)]
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
    /// The demo: a host + 2 members, kubefed installed on the host and both members joined; runs until Ctrl-C.
    Demo {
        /// Exit once everything is set up instead of waiting for Ctrl-C (for scripted checks).
        #[arg(long)]
        exit: bool,
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
        Cmd::Demo { exit } => demo(exit).await?,
        Cmd::Up {
            members,
            no_controller_manager,
            kubeconfig_out,
        } => {
            eprintln!("starting host + {members} member cluster(s)…");
            let opts = TestbedOptions {
                members: members.into(),
                cluster: ClusterOptions {
                    controller_manager: !no_controller_manager,
                },
                ..Default::default()
            };
            let tb = Testbed::start(opts).context("while starting the testbed")?;
            if let Some(out) = kubeconfig_out {
                std::fs::copy(&tb.kubeconfig, &out)
                    .with_context(|| format!("while copying the kubeconfig to {}", out.display()))?;
            }
            println!("ready in {:.1}s", tb.boot_time().as_secs_f64());
            for (name, mem) in tb.memory_per_cluster() {
                println!(
                    "  {name:<10} {}  {} MiB resident",
                    tb.endpoint(&name)?,
                    mem / (1024 * 1024)
                );
            }
            println!("kubeconfig: {}", tb.kubeconfig.display());
            println!(
                "contexts: {} (admin), and alice@/bob@/carol@<cluster>",
                tb.cluster_names().join(", ")
            );
            println!("press Ctrl-C to stop");
            tokio::signal::ctrl_c()
                .await
                .context("while waiting for Ctrl-C")?;
            eprintln!("stopping…");
            drop(tb);
        }
    }
    Ok(())
}

async fn demo(exit: bool) -> anyhow::Result<()> {
    println!(
        "1/4 starting a host and 2 member clusters (etcd + kube-apiserver + kube-controller-manager each)…"
    );
    let tb = Testbed::start(TestbedOptions::default()).context("while starting the testbed")?;
    println!("    ready in {:.1}s", tb.boot_time().as_secs_f64());
    println!("2/4 installing kubefed's CRDs and default FederatedTypeConfigs on the host…");
    let host = install_kubefed(&tb)
        .await
        .context("while installing kubefed on the host")?;
    println!("3/4 joining the members…");
    for (member, region) in [("member-1", "eu"), ("member-2", "us")] {
        let labels = [("region".to_string(), region.to_string())].into();
        join(&tb, &host, member, labels)
            .await
            .with_context(|| format!("while joining {member}"))?;
        println!("    joined {member} (region={region})");
    }
    println!("4/4 the federation, as kubectl sees it:");
    let ns = kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
    for what in ["kubefedclusters", "federatedtypeconfigs"] {
        let out = tb.kubectl(&["--context", "host", "-n", ns, "get", what, "-o", "wide"])?;
        anyhow::ensure!(
            out.status.success(),
            "kubectl get {what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "\n$ kubectl -n {ns} get {what}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    println!(
        "kubeconfig: {}  (contexts: {})",
        tb.kubeconfig.display(),
        tb.cluster_names().join(", ")
    );
    if !exit {
        println!("press Ctrl-C to stop");
        tokio::signal::ctrl_c()
            .await
            .context("while waiting for Ctrl-C")?;
    }
    Ok(())
}
