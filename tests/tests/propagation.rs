//! Propagation end-to-end: the controller, started in-process against the testbed (host + 2 members),
//! propagates federated objects with overrides, keeps them updated, moves them when placement changes,
//! reports status and Events, and cleans up on deletion (or orphans).
//!
//! One controller serves every test of this binary: it runs on a runtime of its own (a test's runtime
//! ends with the test), started on first use after kubefed is installed and both members joined. Each test
//! works in its own namespace.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubefed_core::api::KubeFedCluster;
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_tests::controller::{ControllerSetup, labels, shared_controller};
use kubefed_tests::shared_testbed;
use kubefed_tests::testbed::HOST;
use kubefed_tests::wait_for;
use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const M1: &str = "member-1";
const M2: &str = "member-2";
/// How long any one expected change may take.
const WAIT: Duration = Duration::from_secs(60);

/// Tests hold this for reading; the member-outage test holds it for writing, so no other test sees
/// member-1 down.
static OUTAGE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Where the test controller serves /metrics and /healthz.
static METRICS_ADDR: OnceLock<std::net::SocketAddr> = OnceLock::new();

/// Starts (once) kubefed on the testbed and the controller on a runtime of its own, probing members fast
/// so outages and recoveries show within seconds; waits until both members are Ready.
async fn controller() -> TestResult {
    let setup = ControllerSetup {
        manager: "propagation-tests",
        fast_health_check: true,
        members: vec![
            (M1, labels(&[("region", "eu")])),
            (M2, labels(&[("region", "us")])),
        ],
    };
    shared_controller(setup, |host| async move {
        let settings = kubefed_controller::Settings {
            concurrency: 8,
            member_timeout: Duration::from_secs(5),
            deletion_timeout: Duration::from_secs(20),
            identity: "propagation-tests".into(),
            ..Default::default()
        };
        let metrics = std::sync::Arc::new(kubefed_controller::Metrics::new());
        let (addr, serve) =
            kubefed_controller::server::bind(([127, 0, 0, 1], 0).into(), metrics.clone()).await?;
        let _ = METRICS_ADDR.set(addr);
        tokio::spawn(serve);
        Ok(kubefed_controller::start(host, settings, metrics))
    })
    .await
}

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn fed_ar(kind: &str, plural: &str) -> ApiResource {
    ar("types.kubefed.io", "v1beta1", kind, plural)
}

fn deployments() -> ApiResource {
    ar("apps", "v1", "Deployment", "deployments")
}

fn obj(value: Value) -> TestResult<DynamicObject> {
    Ok(serde_json::from_value(value)?)
}

/// A namespace on the host with a FederatedNamespace placing it on both members; waits until the members
/// have it.
async fn federated_namespace(prefix: &str) -> TestResult<(kube::Client, String)> {
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = tb.namespace(prefix, &[HOST]).await?;
    let fns: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &fed_ar("FederatedNamespace", "federatednamespaces"),
    );
    fns.create(
        &PostParams::default(),
        &obj(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
            "metadata": {"name": ns, "namespace": ns},
            "spec": {"placement": {"clusterSelector": {}}}
        }))?,
    )
    .await?;
    for m in [M1, M2] {
        let member: Api<Namespace> = Api::all(tb.client(m).await?);
        let name = ns.clone();
        wait_for(&format!("namespace {ns} in {m}"), WAIT, || {
            let member = member.clone();
            let name = name.clone();
            async move {
                Ok(member.get_opt(&name).await?.filter(|n| {
                    n.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("kubefed.io/managed"))
                        .map(String::as_str)
                        == Some("true")
                }))
            }
        })
        .await?;
    }
    Ok((host, ns))
}

/// The member object `name` in `ns` of `cluster`, once `pred` holds for it.
async fn member_obj(
    cluster: &str,
    resource: &ApiResource,
    ns: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&DynamicObject) -> bool,
) -> TestResult<DynamicObject> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(shared_testbed()?.client(cluster).await?, ns, resource);
    let mut seen = String::from("absent");
    let start = Instant::now();
    loop {
        if let Some(o) = api.get_opt(name).await? {
            if pred(&o) {
                return Ok(o);
            }
            seen = serde_json::to_string(&o.data).unwrap_or_default();
        }
        if start.elapsed() > WAIT {
            return Err(format!("{cluster}: {what} not seen within {WAIT:?}; last seen: {seen}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `name` in `ns` of `cluster` is gone.
async fn member_gone(cluster: &str, resource: &ApiResource, ns: &str, name: &str) -> TestResult {
    let api: Api<DynamicObject> =
        Api::namespaced_with(shared_testbed()?.client(cluster).await?, ns, resource);
    wait_for(&format!("{name} to be removed from {cluster}"), WAIT, || {
        let api = api.clone();
        async move { Ok(api.get_opt(name).await?.is_none().then_some(())) }
    })
    .await
}

/// The federated object, once its `Propagation` condition has `status` and `pred` holds.
async fn fed_status(
    api: &Api<DynamicObject>,
    name: &str,
    status: &str,
    pred: impl Fn(&Value) -> bool,
) -> TestResult<DynamicObject> {
    let mut last = Value::Null;
    let start = Instant::now();
    loop {
        if let Some(o) = api.get_opt(name).await? {
            let s = o.data.get("status").cloned().unwrap_or(Value::Null);
            let cond = s["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Propagation"))
                .cloned()
                .unwrap_or(Value::Null);
            let observed = s["observedGeneration"].as_i64() == o.metadata.generation;
            if cond["status"] == status && observed && pred(&s) {
                return Ok(o);
            }
            last = s;
        }
        if start.elapsed() > WAIT {
            return Err(
                format!("{name}: Propagation={status} not reached within {WAIT:?}; status: {last}").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn cluster_statuses(status: &Value) -> BTreeMap<String, String> {
    status["clusters"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["status"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn replicas(o: &DynamicObject) -> Option<i64> {
    o.data["spec"]["replicas"].as_i64()
}

fn managed(o: &DynamicObject) -> bool {
    o.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("kubefed.io/managed"))
        .map(String::as_str)
        == Some("true")
}

fn annotation<'a>(o: &'a DynamicObject, key: &str) -> Option<&'a str> {
    o.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

fn image(o: &DynamicObject) -> Option<&str> {
    o.data["spec"]["template"]["spec"]["containers"][0]["image"].as_str()
}

/// Reasons of the Events about `name` in `ns` on the host.
async fn event_reasons(host: &kube::Client, ns: &str, name: &str) -> TestResult<Vec<String>> {
    let events: Api<Event> = Api::namespaced(host.clone(), ns);
    let list = events.list(&ListParams::default()).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect())
}

async fn wait_for_event(host: &kube::Client, ns: &str, name: &str, reason: &str) -> TestResult {
    wait_for(&format!("Event {reason} about {name}"), WAIT, || async {
        Ok(event_reasons(host, ns, name)
            .await?
            .iter()
            .any(|r| r == reason)
            .then_some(()))
    })
    .await
}

fn deployment_template(image: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": "web"}, "annotations": {"team": "payments"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": image}]}}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_with_overrides_is_created_updated_moved_and_deleted() -> TestResult {
    let _serial = OUTAGE.read().await;
    controller().await?;
    let (host, ns) = federated_namespace("prop-deploy").await?;
    let fdeploy: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &fed_ar("FederatedDeployment", "federateddeployments"),
    );
    let deploy = deployments();

    // Create: template + overrides by name (member-2) and by cluster label (region=eu → member-1).
    fdeploy
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
                "metadata": {"name": "web", "namespace": ns},
                "spec": {
                    "template": deployment_template("nginx:1.27"),
                    "placement": {"clusters": [{"name": M1}, {"name": M2}]},
                    "overrides": [
                        {"clusterName": M2, "clusterOverrides": [{"path": "/spec/replicas", "value": 5}]},
                        {"clusterSelector": {"matchLabels": {"region": "eu"}},
                         "clusterOverrides": [{"op": "add", "path": "/metadata/annotations/region", "value": "eu"}]}
                    ]
                }
            }))?,
        )
        .await?;
    let d1 = member_obj(M1, &deploy, &ns, "web", "Deployment web with 3 replicas", |o| {
        replicas(o) == Some(3)
    })
    .await?;
    assert!(
        managed(&d1),
        "member-1 copy must carry kubefed.io/managed=true: {:?}",
        d1.metadata.labels
    );
    assert_eq!(
        annotation(&d1, "team"),
        Some("payments"),
        "template annotations are propagated (§4.2)"
    );
    assert_eq!(
        annotation(&d1, "region"),
        Some("eu"),
        "override by cluster label applies to member-1"
    );
    let d2 = member_obj(M2, &deploy, &ns, "web", "Deployment web with 5 replicas", |o| {
        replicas(o) == Some(5)
    })
    .await?;
    assert_eq!(annotation(&d2, "region"), None, "member-2 is not in region eu");
    let fed = fed_status(&fdeploy, "web", "True", |s| cluster_statuses(s).len() == 2).await?;
    assert_eq!(
        cluster_statuses(&fed.data["status"]),
        BTreeMap::from([(M1.to_string(), String::new()), (M2.to_string(), String::new())])
    );
    assert!(
        fed.metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == "kubefed.io/sync-controller")
    );

    // Update the template and an override.
    fdeploy
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "template": deployment_template("nginx:1.28"),
                "overrides": [
                    {"clusterName": M2, "clusterOverrides": [{"path": "/spec/replicas", "value": 7}]},
                    {"clusterSelector": {"matchLabels": {"region": "eu"}},
                     "clusterOverrides": [{"op": "add", "path": "/metadata/annotations/region", "value": "eu"}]}
                ]
            }})),
        )
        .await?;
    member_obj(M1, &deploy, &ns, "web", "the new image", |o| {
        image(o) == Some("nginx:1.28")
    })
    .await?;
    member_obj(M2, &deploy, &ns, "web", "the new image and 7 replicas", |o| {
        image(o) == Some("nginx:1.28") && replicas(o) == Some(7)
    })
    .await?;

    // Drift on a field we own is corrected.
    let m1: Api<DynamicObject> = Api::namespaced_with(shared_testbed()?.client(M1).await?, &ns, &deploy);
    m1.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await?;
    member_obj(
        M1,
        &deploy,
        &ns,
        "web",
        "replicas restored to 3 after drift",
        |o| replicas(o) == Some(3),
    )
    .await?;

    // Placement change: member-2 drops out, its copy is deleted.
    fdeploy
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"placement": {"clusters": [{"name": M1}]}}})),
        )
        .await?;
    member_gone(M2, &deploy, &ns, "web").await?;
    let fed = fed_status(&fdeploy, "web", "True", |s| cluster_statuses(s).len() == 1).await?;
    assert!(cluster_statuses(&fed.data["status"]).contains_key(M1));
    wait_for_event(&host, &ns, "web", "DeleteInCluster").await?;
    let reasons = event_reasons(&host, &ns, "web").await?;
    for want in ["CreateInCluster", "UpdateInCluster"] {
        assert!(
            reasons.iter().any(|r| r == want),
            "no {want} Event in {reasons:?}"
        );
    }
    // The creation in both members is told by Events that name the clusters (one Event for both when
    // both were written in the same reconcile).
    let created: Vec<String> = Api::<Event>::namespaced(host.clone(), &ns)
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("CreateInCluster"))
        .filter_map(|e| e.note)
        .collect();
    for m in [M1, M2] {
        assert!(
            created.iter().any(
                |msg| msg.starts_with(&format!("created Deployment {ns}/web in cluster")) && msg.contains(m)
            ),
            "no CreateInCluster Event names {m}: {created:?}"
        );
    }

    // Delete: the member copy goes, then the federated object.
    fdeploy.delete("web", &DeleteParams::default()).await?;
    member_gone(M1, &deploy, &ns, "web").await?;
    wait_for("FederatedDeployment web to be deleted", WAIT, || {
        let fdeploy = fdeploy.clone();
        async move { Ok(fdeploy.get_opt("web").await?.is_none().then_some(())) }
    })
    .await?;
    Ok(())
}

/// What the table test does with one type.
struct Case {
    /// The FederatedTypeConfig name of the type.
    ftc: &'static str,
    /// The template (without name/namespace), with label `version: v1`.
    template: Value,
    /// A check of a type-specific field on a member copy.
    check: fn(&DynamicObject) -> bool,
}

fn table() -> Vec<Case> {
    let labels = json!({"version": "v1"});
    let with = |mut t: Value| {
        t["metadata"]["labels"] = labels.clone();
        t
    };
    let pod = json!({"containers": [{"name": "c", "image": "busybox:1.36"}]});
    vec![
        Case {
            ftc: "clusterroles.rbac.authorization.k8s.io",
            template: with(json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})),
            check: |o| o.data["rules"][0]["verbs"][0] == "get",
        },
        Case {
            ftc: "configmaps",
            template: with(json!({"data": {"k": "v"}})),
            check: |o| o.data["data"]["k"] == "v",
        },
        Case {
            ftc: "deployments.apps",
            template: with(
                json!({"spec": {"replicas": 2, "selector": {"matchLabels": {"app": "t"}},
                                           "template": {"metadata": {"labels": {"app": "t"}}, "spec": pod}}}),
            ),
            check: |o| o.data["spec"]["replicas"] == 2,
        },
        Case {
            ftc: "ingresses.networking.k8s.io",
            template: with(
                json!({"spec": {"rules": [{"host": "web.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
            ),
            check: |o| o.data["spec"]["rules"][0]["host"] == "web.example.com",
        },
        Case {
            ftc: "jobs.batch",
            template: with(json!({"spec": {"template": {"spec": {"restartPolicy": "Never",
                                                                 "containers": pod["containers"]}}}})),
            check: |o| o.data["spec"]["template"]["spec"]["restartPolicy"] == "Never",
        },
        Case {
            ftc: "namespaces",
            template: with(json!({})),
            check: |o| o.data["status"]["phase"] == "Active",
        },
        Case {
            ftc: "replicasets.apps",
            template: with(
                json!({"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "rs"}},
                                           "template": {"metadata": {"labels": {"app": "rs"}}, "spec": pod}}}),
            ),
            check: |o| o.data["spec"]["replicas"] == 1,
        },
        Case {
            ftc: "secrets",
            template: with(json!({"type": "Opaque", "data": {"password": "c2VjcmV0"}})),
            check: |o| o.data["data"]["password"] == "c2VjcmV0",
        },
        Case {
            ftc: "serviceaccounts",
            template: with(json!({"automountServiceAccountToken": false})),
            check: |o| o.data["automountServiceAccountToken"] == false,
        },
        Case {
            ftc: "services",
            template: with(
                json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "web"}}}),
            ),
            // The member allocates clusterIP; we never claim it.
            check: |o| {
                o.data["spec"]["clusterIP"]
                    .as_str()
                    .is_some_and(|ip| !ip.is_empty())
            },
        },
    ]
}

/// Create → overrides → update → placement change → delete, for one type; the error names the type.
async fn exercise(case: &Case, test_ns: &str, host: &kube::Client) -> TestResult {
    let tb = shared_testbed()?;
    let target =
        kubefed_core::find_default_type(case.ftc).ok_or(format!("{} is not a default type", case.ftc))?;
    let fed_res = kubefed_core::federated_api_resource(&target);
    let member_res = ar(&target.group, &target.version, &target.kind, &target.plural);
    let namespaced = target.federated_scope() == kubefed_core::Scope::Namespaced;
    // A FederatedNamespace lives in (and is named like) the namespace it federates: give it a fresh one.
    let (fed_ns, name) = if target.is_namespace() {
        let ns = tb.namespace("prop-table-ns", &[HOST]).await?;
        (Some(ns.clone()), ns)
    } else if namespaced {
        (Some(test_ns.to_string()), "t1".to_string())
    } else {
        (None, format!("{test_ns}-t1"))
    };
    let fed_api: Api<DynamicObject> = match &fed_ns {
        Some(ns) => Api::namespaced_with(host.clone(), ns, &fed_res),
        None => Api::all_with(host.clone(), &fed_res),
    };
    let member_ns = if target.scope == kubefed_core::Scope::Namespaced {
        Some(test_ns)
    } else {
        None
    };
    let member_api = |client: kube::Client| -> Api<DynamicObject> {
        match member_ns {
            Some(ns) => Api::namespaced_with(client, ns, &member_res),
            None => Api::all_with(client, &member_res),
        }
    };
    let m1 = member_api(tb.client(M1).await?);
    let m2 = member_api(tb.client(M2).await?);
    let mut meta = json!({"name": name});
    if let Some(ns) = &fed_ns {
        meta["namespace"] = json!(ns);
    }
    let override_m2 = json!([{"clusterName": M2, "clusterOverrides": [
        {"op": "add", "path": "/metadata/annotations", "value": {"override": "member-2"}}]}]);
    fed_api
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": target.federated_kind(),
                "metadata": meta,
                "spec": {"template": case.template, "placement": {"clusters": [{"name": M1}, {"name": M2}]},
                         "overrides": override_m2}
            }))?,
        )
        .await?;
    let label = |o: &DynamicObject, v: &str| {
        o.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("version"))
            .map(String::as_str)
            == Some(v)
    };
    let wait_member =
        |api: &Api<DynamicObject>, what: String, pred: Box<dyn Fn(&DynamicObject) -> bool + Send + Sync>| {
            let api = api.clone();
            let name = name.clone();
            async move {
                wait_for(&what, WAIT, || {
                    let api = api.clone();
                    let name = name.clone();
                    let pred = &pred;
                    async move { Ok(api.get_opt(&name).await?.filter(|o| pred(o))) }
                })
                .await
            }
        };
    let check = case.check;
    let o1 = wait_member(
        &m1,
        format!("{} in {M1}", case.ftc),
        Box::new(move |o| managed(o) && label(o, "v1") && check(o)),
    )
    .await?;
    assert_eq!(
        annotation(&o1, "override"),
        None,
        "{}: the member-2 override must not reach member-1",
        case.ftc
    );
    let o2 = wait_member(
        &m2,
        format!("{} in {M2} with its override", case.ftc),
        Box::new(move |o| {
            managed(o) && label(o, "v1") && check(o) && annotation(o, "override") == Some("member-2")
        }),
    )
    .await?;
    fed_status(&fed_api, &name, "True", |s| cluster_statuses(s).len() == 2)
        .await
        .map_err(|e| format!("{}: {e}", case.ftc))?;

    // Update the template.
    fed_api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"metadata": {"labels": {"version": "v2"}}}}})),
        )
        .await?;
    for api in [&m1, &m2] {
        wait_member(
            api,
            format!("{} updated to version v2", case.ftc),
            Box::new(move |o| label(o, "v2") && check(o)),
        )
        .await?;
    }
    if target.kind == "Service" {
        let now = m2.get(&name).await?;
        assert_eq!(
            now.data["spec"]["clusterIP"], o2.data["spec"]["clusterIP"],
            "services: clusterIP is kept on update"
        );
    }

    // Placement change: member-2 drops out.
    fed_api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"placement": {"clusters": [{"name": M1}]}}})),
        )
        .await?;
    wait_for(&format!("{} removed from {M2}", case.ftc), WAIT, || {
        let m2 = m2.clone();
        let name = name.clone();
        async move { Ok(m2.get_opt(&name).await?.is_none().then_some(())) }
    })
    .await?;
    fed_status(&fed_api, &name, "True", |s| cluster_statuses(s).len() == 1)
        .await
        .map_err(|e| format!("{}: {e}", case.ftc))?;

    // Delete: gone everywhere.
    fed_api.delete(&name, &DeleteParams::default()).await?;
    wait_for(
        &format!("{} removed from {M1} and the host", case.ftc),
        WAIT,
        || {
            let (m1, fed_api, name) = (m1.clone(), fed_api.clone(), name.clone());
            async move {
                Ok(
                    (m1.get_opt(&name).await?.is_none() && fed_api.get_opt(&name).await?.is_none())
                        .then_some(()),
                )
            }
        },
    )
    .await?;
    let events_ns = fed_ns.as_deref().unwrap_or("default");
    let reasons = event_reasons(host, events_ns, &name).await?;
    for want in ["CreateInCluster", "UpdateInCluster", "DeleteInCluster"] {
        if !reasons.iter().any(|r| r == want) {
            return Err(format!("{}: no {want} Event; have {reasons:?}", case.ftc).into());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_default_type_propagates() -> TestResult {
    let _serial = OUTAGE.read().await;
    controller().await?;
    let (host, ns) = federated_namespace("prop-table").await?;
    let cases = table();
    let results = futures::future::join_all(cases.iter().map(|c| exercise(c, &ns, &host))).await;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 10 types failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

/// `retainReplicas`: the member keeps the scale someone else gave it (as an HPA would) across template
/// changes, and a field removed from the template is removed from the member too (a plain create used to leave
/// it behind, owned by an `Update` entry no apply removes). Switching `retainReplicas` on for an object whose
/// replicas only our apply owned keeps them too, instead of the member falling back to 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_replicas_keeps_member_scale_and_drops_removed_fields() -> TestResult {
    let _serial = OUTAGE.read().await;
    controller().await?;
    let (host, ns) = federated_namespace("prop-retain").await?;
    let fdeploy: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &fed_ar("FederatedDeployment", "federateddeployments"),
    );
    let deploy = deployments();
    let env = |o: &DynamicObject| -> Vec<String> {
        o.data["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let fed = |name: &str, retain: bool, image: &str, envs: Value| -> TestResult<DynamicObject> {
        let mut template = deployment_template(image);
        template["spec"]["template"]["spec"]["containers"][0]["env"] = envs;
        obj(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"template": template, "placement": {"clusters": [{"name": M1}]}, "retainReplicas": retain}
        }))
    };
    let m1: Api<DynamicObject> = Api::namespaced_with(shared_testbed()?.client(M1).await?, &ns, &deploy);
    let two_envs = json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]);
    let apply = PatchParams::apply("retain-test").force();

    // Created with the template's 3 replicas and both variables; then scaled on the member to 5 by another
    // manager, as an HPA does.
    fdeploy
        .patch(
            "kept",
            &apply,
            &Patch::Apply(fed("kept", true, "nginx:1.27", two_envs.clone())?),
        )
        .await?;
    member_obj(M1, &deploy, &ns, "kept", "3 replicas, env A and B", |o| {
        replicas(o) == Some(3) && env(o) == ["A", "B"]
    })
    .await?;
    // Created, not adopted: the replicas pin is ours, not another manager's.
    wait_for_event(&host, &ns, "kept", "CreateInCluster").await?;
    let reasons = event_reasons(&host, &ns, "kept").await?;
    assert!(
        !reasons.iter().any(|r| r == "AdoptInCluster"),
        "a new member object is reported created, not adopted: {reasons:?}"
    );
    m1.patch(
        "kept",
        &PatchParams {
            field_manager: Some("hpa-stand-in".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await?;

    // The template changes: a new image, variable A removed.
    fdeploy
        .patch(
            "kept",
            &apply,
            &Patch::Apply(fed(
                "kept",
                true,
                "nginx:1.28",
                json!([{"name": "B", "value": "2"}]),
            )?),
        )
        .await?;
    let d = member_obj(M1, &deploy, &ns, "kept", "the new image", |o| {
        image(o) == Some("nginx:1.28")
    })
    .await?;
    assert_eq!(
        env(&d),
        ["B"],
        "a variable removed from the template must leave the member"
    );
    assert_eq!(replicas(&d), Some(5), "the member's own scale is kept");
    fed_status(&fdeploy, "kept", "True", |_| true).await?;

    // Without retainReplicas first: our apply alone owns spec.replicas (3). Switching retainReplicas on, with
    // a template change, must keep 3 rather than let the member default to 1.
    fdeploy
        .patch(
            "switched",
            &apply,
            &Patch::Apply(fed("switched", false, "nginx:1.27", two_envs.clone())?),
        )
        .await?;
    member_obj(M1, &deploy, &ns, "switched", "3 replicas", |o| {
        replicas(o) == Some(3)
    })
    .await?;
    fdeploy
        .patch(
            "switched",
            &apply,
            &Patch::Apply(fed("switched", true, "nginx:1.28", two_envs)?),
        )
        .await?;
    let d = member_obj(M1, &deploy, &ns, "switched", "the new image", |o| {
        image(o) == Some("nginx:1.28")
    })
    .await?;
    assert_eq!(
        replicas(&d),
        Some(3),
        "switching retainReplicas on keeps the replicas"
    );
    Ok(())
}

fn rsp_resource() -> ApiResource {
    ar(
        "scheduling.kubefed.io",
        "v1alpha1",
        "ReplicaSchedulingPreference",
        "replicaschedulingpreferences",
    )
}

/// An RSP and the FederatedDeployment (placed on every cluster) it schedules.
async fn scheduled_deployment(host: &kube::Client, ns: &str, name: &str, rsp_spec: Value) -> TestResult {
    let rsps: Api<DynamicObject> = Api::namespaced_with(host.clone(), ns, &rsp_resource());
    rsps.create(
        &PostParams::default(),
        &obj(json!({
            "apiVersion": "scheduling.kubefed.io/v1alpha1", "kind": "ReplicaSchedulingPreference",
            "metadata": {"name": name, "namespace": ns},
            "spec": rsp_spec
        }))?,
    )
    .await?;
    let fdeploy: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        ns,
        &fed_ar("FederatedDeployment", "federateddeployments"),
    );
    fdeploy
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"template": deployment_template("nginx:1.27"), "placement": {"clusterSelector": {}}}
            }))?,
        )
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_scheduling_preference_splits_replicas_by_weight() -> TestResult {
    let _serial = OUTAGE.read().await;
    controller().await?;
    let (host, ns) = federated_namespace("prop-rsp").await?;
    scheduled_deployment(
        &host,
        &ns,
        "split",
        // rebalance: without it, replicas the template already put on a member before the first plan
        // stay there (KubeFed's semantics), which would make the split depend on timing.
        json!({"targetKind": "FederatedDeployment", "totalReplicas": 5, "rebalance": true,
               "clusters": {M1: {"weight": 2}, M2: {"weight": 3}}}),
    )
    .await?;
    let deploy = deployments();
    member_obj(M1, &deploy, &ns, "split", "2 of 5 replicas", |o| {
        replicas(o) == Some(2)
    })
    .await?;
    member_obj(M2, &deploy, &ns, "split", "3 of 5 replicas", |o| {
        replicas(o) == Some(3)
    })
    .await?;
    let rsps: Api<DynamicObject> = Api::namespaced_with(host.clone(), &ns, &rsp_resource());
    wait_for("the RSP status to record the plan", WAIT, || {
        let rsps = rsps.clone();
        async move {
            let r = rsps.get("split").await?;
            Ok((r.data["status"]["replicas"] == json!({M1: 2, M2: 3})).then_some(()))
        }
    })
    .await?;
    // A new total is re-planned.
    rsps.patch(
        "split",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"totalReplicas": 10}})),
    )
    .await?;
    member_obj(M1, &deploy, &ns, "split", "4 of 10 replicas", |o| {
        replicas(o) == Some(4)
    })
    .await?;
    member_obj(M2, &deploy, &ns, "split", "6 of 10 replicas", |o| {
        replicas(o) == Some(6)
    })
    .await?;
    Ok(())
}

fn configmap(ns: &str, name: &str, data: Value, annotations: Value) -> TestResult<DynamicObject> {
    obj(json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"template": {"data": data}, "placement": {"clusters": [{"name": M1}, {"name": M2}]}}
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_member_objects_are_adopted_or_left_alone_and_orphaning_keeps_copies() -> TestResult {
    let _serial = OUTAGE.read().await;
    controller().await?;
    let tb = shared_testbed()?;
    let (host, ns) = federated_namespace("prop-adopt").await?;
    let cms = ar("", "v1", "ConfigMap", "configmaps");
    let m1: Api<DynamicObject> = Api::namespaced_with(tb.client(M1).await?, &ns, &cms);
    let m2: Api<DynamicObject> = Api::namespaced_with(tb.client(M2).await?, &ns, &cms);
    let fcm: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &fed_ar("FederatedConfigMap", "federatedconfigmaps"),
    );

    // member-1 has "hands-off" labelled managed=false; member-2 has an unlabelled "adopt-me".
    let plain = |name: &str, labels: Value| {
        obj(json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": name, "namespace": ns, "labels": labels}, "data": {"old": "x"}}))
    };
    m1.create(
        &PostParams::default(),
        &plain("hands-off", json!({"kubefed.io/managed": "false"}))?,
    )
    .await?;
    m2.create(&PostParams::default(), &plain("adopt-me", json!({}))?)
        .await?;
    fcm.create(
        &PostParams::default(),
        &configmap(&ns, "hands-off", json!({"k": "v"}), json!({}))?,
    )
    .await?;
    fcm.create(
        &PostParams::default(),
        &configmap(&ns, "adopt-me", json!({"k": "v"}), json!({}))?,
    )
    .await?;

    let adopted = member_obj(M2, &cms, &ns, "adopt-me", "adopted ConfigMap", |o| {
        managed(o) && o.data["data"]["k"] == "v"
    })
    .await?;
    assert_eq!(adopted.data["data"]["old"], "x", "fields we never owned stay");
    let fed = fed_status(&fcm, "hands-off", "False", |s| {
        cluster_statuses(s).get(M1).map(String::as_str) == Some("ManagedLabelFalse")
    })
    .await?;
    assert_eq!(fed.data["status"]["conditions"][0]["reason"], "CheckClusters");
    member_obj(
        M2,
        &cms,
        &ns,
        "hands-off",
        "hands-off created in member-2",
        managed,
    )
    .await?;
    wait_for_event(&host, &ns, "hands-off", "ManagedLabelFalse").await?;
    let untouched = m1.get("hands-off").await?;
    assert_eq!(
        untouched.data["data"],
        json!({"old": "x"}),
        "a managed=false object is never touched"
    );

    // Deleting never touches the managed=false object either.
    fcm.delete("hands-off", &DeleteParams::default()).await?;
    member_gone(M2, &cms, &ns, "hands-off").await?;
    wait_for("FederatedConfigMap hands-off deleted", WAIT, || {
        let fcm = fcm.clone();
        async move { Ok(fcm.get_opt("hands-off").await?.is_none().then_some(())) }
    })
    .await?;
    assert!(
        m1.get_opt("hands-off").await?.is_some(),
        "the managed=false object must survive"
    );

    // Orphaning: copies stay, without our label.
    fcm.create(
        &PostParams::default(),
        &configmap(
            &ns,
            "keep",
            json!({"k": "v"}),
            json!({"kubefed.io/orphan": "true"}),
        )?,
    )
    .await?;
    for m in [M1, M2] {
        member_obj(m, &cms, &ns, "keep", "keep propagated", managed).await?;
    }
    fcm.delete("keep", &DeleteParams::default()).await?;
    wait_for("FederatedConfigMap keep deleted", WAIT, || {
        let fcm = fcm.clone();
        async move { Ok(fcm.get_opt("keep").await?.is_none().then_some(())) }
    })
    .await?;
    for api in [&m1, &m2] {
        let kept = api.get("keep").await?;
        assert!(
            !managed(&kept) && kept.data["data"]["k"] == "v",
            "orphaned copy must stay, unlabelled: {:?}",
            kept.metadata.labels
        );
    }
    wait_for_event(&host, &ns, "keep", "OrphanInCluster").await?;

    // kubefed.io/deleteoption: member deletes orphan the Deployment's ReplicaSets.
    let fdeploy: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &fed_ar("FederatedDeployment", "federateddeployments"),
    );
    fdeploy
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
                "metadata": {"name": "keep-rs", "namespace": ns,
                             "annotations": {"kubefed.io/deleteoption": "{\"propagationPolicy\":\"Orphan\"}"}},
                "spec": {"template": deployment_template("nginx:1.27"), "placement": {"clusters": [{"name": M1}]}}
            }))?,
        )
        .await?;
    let rs: Api<DynamicObject> = Api::namespaced_with(
        tb.client(M1).await?,
        &ns,
        &ar("apps", "v1", "ReplicaSet", "replicasets"),
    );
    wait_for("the member Deployment's ReplicaSet", WAIT, || {
        let rs = rs.clone();
        async move { Ok((!rs.list(&ListParams::default()).await?.items.is_empty()).then_some(())) }
    })
    .await?;
    fdeploy.delete("keep-rs", &DeleteParams::default()).await?;
    member_gone(M1, &deployments(), &ns, "keep-rs").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !rs.list(&ListParams::default()).await?.items.is_empty(),
        "propagationPolicy Orphan keeps the ReplicaSets"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_outage_reports_cluster_not_ready_and_converges_after_restart() -> TestResult {
    controller().await?;
    let _exclusive = OUTAGE.write().await;
    let tb = shared_testbed()?;
    let (host, ns) = federated_namespace("prop-outage").await?;
    let cms = ar("", "v1", "ConfigMap", "configmaps");
    let fcm: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &fed_ar("FederatedConfigMap", "federatedconfigmaps"),
    );
    fcm.create(
        &PostParams::default(),
        &configmap(&ns, "a", json!({"v": "1"}), json!({}))?,
    )
    .await?;
    fcm.create(
        &PostParams::default(),
        &configmap(&ns, "c", json!({"v": "1"}), json!({}))?,
    )
    .await?;
    for name in ["a", "c"] {
        fed_status(&fcm, name, "True", |s| cluster_statuses(s).len() == 2).await?;
    }
    // Replicas scheduled 2/2 move to member-2 while member-1 is down, and back (rebalance) after.
    scheduled_deployment(
        &host,
        &ns,
        "moves",
        json!({"targetKind": "FederatedDeployment", "totalReplicas": 4, "rebalance": true,
               "clusters": {"*": {"weight": 1}}}),
    )
    .await?;
    let deploy = deployments();
    for m in [M1, M2] {
        member_obj(m, &deploy, &ns, "moves", "2 of 4 replicas", |o| {
            replicas(o) == Some(2)
        })
        .await?;
    }

    // Failback without churn: member-1's Deployment is scaled, never deleted and recreated.
    let m1_deploy = Api::<DynamicObject>::namespaced_with(tb.client(M1).await?, &ns, &deploy);
    let uid_before = m1_deploy.get("moves").await?.metadata.uid;
    tb.stop_apiserver(M1)?;
    let outage = async {
        let kfcs: Api<KubeFedCluster> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
        wait_for("member-1 to be not Ready", WAIT, || {
            let kfcs = kfcs.clone();
            async move { Ok(kfcs.get_opt(M1).await?.filter(|k| !k.is_ready()).map(|_| ())) }
        })
        .await?;
        let offline = kfcs.get(M1).await?;
        let conds = serde_json::to_value(&offline.status)?;
        assert!(
            conds.to_string().contains("Offline"),
            "an unreachable member is reported Offline: {conds}"
        );

        // Changes while member-1 is down: member-2 gets them, member-1 is reported ClusterNotReady.
        fcm.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"data": {"v": "2"}}}})),
        )
        .await?;
        fcm.create(
            &PostParams::default(),
            &configmap(&ns, "b", json!({"v": "1"}), json!({}))?,
        )
        .await?;
        member_obj(M2, &cms, &ns, "a", "a updated in member-2", |o| {
            o.data["data"]["v"] == "2"
        })
        .await?;
        member_obj(M2, &cms, &ns, "b", "b created in member-2", managed).await?;
        member_obj(
            M2,
            &deployments(),
            &ns,
            "moves",
            "all 4 replicas on member-2",
            |o| replicas(o) == Some(4),
        )
        .await?;
        let rsps: Api<DynamicObject> = Api::namespaced_with(host.clone(), &ns, &rsp_resource());
        wait_for("the RSP status to name the unready member", WAIT, || {
            let rsps = rsps.clone();
            async move {
                let r = rsps.get("moves").await?;
                let cond = &r.data["status"]["conditions"][0];
                Ok((cond["reason"] == "ClustersNotReady"
                    && cond["message"].as_str().is_some_and(|m| m.contains(M1)))
                .then_some(()))
            }
        })
        .await?;
        for name in ["a", "b"] {
            fed_status(&fcm, name, "False", |s| {
                let c = cluster_statuses(s);
                c.get(M1).map(String::as_str) == Some("ClusterNotReady")
                    && c.get(M2).map(String::as_str) == Some("")
            })
            .await?;
        }
        // Deleting waits for member-1 only up to the deletion timeout (20 s here), then reports what was left.
        fcm.delete("c", &DeleteParams::default()).await?;
        member_gone(M2, &cms, &ns, "c").await?;
        wait_for(
            "FederatedConfigMap c deleted despite member-1 being down",
            Duration::from_secs(90),
            || {
                let fcm = fcm.clone();
                async move { Ok(fcm.get_opt("c").await?.is_none().then_some(())) }
            },
        )
        .await?;
        wait_for_event(&host, &ns, "c", "DeletionTimedOut").await?;
        TestResult::Ok(())
    }
    .await;
    // Whatever happened, bring member-1 back for the other tests.
    let restarted =
        tokio::task::spawn_blocking(|| shared_testbed().and_then(|tb| tb.start_apiserver(M1))).await?;
    outage?;
    restarted?;

    // Everything converges: member-1 gets the update and the new object; statuses go back to True.
    member_obj(
        M1,
        &cms,
        &ns,
        "a",
        "a updated in member-1 after the restart",
        |o| o.data["data"]["v"] == "2",
    )
    .await?;
    member_obj(
        M1,
        &cms,
        &ns,
        "b",
        "b created in member-1 after the restart",
        managed,
    )
    .await?;
    for name in ["a", "b"] {
        fed_status(&fcm, name, "True", |s| cluster_statuses(s).len() == 2).await?;
    }
    for m in [M1, M2] {
        member_obj(m, &deploy, &ns, "moves", "2 of 4 replicas again", |o| {
            replicas(o) == Some(2)
        })
        .await?;
    }
    let m1_deploy = Api::<DynamicObject>::namespaced_with(tb.client(M1).await?, &ns, &deploy);
    assert_eq!(
        m1_deploy.get("moves").await?.metadata.uid,
        uid_before,
        "member-1's Deployment was scaled back, not deleted and recreated, when member-1 returned"
    );
    // The copy the timed-out deletion left in member-1 is removed once member-1 is back: nothing leaks.
    member_gone(M1, &cms, &ns, "c").await?;
    Ok(())
}

/// `GET path` on the controller's metrics server (plain HTTP/1.1 on loopback).
async fn http_get(path: &str) -> TestResult<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = METRICS_ADDR.get().ok_or("the metrics server did not start")?;
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut body = String::new();
    conn.read_to_string(&mut body).await?;
    Ok(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_healthz_are_served() -> TestResult {
    let _serial = OUTAGE.read().await;
    controller().await?;
    let health = http_get("/healthz").await?;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok"),
        "{health}"
    );
    // Something was reconciled by the time both clusters are ready and a namespace was federated.
    federated_namespace("prop-metrics").await?;
    let text = wait_for("reconcile metrics", WAIT, || async {
        let text = http_get("/metrics").await?;
        Ok(text
            .contains("kubefed_controller_reconciles_total{type=\"namespaces\",result=\"success\"}")
            .then_some(text))
    })
    .await?;
    for want in [
        "kubefed_controller_cluster_ready{cluster=\"member-1\"} 1",
        "kubefed_controller_cluster_ready{cluster=\"member-2\"} 1",
        "kubefed_controller_propagation_duration_seconds_bucket",
        "kubefed_controller_member_operations_total{cluster=\"member-1\",op=\"create\",result=\"success\"}",
    ] {
        assert!(text.contains(want), "missing {want:?} in /metrics:\n{text}");
    }
    // Ten default types (other tests may enable more).
    let running = text
        .lines()
        .find_map(|l| l.strip_prefix("kubefed_controller_type_controllers "))
        .and_then(|v| v.trim().parse::<i64>().ok());
    assert!(running.is_some_and(|n| n >= 10), "type_controllers = {running:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_lets_one_replica_act_and_hands_over() -> TestResult {
    use kubefed_controller::leader::{LeaderElector, Timing};
    let _serial = OUTAGE.read().await;
    controller().await?;
    let host = shared_testbed()?.client(HOST).await?;
    let timing = Timing {
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(300),
    };
    let lease = format!("leader-test-{}", std::process::id());
    let mut a = LeaderElector::new(
        host.clone(),
        DEFAULT_SYSTEM_NAMESPACE,
        &lease,
        "replica-a",
        timing,
    );
    tokio::time::timeout(WAIT, a.acquire()).await?;
    let holding = tokio::spawn(async move {
        let err = a.hold().await;
        (a, err)
    });

    // b waits while a renews.
    let mut b = LeaderElector::new(
        host.clone(),
        DEFAULT_SYSTEM_NAMESPACE,
        &lease,
        "replica-b",
        timing,
    );
    let early = tokio::time::timeout(Duration::from_secs(5), b.acquire()).await;
    assert!(
        early.is_err(),
        "replica-b must not lead while replica-a renews the Lease"
    );

    // a stops without releasing (a crash): b takes over once the Lease expires.
    holding.abort();
    let started = Instant::now();
    tokio::time::timeout(WAIT, b.acquire()).await?;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "took over after {:?}, before expiry",
        started.elapsed()
    );

    // b releases on a clean shutdown: c takes over at once.
    b.release().await;
    let mut c = LeaderElector::new(host, DEFAULT_SYSTEM_NAMESPACE, &lease, "replica-c", timing);
    let started = Instant::now();
    tokio::time::timeout(WAIT, c.acquire()).await?;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a released Lease is taken at once"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_type_federates_once_enabled_and_stops_when_disabled() -> TestResult {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kubefed_core::api::FederatedTypeConfig;
    let _serial = OUTAGE.read().await;
    controller().await?;
    let tb = shared_testbed()?;
    let (host, ns) = federated_namespace("prop-crd").await?;
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
    }))?;
    for c in [HOST, M1, M2] {
        kubefed_tests::testbed::install_crds(&tb.client(c).await?, std::slice::from_ref(&crd)).await?;
    }
    let target = kubefed_core::TargetType {
        group: "example.com".into(),
        version: "v1alpha1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
        singular: "widget".into(),
        scope: kubefed_core::Scope::Namespaced,
        short_names: vec![],
        has_replicas: false,
    };
    kubefed_tests::testbed::install_crds(&host, &[kubefed_core::crds::federated_crd(&target)]).await?;
    let ftcs: Api<FederatedTypeConfig> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    let pp = PatchParams::apply("propagation-tests").force();
    let mut ftc = FederatedTypeConfig::for_target(&target, DEFAULT_SYSTEM_NAMESPACE);
    ftcs.patch("widgets.example.com", &pp, &Patch::Apply(&ftc))
        .await?;
    let controller_status = |want: &'static str| {
        let ftcs = ftcs.clone();
        async move {
            wait_for(
                &format!("FederatedTypeConfig widgets.example.com {want}"),
                WAIT,
                || {
                    let ftcs = ftcs.clone();
                    async move {
                        let f = ftcs.get("widgets.example.com").await?;
                        let s = serde_json::to_value(&f.status)?;
                        Ok((s["propagationController"] == want).then_some(()))
                    }
                },
            )
            .await
        }
    };
    controller_status("Running").await?;

    let widgets = ar("example.com", "v1alpha1", "Widget", "widgets");
    let fwidgets: Api<DynamicObject> =
        Api::namespaced_with(host.clone(), &ns, &fed_ar("FederatedWidget", "federatedwidgets"));
    fwidgets
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedWidget",
                "metadata": {"name": "w", "namespace": ns},
                "spec": {"template": {"spec": {"size": 1}}, "placement": {"clusterSelector": {}},
                         "overrides": [{"clusterName": M2, "clusterOverrides": [{"path": "/spec/size", "value": 2}]}]}
            }))?,
        )
        .await?;
    member_obj(M1, &widgets, &ns, "w", "Widget of size 1", |o| {
        o.data["spec"]["size"] == 1
    })
    .await?;
    member_obj(M2, &widgets, &ns, "w", "Widget of size 2", |o| {
        o.data["spec"]["size"] == 2
    })
    .await?;

    // Disabled: no more propagation.
    ftc.spec.propagation = kubefed_core::api::Toggle::Disabled;
    ftcs.patch("widgets.example.com", &pp, &Patch::Apply(&ftc))
        .await?;
    controller_status("NotRunning").await?;
    let set_size = |n: i64| json!({"spec": {"template": {"spec": {"size": n}}}});
    fwidgets
        .patch("w", &PatchParams::default(), &Patch::Merge(set_size(5)))
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let m1: Api<DynamicObject> = Api::namespaced_with(tb.client(M1).await?, &ns, &widgets);
    assert_eq!(
        m1.get("w").await?.data["spec"]["size"],
        1,
        "a disabled type is not propagated"
    );

    // Enabled again: it catches up.
    ftc.spec.propagation = kubefed_core::api::Toggle::Enabled;
    ftcs.patch("widgets.example.com", &pp, &Patch::Apply(&ftc))
        .await?;
    member_obj(
        M1,
        &widgets,
        &ns,
        "w",
        "Widget of size 5 after re-enabling",
        |o| o.data["spec"]["size"] == 5,
    )
    .await?;
    fwidgets.delete("w", &DeleteParams::default()).await?;
    member_gone(M1, &widgets, &ns, "w").await?;
    member_gone(M2, &widgets, &ns, "w").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_clients_honour_disabled_tls_validations() -> TestResult {
    use k8s_openapi::ByteString;
    use kubefed_controller::cluster::client::{Token, client_for};
    use kubefed_core::api::{KubeFedClusterSpec, LocalSecretReference, TlsValidation};
    let tb = shared_testbed()?;
    let token = Token::Present(tb.token("admin"));
    let kfc = |disabled: Vec<TlsValidation>, ca: Option<String>| {
        KubeFedCluster::new(
            M2,
            KubeFedClusterSpec {
                api_endpoint: tb.endpoint(M2).unwrap_or_default(),
                ca_bundle: ca.map(|c| ByteString(c.into_bytes())),
                secret_ref: LocalSecretReference {
                    name: "unused".into(),
                },
                disabled_tls_validations: disabled,
                proxy_url: None,
            },
        )
    };
    let ca = tb.ca_pem(M2)?;
    // The hand-built client (relaxed verifier) and kube's (full, `*`) both reach the member.
    for (what, k) in [
        (
            "SubjectName",
            kfc(vec![TlsValidation::SubjectName], Some(ca.clone())),
        ),
        (
            "SubjectName+ValidityPeriod",
            kfc(
                vec![TlsValidation::SubjectName, TlsValidation::ValidityPeriod],
                Some(ca.clone()),
            ),
        ),
        ("none", kfc(vec![], Some(ca.clone()))),
        ("*", kfc(vec![TlsValidation::All], None)),
    ] {
        let client = client_for(&k, &token, 50.0, 50).map_err(|e| format!("{what}: {e}"))?;
        let v = client
            .apiserver_version()
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        assert_eq!(v.minor, "34", "{what}");
    }
    // Without the member's CA, full verification fails and so does a relaxed one (the chain is checked).
    let other_ca = tb.ca_pem(M1)?;
    for (what, k) in [
        ("none", kfc(vec![], Some(other_ca.clone()))),
        (
            "SubjectName",
            kfc(vec![TlsValidation::SubjectName], Some(other_ca)),
        ),
    ] {
        let client = client_for(&k, &token, 50.0, 50).map_err(|e| format!("{what}: {e}"))?;
        assert!(
            client.apiserver_version().await.is_err(),
            "{what}: a wrong CA must be rejected"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_health_reports_version_and_malformed_configs() -> TestResult {
    controller().await?;
    // A third (broken) cluster would show in every placement: keep the other tests out meanwhile.
    let _exclusive = OUTAGE.write().await;
    let host = shared_testbed()?.client(HOST).await?;
    let kfcs: Api<KubeFedCluster> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    let m1 = kfcs.get(M1).await?;
    let version = m1
        .status
        .as_ref()
        .and_then(|s| s.kubernetes_version.clone())
        .unwrap_or_default();
    assert!(
        version.starts_with("v1.34."),
        "kubernetesVersion of member-1: {version:?}"
    );

    let broken: KubeFedCluster = serde_json::from_value(json!({
        "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedCluster",
        "metadata": {"name": "broken", "namespace": DEFAULT_SYSTEM_NAMESPACE},
        "spec": {"apiEndpoint": "https://127.0.0.1:1", "secretRef": {"name": "no-such-secret"}}
    }))?;
    kfcs.create(&PostParams::default(), &broken).await?;
    let checked = wait_for("KubeFedCluster broken to be ConfigMalformed", WAIT, || {
        let kfcs = kfcs.clone();
        async move {
            let k = kfcs.get("broken").await?;
            let s = serde_json::to_value(&k.status)?;
            let malformed = s["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "ConfigMalformed" && c["status"] == "True")
            });
            Ok(malformed.then_some(s))
        }
    })
    .await;
    let events = wait_for_event(&host, DEFAULT_SYSTEM_NAMESPACE, "broken", "ConfigMalformed").await;
    kfcs.delete("broken", &DeleteParams::default()).await?;
    let status = checked?;
    assert!(
        status.to_string().contains("no-such-secret"),
        "the condition names the missing Secret: {status}"
    );
    assert!(!kfcs.get("broken").await.is_ok_and(|k| k.is_ready()));
    events?;
    // Healthy clusters are unaffected.
    assert!(kfcs.get(M1).await?.is_ready() && kfcs.get(M2).await?.is_ready());
    Ok(())
}
