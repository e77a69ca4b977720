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
use kubefed_tests::process::Process;
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
        /// Give the host a real worker node (containerd, kubelet, kube-scheduler; needs root), and load the
        /// pause image; load more with `hack/images.sh load`. See docs/testbed.md.
        #[arg(long)]
        node: bool,
    },
    /// The demo: a host + 2 members, kubefed installed on the host and both members joined; runs until Ctrl-C.
    Demo {
        /// Exit once everything is set up instead of waiting for Ctrl-C (for scripted checks).
        #[arg(long)]
        exit: bool,
        /// The kubefed-controller binary to run against the host (hack/demo.sh builds it).
        #[arg(long)]
        controller: Option<PathBuf>,
        /// The kubectl-fed binary used to federate the example app (hack/demo.sh builds it).
        #[arg(long)]
        kubectl_fed: Option<PathBuf>,
        /// The example app to federate.
        #[arg(long, default_value = "examples/app.yaml")]
        app: PathBuf,
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
        Cmd::Demo {
            exit,
            controller,
            kubectl_fed,
            app,
        } => demo(exit, controller, kubectl_fed, app).await?,
        Cmd::Up {
            members,
            no_controller_manager,
            kubeconfig_out,
            node,
        } => {
            eprintln!("starting host + {members} member cluster(s)…");
            let opts = TestbedOptions {
                members: members.into(),
                cluster: ClusterOptions {
                    controller_manager: !no_controller_manager,
                    ..ClusterOptions::default()
                },
                node,
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
            if let Some(n) = tb.node() {
                println!(
                    "  node {} Ready (logs in {}); pods reach the apiservers at:",
                    n.name(),
                    n.log_dir().display()
                );
                for name in tb.cluster_names() {
                    println!("    {name:<10} {}", tb.pod_endpoint(name)?);
                }
                println!(
                    "  load images: hack/images.sh load [kubefed-rs|pause]  (containerd: {})",
                    kubefed_tests::node::CONTAINERD_SOCKET
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

async fn demo(
    exit: bool,
    controller: Option<PathBuf>,
    kubectl_fed: Option<PathBuf>,
    app: PathBuf,
) -> anyhow::Result<()> {
    println!(
        "1/6 starting a host and 2 member clusters (etcd + kube-apiserver + kube-controller-manager each)…"
    );
    let tb = Testbed::start(TestbedOptions::default()).context("while starting the testbed")?;
    println!("    ready in {:.1}s", tb.boot_time().as_secs_f64());
    println!("2/6 installing kubefed's CRDs and default FederatedTypeConfigs on the host…");
    let host = install_kubefed(&tb)
        .await
        .context("while installing kubefed on the host")?;
    println!("3/6 joining the members…");
    for (member, region) in [("member-1", "eu"), ("member-2", "us")] {
        let labels = [("region".to_string(), region.to_string())].into();
        join(&tb, &host, member, labels)
            .await
            .with_context(|| format!("while joining {member}"))?;
        println!("    joined {member} (region={region})");
    }
    let kubeconfig = tb.kubeconfig.display().to_string();
    let _controller = match controller {
        Some(bin) => {
            println!("4/6 starting kubefed-controller against the host…");
            let log = tb.dir.join("kubefed-controller.log");
            let args: Vec<String> = [
                "--kubeconfig",
                &kubeconfig,
                "--context",
                "host",
                "--metrics-addr",
                "off",
            ]
            .map(String::from)
            .to_vec();
            let p = Process::spawn("kubefed-controller", &bin, &args, &log)?;
            println!("    logs: {}", log.display());
            Some(p)
        }
        None => {
            println!("4/6 (no --controller given: nothing will propagate)");
            None
        }
    };
    if let Some(cli) = &kubectl_fed {
        let web = app.with_file_name("web.yaml");
        println!("5/6 federating the example app to both members (3 replicas of web on member-2):");
        let (app, web) = (app.display().to_string(), web.display().to_string());
        let runs: [&[&str]; 2] = [
            &[
                "apply",
                "-f",
                &app,
                "--clusters",
                "member-1,member-2",
                "--create-namespace",
            ],
            &[
                "apply",
                "-f",
                &web,
                "--clusters",
                "member-1,member-2",
                "--override",
                "member-2:/spec/replicas=3",
            ],
        ];
        for args in runs {
            println!("    $ kubectl fed {}", args.join(" "));
            let out = std::process::Command::new(cli)
                .args(args)
                .args(["--kubeconfig", &kubeconfig, "--context", "host"])
                .output()
                .context("while running kubectl-fed")?;
            print!("{}", String::from_utf8_lossy(&out.stdout));
            anyhow::ensure!(
                out.status.success(),
                "kubectl fed apply failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    } else {
        println!("5/6 (no --kubectl-fed given: no app federated)");
    }
    println!("6/6 the federation, as kubectl sees it:");
    let ns = kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
    show(&tb, &["--context", "host", "-n", ns, "get", "kubefedclusters"])?;
    if kubectl_fed.is_some() {
        wait_for_member_deployment(&tb).await;
        show(
            &tb,
            &[
                "--context",
                "host",
                "-n",
                "demo",
                "get",
                "federateddeployments,federatedservices,federatedconfigmaps",
            ],
        )?;
        for member in tb.members() {
            show(
                &tb,
                &[
                    "--context",
                    member,
                    "-n",
                    "demo",
                    "get",
                    "deploy,svc,cm",
                    "-l",
                    "kubefed.io/managed=true",
                ],
            )?;
        }
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

fn show(tb: &Testbed, args: &[&str]) -> anyhow::Result<()> {
    let out = tb.kubectl(args)?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "\n$ kubectl {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(())
}

/// Waits (bounded) until every federated object of the example reports `Propagation=True`.
async fn wait_for_member_deployment(tb: &Testbed) {
    let args = [
        "--context",
        "host",
        "-n",
        "demo",
        "wait",
        "--for=condition=Propagation",
        "--timeout=60s",
        "federateddeployments,federatedservices,federatedconfigmaps",
        "--all",
    ];
    println!("\n$ kubectl {}", args.join(" "));
    match tb.kubectl(&args) {
        Ok(out) => print!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("    kubectl wait failed: {e}"),
    }
}
