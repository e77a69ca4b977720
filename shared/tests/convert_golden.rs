//! Golden tests for manifest → federated conversion: `testdata/convert/<case>/` holds `input.yaml` (or
//! `input.json`), optional `options.yaml` (the `kubectl fed` flags) and `want.yaml`, the expected output:
//! the federated objects as `kubectl fed federate -o yaml` would print them, each preceded by comments
//! giving its source, warnings and errors. Run with `UPDATE_GOLDEN=1` to rewrite `want.yaml` after an
//! intended change, then review the diff.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kubefed_core::api::ClusterOverrides;
use kubefed_core::convert::{ConvertOptions, PlacementChoice, parse_cluster_selector};
use kubefed_core::{ParseLimits, default_resolver, federate_all, parse_manifests};
use serde::Deserialize;
use serde_json::Value;

/// `options.yaml`: the flags of `kubectl fed apply`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CaseOptions {
    namespace: Option<String>,
    clusters: Option<Vec<String>>,
    cluster_selector: Option<String>,
    #[serde(default)]
    overrides: Vec<ClusterOverrides>,
}

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/convert")
        .join(case)
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Keys sorted at every level, whatever map type serde_json was built with, so output is stable.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn comment(out: &mut String, label: &str, text: &str) {
    let _ = writeln!(out, "# {label}{text}");
}

/// Runs one case and renders what `kubectl fed` would print.
fn render(case: &str) -> String {
    let dir = case_dir(case);
    let (file, input) = match read(&dir.join("input.yaml")) {
        Some(text) => ("input.yaml", text),
        None => ("input.json", read(&dir.join("input.json")).unwrap_or_default()),
    };
    let case_opts: CaseOptions = match read(&dir.join("options.yaml")) {
        Some(text) => serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{case}/options.yaml: {e}")),
        None => CaseOptions::default(),
    };
    let placement = match (case_opts.clusters, case_opts.cluster_selector) {
        (Some(clusters), _) => PlacementChoice::Clusters(clusters),
        (None, Some(selector)) => match parse_cluster_selector(&selector) {
            Ok(labels) => PlacementChoice::ClusterSelector(labels),
            Err(e) => return format!("# error: {e}\n"),
        },
        (None, None) => PlacementChoice::AllClusters,
    };
    let opts = ConvertOptions {
        namespace: case_opts.namespace,
        placement,
        overrides: case_opts.overrides,
        ..ConvertOptions::default()
    };

    let mut out = String::new();
    let objects = match parse_manifests(file, &input, &ParseLimits::default()) {
        Ok(objects) => objects,
        Err(e) => {
            comment(&mut out, "error: ", &e.to_string());
            return out;
        }
    };
    let resolver = default_resolver();
    let batch = match federate_all(objects, &resolver, &opts) {
        Ok(batch) => batch,
        Err(e) => {
            comment(&mut out, "error: ", &e.to_string());
            return out;
        }
    };
    for w in &batch.warnings {
        comment(&mut out, "warning: ", w);
    }
    for (i, item) in batch.items.iter().enumerate() {
        if i > 0 || !batch.warnings.is_empty() {
            out.push_str("---\n");
        }
        comment(&mut out, "", &item.source.to_string());
        match &item.result {
            Ok(fed) => {
                for w in &fed.warnings {
                    comment(&mut out, "warning: ", w);
                }
                let yaml = serde_saphyr::to_string(&sorted(&fed.object))
                    .unwrap_or_else(|e| panic!("{case}: output does not serialize: {e}"));
                out.push_str(&yaml);
                if !yaml.ends_with('\n') {
                    out.push('\n');
                }
            }
            Err(e) => comment(&mut out, "error: ", &e.to_string()),
        }
    }
    out
}

fn check(case: &str) {
    let got = render(case);
    let want_path = case_dir(case).join("want.yaml");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&want_path, &got).unwrap_or_else(|e| panic!("writing {}: {e}", want_path.display()));
        return;
    }
    let want = read(&want_path).unwrap_or_default();
    if got != want {
        let line = got
            .lines()
            .zip(want.lines())
            .position(|(g, w)| g != w)
            .unwrap_or(0);
        panic!(
            "case {case}: output differs from want.yaml from line {} on (rerun with UPDATE_GOLDEN=1 to accept):\n\
             --- want\n{}\n--- got\n{}",
            line + 1,
            want.lines().skip(line).take(8).collect::<Vec<_>>().join("\n"),
            got.lines().skip(line).take(8).collect::<Vec<_>>().join("\n"),
        );
    }
}

macro_rules! golden {
    ($($name:ident => $dir:literal,)*) => {
        $(
            #[test]
            fn $name() {
                check($dir);
            }
        )*

        #[test]
        fn every_case_directory_has_a_test() {
            let listed = [$($dir),*];
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/convert");
            let entries = std::fs::read_dir(&root).expect("testdata/convert exists");
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                assert!(listed.contains(&name.as_str()), "testdata/convert/{name} has no golden! line");
            }
        }
    };
}

golden! {
    deployment => "deployment",
    service_nodeport => "service-nodeport",
    configmap => "configmap",
    secret => "secret",
    serviceaccount => "serviceaccount",
    namespace => "namespace",
    ingress => "ingress",
    job => "job",
    replicaset => "replicaset",
    clusterrole => "clusterrole",
    kubectl_get_list => "kubectl-get-list",
    helm_template => "helm-template",
    crd_instance => "crd-instance",
    ndjson => "ndjson",
    error_bad_yaml => "error-bad-yaml",
    error_missing_kind => "error-missing-kind",
    error_namespace_mismatch => "error-namespace-mismatch",
    error_forbidden_override_path => "error-forbidden-override-path",
    error_duplicate_object => "error-duplicate-object",
}
