//! Multi-Cluster Services (KEP-1645, `multicluster.x-k8s.io/v1alpha1`): the ServiceExport and
//! ServiceImport types, and what the controller makes of the exports it sees.
//!
//! A ServiceExport next to a Service in a member cluster exports that Service to the clusterset. For every
//! exported name (namespace + name) [`plan_service`] decides, from what each cluster exports:
//! * the **ServiceImport** every member with the namespace gets (ports, `ClusterSetIP` or `Headless`,
//!   session affinity, `status.clusters`), or none when no valid export is left;
//! * the **EndpointSlices** mirrored into every such member: one per source slice with ready endpoints,
//!   labelled `multicluster.kubernetes.io/service-name`, `multicluster.kubernetes.io/source-cluster` and
//!   `endpointslice.kubernetes.io/managed-by: mcs-controller.kubefed.io`; MCS-aware DNS (CoreDNS
//!   `multicluster`) finds them by the multicluster label. Their `kubernetes.io/service-name` is never the
//!   exported Service's own (only the derived Service's, below), so no local Service takes them for its own;
//! * the **conditions** of each export: `Valid` (is there a Service, and not an ExternalName one) and
//!   `Conflict` (KEP: properties that cannot be merged — type, a port name used with different
//!   port/protocol, session affinity — are taken from the *oldest* export, by creation time then cluster
//!   name, and every export of the name says so in a `Conflict=True` condition).
//!
//! A `ClusterSetIP` import gets its virtual IP from a selector-less Service `derived-<name>` in each member
//! (as the mcs-api reference implementation does): the mirrored slices also carry
//! `kubernetes.io/service-name: derived-<name>`, so kube-proxy routes that Service's cluster IP to every
//! exporting cluster's endpoints, and the IP becomes the import's `spec.ips` (what MCS-aware DNS answers).
//!
//! Ports merge as the KEP says: the import exposes the union of the exports' ports by name; the same name
//! with a different port, protocol or appProtocol is a conflict, and the oldest export's value is used.
//!
//! The CRDs we install are upstream's (`sigs.k8s.io/mcs-api` v0.5.2, `shared/mcs-api/`), so MCS-aware DNS
//! and other tools read our objects; [`mcs_crd_files`] returns them. The Rust types below carry only the
//! fields we read and write (unknown fields are ignored on read, never written).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{Service, SessionAffinityConfig};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The MCS API group.
pub const MCS_GROUP: &str = "multicluster.x-k8s.io";
/// The MCS API version we read and write.
pub const MCS_VERSION: &str = "v1alpha1";
/// On a mirrored EndpointSlice: the exported Service's name (KEP-1645).
pub const LABEL_SERVICE_NAME: &str = "multicluster.kubernetes.io/service-name";
/// On a mirrored EndpointSlice: the cluster whose endpoints it holds (KEP-1645).
pub const LABEL_SOURCE_CLUSTER: &str = "multicluster.kubernetes.io/source-cluster";
/// The standard label naming the controller that manages an EndpointSlice.
pub const LABEL_SLICE_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The label that ties an EndpointSlice to a local Service (kube-proxy and the endpoint controllers read it).
pub const LABEL_KUBERNETES_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The standard "managed by" label, put on the ServiceImports we write.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Our name as the manager of imported ServiceImports and EndpointSlices (label values above).
pub const MCS_CONTROLLER: &str = "mcs-controller.kubefed.io";
/// Condition on a ServiceExport: whether it exports a Service that can be exported.
pub const CONDITION_VALID: &str = "Valid";
/// Condition on a ServiceExport: whether exports of the name disagree on properties that cannot be merged.
pub const CONDITION_CONFLICT: &str = "Conflict";
/// Longest condition message we write (the CRD allows 32768; kubectl output stays readable).
const MAX_MESSAGE: usize = 1024;
/// Longest mirrored EndpointSlice name (a DNS label, so it also works as a label value).
const MAX_SLICE_NAME: usize = 63;

/// Upstream's CRDs (`sigs.k8s.io/mcs-api` v0.5.2, `config/crd/`): `(file name, YAML)`, sorted. They serve
/// `v1alpha1` (what we use) and `v1beta1` (stored; same schema, no conversion webhook).
pub fn mcs_crd_files() -> Vec<(String, String)> {
    vec![
        (
            "multicluster.x-k8s.io_serviceexports.yaml".to_string(),
            include_str!("../mcs-api/multicluster.x-k8s.io_serviceexports.yaml").to_string(),
        ),
        (
            "multicluster.x-k8s.io_serviceimports.yaml".to_string(),
            include_str!("../mcs-api/multicluster.x-k8s.io_serviceimports.yaml").to_string(),
        ),
    ]
}

/// ServiceExport as a federated target type (`FederatedServiceExport`), for federating exports with the
/// Services they export (`kubectl fed enable serviceexports.multicluster.x-k8s.io` derives the same).
pub fn service_export_type() -> crate::typeinfo::TargetType {
    crate::typeinfo::TargetType {
        group: MCS_GROUP.to_string(),
        version: MCS_VERSION.to_string(),
        kind: "ServiceExport".to_string(),
        plural: "serviceexports".to_string(),
        singular: "serviceexport".to_string(),
        scope: crate::typeinfo::Scope::Namespaced,
        short_names: vec!["svcex".to_string()],
        has_replicas: false,
    }
}

/// [`mcs_crd_files`] as objects, to install them (in members, by `kubectl fed join` and the testbed).
///
/// # Panics
///
/// Only if the embedded upstream files do not parse — caught by this module's tests.
pub fn mcs_crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    mcs_crd_files()
        .into_iter()
        .map(|(name, yaml)| {
            serde_saphyr::from_str(&yaml)
                .unwrap_or_else(|e| panic!("the embedded {name} is a CustomResourceDefinition: {e}"))
        })
        .collect()
}

/// Implements `kube::Resource`, `new` and `Serialize` (with `apiVersion` and `kind`) for an MCS object.
/// Not kube's `CustomResource` derive: that makes `spec` required, and upstream's ServiceExport is usually
/// written without one (`spec` is `omitempty` there), so decoding must default it.
macro_rules! mcs_resource {
    ($ty:ident, $spec:ty, $status:ty, $kind:literal, $plural:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug, Default, PartialEq, Deserialize)]
        pub struct $ty {
            /// Standard object metadata.
            #[serde(default)]
            pub metadata: ObjectMeta,
            /// The spec (defaulted when absent).
            #[serde(default)]
            pub spec: $spec,
            /// The status.
            #[serde(default)]
            pub status: Option<$status>,
        }

        impl $ty {
            /// An object named `name` with `spec`.
            pub fn new(name: &str, spec: $spec) -> Self {
                Self {
                    metadata: ObjectMeta {
                        name: Some(name.to_string()),
                        ..ObjectMeta::default()
                    },
                    spec,
                    status: None,
                }
            }
        }

        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = k8s_openapi::NamespaceResourceScope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                MCS_GROUP.into()
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                MCS_VERSION.into()
            }
            fn api_version(_: &()) -> std::borrow::Cow<'_, str> {
                concat!("multicluster.x-k8s.io/", "v1alpha1").into()
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
                #[derive(Serialize)]
                #[serde(rename_all = "camelCase")]
                struct Repr<'a> {
                    api_version: &'a str,
                    kind: &'a str,
                    metadata: &'a ObjectMeta,
                    spec: &'a $spec,
                    #[serde(skip_serializing_if = "Option::is_none")]
                    status: &'a Option<$status>,
                }
                Repr {
                    api_version: concat!("multicluster.x-k8s.io/", "v1alpha1"),
                    kind: $kind,
                    metadata: &self.metadata,
                    spec: &self.spec,
                    status: &self.status,
                }
                .serialize(ser)
            }
        }
    };
}

mcs_resource!(
    ServiceExport,
    ServiceExportSpec,
    ServiceExportStatus,
    "ServiceExport",
    "serviceexports",
    "Marks the Service of the same namespace and name as exported to the clusterset (`multicluster.x-k8s.io/v1alpha1`)."
);
mcs_resource!(
    ServiceImport,
    ServiceImportSpec,
    ServiceImportStatus,
    "ServiceImport",
    "serviceimports",
    "A Service imported from the clusterset: how to reach it, and which clusters export it."
);

/// What a ServiceExport asks for beyond exporting.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceExportSpec {
    /// Labels to put on the ServiceImport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_labels: Option<BTreeMap<String, String>>,
    /// Annotations to put on the ServiceImport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_annotations: Option<BTreeMap<String, String>>,
}

/// What the MCS controller says about an export.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceExportStatus {
    /// `Valid`, `Conflict` (and `Ready` from implementations that write it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The spec of a ServiceImport.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceImportSpec {
    /// The ports of the imported service (union of the exports' ports by name).
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    /// Clusterset IPs, when the implementation allocates them (we do not: see docs/service-discovery.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    /// `ClusterSetIP` or `Headless`.
    #[serde(rename = "type")]
    pub type_: ServiceImportType,
    /// `ClientIP` or `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity: Option<String>,
    /// Session affinity settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_affinity_config: Option<SessionAffinityConfig>,
}

/// `ClusterSetIP` (one virtual IP for the clusterset) or `Headless` (the endpoints' addresses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ServiceImportType {
    /// Reached through a clusterset IP.
    #[default]
    ClusterSetIP,
    /// Reached at the endpoints' addresses.
    Headless,
}

/// A port of an imported service.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// The port's name ("" when the Service has a single unnamed port).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Application protocol (e.g. `http`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// The port number.
    pub port: i32,
}

/// Status of a ServiceImport.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceImportStatus {
    /// The clusters that export the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterStatus>,
}

/// One exporting cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The cluster's name (the KubeFedCluster's).
    pub cluster: String,
}

/// What one cluster exports under a name: its ServiceExport, the Service of that name (if any) and the
/// Service's EndpointSlices (those labelled `kubernetes.io/service-name`, not ours).
#[derive(Clone, Debug)]
pub struct ClusterExport {
    /// The KubeFedCluster's name.
    pub cluster: String,
    /// The ServiceExport.
    pub export: ServiceExport,
    /// The Service of the same namespace and name.
    pub service: Option<Service>,
    /// The Service's EndpointSlices in that cluster.
    pub slices: Vec<EndpointSlice>,
}

/// What every member with the namespace should hold for one exported name, and the conditions of each export.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServicePlan {
    /// The ServiceImport; `None` when no valid export is left (then ours are deleted).
    pub import: Option<ServiceImport>,
    /// The mirrored EndpointSlices, sorted by name.
    pub slices: Vec<EndpointSlice>,
    /// For a `ClusterSetIP` import: the selector-less Service named [`derived_service_name`] whose
    /// EndpointSlices are the mirrored ones, so kube-proxy routes its cluster IP to every exporting
    /// cluster's endpoints; that IP is the import's `spec.ips`.
    pub derived_service: Option<Service>,
    /// Per exporting cluster, the conditions its ServiceExport should have (ours merged into its current
    /// ones, transition times kept where the status did not change).
    pub export_conditions: BTreeMap<String, Vec<Condition>>,
}

/// A valid export, reduced to what is compared between clusters.
struct Candidate<'a> {
    cluster: &'a str,
    created: Option<&'a Time>,
    export: &'a ServiceExport,
    type_: ServiceImportType,
    ports: Vec<ServicePort>,
    session_affinity: String,
    session_affinity_config: Option<&'a SessionAffinityConfig>,
    slices: &'a [EndpointSlice],
}

/// Decides the ServiceImport, mirrored EndpointSlices and export conditions for the name
/// `namespace/name`, from what each cluster exports under it (see the module docs). `now` stamps
/// conditions whose status changes. The same input gives the same output.
pub fn plan_service(namespace: &str, name: &str, exports: &[ClusterExport], now: &Time) -> ServicePlan {
    let mut plan = ServicePlan::default();
    let mut candidates = Vec::new();
    for e in exports {
        let invalid = match &e.service {
            None => Some((
                "NoService",
                format!("there is no Service {namespace}/{name} in cluster {}", e.cluster),
            )),
            Some(svc) if svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName") => {
                Some((
                    "InvalidServiceType",
                    format!(
                        "Service {namespace}/{name} in cluster {} is of type ExternalName, which cannot be exported",
                        e.cluster
                    ),
                ))
            }
            Some(_) => None,
        };
        let conditions = match invalid {
            Some((reason, message)) => vec![condition(CONDITION_VALID, false, reason, &message)],
            None => {
                let svc = e.service.as_ref().and_then(|s| s.spec.as_ref());
                candidates.push(Candidate {
                    cluster: &e.cluster,
                    created: e.export.metadata.creation_timestamp.as_ref(),
                    export: &e.export,
                    type_: if svc.and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
                        ServiceImportType::Headless
                    } else {
                        ServiceImportType::ClusterSetIP
                    },
                    ports: svc
                        .and_then(|s| s.ports.as_ref())
                        .into_iter()
                        .flatten()
                        .map(|p| ServicePort {
                            name: p.name.clone().unwrap_or_default(),
                            protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                            app_protocol: p.app_protocol.clone(),
                            port: p.port,
                        })
                        .collect(),
                    session_affinity: svc
                        .and_then(|s| s.session_affinity.clone())
                        .unwrap_or_else(|| "None".into()),
                    session_affinity_config: svc.and_then(|s| s.session_affinity_config.as_ref()),
                    slices: &e.slices,
                });
                vec![condition(
                    CONDITION_VALID,
                    true,
                    "Valid",
                    &format!("Service {namespace}/{name} is exported to the clusterset"),
                )]
            }
        };
        plan.export_conditions.insert(e.cluster.clone(), conditions);
    }
    // Oldest first: a missing creation time sorts last (it can only be an object not yet stored).
    candidates.sort_by(|a, b| {
        let key = |c: &Candidate| (c.created.is_none(), c.created.map(|t| t.0), c.cluster.to_string());
        key(a).cmp(&key(b))
    });
    let Some(oldest) = candidates.first() else {
        for (cluster, conds) in &mut plan.export_conditions {
            *conds = merge_conditions(
                current_conditions(exports, cluster),
                conds,
                &[CONDITION_CONFLICT],
                now,
            );
        }
        return plan;
    };

    // Resolve: the oldest export's values win; every disagreement is reported.
    let mut conflicts: Vec<(&str, String)> = Vec::new();
    let mut ports: BTreeMap<String, (ServicePort, &str)> = BTreeMap::new();
    for c in &candidates {
        if c.type_ != oldest.type_ {
            conflicts.push((
                "TypeConflict",
                format!(
                    "type is {:?} in {} but {:?} in {} (oldest export, used)",
                    c.type_, c.cluster, oldest.type_, oldest.cluster
                ),
            ));
        }
        if c.session_affinity != oldest.session_affinity
            || (c.session_affinity_config != oldest.session_affinity_config && c.session_affinity != "None")
        {
            conflicts.push((
                "SessionAffinityConflict",
                format!(
                    "session affinity is {} in {} but {} in {} (oldest export, used)",
                    c.session_affinity, c.cluster, oldest.session_affinity, oldest.cluster
                ),
            ));
        }
        for p in &c.ports {
            match ports.get(&p.name) {
                None => {
                    ports.insert(p.name.clone(), (p.clone(), c.cluster));
                }
                Some((kept, from)) if kept != p => conflicts.push((
                    "PortConflict",
                    format!(
                        "port {:?} is {} in {} but {} in {} (oldest export, used)",
                        p.name,
                        port_text(p),
                        c.cluster,
                        port_text(kept),
                        from
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    let conflict = match conflicts.first() {
        None => condition(
            CONDITION_CONFLICT,
            false,
            "NoConflicts",
            "the exports of this service in all clusters agree",
        ),
        Some((reason, _)) => {
            let mut message = String::from("exports of this service disagree: ");
            for (i, (_, m)) in conflicts.iter().enumerate() {
                let _ = write!(message, "{}{m}", if i == 0 { "" } else { "; " });
            }
            condition(CONDITION_CONFLICT, true, reason, &truncate(&message, MAX_MESSAGE))
        }
    };
    for c in &candidates {
        if let Some(conds) = plan.export_conditions.get_mut(c.cluster) {
            conds.push(conflict.clone());
        }
    }
    for (cluster, conds) in &mut plan.export_conditions {
        *conds = merge_conditions(
            current_conditions(exports, cluster),
            conds,
            &[CONDITION_CONFLICT],
            now,
        );
    }

    let mut labels = oldest.export.spec.exported_labels.clone().unwrap_or_default();
    labels.insert(LABEL_MANAGED_BY.into(), MCS_CONTROLLER.into());
    let annotations = oldest
        .export
        .spec
        .exported_annotations
        .clone()
        .filter(|a| !a.is_empty());
    let mut clusters: Vec<&str> = candidates.iter().map(|c| c.cluster).collect();
    clusters.sort_unstable();
    plan.import = Some(ServiceImport {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            annotations,
            ..ObjectMeta::default()
        },
        spec: ServiceImportSpec {
            ports: ports.into_values().map(|(p, _)| p).collect(),
            ips: Vec::new(),
            type_: oldest.type_,
            session_affinity: Some(oldest.session_affinity.clone()),
            session_affinity_config: oldest.session_affinity_config.cloned(),
        },
        status: Some(ServiceImportStatus {
            clusters: clusters
                .into_iter()
                .map(|c| ClusterStatus {
                    cluster: c.to_string(),
                })
                .collect(),
        }),
    });
    plan.slices = candidates
        .iter()
        .flat_map(|c| {
            c.slices
                .iter()
                .filter_map(|s| mirror_slice(namespace, name, c.cluster, s))
        })
        .collect();
    plan.slices.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    if let Some(import) = &plan.import
        && import.spec.type_ == ServiceImportType::ClusterSetIP
        && !import.spec.ports.is_empty()
    {
        let derived = derived_service_name(name);
        for s in &mut plan.slices {
            if let Some(l) = s.metadata.labels.as_mut() {
                l.insert(LABEL_KUBERNETES_SERVICE_NAME.to_string(), derived.clone());
            }
        }
        plan.derived_service = Some(Service {
            metadata: ObjectMeta {
                name: Some(derived),
                namespace: Some(namespace.to_string()),
                labels: Some(BTreeMap::from([
                    (LABEL_SERVICE_NAME.to_string(), name.to_string()),
                    (LABEL_MANAGED_BY.to_string(), MCS_CONTROLLER.to_string()),
                ])),
                ..ObjectMeta::default()
            },
            spec: Some(k8s_openapi::api::core::v1::ServiceSpec {
                type_: Some("ClusterIP".to_string()),
                ports: Some(
                    import
                        .spec
                        .ports
                        .iter()
                        .map(|p| k8s_openapi::api::core::v1::ServicePort {
                            name: (!p.name.is_empty()).then(|| p.name.clone()),
                            protocol: p.protocol.clone(),
                            app_protocol: p.app_protocol.clone(),
                            port: p.port,
                            ..Default::default()
                        })
                        .collect(),
                ),
                session_affinity: import.spec.session_affinity.clone(),
                session_affinity_config: import.spec.session_affinity_config.clone(),
                ..Default::default()
            }),
            status: None,
        });
    }
    plan
}

/// The name of the Service that carries a `ClusterSetIP` import's virtual IP in each member:
/// `derived-<name>` (shortened with a hash past 63 characters, a Service name's limit).
pub fn derived_service_name(name: &str) -> String {
    let full = format!("derived-{name}");
    if full.len() <= 63 {
        return full;
    }
    let suffix = format!("-{:08x}", fnv1a64(&[name.as_bytes()]) & 0xffff_ffff);
    let mut prefix = full;
    prefix.truncate(63 - suffix.len());
    format!("{}{suffix}", prefix.trim_end_matches('-'))
}

fn current_conditions<'a>(exports: &'a [ClusterExport], cluster: &str) -> &'a [Condition] {
    exports
        .iter()
        .find(|e| e.cluster == cluster)
        .and_then(|e| e.export.status.as_ref())
        .map_or(&[], |s| s.conditions.as_slice())
}

fn port_text(p: &ServicePort) -> String {
    let mut s = format!("{}/{}", p.port, p.protocol.as_deref().unwrap_or("TCP"));
    if let Some(app) = &p.app_protocol {
        let _ = write!(s, " ({app})");
    }
    s
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A condition with no transition time yet (set by [`merge_conditions`]).
fn condition(type_: &str, status: bool, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        observed_generation: None,
    }
}

/// `current` with each of `desired` put in place of the condition of its type (keeping the transition time
/// when the status is unchanged, else `now`), the types in `remove` dropped unless desired, and every other
/// condition (written by someone else) kept. Sorted by type, so equal inputs give equal outputs.
pub fn merge_conditions(
    current: &[Condition],
    desired: &[Condition],
    remove: &[&str],
    now: &Time,
) -> Vec<Condition> {
    let mut out: BTreeMap<String, Condition> = current
        .iter()
        .filter(|c| !remove.contains(&c.type_.as_str()))
        .map(|c| (c.type_.clone(), c.clone()))
        .collect();
    for d in desired {
        let mut d = d.clone();
        d.last_transition_time = match current.iter().find(|c| c.type_ == d.type_) {
            Some(c) if c.status == d.status => c.last_transition_time.clone(),
            _ => now.clone(),
        };
        out.insert(d.type_.clone(), d);
    }
    out.into_values().collect()
}

/// Whether two condition lists say the same (type, status, reason, message), ignoring order and times.
pub fn conditions_equal(a: &[Condition], b: &[Condition]) -> bool {
    let key = |c: &[Condition]| -> BTreeSet<(String, String, String, String)> {
        c.iter()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                )
            })
            .collect()
    };
    a.len() == b.len() && key(a) == key(b)
}

/// The name of the slice mirroring `source_slice` of `cluster`'s export of `service`: readable, unique per
/// (cluster, source slice), at most 63 characters.
pub fn mirrored_slice_name(service: &str, cluster: &str, source_slice: &str) -> String {
    let hash = fnv1a64(&[cluster.as_bytes(), b"/", source_slice.as_bytes()]);
    let suffix = format!("-{:012x}", hash & 0xffff_ffff_ffff);
    let mut prefix = format!("{service}-{cluster}");
    if prefix.len() + suffix.len() > MAX_SLICE_NAME {
        prefix.truncate(MAX_SLICE_NAME - suffix.len());
    }
    let prefix = prefix.trim_end_matches(['-', '.']);
    format!("{prefix}{suffix}")
}

fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The mirror of one source slice: its ready endpoints (addresses, hostname, zone — not the node or pod,
/// which name objects of another cluster), its ports and address type; `None` when no endpoint is ready.
fn mirror_slice(
    namespace: &str,
    service: &str,
    cluster: &str,
    source: &EndpointSlice,
) -> Option<EndpointSlice> {
    let endpoints: Vec<Endpoint> = source
        .endpoints
        .iter()
        // The API says an unset `ready` means ready.
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false) && !e.addresses.is_empty())
        .map(|e| Endpoint {
            addresses: e.addresses.clone(),
            conditions: Some(EndpointConditions {
                ready: Some(true),
                ..EndpointConditions::default()
            }),
            hostname: e.hostname.clone(),
            zone: e.zone.clone(),
            ..Endpoint::default()
        })
        .collect();
    if endpoints.is_empty() {
        return None;
    }
    let source_name = source.metadata.name.as_deref().unwrap_or_default();
    Some(EndpointSlice {
        metadata: ObjectMeta {
            name: Some(mirrored_slice_name(service, cluster, source_name)),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([
                (LABEL_SERVICE_NAME.to_string(), service.to_string()),
                (LABEL_SOURCE_CLUSTER.to_string(), cluster.to_string()),
                (LABEL_SLICE_MANAGED_BY.to_string(), MCS_CONTROLLER.to_string()),
            ])),
            ..ObjectMeta::default()
        },
        address_type: source.address_type.clone(),
        endpoints,
        ports: source.ports.clone().filter(|p| !p.is_empty()),
    })
}

/// Whether a source EndpointSlice belongs to the exported Service `service` (and is not one we mirrored).
pub fn is_source_slice(slice: &EndpointSlice, service: &str) -> bool {
    let labels = slice.metadata.labels.as_ref();
    let get = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    get(LABEL_KUBERNETES_SERVICE_NAME) == Some(service) && get(LABEL_SLICE_MANAGED_BY) != Some(MCS_CONTROLLER)
}

/// Whether every field of `desired` is in `live` with the same value (objects: a subset of keys, compared
/// recursively; arrays and scalars: equal element by element). Tells whether an object we write already
/// holds what we would write, so unchanged objects cost no request.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| {
            l.get(k).is_some_and(|lv| is_subset(dv, lv)) || (dv.is_null() && !l.contains_key(k))
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| is_subset(a, b))
        }
        _ => desired == live,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn time(s: &str) -> Time {
        Time(s.parse().expect("valid timestamp"))
    }

    fn now() -> Time {
        time("2026-01-01T00:00:00Z")
    }

    fn export(cluster: &str, created: &str, service: Option<Value>, slices: Vec<Value>) -> ClusterExport {
        let mut e = ServiceExport::new("web", ServiceExportSpec::default());
        e.metadata.namespace = Some("ns".into());
        e.metadata.creation_timestamp = Some(time(created));
        ClusterExport {
            cluster: cluster.into(),
            export: e,
            service: service.map(|spec| {
                serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": spec}))
                    .expect("valid Service")
            }),
            slices: slices
                .into_iter()
                .map(|s| serde_json::from_value(s).expect("valid EndpointSlice"))
                .collect(),
        }
    }

    fn slice(name: &str, endpoints: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns", "labels": {"kubernetes.io/service-name": "web"}},
               "addressType": "IPv4", "endpoints": endpoints,
               "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
    }

    fn cond<'a>(plan: &'a ServicePlan, cluster: &str, type_: &str) -> &'a Condition {
        plan.export_conditions[cluster]
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no {type_} condition for {cluster}: {:?}", plan.export_conditions))
    }

    #[test]
    fn one_export_gives_an_import_and_mirrors_ready_endpoints() {
        let a = export(
            "a",
            "2025-01-01T00:00:00Z",
            Some(json!({"ports": [{"name": "http", "port": 80, "targetPort": 8080}]})),
            vec![slice(
                "web-abc",
                json!([
                    {"addresses": ["10.1.0.1"], "conditions": {"ready": true}, "nodeName": "n1",
                     "targetRef": {"kind": "Pod", "name": "p1"}, "zone": "z1"},
                    {"addresses": ["10.1.0.2"], "conditions": {"ready": false}},
                    {"addresses": ["10.1.0.3"]}
                ]),
            )],
        );
        let plan = plan_service("ns", "web", &[a], &now());
        let import = plan.import.as_ref().expect("an import");
        assert_eq!(import.spec.type_, ServiceImportType::ClusterSetIP);
        assert_eq!(
            import.spec.ports,
            vec![ServicePort {
                name: "http".into(),
                protocol: Some("TCP".into()),
                app_protocol: None,
                port: 80
            }]
        );
        assert_eq!(
            import.status.as_ref().map(|s| s.clusters.clone()),
            Some(vec![ClusterStatus { cluster: "a".into() }])
        );
        assert_eq!(
            import
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_MANAGED_BY))
                .map(String::as_str),
            Some(MCS_CONTROLLER)
        );
        assert_eq!(plan.slices.len(), 1);
        let s = &plan.slices[0];
        let labels = s.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get(LABEL_SERVICE_NAME).map(String::as_str), Some("web"));
        assert_eq!(labels.get(LABEL_SOURCE_CLUSTER).map(String::as_str), Some("a"));
        assert_eq!(
            labels.get(LABEL_SLICE_MANAGED_BY).map(String::as_str),
            Some(MCS_CONTROLLER)
        );
        assert_eq!(
            labels.get(LABEL_KUBERNETES_SERVICE_NAME).map(String::as_str),
            Some("derived-web"),
            "only the derived Service claims it"
        );
        let derived = plan
            .derived_service
            .as_ref()
            .expect("a ClusterSetIP import has a derived Service");
        assert_eq!(derived.metadata.name.as_deref(), Some("derived-web"));
        let spec = derived.spec.as_ref().expect("spec");
        assert_eq!(spec.selector, None, "its endpoints are the mirrored slices");
        let ports = spec.ports.clone().unwrap_or_default();
        assert_eq!((ports[0].name.as_deref(), ports[0].port), (Some("http"), 80));
        let addrs: Vec<_> = s.endpoints.iter().map(|e| e.addresses[0].as_str()).collect();
        assert_eq!(
            addrs,
            ["10.1.0.1", "10.1.0.3"],
            "unready endpoints are not mirrored"
        );
        assert_eq!(s.endpoints[0].node_name, None, "the node is another cluster's");
        assert_eq!(s.endpoints[0].target_ref, None);
        assert_eq!(s.endpoints[0].zone.as_deref(), Some("z1"));
        assert_eq!(s.ports.as_ref().map(|p| p[0].port), Some(Some(8080)));
        assert_eq!(cond(&plan, "a", CONDITION_VALID).status, "True");
        assert_eq!(cond(&plan, "a", CONDITION_CONFLICT).reason, "NoConflicts");
        assert_eq!(cond(&plan, "a", CONDITION_VALID).last_transition_time, now());
        assert!(is_source_slice(&plan_source_slice(), "web"));
        assert!(!is_source_slice(s, "web"));
    }

    fn plan_source_slice() -> EndpointSlice {
        serde_json::from_value(slice("web-x", json!([]))).expect("valid")
    }

    #[test]
    fn exports_decode_without_a_spec_and_serialize_with_their_type() {
        // Upstream's examples create ServiceExports with metadata only.
        let e: ServiceExport = serde_json::from_value(json!({
            "apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceExport",
            "metadata": {"name": "web", "namespace": "ns"}
        }))
        .expect("a spec-less export decodes");
        assert_eq!(e.spec, ServiceExportSpec::default());
        let v = serde_json::to_value(&e).expect("serializes");
        assert_eq!(v["apiVersion"], "multicluster.x-k8s.io/v1alpha1");
        assert_eq!(v["kind"], "ServiceExport");
        assert!(v.get("status").is_none());
        use kube::Resource;
        assert_eq!(ServiceImport::plural(&()), "serviceimports");
        assert_eq!(
            ServiceExport::api_version(&()),
            format!("{MCS_GROUP}/{MCS_VERSION}")
        );
    }

    #[test]
    fn headless_services_import_as_headless() {
        let a = export(
            "a",
            "2025-01-01T00:00:00Z",
            Some(json!({"clusterIP": "None", "ports": [{"port": 53}]})),
            vec![],
        );
        let plan = plan_service("ns", "web", &[a], &now());
        assert_eq!(
            plan.import.map(|i| i.spec.type_),
            Some(ServiceImportType::Headless)
        );
        assert!(plan.slices.is_empty(), "no ready endpoints, no slices");
    }

    #[test]
    fn invalid_exports_say_why_and_import_nothing() {
        let cases = [
            ("no service", None, "NoService"),
            (
                "external name",
                Some(json!({"type": "ExternalName", "externalName": "example.com"})),
                "InvalidServiceType",
            ),
        ];
        for (name, svc, reason) in cases {
            let plan = plan_service(
                "ns",
                "web",
                &[export("a", "2025-01-01T00:00:00Z", svc, vec![])],
                &now(),
            );
            assert!(plan.import.is_none(), "{name}");
            assert!(plan.slices.is_empty(), "{name}");
            let valid = cond(&plan, "a", CONDITION_VALID);
            assert_eq!(
                (valid.status.as_str(), valid.reason.as_str()),
                ("False", reason),
                "{name}"
            );
            assert!(
                !plan.export_conditions["a"]
                    .iter()
                    .any(|c| c.type_ == CONDITION_CONFLICT),
                "{name}: no Conflict condition on an invalid export"
            );
        }
    }

    #[test]
    fn conflicting_ports_take_the_oldest_export_and_mark_every_export() {
        let newer = export(
            "a",
            "2025-06-01T00:00:00Z",
            Some(json!({"ports": [{"port": 8080}, ]})),
            vec![slice("web-a", json!([{"addresses": ["10.1.0.1"]}]))],
        );
        let older = export(
            "b",
            "2025-01-01T00:00:00Z",
            Some(json!({"ports": [{"port": 80}]})),
            vec![slice("web-b", json!([{"addresses": ["10.2.0.1"]}]))],
        );
        let plan = plan_service("ns", "web", &[newer, older], &now());
        let import = plan.import.as_ref().expect("an import");
        assert_eq!(import.spec.ports.iter().map(|p| p.port).collect::<Vec<_>>(), [80]);
        for c in ["a", "b"] {
            let conflict = cond(&plan, c, CONDITION_CONFLICT);
            assert_eq!(
                (conflict.status.as_str(), conflict.reason.as_str()),
                ("True", "PortConflict")
            );
            assert!(
                conflict
                    .message
                    .contains("8080/TCP in a but 80/TCP in b (oldest export, used)"),
                "{}",
                conflict.message
            );
            assert_eq!(
                cond(&plan, c, CONDITION_VALID).status,
                "True",
                "a conflict is still valid"
            );
        }
        // Both clusters' endpoints are still served.
        let sources: BTreeSet<_> = plan
            .slices
            .iter()
            .filter_map(|s| s.metadata.labels.as_ref()?.get(LABEL_SOURCE_CLUSTER).cloned())
            .collect();
        assert_eq!(sources, BTreeSet::from(["a".to_string(), "b".to_string()]));
        assert_eq!(import.status.as_ref().map(|s| s.clusters.len()), Some(2));
    }

    #[test]
    fn ports_with_different_names_merge_without_conflict() {
        let a = export(
            "a",
            "2025-01-01T00:00:00Z",
            Some(json!({"ports": [{"name": "http", "port": 80}]})),
            vec![],
        );
        let b = export(
            "b",
            "2025-01-02T00:00:00Z",
            Some(json!({"ports": [{"name": "grpc", "port": 9090}, {"name": "http", "port": 80}]})),
            vec![],
        );
        let plan = plan_service("ns", "web", &[a, b], &now());
        let names: Vec<_> = plan
            .import
            .as_ref()
            .map(|i| i.spec.ports.iter().map(|p| p.name.clone()).collect())
            .unwrap_or_default();
        assert_eq!(names, ["grpc", "http"]);
        assert_eq!(cond(&plan, "b", CONDITION_CONFLICT).status, "False");
    }

    #[test]
    fn type_conflict_uses_the_oldest_and_ties_break_by_cluster_name() {
        let same = "2025-01-01T00:00:00Z";
        let headless = export(
            "b",
            same,
            Some(json!({"clusterIP": "None", "ports": [{"port": 80}]})),
            vec![],
        );
        let vip = export("a", same, Some(json!({"ports": [{"port": 80}]})), vec![]);
        let plan = plan_service("ns", "web", &[headless, vip], &now());
        assert_eq!(
            plan.import.as_ref().map(|i| i.spec.type_),
            Some(ServiceImportType::ClusterSetIP)
        );
        assert_eq!(cond(&plan, "b", CONDITION_CONFLICT).reason, "TypeConflict");
    }

    #[test]
    fn transition_times_are_kept_while_the_status_holds() {
        let mut a = export(
            "a",
            "2025-01-01T00:00:00Z",
            Some(json!({"ports": [{"port": 80}]})),
            vec![],
        );
        let first = plan_service(
            "ns",
            "web",
            std::slice::from_ref(&a),
            &time("2025-02-01T00:00:00Z"),
        );
        a.export.status = Some(ServiceExportStatus {
            conditions: first.export_conditions["a"].clone(),
        });
        let second = plan_service("ns", "web", std::slice::from_ref(&a), &now());
        assert_eq!(
            first.export_conditions, second.export_conditions,
            "nothing changed"
        );
        assert!(conditions_equal(
            &first.export_conditions["a"],
            &second.export_conditions["a"]
        ));
        a.service = None;
        let third = plan_service("ns", "web", std::slice::from_ref(&a), &now());
        assert_eq!(cond(&third, "a", CONDITION_VALID).last_transition_time, now());
        assert!(!conditions_equal(
            &first.export_conditions["a"],
            &third.export_conditions["a"]
        ));
    }

    #[test]
    fn merge_keeps_foreign_conditions() {
        let foreign = Condition {
            type_: "Ready".into(),
            ..condition("Ready", true, "Ready", "")
        };
        let merged = merge_conditions(
            std::slice::from_ref(&foreign),
            &[condition(CONDITION_VALID, true, "Valid", "")],
            &[CONDITION_CONFLICT],
            &now(),
        );
        assert_eq!(merged.len(), 2);
        assert!(merged.contains(&foreign));
    }

    #[test]
    fn mirrored_names_are_short_distinct_and_stable() {
        let long = "s".repeat(70);
        let n = mirrored_slice_name(&long, "cluster-1", "web-abc");
        assert!(n.len() <= 63, "{n}");
        assert!(!n.contains("--"), "{n}");
        assert_ne!(n, mirrored_slice_name(&long, "cluster-1", "web-abd"));
        assert_ne!(
            mirrored_slice_name("web", "a", "x"),
            mirrored_slice_name("web", "b", "x")
        );
        assert_eq!(
            mirrored_slice_name("web", "a", "x"),
            mirrored_slice_name("web", "a", "x")
        );
        assert!(mirrored_slice_name("web", "a", "x").starts_with("web-a-"));
    }

    #[test]
    fn derived_names_fit_a_service_name() {
        assert_eq!(derived_service_name("web"), "derived-web");
        let long = derived_service_name(&"a".repeat(63));
        assert!(long.len() <= 63 && long.starts_with("derived-a"), "{long}");
        assert_ne!(long, derived_service_name(&format!("{}b", "a".repeat(62))));
    }

    #[test]
    fn subset_compares_what_we_write() {
        let live =
            json!({"metadata": {"name": "x", "uid": "u"}, "endpoints": [{"addresses": ["1"], "zone": "z"}]});
        assert!(is_subset(
            &json!({"metadata": {"name": "x"}, "endpoints": [{"addresses": ["1"]}]}),
            &live
        ));
        assert!(!is_subset(&json!({"endpoints": [{"addresses": ["2"]}]}), &live));
        assert!(!is_subset(&json!({"endpoints": []}), &live));
        assert!(!is_subset(&json!({"ports": [1]}), &live));
    }

    #[test]
    fn upstream_crds_serve_v1alpha1_with_our_fields() {
        let files = mcs_crd_files();
        assert_eq!(files.len(), 2);
        assert_eq!(mcs_crds().len(), 2);
        for (name, yaml) in files {
            let crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
                serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(crd.spec.group, MCS_GROUP);
            let v = crd
                .spec
                .versions
                .iter()
                .find(|v| v.name == MCS_VERSION)
                .expect("v1alpha1");
            assert!(v.served);
            let schema = serde_json::to_value(&v.schema).expect("serializes");
            let spec = &schema["openAPIV3Schema"]["properties"]["spec"]["properties"];
            if crd.spec.names.kind == "ServiceImport" {
                for field in ["ports", "ips", "type", "sessionAffinity", "sessionAffinityConfig"] {
                    assert!(spec.get(field).is_some(), "ServiceImport spec.{field}");
                }
                let clusters = &schema["openAPIV3Schema"]["properties"]["status"]["properties"]["clusters"];
                assert!(clusters.is_object());
            } else {
                assert!(spec.get("exportedLabels").is_some());
            }
        }
    }
}
