//! Migration from KubeFed end-to-end (issue 14): the controller, started in-process against a testbed of its
//! own (host + 1 member), with **KubeFed v0.10.0's federated CRD shape** still installed for
//! FederatedDeployments (status without `aggregated` and without condition `message`, atomic lists) and the
//! KubeFedConfig switch that keeps KubeFed's semantics (`propagateTemplateAnnotations: Disabled`).
//!
//! It checks that the CRD really rejects our full status, then that the controller writes the KubeFed-shaped
//! status (Propagation condition, `clusters[]`) without an error loop, says once how to upgrade the CRDs, and
//! does not propagate the template's annotations — so a member Deployment KubeFed created (plain create by
//! another field manager, no template annotations) is taken over in place with the same generation.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubefed_core::api::KubeFedConfig;
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_tests::fixtures::{install_kubefed, join};
use kubefed_tests::testbed::{HOST, Testbed, TestbedOptions, install_crds};
use kubefed_tests::wait_for;
use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const M1: &str = "member-1";
/// How long any one expected change may take.
const WAIT: Duration = Duration::from_secs(60);
/// The FederatedTypeConfig of Deployments (and the controller's metrics label for them).
const DEPLOYMENTS_FTC: &str = "deployments.apps";

struct Env {
    tb: Testbed,
    metrics: Arc<kubefed_controller::Metrics>,
}

/// This binary's testbed (one member) and controller, started once on a runtime of their own.
fn env() -> TestResult<&'static Env> {
    static ENV: OnceLock<Result<Env, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .try_init();
        }
        let tb = Testbed::start(TestbedOptions {
            members: 1,
            ..Default::default()
        })
        .map_err(|e| format!("testbed failed to start: {e}"))?;
        Ok(Env {
            tb,
            metrics: Arc::new(kubefed_controller::Metrics::new()),
        })
    })
    .as_ref()
    .map_err(|e| e.clone().into())
}

fn fed_ar(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("types.kubefed.io", "v1beta1", kind),
        plural,
    )
}

/// Our FederatedDeployment CRD cut down to KubeFed v0.10.0's status schema: `observedGeneration`,
/// `conditions[]` of `type`, `status`, `reason`, `lastTransitionTime`, `lastUpdateTime`, and `clusters[]` of
/// `name`, `status`, `remoteStatus` — no `aggregated`, no condition `message`, and plain (atomic) lists.
fn kubefed_shaped_deployment_crd() -> TestResult<CustomResourceDefinition> {
    let target = kubefed_core::find_default_type("deployments").ok_or("no default type deployments")?;
    let mut crd = serde_json::to_value(kubefed_core::federated_crd(&target))?;
    let versions = crd["spec"]["versions"]
        .as_array_mut()
        .ok_or("CRD without versions")?;
    for v in versions {
        let status = v
            .pointer_mut("/schema/openAPIV3Schema/properties/status/properties")
            .and_then(Value::as_object_mut)
            .ok_or("CRD without a status schema")?;
        if status.remove("aggregated").is_none() {
            return Err("our status schema has no aggregated: update this test".into());
        }
        for list in ["conditions", "clusters"] {
            let l = status
                .get_mut(list)
                .and_then(Value::as_object_mut)
                .ok_or(format!("status schema without {list}"))?;
            l.remove("x-kubernetes-list-type");
            l.remove("x-kubernetes-list-map-keys");
        }
        let cond = status
            .get_mut("conditions")
            .and_then(|c| c.pointer_mut("/items/properties"))
            .and_then(Value::as_object_mut)
            .ok_or("conditions without item properties")?;
        if cond.remove("message").is_none() {
            return Err("our condition schema has no message: update this test".into());
        }
    }
    Ok(serde_json::from_value(crd)?)
}

fn propagation_condition(status: &Value) -> Option<&Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Propagation")
}

/// `kubefed_controller_reconciles_total{type="deployments.apps",result="error"}`, 0 when absent.
fn deployment_reconcile_errors(metrics: &kubefed_controller::Metrics) -> f64 {
    let prefix =
        format!("kubefed_controller_reconciles_total{{type=\"{DEPLOYMENTS_FTC}\",result=\"error\"}} ");
    metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubefed_crds_get_kubefed_shaped_status_and_kubefed_semantics() -> TestResult {
    let env = env()?;
    let tb = &env.tb;
    let host = install_kubefed(tb).await?;
    install_crds(&host, &[kubefed_shaped_deployment_crd()?]).await?;
    let kfconfig: Api<KubeFedConfig> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    let cfg: KubeFedConfig = serde_json::from_value(json!({
        "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedConfig",
        "metadata": {"name": "kubefed", "namespace": DEFAULT_SYSTEM_NAMESPACE},
        "spec": {"clusterHealthCheck": {"period": "1s", "timeout": "2s",
                                        "failureThreshold": 2, "successThreshold": 1},
                 "syncController": {"propagateTemplateAnnotations": "Disabled"}}
    }))?;
    kfconfig
        .patch(
            "kubefed",
            &PatchParams::apply("migration-tests").force(),
            &Patch::Apply(&cfg),
        )
        .await?;
    join(tb, &host, M1, BTreeMap::new()).await?;

    // The federated namespace and deployment, before the controller runs (as KubeFed left them).
    // The namespace exists in the member already, as KubeFed left it.
    let ns = tb.namespace("migrate", &[HOST, M1]).await?;
    kubefed_tests::fixtures::federate_namespace(&host, &ns).await?;
    let fdeps: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &fed_ar("FederatedDeployment", "federateddeployments"),
    );
    fdeps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
                "metadata": {"name": "web", "namespace": ns},
                "spec": {
                    "template": {
                        "metadata": {"labels": {"app": "web"}, "annotations": {"team": "shop"}},
                        "spec": {"replicas": 1,
                                 "selector": {"matchLabels": {"app": "web"}},
                                 "template": {"metadata": {"labels": {"app": "web"}},
                                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
                    },
                    "placement": {"clusters": [{"name": M1}]}
                }
            }))?,
        )
        .await?;

    // A member Deployment as KubeFed created it: a plain create by another field manager, labelled managed,
    // without the template's annotations; and its FederatedDeployment.
    let member: Api<DynamicObject> = Api::namespaced_with(
        tb.client(M1).await?,
        &ns,
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "Deployment"), "deployments"),
    );
    let legacy_template = json!({
        "spec": {"replicas": 1,
                 "selector": {"matchLabels": {"app": "legacy"}},
                 "template": {"metadata": {"labels": {"app": "legacy"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    });
    let mut legacy_member = legacy_template.clone();
    legacy_member["apiVersion"] = json!("apps/v1");
    legacy_member["kind"] = json!("Deployment");
    legacy_member["metadata"] = json!({"name": "legacy", "namespace": ns,
                                       "labels": {"app": "legacy", "kubefed.io/managed": "true"}});
    let before = member
        .create(
            &PostParams {
                field_manager: Some("kubefed".into()),
                ..Default::default()
            },
            &serde_json::from_value(legacy_member)?,
        )
        .await?;
    let mut legacy_fed_template = legacy_template;
    legacy_fed_template["metadata"] = json!({"labels": {"app": "legacy"}, "annotations": {"team": "shop"}});
    fdeps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
                "metadata": {"name": "legacy", "namespace": ns},
                "spec": {"template": legacy_fed_template, "placement": {"clusters": [{"name": M1}]}}
            }))?,
        )
        .await?;

    // The CRD really is KubeFed's: our full status is refused (once the apiserver serves the new schema).
    let full_status = json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
        "metadata": {"name": "web", "namespace": ns},
        "status": {"aggregated": {"replicas": 1}}
    });
    let refused = wait_for("the KubeFed-shaped CRD to refuse status.aggregated", WAIT, || {
        let fdeps = fdeps.clone();
        let body = full_status.clone();
        async move {
            match fdeps
                .patch_status(
                    "web",
                    &PatchParams::apply("migration-probe"),
                    &Patch::Apply(&body),
                )
                .await
            {
                Ok(_) => Ok(None),
                Err(kube::Error::Api(s)) if s.message.contains("field not declared in schema") => {
                    Ok(Some(s.message))
                }
                Err(e) => Err(e.into()),
            }
        }
    })
    .await?;
    assert!(refused.contains(".status.aggregated"), "{refused}");

    let settings = kubefed_controller::Settings {
        concurrency: 4,
        member_timeout: Duration::from_secs(5),
        deletion_timeout: Duration::from_secs(20),
        identity: "migration-tests".into(),
        ..Default::default()
    };
    let running = kubefed_controller::start(host.clone(), settings, env.metrics.clone());

    // KubeFed-shaped status: the Propagation condition and clusters[] are written.
    let status = wait_for("Propagation=True on FederatedDeployment web", WAIT, || {
        let fdeps = fdeps.clone();
        async move {
            let o = fdeps.get("web").await?;
            let s = o.data.get("status").cloned().unwrap_or(Value::Null);
            let ok = propagation_condition(&s).is_some_and(|c| c["status"] == "True")
                && s["observedGeneration"].as_i64() == o.metadata.generation;
            Ok(ok.then_some(s))
        }
    })
    .await?;
    assert_eq!(status["clusters"], json!([{"name": M1}]), "{status}");
    assert!(status.get("aggregated").is_none(), "{status}");

    // KubeFed's semantics: the member has the template's labels, not its annotations.
    let dep = wait_for("Deployment web in member-1", WAIT, || {
        let member = member.clone();
        async move { Ok(member.get_opt("web").await?) }
    })
    .await?;
    let labels = dep.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("app").map(String::as_str), Some("web"));
    assert_eq!(labels.get("kubefed.io/managed").map(String::as_str), Some("true"));
    let annotations = dep.metadata.annotations.clone().unwrap_or_default();
    assert!(!annotations.contains_key("team"), "{annotations:?}");

    // The member KubeFed created is taken over in place: same object, same generation (no new annotations).
    wait_for("Propagation=True on FederatedDeployment legacy", WAIT, || {
        let fdeps = fdeps.clone();
        async move {
            let o = fdeps.get("legacy").await?;
            let s = o.data.get("status").cloned().unwrap_or(Value::Null);
            Ok(propagation_condition(&s)
                .is_some_and(|c| c["status"] == "True")
                .then_some(()))
        }
    })
    .await?;
    let after = member.get("legacy").await?;
    assert_eq!(after.metadata.uid, before.metadata.uid);
    assert_eq!(
        after.metadata.generation, before.metadata.generation,
        "generation changed: {:?}",
        after.metadata.annotations
    );
    let managers: Vec<String> = after
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.iter().any(|m| m == "kubefed-controller"),
        "not taken over: managers {managers:?}"
    );

    // One warning on the FederatedTypeConfig saying how to upgrade the CRDs.
    let events: Api<Event> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    let note = wait_for(
        "an OutdatedCRD Event on FederatedTypeConfig deployments.apps",
        WAIT,
        || {
            let events = events.clone();
            async move {
                Ok(events
                    .list(&ListParams::default())
                    .await?
                    .items
                    .into_iter()
                    .find(|e| {
                        e.reason.as_deref() == Some("OutdatedCRD")
                            && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(DEPLOYMENTS_FTC)
                    })
                    .and_then(|e| e.note))
            }
        },
    )
    .await?;
    assert!(
        note.contains("kubectl apply --server-side -f charts/kubefed/crds/"),
        "{note}"
    );

    // No error loop: no failed reconcile, and the status is not rewritten while nothing changes.
    let rv = fdeps.get("web").await?.metadata.resource_version;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(deployment_reconcile_errors(&env.metrics), 0.0);
    let after = fdeps.get("web").await?;
    let s = after.data.get("status").cloned().unwrap_or(Value::Null);
    assert!(
        propagation_condition(&s).is_some_and(|c| c["status"] == "True"),
        "{s}"
    );
    // The member's own status updates (kube-controller-manager) may re-reconcile, but must not write.
    assert_eq!(after.metadata.resource_version, rv, "status rewritten: {s}");

    // Sanity: the namespace reached the member too (the other types' status is unaffected).
    let member_ns: Api<Namespace> = Api::all(tb.client(M1).await?);
    assert!(member_ns.get_opt(&ns).await?.is_some());
    drop(running);
    Ok(())
}
