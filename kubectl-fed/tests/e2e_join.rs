//! End-to-end: the cluster lifecycle with the built `kubectl-fed` binary on the testbed (host + 2 members,
//! kube-controller-manager in each, so ServiceAccount tokens are issued) and the controller running
//! in-process, which health-checks the joined members with the identity join created.
//!
//! One test walks the lifecycle in order, since every step depends on the previous one: join two members
//! with labels and wait for Ready; re-running join changes nothing; the same cluster under another name is
//! refused; `get clusters` shows both Ready; the member identity is allowed within its grant and denied
//! outside it; a federated app propagates through that identity; `unjoin --cleanup` leaves no object of ours.
//! At the end, a context without enough rights fails clearly and leaves nothing behind (rollback).

mod common;

use common::Run;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use kubefed_core::api::KubeFedCluster;
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_tests::controller::{ControllerSetup, shared_controller};
use kubefed_tests::shared_testbed;
use kubefed_tests::testbed::HOST;
use kubefed_tests::wait_for;
use serde_json::{Value, json};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const M1: &str = "member-1";
const M2: &str = "member-2";

/// Runs kubectl-fed with the testbed kubeconfig (current context: host).
async fn fed(args: &[&str]) -> TestResult<Run> {
    common::fed_at(None, args, "").await
}

/// Starts (once) kubefed on the host and the controller on a runtime of its own. Members are not joined:
/// that is what these tests do. Probe fast, so Ready shows within seconds of joining.
async fn controller() -> TestResult {
    let setup = ControllerSetup {
        manager: "join-tests",
        fast_health_check: true,
        members: Vec::new(),
    };
    shared_controller(setup, |host| async move {
        let settings = kubefed_controller::Settings {
            concurrency: 4,
            member_timeout: Duration::from_secs(5),
            deletion_timeout: Duration::from_secs(20),
            identity: "join-tests".into(),
            ..Default::default()
        };
        let metrics = std::sync::Arc::new(kubefed_controller::Metrics::new());
        Ok(kubefed_controller::start(host, settings, metrics))
    })
    .await
}

/// A client of `member` authenticated with the token of the identity join created there.
async fn identity_client(member: &str, token: &str) -> TestResult<kube::Client> {
    let tb = shared_testbed()?;
    let dir = tempfile::tempdir()?;
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, tb.ca_pem(member)?)?;
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: m\n  cluster:\n    server: {}\n    certificate-authority: {}\n\
         users:\n- name: id\n  user:\n    token: {token}\ncontexts:\n- name: m\n  context:\n    cluster: m\n    user: id\n\
         current-context: m\n",
        tb.endpoint(member)?,
        ca.display()
    );
    let kc = kube::config::Kubeconfig::from_yaml(&yaml)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(cfg)?)
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_get_grant_propagate_unjoin() -> TestResult {
    controller().await?;
    let tb = shared_testbed()?;
    let host = tb.client(HOST).await?;
    let member1 = tb.client(M1).await?;

    // --dry-run checks and prints the plan, and writes nothing.
    let r = fed(&["join", M1, "--dry-run"]).await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("host: kubefedcluster.core.kubefed.io/member-1 in kube-federation-system"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("grant: clusterroles.rbac.authorization.k8s.io, configmaps,"),
        "{}",
        r.stdout
    );
    let sas: Api<ServiceAccount> = Api::namespaced(member1.clone(), DEFAULT_SYSTEM_NAMESPACE);
    assert!(
        sas.get_opt("member-1-host").await?.is_none(),
        "dry run wrote nothing"
    );

    // Join two members with labels; each waits for Ready.
    let r = fed(&["join", M1, "--labels", "region=eu,tier=prod", "--timeout", "120s"]).await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("cluster member-1 joined and Ready (Kubernetes v1."),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("member-1: serviceaccount/member-1-host created"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("clusterroles.rbac.authorization.k8s.io needs the escalate and bind verbs"),
        "the RBAC warning: {}",
        r.stderr
    );
    // member-2 first at an address nobody answers: joined, but never Ready; the message says what to check.
    let r = fed(&[
        "join",
        M2,
        "--api-endpoint",
        "https://127.0.0.1:1",
        "--timeout",
        "4s",
    ])
    .await?;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cluster member-2 was joined but is not Ready after 4s"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("re-run join with --api-endpoint URL"),
        "{}",
        r.stderr
    );
    // Joining again at the right address moves it (same CA: the same cluster).
    let r = fed(&[
        "join",
        M2,
        "--cluster-context",
        M2,
        "--labels",
        "region=us",
        "--timeout",
        "120s",
    ])
    .await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cluster member-2 moves from API endpoint https://127.0.0.1:1 to https://127.0.0.1:"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout
            .contains("host: kubefedcluster.core.kubefed.io/member-2 configured"),
        "{}",
        r.stdout
    );

    // Re-running join is a no-op.
    let r = fed(&["join", M1, "--labels", "region=eu,tier=prod", "--timeout", "120s"]).await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let applied: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with(M1) || l.starts_with(HOST))
        .collect();
    assert_eq!(applied.len(), 6, "{}", r.stdout);
    assert!(applied.iter().all(|l| l.ends_with(" unchanged")), "{}", r.stdout);
    let r = fed(&["join", M1, "--error-on-existing"]).await?;
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("already joined"), "{}", r.stderr);

    // The same cluster under another name is refused, before anything is written.
    let r = fed(&["join", "again", "--cluster-context", M1]).await?;
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("is already joined as member-1"), "{}", r.stderr);
    let kfcs: Api<KubeFedCluster> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);
    assert!(kfcs.get_opt("again").await?.is_none());

    // get clusters: both Ready, with version and labels.
    let r = fed(&["get", "clusters"]).await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("READY") && lines[0].contains("LABELS"),
        "{}",
        r.stdout
    );
    let row1: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with(M1))
        .ok_or("no member-1 row")?
        .split_whitespace()
        .collect();
    assert_eq!(row1[1], "True", "{}", r.stdout);
    assert!(row1[2].starts_with("v1."), "{}", r.stdout);
    assert_eq!(row1[3], "region=eu,tier=prod");
    let r = fed(&["get", "clusters", "-o", "wide"]).await?;
    assert!(
        r.stdout.contains("API-ENDPOINT") && r.stdout.contains("/healthz responded with ok"),
        "{}",
        r.stdout
    );
    let r = fed(&["get", "clusters", "-o", "json"]).await?;
    let list: Value = serde_json::from_str(&r.stdout)?;
    let names: Vec<&str> = list["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter_map(|i| i["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, [M1, M2]);

    // The identity: allowed within its grant, denied outside it.
    let secrets: Api<Secret> = Api::namespaced(member1.clone(), DEFAULT_SYSTEM_NAMESPACE);
    let token_secret = secrets.get("member-1-host-token").await?;
    let token = token_secret
        .data
        .as_ref()
        .and_then(|d| d.get("token"))
        .ok_or("no token")?;
    let id = identity_client(M1, std::str::from_utf8(&token.0)?).await?;
    assert!(id.apiserver_version().await.is_ok(), "GET /version allowed");
    Api::<ConfigMap>::all(id.clone())
        .list(&ListParams::default())
        .await?;
    Api::<Namespace>::all(id.clone())
        .list(&ListParams::default())
        .await?;
    let denied = Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(id.clone(), "kube-system")
        .list(&ListParams::default())
        .await
        .expect_err("roles are not an enabled type");
    assert_eq!(status_code(&denied), Some(403), "{denied}");
    let denied = Api::<k8s_openapi::api::core::v1::PersistentVolume>::all(id.clone())
        .list(&ListParams::default())
        .await
        .expect_err("persistentvolumes are not an enabled type");
    assert_eq!(status_code(&denied), Some(403), "{denied}");
    let denied = Api::<k8s_openapi::api::core::v1::Pod>::all(id.clone())
        .list(&ListParams::default())
        .await
        .expect_err("pods are not an enabled type");
    assert_eq!(status_code(&denied), Some(403), "{denied}");
    let role = Api::<ClusterRole>::all(member1.clone())
        .get("kubefed-controller-manager:member-1-host")
        .await?;
    assert!(
        !role
            .rules
            .iter()
            .flatten()
            .any(|r| r.resources.iter().flatten().any(|x| x == "*")),
        "no wildcard: {role:?}"
    );

    // Enabling a type extends the grant of the joined members: PodTemplates were denied, now allowed.
    let podtemplates = Api::<k8s_openapi::api::core::v1::PodTemplate>::all(id.clone());
    let denied = podtemplates
        .list(&ListParams::default())
        .await
        .expect_err("not enabled yet");
    assert_eq!(status_code(&denied), Some(403), "{denied}");
    let r = fed(&["enable", "podtemplates"]).await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("member-1: clusterrole.rbac.authorization.k8s.io/kubefed-controller-manager:member-1-host configured"),
        "{}",
        r.stdout
    );
    podtemplates.list(&ListParams::default()).await?;

    // An app propagates to member-1 through that identity, the newly enabled type included.
    let ns = tb.namespace_name("join-app");
    let app = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  \
         name: settings\n  namespace: {ns}\ndata:\n  a: b\n---\napiVersion: v1\nkind: PodTemplate\nmetadata:\n  name: tpl\n  namespace: {ns}\n\
         template:\n  spec:\n    containers:\n    - name: c\n      image: busybox\n"
    );
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), app)?;
    let path = file.path().to_string_lossy().into_owned();
    let r = fed(&["apply", "-f", &path, "--clusters", M1]).await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let cms: Api<ConfigMap> = Api::namespaced(member1.clone(), &ns);
    wait_for("the ConfigMap in member-1", Duration::from_secs(90), || {
        let cms = cms.clone();
        async move { Ok(cms.get_opt("settings").await?.map(|_| ())) }
    })
    .await?;
    let pts: Api<k8s_openapi::api::core::v1::PodTemplate> = Api::namespaced(member1.clone(), &ns);
    wait_for("the PodTemplate in member-1", Duration::from_secs(90), || {
        let pts = pts.clone();
        async move { Ok(pts.get_opt("tpl").await?.map(|_| ())) }
    })
    .await?;

    // status: one row per cluster, matching the members.
    let settings = "cm/settings".to_string();
    let shown = wait_for("status to show member-1 OK", Duration::from_secs(60), || {
        let (ns, settings) = (ns.clone(), settings.clone());
        async move {
            let r = fed(&["status", &settings, "-n", &ns]).await?;
            Ok((r.code == Some(0) && r.stdout.contains("Propagation: True")).then_some(r.stdout))
        }
    })
    .await?;
    let row = |name: &str| -> Vec<String> {
        shown
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    assert_eq!(row(M1)[..3], ["member-1", "yes", "OK"], "{shown}");
    assert_eq!(row(M2)[..3], ["member-2", "no", "-"], "{shown}");
    let r = fed(&["status", "-f", &path]).await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("federatedpodtemplate/tpl (namespace "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(&format!("federatednamespace/{ns} (namespace {ns})")),
        "{}",
        r.stdout
    );
    let r = fed(&["status", "deploy/missing", "-n", &ns]).await?;
    assert_eq!(r.code, Some(1));
    assert!(r.stdout.contains("not found on the host"), "{}", r.stdout);

    // Multi-Cluster Services work with the least-privilege grant join made: an export in member-1 is
    // imported into member-2 (Services, EndpointSlices, ServiceImports written there) and its status says
    // Valid (the export's status written in member-1).
    {
        use k8s_openapi::api::core::v1::Service;
        use k8s_openapi::api::discovery::v1::EndpointSlice;
        use kube::api::{DeleteParams, PostParams};
        use kubefed_core::mcs::{ServiceExport, ServiceImport};
        let mcs_ns = tb.namespace("join-mcs", &[M1, M2]).await?;
        let member2 = tb.client(M2).await?;
        let create = |c: kube::Client, v: Value| {
            let ns = mcs_ns.clone();
            async move {
                let o: kube::api::DynamicObject = serde_json::from_value(v)?;
                let types = o.types.clone().ok_or("no types")?;
                let (group, version) = types
                    .api_version
                    .split_once('/')
                    .unwrap_or(("", &types.api_version));
                let gvk = kube::core::GroupVersionKind::gvk(group, version, &types.kind);
                let plural = match types.kind.as_str() {
                    "Service" => "services",
                    "EndpointSlice" => "endpointslices",
                    _ => "serviceexports",
                };
                let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, plural);
                kube::Api::<kube::api::DynamicObject>::namespaced_with(c, &ns, &ar)
                    .create(&PostParams::default(), &o)
                    .await?;
                TestResult::Ok(())
            }
        };
        create(
            member1.clone(),
            json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
        )
        .await?;
        create(member1.clone(), json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-src", "labels": {"kubernetes.io/service-name": "web",
                                                     "endpointslice.kubernetes.io/managed-by": "tests.kubefed.io"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.0.1"]}], "ports": [{"port": 80}]}))
        .await?;
        create(
            member1.clone(),
            json!({"apiVersion": "multicluster.x-k8s.io/v1alpha1", "kind": "ServiceExport",
            "metadata": {"name": "web"}}),
        )
        .await?;
        let imports: Api<ServiceImport> = Api::namespaced(member2.clone(), &mcs_ns);
        wait_for(
            "the import in member-2, with its clusterset IP",
            Duration::from_secs(60),
            || {
                let imports = imports.clone();
                async move {
                    Ok(imports
                        .get_opt("web")
                        .await?
                        .filter(|i| !i.spec.ips.is_empty())
                        .map(|_| ()))
                }
            },
        )
        .await?;
        let slices: Api<EndpointSlice> = Api::namespaced(member2.clone(), &mcs_ns);
        let mirrored = slices
            .list(&ListParams::default().labels("multicluster.kubernetes.io/source-cluster=member-1"))
            .await?;
        assert_eq!(mirrored.items.len(), 1);
        let exports: Api<ServiceExport> = Api::namespaced(member1.clone(), &mcs_ns);
        wait_for("Valid=True on the export", Duration::from_secs(60), || {
            let exports = exports.clone();
            async move {
                let valid = exports
                    .get("web")
                    .await?
                    .status
                    .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Valid"))
                    .is_some_and(|c| c.status == "True");
                Ok(valid.then_some(()))
            }
        })
        .await?;
        exports.delete("web", &DeleteParams::default()).await?;
        for c in [member1.clone(), member2.clone()] {
            let (imports, services): (Api<ServiceImport>, Api<Service>) =
                (Api::namespaced(c.clone(), &mcs_ns), Api::namespaced(c, &mcs_ns));
            wait_for(
                "the import to go with the export",
                Duration::from_secs(60),
                || {
                    let (imports, services) = (imports.clone(), services.clone());
                    async move {
                        let gone = imports.get_opt("web").await?.is_none()
                            && services.get_opt("derived-web").await?.is_none();
                        Ok(gone.then_some(()))
                    }
                },
            )
            .await?;
        }
    }

    // Disabling the type takes the right away again.
    let r = fed(&["disable", "podtemplates"]).await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("member-1: clusterrole.rbac.authorization.k8s.io/kubefed-controller-manager:member-1-host configured"), "{}", r.stdout);
    let denied = podtemplates
        .list(&ListParams::default())
        .await
        .expect_err("disabled again");
    assert_eq!(status_code(&denied), Some(403), "{denied}");

    // unjoin --cleanup: warns about the placement, deletes what we propagated and the identity.
    let r = fed(&["unjoin", M1, "--cleanup"]).await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stderr.contains("still place onto member-1"), "{}", r.stderr);
    assert!(r.stdout.contains("cluster member-1 unjoined"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("member-1: deleted 3 objects propagated by kubefed"),
        "{}",
        r.stdout
    );
    assert!(kfcs.get_opt(M1).await?.is_none());
    assert!(
        Api::<Secret>::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE)
            .get_opt("member-1-token")
            .await?
            .is_none()
    );
    let managed = ListParams::default().labels("kubefed.io/managed=true");
    assert!(
        Api::<ConfigMap>::all(member1.clone())
            .list(&managed)
            .await?
            .items
            .is_empty()
    );
    assert!(
        Api::<k8s_openapi::api::core::v1::PodTemplate>::all(member1.clone())
            .list(&managed)
            .await?
            .items
            .is_empty()
    );
    wait_for("the propagated namespace to go", Duration::from_secs(90), || {
        let nss = Api::<Namespace>::all(member1.clone());
        let managed = managed.clone();
        async move { Ok(nss.list(&managed).await?.items.is_empty().then_some(())) }
    })
    .await?;
    let ours = ListParams::default().labels("app.kubernetes.io/managed-by=kubectl-fed");
    assert!(
        Api::<ServiceAccount>::all(member1.clone())
            .list(&ours)
            .await?
            .items
            .is_empty()
    );
    assert!(
        Api::<ClusterRole>::all(member1.clone())
            .list(&ours)
            .await?
            .items
            .is_empty()
    );
    let r = fed(&["unjoin", M1]).await?;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("cluster member-1 is not joined"),
        "{}",
        r.stderr
    );

    // Missing rights in the member: alice may create namespaces and ServiceAccounts there but not Secrets.
    // join says which context lacks what, and rolls back what it had created.
    partial_rights_for_alice(&member1).await?;
    let r = fed(&["join", "alice-m1", "--cluster-context", "alice@member-1"]).await?;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("context \"alice@member-1\" lacks the rights to write secret/alice-m1-host-token"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("rolled back: deleted alice@member-1: serviceaccount/alice-m1-host"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("rolled back: deleted alice@member-1: namespace/kube-federation-system"),
        "{}",
        r.stderr
    );
    let sas: Api<ServiceAccount> = Api::namespaced(member1.clone(), DEFAULT_SYSTEM_NAMESPACE);
    assert!(sas.get_opt("alice-m1-host").await?.is_none());
    let ns = Api::<Namespace>::all(member1.clone())
        .get_opt(DEFAULT_SYSTEM_NAMESPACE)
        .await?;
    assert!(
        ns.is_none_or(|n| n.metadata.deletion_timestamp.is_some()),
        "namespace rolled back"
    );
    assert!(kfcs.get_opt("alice-m1").await?.is_none());

    // An unreachable member: nothing is removed without --force; with it the host side goes and what is
    // left in the member is listed.
    let r = fed(&["unjoin", M2, "--cluster-context", "nowhere"]).await?;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("nothing was removed; pass --force"),
        "{}",
        r.stderr
    );
    assert!(kfcs.get_opt(M2).await?.is_some());
    let r = fed(&["unjoin", M2, "--cluster-context", "nowhere", "--force"]).await?;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stdout
            .contains("host: kubefedcluster.core.kubefed.io/member-2 deleted"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("not removed: nowhere: serviceaccount/member-2-host in kube-federation-system"),
        "{}",
        r.stderr
    );
    assert!(kfcs.get_opt(M2).await?.is_none());
    Ok(())
}

/// Lets alice create (and delete) namespaces and ServiceAccounts in `member`, nothing else.
async fn partial_rights_for_alice(member: &kube::Client) -> TestResult {
    let pp = PatchParams::apply("join-tests").force();
    let role: ClusterRole = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "join-tests-partial"},
        "rules": [{"apiGroups": [""], "resources": ["namespaces", "serviceaccounts"],
                   "verbs": ["get", "create", "patch", "delete"]}]
    }))?;
    Api::<ClusterRole>::all(member.clone())
        .patch("join-tests-partial", &pp, &Patch::Apply(&role))
        .await?;
    let binding: k8s_openapi::api::rbac::v1::ClusterRoleBinding = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "join-tests-partial"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "join-tests-partial"},
        "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]
    }))?;
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(member.clone())
        .patch("join-tests-partial", &pp, &Patch::Apply(&binding))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_with_an_unknown_context_names_the_known_ones() -> TestResult {
    let r = fed(&["join", "nowhere"]).await?;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("context \"nowhere\" (--cluster-context (default: NAME)) is not in the kubeconfig"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("member-1"), "lists the contexts: {}", r.stderr);
    Ok(())
}
