//! Admission of `scheduling.kubefed.io` ReplicaSchedulingPreference.
//!
//! The preferences must be plannable ([`Preferences::validate`](crate::scheduling::Preferences::validate):
//! no negative numbers, no minimum above its maximum); a cluster key that is not joined is a warning.
//!
//! An RSP rewrites the placement of its workload, so creating one is a way of placing objects: it needs
//! `propagate` on every cluster it names and, when it places on every ready cluster (a `*` key or no keys,
//! without `intersectWithClusterSelector`), on every cluster — a grant without resourceNames, since clusters
//! that join later are placed on too.

use std::collections::BTreeSet;

use kube::core::DynamicObject;

use super::{Decision, PropagateCheck, Reason, Snapshot, decode_spec};
use crate::api::ReplicaSchedulingPreferenceSpec;
use crate::scheduling::ALL_CLUSTERS;

pub(super) fn validate(object: &DynamicObject, snapshot: &Snapshot, d: &mut Decision) {
    let spec: ReplicaSchedulingPreferenceSpec = match decode_spec(object) {
        Ok(spec) => spec,
        Err(e) => return d.deny(Reason::Invalid, e),
    };
    if let Err(e) = spec.preferences().validate() {
        d.deny(Reason::Invalid, e.to_string());
    }
    let mut clusters = BTreeSet::new();
    for name in spec.clusters.keys().filter(|k| k.as_str() != ALL_CLUSTERS) {
        if snapshot.cluster(name).is_none() {
            d.warnings.push(format!(
                "spec.clusters[{name:?}]: cluster {name:?} is not joined, so its preferences have no effect yet"
            ));
        }
        clusters.insert(name.clone());
    }
    let everywhere = spec.clusters.is_empty() || spec.clusters.contains_key(ALL_CLUSTERS);
    let all_clusters = everywhere && !spec.intersect_with_cluster_selector;
    if !clusters.is_empty() || all_clusters {
        d.propagate = Some(PropagateCheck {
            clusters,
            field: "spec.clusters",
            all_clusters,
        });
    }
}
