//! DNS records for federated Services (`--dns-domain`): every FederatedService whose member Services have
//! LoadBalancer ingress gets an external-dns `DNSEndpoint` of the same name on the host
//! (`kubefed_core::dns` decides the records). The members' Services come from the MCS watches; the host's
//! FederatedServices from one metadata-sized watch. What we wrote is remembered, and found again after a
//! restart by listing our DNSEndpoints (label `app.kubernetes.io/managed-by: dns.kubefed.io`), so a record
//! whose FederatedService went while we were down is deleted too.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::reflector::ObjectRef;
use kubefed_core::dns::{
    DNS_ENDPOINT_GROUP, DNS_ENDPOINT_VERSION, DNS_MANAGED_BY_LABEL, DNS_MANAGED_BY_VALUE, dns_endpoint,
    ingress_of,
};
use serde::Deserialize;
use serde_json::Value;

use super::{Dirty, FIELD_MANAGER, Key, Member, Watched, name_key};

/// A FederatedService, metadata only (all the DNS part needs is that it exists).
#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct FederatedServiceMeta {
    #[serde(default)]
    metadata: ObjectMeta,
}

impl kube::Resource for FederatedServiceMeta {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "FederatedService".into()
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        kubefed_core::FEDERATED_GROUP.into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        kubefed_core::FEDERATED_VERSION.into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "federatedservices".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The DNS part's state.
pub(super) struct HostDns {
    client: kube::Client,
    domain: String,
    feds: Watched<FederatedServiceMeta>,
    /// What each of our DNSEndpoints holds (as written, or as found at start).
    known: BTreeMap<Key, Value>,
    listed: bool,
    resource: ApiResource,
}

impl HostDns {
    pub(super) fn start(client: kube::Client, domain: String, dirty: &Arc<Dirty>) -> Self {
        let feds = Watched::start(Api::all(client.clone()), None, "host", name_key, dirty.clone());
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(DNS_ENDPOINT_GROUP, DNS_ENDPOINT_VERSION, "DNSEndpoint"),
            "dnsendpoints",
        );
        HostDns {
            client,
            domain,
            feds,
            known: BTreeMap::new(),
            listed: false,
            resource,
        }
    }

    /// Every name with a FederatedService or a DNSEndpoint of ours.
    pub(super) fn keys(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = self.known.keys().cloned().collect();
        keys.extend(
            self.feds
                .store
                .state()
                .iter()
                .filter_map(|f| name_key(f.as_ref())),
        );
        keys
    }

    /// Finds our DNSEndpoints once (retried until it works: the external-dns CRD may be missing).
    async fn list_ours(&mut self) -> bool {
        if self.listed {
            return true;
        }
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &self.resource);
        let lp = ListParams::default().labels(&format!("{DNS_MANAGED_BY_LABEL}={DNS_MANAGED_BY_VALUE}"));
        match api.list(&lp).await {
            Ok(list) => {
                for o in list {
                    if let (Some(ns), Some(name)) = (o.metadata.namespace.clone(), o.metadata.name.clone()) {
                        self.known.insert((ns, name), Value::Null);
                    }
                }
                self.listed = true;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list DNSEndpoints on the host (is external-dns's CRD dnsendpoints.externaldns.k8s.io installed?); DNS records wait");
                false
            }
        }
    }

    /// Makes the DNSEndpoint of `key` match its FederatedService's member Services; false to retry.
    pub(super) async fn reconcile(&mut self, key: &Key, members: &BTreeMap<String, Member>) -> bool {
        if !self.feds.synced() || !self.list_ours().await {
            return false;
        }
        // A member whose Services are not listed yet would lose its records: wait for it.
        if members.values().any(|m| !m.services.synced()) {
            return true;
        }
        let (ns, name) = key;
        let desired = if self.feds.store.get(&ObjectRef::new(name).within(ns)).is_some() {
            let per_cluster = members
                .iter()
                .map(|(cluster, m)| {
                    let svc = m.services.store.get(&ObjectRef::new(name).within(ns));
                    let status = svc.and_then(|s| serde_json::to_value(&s.status).ok());
                    (cluster.clone(), ingress_of(status.as_ref()))
                })
                .collect();
            dns_endpoint(ns, name, &self.domain, &per_cluster)
        } else {
            None
        };
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &self.resource);
        match desired {
            Some(d) if self.known.get(key) == Some(&d) => true,
            Some(d) => {
                let obj: DynamicObject = match serde_json::from_value(d.clone()) {
                    Ok(o) => o,
                    Err(e) => {
                        tracing::warn!(error = %e, "building a DNSEndpoint");
                        return true;
                    }
                };
                match api
                    .patch(
                        name,
                        &PatchParams::apply(FIELD_MANAGER).force(),
                        &Patch::Apply(&obj),
                    )
                    .await
                {
                    Ok(_) => {
                        tracing::info!(namespace = ns, name, "DNSEndpoint written");
                        self.known.insert(key.clone(), d);
                        true
                    }
                    Err(e) => {
                        tracing::warn!(namespace = ns, name, error = %e, "writing a DNSEndpoint failed; will retry");
                        false
                    }
                }
            }
            None if self.known.contains_key(key) => match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {
                    self.known.remove(key);
                    true
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    self.known.remove(key);
                    true
                }
                Err(e) => {
                    tracing::warn!(namespace = ns, name, error = %e, "deleting a DNSEndpoint failed; will retry");
                    false
                }
            },
            None => true,
        }
    }
}
