//! End-to-end: `kubectl fed migrate` with the built binary against a host (testbed, no members) holding what
//! a KubeFed v0.10 Helm install leaves: its controller and webhook Deployments, its fail-closed
//! ValidatingWebhookConfiguration, a federated CRD with KubeFed's status schema, FederatedTypeConfigs and the
//! KubeFedConfig. `--dry-run` names each and the steps in docs/migration.md's order and changes nothing;
//! `--yes` does the host-side steps (no object lost), a re-run does nothing, and the saved webhook
//! configuration restores KubeFed's (rollback).

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_tests::fixtures::install_kubefed;
use kubefed_tests::testbed::{HOST, Testbed, TestbedOptions, install_crds};
use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Our FederatedDeployment CRD with KubeFed v0.10's status schema (no `aggregated`, no condition `message`).
fn kubefed_shaped_deployment_crd() -> TestResult<CustomResourceDefinition> {
    let target = kubefed_core::find_default_type("deployments").ok_or("no default type deployments")?;
    let mut crd = serde_json::to_value(kubefed_core::federated_crd(&target))?;
    for v in crd["spec"]["versions"]
        .as_array_mut()
        .ok_or("CRD without versions")?
    {
        let status = v
            .pointer_mut("/schema/openAPIV3Schema/properties/status/properties")
            .and_then(Value::as_object_mut)
            .ok_or("CRD without a status schema")?;
        status.remove("aggregated");
        status
            .get_mut("conditions")
            .and_then(|c| c.pointer_mut("/items/properties"))
            .and_then(Value::as_object_mut)
            .ok_or("conditions without item properties")?
            .remove("message");
    }
    Ok(serde_json::from_value(crd)?)
}

fn deployment(name: &str, replicas: i32) -> TestResult<Deployment> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": DEFAULT_SYSTEM_NAMESPACE},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "kubefed:v0.10.0"}]}}}
    }))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_reports_then_takes_over_and_rolls_back() -> TestResult {
    let tb = tokio::task::spawn_blocking(|| {
        Testbed::start(TestbedOptions {
            members: 0,
            ..Default::default()
        })
    })
    .await??;
    let host = install_kubefed(&tb).await?;
    install_crds(&host, &[kubefed_shaped_deployment_crd()?]).await?;
    let deployments: Api<Deployment> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    deployments
        .create(
            &PostParams::default(),
            &deployment("kubefed-controller-manager", 2)?,
        )
        .await?;
    deployments
        .create(
            &PostParams::default(),
            &deployment("kubefed-admission-webhook", 1)?,
        )
        .await?;
    // Created last: fail-closed on FederatedTypeConfigs, which nothing writes afterwards.
    let vwc: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "validations.core.kubefed.io"},
        "webhooks": [{
            "name": "federatedtypeconfigs.core.kubefed.io",
            "admissionReviewVersions": ["v1beta1"],
            "clientConfig": {"service": {"namespace": DEFAULT_SYSTEM_NAMESPACE,
                                         "name": "kubefed-admission-webhook",
                                         "path": "/validate-federatedtypeconfigs"}},
            "rules": [{"operations": ["CREATE", "UPDATE"], "apiGroups": ["core.kubefed.io"],
                       "apiVersions": ["v1beta1"],
                       "resources": ["federatedtypeconfigs", "federatedtypeconfigs/status"]}],
            "failurePolicy": "Fail", "sideEffects": "None"
        }]
    }))?;
    Api::<ValidatingWebhookConfiguration>::all(host.clone())
        .create(&PostParams::default(), &vwc)
        .await?;

    let run = |args: &'static [&'static str]| {
        let kubeconfig = tb.kubeconfig.clone();
        std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fed"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--context", HOST])
            .args(args)
            .env_remove("KUBECONFIG")
            .output()
    };
    let out = run(&["migrate", "--dry-run"])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success());
    for want in [
        "Deployment kube-federation-system/kubefed-controller-manager: 2 replicas",
        "Deployment kube-federation-system/kubefed-admission-webhook: 1 replica",
        "ValidatingWebhookConfiguration validations.core.kubefed.io: failurePolicy Fail on federatedtypeconfigs",
        "with KubeFed's status schema (lacking status.aggregated, status.conditions[].message)",
        "KubeFed-shaped now: federateddeployments.types.kubefed.io",
        "scale Deployment kube-federation-system/kubefed-controller-manager from 2 to 0",
        "delete ValidatingWebhookConfiguration validations.core.kubefed.io",
        "helm install kubefed-rs",
        "new metadata.generation",
        "Nothing was changed (dry run).",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    // Only federateddeployments is KubeFed-shaped; the other CRDs are ours.
    assert!(
        !stdout.contains("federatedconfigmaps.types.kubefed.io"),
        "{stdout}"
    );
    // Nothing changed.
    let d = deployments.get("kubefed-controller-manager").await?;
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(2));
    assert!(
        Api::<ValidatingWebhookConfiguration>::all(host.clone())
            .get_opt("validations.core.kubefed.io")
            .await?
            .is_some()
    );

    // A federated object with KubeFed's status, and KubeFed's KubeFedConfig: both must survive.
    let fd_ar = kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("types.kubefed.io", "v1beta1", "FederatedDeployment"),
        "federateddeployments",
    );
    let fds: Api<kube::api::DynamicObject> = Api::namespaced_with(host.clone(), "default", &fd_ar);
    let fd: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"template": {"spec": {"replicas": 1}}, "placement": {"clusters": [{"name": "member-1"}]}}
    }))?;
    let fd = fds.create(&PostParams::default(), &fd).await?;
    let config: kubefed_core::api::KubeFedConfig = serde_json::from_value(json!({
        "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedConfig",
        "metadata": {"name": "kubefed", "namespace": DEFAULT_SYSTEM_NAMESPACE},
        "spec": {"scope": "Cluster"}
    }))?;
    let configs: Api<kubefed_core::api::KubeFedConfig> =
        Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    configs.create(&PostParams::default(), &config).await?;

    let backup = tempfile::tempdir()?;
    let backup_dir = backup.path().join("backup");
    let run_yes = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fed"))
            .arg("--kubeconfig")
            .arg(&tb.kubeconfig)
            .args([
                "--context",
                HOST,
                "migrate",
                "--yes",
                "--keep-kubefed-annotations",
            ])
            .arg("--backup-dir")
            .arg(&backup_dir)
            .env_remove("KUBECONFIG")
            .output()
    };
    let out = run_yes()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success());
    for want in [
        "1. upgrade the CRDs in place",
        "2. set KubeFedConfig syncController.propagateTemplateAnnotations: Disabled",
        "3. scale Deployment kube-federation-system/kubefed-controller-manager from 2 to 0 ... done",
        "4. delete ValidatingWebhookConfiguration validations.core.kubefed.io (save it first for rollback) ... done",
        "5. then scale Deployment kube-federation-system/kubefed-admission-webhook from 1 to 0 ... done",
        "helm install kubefed-rs",
        "no change beyond metadata ownership",
        "Rollback: `kubectl apply -f",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }

    // Each step's effect is on the host.
    let crd = Api::<CustomResourceDefinition>::all(host.clone())
        .get("federateddeployments.types.kubefed.io")
        .await?;
    assert!(kubefed_core::migration::missing_status_fields(&crd).is_empty());
    let replicas = |d: Deployment| d.spec.and_then(|s| s.replicas);
    assert_eq!(
        replicas(deployments.get("kubefed-controller-manager").await?),
        Some(0)
    );
    assert_eq!(
        replicas(deployments.get("kubefed-admission-webhook").await?),
        Some(0)
    );
    let vwcs = Api::<ValidatingWebhookConfiguration>::all(host.clone());
    assert!(vwcs.get_opt("validations.core.kubefed.io").await?.is_none());
    let kept = configs.get("kubefed").await?;
    assert_eq!(
        kept.spec
            .sync_controller
            .and_then(|s| s.propagate_template_annotations),
        Some(kubefed_core::api::Toggle::Disabled)
    );
    // No object lost: same uid, and the upgraded CRD now takes our full status.
    let after = fds.get("web").await?;
    assert_eq!(after.metadata.uid, fd.metadata.uid);
    let mut with_status = after.clone();
    with_status.data["status"] = json!({"aggregated": {"readyReplicas": 1},
        "conditions": [{"type": "Propagation", "status": "True", "message": "ok",
                        "lastTransitionTime": "2026-11-28T00:00:00Z", "lastUpdateTime": "2026-11-28T00:00:00Z"}]});
    let written = fds
        .replace_status("web", &PostParams::default(), &with_status)
        .await?;
    assert_eq!(written.data["status"]["aggregated"]["readyReplicas"], json!(1));

    // Re-running skips what is done.
    let out = run_yes()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("nothing to do"), "{stdout}");

    // Rollback as docs/migration.md says: the saved file restores KubeFed's webhook configuration.
    let saved = backup_dir.join("validatingwebhookconfiguration-validations.core.kubefed.io.yaml");
    let applied = tb.kubectl(&["--context", HOST, "apply", "-f", &saved.to_string_lossy()])?;
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let restored = vwcs.get("validations.core.kubefed.io").await?;
    assert_eq!(
        restored
            .webhooks
            .as_ref()
            .and_then(|w| w.first())
            .map(|w| w.name.as_str()),
        Some("federatedtypeconfigs.core.kubefed.io")
    );
    Ok(())
}

/// The whole takeover as docs/migration.md has it, with a member: KubeFed's shapes on the host (its status
/// schema, its KubeFedConfig, its controller Deployment) and a member Deployment as KubeFed created it (plain
/// create by another field manager, labelled managed, no template annotations). `kubectl fed migrate --yes
/// --keep-kubefed-annotations`, then our controller: the member object is taken over in place (same uid,
/// same generation, same spec), the status is our full one, and a controller restart writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_after_migrate_changes_no_member_object() -> TestResult {
    const M1: &str = "member-1";
    const WAIT: std::time::Duration = std::time::Duration::from_secs(60);
    let tb = tokio::task::spawn_blocking(|| {
        Testbed::start(TestbedOptions {
            members: 1,
            ..Default::default()
        })
    })
    .await??;
    let host = install_kubefed(&tb).await?;
    install_crds(&host, &[kubefed_shaped_deployment_crd()?]).await?;
    kubefed_tests::fixtures::join(&tb, &host, M1, Default::default()).await?;
    Api::<kubefed_core::api::KubeFedConfig>::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedConfig",
                "metadata": {"name": "kubefed", "namespace": DEFAULT_SYSTEM_NAMESPACE},
                "spec": {"scope": "Cluster",
                         "clusterHealthCheck": {"period": "1s", "timeout": "2s",
                                                "failureThreshold": 2, "successThreshold": 1}}
            }))?,
        )
        .await?;
    Api::<Deployment>::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE)
        .create(
            &PostParams::default(),
            &deployment("kubefed-controller-manager", 1)?,
        )
        .await?;

    // What KubeFed left: a federated namespace and deployment, and the member's copy.
    let ns = tb.namespace("takeover", &[HOST, M1]).await?;
    kubefed_tests::fixtures::federate_namespace(&host, &ns).await?;
    let pod_spec = json!({"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                          "template": {"metadata": {"labels": {"app": "web"}},
                                       "spec": {"containers": [{"name": "web", "image": "nginx"}]}}});
    let member_deployments: Api<Deployment> = Api::namespaced(tb.client(M1).await?, &ns);
    let before = member_deployments
        .create(
            &PostParams {
                field_manager: Some("kubefed".into()),
                ..Default::default()
            },
            &serde_json::from_value(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": ns,
                             "labels": {"app": "web", "kubefed.io/managed": "true"}},
                "spec": pod_spec
            }))?,
        )
        .await?;
    let fdeps: Api<kube::api::DynamicObject> = Api::namespaced_with(
        host.clone(),
        &ns,
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("types.kubefed.io", "v1beta1", "FederatedDeployment"),
            "federateddeployments",
        ),
    );
    fdeps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
                "metadata": {"name": "web", "namespace": ns},
                "spec": {"template": {"metadata": {"labels": {"app": "web"},
                                                   "annotations": {"team": "shop"}},
                                      "spec": pod_spec},
                         "placement": {"clusters": [{"name": M1}]}}
            }))?,
        )
        .await?;

    let backup = tempfile::tempdir()?;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fed"))
        .arg("--kubeconfig")
        .arg(&tb.kubeconfig)
        .args([
            "--context",
            HOST,
            "migrate",
            "--yes",
            "--keep-kubefed-annotations",
        ])
        .arg("--backup-dir")
        .arg(backup.path().join("b"))
        .env_remove("KUBECONFIG")
        .output()?;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let start = |identity: &'static str| {
        let settings = kubefed_controller::Settings {
            concurrency: 4,
            member_timeout: std::time::Duration::from_secs(5),
            identity: identity.into(),
            ..Default::default()
        };
        kubefed_controller::start(
            host.clone(),
            settings,
            std::sync::Arc::new(kubefed_controller::Metrics::new()),
        )
    };
    let propagated = || {
        let fdeps = fdeps.clone();
        async move {
            let o = fdeps.get("web").await?;
            let s = o.data.get("status").cloned().unwrap_or(Value::Null);
            let ok = s["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Propagation" && c["status"] == "True")
            }) && s["observedGeneration"].as_i64() == o.metadata.generation;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(ok.then_some(s))
        }
    };
    let running = start("takeover-1");
    let status = kubefed_tests::wait_for("Propagation=True on web", WAIT, propagated).await?;
    // The upgraded CRD holds our full status (KubeFed's had no `aggregated`).
    assert!(status.get("aggregated").is_some(), "{status}");

    // Taken over in place: same object, same generation and spec, no template annotations (KubeFed's
    // semantics kept by --keep-kubefed-annotations), and ours now.
    let after = member_deployments.get("web").await?;
    assert_eq!(after.metadata.uid, before.metadata.uid);
    assert_eq!(after.metadata.generation, before.metadata.generation);
    assert_eq!(
        serde_json::to_value(&after.spec)?,
        serde_json::to_value(&before.spec)?
    );
    assert!(
        !after
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("team")
    );
    assert!(
        after
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .any(|m| m.manager.as_deref() == Some("kubefed-controller")),
        "not taken over"
    );

    // A restart with nothing changed writes nothing to the member (its API server counts).
    running.stop();
    let member = tb.client(M1).await?;
    let counted = kubefed_tests::requests::served(&member, &["deployments"]).await?;
    let running = start("takeover-2");
    kubefed_tests::wait_for("Propagation=True on web after the restart", WAIT, propagated).await?;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let delta = kubefed_tests::requests::delta(
        &kubefed_tests::requests::served(&member, &["deployments"]).await?,
        &counted,
    );
    assert_eq!(
        kubefed_tests::requests::writes_reads(&delta, "deployments").0,
        0,
        "member writes after a restart: {delta:?}"
    );
    running.stop();
    Ok(())
}
