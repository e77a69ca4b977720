//! What propagation costs the members, counted where it lands: the member API servers' own
//! `apiserver_request_total` for ConfigMaps. A new object costs one write per member, a controller
//! restart with nothing changed none, a template change one write per member — and a key removed from the
//! template is removed from the members (our apply owns what the first write created, which a plain
//! create followed by applies would not: checked at the end).
//!
//! This binary has its own testbed and starts and stops the controller in-process itself.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubefed_tests::fixtures::{install_kubefed, join};
use kubefed_tests::requests::writes_reads;
use kubefed_tests::shared_testbed;
use kubefed_tests::testbed::HOST;
use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const MEMBERS: [&str; 2] = ["member-1", "member-2"];
const N: usize = 20;
const WAIT: Duration = Duration::from_secs(90);
/// How long writes that would follow a convergence (retries, a second reconcile) get to show up.
const SETTLE: Duration = Duration::from_secs(4);

async fn wait_for<T, F, Fut>(what: &str, f: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TestResult<Option<T>>>,
{
    kubefed_tests::wait_for(what, WAIT, f).await
}

fn fed_ar(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("types.kubefed.io", "v1beta1", kind),
        plural,
    )
}

/// Requests for ConfigMaps and Deployments a member's API server has served so far.
async fn requests(member: &kube::Client) -> TestResult<HashMap<String, u64>> {
    Ok(kubefed_tests::requests::served(member, &["configmaps", "deployments"]).await?)
}

/// Per member: the requests since `before`.
async fn since(
    clients: &[kube::Client],
    before: &[HashMap<String, u64>],
) -> TestResult<Vec<HashMap<String, u64>>> {
    let mut out = Vec::new();
    for (c, b) in clients.iter().zip(before) {
        out.push(kubefed_tests::requests::delta(&requests(c).await?, b));
    }
    Ok(out)
}

async fn snapshot(clients: &[kube::Client]) -> TestResult<Vec<HashMap<String, u64>>> {
    let mut out = Vec::new();
    for c in clients {
        out.push(requests(c).await?);
    }
    Ok(out)
}

fn start_controller(host: &kube::Client) -> kubefed_controller::Running {
    let settings = kubefed_controller::Settings {
        concurrency: 8,
        member_timeout: Duration::from_secs(5),
        identity: "member-requests-tests".into(),
        ..Default::default()
    };
    kubefed_controller::start(
        host.clone(),
        settings,
        std::sync::Arc::new(kubefed_controller::Metrics::new()),
    )
}

/// Waits until every member holds `data(i)` in ConfigMap `cm-i`, for each of the `N`. Lists (a LIST, so
/// the GETs counted are the controller's).
async fn members_hold(members: &[kube::Client], ns: &str, data: impl Fn(usize) -> Value) -> TestResult {
    for m in members {
        let api: Api<ConfigMap> = Api::namespaced(m.clone(), ns);
        let want: BTreeMap<String, Value> = (0..N).map(|i| (format!("cm-{i}"), data(i))).collect();
        wait_for(&format!("the {N} ConfigMaps to hold their data"), || {
            let api = api.clone();
            let want = want.clone();
            async move {
                let have: BTreeMap<String, Value> = api
                    .list(&Default::default())
                    .await?
                    .items
                    .into_iter()
                    .filter_map(|c| Some((c.metadata.name.clone()?, serde_json::to_value(&c.data).ok()?)))
                    .filter(|(name, _)| want.contains_key(name))
                    .collect();
                Ok((have == want).then_some(()))
            }
        })
        .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_member_write_per_change_and_none_after_a_restart() -> TestResult {
    let tb = shared_testbed()?;
    let host = install_kubefed(tb).await?;
    for m in MEMBERS {
        join(tb, &host, m, BTreeMap::new()).await?;
    }
    let mut members = Vec::new();
    for m in MEMBERS {
        members.push(tb.client(m).await?);
    }
    let running = start_controller(&host);

    // A federated namespace; wait until the members have it and its kube-root-ca.crt (a ConfigMap write
    // that is not ours), so the counts below are the controller's alone.
    let ns = tb.namespace("member-requests", &[HOST]).await?;
    kubefed_tests::fixtures::federate_namespace(&host, &ns).await?;
    for m in &members {
        let nss: Api<Namespace> = Api::all(m.clone());
        let cms: Api<ConfigMap> = Api::namespaced(m.clone(), &ns);
        wait_for("the federated namespace in the members", || {
            let (nss, cms, ns) = (nss.clone(), cms.clone(), ns.clone());
            async move {
                let present =
                    nss.get_opt(&ns).await?.is_some() && cms.get_opt("kube-root-ca.crt").await?.is_some();
                Ok(present.then_some(()))
            }
        })
        .await?;
    }
    tokio::time::sleep(SETTLE).await;

    // Create N: one write per object per member, no reads.
    let before = snapshot(&members).await?;
    let fcm: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &fed_ar("FederatedConfigMap", "federatedconfigmaps"),
    );
    let data = |i: usize| json!({"n": i.to_string(), "extra": "x"});
    for i in 0..N {
        fcm.create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
                "metadata": {"name": format!("cm-{i}"), "namespace": ns},
                "spec": {"template": {"data": data(i)}, "placement": {"clusterSelector": {}}}
            }))?,
        )
        .await?;
    }
    members_hold(&members, &ns, data).await?;
    tokio::time::sleep(SETTLE).await;
    let created = since(&members, &before).await?;
    for (m, verbs) in MEMBERS.iter().zip(&created) {
        let (writes, reads) = writes_reads(verbs, "configmaps");
        println!("create {N}: {m}: {writes} writes, {reads} reads ({verbs:?})");
        assert_eq!(writes, N as u64, "{m}: one write per new object ({verbs:?})");
        assert_eq!(reads, 0, "{m}: no reads for new objects ({verbs:?})");
    }

    // A Deployment too: lists keyed by name and by port + a defaulted protocol, fields the member's
    // controllers own (status, the revision annotation, defaulted fields).
    let fdep: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &fed_ar("FederatedDeployment", "federateddeployments"),
    );
    fdep.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"template": {"spec": {"replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "app", "image": "nginx:1", "args": ["-v"],
                     "ports": [{"containerPort": 80}],
                     "env": [{"name": "A", "value": "1"}],
                     "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}]}}}},
                     "placement": {"clusterSelector": {}}}
        }))?,
    )
    .await?;
    for m in &members {
        let deps: Api<DynamicObject> = Api::namespaced_with(
            m.clone(),
            &ns,
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("apps", "v1", "Deployment"),
                "deployments",
            ),
        );
        wait_for("the Deployment in the members, seen by its controller", || {
            let deps = deps.clone();
            async move {
                Ok(deps
                    .get_opt("web")
                    .await?
                    .filter(|d| d.data["status"]["observedGeneration"].as_i64().is_some())
                    .map(|_| ()))
            }
        })
        .await?;
    }
    tokio::time::sleep(SETTLE).await;

    // Restart with nothing changed: no writes. The new controller reconciles every object after its
    // member watches list; wait for its reconciles to be done.
    running.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = snapshot(&members).await?;
    let metrics = std::sync::Arc::new(kubefed_controller::Metrics::new());
    let running = kubefed_controller::start(
        host.clone(),
        kubefed_controller::Settings {
            concurrency: 8,
            member_timeout: Duration::from_secs(5),
            identity: "member-requests-tests".into(),
            ..Default::default()
        },
        metrics.clone(),
    );
    wait_for("the restarted controller to reconcile every object", || {
        let text = metrics.encode();
        async move {
            let done: f64 = text
                .lines()
                .filter(|l| {
                    l.starts_with("kubefed_controller_reconciles_total{") && l.contains("type=\"configmaps\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            Ok((done >= N as f64).then_some(()))
        }
    })
    .await?;
    tokio::time::sleep(SETTLE).await;
    let restarted = since(&members, &before).await?;
    for (m, verbs) in MEMBERS.iter().zip(&restarted) {
        let (writes, reads) = writes_reads(verbs, "configmaps");
        let (deployment_writes, _) = writes_reads(verbs, "deployments");
        println!(
            "restart: {m}: {writes} ConfigMap writes, {reads} reads, {deployment_writes} Deployment writes ({verbs:?})"
        );
        assert_eq!(
            writes, 0,
            "{m}: a restart with nothing changed writes nothing ({verbs:?})"
        );
        assert_eq!(
            deployment_writes, 0,
            "{m}: nor to a Deployment with lists, defaulted keys and foreign fields ({verbs:?})"
        );
    }

    // One template change (a key removed, one changed): one write per member, and the removed key goes.
    let before = snapshot(&members).await?;
    fcm.patch(
        "cm-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"data": {"n": "changed", "extra": null}}}})),
    )
    .await?;
    let changed = |i: usize| {
        if i == 0 { json!({"n": "changed"}) } else { data(i) }
    };
    members_hold(&members, &ns, changed).await?;
    tokio::time::sleep(SETTLE).await;
    let updated = since(&members, &before).await?;
    for (m, verbs) in MEMBERS.iter().zip(&updated) {
        let (writes, reads) = writes_reads(verbs, "configmaps");
        println!("update 1: {m}: {writes} writes, {reads} reads ({verbs:?})");
        assert_eq!(writes, 1, "{m}: one write for one change ({verbs:?})");
    }
    let ops = metrics.encode();
    for l in ops
        .lines()
        .filter(|l| l.starts_with("kubefed_controller_member_operations_total"))
    {
        println!("{l}");
    }
    running.stop();

    // Why the first write is an apply and not a create: fields a create sets belong to an `Update` entry,
    // and a later apply by the same manager does not remove them.
    let cms: Api<DynamicObject> = Api::namespaced_with(
        members[0].clone(),
        &ns,
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "ConfigMap"), "configmaps"),
    );
    let pp = PostParams {
        dry_run: false,
        field_manager: Some("kubefed-controller".into()),
    };
    let created = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "created"},
                         "data": {"a": "1", "b": "2"}});
    cms.create(&pp, &serde_json::from_value(created)?).await?;
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "created"},
                         "data": {"a": "1"}});
    let after = cms
        .patch(
            "created",
            &PatchParams::apply("kubefed-controller").force(),
            &Patch::Apply(applied),
        )
        .await?;
    assert_eq!(
        after.data["data"],
        json!({"a": "1", "b": "2"}),
        "create then apply keeps what only the create set"
    );
    Ok(())
}
