//! Member clusters as `join`, `unjoin`, `enable` and `disable` see them: the enabled types the member grant
//! is derived from (`kubefed_core::membership::member_rules`), applying the grant in a member, and writing
//! with server-side apply while remembering what was created, so a failed join can be rolled back.

use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use kubefed_core::api::constants::KUBECTL_FED_FIELD_MANAGER;
use kubefed_core::api::{FederatedTypeConfig, KubeFedCluster};
use kubefed_core::membership::{
    JoinNames, MEMBER_CONTEXT_ANNOTATION, MEMBER_IDENTITY_ANNOTATION, MEMBER_RBAC_ANNOTATION,
};
use kubefed_core::typeinfo::TargetType;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{Connection, Host, is_forbidden, is_not_found, message};
use crate::output;

/// Bounds the TCP/TLS handshake with a member, so an unreachable one fails in seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The FederatedTypeConfigs of the host's kubefed namespace; a clear error when kubefed is not installed.
pub async fn type_configs(host: &Host, namespace: &str) -> anyhow::Result<Vec<FederatedTypeConfig>> {
    let api: Api<FederatedTypeConfig> = Api::namespaced(host.client.clone(), namespace);
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list.items),
        Err(e) if is_not_found(&e) => anyhow::bail!(
            "kubefed is not installed on the host cluster (context {:?}): it does not serve FederatedTypeConfigs \
             (core.kubefed.io/v1beta1); install the kubefed chart first",
            host.context
        ),
        Err(e) => Err(anyhow::anyhow!(message(&e)))
            .with_context(|| host.doing(format!("listing FederatedTypeConfigs in namespace {namespace}"))),
    }
}

/// The target types whose propagation is enabled: what the member grant covers.
pub fn enabled_targets(configs: &[FederatedTypeConfig]) -> Vec<TargetType> {
    configs
        .iter()
        .filter(|c| c.propagation_enabled())
        .map(FederatedTypeConfig::target)
        .collect()
}

/// Checks that a cluster answers (`GET /version`) and returns its version; the error names the context,
/// the URL and what to check.
pub async fn reachable(cluster: &Host, role: &str) -> anyhow::Result<String> {
    match cluster.client.apiserver_version().await {
        Ok(v) => Ok(v.git_version),
        Err(e) => anyhow::bail!(
            "cannot reach the {role} cluster (context {:?}, {}): {}; check that it runs and that the kubeconfig \
             context is right (`kubectl --context {} get --raw /version`)",
            cluster.context,
            cluster.url,
            message(&e),
            cluster.context
        ),
    }
}

/// Connects to `context` of the same kubeconfig.
pub async fn connect(connection: &Connection, context: &str) -> anyhow::Result<Host> {
    connection
        .with_context(context)
        .connect(Some(CONNECT_TIMEOUT))
        .await
        .with_context(|| format!("while connecting to context {context:?}"))
}

/// The names `join` used for `kfc`: the ServiceAccount from its annotation, else the default for `host`.
pub fn names_of(kfc: Option<&KubeFedCluster>, cluster: &str, host: &str, namespace: &str) -> JoinNames {
    let annotated = kfc
        .and_then(|k| k.metadata.annotations.as_ref())
        .and_then(|a| a.get(MEMBER_IDENTITY_ANNOTATION))
        .and_then(|v| v.split_once('/'))
        .filter(|(ns, sa)| !ns.is_empty() && !sa.is_empty());
    match annotated {
        Some((ns, sa)) => JoinNames::with_service_account(cluster, ns, sa),
        None => JoinNames::new(cluster, host, namespace),
    }
}

/// An object written during this run that did not exist before, for rollback.
#[derive(Clone)]
pub struct Created {
    pub cluster: Host,
    pub resource: ApiResource,
    pub namespace: Option<String>,
    pub name: String,
}

impl Created {
    /// `member-1: serviceaccount/x`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}: {}",
            self.cluster.context,
            output::object_ref(&self.resource.kind, &self.resource.group, &self.name)
        )
    }

    /// Deletes the object (already gone is fine).
    pub async fn delete(&self) -> Result<(), String> {
        let api: Api<DynamicObject> = match &self.namespace {
            Some(ns) => Api::namespaced_with(self.cluster.client.clone(), ns, &self.resource),
            None => Api::all_with(self.cluster.client.clone(), &self.resource),
        };
        match api.delete(&self.name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(message(&e)),
        }
    }
}

/// What a server-side apply did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Created,
    Configured,
    Unchanged,
}

impl Applied {
    /// kubectl's word for it.
    pub fn verb(self) -> &'static str {
        match self {
            Applied::Created => "created",
            Applied::Configured => "configured",
            Applied::Unchanged => "unchanged",
        }
    }
}

/// Server-side applies `object` (forced, field manager `kubectl-fed`) in `cluster`, prints
/// `<context>: <kind>/<name> <verb>`, and records it in `ledger` when it was created. A "forbidden" answer
/// becomes a message saying which right is missing in which cluster.
pub async fn apply<K>(
    cluster: &Host,
    api: &Api<K>,
    object: &K,
    ledger: &mut Vec<Created>,
) -> anyhow::Result<Applied>
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let resource = ApiResource::erase::<K>(&());
    let namespace = api.namespace();
    let what = output::object_ref(&resource.kind, &resource.group, &name);
    let fail = |e: kube::Error| write_error(cluster, &what, &e);
    let before = api.get_opt(&name).await.map_err(fail)?;
    let params = PatchParams::apply(KUBECTL_FED_FIELD_MANAGER).force();
    let after = api
        .patch(&name, &params, &Patch::Apply(object))
        .await
        .map_err(fail)?;
    let applied = match before {
        None => {
            ledger.push(Created {
                cluster: cluster.clone(),
                resource,
                namespace: namespace.map(str::to_string),
                name,
            });
            Applied::Created
        }
        Some(b) if b.meta().resource_version == after.meta().resource_version => Applied::Unchanged,
        Some(_) => Applied::Configured,
    };
    output::print_stdout(&format!("{}: {what} {}\n", cluster.context, applied.verb()))?;
    Ok(applied)
}

/// An API error while writing `what` in `cluster`; "forbidden" says which rights join needs.
pub fn write_error(cluster: &Host, what: &str, e: &kube::Error) -> anyhow::Error {
    // RBAC denials say "User … cannot <verb> resource …"; other 403s (a terminating namespace) are not rights.
    if is_forbidden(e) && message(e).contains(" cannot ") {
        anyhow::anyhow!(
            "{}; context {:?} lacks the rights to write {what} — join needs an admin of each cluster (in the \
             member: namespaces, serviceaccounts, secrets, clusterroles and clusterrolebindings)",
            message(e),
            cluster.context
        )
    } else {
        anyhow::anyhow!(message(e))
    }
    .context(cluster.doing_in(format!("applying {what}")))
}

/// Applies the member's ClusterRole with `rules` (used when enabled types change).
pub async fn apply_grant(
    member: &Host,
    names: &JoinNames,
    rules: Vec<PolicyRule>,
) -> anyhow::Result<Applied> {
    let role: ClusterRole = names.cluster_role(rules);
    apply(member, &Api::all(member.client.clone()), &role, &mut Vec::new()).await
}

/// After the enabled types changed: re-applies the ClusterRole of every member joined by `kubectl fed join`
/// with a minimal grant, from the enabled types now (the same derivation join uses). Each member is reached
/// with the kubeconfig context join used (annotation), else one named like the cluster; a member that
/// cannot be reached is a warning naming the command that catches it up later.
pub async fn sync_grants(connection: &Connection, host: &Host, namespace: &str) -> anyhow::Result<()> {
    let kfcs: Api<KubeFedCluster> = Api::namespaced(host.client.clone(), namespace);
    let list = match kfcs.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => {
            output::warn(&format!(
                "could not list the joined clusters to update their grants: {}",
                message(&e)
            ));
            return Ok(());
        }
    };
    let configs = type_configs(host, namespace).await?;
    let rules = kubefed_core::membership::member_rules(&enabled_targets(&configs));
    for kfc in &list {
        let annotations = kfc.metadata.annotations.clone().unwrap_or_default();
        // Only clusters join made, and not an admin grant (never narrowed behind the user's back).
        if !annotations.contains_key(MEMBER_IDENTITY_ANNOTATION)
            || annotations
                .get(MEMBER_RBAC_ANNOTATION)
                .is_some_and(|r| r == "admin")
        {
            continue;
        }
        let name = kfc.metadata.name.clone().unwrap_or_default();
        let context = annotations
            .get(MEMBER_CONTEXT_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| name.clone());
        let names = names_of(Some(kfc), &name, &host.context, namespace);
        let result = async {
            let member = connect(connection, &context).await?;
            apply_grant(&member, &names, rules.clone()).await
        }
        .await;
        if let Err(e) = result {
            output::warn(&format!(
                "could not update the grant of member {name} (context {context:?}): {e:#}; run `kubectl fed join \
                 {name} --cluster-context CONTEXT` to bring it up to date"
            ));
        }
    }
    Ok(())
}

/// Rolls back what this run created, newest first, and says what could not be removed.
pub async fn roll_back(ledger: Vec<Created>) {
    for created in ledger.into_iter().rev() {
        match created.delete().await {
            Ok(()) => output::warn(&format!("rolled back: deleted {}", created.describe())),
            Err(e) => output::error(&format!(
                "could not roll back {}: {e}; delete it by hand",
                created.describe()
            )),
        }
    }
}
