//! `kubectl fed enable TYPE`: resolve the type by discovery on the host, then create or update its
//! `Federated<Kind>` CRD (`kubefed_core::federated_crd`), wait until the API server serves it, and create
//! or update its FederatedTypeConfig with propagation enabled. Both are server-side applied by `kubectl-fed`
//! with `force`: enabling is the authority on these two objects, whoever wrote them before.
//!
//! Then every member joined by `kubectl fed join` gets its ClusterRole re-derived from the enabled types
//! ([`crate::members::sync_grants`]), so the controller may propagate the new type there without re-joining.
//!
//! `-o yaml|json` prints the two objects instead; without a reachable host it falls back to the built-in
//! table for the default types, so the chart's objects can be printed offline.

use std::time::Duration;

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::conditions::is_crd_established;
use kube::runtime::wait::await_condition;
use kubefed_core::api::FederatedTypeConfig;
use kubefed_core::api::constants::{CORE_API_VERSION, KUBECTL_FED_FIELD_MANAGER};
use kubefed_core::crds::federated_crd;
use kubefed_core::typeinfo::{TargetType, find_default_type};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cli::{EnableArgs, Format, GlobalArgs, PrintFormat};
use crate::client::{Connection, Host, message};
use crate::discovery::{Discovery, find_by_name};
use crate::output::{self, object_ref};

/// How long to wait for a new CRD to be served.
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `kubectl fed enable`.
pub async fn run(global: &GlobalArgs, args: &EnableArgs) -> anyhow::Result<()> {
    let connection = Connection::from_args(global);
    let resolved = match connection.connect(None).await {
        Ok(host) => {
            let mut discovery = Discovery::new(host.clone());
            match resolve(&mut discovery, &args.type_name).await {
                Ok(target) => Ok((target, Some(host))),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e.context("while connecting to the host cluster")),
    };
    let (target, host) = match (resolved, args.output) {
        (Ok(found), _) => found,
        // Printing needs no host for a default type.
        (Err(e), Some(_)) => match find_default_type(&args.type_name) {
            Some(t) => {
                output::warn(&format!(
                    "{e:#}; using the built-in definition of {}",
                    t.type_config_name()
                ));
                (t, None)
            }
            None => return Err(e),
        },
        (Err(e), None) => return Err(e),
    };
    let crd = federated_crd(&target);
    let ftc = FederatedTypeConfig::for_target(&target, &global.kubefed_namespace);

    if let Some(format) = args.output {
        let objects = [serde_json::to_value(&crd)?, serde_json::to_value(&ftc)?];
        let format = match format {
            PrintFormat::Yaml => Format::Yaml,
            PrintFormat::Json => Format::Json,
        };
        return output::print_stdout(&output::render(&objects, format)?);
    }
    let Some(host) = host else {
        anyhow::bail!("the host cluster is needed to enable a type");
    };
    check_kubefed_installed(&host, &global.kubefed_namespace).await?;

    let crd_name = crd.metadata.name.clone().unwrap_or_default();
    let crds: Api<CustomResourceDefinition> = Api::all(host.client.clone());
    let verb = apply(&crds, &crd_name, &crd)
        .await
        .with_context(|| host.doing(format!("applying CRD {crd_name}")))?;
    output::print_stdout(&format!(
        "{} {verb}\n",
        object_ref("CustomResourceDefinition", "apiextensions.k8s.io", &crd_name)
    ))?;
    tokio::time::timeout(ESTABLISHED_TIMEOUT, await_condition(crds, &crd_name, is_crd_established()))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "CRD {crd_name} is not Established after {}s; see `kubectl get crd {crd_name} -o yaml` for its conditions",
                ESTABLISHED_TIMEOUT.as_secs()
            )
        })?
        .with_context(|| host.doing(format!("waiting for CRD {crd_name}")))?;

    let ftc_name = target.type_config_name();
    let ftcs: Api<FederatedTypeConfig> = Api::namespaced(host.client.clone(), &global.kubefed_namespace);
    let verb = apply(&ftcs, &ftc_name, &ftc).await.with_context(|| {
        host.doing(format!(
            "applying FederatedTypeConfig {ftc_name} in namespace {}",
            global.kubefed_namespace
        ))
    })?;
    output::print_stdout(&format!(
        "{} {verb}\n",
        object_ref("FederatedTypeConfig", "core.kubefed.io", &ftc_name)
    ))?;
    // Joined members' grants follow the enabled types.
    crate::members::sync_grants(&connection, &host, &global.kubefed_namespace).await
}

/// Resolves TYPE on the host into the target type, refusing kubefed's own types.
pub async fn resolve(discovery: &mut Discovery, name: &str) -> anyhow::Result<TargetType> {
    let all = discovery.all_preferred().await?;
    let resource = find_by_name(&all, name)?;
    if resource.group == "kubefed.io" || resource.group.ends_with(".kubefed.io") {
        anyhow::bail!(
            "{} ({}) is one of kubefed's own types and cannot itself be federated",
            resource.kind,
            resource.api_version()
        );
    }
    if !["get", "list", "create"]
        .iter()
        .all(|v| resource.verbs.iter().any(|have| have == v))
    {
        anyhow::bail!(
            "{} cannot be federated: the host does not allow get, list and create on it (verbs: {})",
            resource.qualified_name(),
            resource.verbs.join(", ")
        );
    }
    let has_replicas = discovery.has_replicas(&resource).await.with_context(|| {
        format!(
            "while checking whether {} has spec.replicas",
            resource.qualified_name()
        )
    })?;
    Ok(resource.target(has_replicas))
}

/// Fails with the fix when the host has no FederatedTypeConfig API or no kubefed namespace.
async fn check_kubefed_installed(host: &Host, namespace: &str) -> anyhow::Result<()> {
    let mut discovery = Discovery::new(host.clone());
    let served = discovery
        .resolve_kind(CORE_API_VERSION, "FederatedTypeConfig")
        .await?
        .is_some();
    if !served {
        anyhow::bail!(
            "kubefed is not installed on the host cluster (context {:?}): it does not serve FederatedTypeConfigs \
             ({CORE_API_VERSION}); install the kubefed chart first",
            host.context
        );
    }
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(host.client.clone());
    if let Ok(None) = namespaces.get_opt(namespace).await {
        anyhow::bail!(
            "the kubefed namespace {namespace:?} does not exist on the host; pass --kubefed-namespace with the \
             namespace kubefed is installed in"
        );
    }
    Ok(())
}

/// Server-side applies `object` (forced) and says `created`, `configured` or `unchanged`.
pub async fn apply<K>(api: &Api<K>, name: &str, object: &K) -> anyhow::Result<&'static str>
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let before = api
        .get_opt(name)
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))?;
    let params = PatchParams::apply(KUBECTL_FED_FIELD_MANAGER).force();
    let after = api
        .patch(name, &params, &Patch::Apply(object))
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))?;
    Ok(match before {
        None => "created",
        Some(b) if b.meta().resource_version == after.meta().resource_version => "unchanged",
        Some(_) => "configured",
    })
}
