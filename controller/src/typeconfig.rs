//! FederatedTypeConfigs decide which types are propagated: one propagation controller runs per
//! FederatedTypeConfig with `propagation: Enabled`, started when it appears or is enabled, stopped when it
//! is disabled or deleted, and restarted when its spec changes (a new target version, say). Built-in and
//! CRD types are handled alike: everything about a type comes from its FederatedTypeConfig, and objects
//! are read as `FederatedObject` / `DynamicObject` with `ApiResource`s built from it.
//!
//! The FederatedTypeConfig's status says whether its controllers run (`propagationController`,
//! `statusController`), as KubeFed's did.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kubefed_core::api::constants::{CONTROLLER_FIELD_MANAGER, CORE_API_VERSION};
use kubefed_core::api::{ControllerStatus, FederatedTypeConfig, FederatedTypeConfigStatus};

use crate::context::Context;
use crate::propagation;
use crate::task::Task;

/// A running propagation controller and the spec it was started for.
struct Running {
    key: u64,
    _task: Task,
}

/// Watches FederatedTypeConfigs in the system namespace and keeps one propagation controller per enabled
/// type running, until dropped.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<FederatedTypeConfig> = Api::namespaced(ctx.client.clone(), &ctx.settings.namespace);
    let mut stream = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut listing: Option<Vec<String>> = None;
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(watcher::Event::Init) => listing = Some(Vec::new()),
            Ok(watcher::Event::InitApply(ftc)) => {
                if let Some(l) = listing.as_mut() {
                    l.push(ftc.name_any());
                }
                ensure(&ctx, &api, &mut running, &ftc).await;
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(seen) = listing.take() {
                    running.retain(|name, _| seen.contains(name));
                }
            }
            Ok(watcher::Event::Apply(ftc)) => ensure(&ctx, &api, &mut running, &ftc).await,
            Ok(watcher::Event::Delete(ftc)) => {
                if running.remove(&ftc.name_any()).is_some() {
                    tracing::info!(
                        ftc = ftc.name_any(),
                        "FederatedTypeConfig deleted; propagation stopped"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "watching FederatedTypeConfigs"),
        }
        ctx.metrics
            .type_controllers()
            .set(i64::try_from(running.len()).unwrap_or(i64::MAX));
    }
}

/// Starts, restarts or stops the controller of `ftc`, and reports it in the FTC's status.
async fn ensure(
    ctx: &Arc<Context>,
    api: &Api<FederatedTypeConfig>,
    running: &mut HashMap<String, Running>,
    ftc: &FederatedTypeConfig,
) {
    let name = ftc.name_any();
    let enabled = ftc.propagation_enabled() && ftc.metadata.deletion_timestamp.is_none();
    if enabled {
        let key = spec_key(ftc);
        if running.get(&name).is_none_or(|r| r.key != key) {
            let target = ftc.target();
            tracing::info!(ftc = name, kind = target.kind, "starting propagation");
            let controller = propagation::TypeController::new(ctx.clone(), ftc);
            running.insert(
                name.clone(),
                Running {
                    key,
                    _task: Task::spawn(controller.run()),
                },
            );
        }
    } else if running.remove(&name).is_some() {
        tracing::info!(ftc = name, "propagation disabled; stopped");
    }
    let collects = enabled && ftc.spec.status_collection.is_some_and(|s| s.is_enabled());
    let want = FederatedTypeConfigStatus {
        observed_generation: ftc.metadata.generation,
        propagation_controller: Some(if enabled {
            ControllerStatus::Running
        } else {
            ControllerStatus::NotRunning
        }),
        status_controller: Some(if collects {
            ControllerStatus::Running
        } else {
            ControllerStatus::NotRunning
        }),
    };
    if ftc.status.as_ref() != Some(&want) {
        let patch = serde_json::json!({
            "apiVersion": CORE_API_VERSION,
            "kind": "FederatedTypeConfig",
            "metadata": {"name": name},
            "status": want,
        });
        let pp = PatchParams::apply(CONTROLLER_FIELD_MANAGER).force();
        if let Err(e) = api.patch_status(&name, &pp, &Patch::Apply(&patch)).await {
            tracing::warn!(ftc = name, error = %e, "writing FederatedTypeConfig status");
        }
    }
}

/// What a running controller depends on: the spec (and uid, so a re-created config restarts it).
fn spec_key(ftc: &FederatedTypeConfig) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(&ftc.spec).unwrap_or_default().hash(&mut h);
    ftc.metadata.uid.hash(&mut h);
    h.finish()
}
