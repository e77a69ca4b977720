//! Migration from a KubeFed v0.10 Helm install (docs/migration.md): what of KubeFed is on a host
//! ([`KubeFedInstall`], filled in by `kubectl fed migrate`) and the steps that take it over ([`KubeFedInstall::plan`]).
//! Also which federated CRDs still have KubeFed's status schema ([`missing_status_fields`]), the reason the
//! controller falls back to KubeFed-shaped status.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// KubeFed's controller Deployment in its namespace.
pub const KUBEFED_CONTROLLER_DEPLOYMENT: &str = "kubefed-controller-manager";
/// KubeFed's admission webhook Deployment and Service in its namespace.
pub const KUBEFED_WEBHOOK: &str = "kubefed-admission-webhook";

/// The status fields kubefed-rs writes that `crd`'s schema lacks, e.g. `status.aggregated` for a CRD of
/// KubeFed v0.10; empty when the CRD is ours (or keeps unknown status fields). Looks at every version.
pub fn missing_status_fields(crd: &CustomResourceDefinition) -> Vec<&'static str> {
    let mut missing = Vec::new();
    for v in &crd.spec.versions {
        let Some(schema) = v.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref()) else {
            continue;
        };
        let Ok(schema) = serde_json::to_value(schema) else {
            continue;
        };
        let status = &schema["properties"]["status"];
        if status["x-kubernetes-preserve-unknown-fields"] == Value::Bool(true) {
            continue;
        }
        let mut lacks = |field: &'static str, present: bool| {
            if !present && !missing.contains(&field) {
                missing.push(field);
            }
        };
        lacks(
            "status.aggregated",
            status["properties"].get("aggregated").is_some(),
        );
        lacks(
            "status.conditions[].message",
            status["properties"]["conditions"]["items"]["properties"]
                .get("message")
                .is_some(),
        );
    }
    missing
}

/// One of KubeFed's webhook configurations (its webhooks call the `kubefed-admission-webhook` Service).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `ValidatingWebhookConfiguration` or `MutatingWebhookConfiguration`.
    pub kind: &'static str,
    /// Its name, e.g. `validations.core.kubefed.io`.
    pub name: String,
    /// The resources its `failurePolicy: Fail` webhooks intercept (empty: none fail closed).
    pub fail_closed_on: Vec<String>,
}

/// What of KubeFed (and of the objects both share) is on a host cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeFedInstall {
    /// The KubeFed namespace looked in.
    pub namespace: String,
    /// Replicas of `kubefed-controller-manager`; `None` when there is no such Deployment.
    pub controller_replicas: Option<i32>,
    /// Replicas of `kubefed-admission-webhook`; `None` when there is no such Deployment.
    pub webhook_replicas: Option<i32>,
    /// KubeFed's webhook configurations.
    pub webhooks: Vec<WebhookConfig>,
    /// Every federated CRD (`*.types.kubefed.io`) by name.
    pub federated_crds: Vec<String>,
    /// The federated CRDs with KubeFed's status schema, and what they lack.
    pub outdated_crds: Vec<(String, Vec<&'static str>)>,
    /// FederatedTypeConfigs in the namespace.
    pub type_configs: usize,
    /// KubeFedClusters in the namespace.
    pub clusters: usize,
    /// The KubeFedConfig `kubefed`: `None` when absent, else whether it has
    /// `syncController.propagateTemplateAnnotations: Disabled`.
    pub keeps_kubefed_annotations: Option<bool>,
    /// Whether kubefed-rs's controller Deployment is already there (any Deployment with
    /// `app.kubernetes.io/name=kubefed,app.kubernetes.io/component=controller`).
    pub kubefed_rs_installed: bool,
    /// Whether the user asked to keep KubeFed's template-annotation semantics (`--keep-kubefed-annotations`).
    pub keep_kubefed_annotations_requested: bool,
}

impl KubeFedInstall {
    /// Whether anything of KubeFed's own (its Deployments or webhook configurations) is on the host.
    pub fn found(&self) -> bool {
        self.controller_replicas.is_some() || self.webhook_replicas.is_some() || !self.webhooks.is_empty()
    }

    /// What was found, one line each.
    pub fn findings(&self) -> Vec<String> {
        let ns = &self.namespace;
        let mut out = Vec::new();
        let deployment = |name: &str, r: Option<i32>| match r {
            Some(r) => format!(
                "Deployment {ns}/{name}: {r} replica{}",
                if r == 1 { "" } else { "s" }
            ),
            None => format!("Deployment {ns}/{name}: not found"),
        };
        out.push(deployment(
            KUBEFED_CONTROLLER_DEPLOYMENT,
            self.controller_replicas,
        ));
        out.push(deployment(KUBEFED_WEBHOOK, self.webhook_replicas));
        for w in &self.webhooks {
            if w.fail_closed_on.is_empty() {
                out.push(format!("{} {}", w.kind, w.name));
            } else {
                out.push(format!(
                    "{} {}: failurePolicy Fail on {}",
                    w.kind,
                    w.name,
                    w.fail_closed_on.join(", ")
                ));
            }
        }
        out.push(format!(
            "{} federated CRDs, {} with KubeFed's status schema{}",
            self.federated_crds.len(),
            self.outdated_crds.len(),
            self.outdated_crds
                .first()
                .map(|(_, lacks)| format!(" (lacking {})", lacks.join(", ")))
                .unwrap_or_default()
        ));
        out.push(format!(
            "{} FederatedTypeConfigs, {} KubeFedClusters in {ns}",
            self.type_configs, self.clusters
        ));
        out.push(match self.keeps_kubefed_annotations {
            None => format!("KubeFedConfig {ns}/kubefed: not found"),
            Some(true) => {
                format!("KubeFedConfig {ns}/kubefed: syncController.propagateTemplateAnnotations: Disabled")
            }
            Some(false) => format!("KubeFedConfig {ns}/kubefed"),
        });
        if self.kubefed_rs_installed {
            out.push("kubefed-rs's controller is already installed".to_string());
        }
        out
    }

    /// The steps of docs/migration.md that apply here, in order. `kubectl fed migrate --dry-run` prints
    /// them; `--yes` does the host-side ones ([`Step::host_side`]) in this order.
    pub fn plan(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        if !self.outdated_crds.is_empty() {
            steps.push(Step::UpgradeCrds {
                outdated: self.outdated_crds.iter().map(|(n, _)| n.clone()).collect(),
            });
        }
        if self.keep_kubefed_annotations_requested && self.keeps_kubefed_annotations == Some(false) {
            steps.push(Step::KeepKubeFedAnnotations);
        }
        if let Some(from) = self.controller_replicas.filter(|r| *r > 0) {
            steps.push(Step::ScaleDown {
                namespace: self.namespace.clone(),
                deployment: KUBEFED_CONTROLLER_DEPLOYMENT,
                from,
            });
        }
        for w in &self.webhooks {
            steps.push(Step::DeleteWebhookConfig {
                kind: w.kind,
                name: w.name.clone(),
            });
        }
        if let Some(from) = self.webhook_replicas.filter(|r| *r > 0) {
            steps.push(Step::ScaleDown {
                namespace: self.namespace.clone(),
                deployment: KUBEFED_WEBHOOK,
                from,
            });
        }
        if !self.kubefed_rs_installed {
            steps.push(Step::InstallChart {
                namespace: self.namespace.clone(),
            });
        }
        steps.push(Step::Members {
            keeps_kubefed_annotations: self.keeps_kubefed_annotations == Some(true)
                || (self.keep_kubefed_annotations_requested && self.keeps_kubefed_annotations.is_some()),
        });
        steps
    }
}

/// One step of the migration (docs/migration.md), as planned by [`KubeFedInstall::plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Server-side apply of the chart's CRDs (and our status schema into other federated CRDs): no CRD is
    /// deleted, so no object is lost. `outdated` are the CRDs that still have KubeFed's status schema.
    UpgradeCrds { outdated: Vec<String> },
    /// Set `syncController.propagateTemplateAnnotations: Disabled` in the KubeFedConfig (after the CRD
    /// upgrade: KubeFed's schema would prune the field).
    KeepKubeFedAnnotations,
    /// Scale one of KubeFed's Deployments in the KubeFed namespace to 0.
    ScaleDown {
        namespace: String,
        deployment: &'static str,
        from: i32,
    },
    /// Delete one of KubeFed's webhook configurations (saved first, for rollback).
    DeleteWebhookConfig { kind: &'static str, name: String },
    /// Install the kubefed-rs chart (left to the user: `helm install`).
    InstallChart { namespace: String },
    /// What happens in the member clusters once kubefed-rs's controller runs.
    Members { keeps_kubefed_annotations: bool },
}

impl Step {
    /// Whether `kubectl fed migrate --yes` does this step (the others are the user's: installing the chart,
    /// and what then happens in the members).
    pub fn host_side(&self) -> bool {
        !matches!(self, Step::InstallChart { .. } | Step::Members { .. })
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::UpgradeCrds { outdated } => write!(
                f,
                "upgrade the CRDs in place (no object is deleted): `kubectl apply --server-side --force-conflicts \
                 -f charts/kubefed/crds/` — KubeFed-shaped now: {}",
                outdated.join(", ")
            ),
            Step::KeepKubeFedAnnotations => f.write_str(
                "set KubeFedConfig syncController.propagateTemplateAnnotations: Disabled (KubeFed's semantics: \
                 template annotations are not propagated)",
            ),
            Step::ScaleDown {
                namespace,
                deployment,
                from,
            } => write!(
                f,
                "{}scale Deployment {namespace}/{deployment} from {from} to 0",
                if *deployment == KUBEFED_WEBHOOK { "then " } else { "" }
            ),
            Step::DeleteWebhookConfig { kind, name } => {
                write!(f, "delete {kind} {name} (save it first for rollback)")
            }
            Step::InstallChart { namespace } => write!(
                f,
                "`helm install kubefed-rs charts/kubefed -n {namespace} --set federatedTypeConfigs.create=false \
                 --set kubefedConfig.create=false` (keeps KubeFed's FederatedTypeConfigs and KubeFedConfig)"
            ),
            Step::Members {
                keeps_kubefed_annotations: true,
            } => f.write_str(
                "members: no change beyond metadata ownership (template annotations are not propagated, as \
                 with KubeFed)",
            ),
            Step::Members {
                keeps_kubefed_annotations: false,
            } => f.write_str(
                "members: every member object is written once; template annotations are added, so objects \
                 whose template has annotations (Deployments) get a new metadata.generation — no pod restarts. \
                 To avoid it, set KubeFedConfig syncController.propagateTemplateAnnotations: Disabled (after the \
                 CRD upgrade; `kubectl fed migrate --yes --keep-kubefed-annotations` does it)",
            ),
        }
    }
}

/// `crd` (a federated CRD we do not ship, e.g. one `kubefedctl enable` made) with kubefed-rs's status schema
/// in every version; `None` when it already has it. Only `status` changes: its spec schema (the template's
/// validation) stays KubeFed's.
pub fn with_current_status_schema(crd: &CustomResourceDefinition) -> Option<CustomResourceDefinition> {
    if missing_status_fields(crd).is_empty() {
        return None;
    }
    let ours = crate::crds::federated_crd(&crate::typeinfo::find_default_type("configmaps")?);
    let status = ours
        .spec
        .versions
        .first()?
        .schema
        .as_ref()?
        .open_api_v3_schema
        .as_ref()?
        .properties
        .as_ref()?
        .get("status")?
        .clone();
    let mut out = crd.clone();
    for v in &mut out.spec.versions {
        if let Some(props) = v
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
        {
            props.insert("status".to_string(), status.clone());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typeinfo::find_default_type;

    #[test]
    fn our_crds_lack_nothing_and_kubefeds_lack_aggregated_and_message() {
        let target = find_default_type("deployments").expect("default type");
        let ours = crate::crds::federated_crd(&target);
        assert!(missing_status_fields(&ours).is_empty());

        let mut json = serde_json::to_value(&ours).expect("serializes");
        for v in json["spec"]["versions"].as_array_mut().expect("versions") {
            let status = &mut v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
            status.as_object_mut().expect("status").remove("aggregated");
            status["conditions"]["items"]["properties"]
                .as_object_mut()
                .expect("condition properties")
                .remove("message");
        }
        let kubefeds: CustomResourceDefinition = serde_json::from_value(json).expect("decodes");
        assert_eq!(
            missing_status_fields(&kubefeds),
            vec!["status.aggregated", "status.conditions[].message"]
        );

        // `migrate --yes` gives a CRD we do not ship our status schema, and leaves ours alone.
        assert!(with_current_status_schema(&ours).is_none());
        let upgraded = with_current_status_schema(&kubefeds).expect("KubeFed's CRD gets our status");
        assert!(missing_status_fields(&upgraded).is_empty());
        assert_eq!(upgraded.spec.names, kubefeds.spec.names);
    }

    #[test]
    fn plan_follows_the_documented_order_and_skips_what_is_done() {
        let install = KubeFedInstall {
            namespace: "kube-federation-system".into(),
            controller_replicas: Some(2),
            webhook_replicas: Some(1),
            webhooks: vec![WebhookConfig {
                kind: "ValidatingWebhookConfiguration",
                name: "validations.core.kubefed.io".into(),
                fail_closed_on: vec!["federatedtypeconfigs".into()],
            }],
            federated_crds: vec!["federateddeployments.types.kubefed.io".into()],
            outdated_crds: vec![(
                "federateddeployments.types.kubefed.io".into(),
                vec!["status.aggregated"],
            )],
            type_configs: 10,
            clusters: 2,
            keeps_kubefed_annotations: Some(false),
            kubefed_rs_installed: false,
            keep_kubefed_annotations_requested: false,
        };
        assert!(install.found());
        let plan: Vec<String> = install.plan().iter().map(ToString::to_string).collect();
        let at = |needle: &str| {
            plan.iter()
                .position(|s| s.contains(needle))
                .unwrap_or_else(|| panic!("{needle:?} not in {plan:#?}"))
        };
        assert!(at("server-side") < at("kubefed-controller-manager from 2 to 0"));
        assert!(at("kubefed-controller-manager") < at("delete ValidatingWebhookConfiguration"));
        assert!(at("delete ValidatingWebhookConfiguration") < at("kubefed-admission-webhook from 1 to 0"));
        assert!(at("kubefed-admission-webhook") < at("helm install kubefed-rs"));
        assert!(at("helm install") < at("new metadata.generation"));
        assert!(
            install
                .findings()
                .iter()
                .any(|f| f.contains("failurePolicy Fail on federatedtypeconfigs"))
        );

        // Already migrated: nothing left but the member note.
        let done = KubeFedInstall {
            controller_replicas: Some(0),
            webhook_replicas: None,
            webhooks: vec![],
            outdated_crds: vec![],
            keeps_kubefed_annotations: Some(true),
            kubefed_rs_installed: true,
            ..install
        };
        let plan = done.plan();
        assert_eq!(plan.len(), 1, "{plan:#?}");
        assert!(plan[0].to_string().contains("not propagated"));
        assert!(!plan[0].host_side());
    }
}
