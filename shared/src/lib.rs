//! kubefed-core: the KubeFed v1beta1 API types and every federation decision, with no network I/O.
//!
//! Binaries (`kubectl-fed`, `kubefed-webhook`, `kubefed-controller`) do the talking to API servers; every
//! decision they act on — conversion, placement, overrides, scheduling, policy, validation — lives here so
//! it is unit-tested once and shared.

pub mod admission;
pub mod api;
pub mod convert;
pub mod crds;
pub mod dns;
pub mod findings;
pub mod fuzzing;
pub mod health;
pub mod intent;
pub mod kinds;
pub mod manifest;
pub mod mcs;
pub mod membership;
pub mod migration;
pub mod overrides;
pub mod pki;
pub mod placement;
pub mod policy;
pub mod preview;
pub mod propagation;
pub mod scheduling;
pub mod selector;
pub mod status;
pub mod typeinfo;
mod yaml;
pub mod yaml_emit;

pub use admission::{AdmissionInput, Decision, Denial, Mutation, Reason, Snapshot};
pub use api::FederationPolicy;
pub use api::{
    FederatedObject, FederatedSpec, FederatedStatus, FederatedTypeConfig, KubeFedCluster, KubeFedConfig,
    Placement, ReplicaSchedulingPreference, federated_api_resource,
};
pub use convert::{
    Batch, BatchItem, ConvertError, ConvertOptions, Federated, Federator, PlacementChoice, ScopedOverrides,
    default_resolver, federate, federate_all, validate_overrides,
};
pub use crds::{chart_crd_files, chart_type_configs_file, core_crds, default_federated_crds, federated_crd};
pub use manifest::{ManifestError, ManifestObject, Manifests, ParseLimits, Source, parse_manifests};
pub use overrides::{
    OverridesError, ResolvedOverride, apply_overrides, overrides_for_cluster, validate_cluster_overrides,
};
pub use placement::{
    ClusterInfo, PlacementDecision, PlacementError, is_reserved_namespace, place, resolve_placement,
};
pub use propagation::{
    Managed, PropagationError, delete_options, desired_member_object, is_managed, orphan_patch,
    orphan_requested, retain_for_apply,
};
pub use selector::{SelectorError, parse_selector, selector_matches};
pub use status::{ClusterOutcome, ObjectFailure, aggregate, compute_status, status_changed};
pub use typeinfo::{FEDERATED_GROUP, FEDERATED_VERSION, Scope, TargetType, default_types, find_default_type};
