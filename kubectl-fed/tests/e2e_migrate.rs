//! End-to-end: `kubectl fed migrate --dry-run` with the built binary against a host (testbed, no members)
//! holding what a KubeFed v0.10 Helm install leaves: its controller and webhook Deployments, its fail-closed
//! ValidatingWebhookConfiguration, a federated CRD with KubeFed's status schema, FederatedTypeConfigs and the
//! KubeFedConfig. The report names each and the steps in docs/migration.md's order; nothing is changed.

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_tests::fixtures::install_kubefed;
use kubefed_tests::testbed::{HOST, Testbed, TestbedOptions, install_crds};
use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

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
async fn dry_run_reports_kubefeds_installation_and_the_steps() -> TestResult {
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

    let out = run(&["migrate", "--yes"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("docs/migration.md"), "{stderr}");
    Ok(())
}
