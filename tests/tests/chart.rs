//! The Helm chart, statically and against a real API server: `helm lint --strict` and `helm template` for
//! every TLS mode; wrong values refused by the schema (or a template `fail`) with a message naming the
//! value; the rendered objects checked for what the chart promises (least-privilege RBAC, restricted pods,
//! consistent names and flags, webhook rules that never see DELETE); and every rendered object accepted by
//! a testbed kube-apiserver with `kubectl apply --dry-run=server`.
//!
//! Installing the chart on a node (pods running, the API server calling the webhook) is another suite's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use k8s_openapi::ByteString;
use kubefed_core::api::{FederatedTypeConfig, KubeFedConfigSpec};
use kubefed_core::manifest::{ParseLimits, parse_manifests};
use kubefed_tests::testbed::{HOST, install_crds};
use kubefed_tests::{Binaries, Testbed, TestbedOptions};
use serde_json::Value;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const RELEASE: &str = "kubefed";
const NAMESPACE: &str = "kube-federation-system";
/// The testbed's Kubernetes version. Passed to helm, whose default (without a cluster) is the one it was built
/// against, not the cluster's.
const KUBE_VERSION: &str = "1.34.4";

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/kubefed")
}

/// A CA certificate, base64 of its PEM, as `webhook.tls.existingSecret.caBundle` wants it.
fn ca_bundle() -> String {
    let ca =
        kubefed_core::pki::CertificateAuthority::generate("chart-test", std::time::Duration::from_secs(3600))
            .expect("a CA can be generated");
    match serde_json::to_value(ByteString(ca.cert_pem.into_bytes())) {
        Ok(Value::String(b64)) => b64,
        other => panic!("ByteString serializes to a base64 string, got {other:?}"),
    }
}

/// Each TLS mode with the values it needs.
fn modes() -> Vec<(&'static str, Vec<String>)> {
    vec![
        ("selfManaged", vec![]),
        ("certManager", vec!["webhook.tls.mode=certManager".into()]),
        (
            "certManager with own issuer",
            vec![
                "webhook.tls.mode=certManager".into(),
                "webhook.tls.certManager.issuerRef.name=corp-ca".into(),
                "webhook.tls.certManager.issuerRef.kind=ClusterIssuer".into(),
            ],
        ),
        (
            "existingSecret",
            vec![
                "webhook.tls.mode=existingSecret".into(),
                "webhook.tls.existingSecret.name=my-webhook-tls".into(),
                format!("webhook.tls.existingSecret.caBundle={}", ca_bundle()),
            ],
        ),
        (
            "everything optional on",
            vec![
                "controller.metrics.serviceMonitor.enabled=true".into(),
                "webhook.hostNetwork=true".into(),
                "controller.hostNetwork=true".into(),
                "webhook.port=9443".into(),
                "controller.metrics.port=9090".into(),
                "webhook.priorityClassName=system-cluster-critical".into(),
                "image.pullPolicy=Never".into(),
                "image.tag=dev".into(),
                "kubefedConfig.syncController.maxConcurrentReconciles=4".into(),
                "kubefedConfig.featureGates[0].name=PushReconciler".into(),
                "kubefedConfig.featureGates[0].configuration=Enabled".into(),
            ],
        ),
    ]
}

/// Runs the testbed's helm with its own (empty) config, cache and data directories.
fn helm(args: &[&str]) -> TestResult<Output> {
    let bins = Binaries::locate()?;
    let home = tempfile::tempdir()?;
    Ok(Command::new(bins.path("helm"))
        .args(args)
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .env_remove("KUBECONFIG")
        .output()?)
}

fn set_args(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| ["--set".to_string(), v.clone()])
        .collect()
}

/// `helm template` of the chart with `values`: its output, or its stderr as the error.
fn template(values: &[String]) -> TestResult<String> {
    template_as(RELEASE, NAMESPACE, values)
}

/// `helm template` as release `release` in namespace `namespace`.
fn template_as(release: &str, namespace: &str, values: &[String]) -> TestResult<String> {
    let chart = chart_dir();
    let chart = chart.to_string_lossy();
    let mut args = vec![
        "template",
        release,
        &chart,
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
    ];
    let sets = set_args(values);
    args.extend(sets.iter().map(String::as_str));
    let out = helm(&args)?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The rendered objects of `helm template` with `values`.
fn render(values: &[String]) -> TestResult<Vec<Value>> {
    let yaml = template(values)?;
    Ok(parse_manifests("helm template", &yaml, &ParseLimits::default())?
        .into_iter()
        .map(|m| m.object)
        .collect())
}

fn kind_of(o: &Value) -> &str {
    o["kind"].as_str().unwrap_or_default()
}

fn name_of(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or_default()
}

fn one<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| kind_of(o) == kind && name_of(o) == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind} {name}, found {}",
        found.len()
    );
    found[0]
}

fn args_of(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The value of `--flag=value` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let prefix = format!("{flag}=");
    args.iter().find_map(|a| a.strip_prefix(&prefix))
}

fn seconds(flag_value: Option<&str>) -> f64 {
    let v = flag_value.unwrap_or_default();
    if let Some(ms) = v.strip_suffix("ms") {
        ms.parse::<f64>().unwrap_or(f64::NAN) / 1000.0
    } else {
        v.trim_end_matches('s').parse().unwrap_or(f64::NAN)
    }
}

#[test]
fn lint_is_strict_clean_for_every_tls_mode() -> TestResult {
    let chart = chart_dir();
    let chart = chart.to_string_lossy();
    for (mode, values) in modes() {
        let mut args = vec![
            "lint",
            "--strict",
            &chart,
            "--namespace",
            NAMESPACE,
            "--kube-version",
            KUBE_VERSION,
        ];
        let sets = set_args(&values);
        args.extend(sets.iter().map(String::as_str));
        let out = helm(&args)?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "helm lint --strict ({mode}) failed:\n{text}"
        );
        assert!(text.contains("0 chart(s) failed"), "helm lint ({mode}):\n{text}");
        assert!(!text.contains("[WARNING]"), "helm lint ({mode}) warns:\n{text}");
    }
    Ok(())
}

#[test]
fn renders_consistent_names_flags_and_webhook_configurations() -> TestResult {
    for (mode, values) in modes() {
        let objects = render(&values)?;
        let webhook = one(&objects, "Deployment", "kubefed-webhook");
        let service = one(&objects, "Service", "kubefed-webhook");
        assert_eq!(service["spec"]["ports"][0]["port"], 443, "{mode}");
        let args = args_of(webhook);
        assert_eq!(flag(&args, "--service-name"), Some(name_of(service)), "{mode}");
        assert_eq!(flag(&args, "--kubefed-namespace"), Some(NAMESPACE), "{mode}");
        assert_eq!(flag(&args, "--namespace"), Some("$(POD_NAMESPACE)"), "{mode}");
        assert_eq!(flag(&args, "--shutdown-delay"), Some("10s"), "{mode}");
        let pod = &webhook["spec"]["template"]["spec"];
        let env = &pod["containers"][0]["env"][0];
        assert_eq!(
            (
                env["name"].as_str(),
                env["valueFrom"]["fieldRef"]["fieldPath"].as_str()
            ),
            (Some("POD_NAMESPACE"), Some("metadata.namespace")),
            "{mode}: --namespace comes from the downward API"
        );
        let drain = seconds(flag(&args, "--shutdown-delay")) + seconds(flag(&args, "--shutdown-grace"));
        let grace = pod["terminationGracePeriodSeconds"].as_f64().unwrap_or_default();
        assert!(
            grace > drain,
            "{mode}: terminationGracePeriodSeconds {grace} <= delay + grace {drain}"
        );

        let self_managed = flag(&args, "--tls-mode") == Some("self-managed");
        assert_eq!(
            self_managed,
            matches!(mode, "selfManaged" | "everything optional on"),
            "{mode}: {args:?}"
        );
        // The webhook's own deadline is below the API server's (timeoutSeconds 5).
        assert!(
            seconds(flag(&args, "--request-timeout")) < 5.0,
            "{mode}: {args:?}"
        );
        assert!(
            seconds(flag(&args, "--rbac-timeout")) < seconds(flag(&args, "--request-timeout")),
            "{mode}: {args:?}"
        );
        for kind in ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"] {
            let config = one(&objects, kind, "kubefed-webhook");
            assert_eq!(
                flag(&args, "--webhook-config-name"),
                Some(name_of(config)),
                "{mode}"
            );
            let hooks = config["webhooks"].as_array().ok_or("webhooks is a list")?;
            let verb = if kind.starts_with("Mutating") {
                "mutate"
            } else {
                "validate"
            };
            let names: Vec<&str> = hooks.iter().filter_map(|h| h["name"].as_str()).collect();
            assert_eq!(
                names,
                [
                    format!("{verb}.kubefed.io"),
                    format!("{verb}-control.kubefed.io"),
                    format!("{verb}-system.kubefed.io")
                ],
                "{mode} {kind}"
            );
            let control = ["core.kubefed.io", "scheduling.kubefed.io", "policy.kubefed.io"];
            // (groups, failurePolicy, namespaceSelector operator and values) of each entry: federated objects
            // everywhere but kube-system, the release namespace included; kubefed's kinds outside it fail
            // closed, inside it fail open (the chart creates some there before the webhook runs).
            let expected = [
                (
                    &["types.kubefed.io"][..],
                    "Fail",
                    "NotIn",
                    serde_json::json!(["kube-system"]),
                ),
                (
                    &control[..],
                    "Fail",
                    "NotIn",
                    serde_json::json!([NAMESPACE, "kube-system"]),
                ),
                (&control[..], "Ignore", "In", serde_json::json!([NAMESPACE])),
            ];
            for (hook, (groups, failure, operator, namespaces)) in hooks.iter().zip(expected) {
                let name = hook["name"].as_str().unwrap_or_default();
                let svc = &hook["clientConfig"]["service"];
                assert_eq!(
                    (
                        svc["name"].as_str(),
                        svc["namespace"].as_str(),
                        svc["port"].as_i64()
                    ),
                    (Some(name_of(service)), Some(NAMESPACE), Some(443)),
                    "{mode} {kind}"
                );
                assert_eq!(svc["path"], format!("/{verb}"), "{mode} {name}");
                assert_eq!(hook["failurePolicy"], failure, "{mode} {name}");
                assert_eq!(hook["sideEffects"], "NoneOnDryRun", "{mode} {name}");
                assert_eq!(hook["timeoutSeconds"], 5, "{mode} {name}");
                assert_eq!(
                    hook["admissionReviewVersions"],
                    serde_json::json!(["v1"]),
                    "{mode} {name}"
                );
                for rule in hook["rules"].as_array().ok_or("rules is a list")? {
                    assert_eq!(
                        rule["operations"],
                        serde_json::json!(["CREATE", "UPDATE"]),
                        "{mode} {name}"
                    );
                    // The fail-open entry sees only namespaced objects: cluster-scoped ones ignore the
                    // namespaceSelector and already go to a fail-closed entry.
                    let scope = if failure == "Ignore" { "Namespaced" } else { "*" };
                    assert_eq!(rule["scope"], scope, "{mode} {name}");
                }
                let hook_groups: Vec<&str> = hook["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|r| r["apiGroups"].as_array().into_iter().flatten())
                    .filter_map(Value::as_str)
                    .collect();
                assert_eq!(hook_groups, groups, "{mode} {name}");
                let selector = &hook["namespaceSelector"]["matchExpressions"][0];
                assert_eq!(selector["key"], "kubernetes.io/metadata.name", "{mode} {name}");
                assert_eq!(selector["operator"], operator, "{mode} {name}");
                assert_eq!(selector["values"], namespaces, "{mode} {name}");
                let conditions: Vec<&str> = hook["matchConditions"]
                    .as_array()
                    .ok_or("matchConditions")?
                    .iter()
                    .filter_map(|c| c["name"].as_str())
                    .collect();
                assert_eq!(
                    conditions,
                    ["create-or-spec-or-labels-changed", "not-being-deleted"],
                    "{mode} {name}"
                );
                assert_eq!(
                    hook.get("reinvocationPolicy").and_then(Value::as_str),
                    (verb == "mutate").then_some("Never"),
                    "{mode} {name}"
                );
                let ca_bundle = hook["clientConfig"].get("caBundle");
                let inject = config["metadata"]["annotations"].get("cert-manager.io/inject-ca-from");
                match mode {
                    "selfManaged" | "everything optional on" => {
                        assert!(
                            ca_bundle.is_none(),
                            "{mode}: the webhook fills the caBundle, never the chart"
                        );
                        assert!(inject.is_none(), "{mode}");
                    }
                    "existingSecret" => {
                        assert!(
                            ca_bundle.and_then(Value::as_str).is_some_and(|b| b.len() > 100),
                            "{mode}"
                        );
                    }
                    _ => {
                        assert!(ca_bundle.is_none(), "{mode}");
                        assert_eq!(
                            inject.and_then(Value::as_str),
                            Some("kube-federation-system/kubefed-webhook"),
                            "{mode}"
                        );
                        one(&objects, "Certificate", "kubefed-webhook");
                    }
                }
            }
        }
        if !self_managed {
            let volume = &pod["volumes"][0]["secret"]["secretName"];
            let expected = if mode == "existingSecret" {
                "my-webhook-tls"
            } else {
                "kubefed-webhook-tls"
            };
            assert_eq!(volume, expected, "{mode}");
            if mode.starts_with("certManager") {
                let cert = one(&objects, "Certificate", "kubefed-webhook");
                assert_eq!(cert["spec"]["secretName"], expected, "{mode}");
                assert!(
                    cert["spec"]["dnsNames"].as_array().is_some_and(|d| d
                        .iter()
                        .any(|n| n == "kubefed-webhook.kube-federation-system.svc")),
                    "{mode}"
                );
            }
        }

        let controller = one(&objects, "Deployment", "kubefed-controller");
        let cargs = args_of(controller);
        assert!(cargs.iter().any(|a| a == "--leader-elect"), "{mode}: {cargs:?}");
        assert_eq!(flag(&cargs, "--namespace"), Some(NAMESPACE), "{mode}");
        let lease = flag(&cargs, "--leader-elect-lease").ok_or("lease flag")?;
        let role = one(&objects, "Role", "kubefed-controller");
        assert!(
            role["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["resourceNames"] == serde_json::json!([lease])),
            "{mode}: the controller's Role names its Lease {lease}"
        );
        for d in [webhook, controller] {
            assert_eq!(d["spec"]["replicas"], 2, "{mode} {}", name_of(d));
            let affinity = &d["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
            assert_eq!(
                affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["topologyKey"],
                "kubernetes.io/hostname",
                "{mode} {}",
                name_of(d)
            );
        }
        one(&objects, "PodDisruptionBudget", "kubefed-webhook");
        let service_monitors = objects.iter().filter(|o| kind_of(o) == "ServiceMonitor").count();
        assert_eq!(
            service_monitors,
            usize::from(mode == "everything optional on"),
            "{mode}"
        );
    }
    Ok(())
}

/// `webhook.excludedNamespaces` holds for every entry: listing the release namespace drops the fail-open entry
/// (nothing there goes to the webhook), and no exclusions at all is the empty selector (NotIn needs a value).
#[test]
fn excluded_namespaces_apply_to_every_webhook_entry() -> TestResult {
    let entries = |values: &[String]| -> TestResult<Vec<(String, Value)>> {
        let objects = render(values)?;
        let config = one(&objects, "ValidatingWebhookConfiguration", "kubefed-webhook");
        Ok(config["webhooks"]
            .as_array()
            .ok_or("webhooks is a list")?
            .iter()
            .map(|h| {
                let name = h["name"].as_str().unwrap_or_default().to_string();
                (name, h["namespaceSelector"].clone())
            })
            .collect())
    };
    let not_in = |v: Value| {
        serde_json::json!({"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": v}]})
    };
    assert_eq!(
        entries(&[format!("webhook.excludedNamespaces={{{NAMESPACE},tenants}}")])?,
        [
            (
                "validate.kubefed.io".to_string(),
                not_in(serde_json::json!([NAMESPACE, "tenants"]))
            ),
            (
                "validate-control.kubefed.io".to_string(),
                not_in(serde_json::json!([NAMESPACE, "tenants"]))
            ),
        ]
    );
    let none = entries(&["webhook.excludedNamespaces=null".to_string()])?;
    assert_eq!(none.len(), 3, "{none:?}");
    assert_eq!(none[0].1, serde_json::json!({}), "{none:?}");
    assert_eq!(none[1].1, not_in(serde_json::json!([NAMESPACE])), "{none:?}");
    Ok(())
}

#[test]
fn image_defaults_to_the_app_version_and_is_settable() -> TestResult {
    let image = |objects: &[Value]| -> Vec<(String, String)> {
        objects
            .iter()
            .filter(|o| kind_of(o) == "Deployment")
            .map(|d| {
                let c = &d["spec"]["template"]["spec"]["containers"][0];
                (
                    c["image"].as_str().unwrap_or_default().to_string(),
                    c["imagePullPolicy"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let defaults = image(&render(&[])?);
    let app_version = std::fs::read_to_string(chart_dir().join("Chart.yaml"))?
        .lines()
        .find_map(|l| l.strip_prefix("appVersion: "))
        .map(|v| v.trim_matches('"').to_string())
        .ok_or("Chart.yaml has an appVersion")?;
    let want = (format!("kubefed-rs:{app_version}"), "IfNotPresent".to_string());
    assert_eq!(defaults, [want.clone(), want]);
    let set = image(&render(&[
        "image.repository=registry.local/kubefed-rs".into(),
        "image.tag=e2e".into(),
        "image.pullPolicy=Never".into(),
    ])?);
    let want = ("registry.local/kubefed-rs:e2e".to_string(), "Never".to_string());
    assert_eq!(set, [want.clone(), want]);
    Ok(())
}

#[test]
fn rbac_is_least_privilege_and_pods_are_restricted() -> TestResult {
    for (mode, values) in modes() {
        let objects = render(&values)?;
        for o in objects
            .iter()
            .filter(|o| matches!(kind_of(o), "Role" | "ClusterRole"))
        {
            for rule in o["rules"].as_array().ok_or("rules")? {
                let verbs = rule["verbs"].as_array().ok_or("verbs")?;
                assert!(
                    verbs.iter().all(|v| v != "*"),
                    "{mode}: {} {} grants verb *",
                    kind_of(o),
                    name_of(o)
                );
                if let Some(urls) = rule["nonResourceURLs"].as_array() {
                    // Only read-only, named URLs (the webhook's OpenAPI v3 schema reads).
                    assert!(
                        urls.iter()
                            .all(|u| u.as_str().is_some_and(|u| u.starts_with("/openapi/v3")))
                            && verbs == &vec![serde_json::json!("get")],
                        "{mode}: {} {}: nonResourceURLs {urls:?} {verbs:?}",
                        kind_of(o),
                        name_of(o)
                    );
                    continue;
                }
                let resources = rule["resources"].as_array().ok_or("resources")?;
                if resources.iter().any(|r| r == "*") {
                    assert_eq!(
                        rule["apiGroups"],
                        serde_json::json!(["types.kubefed.io"]),
                        "{mode}: {} {}: resources * only for the user-extensible federated types",
                        kind_of(o),
                        name_of(o)
                    );
                }
                assert!(
                    !verbs
                        .iter()
                        .any(|v| matches!(v.as_str(), Some("escalate" | "bind" | "impersonate"))),
                    "{mode}: {} {}",
                    kind_of(o),
                    name_of(o)
                );
            }
        }
        // Only self-managed TLS touches Secrets and webhook configurations.
        let webhook_role = one(&objects, "Role", "kubefed-webhook");
        let touches_secrets = webhook_role["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["resources"] == serde_json::json!(["secrets"]));
        assert_eq!(
            touches_secrets,
            mode == "selfManaged" || mode == "everything optional on",
            "{mode}"
        );

        for d in objects.iter().filter(|o| kind_of(o) == "Deployment") {
            let pod = &d["spec"]["template"]["spec"];
            let what = format!("{mode}: {}", name_of(d));
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{what}");
            assert_eq!(
                pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
                "{what}"
            );
            assert_eq!(pod["automountServiceAccountToken"], true, "{what}");
            let containers = pod["containers"].as_array().ok_or("containers")?;
            for c in containers
                .iter()
                .chain(pod["initContainers"].as_array().into_iter().flatten())
            {
                let sc = &c["securityContext"];
                assert_eq!(sc["runAsNonRoot"], true, "{what}");
                assert_eq!(sc["runAsUser"], 65532, "{what}");
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
                assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]), "{what}");
                assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{what}");
                assert!(c["resources"]["requests"].is_object(), "{what}");
                assert!(c["resources"]["limits"].is_object(), "{what}");
            }
            // Nothing that changes on every render: an upgrade with the same values restarts nothing.
            let annotations = &d["spec"]["template"]["metadata"]["annotations"];
            assert!(annotations.is_null(), "{what}: {annotations}");
            if pod["hostNetwork"] == true {
                assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet", "{what}");
            }
        }
        for sa in objects.iter().filter(|o| kind_of(o) == "ServiceAccount") {
            assert_eq!(
                sa["automountServiceAccountToken"],
                false,
                "{mode}: {}",
                name_of(sa)
            );
        }
        assert_eq!(
            template(&values)?,
            template(&values)?,
            "{mode}: rendering is deterministic"
        );
    }
    Ok(())
}

#[test]
fn default_type_configs_and_kubefedconfig_come_from_the_rust_types() -> TestResult {
    let objects = render(&[])?;
    let ftcs: Vec<FederatedTypeConfig> = objects
        .iter()
        .filter(|o| kind_of(o) == "FederatedTypeConfig")
        .map(|o| serde_json::from_value(o.clone()))
        .collect::<Result<_, _>>()?;
    let types = kubefed_core::default_types();
    assert_eq!(ftcs.len(), types.len());
    for (ftc, target) in ftcs.iter().zip(&types) {
        let want = FederatedTypeConfig::for_target(target, NAMESPACE);
        assert_eq!(ftc.metadata.name, want.metadata.name);
        assert_eq!(ftc.metadata.namespace.as_deref(), Some(NAMESPACE));
        assert_eq!(ftc.spec, want.spec);
    }
    let config = one(&objects, "KubeFedConfig", "kubefed");
    assert_eq!(config["metadata"]["namespace"], NAMESPACE);
    let spec: KubeFedConfigSpec = serde_json::from_value(config["spec"].clone())?;
    assert_eq!(
        spec,
        KubeFedConfigSpec::default().with_defaults(),
        "the chart's KubeFedConfig defaults are the webhook's"
    );
    let none = render(&[
        "federatedTypeConfigs.create=false".into(),
        "kubefedConfig.create=false".into(),
    ])?;
    assert!(
        !none
            .iter()
            .any(|o| matches!(kind_of(o), "FederatedTypeConfig" | "KubeFedConfig"))
    );
    Ok(())
}

#[test]
fn wrong_values_are_refused_naming_the_value() -> TestResult {
    struct Case {
        name: &'static str,
        set: &'static [&'static str],
        /// Each must appear in helm's error.
        want: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "unknown TLS mode",
            set: &["webhook.tls.mode=vault"],
            want: &["/webhook/tls/mode", "selfManaged"],
        },
        Case {
            name: "typo in a key",
            set: &["webhook.replica=3"],
            want: &["/webhook", "replica"],
        },
        Case {
            name: "failure policy",
            set: &["webhook.failurePolicy=Maybe"],
            want: &["/webhook/failurePolicy", "Fail"],
        },
        Case {
            name: "timeout above the API server's maximum",
            set: &["webhook.timeoutSeconds=60"],
            want: &["/webhook/timeoutSeconds", "30"],
        },
        Case {
            name: "no replicas",
            set: &["webhook.replicas=0"],
            want: &["/webhook/replicas"],
        },
        Case {
            name: "pull policy",
            set: &["image.pullPolicy=Sometimes"],
            want: &["/image/pullPolicy", "IfNotPresent"],
        },
        Case {
            name: "privileged port for a non-root pod",
            set: &["webhook.port=443"],
            want: &["/webhook/port", "minimum"],
        },
        Case {
            name: "duration without unit",
            set: &["kubefedConfig.clusterHealthCheck.period=10"],
            want: &["/kubefedConfig/clusterHealthCheck/period"],
        },
        Case {
            name: "malformed duration",
            set: &["kubefedConfig.leaderElect.leaseDuration=fifteen"],
            want: &[
                "/kubefedConfig/leaderElect/leaseDuration",
                "does not match pattern",
            ],
        },
        Case {
            name: "scope",
            set: &["kubefedConfig.scope=Global"],
            want: &["/kubefedConfig/scope", "Namespaced"],
        },
        Case {
            name: "zero member QPS",
            set: &["controller.memberQPS=0"],
            want: &["/controller/memberQPS"],
        },
        Case {
            name: "bad certificate lifetime",
            set: &["webhook.tls.selfManaged.certValidity=1year"],
            want: &["/webhook/tls/selfManaged/certValidity"],
        },
        Case {
            name: "caBundle that is not base64",
            set: &["webhook.tls.existingSecret.caBundle=-----BEGIN CERTIFICATE-----"],
            want: &["/webhook/tls/existingSecret/caBundle"],
        },
        Case {
            name: "existing Secret without a name",
            set: &[
                "webhook.tls.mode=existingSecret",
                "webhook.tls.existingSecret.caBundle=Zm9v",
            ],
            want: &["webhook.tls.existingSecret.name is required"],
        },
        Case {
            name: "existing Secret without its CA",
            set: &[
                "webhook.tls.mode=existingSecret",
                "webhook.tls.existingSecret.name=tls",
            ],
            want: &["webhook.tls.existingSecret.caBundle is required"],
        },
        Case {
            name: "host-network port collision",
            set: &[
                "webhook.hostNetwork=true",
                "controller.hostNetwork=true",
                "webhook.port=8080",
            ],
            want: &["webhook.port and controller.metrics.port are both 8080"],
        },
    ];
    for case in cases {
        let values: Vec<String> = case.set.iter().map(|s| (*s).to_string()).collect();
        let err = match template(&values) {
            Ok(_) => panic!("{}: {:?} rendered without error", case.name, case.set),
            Err(e) => e.to_string(),
        };
        for want in case.want {
            assert!(
                err.contains(want),
                "{}: the error does not mention {want:?}:\n{err}",
                case.name
            );
        }
    }
    Ok(())
}

/// Minimal CRDs for the kinds the chart renders from other projects (cert-manager's Issuer and Certificate,
/// the Prometheus Operator's ServiceMonitor): enough for the API server to accept a dry run; the real
/// schemas are those projects' business.
fn foreign_crds() -> TestResult<
    Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>,
> {
    [
        ("cert-manager.io", "Issuer", "issuers"),
        ("cert-manager.io", "Certificate", "certificates"),
        ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
    ]
    .into_iter()
    .map(|(group, kind, plural)| {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                          "listKind": format!("{kind}List")},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object",
                        "x-kubernetes-preserve-unknown-fields": true}}}]
            }
        }))
        .map_err(Into::into)
    })
    .collect()
}

/// A host API server (no members) with kubefed's CRDs, the foreign ones, and the release namespace; shared
/// by this file's tests (each with its own release namespace, as they apply the same names).
async fn host(namespace: &str) -> TestResult<&'static Testbed> {
    static TB: OnceLock<Result<Testbed, String>> = OnceLock::new();
    let tb = TB
        .get_or_init(|| {
            Testbed::start(TestbedOptions {
                members: 0,
                ..Default::default()
            })
            .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| format!("testbed failed to start: {e}"))?;
    let client = tb.client(HOST).await?;
    let mut crds = kubefed_core::crds::core_crds();
    crds.extend(kubefed_core::crds::default_federated_crds());
    crds.extend(foreign_crds()?);
    install_crds(&client, &crds).await?;
    kubefed_tests::fixtures::apply_namespace(&client, namespace).await?;
    Ok(tb)
}

#[tokio::test]
async fn every_rendered_object_is_accepted_by_the_api_server() -> TestResult {
    let tb = host(NAMESPACE).await?;

    let dir = tempfile::tempdir()?;
    for (mode, values) in modes() {
        let yaml = template(&values)?;
        let file = dir.path().join(format!("{}.yaml", mode.replace(' ', "-")));
        std::fs::write(&file, &yaml)?;
        let file = file.to_string_lossy();
        let out = tb.kubectl(&["--context", HOST, "apply", "--dry-run=server", "-f", &file])?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{mode}: the API server refused rendered objects:\n{}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let accepted = stdout.lines().filter(|l| l.ends_with("(server dry run)")).count();
        let rendered = parse_manifests(&file, &yaml, &ParseLimits::default())?.len();
        assert_eq!(accepted, rendered, "{mode}: every object is accepted:\n{stdout}");
    }
    Ok(())
}

/// `helm install --dry-run` against the testbed: the chart's kubeVersion accepts the real server, and the
/// NOTES end with the command the user runs next.
#[tokio::test]
async fn install_dry_run_prints_notes_ending_with_the_next_command() -> TestResult {
    let tb = host(NAMESPACE).await?;
    let chart = chart_dir();
    let kubeconfig = tb.kubeconfig.to_string_lossy().into_owned();
    let out = helm(&[
        "install",
        RELEASE,
        &chart.to_string_lossy(),
        "--namespace",
        NAMESPACE,
        "--dry-run=client",
        "--kubeconfig",
        &kubeconfig,
        "--kube-context",
        HOST,
    ])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helm install --dry-run failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let notes = stdout.split("NOTES:").nth(1).ok_or("helm printed no NOTES")?;
    let last = notes
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(
        last.trim_start()
            .starts_with("kubectl fed join <cluster-name> --cluster-context <member-context> --kubefed-namespace kube-federation-system"),
        "NOTES end with {last:?}:\n{notes}"
    );
    Ok(())
}

/// What each binary does on the API server, checked with the chart's RBAC applied for real and the
/// requests impersonating its ServiceAccounts: allowed where the code needs it, refused just beside.
#[tokio::test]
async fn service_accounts_can_do_what_the_binaries_do_and_no_more() -> TestResult {
    // Its own release and namespace: the objects are created for real, beside the dry runs of the other test.
    const NS: &str = "kubefed-rbac-test";
    let tb = host(NS).await?;
    let yaml = template_as("rbac", NS, &[])?;
    let objects: Vec<Value> = parse_manifests("helm template", &yaml, &ParseLimits::default())?
        .into_iter()
        .map(|m| m.object)
        .collect();
    let rbac: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            matches!(
                kind_of(o),
                "ServiceAccount" | "Role" | "RoleBinding" | "ClusterRole" | "ClusterRoleBinding"
            )
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("rbac.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&serde_json::json!({"apiVersion": "v1", "kind": "List", "items": rbac}))?,
    )?;
    let out = tb.kubectl(&["--context", HOST, "apply", "-f", &file.to_string_lossy()])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let can = |sa: &str, args: &[&str]| -> TestResult<bool> {
        let who = format!("--as=system:serviceaccount:{NS}:{sa}");
        let mut all = vec!["--context", HOST, "auth", "can-i", who.as_str()];
        all.extend_from_slice(args);
        let out = tb.kubectl(&all)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim() == "yes")
    };
    let ns = format!("--namespace={NS}");
    let ns = ns.as_str();
    // Release "rbac" in a namespace without "kubefed" in the release name: <release>-kubefed-<component>.
    let webhook = "rbac-kubefed-webhook";
    let controller = "rbac-kubefed-controller";
    let tls_secret = format!("secret/{webhook}-tls");
    let mutating = format!("mutatingwebhookconfiguration/{webhook}");
    let validating = format!("validatingwebhookconfiguration/{webhook}");
    let cases: &[(&str, &[&str], bool)] = &[
        // webhook/src/snapshot.rs
        (webhook, &["watch", "kubefedclusters.core.kubefed.io", ns], true),
        (
            webhook,
            &["list", "federatedtypeconfigs.core.kubefed.io", ns],
            true,
        ),
        (
            webhook,
            &["watch", "federatednamespaces.types.kubefed.io", "-A"],
            true,
        ),
        (webhook, &["list", "namespaces"], true),
        (webhook, &["watch", "federationpolicies.policy.kubefed.io"], true),
        // decisions.rs, sar.rs
        (
            webhook,
            &[
                "patch",
                "federationpolicies.policy.kubefed.io",
                "--subresource=status",
            ],
            true,
        ),
        (
            webhook,
            &["create", "subjectaccessreviews.authorization.k8s.io"],
            true,
        ),
        // tls/self_managed.rs: its Secret and configurations only
        (webhook, &["get", &tls_secret, ns], true),
        (webhook, &["patch", &tls_secret, ns], true),
        (webhook, &["create", "secrets", ns], true),
        (webhook, &["get", "secret/cluster-credentials", ns], false),
        (webhook, &["list", "secrets", ns], false),
        (webhook, &["patch", &mutating], true),
        (webhook, &["get", &validating], true),
        // tls/self_managed.rs watches its configurations by name (metadata.name field selector)
        (webhook, &["watch", &mutating], true),
        (webhook, &["list", &validating], true),
        (webhook, &["watch", "validatingwebhookconfigurations"], false),
        // decisions/schemas.rs: the target kinds' OpenAPI v3
        (webhook, &["get", "/openapi/v3/apis/apps/v1"], true),
        (
            webhook,
            &["patch", "validatingwebhookconfiguration/other-webhook"],
            false,
        ),
        (webhook, &["delete", &validating], false),
        (
            webhook,
            &["create", "federateddeployments.types.kubefed.io", "-A"],
            false,
        ),
        // controller: federated objects, status, RSPs, Events
        (
            controller,
            &["watch", "federateddeployments.types.kubefed.io", "-A"],
            true,
        ),
        (
            controller,
            &["patch", "federateddeployments.types.kubefed.io", "-A"],
            true,
        ),
        (
            controller,
            &[
                "patch",
                "federateddeployments.types.kubefed.io",
                "-A",
                "--subresource=status",
            ],
            true,
        ),
        (
            controller,
            &["delete", "federateddeployments.types.kubefed.io", "-A"],
            false,
        ),
        (
            controller,
            &["list", "replicaschedulingpreferences.scheduling.kubefed.io", "-A"],
            true,
        ),
        (
            controller,
            &[
                "patch",
                "replicaschedulingpreferences.scheduling.kubefed.io",
                "-A",
                "--subresource=status",
            ],
            true,
        ),
        (controller, &["create", "events", "-A"], true),
        // its namespace: config, credentials, health status, the Lease
        (
            controller,
            &["watch", "kubefedclusters.core.kubefed.io", ns],
            true,
        ),
        (
            controller,
            &[
                "patch",
                "kubefedclusters.core.kubefed.io",
                ns,
                "--subresource=status",
            ],
            true,
        ),
        (
            controller,
            &["patch", "kubefedclusters.core.kubefed.io", ns],
            false,
        ),
        (
            controller,
            &["get", "kubefedconfigs.core.kubefed.io/kubefed", ns],
            true,
        ),
        (controller, &["watch", "secrets", ns], true),
        (controller, &["list", "secrets", "-A"], false),
        (controller, &["create", "leases.coordination.k8s.io", ns], true),
        (
            controller,
            &["update", "lease/kubefed-controller-manager", ns],
            true,
        ),
        (controller, &["update", "lease/someone-else", ns], false),
        (
            controller,
            &["create", "subjectaccessreviews.authorization.k8s.io"],
            false,
        ),
    ];
    let mut wrong = Vec::new();
    for (sa, args, want) in cases {
        if can(sa, args)? != *want {
            wrong.push(format!(
                "{sa} {args:?}: expected {}",
                if *want { "allowed" } else { "refused" }
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "RBAC differs from what the binaries need:\n  {}",
        wrong.join("\n  ")
    );

    // The webhook watches its Secret with a metadata.name field selector: RBAC checks that against
    // resourceNames, so a list of just that Secret is allowed and a list of all is not.
    let who = format!("--as=system:serviceaccount:{NS}:{webhook}");
    let named = tb.kubectl(&[
        "--context",
        HOST,
        &who,
        "-n",
        NS,
        "get",
        "secrets",
        &format!("--field-selector=metadata.name={webhook}-tls"),
    ])?;
    assert!(
        named.status.success(),
        "{}",
        String::from_utf8_lossy(&named.stderr)
    );
    let all = tb.kubectl(&["--context", HOST, &who, "-n", NS, "get", "secrets"])?;
    assert!(!all.status.success(), "the webhook may list every Secret");
    Ok(())
}

/// Every value (each leaf of values.yaml: a scalar, a list or an empty map) is in the chart README's table.
#[test]
fn every_value_is_documented_in_the_readme() -> TestResult {
    fn leaves(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) if !map.is_empty() => {
                for (k, child) in map {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&path, child, out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    let values: Value = serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml"))?)?;
    let readme = std::fs::read_to_string(chart_dir().join("README.md"))?;
    let mut paths = Vec::new();
    leaves("", &values, &mut paths);
    // Security contexts and resources are documented as a whole.
    let documented = |p: &str| {
        let mut prefix = p;
        loop {
            if readme.contains(&format!("| `{prefix}` |")) {
                return true;
            }
            match prefix.rsplit_once('.') {
                Some((parent, _)) => prefix = parent,
                None => return false,
            }
        }
    };
    let missing: Vec<&String> = paths.iter().filter(|p| !documented(p)).collect();
    assert!(paths.len() > 50, "found only {} values", paths.len());
    assert!(
        missing.is_empty(),
        "values missing from charts/kubefed/README.md: {missing:?}"
    );
    Ok(())
}

/// The chart's webhook entries (rules, namespaceSelector, matchConditions) registered for real, but pointing
/// at a loopback port nobody listens on: the webhook is down. Creating, changing `spec` and changing labels
/// (policies select by them) is refused (fail closed); an annotation edit, a delete and the removal of a
/// finalizer still go through, because the API server never calls the webhook for them — what lets the
/// controller finish deletions during an outage. In the release namespace federated objects are refused too,
/// while the chart's own objects there (FederatedTypeConfigs, KubeFedConfig) are accepted: that entry fails
/// open, so installing the chart never waits for its webhook.
#[tokio::test]
async fn with_the_webhook_down_only_spec_and_label_changes_are_refused() -> TestResult {
    use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
    use kube::core::{ApiResource, GroupVersionKind};

    const NS: &str = "kubefed-down-test";
    let tb = host(NS).await?;
    let client = tb.client(HOST).await?;
    let app_ns = tb.namespace("chart-webhook-down", &[HOST]).await?;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("types.kubefed.io", "v1beta1", "FederatedConfigMap"),
        "federatedconfigmaps",
    );
    let cms: Api<DynamicObject> = Api::namespaced_with(client.clone(), &app_ns, &ar);
    let cm = |name: &str| -> TestResult<DynamicObject> {
        Ok(serde_json::from_value(serde_json::json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
            "metadata": {"name": name, "finalizers": ["kubefed.io/sync-controller"]},
            "spec": {"template": {"data": {"a": "1"}}, "placement": {"clusters": []}}
        }))?)
    };
    cms.create(&PostParams::default(), &cm("existing")?).await?;

    // Register the rendered entries under names of this test, calling a closed port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let closed = listener.local_addr()?.port();
    drop(listener);
    let yaml = template_as("down", NS, &[])?;
    let pp = PatchParams::apply("chart-test").force();
    let manifests = parse_manifests("helm template", &yaml, &ParseLimits::default())?;
    // The chart's objects in the release namespace, applied below once the webhook is "down".
    let system_objects: Vec<Value> = manifests
        .iter()
        .filter(|m| matches!(m.kind(), "FederatedTypeConfig" | "KubeFedConfig"))
        .map(|m| m.object.clone())
        .collect();
    assert!(
        system_objects.len() > 1,
        "the chart renders FederatedTypeConfigs and a KubeFedConfig"
    );
    for m in manifests {
        let kind = m.kind().to_string();
        if !kind.ends_with("WebhookConfiguration") {
            continue;
        }
        let mut config = m.object;
        let plural = format!("{}s", kind.to_lowercase());
        for hook in config["webhooks"].as_array_mut().ok_or("webhooks is a list")? {
            let path = hook["clientConfig"]["service"]["path"].clone();
            let path = path.as_str().unwrap_or_default();
            hook["clientConfig"] = serde_json::json!({"url": format!("https://127.0.0.1:{closed}{path}")});
        }
        let name = config["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", &kind),
            &plural,
        );
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        api.patch(&name, &pp, &Patch::Apply(&config)).await?;
    }

    // The API server picks configurations up within a second or so.
    let refused = |e: &kube::Error| e.to_string().contains("failed calling webhook");
    let mut n = 0;
    loop {
        n += 1;
        match cms
            .create(&PostParams::default(), &cm(&format!("probe-{n}"))?)
            .await
        {
            Err(e) if refused(&e) => break,
            Err(e) => return Err(format!("creating a probe: {e}").into()),
            Ok(_) if n > 60 => return Err("the webhook configurations never took effect".into()),
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    }

    let merge = |v: serde_json::Value| Patch::Merge(v);
    let spec_change = cms
        .patch(
            "existing",
            &PatchParams::default(),
            &merge(serde_json::json!({"spec": {"template": {"data": {"a": "2"}}}})),
        )
        .await;
    assert!(
        spec_change.as_ref().is_err_and(refused),
        "a spec change must be refused while the webhook is down: {spec_change:?}"
    );
    let label_edit = cms
        .patch(
            "existing",
            &PatchParams::default(),
            &merge(serde_json::json!({"metadata": {"labels": {"tier": "critical"}}})),
        )
        .await;
    assert!(
        label_edit.as_ref().is_err_and(refused),
        "a label edit may bring the object under a policy, so it must be refused while the webhook is down: \
         {label_edit:?}"
    );
    cms.patch(
        "existing",
        &PatchParams::default(),
        &merge(serde_json::json!({"metadata": {"annotations": {"note": "x"}}})),
    )
    .await
    .map_err(|e| format!("an annotation edit is refused while the webhook is down: {e}"))?;
    cms.delete("existing", &DeleteParams::default())
        .await
        .map_err(|e| format!("a delete is refused while the webhook is down: {e}"))?;
    let deleting = cms.get("existing").await?;
    assert!(
        deleting.metadata.deletion_timestamp.is_some(),
        "held by its finalizer"
    );
    cms.patch(
        "existing",
        &PatchParams::default(),
        &merge(serde_json::json!({"metadata": {"finalizers": null}})),
    )
    .await
    .map_err(|e| format!("removing the finalizer is refused while the webhook is down: {e}"))?;
    assert!(
        cms.get_opt("existing").await?.is_none(),
        "deleted once the finalizer is gone"
    );

    // In the release namespace a federated object is checked like anywhere else (it would propagate)...
    let in_release_ns: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &ar);
    let created = in_release_ns
        .create(&PostParams::default(), &cm("in-release-namespace")?)
        .await;
    assert!(
        created.as_ref().is_err_and(refused),
        "a federated object in the release namespace must not bypass the webhook: {created:?}"
    );
    // ...while kubefed's own kinds there fail open: the chart's FederatedTypeConfigs and KubeFedConfig are
    // created before its webhook runs.
    for object in &system_objects {
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("core.kubefed.io", "v1beta1", kind),
            &format!("{}s", kind.to_lowercase()),
        );
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &ar);
        api.patch(name, &pp, &Patch::Apply(object))
            .await
            .map_err(|e| format!("the chart's {kind} {name} is refused while the webhook is down: {e}"))?;
        api.delete(name, &DeleteParams::default()).await?;
    }

    // Remove the configurations, so nothing else in this process is blocked.
    for (kind, plural) in [
        ("MutatingWebhookConfiguration", "mutatingwebhookconfigurations"),
        (
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
        ),
    ] {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind),
            plural,
        );
        Api::<DynamicObject>::all_with(client.clone(), &ar)
            .delete("down-kubefed-webhook", &DeleteParams::default())
            .await?;
    }
    Ok(())
}
