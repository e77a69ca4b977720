//! Federated objects as the propagation controllers cache them: the spec kept as its JSON text.
//!
//! A `serde_json::Value` costs far more memory than the JSON it came from (every object in it is a B-tree
//! node of several hundred bytes): a typical FederatedDeployment template of 1.5 kB takes about 20 kB as a
//! `Value`. At 10,000 federated objects that difference is most of the controller's memory. So the cache
//! holds [`CachedFederated`] — metadata and status decoded, `spec` as raw JSON — and a reconcile decodes the
//! one object it works on with [`expand`], which takes microseconds. The spec is decoded into
//! `kubefed_core`'s [`FederatedSpec`], so this file does not need to change when that type does.

use kube::core::Object;
use kubefed_core::api::{FederatedObject, FederatedSpec, FederatedStatus};
use serde_json::value::RawValue;

use crate::error::{Error, Result};

/// A federated object with its spec kept as JSON text.
pub type CachedFederated = Object<Box<RawValue>, FederatedStatus>;

/// The full [`FederatedObject`] of a cached one.
pub fn expand(cached: &CachedFederated) -> Result<FederatedObject> {
    let spec: FederatedSpec = serde_json::from_str(cached.spec.get()).map_err(Error::json(format!(
        "decoding the spec of {} {}",
        cached
            .types
            .as_ref()
            .map_or("federated object", |t| t.kind.as_str()),
        cached.metadata.name.as_deref().unwrap_or_default()
    )))?;
    Ok(FederatedObject {
        types: cached.types.clone(),
        metadata: cached.metadata.clone(),
        spec,
        status: cached.status.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_the_typed_object() {
        let json = serde_json::json!({
            "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedConfigMap",
            "metadata": {"name": "a", "namespace": "ns", "generation": 2},
            "spec": {"template": {"data": {"k": "v"}}, "placement": {"clusters": [{"name": "m1"}]},
                     "overrides": [{"clusterName": "m1", "clusterOverrides": [{"path": "/data/k", "value": "w"}]}]},
            "status": {"observedGeneration": 1}
        });
        let text = json.to_string();
        let cached: CachedFederated = serde_json::from_str(&text).expect("decodes");
        let typed: FederatedObject = serde_json::from_str(&text).expect("decodes");
        let expanded = expand(&cached).expect("expands");
        assert_eq!(expanded.spec, typed.spec);
        assert_eq!(expanded.status, typed.status);
        assert_eq!(expanded.metadata, typed.metadata);
    }
}
