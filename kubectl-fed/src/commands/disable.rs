//! `kubectl fed disable TYPE [--delete-crd]`: set the type's FederatedTypeConfig to `propagation: Disabled`
//! (federated objects are kept; member copies stay as they are), or with `--delete-crd` remove the
//! FederatedTypeConfig and the `Federated<Kind>` CRD — refused while federated objects of the type exist,
//! because deleting a CRD deletes its objects without the controller's cleanup.
//!
//! Joined members' ClusterRoles are then re-derived from the enabled types ([`crate::members::sync_grants`]).
//!
//! TYPE is matched against the enabled types first (so a type whose target CRD is gone can still be
//! disabled), then resolved by discovery as `enable` does.

use std::collections::BTreeMap;

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kubefed_core::api::constants::KUBECTL_FED_FIELD_MANAGER;
use kubefed_core::api::{FederatedTypeConfig, Toggle};
use kubefed_core::federated_api_resource;
use kubefed_core::typeinfo::{FEDERATED_GROUP, TargetType};
use serde_json::json;

use crate::cli::{DisableArgs, GlobalArgs};
use crate::client::{Connection, Host, is_not_found, message};
use crate::discovery::Discovery;
use crate::output::{self, object_ref};

/// Runs `kubectl fed disable`.
pub async fn run(global: &GlobalArgs, args: &DisableArgs) -> anyhow::Result<()> {
    let connection = Connection::from_args(global);
    let host = connection
        .connect(None)
        .await
        .context("while connecting to the host cluster")?;
    let namespace = &global.kubefed_namespace;
    let ftcs: Api<FederatedTypeConfig> = Api::namespaced(host.client.clone(), namespace);
    let ftc = find_config(&host, &ftcs, namespace, &args.type_name).await?;
    let ftc_name = ftc.metadata.name.clone().unwrap_or_default();
    let target = ftc.target();
    let ftc_ref = object_ref("FederatedTypeConfig", "core.kubefed.io", &ftc_name);
    let crd_name = format!("{}.{FEDERATED_GROUP}", ftc.spec.federated_type.plural_name);
    let crd_ref = object_ref("CustomResourceDefinition", "apiextensions.k8s.io", &crd_name);

    if args.delete_crd {
        refuse_while_instances_exist(&host, &target, &crd_name).await?;
    }
    if ftc.propagation_enabled() {
        let patch = json!({"spec": {"propagation": Toggle::Disabled}});
        let params = PatchParams {
            field_manager: Some(KUBECTL_FED_FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        ftcs.patch(&ftc_name, &params, &Patch::Merge(&patch))
            .await
            .map_err(|e| anyhow::anyhow!(message(&e)))
            .with_context(|| host.doing(format!("disabling FederatedTypeConfig {ftc_name}")))?;
        output::print_stdout(&format!("{ftc_ref} disabled\n"))?;
    } else if !args.delete_crd {
        output::print_stdout(&format!("{ftc_ref} unchanged (already disabled)\n"))?;
    }
    // Joined members' grants follow the enabled types (propagation is disabled by now).
    crate::members::sync_grants(&connection, &host, namespace).await?;
    if !args.delete_crd {
        return Ok(());
    }
    match ftcs.delete(&ftc_name, &DeleteParams::default()).await {
        Ok(_) => output::print_stdout(&format!("{ftc_ref} deleted\n"))?,
        Err(e) if is_not_found(&e) => {}
        Err(e) => {
            return Err(anyhow::anyhow!(message(&e)))
                .with_context(|| host.doing(format!("deleting FederatedTypeConfig {ftc_name}")));
        }
    }
    let crds: Api<CustomResourceDefinition> = Api::all(host.client.clone());
    match crds.delete(&crd_name, &DeleteParams::default()).await {
        Ok(_) => output::print_stdout(&format!("{crd_ref} deleted\n")),
        Err(e) if is_not_found(&e) => {
            output::print_stdout(&format!("{crd_ref} not found (already deleted)\n"))
        }
        Err(e) => {
            Err(anyhow::anyhow!(message(&e))).with_context(|| host.doing(format!("deleting CRD {crd_name}")))
        }
    }
}

/// The FederatedTypeConfig TYPE names: by config name or target names, else via discovery.
async fn find_config(
    host: &Host,
    ftcs: &Api<FederatedTypeConfig>,
    namespace: &str,
    name: &str,
) -> anyhow::Result<FederatedTypeConfig> {
    let list = match ftcs.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) if is_not_found(&e) => anyhow::bail!(
            "kubefed is not installed on the host cluster (context {:?}): it does not serve FederatedTypeConfigs; \
             nothing to disable",
            host.context
        ),
        Err(e) => {
            return Err(anyhow::anyhow!(message(&e))).with_context(|| {
                host.doing(format!("listing FederatedTypeConfigs in namespace {namespace}"))
            });
        }
    };
    let lower = name.to_ascii_lowercase();
    let matching: Vec<&FederatedTypeConfig> = list
        .iter()
        .filter(|f| f.metadata.name.as_deref() == Some(lower.as_str()) || f.target().matches(name))
        .collect();
    match matching.as_slice() {
        [one] => return Ok((*one).clone()),
        [] => {}
        several => {
            let names: Vec<&str> = several
                .iter()
                .filter_map(|f| f.metadata.name.as_deref())
                .collect();
            anyhow::bail!(
                "{name:?} is ambiguous: it names {}; use one of these names",
                names.join(", ")
            );
        }
    }
    // Short names and other spellings only discovery knows.
    let mut discovery = Discovery::new(host.clone());
    let config_name = match super::enable::resolve(&mut discovery, name).await {
        Ok(target) => target.type_config_name(),
        Err(e) => {
            return Err(e.context(format!(
                "{name:?} names no enabled type (no FederatedTypeConfig in namespace {namespace} matches it)"
            )));
        }
    };
    list.into_iter()
        .find(|f| f.metadata.name.as_deref() == Some(config_name.as_str()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{config_name} is not enabled: there is no FederatedTypeConfig {config_name} in namespace {namespace}"
            )
        })
}

/// Fails, saying how many objects exist and where, while any object of the federated type exists.
async fn refuse_while_instances_exist(
    host: &Host,
    target: &TargetType,
    crd_name: &str,
) -> anyhow::Result<()> {
    let api: Api<DynamicObject> = Api::all_with(host.client.clone(), &federated_api_resource(target));
    let mut per_namespace: BTreeMap<String, usize> = BTreeMap::new();
    let mut params = ListParams::default().limit(500);
    loop {
        let page = match api.list_metadata(&params).await {
            Ok(page) => page,
            // The CRD is already gone: no instances.
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => {
                return Err(anyhow::anyhow!(message(&e)))
                    .with_context(|| host.doing(format!("counting {} objects", target.federated_kind())));
            }
        };
        for obj in &page.items {
            let ns = obj.metadata.namespace.clone().unwrap_or_default();
            *per_namespace.entry(ns).or_default() += 1;
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    let total: usize = per_namespace.values().sum();
    if total == 0 {
        return Ok(());
    }
    let places: Vec<String> = per_namespace
        .iter()
        .map(|(ns, n)| {
            if ns.is_empty() {
                format!("{n} cluster-scoped")
            } else {
                format!("{n} in {ns}")
            }
        })
        .collect();
    let first_ns = per_namespace.keys().next().cloned().unwrap_or_default();
    let example = if first_ns.is_empty() {
        format!("kubectl delete {crd_name} --all")
    } else {
        format!("kubectl delete {crd_name} --all -n {first_ns}")
    };
    anyhow::bail!(
        "refusing to delete CRD {crd_name}: {total} {} {} ({}); deleting the CRD would delete them without \
         cleaning up their member clusters. Delete them first (e.g. `{example}`), then run this again; nothing was \
         changed",
        target.federated_kind(),
        if total == 1 {
            "object still exists"
        } else {
            "objects still exist"
        },
        places.join(", ")
    )
}
