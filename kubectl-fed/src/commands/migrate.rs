//! `kubectl fed migrate --dry-run`: finds a KubeFed v0.10 installation on the host (its controller and
//! webhook Deployments, its webhook configurations, the federated CRDs' status schema, FederatedTypeConfigs,
//! KubeFedClusters, the KubeFedConfig) and prints what the migration of docs/migration.md would change.
//! It only reads; doing the steps (`--yes`) is not implemented yet.

use anyhow::Context;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::ListParams;
use kubefed_core::api::constants::KUBEFED_CONFIG_NAME;
use kubefed_core::api::{FederatedTypeConfig, KubeFedCluster, KubeFedConfig, Toggle};
use kubefed_core::migration::{
    KUBEFED_CONTROLLER_DEPLOYMENT, KUBEFED_WEBHOOK, KubeFedInstall, WebhookConfig, missing_status_fields,
};

use crate::cli::{GlobalArgs, MigrateArgs};
use crate::client::{Connection, Host, is_not_found, message};
use crate::output;

/// Runs `kubectl fed migrate`.
pub async fn run(global: &GlobalArgs, args: &MigrateArgs) -> anyhow::Result<()> {
    if args.yes {
        anyhow::bail!(
            "--yes is not implemented yet: run `kubectl fed migrate --dry-run` and follow docs/migration.md step \
             by step"
        );
    }
    let host = Connection::from_args(global)
        .connect(None)
        .await
        .context("while connecting to the host cluster")?;
    let install = inspect(&host, &global.kubefed_namespace).await?;
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
    out.push_str("Would change, in this order (docs/migration.md):\n");
    for (i, s) in install.plan().iter().enumerate() {
        out.push_str(&format!("  {}. {s}\n", i + 1));
    }
    out.push_str("Nothing was changed (dry run).\n");
    output::print_stdout(&out)
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
