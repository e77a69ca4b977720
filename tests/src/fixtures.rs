//! Setting up kubefed on a testbed the way the chart and `kubectl fed join` will: CRDs, the system
//! namespace, the default FederatedTypeConfigs, and each member joined with a token Secret and a
//! KubeFedCluster. Shared by the end-to-end tests and the demo so both exercise the same setup.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubefed_core::api::constants::{CLUSTER_SECRET_TOKEN_KEY, DEFAULT_SYSTEM_NAMESPACE};
use kubefed_core::api::{FederatedTypeConfig, KubeFedCluster, KubeFedClusterSpec, LocalSecretReference};

use crate::testbed::{HOST, Testbed, install_crds};
use crate::{Error, Result};

const MANAGER: &str = "kubefed-testbed";

fn kube_err(what: String) -> impl FnOnce(kube::Error) -> Error {
    move |e| Error::Other(format!("{what}: {e}"))
}

/// Installs kubefed's CRDs (core + the default federated types + the Multi-Cluster Services ones), the system namespace and the default
/// FederatedTypeConfigs on the host. Idempotent (server-side apply), so every test may call it.
pub async fn install_kubefed(tb: &Testbed) -> Result<kube::Client> {
    let client = tb.client(HOST).await?;
    let mut crds = kubefed_core::crds::core_crds();
    crds.extend(kubefed_core::crds::default_federated_crds());
    // As the chart does (`mcs.installCRDs`): ServiceExports can then be federated from the host.
    crds.extend(kubefed_core::mcs::mcs_crds());
    install_crds(&client, &crds).await?;
    let pp = PatchParams::apply(MANAGER).force();
    apply_namespace(&client, DEFAULT_SYSTEM_NAMESPACE).await?;
    let ftcs: Api<FederatedTypeConfig> = Api::namespaced(client.clone(), DEFAULT_SYSTEM_NAMESPACE);
    for target in kubefed_core::default_types() {
        let ftc = FederatedTypeConfig::for_target(&target, DEFAULT_SYSTEM_NAMESPACE);
        let name = target.type_config_name();
        ftcs.patch(&name, &pp, &Patch::Apply(&ftc))
            .await
            .map_err(kube_err(format!("applying FederatedTypeConfig {name}")))?;
    }
    Ok(client)
}

/// Creates namespace `name` by server-side apply: idempotent and safe when tests sharing an API server
/// create it at the same time (a plain create or `kubectl apply` races into AlreadyExists).
pub async fn apply_namespace(client: &kube::Client, name: &str) -> Result<()> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&ns))
        .await
        .map_err(kube_err(format!("creating namespace {name}")))?;
    Ok(())
}

/// Joins `member` to the host: a Secret holding a token for the member's API server and a KubeFedCluster
/// pointing at it (with its CA), both in the system namespace; the member gets the Multi-Cluster Services
/// CRDs. `labels` go on the KubeFedCluster.
pub async fn join(
    tb: &Testbed,
    host: &kube::Client,
    member: &str,
    labels: BTreeMap<String, String>,
) -> Result<KubeFedCluster> {
    join_at(tb, host, member, labels, &tb.endpoint(member)?).await
}

/// [`join`] with the KubeFedCluster's `apiEndpoint` set to `endpoint`: the controller in a pod on the
/// testbed's node reaches members at [`Testbed::pod_endpoint`], not on loopback.
pub async fn join_at(
    tb: &Testbed,
    host: &kube::Client,
    member: &str,
    labels: BTreeMap<String, String>,
    endpoint: &str,
) -> Result<KubeFedCluster> {
    // The Multi-Cluster Services CRDs, as `kubectl fed join` installs them where absent.
    install_crds(&tb.client(member).await?, &kubefed_core::mcs::mcs_crds()).await?;
    let pp = PatchParams::apply(MANAGER).force();
    let secret_name = format!("{member}-token");
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name.clone()),
            namespace: Some(DEFAULT_SYSTEM_NAMESPACE.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            CLUSTER_SECRET_TOKEN_KEY.to_string(),
            ByteString(tb.token("admin").into_bytes()),
        )])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE)
        .patch(&secret_name, &pp, &Patch::Apply(&secret))
        .await
        .map_err(kube_err(format!("applying Secret {secret_name}")))?;
    let mut kfc = KubeFedCluster::new(
        member,
        KubeFedClusterSpec {
            api_endpoint: endpoint.to_string(),
            ca_bundle: Some(ByteString(tb.ca_pem(member)?.into_bytes())),
            secret_ref: LocalSecretReference { name: secret_name },
            ..Default::default()
        },
    );
    kfc.metadata.namespace = Some(DEFAULT_SYSTEM_NAMESPACE.into());
    kfc.metadata.labels = Some(labels);
    Api::<KubeFedCluster>::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE)
        .patch(member, &pp, &Patch::Apply(&kfc))
        .await
        .map_err(kube_err(format!("applying KubeFedCluster {member}")))
}

/// Federates the host's namespace `ns` to every joined member: a FederatedNamespace `ns` with an empty
/// cluster selector.
pub async fn federate_namespace(host: &kube::Client, ns: &str) -> Result<()> {
    let gvk = GroupVersionKind::gvk("types.kubefed.io", "v1beta1", "FederatedNamespace");
    let fns: Api<DynamicObject> = Api::namespaced_with(
        host.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "federatednamespaces"),
    );
    let object: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedNamespace",
        "metadata": {"name": ns, "namespace": ns},
        "spec": {"placement": {"clusterSelector": {}}}
    }))
    .map_err(|e| Error::Other(format!("building FederatedNamespace {ns}: {e}")))?;
    fns.create(&PostParams::default(), &object)
        .await
        .map_err(kube_err(format!("creating FederatedNamespace {ns}")))?;
    Ok(())
}

/// Runs a test binary's once-only async `setup` to completion on a thread of its own, with its own
/// current-thread runtime (what it starts must outlive the runtime of the test that happened to ask first);
/// any failure as text naming `what`, for a `OnceLock<Result<T, String>>`.
pub fn set_up_once_on_own_thread<T, E, F>(
    what: &str,
    setup: impl FnOnce() -> F + Send + 'static,
) -> Result<T, String>
where
    T: Send + 'static,
    E: std::fmt::Display,
    F: std::future::Future<Output = Result<T, E>>,
{
    let joined = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("building the setup runtime: {e}"))?;
        rt.block_on(setup()).map_err(|e| e.to_string())
    })
    .join();
    match joined {
        Ok(result) => result.map_err(|e| format!("{what} failed: {e}")),
        Err(_) => Err(format!("{what}: the setup thread panicked")),
    }
}
