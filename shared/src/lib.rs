//! kubefed-core: the KubeFed v1beta1 API types and every federation decision, with no network I/O.
//!
//! Binaries (`kubectl-fed`, `kubefed-webhook`, `kubefed-controller`) do the talking to API servers; every
//! decision they act on — conversion, placement, overrides, scheduling, policy, validation — lives here so
//! it is unit-tested once and shared.

pub mod api;
pub mod convert;
pub mod crds;
pub mod manifest;
pub mod pki;
pub mod scheduling;
pub mod typeinfo;

pub use api::{
    FederatedObject, FederatedSpec, FederatedStatus, FederatedTypeConfig, KubeFedCluster, KubeFedConfig,
    Placement, ReplicaSchedulingPreference, federated_api_resource,
};
pub use convert::{
    Batch, BatchItem, ConvertError, ConvertOptions, Federated, Federator, PlacementChoice, default_resolver,
    federate, federate_all, validate_overrides,
};
pub use crds::{chart_crd_files, core_crds, default_federated_crds, federated_crd};
pub use manifest::{ManifestError, ManifestObject, Manifests, ParseLimits, Source, parse_manifests};
pub use typeinfo::{FEDERATED_GROUP, FEDERATED_VERSION, Scope, TargetType, default_types, find_default_type};
