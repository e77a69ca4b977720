//! API discovery on the host: which resource serves a kind (exact plural and scope, where the built-in
//! table can only guess), which type a user means by `deploy`, `statefulsets` or `widgets.example.com`,
//! and whether a type has an int32 `spec.replicas` (what makes `spec.retainReplicas` meaningful).
//!
//! Discovery documents are fetched per group-version and cached for the run. Name resolution is kubectl's:
//! kind, plural, singular or short name, case-insensitive, or `plural.group` / `kind.group` to pick a group;
//! a name served by several groups is an error listing the `plural.group` spellings, rather than a guess.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use futures::future::join_all;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::Api;
use kubefed_core::typeinfo::{Scope, TargetType, default_types};

use crate::client::{Host, is_not_found, message};

/// One served resource, as discovery describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub verbs: Vec<String>,
    /// Whether the resource has a `scale` subresource.
    pub has_scale: bool,
}

impl Resource {
    /// `plural.group` (or `plural` for the core group): the unambiguous spelling, and the name of the
    /// type's FederatedTypeConfig.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The target type; `has_replicas` as given (see [`Discovery::has_replicas`]).
    pub fn target(&self, has_replicas: bool) -> TargetType {
        TargetType {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
            singular: self.singular.clone(),
            scope: if self.namespaced {
                Scope::Namespaced
            } else {
                Scope::Cluster
            },
            short_names: self.short_names.clone(),
            has_replicas,
        }
    }

    /// Whether `name` names this resource (see the module docs).
    pub fn matches(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let kind = self.kind.to_ascii_lowercase();
        let simple = |n: &str| {
            n == self.plural || n == self.singular || n == kind || self.short_names.iter().any(|s| s == n)
        };
        if simple(&name) {
            return true;
        }
        // `deployments.apps`, `deployment.apps`, `deploy.apps`, `deployments.v1.apps`.
        if self.group.is_empty() {
            return false;
        }
        let Some(prefix) = name.strip_suffix(&format!(".{}", self.group)) else {
            return false;
        };
        let prefix = prefix
            .strip_suffix(&format!(".{}", self.version))
            .unwrap_or(prefix);
        simple(prefix)
    }
}

/// Turns a discovery document into resources (subresources folded into `has_scale`).
pub fn resources_of(list: &APIResourceList) -> Vec<Resource> {
    let (group, version) = match list.group_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), list.group_version.clone()),
    };
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| Resource {
            group: r
                .group
                .clone()
                .filter(|g| !g.is_empty())
                .unwrap_or_else(|| group.clone()),
            version: r
                .version
                .clone()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| version.clone()),
            kind: r.kind.clone(),
            plural: r.name.clone(),
            singular: if r.singular_name.is_empty() {
                r.kind.to_ascii_lowercase()
            } else {
                r.singular_name.clone()
            },
            namespaced: r.namespaced,
            short_names: r.short_names.clone().unwrap_or_default(),
            verbs: r.verbs.clone(),
            has_scale: list
                .resources
                .iter()
                .any(|s| s.name == format!("{}/scale", r.name)),
        })
        .collect()
}

/// Picks the one resource `name` means among `resources`, or says why none or several.
pub fn find_by_name(resources: &[Resource], name: &str) -> anyhow::Result<Resource> {
    let matches: Vec<&Resource> = resources.iter().filter(|r| r.matches(name)).collect();
    match matches.as_slice() {
        [] => anyhow::bail!(
            "the host serves no resource type named {name:?}; check the spelling (a plural, singular, kind, \
             short name or plural.group, as `kubectl api-resources` lists them), or install the CRD first"
        ),
        [one] => Ok((*one).clone()),
        several => {
            // The same resource listed twice (one version per group is fetched, so this is defensive).
            let mut names: Vec<String> = several.iter().map(|r| r.qualified_name()).collect();
            names.sort();
            names.dedup();
            if names.len() == 1 {
                return Ok(several[0].clone());
            }
            anyhow::bail!(
                "{name:?} is ambiguous: it names {}; use one of these names",
                names.join(", ")
            )
        }
    }
}

/// Whether a CRD's schema for `version` has an integer `spec.replicas` of format int32 (or no format).
pub fn crd_has_replicas(crd: &CustomResourceDefinition, version: &str) -> bool {
    crd.spec
        .versions
        .iter()
        .filter(|v| v.name == version)
        .filter_map(|v| v.schema.as_ref()?.open_api_v3_schema.as_ref())
        .filter_map(|root| {
            root.properties
                .as_ref()?
                .get("spec")?
                .properties
                .as_ref()?
                .get("replicas")
        })
        .any(|replicas| {
            replicas.type_.as_deref() == Some("integer")
                && matches!(replicas.format.as_deref(), None | Some("int32"))
        })
}

/// Cached discovery against one host.
pub struct Discovery {
    host: Host,
    lists: HashMap<String, Option<Arc<APIResourceList>>>,
}

impl Discovery {
    /// Discovery on `host`; nothing is fetched yet.
    pub fn new(host: Host) -> Self {
        Self {
            host,
            lists: HashMap::new(),
        }
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The discovery document of `api_version` (`v1`, `apps/v1`), `None` if the host does not serve it.
    pub async fn resource_list(&mut self, api_version: &str) -> anyhow::Result<Option<Arc<APIResourceList>>> {
        if let Some(cached) = self.lists.get(api_version) {
            return Ok(cached.clone());
        }
        let list = fetch(&self.host, api_version).await?;
        self.lists.insert(api_version.to_string(), list.clone());
        Ok(list)
    }

    /// The resource serving `kind` in `api_version`, `None` if the host serves no such kind.
    pub async fn resolve_kind(&mut self, api_version: &str, kind: &str) -> anyhow::Result<Option<Resource>> {
        let Some(list) = self.resource_list(api_version).await? else {
            return Ok(None);
        };
        Ok(resources_of(&list).into_iter().find(|r| r.kind == kind))
    }

    /// Every resource of the preferred version of every group the host serves.
    pub async fn all_preferred(&mut self) -> anyhow::Result<Vec<Resource>> {
        let client = &self.host.client;
        let core = client
            .list_core_api_versions()
            .await
            .map_err(|e| anyhow::anyhow!(message(&e)))
            .with_context(|| self.host.doing("listing API versions"))?;
        let groups = client
            .list_api_groups()
            .await
            .map_err(|e| anyhow::anyhow!(message(&e)))
            .with_context(|| self.host.doing("listing API groups"))?;
        let mut versions: Vec<String> = core.versions.into_iter().take(1).collect();
        versions.extend(groups.groups.into_iter().filter_map(|g| {
            g.preferred_version
                .map(|p| p.group_version)
                .or_else(|| g.versions.first().map(|v| v.group_version.clone()))
        }));
        let missing: Vec<String> = versions
            .iter()
            .filter(|v| !self.lists.contains_key(*v))
            .cloned()
            .collect();
        let fetched = join_all(missing.iter().map(|v| fetch(&self.host, v))).await;
        for (v, list) in missing.into_iter().zip(fetched) {
            match list {
                Ok(list) => {
                    self.lists.insert(v, list);
                }
                // An aggregated API that is down must not hide the others (kubectl warns likewise).
                Err(e) => tracing::warn!("skipping {v}: {e:#}"),
            }
        }
        Ok(versions
            .iter()
            .filter_map(|v| self.lists.get(v).cloned().flatten())
            .flat_map(|list| resources_of(&list))
            .collect())
    }

    /// Whether `resource` has an int32 `spec.replicas`: from the built-in table for the default types, from
    /// the CRD's schema for a CRD-defined type, else from a `scale` subresource (built-in workloads).
    pub async fn has_replicas(&self, resource: &Resource) -> anyhow::Result<bool> {
        if let Some(known) = default_types()
            .into_iter()
            .find(|t| t.group == resource.group && t.kind == resource.kind)
        {
            return Ok(known.has_replicas);
        }
        if !resource.group.is_empty() && resource.group.contains('.') {
            let crds: Api<CustomResourceDefinition> = Api::all(self.host.client.clone());
            match crds.get_opt(&resource.qualified_name()).await {
                Ok(Some(crd)) => return Ok(crd_has_replicas(&crd, &resource.version)),
                Ok(None) => {}
                Err(e) if is_not_found(&e) => {}
                // Reading CRDs may be forbidden to the user; the scale subresource is the next best answer.
                Err(e) => tracing::debug!("cannot read CRD {}: {}", resource.qualified_name(), message(&e)),
            }
        }
        Ok(resource.has_scale)
    }
}

async fn fetch(host: &Host, api_version: &str) -> anyhow::Result<Option<Arc<APIResourceList>>> {
    let result = if api_version.contains('/') {
        host.client.list_api_group_resources(api_version).await
    } else {
        host.client.list_core_api_resources(api_version).await
    };
    match result {
        Ok(list) => Ok(Some(Arc::new(list))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(anyhow::anyhow!(message(&e)))
            .with_context(|| host.doing(format!("discovering {api_version}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(value: serde_json::Value) -> APIResourceList {
        serde_json::from_value(value).expect("valid APIResourceList")
    }

    fn resources() -> Vec<Resource> {
        let apps = list(json!({"groupVersion": "apps/v1", "resources": [
            {"name": "deployments", "singularName": "deployment", "namespaced": true, "kind": "Deployment",
             "verbs": ["get"], "shortNames": ["deploy"]},
            {"name": "deployments/scale", "singularName": "", "namespaced": true, "kind": "Scale", "verbs": []},
            {"name": "statefulsets", "singularName": "statefulset", "namespaced": true, "kind": "StatefulSet",
             "verbs": ["get"], "shortNames": ["sts"]},
            {"name": "statefulsets/scale", "singularName": "", "namespaced": true, "kind": "Scale", "verbs": []},
        ]}));
        let core = list(json!({"groupVersion": "v1", "resources": [
            {"name": "events", "singularName": "event", "namespaced": true, "kind": "Event", "verbs": ["get"],
             "shortNames": ["ev"]},
            {"name": "namespaces", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["get"]},
        ]}));
        let events = list(json!({"groupVersion": "events.k8s.io/v1", "resources": [
            {"name": "events", "singularName": "event", "namespaced": true, "kind": "Event", "verbs": ["get"],
             "shortNames": ["ev"]},
        ]}));
        let widgets = list(json!({"groupVersion": "example.com/v1alpha1", "resources": [
            {"name": "widgets", "singularName": "widget", "namespaced": true, "kind": "Widget", "verbs": ["get"]},
        ]}));
        [apps, core, events, widgets]
            .iter()
            .flat_map(resources_of)
            .collect()
    }

    #[test]
    fn discovery_documents_become_resources() {
        let all = resources();
        assert_eq!(all.len(), 6, "subresources are folded in");
        let sts = &all[1];
        assert_eq!(
            (sts.qualified_name(), sts.api_version(), sts.has_scale),
            ("statefulsets.apps".into(), "apps/v1".into(), true)
        );
        let ns = all.iter().find(|r| r.kind == "Namespace").expect("namespaces");
        assert_eq!(
            (ns.singular.as_str(), ns.namespaced, ns.qualified_name()),
            ("namespace", false, "namespaces".into())
        );
        let t = sts.target(true);
        assert_eq!(
            (t.type_config_name(), t.scope, t.short_names.clone()),
            ("statefulsets.apps".into(), Scope::Namespaced, vec!["sts".into()])
        );
    }

    #[test]
    fn names_resolve_like_kubectl() {
        let all = resources();
        for (name, want) in [
            ("statefulsets", Ok("statefulsets.apps")),
            ("StatefulSet", Ok("statefulsets.apps")),
            ("sts", Ok("statefulsets.apps")),
            ("statefulset", Ok("statefulsets.apps")),
            ("statefulsets.apps", Ok("statefulsets.apps")),
            ("deploy.apps", Ok("deployments.apps")),
            ("deployments.v1.apps", Ok("deployments.apps")),
            ("widgets.example.com", Ok("widgets.example.com")),
            ("Widget", Ok("widgets.example.com")),
            ("ns", Err("serves no resource type named \"ns\"")),
            ("namespace", Ok("namespaces")),
            (
                "events",
                Err("\"events\" is ambiguous: it names events, events.events.k8s.io; use one of these names"),
            ),
            ("events.events.k8s.io", Ok("events.events.k8s.io")),
            ("gadgets", Err("serves no resource type named \"gadgets\"")),
        ] {
            let got = find_by_name(&all, name)
                .map(|r| r.qualified_name())
                .map_err(|e| e.to_string());
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "name {name}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "name {name}: {got}"),
                (got, want) => panic!("name {name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn replicas_in_a_crd_schema() {
        let crd = |replicas: serde_json::Value| -> CustomResourceDefinition {
            serde_json::from_value(json!({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "widgets.example.com"},
                "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                        "type": "object", "properties": {"spec": {"type": "object", "properties": {"replicas": replicas}}}
                    }}}]}
            }))
            .expect("valid CRD")
        };
        assert!(crd_has_replicas(
            &crd(json!({"type": "integer", "format": "int32"})),
            "v1"
        ));
        assert!(crd_has_replicas(&crd(json!({"type": "integer"})), "v1"));
        assert!(!crd_has_replicas(
            &crd(json!({"type": "integer", "format": "int64"})),
            "v1"
        ));
        assert!(!crd_has_replicas(&crd(json!({"type": "string"})), "v1"));
        assert!(
            !crd_has_replicas(&crd(json!({"type": "integer"})), "v2"),
            "other version"
        );
    }
}
