//! End-to-end: the built `kubectl-fed` binary against the testbed's real host API server
//! (`--kubeconfig <testbed> --context host`). Each test works in its own namespace.
//!
//! Covered: enabling a built-in and a CRD-defined type (CRD Established, FederatedTypeConfig written,
//! `spec.retainReplicas` only for types with replicas), disabling and the `--delete-crd` refusal; applying a
//! multi-document app that the host's CRD schemas accept, re-applying it (`unchanged`), `--dry-run=server`
//! changing nothing; one failing object not stopping the others; namespaces that are not federated.

mod common;

use common::fed;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kubefed_core::api::FederatedTypeConfig;
use kubefed_core::api::constants::DEFAULT_SYSTEM_NAMESPACE;
use kubefed_tests::fixtures::install_kubefed;
use kubefed_tests::shared_testbed;
use kubefed_tests::testbed::{HOST, delete_namespace, install_crds};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn federated(client: &kube::Client, ns: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: "types.kubefed.io".into(),
        version: "v1beta1".into(),
        api_version: "types.kubefed.io/v1beta1".into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// A multi-document app in namespace `ns` (the Namespace itself included), as people write it.
fn app(ns: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels: {{app: web}}
  annotations: {{owner: team-web}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {ns}
spec:
  selector: {{app: web}}
  ports:
  - port: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {ns}
data:
  mode: "0644"
---
apiVersion: v1
kind: Secret
metadata:
  name: token
  namespace: {ns}
stringData:
  token: s3cr3t
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: web
  namespace: {ns}
"#
    )
}

const APP_OBJECTS: [&str; 6] = [
    "federatednamespace.types.kubefed.io/NS",
    "federateddeployment.types.kubefed.io/web",
    "federatedservice.types.kubefed.io/web",
    "federatedconfigmap.types.kubefed.io/settings",
    "federatedsecret.types.kubefed.io/token",
    "federatedserviceaccount.types.kubefed.io/web",
];

fn lines_for(ns: &str, verb: &str) -> String {
    let mut lines: String = APP_OBJECTS
        .iter()
        .map(|o| format!("{} {verb}\n", o.replace("NS", ns)))
        .collect();
    if verb == "created" {
        lines.insert_str(0, &format!("namespace/{ns} created\n"));
    }
    lines
}

#[tokio::test]
async fn apply_stores_the_app_then_reports_unchanged_and_dry_run_changes_nothing() -> TestResult {
    let tb = shared_testbed()?;
    let host = install_kubefed(tb).await?;
    let ns = tb.namespace_name("fed-apply");
    let input = app(&ns);

    let first = fed(&["apply", "-f", "-", "--clusters", "member-1,member-2"], &input).await?;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert_eq!(first.stdout, lines_for(&ns, "created"));

    // The host stored every object as converted: its CRD schemas accepted them.
    let deploy = federated(&host, &ns, "FederatedDeployment", "federateddeployments")
        .get("web")
        .await?;
    assert_eq!(deploy.data["spec"]["template"]["spec"]["replicas"], 2);
    assert_eq!(
        deploy.data["spec"]["template"]["metadata"]["annotations"]["owner"],
        "team-web"
    );
    assert_eq!(
        deploy.data["spec"]["placement"],
        json!({"clusters": [{"name": "member-1"}, {"name": "member-2"}]})
    );
    let managers: Vec<_> = deploy
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, ["kubectl-fed"]);
    let cm = federated(&host, &ns, "FederatedConfigMap", "federatedconfigmaps")
        .get("settings")
        .await?;
    assert_eq!(cm.data["spec"]["template"]["data"]["mode"], "0644");
    let fns = federated(&host, &ns, "FederatedNamespace", "federatednamespaces")
        .get(&ns)
        .await?;
    assert_eq!(fns.data["spec"]["placement"], deploy.data["spec"]["placement"]);

    let again = fed(&["apply", "-f", "-", "--clusters", "member-1,member-2"], &input).await?;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.stdout, lines_for(&ns, "unchanged"));

    // A server dry run of a change reports it and stores nothing.
    let rv = deploy.metadata.resource_version.clone();
    let dry = fed(
        &["apply", "-f", "-", "--clusters", "member-1", "--dry-run=server"],
        &input,
    )
    .await?;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    assert!(
        dry.stdout
            .contains("federateddeployment.types.kubefed.io/web configured (server dry run)\n"),
        "{}",
        dry.stdout
    );
    let after = federated(&host, &ns, "FederatedDeployment", "federateddeployments")
        .get("web")
        .await?;
    assert_eq!(after.metadata.resource_version, rv);
    assert_eq!(after.data["spec"]["placement"], deploy.data["spec"]["placement"]);
    let unchanged = fed(
        &[
            "apply",
            "-f",
            "-",
            "--clusters",
            "member-1,member-2",
            "--dry-run=server",
        ],
        &input,
    )
    .await?;
    assert!(
        unchanged
            .stdout
            .contains("federateddeployment.types.kubefed.io/web unchanged (server dry run)\n")
    );

    // A real change is `configured`.
    let changed = fed(&["apply", "-f", "-", "--clusters", "member-1"], &input).await?;
    assert!(
        changed
            .stdout
            .contains("federateddeployment.types.kubefed.io/web configured\n"),
        "{}",
        changed.stdout
    );
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn one_failing_object_does_not_stop_the_others() -> TestResult {
    let tb = shared_testbed()?;
    let host = install_kubefed(tb).await?;
    let ns = tb.namespace_name("fed-partial");
    let input = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: good, namespace: {ns}}}\ndata: {{k: v}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: Bad_Name, namespace: {ns}}}\nspec: {{replicas: 1}}\n---\n\
         apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: nightly, namespace: {ns}}}\nspec: {{schedule: '@daily'}}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {{name: also-good, namespace: {ns}}}\n"
    );
    let r = fed(&["apply", "-f", "-"], &input).await?;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "namespace/{ns} created\nfederatednamespace.types.kubefed.io/{ns} created\n\
             federatedconfigmap.types.kubefed.io/good created\nfederatedsecret.types.kubefed.io/also-good created\n"
        )
    );
    assert!(
        r.stderr.contains("error: 2 of 5 objects failed (3 applied):"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("federateddeployment.types.kubefed.io/Bad_Name (-:10 (document 3)): FederatedDeployment.types.kubefed.io \"Bad_Name\" is invalid"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "federatedcronjob.types.kubefed.io/nightly (-:15 (document 4)): CronJob is not enabled for federation on the \
             host (no FederatedTypeConfig cronjobs.batch in namespace kube-federation-system); run `kubectl fed enable \
             cronjobs.batch`"
        ),
        "{}",
        r.stderr
    );
    assert!(
        federated(&host, &ns, "FederatedSecret", "federatedsecrets")
            .get_opt("also-good")
            .await?
            .is_some()
    );
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn objects_need_a_federated_namespace() -> TestResult {
    let tb = shared_testbed()?;
    let host = install_kubefed(tb).await?;
    let ns = tb.namespace("fed-ns", &[HOST]).await?;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n";
    let r = fed(&["apply", "-f", "-", "-n", &ns], cm).await?;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains(&format!(
            "namespace {ns:?} is not federated (there is no FederatedNamespace {ns:?} in it), so the object would be \
             placed on no cluster; run again with --create-namespace"
        )),
        "{}",
        r.stderr
    );
    let r = fed(
        &[
            "apply",
            "-f",
            "-",
            "-n",
            &ns,
            "--create-namespace",
            "--cluster-selector",
            "region=eu",
        ],
        cm,
    )
    .await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "federatednamespace.types.kubefed.io/{ns} created\nfederatedconfigmap.types.kubefed.io/c created\n"
        )
    );
    let fns = federated(&host, &ns, "FederatedNamespace", "federatednamespaces")
        .get(&ns)
        .await?;
    assert_eq!(
        fns.data["spec"]["placement"],
        json!({"clusterSelector": {"matchLabels": {"region": "eu"}}})
    );
    delete_namespace(&host, &ns).await;
    Ok(())
}

#[tokio::test]
async fn enable_and_disable_builtin_and_crd_types() -> TestResult {
    let tb = shared_testbed()?;
    let host = install_kubefed(tb).await?;
    let crds: Api<CustomResourceDefinition> = Api::all(host.clone());
    let ftcs: Api<FederatedTypeConfig> = Api::namespaced(host.clone(), DEFAULT_SYSTEM_NAMESPACE);

    // A built-in type that is not a default one, by short name; StatefulSets have replicas.
    let r = fed(&["enable", "sts"], "").await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "customresourcedefinition.apiextensions.k8s.io/federatedstatefulsets.types.kubefed.io created\n\
         federatedtypeconfig.core.kubefed.io/statefulsets.apps created\n"
    );
    let crd = crds.get("federatedstatefulsets.types.kubefed.io").await?;
    let spec_props = |crd: &CustomResourceDefinition| {
        serde_json::to_value(&crd.spec.versions[0].schema).unwrap_or_default()["openAPIV3Schema"]["properties"]["spec"]
            ["properties"]
            .clone()
    };
    assert!(
        spec_props(&crd).get("retainReplicas").is_some(),
        "statefulsets have spec.replicas"
    );
    assert_eq!(
        ftcs.get("statefulsets.apps").await?.spec.target_type.kind,
        "StatefulSet"
    );
    let again = fed(&["enable", "statefulsets.apps"], "").await?;
    assert!(
        again
            .stdout
            .ends_with("federatedtypeconfig.core.kubefed.io/statefulsets.apps unchanged\n"),
        "{}",
        again.stdout
    );

    // A CRD-defined type: installed on the host first, then enabled by its kind.
    let group = format!("e2e{}.example.com", std::process::id());
    let widget: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("gizmos.{group}")},
        "spec": {"group": group, "scope": "Namespaced",
            "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo", "shortNames": ["gz"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object", "properties": {"spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer", "format": "int32"}, "color": {"type": "string"}}}}}}}]}
    }))?;
    install_crds(&host, &[widget]).await?;
    let r = fed(&["enable", &format!("gizmos.{group}")], "").await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let fed_crd = crds.get("federatedgizmos.types.kubefed.io").await?;
    assert!(
        spec_props(&fed_crd).get("retainReplicas").is_some(),
        "the CRD's schema has an int32 spec.replicas"
    );
    assert_eq!(fed_crd.spec.names.short_names, Some(vec!["fgz".to_string()]));
    let ftc = ftcs.get(&format!("gizmos.{group}")).await?;
    assert_eq!(
        (
            ftc.spec.target_type.kind.as_str(),
            ftc.spec.target_type.group.as_str()
        ),
        ("Gizmo", group.as_str())
    );

    // Its objects apply.
    let ns = tb.namespace_name("fed-gizmo");
    let input = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n\
         apiVersion: {group}/v1\nkind: Gizmo\nmetadata: {{name: g1, namespace: {ns}}}\nspec: {{replicas: 2, color: red}}\n"
    );
    let r = fed(&["apply", "-f", "-"], &input).await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.ends_with("federatedgizmo.types.kubefed.io/g1 created\n"),
        "{}",
        r.stdout
    );

    // disable: propagation off; --delete-crd refused while the object exists, then done.
    let r = fed(&["disable", "gz"], "").await?;
    assert_eq!(
        (r.code, r.stdout.clone()),
        (
            Some(0),
            format!("federatedtypeconfig.core.kubefed.io/gizmos.{group} disabled\n")
        )
    );
    assert!(!ftcs.get(&format!("gizmos.{group}")).await?.propagation_enabled());
    let r = fed(&["disable", "Gizmo", "--delete-crd"], "").await?;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains(&format!(
            "refusing to delete CRD federatedgizmos.types.kubefed.io: 1 FederatedGizmo object still exists (1 in {ns})"
        )),
        "{}",
        r.stderr
    );
    assert!(
        ftcs.get_opt(&format!("gizmos.{group}")).await?.is_some(),
        "nothing was changed"
    );
    federated(&host, &ns, "FederatedGizmo", "federatedgizmos")
        .delete("g1", &Default::default())
        .await?;
    let r = fed(&["disable", "Gizmo", "--delete-crd"], "").await?;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "federatedtypeconfig.core.kubefed.io/gizmos.{group} deleted\n\
             customresourcedefinition.apiextensions.k8s.io/federatedgizmos.types.kubefed.io deleted\n"
        )
    );
    assert!(ftcs.get_opt(&format!("gizmos.{group}")).await?.is_none());

    // Names that resolve to nothing, or to kubefed itself, are refused with the reason.
    let r = fed(&["enable", "nosuchthings"], "").await?;
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("the host serves no resource type named \"nosuchthings\""),
        "{}",
        r.stderr
    );
    let r = fed(&["enable", "ftc"], "").await?;
    assert!(r.stderr.contains("is one of kubefed's own types"), "{}", r.stderr);
    delete_namespace(&host, &ns).await;
    Ok(())
}
