//! Multi-Cluster Services end-to-end: the controller, started in-process against the testbed (host + 2
//! members), turns a ServiceExport in one member into a ServiceImport and mirrored EndpointSlices in every
//! member, follows endpoint changes, withdraws on un-export and when the exporting cluster is removed, and
//! resolves conflicting exports as KEP-1645 says (Conflict condition, oldest export wins).
//!
//! The testbed has no kube-proxy and no pods: each test creates a selector-less Service and an
//! EndpointSlice for it directly, standing for running pods. The tests share one controller and the
//! cluster-removal test changes the clusterset, so they run one at a time ([`SERIAL`]).
//!
//! With `--dns-domain`, federated Services whose member Services have LoadBalancer ingress get external-dns
//! DNSEndpoint records on the host (the testbed has no cloud provider: the tests write the ingress).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::DynamicObject;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_core::api::{FederatedTypeConfig, KubeFedCluster};
use kubefed_core::mcs::{
    LABEL_SERVICE_NAME, LABEL_SOURCE_CLUSTER, ServiceExport, ServiceImport, ServiceImportType,
};
use kubefed_tests::controller::{ControllerSetup, shared_controller, wait_members_ready};
use kubefed_tests::fixtures::join;
use kubefed_tests::testbed::{HOST, delete_namespace, install_crds};
use kubefed_tests::{shared_testbed, wait_for};
use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const M1: &str = "member-1";
const M2: &str = "member-2";
/// "Within seconds": every expected change must show within this.
const WAIT: Duration = Duration::from_secs(20);

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The controller's `--dns-domain`.
const DNS_DOMAIN: &str = "fed.example.com";

/// external-dns's DNSEndpoint CRD, cut down to what the API server needs to store the objects.
fn dns_endpoint_crd() -> TestResult<CustomResourceDefinition> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "dnsendpoints.externaldns.k8s.io",
                     "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/external-dns/pull/2007"}},
        "spec": {"group": "externaldns.k8s.io", "scope": "Namespaced",
                 "names": {"kind": "DNSEndpoint", "plural": "dnsendpoints", "singular": "dnsendpoint", "listKind": "DNSEndpointList"},
                 "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))?)
}

/// Starts (once) kubefed on the testbed and the controller on a runtime of its own; waits until both
/// members are Ready.
async fn controller() -> TestResult {
    let setup = ControllerSetup {
        manager: "mcs-tests",
        fast_health_check: false,
        members: vec![(M1, BTreeMap::new()), (M2, BTreeMap::new())],
    };
    shared_controller(setup, |host| async move {
        install_crds(&host, &[dns_endpoint_crd()?]).await?;
        // ServiceExports federated like any other type (what `kubectl fed enable` does).
        let export_type = kubefed_core::mcs::service_export_type();
        install_crds(&host, &[kubefed_core::crds::federated_crd(&export_type)]).await?;
        let ftc = FederatedTypeConfig::for_target(&export_type, DEFAULT_SYSTEM_NAMESPACE);
        Api::<FederatedTypeConfig>::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE)
            .patch(
                &export_type.type_config_name(),
                &PatchParams::apply("mcs-tests").force(),
                &Patch::Apply(&ftc),
            )
            .await?;
        let settings = kubefed_controller::Settings {
            member_timeout: Duration::from_secs(5),
            identity: "mcs-tests".into(),
            dns_domain: Some(DNS_DOMAIN.into()),
            ..Default::default()
        };
        assert!(settings.mcs, "MCS is on by default");
        let metrics = std::sync::Arc::new(kubefed_controller::Metrics::new());
        Ok(kubefed_controller::start(host, settings, metrics))
    })
    .await
}

async fn wait_ready(members: &[&str]) -> TestResult {
    let host = shared_testbed()?.client(HOST).await?;
    wait_members_ready(&host, members).await
}

async fn client(cluster: &str) -> TestResult<kube::Client> {
    Ok(shared_testbed()?.client(cluster).await?)
}

/// A selector-less Service `web` with `ports`, its EndpointSlice `web-src` with `endpoints`, and (when
/// `export`) a ServiceExport, in `ns` of `cluster`.
async fn serve(cluster: &str, ns: &str, ports: Value, endpoints: Value, export: bool) -> TestResult {
    let c = client(cluster).await?;
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": ns}, "spec": {"ports": ports}
    }))?;
    Api::<Service>::namespaced(c.clone(), ns)
        .create(&PostParams::default(), &svc)
        .await?;
    set_endpoints(cluster, ns, endpoints).await?;
    if export {
        let e: ServiceExport = serde_json::from_value(json!({"metadata": {"name": "web", "namespace": ns}}))?; // no spec, as upstream writes them
        Api::<ServiceExport>::namespaced(c, ns)
            .create(&PostParams::default(), &e)
            .await?;
    }
    Ok(())
}

/// Creates or replaces the source EndpointSlice `web-src` in `ns` of `cluster`.
async fn set_endpoints(cluster: &str, ns: &str, endpoints: Value) -> TestResult {
    let slice: EndpointSlice = serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-src", "namespace": ns,
                     "labels": {"kubernetes.io/service-name": "web",
                                "endpointslice.kubernetes.io/managed-by": "tests.kubefed.io"}},
        "addressType": "IPv4", "endpoints": endpoints,
        "ports": [{"name": "", "port": 8080, "protocol": "TCP"}]
    }))?;
    Api::<EndpointSlice>::namespaced(client(cluster).await?, ns)
        .patch(
            "web-src",
            &PatchParams::apply("mcs-tests").force(),
            &Patch::Apply(&slice),
        )
        .await?;
    Ok(())
}

/// The addresses of the mirrored slices of `web` in `ns` of `cluster`, by source cluster.
async fn imported_addresses(cluster: &str, ns: &str) -> TestResult<BTreeMap<String, Vec<String>>> {
    let api: Api<EndpointSlice> = Api::namespaced(client(cluster).await?, ns);
    let list = api
        .list(&ListParams::default().labels(&format!("{LABEL_SERVICE_NAME}=web")))
        .await?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in list {
        let source = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_SOURCE_CLUSTER))
            .cloned();
        let entry = out.entry(source.unwrap_or_default()).or_default();
        entry.extend(s.endpoints.iter().flat_map(|e| e.addresses.clone()));
        entry.sort();
    }
    Ok(out)
}

async fn import_of(cluster: &str, ns: &str) -> TestResult<Option<ServiceImport>> {
    Ok(Api::<ServiceImport>::namespaced(client(cluster).await?, ns)
        .get_opt("web")
        .await?)
}

/// The `Conflict` condition of the export in `cluster`, as (status, reason).
async fn conflict_of(cluster: &str, ns: &str) -> TestResult<Option<(String, String)>> {
    let e = Api::<ServiceExport>::namespaced(client(cluster).await?, ns)
        .get_opt("web")
        .await?;
    Ok(e.and_then(|e| e.status)
        .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Conflict"))
        .map(|c| (c.status, c.reason)))
}

fn addrs(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

#[tokio::test]
async fn an_export_is_imported_everywhere_follows_endpoints_and_goes_when_unexported() -> TestResult {
    let _serial = SERIAL.lock().await;
    controller().await?;
    let tb = shared_testbed()?;
    let ns = tb.namespace("mcs-export", &[M1, M2]).await?;
    serve(
        M1,
        &ns,
        json!([{"port": 80, "targetPort": 8080}]),
        json!([{"addresses": ["10.1.0.1"], "conditions": {"ready": true}},
               {"addresses": ["10.1.0.2"], "conditions": {"ready": false}}]),
        true,
    )
    .await?;

    let import = wait_for("a ServiceImport in member-2", WAIT, || {
        let ns = ns.clone();
        async move { import_of(M2, &ns).await }
    })
    .await?;
    assert_eq!(import.spec.type_, ServiceImportType::ClusterSetIP);
    assert_eq!(import.spec.ports.iter().map(|p| p.port).collect::<Vec<_>>(), [80]);
    wait_for("the import's status to list member-1", WAIT, || {
        let ns = ns.clone();
        async move {
            let i = import_of(M2, &ns).await?;
            let clusters: Vec<String> = i
                .and_then(|i| i.status)
                .map(|s| s.clusters.into_iter().map(|c| c.cluster).collect())
                .unwrap_or_default();
            Ok((clusters == [M1]).then_some(()))
        }
    })
    .await?;
    for c in [M1, M2] {
        let want = BTreeMap::from([(M1.to_string(), addrs(&["10.1.0.1"]))]);
        wait_for(
            &format!("member-1's ready endpoint mirrored into {c}"),
            WAIT,
            || {
                let (ns, want) = (ns.clone(), want.clone());
                async move { Ok((imported_addresses(c, &ns).await? == want).then_some(())) }
            },
        )
        .await?;
    }
    // The clusterset IP: the cluster IP of the derived Service, whose endpoints are the mirrored slices.
    let derived = wait_for("the import's clusterset IP in member-2", WAIT, || {
        let ns = ns.clone();
        async move {
            let Some(svc) = Api::<Service>::namespaced(client(M2).await?, &ns)
                .get_opt("derived-web")
                .await?
            else {
                return Ok(None);
            };
            let ip = svc
                .spec
                .as_ref()
                .and_then(|s| s.cluster_ip.clone())
                .unwrap_or_default();
            let ips = import_of(M2, &ns).await?.map(|i| i.spec.ips).unwrap_or_default();
            Ok((ips == [ip.clone()]).then_some(svc))
        }
    })
    .await?;
    let spec = derived.spec.clone().unwrap_or_default();
    assert_eq!(spec.selector, None);
    assert_eq!(
        spec.ports
            .unwrap_or_default()
            .iter()
            .map(|p| p.port)
            .collect::<Vec<_>>(),
        [80]
    );
    let mirrored = Api::<EndpointSlice>::namespaced(client(M2).await?, &ns)
        .list(&ListParams::default().labels("kubernetes.io/service-name=derived-web"))
        .await?;
    assert_eq!(
        mirrored.items.len(),
        1,
        "kube-proxy finds the mirrored slice through the derived Service"
    );

    let valid = Api::<ServiceExport>::namespaced(client(M1).await?, &ns)
        .get("web")
        .await?
        .status
        .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Valid"))
        .map(|c| c.status);
    assert_eq!(valid.as_deref(), Some("True"));

    // An endpoint becomes ready and one is added: member-2 follows.
    set_endpoints(
        M1,
        &ns,
        json!([{"addresses": ["10.1.0.1"], "conditions": {"ready": true}},
               {"addresses": ["10.1.0.2"], "conditions": {"ready": true}},
               {"addresses": ["10.1.0.3"]}]),
    )
    .await?;
    let want = BTreeMap::from([(M1.to_string(), addrs(&["10.1.0.1", "10.1.0.2", "10.1.0.3"]))]);
    wait_for("the endpoint change to reach member-2", WAIT, || {
        let (ns, want) = (ns.clone(), want.clone());
        async move { Ok((imported_addresses(M2, &ns).await? == want).then_some(())) }
    })
    .await?;

    // Un-export: the import and the mirrored slices go from both members.
    Api::<ServiceExport>::namespaced(client(M1).await?, &ns)
        .delete("web", &DeleteParams::default())
        .await?;
    for c in [M1, M2] {
        wait_for(
            &format!("the import, slices and derived Service to leave {c}"),
            WAIT,
            || {
                let ns = ns.clone();
                async move {
                    let gone = import_of(c, &ns).await?.is_none()
                        && imported_addresses(c, &ns).await?.is_empty()
                        && Api::<Service>::namespaced(client(c).await?, &ns)
                            .get_opt("derived-web")
                            .await?
                            .is_none();
                    Ok(gone.then_some(()))
                }
            },
        )
        .await?;
    }
    // The source slice is the user's: untouched.
    assert!(
        Api::<EndpointSlice>::namespaced(client(M1).await?, &ns)
            .get_opt("web-src")
            .await?
            .is_some()
    );
    for c in [M1, M2] {
        delete_namespace(&client(c).await?, &ns).await;
    }
    Ok(())
}

#[tokio::test]
async fn conflicting_ports_mark_both_exports_and_the_oldest_wins() -> TestResult {
    let _serial = SERIAL.lock().await;
    controller().await?;
    let tb = shared_testbed()?;
    let ns = tb.namespace("mcs-conflict", &[M1, M2]).await?;
    serve(
        M1,
        &ns,
        json!([{"port": 80}]),
        json!([{"addresses": ["10.1.0.1"]}]),
        true,
    )
    .await?;
    wait_for("member-1's export imported into member-2", WAIT, || {
        let ns = ns.clone();
        async move { import_of(M2, &ns).await }
    })
    .await?;
    // Creation times have a resolution of one second: make member-2's export clearly younger.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    serve(
        M2,
        &ns,
        json!([{"port": 8080}]),
        json!([{"addresses": ["10.2.0.1"]}]),
        true,
    )
    .await?;

    for c in [M1, M2] {
        wait_for(
            &format!("a PortConflict condition on the export in {c}"),
            WAIT,
            || {
                let ns = ns.clone();
                async move {
                    Ok(
                        (conflict_of(c, &ns).await? == Some(("True".into(), "PortConflict".into())))
                            .then_some(()),
                    )
                }
            },
        )
        .await?;
    }
    let want = BTreeMap::from([
        (M1.to_string(), addrs(&["10.1.0.1"])),
        (M2.to_string(), addrs(&["10.2.0.1"])),
    ]);
    for c in [M1, M2] {
        let import = import_of(c, &ns).await?.ok_or("no import")?;
        assert_eq!(
            import.spec.ports.iter().map(|p| p.port).collect::<Vec<_>>(),
            [80],
            "the oldest export's port, in {c}"
        );
        wait_for(&format!("both clusters' endpoints in {c}"), WAIT, || {
            let (ns, want) = (ns.clone(), want.clone());
            async move { Ok((imported_addresses(c, &ns).await? == want).then_some(())) }
        })
        .await?;
    }

    // The younger export agrees again: the conflict clears.
    // A merge patch replaces the port list (an apply would add to it: ports are keyed by port number).
    Api::<Service>::namespaced(client(M2).await?, &ns)
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"ports": [{"port": 80}]}})),
        )
        .await?;
    for c in [M1, M2] {
        wait_for(&format!("the conflict to clear in {c}"), WAIT, || {
            let ns = ns.clone();
            async move {
                Ok(
                    (conflict_of(c, &ns).await? == Some(("False".into(), "NoConflicts".into())))
                        .then_some(()),
                )
            }
        })
        .await?;
    }
    for c in [M1, M2] {
        delete_namespace(&client(c).await?, &ns).await;
    }
    Ok(())
}

#[tokio::test]
async fn removing_the_exporting_cluster_removes_its_endpoints_elsewhere() -> TestResult {
    let _serial = SERIAL.lock().await;
    controller().await?;
    let tb = shared_testbed()?;
    let host = client(HOST).await?;
    let ns = tb.namespace("mcs-removal", &[M1, M2]).await?;
    serve(
        M1,
        &ns,
        json!([{"port": 80}]),
        json!([{"addresses": ["10.1.0.7"]}]),
        true,
    )
    .await?;
    let want = BTreeMap::from([(M1.to_string(), addrs(&["10.1.0.7"]))]);
    wait_for("member-1's endpoints in member-2", WAIT, || {
        let (ns, want) = (ns.clone(), want.clone());
        async move { Ok((imported_addresses(M2, &ns).await? == want).then_some(())) }
    })
    .await?;

    let kfcs: Api<KubeFedCluster> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    kfcs.delete(M1, &DeleteParams::default()).await?;
    let result = wait_for("member-1's slices and the import to leave member-2", WAIT, || {
        let ns = ns.clone();
        async move {
            let gone = imported_addresses(M2, &ns).await?.is_empty() && import_of(M2, &ns).await?.is_none();
            Ok(gone.then_some(()))
        }
    })
    .await;
    // Re-join member-1 whatever happened, so the other tests keep their clusterset.
    join(tb, &host, M1, BTreeMap::new()).await?;
    wait_ready(&[M1]).await?;
    result?;
    // Back in the clusterset, its export is imported again.
    wait_for("member-1's endpoints in member-2 after re-joining", WAIT, || {
        let (ns, want) = (ns.clone(), want.clone());
        async move { Ok((imported_addresses(M2, &ns).await? == want).then_some(())) }
    })
    .await?;
    for c in [M1, M2] {
        delete_namespace(&client(c).await?, &ns).await;
    }
    Ok(())
}

#[tokio::test]
async fn federated_services_with_load_balancers_get_dns_records() -> TestResult {
    let _serial = SERIAL.lock().await;
    controller().await?;
    let tb = shared_testbed()?;
    let host = client(HOST).await?;
    let ns = tb.namespace("mcs-dns", &[HOST, M1, M2]).await?;
    // The federated Service, placed nowhere (the members' Services below stand for its copies).
    let fed_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("types.kubefed.io", "v1beta1", "FederatedService"),
        "federatedservices",
    );
    let fed: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedService",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {"template": {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
                 "placement": {"clusters": []}}
    }))?;
    let feds: Api<DynamicObject> = Api::namespaced_with(host.clone(), &ns, &fed_ar);
    feds.create(&PostParams::default(), &fed).await?;
    for (c, ip) in [(M1, "192.0.2.10"), (M2, "198.51.100.7")] {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}
        }))?;
        let api: Api<Service> = Api::namespaced(client(c).await?, &ns);
        api.create(&PostParams::default(), &svc).await?;
        // No cloud provider on the testbed: write the load balancer's address as one would.
        api.patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})),
        )
        .await?;
    }
    let dns_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("externaldns.k8s.io", "v1alpha1", "DNSEndpoint"),
        "dnsendpoints",
    );
    let dns: Api<DynamicObject> = Api::namespaced_with(host.clone(), &ns, &dns_ar);
    let global = format!("web.{ns}.{DNS_DOMAIN}");
    let targets_of = |o: &DynamicObject, name: &str| -> Option<Value> {
        o.data["spec"]["endpoints"]
            .as_array()?
            .iter()
            .find(|e| e["dnsName"] == name && e["recordType"] == "A")
            .map(|e| e["targets"].clone())
    };
    wait_for("A records of both members' load balancers", WAIT, || {
        let (dns, global) = (dns.clone(), global.clone());
        async move {
            let o = dns.get_opt("web").await?;
            Ok(
                o.filter(|o| targets_of(o, &global) == Some(json!(["192.0.2.10", "198.51.100.7"])))
                    .map(|_| ()),
            )
        }
    })
    .await?;
    let o = dns.get("web").await?;
    assert_eq!(
        targets_of(&o, &format!("web.{ns}.{M2}.{DNS_DOMAIN}")),
        Some(json!(["198.51.100.7"])),
        "a per-cluster name"
    );

    // member-2's load balancer goes: its address leaves the records.
    Api::<Service>::namespaced(client(M2).await?, &ns)
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": null}}})),
        )
        .await?;
    wait_for("member-2's address to leave the records", WAIT, || {
        let (dns, global) = (dns.clone(), global.clone());
        async move {
            let o = dns.get_opt("web").await?;
            Ok(
                o.filter(|o| targets_of(o, &global) == Some(json!(["192.0.2.10"])))
                    .map(|_| ()),
            )
        }
    })
    .await?;

    // The federated Service goes: so do its records.
    feds.delete("web", &DeleteParams::default()).await?;
    wait_for("the DNSEndpoint to be deleted", Duration::from_secs(60), || {
        let dns = dns.clone();
        async move { Ok(dns.get_opt("web").await?.is_none().then_some(())) }
    })
    .await?;
    for c in [HOST, M1, M2] {
        delete_namespace(&client(c).await?, &ns).await;
    }
    Ok(())
}

fn fed_ar(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("types.kubefed.io", "v1beta1", kind),
        plural,
    )
}

#[tokio::test]
async fn a_federated_service_and_export_are_reachable_from_every_member() -> TestResult {
    let _serial = SERIAL.lock().await;
    controller().await?;
    let tb = shared_testbed()?;
    let host = client(HOST).await?;
    let ns = tb.namespace("mcs-fed", &[HOST]).await?;
    let everywhere = json!({"clusterSelector": {}});
    let create = |kind: &'static str, plural: &'static str, spec: Value| {
        let (host, ns) = (host.clone(), ns.clone());
        async move {
            let api: Api<DynamicObject> = Api::namespaced_with(host, &ns, &fed_ar(kind, plural));
            let name = if kind == "FederatedNamespace" {
                ns.clone()
            } else {
                "web".into()
            };
            let o: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "types.kubefed.io/v1beta1", "kind": kind,
                "metadata": {"name": name, "namespace": ns}, "spec": spec
            }))?;
            api.create(&PostParams::default(), &o).await?;
            TestResult::Ok(())
        }
    };
    // What `kubectl fed apply -f web.yaml --clusters member-1,member-2` makes of a Service and its export.
    create(
        "FederatedNamespace",
        "federatednamespaces",
        json!({"placement": everywhere}),
    )
    .await?;
    create(
        "FederatedService",
        "federatedservices",
        json!({"template": {"spec": {"ports": [{"port": 80}]}}, "placement": everywhere}),
    )
    .await?;
    create(
        "FederatedServiceExport",
        "federatedserviceexports",
        json!({"template": {}, "placement": everywhere}),
    )
    .await?;
    for (c, ip) in [(M1, "10.1.0.9"), (M2, "10.2.0.9")] {
        wait_for(&format!("the Service propagated to {c}"), WAIT, || {
            let ns = ns.clone();
            async move {
                Ok(Api::<Service>::namespaced(client(c).await?, &ns)
                    .get_opt("web")
                    .await?
                    .map(|_| ()))
            }
        })
        .await?;
        set_endpoints(c, &ns, json!([{"addresses": [ip]}])).await?;
    }
    let want = BTreeMap::from([
        (M1.to_string(), addrs(&["10.1.0.9"])),
        (M2.to_string(), addrs(&["10.2.0.9"])),
    ]);
    for c in [M1, M2] {
        wait_for(
            &format!("both members' endpoints imported into {c}"),
            Duration::from_secs(60),
            || {
                let (ns, want) = (ns.clone(), want.clone());
                async move {
                    let clusters: Vec<String> = import_of(c, &ns)
                        .await?
                        .and_then(|i| i.status)
                        .map(|s| s.clusters.into_iter().map(|c| c.cluster).collect())
                        .unwrap_or_default();
                    Ok((clusters == [M1, M2] && imported_addresses(c, &ns).await? == want).then_some(()))
                }
            },
        )
        .await?;
    }
    for c in [HOST, M1, M2] {
        delete_namespace(&client(c).await?, &ns).await;
    }
    Ok(())
}
