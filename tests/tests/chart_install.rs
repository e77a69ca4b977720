//! `helm install`, `upgrade` and `uninstall` of the chart on a testbed host without nodes (pods stay
//! Pending; what is checked is what Helm does to the API objects): the CRDs come from `crds/`, an upgrade
//! with the same values changes nothing, the caBundle the webhook writes survives upgrades (even one that
//! changes the webhook entries), and uninstalling leaves no webhook configuration behind.
//!
//! A test binary of its own: nothing in this process creates federated objects, so no write needs the
//! (absent) webhook; the chart's FederatedTypeConfigs and KubeFedConfig go to the entry that fails open, so
//! installing never waits for the webhook.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use kubefed_tests::testbed::HOST;
use kubefed_tests::{Testbed, TestbedOptions};
use serde_json::Value;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const RELEASE: &str = "kubefed";
const NAMESPACE: &str = "kube-federation-system";
const CONFIG: &str = "kubefed-webhook";

fn helm(tb: &Testbed, args: &[&str]) -> TestResult<String> {
    let home = tempfile::tempdir()?;
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/kubefed");
    let out: Output = Command::new(tb.bins.path("helm"))
        .args(args.iter().map(|a| {
            if *a == "CHART" {
                chart.as_os_str()
            } else {
                a.as_ref()
            }
        }))
        .args(["--namespace", NAMESPACE, "--kube-context", HOST])
        .arg("--kubeconfig")
        .arg(&tb.kubeconfig)
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()?;
    if !out.status.success() {
        return Err(format!("helm {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn kubectl_json(tb: &Testbed, args: &[&str]) -> TestResult<Value> {
    let mut all = vec!["--context", HOST];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = tb.kubectl(&all)?;
    if !out.status.success() {
        return Err(format!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Every object of the release: kind/namespace/name → its generation where the kind has one (status
/// writes by controllers do not change it), else its resourceVersion.
fn release_state(tb: &Testbed) -> TestResult<BTreeMap<String, String>> {
    let selector = format!("app.kubernetes.io/instance={RELEASE}");
    let namespaced = "deployments,services,serviceaccounts,roles,rolebindings,poddisruptionbudgets,\
                      federatedtypeconfigs.core.kubefed.io,kubefedconfigs.core.kubefed.io";
    let cluster =
        "clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations";
    let mut state = BTreeMap::new();
    for list in [
        kubectl_json(tb, &["get", namespaced, "-n", NAMESPACE, "-l", &selector])?,
        kubectl_json(tb, &["get", cluster, "-l", &selector])?,
    ] {
        for o in list["items"].as_array().into_iter().flatten() {
            let meta = &o["metadata"];
            let key = format!(
                "{}/{}/{}",
                o["kind"].as_str().unwrap_or_default(),
                meta["namespace"].as_str().unwrap_or_default(),
                meta["name"].as_str().unwrap_or_default()
            );
            let version = match meta["generation"].as_i64() {
                Some(g) => format!("generation {g}"),
                None => format!(
                    "resourceVersion {}",
                    meta["resourceVersion"].as_str().unwrap_or_default()
                ),
            };
            state.insert(key, version);
        }
    }
    Ok(state)
}

/// The caBundle of every webhook entry of both configurations.
fn ca_bundles(tb: &Testbed) -> TestResult<Vec<Option<String>>> {
    let mut out = Vec::new();
    for kind in ["mutatingwebhookconfiguration", "validatingwebhookconfiguration"] {
        let config = kubectl_json(tb, &["get", kind, CONFIG])?;
        for hook in config["webhooks"].as_array().ok_or("webhooks is a list")? {
            out.push(hook["clientConfig"]["caBundle"].as_str().map(str::to_string));
        }
    }
    Ok(out)
}

#[tokio::test]
async fn install_upgrade_uninstall() -> TestResult {
    let tb = Testbed::start(TestbedOptions {
        members: 0,
        ..Default::default()
    })?;
    helm(&tb, &["install", RELEASE, "CHART", "--create-namespace"])?;
    let crd = kubectl_json(&tb, &["get", "crd", "federateddeployments.types.kubefed.io"])?;
    assert_eq!(
        crd["metadata"]["name"], "federateddeployments.types.kubefed.io",
        "CRDs from crds/"
    );
    let installed = release_state(&tb)?;
    assert!(
        installed
            .keys()
            .filter(|k| k.starts_with("FederatedTypeConfig/"))
            .count()
            == 10
            && installed.contains_key(&format!("KubeFedConfig/{NAMESPACE}/kubefed")),
        "{installed:#?}"
    );
    let entries = ca_bundles(&tb)?.len();
    assert_eq!(
        ca_bundles(&tb)?,
        vec![None; entries],
        "the chart sets no caBundle in selfManaged mode"
    );
    assert_eq!(entries, 6, "three entries per configuration");

    // What the webhook does at start-up in selfManaged mode: write its CA into every entry of both
    // configurations.
    let bundle = "Y2EgYnVuZGxl"; // any base64
    for kind in ["mutatingwebhookconfiguration", "validatingwebhookconfiguration"] {
        let ops: Vec<String> = (0..entries / 2)
            .map(|i| {
                format!(r#"{{"op":"add","path":"/webhooks/{i}/clientConfig/caBundle","value":"{bundle}"}}"#)
            })
            .collect();
        let patch = format!("[{}]", ops.join(","));
        let out = tb.kubectl(&[
            "--context",
            HOST,
            "patch",
            kind,
            CONFIG,
            "--type=json",
            "-p",
            &patch,
        ])?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let before = release_state(&tb)?;

    helm(&tb, &["upgrade", RELEASE, "CHART"])?;
    let after = release_state(&tb)?;
    let changed: Vec<String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: {v} -> {:?}", after.get(k)))
        .collect();
    assert!(
        changed.is_empty(),
        "an upgrade with the same values changed:\n  {}",
        changed.join("\n  ")
    );
    assert_eq!(before.len(), after.len());
    assert_eq!(ca_bundles(&tb)?, vec![Some(bundle.to_string()); entries]);

    // An upgrade that changes the webhook entries still keeps the caBundle (webhooks merge by name).
    helm(
        &tb,
        &["upgrade", RELEASE, "CHART", "--set", "webhook.timeoutSeconds=7"],
    )?;
    let config = kubectl_json(&tb, &["get", "validatingwebhookconfiguration", CONFIG])?;
    assert_eq!(config["webhooks"][0]["timeoutSeconds"], 7);
    assert_eq!(ca_bundles(&tb)?, vec![Some(bundle.to_string()); entries]);

    helm(&tb, &["uninstall", RELEASE])?;
    for kind in ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"] {
        let left = kubectl_json(&tb, &["get", kind])?;
        let names: Vec<&str> = left["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["metadata"]["name"].as_str())
            .collect();
        assert!(!names.contains(&CONFIG), "helm uninstall left {kind} {CONFIG}");
    }
    assert!(
        release_state(&tb)?.is_empty(),
        "helm uninstall left objects of the release"
    );
    Ok(())
}
