//! The controller run in-process by the end-to-end tests: once per test binary, on a runtime of its own (a
//! test's runtime ends with the test), after kubefed is installed on the testbed's host and the members
//! joined. The library does not link the controller (the controller's benchmark links this library), so
//! each test passes the closure that starts it with its own settings.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_core::api::{KubeFedCluster, KubeFedConfig};
use serde_json::json;

use crate::fixtures::{install_kubefed, join};
use crate::testbed::HOST;
use crate::wait::BoxError;
use crate::{shared_testbed, wait_for};

/// How long a joined member may take to be Ready, at every [`shared_controller`] call.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the first call waits for the setup and the controller's start.
const START_TIMEOUT: Duration = Duration::from_secs(600);

/// What the tests' controller set-ups differ in; the controller's own settings are the `start` closure's.
pub struct ControllerSetup {
    /// Field manager of the set-up's writes.
    pub manager: &'static str,
    /// Probe members every second (a KubeFedConfig with a 1 s period, 2 s timeout, failure threshold 2), so
    /// Ready, outages and recoveries show within seconds.
    pub fast_health_check: bool,
    /// The members joined before the controller starts, with their KubeFedClusters' labels.
    pub members: Vec<(&'static str, BTreeMap<String, String>)>,
}

/// `[("region", "eu")]` as KubeFedCluster labels.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// Starts (once per test binary: the first call's `setup` and `start` win) kubefed on the shared testbed's
/// host as `setup` says, then `start(host)`, which starts the controller; what it returns is kept for the
/// rest of the process. Every call then waits until the set-up's members are Ready.
///
/// With `RUST_LOG` set (e.g. `kubefed_controller=debug`), the controller's logs are printed.
pub async fn shared_controller<F, Fut, R>(setup: ControllerSetup, start: F) -> Result<(), BoxError>
where
    F: FnOnce(kube::Client) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, BoxError>>,
    R: Send + 'static,
{
    // One controller per process, whatever the closure's type.
    static STARTED: OnceLock<Result<Vec<&'static str>, String>> = OnceLock::new();
    let members = STARTED
        .get_or_init(|| start_once(setup, start))
        .clone()
        .map_err(|e| format!("controller setup failed: {e}"))?;
    if members.is_empty() {
        return Ok(());
    }
    let host = shared_testbed()?.client(HOST).await?;
    wait_members_ready(&host, &members).await
}

/// Waits until each of `members`' KubeFedClusters is Ready (at most a minute each).
pub async fn wait_members_ready(host: &kube::Client, members: &[&str]) -> Result<(), BoxError> {
    let kfcs: Api<KubeFedCluster> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    for m in members {
        wait_for(&format!("KubeFedCluster {m} to be Ready"), READY_TIMEOUT, || {
            let kfcs = kfcs.clone();
            async move { Ok(kfcs.get_opt(m).await?.filter(|k| k.is_ready()).map(|_| ())) }
        })
        .await?;
    }
    Ok(())
}

fn start_once<F, Fut, R>(setup: ControllerSetup, start: F) -> Result<Vec<&'static str>, String>
where
    F: FnOnce(kube::Client) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, BoxError>>,
    R: Send + 'static,
{
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
    }
    let members: Vec<&'static str> = setup.members.iter().map(|(m, _)| *m).collect();
    let (tx, rx) = std::sync::mpsc::channel::<Result<(), String>>();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Err(format!("building the controller's runtime: {e}")));
                return;
            }
        };
        rt.block_on(async move {
            let running = async {
                let host = prepare(setup).await?;
                start(host).await
            };
            match running.await {
                Ok(running) => {
                    let _ = tx.send(Ok(()));
                    // Keep the controller for the rest of the process.
                    std::future::pending::<()>().await;
                    drop(running);
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        });
    });
    rx.recv_timeout(START_TIMEOUT)
        .unwrap_or_else(|e| Err(format!("the controller did not start: {e}")))?;
    Ok(members)
}

/// kubefed installed, the fast health check if asked, the members joined: the host's client.
async fn prepare(setup: ControllerSetup) -> Result<kube::Client, BoxError> {
    let tb = shared_testbed()?;
    let host = install_kubefed(tb).await?;
    if setup.fast_health_check {
        let cfg: KubeFedConfig = serde_json::from_value(json!({
            "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedConfig",
            "metadata": {"name": "kubefed", "namespace": DEFAULT_SYSTEM_NAMESPACE},
            "spec": {"clusterHealthCheck": {"period": "1s", "timeout": "2s",
                                            "failureThreshold": 2, "successThreshold": 1}}
        }))?;
        Api::<KubeFedConfig>::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE)
            .patch(
                "kubefed",
                &PatchParams::apply(setup.manager).force(),
                &Patch::Apply(&cfg),
            )
            .await?;
    }
    for (member, labels) in setup.members {
        join(tb, &host, member, labels).await?;
    }
    Ok(host)
}
