//! Which types are enabled on the host: a type is enabled when its FederatedTypeConfig exists in the
//! kubefed namespace *and* its `Federated<Kind>` CRD is served (`types.kubefed.io/v1beta1`). Either one
//! missing means objects of the type cannot be stored or will never propagate; the fix is the same
//! `kubectl fed enable <type>`, which the messages here name.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use kube::Api;
use kube::api::ListParams;
use kubefed_core::api::FederatedTypeConfig;
use kubefed_core::api::constants::FEDERATED_API_VERSION;
use kubefed_core::typeinfo::TargetType;

use crate::client::{is_not_found, message};
use crate::discovery::{Discovery, resources_of};

/// The FederatedTypeConfigs and the served federated resources of the host.
#[derive(Clone, Debug, Default)]
pub struct EnabledTypes {
    /// The kubefed namespace, for messages.
    pub namespace: String,
    configs: HashMap<String, FederatedTypeConfig>,
    served: HashSet<String>,
}

/// Whether a target type can be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeState {
    /// FederatedTypeConfig and CRD present, propagation enabled.
    Enabled,
    /// Both present, but propagation is disabled: objects are stored and not propagated.
    PropagationDisabled,
    /// No FederatedTypeConfig, or no CRD: the reason, with the command that fixes it.
    NotEnabled(String),
}

impl EnabledTypes {
    /// Reads the FederatedTypeConfigs of `namespace` and the served federated resources.
    pub async fn load(discovery: &mut Discovery, namespace: &str) -> anyhow::Result<Self> {
        let host = discovery.host().clone();
        let api: Api<FederatedTypeConfig> = Api::namespaced(host.client.clone(), namespace);
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            Err(e) if is_not_found(&e) => anyhow::bail!(
                "kubefed is not installed on the host cluster (context {:?}): it does not serve \
                 FederatedTypeConfigs (core.kubefed.io/v1beta1); install the kubefed chart first",
                host.context
            ),
            Err(e) => {
                return Err(anyhow::anyhow!(message(&e))).with_context(|| {
                    host.doing(format!("listing FederatedTypeConfigs in namespace {namespace}"))
                });
            }
        };
        let configs = list
            .items
            .into_iter()
            .filter_map(|ftc| Some((ftc.metadata.name.clone()?, ftc)))
            .collect();
        let served = match discovery.resource_list(FEDERATED_API_VERSION).await? {
            Some(list) => resources_of(&list).into_iter().map(|r| r.plural).collect(),
            None => HashSet::new(),
        };
        Ok(Self {
            namespace: namespace.to_string(),
            configs,
            served,
        })
    }

    /// The target types of every FederatedTypeConfig.
    pub fn targets(&self) -> impl Iterator<Item = TargetType> + '_ {
        self.configs.values().map(FederatedTypeConfig::target)
    }

    /// Whether objects of `target` can be applied, and if not, what to run.
    pub fn state(&self, target: &TargetType) -> TypeState {
        let name = target.type_config_name();
        let enable = format!("run `kubectl fed enable {name}`");
        let Some(ftc) = self.configs.get(&name) else {
            return TypeState::NotEnabled(format!(
                "{} is not enabled for federation on the host (no FederatedTypeConfig {name} in namespace {}); \
                 {enable}",
                target.kind, self.namespace
            ));
        };
        if !self.served.contains(&target.federated_plural()) {
            return TypeState::NotEnabled(format!(
                "{} is not fully enabled on the host: FederatedTypeConfig {name} exists but the CRD {}.{} is not \
                 installed; {enable}",
                target.kind,
                target.federated_plural(),
                kubefed_core::FEDERATED_GROUP
            ));
        }
        if ftc.propagation_enabled() {
            TypeState::Enabled
        } else {
            TypeState::PropagationDisabled
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubefed_core::api::Toggle;
    use kubefed_core::find_default_type;

    #[test]
    fn states_name_the_fix() {
        let deploy = find_default_type("deployments").expect("default");
        let cm = find_default_type("configmaps").expect("default");
        let svc = find_default_type("services").expect("default");
        let mut types = EnabledTypes {
            namespace: "kube-federation-system".into(),
            ..EnabledTypes::default()
        };
        for t in [&deploy, &cm] {
            types.configs.insert(
                t.type_config_name(),
                FederatedTypeConfig::for_target(t, "kube-federation-system"),
            );
        }
        if let Some(ftc) = types.configs.get_mut("configmaps") {
            ftc.spec.propagation = Toggle::Disabled;
        }
        types.served.insert("federateddeployments".into());
        types.served.insert("federatedconfigmaps".into());
        assert_eq!(types.state(&deploy), TypeState::Enabled);
        assert_eq!(types.state(&cm), TypeState::PropagationDisabled);
        assert_eq!(
            types.state(&svc),
            TypeState::NotEnabled(
                "Service is not enabled for federation on the host (no FederatedTypeConfig services in namespace \
                 kube-federation-system); run `kubectl fed enable services`"
                    .into()
            )
        );
        types.served.remove("federateddeployments");
        let TypeState::NotEnabled(why) = types.state(&deploy) else {
            panic!("enabled without CRD")
        };
        assert!(why.contains("CRD federateddeployments.types.kubefed.io is not installed; run `kubectl fed enable deployments.apps`"), "{why}");
        assert_eq!(types.targets().count(), 2);
    }
}
