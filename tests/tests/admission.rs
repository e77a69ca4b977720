//! Admission end-to-end: the host kube-apiserver calls the real `kubefed-webhook` binary (self-managed TLS,
//! registered by `url: https://127.0.0.1:PORT/...` with the `caBundle` it bootstraps itself) and users
//! alice and bob, through kubectl, see its decisions: denied for a forbidden cluster, for a cluster they may
//! not `propagate` to, for a namespace that is not federated; allowed and defaulted otherwise; warnings in
//! Warn mode; violations recorded in the policy's status in Audit mode; and no failed request while the
//! serving certificate is rotated under load.
//!
//! The webhook and its registration are set up once per test binary; every test works in its own
//! namespace, and its FederationPolicies select only that namespace (policies are cluster-scoped).
//!
//! The binary is `$KUBEFED_WEBHOOK_BIN`, or built with cargo into this test's own target directory.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_core::api::{FederatedTypeConfig, FederationPolicy};
use kubefed_tests::fixtures::{install_kubefed, join};
use kubefed_tests::process::{Process, free_port};
use kubefed_tests::testbed::{HOST, delete_namespace};
use kubefed_tests::webhook;
use kubefed_tests::{Testbed, shared_testbed};
use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const M1: &str = "member-1";
const M2: &str = "member-2";
/// Namespace of the webhook's TLS Secret (excluded from the webhook's namespaceSelector).
const WEBHOOK_NAMESPACE: &str = "kubefed-webhook-e2e";
/// Name of the Mutating- and ValidatingWebhookConfiguration.
const CONFIG_NAME: &str = "kubefed-e2e";
const MANAGER: &str = "admission-tests";
/// How long any expected change may take (policies reach the webhook's informer, status is written).
const WAIT: Duration = Duration::from_secs(30);

/// The running webhook: its port and process (stopped when this test binary exits).
struct Webhook {
    port: u16,
    log: PathBuf,
    _process: Mutex<Process>,
}

/// Sets up (once) kubefed on the testbed, the test users' rights, the webhook configurations and the
/// webhook itself, and waits until the API server admits a request through it.
fn webhook() -> TestResult<&'static Webhook> {
    static WEBHOOK: OnceLock<Result<Webhook, String>> = OnceLock::new();
    WEBHOOK
        .get_or_init(|| kubefed_tests::fixtures::set_up_once_on_own_thread("admission test setup", setup))
        .as_ref()
        .map_err(|e| e.clone().into())
}

async fn setup() -> TestResult<Webhook> {
    let tb = shared_testbed()?;
    let host = install_kubefed(tb).await?;
    join(tb, &host, M1, [("region".to_string(), "eu".to_string())].into()).await?;
    join(tb, &host, M2, [("region".to_string(), "us".to_string())].into()).await?;
    let pp = PatchParams::apply(MANAGER).force();
    apply::<Namespace>(
        &Api::all(host.clone()),
        json!({"metadata": {"name": WEBHOOK_NAMESPACE}}),
        &pp,
    )
    .await?;

    // alice and bob may manage federated objects (bound per test namespace) and propagate: alice to both
    // members, bob to member-1 only.
    apply::<ClusterRole>(
        &Api::all(host.clone()),
        json!({"metadata": {"name": "kubefed-e2e-federated-editor"},
               "rules": [{"apiGroups": ["types.kubefed.io"], "resources": ["*"], "verbs": ["*"]}]}),
        &pp,
    )
    .await?;
    for (user, clusters) in [("alice", vec![M1, M2]), ("bob", vec![M1])] {
        let name = format!("kubefed-e2e-propagate-{user}");
        apply::<Role>(
            &Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE),
            json!({"metadata": {"name": name, "namespace": DEFAULT_SYSTEM_NAMESPACE},
                   "rules": [{"apiGroups": ["core.kubefed.io"], "resources": ["kubefedclusters"],
                              "resourceNames": clusters, "verbs": ["propagate"]}]}),
            &pp,
        )
        .await?;
        apply::<RoleBinding>(
            &Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE),
            json!({"metadata": {"name": name, "namespace": DEFAULT_SYSTEM_NAMESPACE},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}),
            &pp,
        )
        .await?;
    }

    // An admin enabled rolebindings (what `kubectl fed enable rolebindings.rbac.authorization.k8s.io` does).
    let rolebindings =
        kubefed_core::convert::guess_target_type("rbac.authorization.k8s.io/v1", "RoleBinding", true);
    kubefed_tests::testbed::install_crds(&host, &[kubefed_core::federated_crd(&rolebindings)]).await?;
    apply::<FederatedTypeConfig>(
        &Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE),
        serde_json::to_value(FederatedTypeConfig::for_target(
            &rolebindings,
            DEFAULT_SYSTEM_NAMESPACE,
        ))?,
        &pp,
    )
    .await?;

    let port = free_port()?;
    let registration = webhook::Registration {
        config_name: CONFIG_NAME,
        manager: MANAGER,
        rules: json!([
            {"apiGroups": ["types.kubefed.io"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
             "resources": ["*"], "scope": "*"},
            {"apiGroups": ["core.kubefed.io"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
             "resources": ["kubefedclusters", "federatedtypeconfigs", "kubefedconfigs"], "scope": "*"},
            {"apiGroups": ["scheduling.kubefed.io"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
             "resources": ["replicaschedulingpreferences"], "scope": "*"},
            {"apiGroups": ["policy.kubefed.io"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
             "resources": ["federationpolicies"], "scope": "*"}
        ]),
        excluded_namespace: Some(WEBHOOK_NAMESPACE),
    };
    webhook::register(&host, port, &registration).await?;
    let log = tb.dir.join("kubefed-webhook.log");
    let extra = [
        "--audit-interval",
        "1s",
        "--rbac-allowed-ttl",
        "2s",
        "--rbac-denied-ttl",
        "1s",
    ];
    let process = webhook::spawn(tb, port, WEBHOOK_NAMESPACE, CONFIG_NAME, &extra, &log)?;
    let webhook = Webhook {
        port,
        log,
        _process: Mutex::new(process),
    };
    webhook::wait_until_serving(&host, "kubefed-e2e-probe", M1, webhook.port, &webhook.log).await?;
    Ok(webhook)
}

/// Server-side applies `object` (with its `metadata.name`).
async fn apply<K>(api: &Api<K>, object: Value, pp: &PatchParams) -> TestResult<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    K::DynamicType: Default,
{
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut object = object;
    if object.get("apiVersion").is_none() {
        object["apiVersion"] = json!(K::api_version(&Default::default()));
        object["kind"] = json!(K::kind(&Default::default()));
    }
    Ok(api.patch(&name, pp, &Patch::Apply(&object)).await?)
}

fn dynamic_api(
    client: &kube::Client,
    namespace: Option<&str>,
    gvkp: (&str, &str, &str, &str),
) -> Api<DynamicObject> {
    let (group, version, kind, plural) = gvkp;
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

fn federated(client: &kube::Client, namespace: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    dynamic_api(
        client,
        Some(namespace),
        ("types.kubefed.io", "v1beta1", kind, plural),
    )
}

fn object(value: Value) -> TestResult<DynamicObject> {
    Ok(serde_json::from_value(value)?)
}

/// A cluster-scoped FederatedClusterRole, created with a server-side dry run as admin: admitted only when
/// the webhook answers with a certificate the API server trusts.
fn probe() -> Value {
    json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedClusterRole",
           "metadata": {"name": "kubefed-e2e-probe"},
           "spec": {"template": {"rules": []}, "placement": {"clusters": [{"name": M1}]}}})
}

/// A fresh namespace where alice and bob may manage federated objects and, natively, what the built-in
/// `edit` ClusterRole grants (so native equivalence admits their ConfigMaps and Deployments, not their
/// RoleBindings); federated (to both members, by admin) when `federate`.
async fn test_namespace(
    tb: &Testbed,
    host: &kube::Client,
    prefix: &str,
    federate: bool,
) -> TestResult<String> {
    let ns = tb.namespace(prefix, &[HOST]).await?;
    Api::<RoleBinding>::namespaced(host.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "federated-editors", "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "kubefed-e2e-federated-editor"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
                             {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]
            }))?,
        )
        .await?;
    Api::<RoleBinding>::namespaced(host.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "editors", "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"},
                             {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]
            }))?,
        )
        .await?;
    if federate {
        federated(host, &ns, "FederatedNamespace", "federatednamespaces")
            .create(
                &PostParams::default(),
                &object(
                    json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
                    "metadata": {"name": ns, "namespace": ns},
                    "spec": {"placement": {"clusters": [{"name": M1}, {"name": M2}]}}}),
                )?,
            )
            .await?;
    }
    Ok(ns)
}

/// A FederationPolicy named `<ns>-<suffix>` selecting only namespace `ns`, with `rules` merged into its spec.
async fn policy(host: &kube::Client, ns: &str, suffix: &str, rules: Value) -> TestResult<String> {
    let name = format!("{ns}-{suffix}");
    let mut spec =
        json!({"match": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}});
    if let (Some(spec), Some(rules)) = (spec.as_object_mut(), rules.as_object()) {
        spec.extend(rules.clone());
    }
    Api::<FederationPolicy>::all(host.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
                                           "metadata": {"name": name}, "spec": spec}),
            )?,
        )
        .await?;
    Ok(name)
}

async fn delete_policies(host: &kube::Client, names: &[String]) {
    let api: Api<FederationPolicy> = Api::all(host.clone());
    for name in names {
        let _ = api.delete(name, &DeleteParams::default()).await;
    }
}

fn config_map(ns: &str, name: &str, clusters: Option<&[&str]>) -> Value {
    let mut spec = json!({"template": {"data": {"greeting": "hello"}}});
    if let Some(clusters) = clusters {
        spec["placement"] =
            json!({"clusters": clusters.iter().map(|c| json!({"name": c})).collect::<Vec<_>>()});
    }
    json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

/// What kubectl printed.
struct Kubectl {
    ok: bool,
    stderr: String,
}

/// `kubectl --context <user>@host create -f <manifest> [--dry-run=server]`.
fn kubectl_create(tb: &Testbed, user: &str, manifest: &Value, dry_run: bool) -> TestResult<Kubectl> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = tb.dir.join(format!("admission-manifest-{n}.json"));
    std::fs::write(&file, serde_json::to_vec_pretty(manifest)?)?;
    let context = format!("{user}@{HOST}");
    let path = file.display().to_string();
    let mut args = vec!["--context", context.as_str(), "create", "-f", path.as_str()];
    if dry_run {
        args.push("--dry-run=server");
    }
    let out = tb.kubectl(&args)?;
    Ok(Kubectl {
        ok: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Retries a server-side dry run until `done` holds for kubectl's answer (a new policy reaches the
/// webhook's informer within moments), then does the real create and returns its answer.
async fn create_when(
    tb: &Testbed,
    user: &str,
    manifest: &Value,
    done: impl Fn(&Kubectl) -> bool,
) -> TestResult<Kubectl> {
    let started = Instant::now();
    loop {
        let dry = kubectl_create(tb, user, manifest, true)?;
        if done(&dry) {
            break;
        }
        if started.elapsed() > WAIT {
            return Err(format!(
                "kubectl's answer never became the expected one; last stderr: {}",
                dry.stderr
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    kubectl_create(tb, user, manifest, false)
}

#[tokio::test]
async fn denied_for_a_forbidden_cluster() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-forbidden", true).await?;
    let p = policy(
        &host,
        &ns,
        "no-us",
        json!({"deniedClusters": {"selector": {"matchLabels": {"region": "us"}}}}),
    )
    .await?;
    let manifest = config_map(&ns, "cfg", Some(&[M1, M2]));
    let out = create_when(tb, "alice", &manifest, |k| !k.ok).await?;
    assert!(!out.ok);
    let want = format!(
        "admission webhook \"validate.kubefed.io\" denied the request: policy \"{p}\": spec.placement.clusters names \
         cluster \"member-2\", which the policy denies (deniedClusters: labels region=us); remove it from \
         spec.placement.clusters"
    );
    assert!(
        out.stderr.contains(&want),
        "kubectl said:\n{}\nwanted:\n{want}",
        out.stderr
    );
    // On the allowed cluster only, the same object is admitted.
    let ok = kubectl_create(tb, "alice", &config_map(&ns, "cfg", Some(&[M1])), false)?;
    assert!(ok.ok, "{}", ok.stderr);
    delete_policies(&host, &[p]).await;
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn denied_without_propagate_rights() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-rbac", true).await?;
    // bob may propagate to member-1 only.
    let out = kubectl_create(tb, "bob", &config_map(&ns, "cfg", Some(&[M1, M2])), false)?;
    assert!(!out.ok);
    let want = "admission webhook \"validate.kubefed.io\" denied the request: user \"bob\" may not propagate to cluster \
                \"member-2\": placing objects on a cluster needs verb \"propagate\" on kubefedclusters.core.kubefed.io \
                with resourceName the cluster, in namespace kube-federation-system; remove it from spec.placement, or \
                ask a platform admin for a Role with apiGroups [core.kubefed.io], resources [kubefedclusters], \
                resourceNames [member-2], verbs [propagate]";
    assert!(out.stderr.contains(want), "kubectl said:\n{}", out.stderr);
    let ok = kubectl_create(tb, "bob", &config_map(&ns, "cfg", Some(&[M1])), false)?;
    assert!(ok.ok, "bob may propagate to member-1: {}", ok.stderr);
    // alice may propagate to both.
    let ok = kubectl_create(tb, "alice", &config_map(&ns, "both", Some(&[M1, M2])), false)?;
    assert!(ok.ok, "{}", ok.stderr);
    // A selector needs propagate on every cluster, whatever it selects now.
    let mut selected = config_map(&ns, "selected", None);
    selected["spec"]["placement"] = json!({"clusterSelector": {"matchLabels": {"region": "eu"}}});
    let out = kubectl_create(tb, "bob", &selected, false)?;
    assert!(
        !out.ok
            && out.stderr.contains(
                "user \"bob\" may not propagate to every cluster: spec.placement.clusterSelector places the object \
                 by cluster labels"
            )
            && out
                .stderr
                .contains("list the clusters you may propagate to by name in spec.placement.clusters instead"),
        "{}",
        out.stderr
    );
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn denied_in_an_unfederated_namespace() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-unfederated", false).await?;
    let out = kubectl_create(tb, "alice", &config_map(&ns, "cfg", Some(&[M1])), false)?;
    assert!(!out.ok);
    let want = format!(
        "admission webhook \"validate.kubefed.io\" denied the request: namespace \"{ns}\" is not federated, so this \
         object would be placed on no cluster: create a FederatedNamespace named \"{ns}\" in namespace \"{ns}\" whose \
         spec.placement includes member-1, then retry"
    );
    assert!(
        out.stderr.contains(&want),
        "kubectl said:\n{}\nwanted:\n{want}",
        out.stderr
    );
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn allowed_and_defaulted() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-default", true).await?;
    let p = policy(
        &host,
        &ns,
        "default-eu",
        json!({"defaultPlacement": {"clusters": [{"name": M1}]}}),
    )
    .await?;
    let mut manifest = config_map(&ns, "cfg", None);
    // Copied from `kubectl get -o yaml`: server-set fields in the template are dropped.
    manifest["spec"]["template"]["metadata"] =
        json!({"uid": "0a1b", "resourceVersion": "42", "labels": {"app": "web"}});
    let out = create_when(tb, "alice", &manifest, |k| k.stderr.contains("defaultPlacement")).await?;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "Warning: spec.placement was not set; it was filled in from the defaultPlacement of FederationPolicy \"{p}\""
        )),
        "kubectl said:\n{}",
        out.stderr
    );
    let stored = federated(&host, &ns, "FederatedConfigMap", "federatedconfigmaps")
        .get("cfg")
        .await?;
    assert_eq!(
        stored.data["spec"]["placement"],
        json!({"clusters": [{"name": M1}]})
    );
    assert_eq!(
        stored.data["spec"]["template"]["metadata"],
        json!({"labels": {"app": "web"}})
    );
    delete_policies(&host, &[p]).await;
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn warn_mode_returns_warnings() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-warn", true).await?;
    let p = policy(&host, &ns, "ha", json!({"enforcement": "Warn", "minClusters": 2})).await?;
    let manifest = config_map(&ns, "cfg", Some(&[M1]));
    let out = create_when(tb, "alice", &manifest, |k| k.stderr.contains("Warning: policy")).await?;
    assert!(out.ok, "a Warn policy admits: {}", out.stderr);
    let want = format!(
        "Warning: policy \"{p}\": spec.placement resolves to 1 joined cluster (member-1), but the policy requires at \
         least 2 (minClusters); add 1 cluster, e.g. member-2"
    );
    assert!(
        out.stderr.contains(&want),
        "kubectl said:\n{}\nwanted:\n{want}",
        out.stderr
    );
    delete_policies(&host, &[p]).await;
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn audit_records_violations_in_the_policy_status() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let alice = tb.client_as(HOST, "alice").await?;
    let ns = test_namespace(tb, &host, "adm-audit", true).await?;
    let p = policy(
        &host,
        &ns,
        "small",
        json!({"enforcement": "Audit", "maxClusters": 1}),
    )
    .await?;
    let api = federated(&alice, &ns, "FederatedConfigMap", "federatedconfigmaps");
    let policies: Api<FederationPolicy> = Api::all(host.clone());
    let started = Instant::now();
    let mut round = 0;
    loop {
        // Each round changes the spec, so the object is validated again (in case the policy was not in the
        // webhook's cache yet on the previous round).
        let mut obj = config_map(&ns, "cfg", Some(&[M1, M2]));
        obj["spec"]["template"]["data"]["round"] = json!(round.to_string());
        if round == 0 {
            api.create(&PostParams::default(), &object(obj)?).await?;
        } else {
            api.patch(
                "cfg",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": obj["spec"]})),
            )
            .await?;
        }
        round += 1;
        let deadline = Instant::now() + Duration::from_secs(4);
        while Instant::now() < deadline {
            let status = policies.get(&p).await?.status.unwrap_or_default();
            if let Some(v) = status.violations.first() {
                assert_eq!(
                    (
                        v.kind.as_str(),
                        v.namespace.as_deref(),
                        v.name.as_str(),
                        v.rule.as_str(),
                        v.user.as_deref()
                    ),
                    (
                        "FederatedConfigMap",
                        Some(ns.as_str()),
                        "cfg",
                        "maxClusters",
                        Some("alice")
                    )
                );
                assert_eq!(
                    v.message,
                    format!(
                        "policy \"{p}\": spec.placement resolves to 2 joined clusters (member-1, member-2), but the \
                         policy allows at most 1 (maxClusters); remove 1 cluster from spec.placement.clusters"
                    )
                );
                assert!(v.time.is_some() && status.last_violation_time.is_some());
                assert!(status.violation_count >= 1);
                delete_policies(&host, &[p]).await;
                delete_namespace(&host, &ns).await;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if started.elapsed() > WAIT {
            return Err(format!("no violation recorded in FederationPolicy {p} after {round} rounds").into());
        }
    }
}

#[tokio::test]
async fn serving_certificate_rotation_fails_no_request() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let secrets: Api<Secret> = Api::namespaced(host.clone(), WEBHOOK_NAMESPACE);
    let before = secrets.get("kubefed-webhook-tls").await?;
    let cert_of = |s: &Secret| {
        s.data
            .as_ref()
            .and_then(|d| d.get("tls.crt"))
            .map(|b| b.0.clone())
    };
    let old_cert = cert_of(&before);
    assert!(
        old_cert.is_some(),
        "the webhook keeps its certificate in Secret kubefed-webhook-tls"
    );

    // Two loops of admitted requests (server-side dry runs through both webhooks) while the Secret is
    // deleted: the webhook makes a new CA and certificate, publishes the CA next to the old one, and
    // switches without a restart.
    let api = dynamic_api(
        &host,
        None,
        (
            "types.kubefed.io",
            "v1beta1",
            "FederatedClusterRole",
            "federatedclusterroles",
        ),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loops = Vec::new();
    for _ in 0..2 {
        let (api, stop) = (api.clone(), stop.clone());
        loops.push(tokio::spawn(async move {
            let pp = PostParams {
                dry_run: true,
                ..PostParams::default()
            };
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match api.create(&pp, &object(probe()).expect("probe object")).await {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    secrets
        .delete("kubefed-webhook-tls", &DeleteParams::default())
        .await?;
    let started = Instant::now();
    let new_cert = loop {
        if let Some(s) = secrets.get_opt("kubefed-webhook-tls").await?
            && let Some(cert) = cert_of(&s)
            && Some(&cert) != old_cert.as_ref()
        {
            break cert;
        }
        if started.elapsed() > WAIT {
            return Err("the webhook did not issue a new certificate after its Secret was deleted".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Keep the load on while the API server and the webhook switch over.
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for l in loops {
        let (o, f) = l.await?;
        ok += o;
        failed.extend(f);
    }
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during rotation: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        failed
    );
    assert!(ok > 20, "only {ok} requests went through during rotation");
    assert_ne!(Some(new_cert), old_cert);
    // The bundle the API server trusts now holds the new CA as well as the old one.
    let validating = dynamic_api(
        &host,
        None,
        (
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
        ),
    );
    let config = validating.get(CONFIG_NAME).await?;
    let bundle: k8s_openapi::ByteString =
        serde_json::from_value(config.data["webhooks"][0]["clientConfig"]["caBundle"].clone())?;
    let cas = String::from_utf8_lossy(&bundle.0)
        .matches("BEGIN CERTIFICATE")
        .count();
    assert!(
        cas >= 2,
        "caBundle holds {cas} CA(s); the old one must stay until it expires"
    );
    eprintln!("rotation: {ok} requests admitted, none failed");
    Ok(())
}

/// `kubectl --context <user>@host <args>`.
fn kubectl_as(tb: &Testbed, user: &str, args: &[&str]) -> TestResult<Kubectl> {
    let context = format!("{user}@{HOST}");
    let mut all = vec!["--context", context.as_str()];
    all.extend_from_slice(args);
    let out = tb.kubectl(&all)?;
    Ok(Kubectl {
        ok: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Retries `run` until `done` holds (an RBAC change reaches the webhook's cache within its TTL).
async fn until(
    mut run: impl FnMut() -> TestResult<Kubectl>,
    done: impl Fn(&Kubectl) -> bool,
) -> TestResult<Kubectl> {
    let started = Instant::now();
    loop {
        let out = run()?;
        if done(&out) || started.elapsed() > WAIT {
            return Ok(out);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn escalation_through_a_federated_rolebinding_is_denied() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-escalate", true).await?;
    let binding = json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedRoleBinding",
        "metadata": {"name": "alice-admin", "namespace": ns},
        "spec": {"placement": {"clusters": [{"name": M1}]},
                 "template": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                          "name": "cluster-admin"},
                              "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}}});
    // Natively alice may not create RoleBindings (edit does not grant it), nor bind cluster-admin.
    let out = kubectl_create(tb, "alice", &binding, false)?;
    assert!(!out.ok, "{}", out.stderr);
    for want in [
        format!(
            "user \"alice\" may not create rolebindings.rbac.authorization.k8s.io in namespace \"{ns}\" on the host, \
             so they may not create it on member clusters through federation either"
        ),
        format!("user \"alice\" may not bind ClusterRole \"cluster-admin\" in namespace \"{ns}\""),
        format!(
            "`kubectl create clusterrole bind-cluster-admin --verb=bind \
             --resource=clusterroles.rbac.authorization.k8s.io --resource-name=cluster-admin && kubectl -n {ns} \
             create rolebinding alice-bind-cluster-admin --clusterrole=bind-cluster-admin --user=alice`"
        ),
    ] {
        assert!(
            out.stderr.contains(&want),
            "kubectl said:\n{}\nwanted:\n{want}",
            out.stderr
        );
    }
    // Granted RoleBindings in her namespace, she still may not bind cluster-admin.
    let pp = PatchParams::apply(MANAGER).force();
    apply::<Role>(
        &Api::namespaced(host.clone(), &ns),
        json!({"metadata": {"name": "rolebinding-writer", "namespace": ns},
               "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
                          "verbs": ["create", "update"]}]}),
        &pp,
    )
    .await?;
    apply::<RoleBinding>(
        &Api::namespaced(host.clone(), &ns),
        json!({"metadata": {"name": "rolebinding-writer", "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "rolebinding-writer"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}),
        &pp,
    )
    .await?;
    let out = until(
        || kubectl_create(tb, "alice", &binding, false),
        |k| !k.stderr.contains("may not create rolebindings"),
    )
    .await?;
    assert!(!out.ok);
    assert!(
        !out.stderr.contains("may not create rolebindings")
            && out.stderr.contains("may not bind ClusterRole \"cluster-admin\""),
        "{}",
        out.stderr
    );
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn the_target_kind_needs_the_users_own_rights() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-native", true).await?;
    Api::<RoleBinding>::namespaced(host.clone(), &ns)
        .delete("editors", &DeleteParams::default())
        .await?;
    let out = until(
        || kubectl_create(tb, "bob", &config_map(&ns, "cfg", Some(&[M1])), false),
        |k| !k.ok,
    )
    .await?;
    assert!(!out.ok);
    let want = format!(
        "user \"bob\" may not create configmaps in namespace \"{ns}\" on the host, so they may not create it on member \
         clusters through federation either"
    );
    assert!(
        out.stderr.contains(&want),
        "kubectl said:\n{}\nwanted:\n{want}",
        out.stderr
    );
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn narrowing_is_allowed_and_only_added_or_changed_clusters_are_checked() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-narrow", true).await?;
    // Placed on both members by label (by admin); bob may propagate to member-1 only.
    let mut obj = config_map(&ns, "cfg", None);
    obj["spec"]["placement"] = json!({"clusterSelector": {}});
    federated(&host, &ns, "FederatedConfigMap", "federatedconfigmaps")
        .create(&PostParams::default(), &object(obj)?)
        .await?;
    let patch = |spec: Value| -> TestResult<Kubectl> {
        let body = json!({"spec": spec}).to_string();
        kubectl_as(
            tb,
            "bob",
            &[
                "-n",
                &ns,
                "patch",
                "federatedconfigmap",
                "cfg",
                "--type=merge",
                "-p",
                &body,
            ],
        )
    };
    let out = patch(json!({"placement": {"clusters": [{"name": M1}], "clusterSelector": null}}))?;
    assert!(out.ok, "narrowing to member-1 must be allowed: {}", out.stderr);
    let out = patch(json!({"template": {"data": {"greeting": "hi"}}}))?;
    assert!(out.ok, "changing the template on member-1 only: {}", out.stderr);
    let out = patch(json!({"placement": {"clusters": [{"name": M1}, {"name": M2}]}}))?;
    assert!(
        !out.ok
            && out
                .stderr
                .contains("user \"bob\" may not propagate to cluster \"member-2\""),
        "adding member-2: {}",
        out.stderr
    );
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn audit_records_only_admitted_requests_that_are_not_dry_runs() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-audit-only", true).await?;
    let audit = policy(
        &host,
        &ns,
        "small",
        json!({"enforcement": "Audit", "maxClusters": 1}),
    )
    .await?;
    let deny = policy(&host, &ns, "no-m2", json!({"deniedClusters": {"names": [M2]}})).await?;
    let manifest = config_map(&ns, "cfg", Some(&[M1, M2]));
    // Denied by the Deny policy (dry runs until both policies are in the webhook's cache, then for real).
    let out = create_when(tb, "alice", &manifest, |k| k.stderr.contains(&deny)).await?;
    assert!(!out.ok, "{}", out.stderr);
    // Without the Deny policy, a dry run is admitted.
    delete_policies(&host, std::slice::from_ref(&deny)).await;
    let dry = until(|| kubectl_create(tb, "alice", &manifest, true), |k| k.ok).await?;
    assert!(dry.ok, "{}", dry.stderr);
    // Neither the denied request nor the dry run left a record (the writer flushes every second).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let policies: Api<FederationPolicy> = Api::all(host.clone());
    let status = policies.get(&audit).await?.status.unwrap_or_default();
    assert!(status.violations.is_empty(), "recorded: {:?}", status.violations);
    // The real, admitted request is recorded.
    let out = kubectl_create(tb, "alice", &manifest, false)?;
    assert!(out.ok, "{}", out.stderr);
    let started = Instant::now();
    loop {
        let status = policies.get(&audit).await?.status.unwrap_or_default();
        if let Some(v) = status.violations.first() {
            assert_eq!(
                (v.rule.as_str(), v.user.as_deref()),
                ("maxClusters", Some("alice"))
            );
            break;
        }
        if started.elapsed() > WAIT {
            return Err(format!("no violation recorded in {audit}").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    delete_policies(&host, &[audit]).await;
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn malformed_reviews_posted_to_the_webhook_are_denied() -> TestResult {
    let webhook = webhook()?;
    let tb = shared_testbed()?;
    let review = |object: Value, user: Value| {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
               "request": {"uid": "forged-1",
                   "kind": {"group": "types.kubefed.io", "version": "v1beta1", "kind": "FederatedConfigMap"},
                   "resource": {"group": "types.kubefed.io", "version": "v1beta1", "resource": "federatedconfigmaps"},
                   "namespace": "default", "operation": "CREATE", "userInfo": user, "object": object}})
    };
    for (name, body, want) in [
        (
            "null object",
            review(Value::Null, json!({"username": "mallory"})),
            "request.object is missing or null",
        ),
        (
            "no user",
            review(config_map("default", "x", Some(&[M1])), json!({})),
            "request.userInfo.username is missing",
        ),
    ] {
        let file = tb.dir.join(format!("forged-{}.json", name.replace(' ', "-")));
        std::fs::write(&file, body.to_string())?;
        for path in ["validate", "mutate"] {
            let out = std::process::Command::new("curl")
                .args([
                    "-sk",
                    "-X",
                    "POST",
                    "-H",
                    "Content-Type: application/json",
                    "--data-binary",
                ])
                .arg(format!("@{}", file.display()))
                .arg(format!("https://127.0.0.1:{}/{path}", webhook.port))
                .output()?;
            let answer: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
                format!(
                    "{name} /{path}: not JSON ({e}): {}",
                    String::from_utf8_lossy(&out.stdout)
                )
            })?;
            assert_eq!(answer["response"]["allowed"], false, "{name} /{path}: {answer}");
            assert_eq!(
                answer["response"]["status"]["reason"], "MalformedReview",
                "{name} /{path}"
            );
            assert!(
                answer["response"]["status"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(want)),
                "{name} /{path}: {answer}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn overrides_the_controller_cannot_apply_are_denied() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-overrides", true).await?;
    let deployment = |ops: Value| {
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
               "metadata": {"name": "web", "namespace": ns},
               "spec": {"placement": {"clusters": [{"name": M1}]},
                        "template": {"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}},
                                         "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
                        "overrides": [{"clusterName": M1, "clusterOverrides": ops}]}})
    };
    let out = kubectl_create(
        tb,
        "alice",
        &deployment(json!([{"op": "remove", "path": "/spec/doesnotexist/x"}])),
        true,
    )?;
    assert!(!out.ok);
    let want = "spec.overrides[0].clusterOverrides[0]: remove /spec/doesnotexist/x failed: ";
    assert!(
        out.stderr.contains(want),
        "kubectl said:\n{}\nwanted:\n{want}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("the controller would report ApplyOverridesFailed"),
        "{}",
        out.stderr
    );
    let out = kubectl_create(
        tb,
        "alice",
        &deployment(json!([{"path": "/spec/replicas", "value": "three"}])),
        true,
    )?;
    assert!(!out.ok);
    let want = "spec.overrides[0].clusterOverrides[0].value: /spec/replicas must be an integer, but the value is a \
                string \"three\" (schema of Deployment apps/v1 on the host)";
    assert!(
        out.stderr.contains(want),
        "kubectl said:\n{}\nwanted:\n{want}",
        out.stderr
    );
    let out = kubectl_create(
        tb,
        "alice",
        &deployment(json!([{"path": "/spec/replicas", "value": 3}])),
        true,
    )?;
    assert!(out.ok, "a valid override: {}", out.stderr);
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn warn_hints_never_suggest_a_cluster_a_deny_policy_forbids() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-hints", true).await?;
    let warn = policy(&host, &ns, "ha", json!({"enforcement": "Warn", "minClusters": 2})).await?;
    let deny = policy(&host, &ns, "no-m2", json!({"deniedClusters": {"names": [M2]}})).await?;
    let manifest = config_map(&ns, "cfg", Some(&[M1]));
    let out = create_when(tb, "alice", &manifest, |k| {
        k.stderr.contains(&format!("Warning: policy \"{warn}\"")) && !k.stderr.contains("e.g. member-2")
    })
    .await?;
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no other joined cluster is acceptable to the policy; ask a platform admin"),
        "{}",
        out.stderr
    );
    delete_policies(&host, &[warn, deny]).await;
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn object_selector_selects_by_the_objects_labels() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = test_namespace(tb, &host, "adm-objsel", true).await?;
    let p = policy(
        &host,
        &ns,
        "db-not-us",
        json!({"match": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                         "objectSelector": {"matchLabels": {"tier": "db"}}},
               "deniedClusters": {"selector": {"matchLabels": {"region": "us"}}}}),
    )
    .await?;
    let mut db = config_map(&ns, "db", Some(&[M1, M2]));
    db["metadata"]["labels"] = json!({"tier": "db"});
    let out = create_when(tb, "alice", &db, |k| !k.ok).await?;
    assert!(
        !out.ok
            && out.stderr.contains(&format!(
                "policy \"{p}\": spec.placement.clusters names cluster \"member-2\""
            )),
        "{}",
        out.stderr
    );
    let out = kubectl_create(tb, "alice", &config_map(&ns, "web", Some(&[M1, M2])), false)?;
    assert!(
        out.ok,
        "an object without tier=db is not selected: {}",
        out.stderr
    );
    // Labelling it afterwards brings it under the policy: refused like a create with the label.
    let label = |args: &[&str]| {
        let mut all = vec!["-n", ns.as_str(), "label", "federatedconfigmap", "web"];
        all.extend_from_slice(args);
        kubectl_as(tb, "alice", &all)
    };
    let out = label(&["tier=db"])?;
    assert!(
        !out.ok
            && out.stderr.contains(&format!(
                "policy \"{p}\": spec.placement.clusters names cluster \"member-2\""
            )),
        "a label edit must not dodge the policy: {}",
        out.stderr
    );
    let out = label(&["tier=web"])?;
    assert!(out.ok, "a label the policy does not select: {}", out.stderr);
    delete_policies(&host, &[p]).await;
    delete_namespace(&host, &ns).await;
    Ok(())
}
