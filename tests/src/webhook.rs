//! The real `kubefed-webhook` binary as the end-to-end tests run it: built (or `$KUBEFED_WEBHOOK_BIN`),
//! registered with the host's API server by URL (`https://127.0.0.1:PORT/...`, the caBundle left to the
//! webhook, which bootstraps its own TLS), started against a testbed's host, and waited for until the API
//! server admits a request through it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::process::{Process, tail};
use crate::testbed::{HOST, Testbed};
use crate::wait::BoxError;

/// How long the webhook may take to serve after it was started.
const SERVE_TIMEOUT: Duration = Duration::from_secs(120);

/// `$KUBEFED_WEBHOOK_BIN`, or `kubefed-webhook` built with cargo into the target directory (and profile)
/// the running test binary was built in.
pub fn webhook_binary() -> Result<PathBuf, BoxError> {
    if let Some(bin) = std::env::var_os("KUBEFED_WEBHOOK_BIN") {
        return Ok(PathBuf::from(bin));
    }
    // <target>/<profile>/deps/<test>-<hash>
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or("cannot find the target directory of this test binary")?;
    let target_dir = profile_dir.parent().ok_or("cannot find the target directory")?;
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "-p",
            "kubefed-webhook",
            "--bin",
            "kubefed-webhook",
        ])
        .env("CARGO_TARGET_DIR", target_dir);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status()?;
    if !status.success() {
        return Err(format!(
            "building kubefed-webhook failed ({status}); set KUBEFED_WEBHOOK_BIN to a built binary"
        )
        .into());
    }
    Ok(profile_dir.join("kubefed-webhook"))
}

/// Admission rules for the federated types (`types.kubefed.io`, create and update).
pub fn federated_types_rules() -> Value {
    json!([{"apiGroups": ["types.kubefed.io"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
            "resources": ["*"], "scope": "*"}])
}

/// How the webhook is registered: what the tests' registrations differ in.
pub struct Registration<'a> {
    /// Name of the Mutating- and the ValidatingWebhookConfiguration (the webhook's `--webhook-config-name`).
    pub config_name: &'a str,
    /// Field manager of the writes.
    pub manager: &'a str,
    /// The `rules` of both webhooks.
    pub rules: Value,
    /// A namespace the webhooks skip (by `namespaceSelector`), e.g. the one holding the webhook's TLS Secret.
    pub excluded_namespace: Option<&'a str>,
}

/// Creates or updates the Mutating- and ValidatingWebhookConfiguration `registration.config_name`, calling
/// `https://127.0.0.1:port/mutate` and `/validate` with `failurePolicy: Fail`; no caBundle. Returns both APIs
/// (mutating, validating).
pub async fn register(
    host: &kube::Client,
    port: u16,
    registration: &Registration<'_>,
) -> Result<[Api<DynamicObject>; 2], BoxError> {
    let webhook = |name: &str, path: &str| {
        let mut hook = json!({
            "name": name,
            "clientConfig": {"url": format!("https://127.0.0.1:{port}{path}")},
            "rules": registration.rules,
            "failurePolicy": "Fail",
            "sideEffects": "NoneOnDryRun",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 10,
        });
        if let Some(ns) = registration.excluded_namespace {
            hook["namespaceSelector"] = json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name",
                                                                    "operator": "NotIn", "values": [ns]}]});
        }
        hook
    };
    let name = registration.config_name;
    let pp = PatchParams::apply(registration.manager).force();
    let mutating = config_api(
        host,
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
    );
    let mut m = webhook("mutate.kubefed.io", "/mutate");
    m["reinvocationPolicy"] = json!("Never");
    mutating
        .patch(
            name,
            &pp,
            &Patch::Apply(&json!({"apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingWebhookConfiguration", "metadata": {"name": name}, "webhooks": [m]})),
        )
        .await?;
    let validating = config_api(
        host,
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
    );
    validating
        .patch(
            name,
            &pp,
            &Patch::Apply(&json!({"apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingWebhookConfiguration", "metadata": {"name": name},
                "webhooks": [webhook("validate.kubefed.io", "/validate")]})),
        )
        .await?;
    Ok([mutating, validating])
}

fn config_api(host: &kube::Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
    Api::all_with(host.clone(), &ApiResource::from_gvk_with_plural(&gvk, plural))
}

/// Starts the webhook binary against `tb`'s host, serving 127.0.0.1:`port` with a certificate for that IP,
/// keeping its TLS Secret in `namespace`, publishing its caBundle to the configurations `config_name`;
/// `extra_args` follow. Logs to `log`.
pub fn spawn(
    tb: &Testbed,
    port: u16,
    namespace: &str,
    config_name: &str,
    extra_args: &[&str],
    log: &Path,
) -> Result<Process, BoxError> {
    let mut args: Vec<String> = [
        "--kubeconfig",
        &tb.kubeconfig.display().to_string(),
        "--context",
        HOST,
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--extra-ip",
        "127.0.0.1",
        "--namespace",
        namespace,
        "--webhook-config-name",
        config_name,
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    args.extend(extra_args.iter().map(|s| (*s).to_string()));
    Ok(Process::spawn("kubefed-webhook", &webhook_binary()?, &args, log)?)
}

/// Waits until the API server admits, through the webhook, a server dry run of a cluster-scoped
/// FederatedClusterRole named `probe_name` placed on `member`: it is admitted only when the webhook answers
/// with a certificate the API server trusts. On timeout the error holds the tail of the webhook's `log`.
pub async fn wait_until_serving(
    host: &kube::Client,
    probe_name: &str,
    member: &str,
    port: u16,
    log: &Path,
) -> Result<(), BoxError> {
    let gvk = GroupVersionKind::gvk("types.kubefed.io", "v1beta1", "FederatedClusterRole");
    let api: Api<DynamicObject> = Api::all_with(
        host.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, "federatedclusterroles"),
    );
    let probe: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedClusterRole",
        "metadata": {"name": probe_name},
        "spec": {"template": {"rules": []}, "placement": {"clusters": [{"name": member}]}}}))?;
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < SERVE_TIMEOUT {
        match api.create(&pp, &probe).await {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err(format!(
        "the API server did not admit a request through the webhook within {}s; last error: {last}; webhook \
         log {} (port {port}):\n{}",
        SERVE_TIMEOUT.as_secs(),
        log.display(),
        tail(log, 30)
    )
    .into())
}
