//! kubefed-core: the KubeFed v1beta1 API types and every federation decision, with no network I/O.
//!
//! Binaries (`kubectl-fed`, `kubefed-webhook`, `kubefed-controller`) do the talking to API servers; every
//! decision they act on — conversion, placement, overrides, scheduling, policy, validation — lives here so
//! it is unit-tested once and shared.

pub mod pki;
pub mod scheduling;
pub mod typeinfo;

pub use typeinfo::{FEDERATED_GROUP, FEDERATED_VERSION, Scope, TargetType, default_types, find_default_type};
