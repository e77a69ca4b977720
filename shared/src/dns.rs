//! DNS records for federated Services with external addresses, as external-dns `DNSEndpoint` objects
//! (`externaldns.k8s.io/v1alpha1`, external-dns's CRD source) on the host: for users without an MCS-aware
//! DNS, what KubeFed's multi-cluster DNS did before v0.7.
//!
//! For a FederatedService `ns/name` and a domain `example.com`, [`dns_endpoint`] gives one DNSEndpoint
//! named like the Service, with:
//! * `name.ns.example.com`: every member's LoadBalancer ingress — `A` records for IPv4 addresses, `AAAA` for
//!   IPv6 — or, when no member has an IP but some have host names, a `CNAME` to the first host name (a name
//!   cannot have a CNAME and other records, nor several CNAMEs);
//! * `name.ns.<cluster>.example.com`: the same per member cluster, to reach one cluster on purpose.
//!
//! No ingress anywhere → no DNSEndpoint (an existing one is deleted).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::{Value, json};

/// external-dns's API group.
pub const DNS_ENDPOINT_GROUP: &str = "externaldns.k8s.io";
/// external-dns's API version.
pub const DNS_ENDPOINT_VERSION: &str = "v1alpha1";
/// Label on the DNSEndpoints we write (value [`DNS_MANAGED_BY_VALUE`]).
pub const DNS_MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`DNS_MANAGED_BY_LABEL`] on our DNSEndpoints.
pub const DNS_MANAGED_BY_VALUE: &str = "dns.kubefed.io";
/// TTL of the records, in seconds: short, so a cluster that loses its load balancer leaves DNS quickly.
pub const RECORD_TTL: i64 = 60;

/// One LoadBalancer ingress point of a member's Service.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ingress {
    /// `status.loadBalancer.ingress[].ip`.
    Ip(IpAddr),
    /// `status.loadBalancer.ingress[].hostname`.
    Hostname(String),
}

/// The ingress points of a Service's `status.loadBalancer.ingress` (entries that parse; others ignored).
pub fn ingress_of(service_status: Option<&Value>) -> Vec<Ingress> {
    let Some(list) = service_status
        .and_then(|s| s.pointer("/loadBalancer/ingress"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|i| {
            if let Some(ip) = i.get("ip").and_then(Value::as_str).and_then(|s| s.parse().ok()) {
                return Some(Ingress::Ip(ip));
            }
            i.get("hostname")
                .and_then(Value::as_str)
                .filter(|h| !h.is_empty())
                .map(|h| Ingress::Hostname(h.to_string()))
        })
        .collect()
}

/// The DNSEndpoint for federated Service `namespace/name` under `domain`, from each member's ingress
/// points; `None` when no member has any.
pub fn dns_endpoint(
    namespace: &str,
    name: &str,
    domain: &str,
    per_cluster: &BTreeMap<String, Vec<Ingress>>,
) -> Option<Value> {
    let domain = domain.trim_matches('.');
    let all: Vec<Ingress> = per_cluster.values().flatten().cloned().collect();
    if all.is_empty() {
        return None;
    }
    let mut endpoints = records(&format!("{name}.{namespace}.{domain}"), &all);
    for (cluster, ingress) in per_cluster {
        endpoints.extend(records(
            &format!("{name}.{namespace}.{cluster}.{domain}"),
            ingress,
        ));
    }
    Some(json!({
        "apiVersion": format!("{DNS_ENDPOINT_GROUP}/{DNS_ENDPOINT_VERSION}"),
        "kind": "DNSEndpoint",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {DNS_MANAGED_BY_LABEL: DNS_MANAGED_BY_VALUE}},
        "spec": {"endpoints": endpoints}
    }))
}

/// The records of one DNS name.
fn records(dns_name: &str, ingress: &[Ingress]) -> Vec<Value> {
    let mut v4 = BTreeSet::new();
    let mut v6 = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    for i in ingress {
        match i {
            Ingress::Ip(IpAddr::V4(a)) => {
                v4.insert(a.to_string());
            }
            Ingress::Ip(IpAddr::V6(a)) => {
                v6.insert(a.to_string());
            }
            Ingress::Hostname(h) => {
                hosts.insert(h.clone());
            }
        }
    }
    let record = |type_: &str, targets: Vec<String>| json!({"dnsName": dns_name, "recordType": type_, "recordTTL": RECORD_TTL, "targets": targets});
    let mut out = Vec::new();
    if !v4.is_empty() {
        out.push(record("A", v4.into_iter().collect()));
    }
    if !v6.is_empty() {
        out.push(record("AAAA", v6.into_iter().collect()));
    }
    if out.is_empty()
        && let Some(h) = hosts.into_iter().next()
    {
        out.push(record("CNAME", vec![h]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ingress {
        Ingress::Ip(s.parse().expect("valid IP"))
    }

    #[test]
    fn records_per_federation_and_per_cluster() {
        let per = BTreeMap::from([
            ("eu".to_string(), vec![ip("192.0.2.10"), ip("2001:db8::1")]),
            ("us".to_string(), vec![ip("198.51.100.7")]),
            ("asia".to_string(), vec![]),
        ]);
        let e = dns_endpoint("shop", "web", "example.com.", &per).expect("records");
        assert_eq!(e["kind"], "DNSEndpoint");
        assert_eq!(
            e["metadata"]["labels"][DNS_MANAGED_BY_LABEL],
            DNS_MANAGED_BY_VALUE
        );
        let eps = e["spec"]["endpoints"].as_array().expect("endpoints");
        let find = |name: &str, t: &str| {
            eps.iter()
                .find(|r| r["dnsName"] == name && r["recordType"] == t)
                .map(|r| r["targets"].clone())
        };
        assert_eq!(
            find("web.shop.example.com", "A"),
            Some(json!(["192.0.2.10", "198.51.100.7"]))
        );
        assert_eq!(find("web.shop.example.com", "AAAA"), Some(json!(["2001:db8::1"])));
        assert_eq!(
            find("web.shop.us.example.com", "A"),
            Some(json!(["198.51.100.7"]))
        );
        assert!(
            !eps.iter().any(|r| r["dnsName"] == "web.shop.asia.example.com"),
            "no records for a cluster without ingress"
        );
    }

    #[test]
    fn host_names_become_one_cname_only_without_ips() {
        let per = BTreeMap::from([(
            "eu".to_string(),
            vec![
                Ingress::Hostname("b.lb.example.net".into()),
                Ingress::Hostname("a.lb.example.net".into()),
            ],
        )]);
        let e = dns_endpoint("ns", "web", "example.com", &per).expect("records");
        let first = &e["spec"]["endpoints"][0];
        assert_eq!(first["recordType"], "CNAME");
        assert_eq!(first["targets"], json!(["a.lb.example.net"]));
        let mixed = BTreeMap::from([(
            "eu".to_string(),
            vec![Ingress::Hostname("a.lb.example.net".into()), ip("192.0.2.1")],
        )]);
        let e = dns_endpoint("ns", "web", "example.com", &mixed).expect("records");
        assert!(
            e["spec"]["endpoints"]
                .as_array()
                .is_some_and(|a| a.iter().all(|r| r["recordType"] == "A"))
        );
    }

    #[test]
    fn no_ingress_no_record() {
        assert!(dns_endpoint("ns", "web", "example.com", &BTreeMap::new()).is_none());
        let per = BTreeMap::from([("eu".to_string(), vec![])]);
        assert!(dns_endpoint("ns", "web", "example.com", &per).is_none());
    }

    #[test]
    fn ingress_parses_what_parses() {
        let status = json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"hostname": "lb.example.net"},
                                                        {"ip": "not-an-ip"}, {}]}});
        assert_eq!(
            ingress_of(Some(&status)),
            vec![ip("192.0.2.1"), Ingress::Hostname("lb.example.net".into())]
        );
        assert!(ingress_of(None).is_empty());
    }
}
