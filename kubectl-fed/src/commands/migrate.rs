//! `kubectl fed migrate`: finds a KubeFed v0.10 installation on the host (its controller and webhook
//! Deployments, its webhook configurations, the federated CRDs' status schema, FederatedTypeConfigs,
//! KubeFedClusters, the KubeFedConfig) and prints the steps of docs/migration.md that apply
//! ([`KubeFedInstall::plan`]); with `--yes` it does the host-side ones in that order, stopping at the first
//! problem. Installing the chart stays the user's (`helm install`): the plan says how.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kubefed_core::api::constants::KUBEFED_CONFIG_NAME;
use kubefed_core::api::{FederatedTypeConfig, KubeFedCluster, KubeFedConfig, Toggle};
use kubefed_core::migration::{
    KUBEFED_CONTROLLER_DEPLOYMENT, KUBEFED_WEBHOOK, KubeFedInstall, Step, WebhookConfig,
    missing_status_fields, with_current_status_schema,
};
use serde_json::{Value, json};

use crate::cli::{GlobalArgs, MigrateArgs};
use crate::client::{Connection, Host, is_not_found, message};
use crate::output;

/// The field manager of the CRD upgrade (server-side apply).
const FIELD_MANAGER: &str = "kubectl-fed-migrate";

/// Runs `kubectl fed migrate`.
pub async fn run(global: &GlobalArgs, args: &MigrateArgs) -> anyhow::Result<()> {
    let host = Connection::from_args(global)
        .connect(None)
        .await
        .context("while connecting to the host cluster")?;
    let mut install = inspect(&host, &global.kubefed_namespace).await?;
    install.keep_kubefed_annotations_requested = args.keep_kubefed_annotations;
    if args.keep_kubefed_annotations && install.keeps_kubefed_annotations.is_none() {
        anyhow::bail!(
            "--keep-kubefed-annotations: there is no KubeFedConfig {}/{KUBEFED_CONFIG_NAME} to set it in. Install \
             kubefed-rs with `--set kubefedConfig.syncController.propagateTemplateAnnotations=Disabled` instead, or leave the flag out",
            global.kubefed_namespace
        );
    }
    let mut out = String::new();
    if !install.found() {
        out.push_str(&format!(
            "No KubeFed installation found in namespace {} (no Deployment {KUBEFED_CONTROLLER_DEPLOYMENT} or \
             {KUBEFED_WEBHOOK}, no webhook configuration calling {KUBEFED_WEBHOOK}).\n",
            global.kubefed_namespace
        ));
    }
    out.push_str("Found:\n");
    for f in install.findings() {
        out.push_str(&format!("  - {f}\n"));
    }
    let plan = install.plan();
    if !args.yes {
        out.push_str("Would change, in this order (docs/migration.md):\n");
        for (i, s) in plan.iter().enumerate() {
            out.push_str(&format!("  {}. {s}\n", i + 1));
        }
        out.push_str(
            "Nothing was changed (dry run). `kubectl fed migrate --yes` does the host-side steps.\n",
        );
        return output::print_stdout(&out);
    }

    out.push_str("Doing the host-side steps (docs/migration.md):\n");
    output::print_stdout(&out)?;
    let steps: Vec<&Step> = plan.iter().filter(|s| s.host_side()).collect();
    if steps.is_empty() {
        output::print_stdout("  nothing to do: the host-side steps are done.\n")?;
    }
    for (i, step) in steps.iter().enumerate() {
        output::print_stdout(&format!("  {}. {step} ...", i + 1))?;
        if let Err(e) = execute(&host, &install.namespace, step, args).await {
            output::print_stdout(" failed\n")?;
            return Err(e.context(format!(
                "step {} failed; the steps after it were not done. Fix the cause and run `kubectl fed migrate \
                 --yes` again (done steps are skipped), or roll back as docs/migration.md#rollback says",
                i + 1
            )));
        }
        output::print_stdout(" done\n")?;
    }
    let mut next = String::from("Next:\n");
    for s in plan.iter().filter(|s| !s.host_side()) {
        next.push_str(&format!("  - {s}\n"));
    }
    if steps
        .iter()
        .any(|s| matches!(s, Step::DeleteWebhookConfig { .. }))
    {
        next.push_str(&format!(
            "Rollback: `kubectl apply -f {}` restores KubeFed's webhook configurations; then scale its \
             Deployments back up (docs/migration.md#rollback).\n",
            args.backup_dir.display()
        ));
    }
    output::print_stdout(&next)
}

/// Does one host-side step.
async fn execute(host: &Host, ns: &str, step: &Step, args: &MigrateArgs) -> anyhow::Result<()> {
    let client = host.client.clone();
    match step {
        Step::UpgradeCrds { outdated } => {
            let crds: Api<CustomResourceDefinition> = Api::all(client);
            let ours: Vec<CustomResourceDefinition> = kubefed_core::crds::core_crds()
                .into_iter()
                .chain(kubefed_core::crds::default_federated_crds())
                .collect();
            let params = PatchParams::apply(FIELD_MANAGER).force();
            for crd in &ours {
                let name = crd.metadata.name.clone().unwrap_or_default();
                crds.patch(&name, &params, &Patch::Apply(crd))
                    .await
                    .map_err(|e| anyhow::anyhow!(message(&e)))
                    .with_context(|| host.doing(format!("applying CustomResourceDefinition {name}")))?;
            }
            // Federated CRDs we do not ship (made by `kubefedctl enable`): only their status schema changes.
            for name in outdated {
                if ours.iter().any(|c| c.metadata.name.as_ref() == Some(name)) {
                    continue;
                }
                let current = crds
                    .get(name)
                    .await
                    .map_err(|e| anyhow::anyhow!(message(&e)))
                    .with_context(|| host.doing(format!("reading CustomResourceDefinition {name}")))?;
                if let Some(upgraded) = with_current_status_schema(&current) {
                    // A replace carries the resourceVersion read: a concurrent change fails it, never lost.
                    crds.replace(name, &PostParams::default(), &upgraded)
                        .await
                        .map_err(|e| anyhow::anyhow!(message(&e)))
                        .with_context(|| {
                            host.doing(format!(
                                "updating the status schema of CustomResourceDefinition {name}"
                            ))
                        })?;
                }
            }
            let federated = ours
                .iter()
                .filter(|c| c.spec.group == kubefed_core::FEDERATED_GROUP)
                .filter_map(|c| c.metadata.name.clone())
                .chain(outdated.iter().cloned());
            for name in federated {
                let now = crds
                    .get(&name)
                    .await
                    .map_err(|e| anyhow::anyhow!(message(&e)))
                    .with_context(|| host.doing(format!("reading CustomResourceDefinition {name}")))?;
                let missing = missing_status_fields(&now);
                anyhow::ensure!(
                    missing.is_empty(),
                    "CustomResourceDefinition {name} still lacks {} after the upgrade; another field manager \
                     may own its status schema (see `kubectl get crd {name} --show-managed-fields -o yaml`)",
                    missing.join(", ")
                );
            }
            Ok(())
        }
        Step::KeepKubeFedAnnotations => {
            let configs: Api<KubeFedConfig> = Api::namespaced(client, ns);
            let patch = json!({"spec": {"syncController": {"propagateTemplateAnnotations": "Disabled"}}});
            let doing = || host.doing(format!("patching KubeFedConfig {ns}/{KUBEFED_CONFIG_NAME}"));
            let patched = configs
                .patch(
                    KUBEFED_CONFIG_NAME,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map_err(|e| anyhow::anyhow!(message(&e)))
                .with_context(doing)?;
            // KubeFed's own CRD prunes the field silently: check it stuck.
            anyhow::ensure!(
                patched
                    .spec
                    .sync_controller
                    .and_then(|s| s.propagate_template_annotations)
                    == Some(Toggle::Disabled),
                "KubeFedConfig {ns}/{KUBEFED_CONFIG_NAME} dropped syncController.propagateTemplateAnnotations: its \
                 CRD is still KubeFed's; apply charts/kubefed/crds/kubefedconfigs.core.kubefed.io.yaml with \
                 `kubectl apply --server-side --force-conflicts` and re-run"
            );
            Ok(())
        }
        Step::ScaleDown {
            namespace,
            deployment,
            ..
        } => scale_down(host, namespace, deployment, args.timeout).await,
        Step::DeleteWebhookConfig { kind, name } => {
            if *kind == "MutatingWebhookConfiguration" {
                let api: Api<MutatingWebhookConfiguration> = Api::all(client);
                save_then_delete(host, &api, kind, name, &args.backup_dir).await
            } else {
                let api: Api<ValidatingWebhookConfiguration> = Api::all(client);
                save_then_delete(host, &api, kind, name, &args.backup_dir).await
            }
        }
        Step::InstallChart { .. } | Step::Members { .. } => Ok(()),
    }
}

/// Scales `ns/name` to 0 and waits until it reports no pods (a Deployment without status counts as stopped).
async fn scale_down(host: &Host, ns: &str, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let deployments: Api<Deployment> = Api::namespaced(host.client.clone(), ns);
    deployments
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 0}})),
        )
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| host.doing(format!("scaling Deployment {ns}/{name} to 0")))?;
    let deadline = Instant::now() + timeout;
    loop {
        let d = deployments
            .get(name)
            .await
            .map_err(|e| anyhow::anyhow!(message(&e)))
            .with_context(|| host.doing(format!("reading Deployment {ns}/{name}")))?;
        let pods = d.status.and_then(|s| s.replicas).unwrap_or(0);
        if pods == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "Deployment {ns}/{name} still has {pods} pod(s) {}s after being scaled to 0; check `kubectl -n \
                 {ns} get pods` (a stuck pod can be deleted) or pass a longer --timeout",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Writes the webhook configuration to `<dir>/<kind>-<name>.yaml` (without server-set fields, so `kubectl
/// apply -f` restores it), then deletes exactly the object saved (uid precondition).
async fn save_then_delete<K>(
    host: &Host,
    api: &Api<K>,
    kind: &str,
    name: &str,
    dir: &std::path::Path,
) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object = match api.get_opt(name).await {
        Ok(Some(o)) => o,
        // Gone meanwhile: nothing to save or delete.
        Ok(None) => return Ok(()),
        Err(e) => {
            return Err(anyhow::anyhow!(message(&e)))
                .with_context(|| host.doing(format!("reading {kind} {name}")));
        }
    };
    let uid = object.meta().uid.clone();
    let mut value = serde_json::to_value(&object).context("cannot encode the webhook configuration")?;
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        for server_set in [
            "managedFields",
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "generation",
        ] {
            meta.remove(server_set);
        }
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
    let path = dir.join(format!("{}-{name}.yaml", kind.to_ascii_lowercase()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot create the backup file {} (an existing backup is never overwritten: move it or pass \
                 another --backup-dir)",
                path.display()
            )
        })?;
    file.write_all(output::to_yaml(&value)?.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write the backup file {}", path.display()))?;
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(anyhow::anyhow!(message(&e)))
            .with_context(|| host.doing(format!("deleting {kind} {name} (saved in {})", path.display()))),
    }
}

/// Reads what of KubeFed is on the host. A kind the host does not serve counts as absent.
async fn inspect(host: &Host, ns: &str) -> anyhow::Result<KubeFedInstall> {
    let client = host.client.clone();
    let reading = |what: &str| host.doing(format!("reading {what}"));

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let replicas = |d: Option<Deployment>| d.map(|d| d.spec.and_then(|s| s.replicas).unwrap_or(1));
    let controller = deployments
        .get_opt(KUBEFED_CONTROLLER_DEPLOYMENT)
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| reading(&format!("Deployment {ns}/{KUBEFED_CONTROLLER_DEPLOYMENT}")))?;
    let webhook = deployments
        .get_opt(KUBEFED_WEBHOOK)
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| reading(&format!("Deployment {ns}/{KUBEFED_WEBHOOK}")))?;
    let ours = deployments
        .list(
            &ListParams::default()
                .labels("app.kubernetes.io/name=kubefed,app.kubernetes.io/component=controller"),
        )
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| reading("Deployments"))?;

    let calls_kubefed = |svc: Option<&k8s_openapi::api::admissionregistration::v1::ServiceReference>| {
        svc.is_some_and(|s| s.name == KUBEFED_WEBHOOK && s.namespace == ns)
    };
    let mut webhooks = Vec::new();
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    for c in validating
        .list(&ListParams::default())
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| reading("ValidatingWebhookConfigurations"))?
    {
        let hooks = c.webhooks.unwrap_or_default();
        if hooks
            .iter()
            .any(|w| calls_kubefed(w.client_config.service.as_ref()))
        {
            webhooks.push(WebhookConfig {
                kind: "ValidatingWebhookConfiguration",
                name: c.metadata.name.unwrap_or_default(),
                fail_closed_on: fail_closed(
                    hooks
                        .iter()
                        .map(|w| (w.failure_policy.as_deref(), w.rules.as_deref())),
                ),
            });
        }
    }
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    for c in mutating
        .list(&ListParams::default())
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| reading("MutatingWebhookConfigurations"))?
    {
        let hooks = c.webhooks.unwrap_or_default();
        if hooks
            .iter()
            .any(|w| calls_kubefed(w.client_config.service.as_ref()))
        {
            webhooks.push(WebhookConfig {
                kind: "MutatingWebhookConfiguration",
                name: c.metadata.name.unwrap_or_default(),
                fail_closed_on: fail_closed(
                    hooks
                        .iter()
                        .map(|w| (w.failure_policy.as_deref(), w.rules.as_deref())),
                ),
            });
        }
    }

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut federated_crds = Vec::new();
    let mut outdated_crds = Vec::new();
    for crd in crds
        .list(&ListParams::default())
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| reading("CustomResourceDefinitions"))?
    {
        if crd.spec.group != kubefed_core::FEDERATED_GROUP {
            continue;
        }
        let name = crd.metadata.name.clone().unwrap_or_default();
        let missing = missing_status_fields(&crd);
        if !missing.is_empty() {
            outdated_crds.push((name.clone(), missing));
        }
        federated_crds.push(name);
    }

    let count = |r: Result<usize, kube::Error>, what: &str| -> anyhow::Result<usize> {
        match r {
            Ok(n) => Ok(n),
            Err(e) if is_not_found(&e) => Ok(0),
            Err(e) => Err(anyhow::anyhow!(message(&e))).with_context(|| reading(what)),
        }
    };
    let ftcs: Api<FederatedTypeConfig> = Api::namespaced(client.clone(), ns);
    let type_configs = count(
        ftcs.list_metadata(&ListParams::default())
            .await
            .map(|l| l.items.len()),
        "FederatedTypeConfigs",
    )?;
    let kfcs: Api<KubeFedCluster> = Api::namespaced(client.clone(), ns);
    let clusters = count(
        kfcs.list_metadata(&ListParams::default())
            .await
            .map(|l| l.items.len()),
        "KubeFedClusters",
    )?;
    let configs: Api<KubeFedConfig> = Api::namespaced(client, ns);
    let keeps_kubefed_annotations = match configs.get_opt(KUBEFED_CONFIG_NAME).await {
        Ok(c) => c.map(|c| {
            c.spec
                .sync_controller
                .and_then(|s| s.propagate_template_annotations)
                == Some(Toggle::Disabled)
        }),
        Err(e) if is_not_found(&e) => None,
        Err(e) => {
            return Err(anyhow::anyhow!(message(&e))).with_context(|| reading("the KubeFedConfig"));
        }
    };

    federated_crds.sort();
    outdated_crds.sort();
    Ok(KubeFedInstall {
        namespace: ns.to_string(),
        controller_replicas: replicas(controller),
        webhook_replicas: replicas(webhook),
        webhooks,
        federated_crds,
        outdated_crds,
        type_configs,
        clusters,
        keeps_kubefed_annotations,
        kubefed_rs_installed: !ours.items.is_empty(),
        keep_kubefed_annotations_requested: false,
    })
}

/// The resources that webhooks with `failurePolicy: Fail` (the default when unset) intercept.
fn fail_closed<'a>(
    hooks: impl Iterator<
        Item = (
            Option<&'a str>,
            Option<&'a [k8s_openapi::api::admissionregistration::v1::RuleWithOperations]>,
        ),
    >,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (policy, rules) in hooks {
        if policy.is_some_and(|p| p != "Fail") {
            continue;
        }
        for r in rules.unwrap_or_default() {
            for res in r.resources.as_deref().unwrap_or_default() {
                if !res.contains('/') && !out.contains(res) {
                    out.push(res.clone());
                }
            }
        }
    }
    out
}
