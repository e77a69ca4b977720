//! `kubectl fed unjoin NAME`: undo `join`.
//!
//! Order matters. The KubeFedCluster goes first, so the controller stops writing to the member; then its
//! token Secret on the host; then (`--cleanup`) every member object labelled `kubefed.io/managed=true` of a
//! federated type, namespaces last, and what the Multi-Cluster Services controller imported there
//! (ServiceImports, mirrored EndpointSlices, derived Services); then the member identity (binding, role, token Secret, ServiceAccount,
//! and the kubefed namespace when join created it and no other host's identity remains in it).
//!
//! The member is checked first: when it cannot be reached nothing is removed unless `--force`, which
//! removes the host side and lists what is left in the member. Federated objects still placed on the
//! cluster (by their status) are counted and reported, so nobody loses track of them.

use anyhow::Context;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{DeleteParams, DynamicObject, ListParams};
use kube::core::ApiResource;
use kube::{Api, Resource};
use kubefed_core::api::constants::{MANAGED_LABEL, MANAGED_LABEL_VALUE};
use kubefed_core::api::{FederatedTypeConfig, KubeFedCluster, federated_api_resource};
use kubefed_core::membership::{JoinNames, MANAGED_BY_LABEL, MANAGED_BY_VALUE};
use kubefed_core::typeinfo::{Scope, TargetType};

use crate::cli::{GlobalArgs, UnjoinArgs};
use crate::client::{Connection, Host, check_context, is_not_found, message};
use crate::members::{self, Created};
use crate::output;

/// Runs `kubectl fed unjoin`.
pub async fn run(global: &GlobalArgs, args: &UnjoinArgs) -> anyhow::Result<()> {
    let name = args.name.as_str();
    let ns = global.kubefed_namespace.as_str();
    let mut connection = Connection::from_args(global);
    if let Some(ctx) = &args.host_context {
        connection.context = Some(ctx.clone());
    }
    let kc = connection
        .kubeconfig()?
        .context("no kubeconfig found: pass --kubeconfig or set $KUBECONFIG")?;
    let host_context = connection
        .context
        .clone()
        .or_else(|| kc.current_context.clone())
        .context("no host context: pass --host-context, or set a current context in the kubeconfig")?;
    check_context(&kc, &host_context, "--host-context")?;
    let host = members::connect(&connection, &host_context).await?;
    members::reachable(&host, "host").await?;

    let kfcs: Api<KubeFedCluster> = Api::namespaced(host.client.clone(), ns);
    let kfc = kfcs
        .get_opt(name)
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| host.doing(format!("reading KubeFedCluster {ns}/{name}")))?;
    if kfc.is_none() && !args.force {
        anyhow::bail!(
            "cluster {name} is not joined (no KubeFedCluster {ns}/{name} on the host); see `kubectl fed get \
             clusters`, or pass --force to remove a leftover member identity anyway"
        );
    }
    let names = members::names_of(kfc.as_ref(), name, &host_context, ns);
    let configs = members::type_configs(&host, ns).await?;
    let types: Vec<TargetType> = configs.iter().map(FederatedTypeConfig::target).collect();

    // The member, before anything is removed.
    let member_context = args.cluster_context.clone().unwrap_or_else(|| name.to_string());
    let member = match check_context(&kc, &member_context, "--cluster-context (default: NAME)") {
        Ok(()) => match members::connect(&connection, &member_context).await {
            Ok(m) => members::reachable(&m, "member").await.map(|_| m),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let member = match member {
        Ok(m) => Some(m),
        Err(e) if args.force => {
            output::warn(&format!("{e:#}; going on (--force)"));
            None
        }
        Err(e) => {
            return Err(e.context(format!(
                "nothing was removed; pass --force to remove {name} from the host anyway (its identity and objects \
                 in the member are then left behind)"
            )));
        }
    };

    let placed = placed_objects(&host, &types, name).await;
    match &placed {
        Ok(list) if !list.is_empty() => output::warn(&format!(
            "{} federated object{} still place{} onto {name} (e.g. {}); {}",
            list.len(),
            if list.len() == 1 { "" } else { "s" },
            if list.len() == 1 { "s" } else { "" },
            list.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
            if args.cleanup {
                "their copies there are deleted (--cleanup)"
            } else {
                "their copies there are left in place (use --cleanup to delete them)"
            }
        )),
        Ok(_) => {}
        Err(e) => output::warn(&format!(
            "could not count the federated objects placed onto {name}: {e:#}"
        )),
    }

    let mut left: Vec<String> = Vec::new();
    // Host side.
    if let Some(kfc) = &kfc {
        delete_one(
            &host,
            Api::<KubeFedCluster>::namespaced(host.client.clone(), ns),
            name,
            &mut left,
        )
        .await;
        let secret = kfc.spec.secret_ref.name.clone();
        // Only a Secret join wrote: one made by hand may be shared.
        if secret == names.host_secret
            || is_ours(Api::<Secret>::namespaced(host.client.clone(), ns), &secret).await
        {
            delete_one(
                &host,
                Api::<Secret>::namespaced(host.client.clone(), ns),
                &secret,
                &mut left,
            )
            .await;
        } else {
            output::warn(&format!(
                "{}: secret/{secret} was not created by kubectl fed join; left in place",
                host.context
            ));
        }
    }

    match &member {
        Some(member) => {
            if args.cleanup {
                let mut count = cleanup(member, &types, &mut left).await;
                count += cleanup_mcs(member, &mut left).await;
                // A write the controller had in flight when the KubeFedCluster went may land after the first
                // pass; a second pass a moment later catches it.
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                count += cleanup(member, &types, &mut Vec::new()).await;
                output::print_stdout(&format!(
                    "{}: deleted {count} object{} propagated by kubefed\n",
                    member.context,
                    if count == 1 { "" } else { "s" }
                ))?;
            }
            let c = || member.client.clone();
            let mns = names.namespace.as_str();
            delete_one(
                member,
                Api::<ClusterRoleBinding>::all(c()),
                &names.cluster_role,
                &mut left,
            )
            .await;
            delete_one(
                member,
                Api::<ClusterRole>::all(c()),
                &names.cluster_role,
                &mut left,
            )
            .await;
            delete_one(
                member,
                Api::<Secret>::namespaced(c(), mns),
                &names.member_secret,
                &mut left,
            )
            .await;
            delete_one(
                member,
                Api::<ServiceAccount>::namespaced(c(), mns),
                &names.service_account,
                &mut left,
            )
            .await;
            remove_namespace_if_ours(member, &names, &mut left).await;
        }
        None => {
            let ctx = &member_context;
            left.extend([
                format!(
                    "{ctx}: clusterrolebinding.rbac.authorization.k8s.io/{}",
                    names.cluster_role
                ),
                format!(
                    "{ctx}: clusterrole.rbac.authorization.k8s.io/{}",
                    names.cluster_role
                ),
                format!("{ctx}: secret/{} in {}", names.member_secret, names.namespace),
                format!(
                    "{ctx}: serviceaccount/{} in {}",
                    names.service_account, names.namespace
                ),
            ]);
            if args.cleanup {
                left.push(format!("{ctx}: the objects kubefed propagated there (label {MANAGED_LABEL}={MANAGED_LABEL_VALUE})"));
            }
        }
    }
    if left.is_empty() {
        output::print_stdout(&format!("cluster {name} unjoined\n"))
    } else {
        for l in &left {
            output::error(&format!("not removed: {l}"));
        }
        anyhow::bail!(
            "cluster {name} was removed from the host, but {} item{} could not be removed (listed above); delete \
             them by hand when the member is reachable",
            left.len(),
            if left.len() == 1 { "" } else { "s" }
        )
    }
}

/// `kind/namespace/name` of every federated object whose status lists `cluster`.
async fn placed_objects(host: &Host, types: &[TargetType], cluster: &str) -> anyhow::Result<Vec<String>> {
    let mut placed = Vec::new();
    for t in types {
        let ar = federated_api_resource(t);
        let api: Api<DynamicObject> = Api::all_with(host.client.clone(), &ar);
        let list = match api.list(&ListParams::default()).await {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(anyhow::anyhow!(message(&e)).context(format!("listing {}", ar.plural))),
        };
        for obj in list.items {
            let on = obj.data["status"]["clusters"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["name"].as_str() == Some(cluster)));
            if on {
                let ns = obj
                    .metadata
                    .namespace
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default();
                placed.push(format!(
                    "{}/{ns}{}",
                    ar.kind.to_ascii_lowercase(),
                    obj.metadata.name.unwrap_or_default()
                ));
            }
        }
    }
    Ok(placed)
}

/// Deletes every member object of ours (label `kubefed.io/managed=true`) of the given types, namespaces
/// last; returns how many were deleted and adds failures to `left`.
async fn cleanup(member: &Host, types: &[TargetType], left: &mut Vec<String>) -> usize {
    let selector = format!("{MANAGED_LABEL}={MANAGED_LABEL_VALUE}");
    let mut ordered: Vec<&TargetType> = types.iter().filter(|t| !t.is_namespace()).collect();
    ordered.extend(types.iter().filter(|t| t.is_namespace()));
    let mut count = 0;
    for t in ordered {
        let ar = ApiResource {
            group: t.group.clone(),
            version: t.version.clone(),
            api_version: t.api_version(),
            kind: t.kind.clone(),
            plural: t.plural.clone(),
        };
        let api: Api<DynamicObject> = Api::all_with(member.client.clone(), &ar);
        let list = match api.list(&ListParams::default().labels(&selector)).await {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => {
                left.push(format!(
                    "{}: {} (listing failed: {})",
                    member.context,
                    ar.plural,
                    message(&e)
                ));
                continue;
            }
        };
        // Already being deleted (a namespace draining): counted when its deletion was asked for.
        for obj in list
            .items
            .into_iter()
            .filter(|o| o.metadata.deletion_timestamp.is_none())
        {
            let name = obj.metadata.name.clone().unwrap_or_default();
            let namespace = match t.scope {
                Scope::Namespaced => obj.metadata.namespace.clone(),
                Scope::Cluster => None,
            };
            let created = Created {
                cluster: member.clone(),
                resource: ar.clone(),
                namespace: namespace.clone(),
                name: name.clone(),
            };
            match created.delete().await {
                Ok(()) => {
                    count += 1;
                    let at = namespace.map(|n| format!(" in {n}")).unwrap_or_default();
                    let _ = output::print_stdout(&format!("{} deleted{at}\n", created.describe()));
                }
                Err(e) => left.push(format!("{} ({e})", created.describe())),
            }
        }
    }
    count
}

/// Deletes what the Multi-Cluster Services controller wrote in the member (ServiceImports, derived
/// Services, mirrored EndpointSlices: by their managed-by labels); ServiceExports are the user's and stay.
async fn cleanup_mcs(member: &Host, left: &mut Vec<String>) -> usize {
    use kubefed_core::mcs::{
        LABEL_MANAGED_BY, LABEL_SLICE_MANAGED_BY, MCS_CONTROLLER, MCS_GROUP, MCS_VERSION,
    };
    let ar = |group: &str, version: &str, kind: &str, plural: &str| ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        },
        kind: kind.to_string(),
        plural: plural.to_string(),
    };
    let targets = [
        (
            ar(MCS_GROUP, MCS_VERSION, "ServiceImport", "serviceimports"),
            format!("{LABEL_MANAGED_BY}={MCS_CONTROLLER}"),
        ),
        (
            ar("", "v1", "Service", "services"),
            format!("{LABEL_MANAGED_BY}={MCS_CONTROLLER}"),
        ),
        (
            ar("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
            format!("{LABEL_SLICE_MANAGED_BY}={MCS_CONTROLLER}"),
        ),
    ];
    let mut count = 0;
    for (resource, selector) in targets {
        let api: Api<DynamicObject> = Api::all_with(member.client.clone(), &resource);
        let list = match api.list(&ListParams::default().labels(&selector)).await {
            Ok(l) => l,
            // No MCS CRDs there: nothing was imported.
            Err(e) if is_not_found(&e) => continue,
            Err(e) => {
                left.push(format!(
                    "{}: {} (listing failed: {})",
                    member.context,
                    resource.plural,
                    message(&e)
                ));
                continue;
            }
        };
        for obj in list.items {
            let created = Created {
                cluster: member.clone(),
                resource: resource.clone(),
                namespace: obj.metadata.namespace.clone(),
                name: obj.metadata.name.clone().unwrap_or_default(),
            };
            match created.delete().await {
                Ok(()) => {
                    count += 1;
                    let at = created
                        .namespace
                        .as_deref()
                        .map(|n| format!(" in {n}"))
                        .unwrap_or_default();
                    let _ = output::print_stdout(&format!("{} deleted{at}\n", created.describe()));
                }
                Err(e) => left.push(format!("{} ({e})", created.describe())),
            }
        }
    }
    count
}

/// Deletes one object; already gone is fine; prints the kubectl-style line; failures go to `left`.
async fn delete_one<K>(cluster: &Host, api: Api<K>, name: &str, left: &mut Vec<String>)
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let ar = ApiResource::erase::<K>(&());
    let created = Created {
        cluster: cluster.clone(),
        resource: ar,
        namespace: api.namespace().map(str::to_string),
        name: name.to_string(),
    };
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {
            let _ = output::print_stdout(&format!("{} deleted\n", created.describe()));
        }
        Err(e) if is_not_found(&e) => {}
        Err(e) => left.push(format!("{} ({})", created.describe(), message(&e))),
    }
}

/// Whether the object carries join's managed-by label.
async fn is_ours<K>(api: Api<K>, name: &str) -> bool
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    matches!(api.get_opt(name).await, Ok(Some(o)) if o.meta().labels.as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL)).is_some_and(|v| v == MANAGED_BY_VALUE))
}

/// Deletes the member's kubefed namespace when join created it and no identity of ours is left in it.
async fn remove_namespace_if_ours(member: &Host, names: &JoinNames, left: &mut Vec<String>) {
    if !is_ours(Api::<Namespace>::all(member.client.clone()), &names.namespace).await {
        return;
    }
    let sas: Api<ServiceAccount> = Api::namespaced(member.client.clone(), &names.namespace);
    let others = sas
        .list(&ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")))
        .await
        .map(|l| {
            l.items
                .iter()
                .any(|sa| sa.metadata.name.as_deref() != Some(&names.service_account))
        })
        .unwrap_or(true);
    if !others {
        delete_one(
            member,
            Api::<Namespace>::all(member.client.clone()),
            &names.namespace,
            left,
        )
        .await;
    }
}
