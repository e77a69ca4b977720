//! End-to-end: `kubectl fed check --from-host` gives the decisions of the running admission webhook.
//!
//! The real `kubefed-webhook` binary serves the host (registered by URL with the caBundle it bootstraps,
//! as in tests/tests/admission.rs). For a set of inputs (one object each, placed in different ways) under
//! two FederationPolicies (a Deny and a Warn one) and a namespace federated to one member only, the same
//! federated object goes once through the API server (`kubectl create --dry-run=server` as admin, so the
//! webhook's mutation and validation run and kubectl prints its denial and warnings) and once through
//! `kubectl fed check --from-host`; allowed/denied, the denial message and the warnings must be the same.
//! The admin holds every right, so the RBAC checks that `check` skips offline allow everything here too.

mod common;

use common::Run;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubefed_core::api::FederationPolicy;
use kubefed_tests::fixtures::{install_kubefed, join};
use kubefed_tests::process::{Process, free_port};
use kubefed_tests::shared_testbed;
use kubefed_tests::testbed::HOST;
use kubefed_tests::webhook;
use serde_json::json;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const M1: &str = "member-1";
const M2: &str = "member-2";
const WEBHOOK_NAMESPACE: &str = "kubefed-webhook-check-e2e";
const CONFIG_NAME: &str = "kubefed-check-e2e";
const MANAGER: &str = "check-tests";

struct Webhook {
    _process: Mutex<Process>,
}

fn webhook() -> TestResult<&'static Webhook> {
    static WEBHOOK: OnceLock<Result<Webhook, String>> = OnceLock::new();
    WEBHOOK
        .get_or_init(|| kubefed_tests::fixtures::set_up_once_on_own_thread("webhook setup", setup))
        .as_ref()
        .map_err(|e| e.clone().into())
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

async fn setup() -> TestResult<Webhook> {
    let tb = shared_testbed()?;
    let host = install_kubefed(tb).await?;
    join(tb, &host, M1, [("region".to_string(), "eu".to_string())].into()).await?;
    join(tb, &host, M2, [("region".to_string(), "us".to_string())].into()).await?;
    let pp = PatchParams::apply(MANAGER).force();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": WEBHOOK_NAMESPACE}}))?;
    Api::<Namespace>::all(host.clone())
        .patch(WEBHOOK_NAMESPACE, &pp, &Patch::Apply(&ns))
        .await?;
    let port = free_port()?;
    let registration = webhook::Registration {
        config_name: CONFIG_NAME,
        manager: MANAGER,
        rules: webhook::federated_types_rules(),
        excluded_namespace: Some(WEBHOOK_NAMESPACE),
    };
    webhook::register(&host, port, &registration).await?;
    let log = tb.dir.join("kubefed-webhook-check.log");
    let process = webhook::spawn(tb, port, WEBHOOK_NAMESPACE, CONFIG_NAME, &[], &log)?;
    // Serving: a server dry run of a federated object is admitted through it.
    webhook::wait_until_serving(&host, "kubefed-check-probe", M1, port, &log).await?;
    Ok(Webhook {
        _process: Mutex::new(process),
    })
}

/// Runs kubectl-fed (testbed kubeconfig, host context) with `stdin`.
fn fed(args: &[&str], stdin: &str) -> TestResult<Run> {
    common::fed_blocking(Some(HOST), args, stdin)
}

/// The webhook's answer through the API server: allowed?, the denial message, the warnings.
fn through_webhook(federated_yaml: &str, n: usize) -> TestResult<(bool, String, Vec<String>)> {
    through_webhook_as(HOST, federated_yaml, &n.to_string())
}

/// [`through_webhook`] with kubeconfig context `context` (e.g. `bob@host`).
fn through_webhook_as(
    context: &str,
    federated_yaml: &str,
    n: &str,
) -> TestResult<(bool, String, Vec<String>)> {
    let tb = shared_testbed()?;
    let file = tb.dir.join(format!("check-e2e-{n}.yaml"));
    std::fs::write(&file, federated_yaml)?;
    let path = file.display().to_string();
    let out = tb.kubectl(&["--context", context, "create", "--dry-run=server", "-f", &path])?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let warnings = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("Warning: "))
        .map(str::to_string)
        .collect();
    let marker = "denied the request: ";
    let denial = stderr
        .lines()
        .find_map(|l| l.split_once(marker).map(|(_, m)| m.to_string()))
        .unwrap_or_default();
    Ok((out.status.success(), denial, warnings))
}

/// `kubectl fed check`'s answer: allowed?, the denial message, the warnings.
fn through_check(stdout: &str, ok: bool) -> (bool, String, Vec<String>) {
    let denial = stdout
        .lines()
        .find_map(|l| l.split_once(": denied: ").map(|(_, m)| m.to_string()))
        .unwrap_or_default();
    let warnings = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  Warning: "))
        .map(str::to_string)
        .collect();
    (ok, denial, warnings)
}

#[tokio::test]
async fn check_gives_the_running_webhooks_decisions() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = tb.namespace("fed-check", &[HOST]).await?;
    // The namespace is federated to member-1 only: placing on member-2 breaks namespace consistency.
    dynamic_api(
        &host,
        Some(&ns),
        (
            "types.kubefed.io",
            "v1beta1",
            "FederatedNamespace",
            "federatednamespaces",
        ),
    )
    .create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
                "metadata": {"name": ns, "namespace": ns},
                "spec": {"placement": {"clusters": [{"name": M1}]}}}),
        )?,
    )
    .await?;
    let select = json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}});
    let policies = [
        (
            format!("{ns}-no-us"),
            json!({"match": select, "deniedClusters": {"selector": {"matchLabels": {"region": "us"}}}}),
        ),
        (
            format!("{ns}-ha"),
            json!({"match": select, "enforcement": "Warn", "minClusters": 2}),
        ),
        (
            format!("{ns}-few"),
            json!({"match": select, "enforcement": "Warn", "maxClusters": 1}),
        ),
    ];
    let papi: Api<FederationPolicy> = Api::all(host.clone());
    for (name, spec) in &policies {
        papi.create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
                                          "metadata": {"name": name}, "spec": spec}),
            )?,
        )
        .await?;
    }
    let app = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  mode: fast\n"
    );
    let cases: [(&str, &[&str]); 5] = [
        ("member-1", &["--clusters", M1]),
        ("both", &["--clusters", "member-1,member-2"]),
        ("member-2", &["--clusters", M2]),
        ("by label eu", &["--cluster-selector", "region=eu"]),
        ("every cluster", &[]),
    ];
    // The webhook's informers see the FederatedNamespace and the policies within moments: wait until member-1
    // alone is admitted (the namespace is known: before, every placement is denied as not federated) with the
    // `-ha` warning. Each case below is also compared again for a while until both agree, as the informers
    // may still be catching up with the last policies.
    let started = Instant::now();
    loop {
        let federated = fed(&["federate", "-f", "-", "--offline", "--clusters", M1], &app)?;
        let (allowed, _, warnings) = through_webhook(&federated.stdout, 0)?;
        if allowed && warnings.iter().any(|w| w.contains(&format!("{ns}-ha"))) {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err("the webhook never applied the new policies".into());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut denied = 0;
    let mut warned = 0;
    for (i, (name, flags)) in cases.iter().enumerate() {
        let mut args = vec!["federate", "-f", "-", "--offline"];
        args.extend(flags.iter());
        let federated = fed(&args, &app)?;
        assert!(federated.ok(), "case {name}: {}", federated.stderr);
        let mut args = vec!["check", "-f", "-", "--from-host"];
        args.extend(flags.iter());
        let compared = Instant::now();
        let (webhook, check) = loop {
            let webhook = through_webhook(&federated.stdout, i + 1)?;
            let run = fed(&args, &app)?;
            eprintln!("case {name}:\n{}{}", run.stdout, run.stderr);
            let check = through_check(&run.stdout, run.ok());
            if check == webhook || compared.elapsed() > Duration::from_secs(20) {
                break (webhook, check);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(
            check, webhook,
            "case {name}: check (left) and the webhook (right) disagree"
        );
        denied += usize::from(!check.0);
        warned += usize::from(!check.2.is_empty());
    }
    // The cases exercise both answers and warnings, so agreement means something.
    assert!(denied >= 2 && denied < cases.len(), "denied {denied}");
    assert!(warned >= 1, "warned {warned}");
    for (name, _) in &policies {
        let _ = papi.delete(name, &Default::default()).await;
    }
    kubefed_tests::testbed::delete_namespace(&host, &ns).await;
    Ok(())
}

/// With `--as`, check runs the webhook's RBAC step (SubjectAccessReviews) too: for bob, who may propagate to
/// member-1 only, the decisions and messages are the webhook's, RBAC denials included.
#[tokio::test]
async fn check_as_a_user_runs_the_webhooks_rbac_checks() -> TestResult {
    webhook()?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let ns = tb.namespace("fed-check-rbac", &[HOST]).await?;
    dynamic_api(
        &host,
        Some(&ns),
        (
            "types.kubefed.io",
            "v1beta1",
            "FederatedNamespace",
            "federatednamespaces",
        ),
    )
    .create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
                "metadata": {"name": ns, "namespace": ns},
                "spec": {"placement": {"clusters": [{"name": M1}, {"name": M2}]}}}),
        )?,
    )
    .await?;
    let policy = format!("{ns}-no-us");
    let papi: Api<FederationPolicy> = Api::all(host.clone());
    papi.create(
        &PostParams::default(),
        &serde_json::from_value(
            json!({"apiVersion": "policy.kubefed.io/v1alpha1", "kind": "FederationPolicy",
            "metadata": {"name": policy},
            "spec": {"match": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}},
                     "deniedClusters": {"names": ["member-3"]}}}),
        )?,
    )
    .await?;
    // bob: edit and federated objects in the namespace, propagate to member-1 only.
    let pp = &PatchParams::apply(MANAGER).force();
    let rbac = |kind: &str, plural: &str, namespace: Option<&str>| {
        dynamic_api(
            &host,
            namespace,
            ("rbac.authorization.k8s.io", "v1", kind, plural),
        )
    };
    let apply = |api: Api<DynamicObject>, body: serde_json::Value| async move {
        let name = body["metadata"]["name"].as_str().unwrap_or_default().to_string();
        api.patch(&name, pp, &Patch::Apply(&body)).await
    };
    let rbac_v1 = "rbac.authorization.k8s.io/v1";
    apply(
        rbac("ClusterRole", "clusterroles", None),
        json!({"apiVersion": rbac_v1, "kind": "ClusterRole",
        "metadata": {"name": "check-e2e-federated-editor"},
        "rules": [{"apiGroups": ["types.kubefed.io"], "resources": ["*"], "verbs": ["*"]}]}),
    )
    .await?;
    for (name, role) in [("federated", "check-e2e-federated-editor"), ("edit", "edit")] {
        apply(
            rbac("RoleBinding", "rolebindings", Some(&ns)),
            json!({"apiVersion": rbac_v1, "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]}),
        )
        .await?;
    }
    let sys = kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
    apply(
        rbac("Role", "roles", Some(sys)),
        json!({"apiVersion": rbac_v1, "kind": "Role",
        "metadata": {"name": "check-e2e-propagate-bob", "namespace": sys},
        "rules": [{"apiGroups": ["core.kubefed.io"], "resources": ["kubefedclusters"],
                   "resourceNames": [M1], "verbs": ["propagate"]}]}),
    )
    .await?;
    apply(rbac("RoleBinding", "rolebindings", Some(sys)), json!({"apiVersion": rbac_v1, "kind": "RoleBinding",
        "metadata": {"name": "check-e2e-propagate-bob", "namespace": sys},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "check-e2e-propagate-bob"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]})).await?;

    let app = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  mode: fast\n"
    );
    let bob = format!("bob@{HOST}");
    // RBAC and the policy reach the authorizer and the webhook within moments.
    let started = Instant::now();
    loop {
        let federated = fed(&["federate", "-f", "-", "--offline", "--clusters", M1], &app)?;
        if through_webhook_as(&bob, &federated.stdout, "rbac-0")?.0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err("bob was never admitted on member-1".into());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let cases: [(&str, &[&str]); 4] = [
        ("member-1", &["--clusters", M1]),
        ("both", &["--clusters", "member-1,member-2"]),
        ("member-2", &["--clusters", M2]),
        ("by label", &["--cluster-selector", "region=eu"]),
    ];
    let mut denied = 0;
    let mut answers = Vec::new();
    for (i, (name, flags)) in cases.iter().enumerate() {
        let mut args = vec!["federate", "-f", "-", "--offline"];
        args.extend(flags.iter());
        let federated = fed(&args, &app)?;
        let webhook = through_webhook_as(&bob, &federated.stdout, &format!("rbac-{}", i + 1))?;
        let mut args = vec!["check", "-f", "-", "--from-host", "--as", "bob"];
        args.extend(flags.iter());
        let run = fed(&args, &app)?;
        eprintln!("case {name}:\n{}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("RBAC checked with SubjectAccessReviews"),
            "case {name}: {}",
            run.stdout
        );
        let check = through_check(&run.stdout, run.ok());
        assert_eq!(
            check, webhook,
            "case {name}: check (left) and the webhook (right) disagree"
        );
        denied += usize::from(!check.0);
        answers.push(webhook);
    }
    assert_eq!(denied, 3, "only member-1 alone is within bob's rights");

    // Without --as, run as bob himself (who may read what check lists from the host): his own rights,
    // asked with SelfSubjectAccessReviews, give the webhook's answers.
    apply(
        rbac("ClusterRole", "clusterroles", None),
        json!({"apiVersion": rbac_v1, "kind": "ClusterRole",
        "metadata": {"name": "check-e2e-reader"},
        "rules": [
            {"apiGroups": ["core.kubefed.io"], "resources": ["kubefedclusters", "federatedtypeconfigs"],
             "verbs": ["get", "list"]},
            {"apiGroups": ["types.kubefed.io"], "resources": ["federatednamespaces"], "verbs": ["get", "list"]},
            {"apiGroups": ["policy.kubefed.io"], "resources": ["federationpolicies"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list"]}]}),
    )
    .await?;
    apply(rbac("ClusterRoleBinding", "clusterrolebindings", None), json!({"apiVersion": rbac_v1,
        "kind": "ClusterRoleBinding", "metadata": {"name": "check-e2e-reader-bob"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "check-e2e-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]})).await?;
    for ((name, flags), webhook) in cases.iter().zip(&answers) {
        let mut args = vec!["check", "-f", "-", "--from-host"];
        args.extend(flags.iter());
        let started = Instant::now();
        let run = loop {
            let run = common::fed_blocking(Some(&bob), &args, &app)?;
            // The reader binding reaches the authorizer within moments.
            if !run.stderr.contains("forbidden") || started.elapsed() > Duration::from_secs(30) {
                break run;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        eprintln!("case {name} as bob:\n{}{}", run.stdout, run.stderr);
        assert!(
            run.stdout
                .contains("RBAC checked with SelfSubjectAccessReviews on the host for you (user \"bob\""),
            "case {name} as bob: {}{}",
            run.stdout,
            run.stderr
        );
        assert_eq!(
            &through_check(&run.stdout, run.ok()),
            webhook,
            "case {name} as bob: check (left) and the webhook (right) disagree"
        );
    }
    let _ = papi.delete(&policy, &Default::default()).await;
    kubefed_tests::testbed::delete_namespace(&host, &ns).await;
    Ok(())
}

#[test]
fn check_without_a_source_says_what_to_pass() -> TestResult {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fed"))
        .args(["check", "-f", "-"])
        .stdin(std::process::Stdio::null())
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--policies DIR") && stderr.contains("--from-host"),
        "{stderr}"
    );
    Ok(())
}
