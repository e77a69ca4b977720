//! Foundation end-to-end: the testbed boots real clusters, the generated CRDs install on the host, and the
//! API server's schema validation accepts valid KubeFed objects and rejects invalid ones.

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubefed_tests::shared_testbed;
use kubefed_tests::testbed::{HOST, install_crds};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn host_with_crds() -> Result<kube::Client, Box<dyn std::error::Error>> {
    let tb = shared_testbed()?;
    let client = tb.client(HOST).await?;
    let mut crds = kubefed_core::crds::core_crds();
    crds.extend(kubefed_core::crds::default_federated_crds());
    install_crds(&client, &crds).await?;
    Ok(client)
}

fn api(
    client: &kube::Client,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn obj(value: serde_json::Value) -> DynamicObject {
    serde_json::from_value(value).expect("test object literal is a valid DynamicObject")
}

#[tokio::test]
async fn host_and_two_members_boot_and_report_v1_34() -> TestResult {
    let tb = shared_testbed()?;
    assert_eq!(tb.cluster_names(), ["host", "member-1", "member-2"]);
    for name in tb.cluster_names() {
        let client = tb.client(name).await?;
        let v = client.apiserver_version().await?;
        assert_eq!(
            (v.major.as_str(), v.minor.as_str()),
            ("1", "34"),
            "{name} reports {v:?}"
        );
    }
    let out = tb.kubectl(&["--context", HOST, "version", "-o", "json"])?;
    assert!(
        out.status.success(),
        "kubectl version failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let server = v["serverVersion"]["gitVersion"].as_str().unwrap_or_default();
    assert!(
        server.starts_with("v1.34."),
        "kubectl reports server version {server:?}"
    );
    for (name, bytes) in tb.memory_per_cluster() {
        eprintln!("memory: {name} {} MiB resident", bytes / (1024 * 1024));
        assert!(bytes > 0, "no resident memory measured for {name}");
    }
    Ok(())
}

#[tokio::test]
async fn crds_install_and_valid_objects_are_stored() -> TestResult {
    let client = host_with_crds().await?;
    let tb = shared_testbed()?;
    let ns = tb.namespace("foundation-valid", &[HOST]).await?;
    let ca = tb.ca_pem("member-1")?;
    let kfc = api(
        &client,
        &ns,
        "core.kubefed.io",
        "v1beta1",
        "KubeFedCluster",
        "kubefedclusters",
    );
    let stored = kfc
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedCluster",
                "metadata": {"name": "member-1", "labels": {"region": "eu"}},
                "spec": {
                    "apiEndpoint": tb.endpoint("member-1")?,
                    "caBundle": base64(&ca),
                    "secretRef": {"name": "member-1-token"},
                    "disabledTLSValidations": []
                }
            })),
        )
        .await?;
    assert_eq!(stored.data["spec"]["secretRef"]["name"], "member-1-token");

    let ftc = api(
        &client,
        &ns,
        "core.kubefed.io",
        "v1beta1",
        "FederatedTypeConfig",
        "federatedtypeconfigs",
    );
    let stored = ftc
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "core.kubefed.io/v1beta1", "kind": "FederatedTypeConfig",
                "metadata": {"name": "deployments.apps"},
                "spec": {
                    "targetType": {"group": "apps", "version": "v1", "kind": "Deployment",
                                   "pluralName": "deployments", "scope": "Namespaced"},
                    "federatedType": {"group": "types.kubefed.io", "version": "v1beta1",
                                      "kind": "FederatedDeployment", "pluralName": "federateddeployments",
                                      "scope": "Namespaced"},
                    "propagation": "Enabled"
                }
            })),
        )
        .await?;
    assert_eq!(stored.data["spec"]["propagation"], "Enabled");

    // A federated object of a default type, with KubeFed's shape, is stored as is.
    let fdeploy = api(
        &client,
        &ns,
        "types.kubefed.io",
        "v1beta1",
        "FederatedDeployment",
        "federateddeployments",
    );
    let stored = fdeploy
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
                "metadata": {"name": "web"},
                "spec": {
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                          "template": {"metadata": {"labels": {"app": "web"}},
                                                       "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
                    "placement": {"clusters": [{"name": "member-1"}, {"name": "member-2"}]},
                    "overrides": [{"clusterName": "member-2",
                                   "clusterOverrides": [{"path": "/spec/replicas", "value": 5}]}]
                }
            })),
        )
        .await?;
    // Free-form template fields survive (x-kubernetes-preserve-unknown-fields).
    assert_eq!(
        stored.data["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx"
    );
    assert_eq!(
        stored.data["spec"]["overrides"][0]["clusterOverrides"][0]["value"],
        5
    );
    kubefed_tests::testbed::delete_namespace(&client, &ns).await;
    Ok(())
}

#[tokio::test]
async fn invalid_objects_are_rejected_by_the_schema() -> TestResult {
    let client = host_with_crds().await?;
    let tb = shared_testbed()?;
    let ns = tb.namespace("foundation-invalid", &[HOST]).await?;
    let kfc = api(
        &client,
        &ns,
        "core.kubefed.io",
        "v1beta1",
        "KubeFedCluster",
        "kubefedclusters",
    );
    // apiEndpoint is required and secretRef must be an object.
    let err = kfc
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "core.kubefed.io/v1beta1", "kind": "KubeFedCluster",
                "metadata": {"name": "broken"},
                "spec": {"secretRef": "not-an-object"}
            })),
        )
        .await
        .expect_err("an invalid KubeFedCluster must be rejected");
    let msg = err.to_string();
    assert!(
        msg.contains("apiEndpoint") && msg.contains("secretRef"),
        "unexpected error: {msg}"
    );

    let ftc = api(
        &client,
        &ns,
        "core.kubefed.io",
        "v1beta1",
        "FederatedTypeConfig",
        "federatedtypeconfigs",
    );
    let err = ftc
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "core.kubefed.io/v1beta1", "kind": "FederatedTypeConfig",
                "metadata": {"name": "deployments.apps"},
                "spec": {"targetType": {"version": "v1", "kind": "Deployment", "pluralName": "deployments",
                                        "scope": "Sideways"},
                         "propagation": "Enabled"}
            })),
        )
        .await
        .expect_err("an invalid FederatedTypeConfig must be rejected");
    let msg = err.to_string();
    assert!(
        msg.contains("federatedType") && msg.contains("scope"),
        "unexpected error: {msg}"
    );

    let fdeploy = api(
        &client,
        &ns,
        "types.kubefed.io",
        "v1beta1",
        "FederatedDeployment",
        "federateddeployments",
    );
    let err = fdeploy
        .create(
            &PostParams::default(),
            &obj(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
                "metadata": {"name": "bad"},
                "spec": {"template": {}, "placement": {"clusters": "member-1"}, "retainReplicas": "yes"}
            })),
        )
        .await
        .expect_err("an invalid FederatedDeployment must be rejected");
    let msg = err.to_string();
    assert!(
        msg.contains("placement.clusters") && msg.contains("retainReplicas"),
        "unexpected error: {msg}"
    );
    kubefed_tests::testbed::delete_namespace(&client, &ns).await;
    Ok(())
}

fn base64(s: &str) -> String {
    use k8s_openapi::ByteString;
    let v = serde_json::to_value(ByteString(s.as_bytes().to_vec())).unwrap_or_default();
    v.as_str().unwrap_or_default().to_string()
}
