//! The built binary, offline: `federate` on fixtures against golden output, every kind of bad input (exit
//! code and message), and `--help`, `completion`, `version` on every command. No cluster is contacted: each
//! run gets an empty HOME and no KUBECONFIG.
//!
//! Golden files live in `tests/testdata/`; regenerate them with `UPDATE_GOLDEN=1 cargo test -p kubectl-fed
//! --test cli` and review the diff.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(name)
}

/// Runs kubectl-fed in `dir` with no kubeconfig anywhere, feeding `stdin`.
fn run_in(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let home = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-fed"))
        .args(args)
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .env("HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl-fed starts");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("writes stdin");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("kubectl-fed runs");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn run(args: &[&str]) -> Run {
    run_in(&testdata(""), args, "")
}

/// Compares with a golden file, or rewrites it with `UPDATE_GOLDEN=1`.
fn golden(name: &str, got: &str) {
    let path = testdata(name);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, got).expect("writes golden file");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        got,
        want,
        "output differs from {}; if the change is intended, run with UPDATE_GOLDEN=1",
        path.display()
    );
}

#[test]
fn federate_fixture_matches_golden() {
    let r = run(&[
        "federate",
        "-f",
        "app.yaml",
        "--offline",
        "--clusters",
        "eu-1,us-1",
    ]);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    golden("app.federated.yaml", &r.stdout);
    // What the user is told about the conversion: the dropped nodePort and the guessed CRD type.
    let warnings: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(warnings.len(), 2, "{}", r.stderr);
    assert!(
        warnings[0]
            .starts_with("Warning: app.yaml:35 (document 3): spec.ports[0].nodePort 30080 was removed")
    );
    assert!(
        warnings[1].starts_with("Warning: app.yaml:59 (document 5): Widget (example.com/v1) is not a type")
    );
}

#[test]
fn federate_reads_stdin_and_prints_json() {
    let app = std::fs::read_to_string(testdata("app.yaml")).expect("fixture");
    let yaml = run(&["federate", "-f", "app.yaml", "--offline"]);
    let json = run_in(
        &testdata(""),
        &["federate", "-f", "-", "--offline", "-o", "json"],
        &app,
    );
    assert_eq!(
        (yaml.code, json.code),
        (Some(0), Some(0)),
        "{}{}",
        yaml.stderr,
        json.stderr
    );
    let list: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON output");
    assert_eq!(list["kind"], "List");
    let from_yaml = kubefed_core::parse_manifests("out.yaml", &yaml.stdout, &Default::default())
        .expect("YAML output parses");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 5);
    for (a, b) in from_yaml.iter().zip(items) {
        assert_eq!(&a.object, b);
    }
    assert_eq!(items[0]["kind"], "FederatedNamespace");
    assert_eq!(
        items[0]["spec"]["placement"],
        serde_json::json!({"clusterSelector": {}})
    );
}

#[test]
fn federate_without_a_kubeconfig_guesses_instead_of_failing() {
    let r = run(&["federate", "-f", "app.yaml"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("kind: FederatedWidget"));
    assert!(
        !r.stderr.contains("cannot reach"),
        "no kubeconfig is not an unreachable host: {}",
        r.stderr
    );
}

#[test]
fn federate_folders_recursively_with_overrides() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("app/deep")).expect("mkdir");
    std::fs::write(
        dir.path().join("app/a.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("app/deep/b.json"),
        r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"}, "spec": {"replicas": 1}}"#,
    )
    .expect("write");
    std::fs::write(
        dir.path().join("overrides.yaml"),
        "- clusterName: us-1\n  clusterOverrides:\n  - path: /spec/paused\n    value: true\n",
    )
    .expect("write");
    let r = run_in(
        dir.path(),
        &[
            "federate",
            "-f",
            "app",
            "-R",
            "-n",
            "web",
            "--offline",
            "--cluster-selector",
            "region=eu",
            "--override",
            "eu-1:/spec/replicas=3",
            "--overrides-file",
            "overrides.yaml",
        ],
        "",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let objs = kubefed_core::parse_manifests("out", &r.stdout, &Default::default()).expect("valid YAML");
    assert_eq!(
        objs.iter().map(|o| o.kind()).collect::<Vec<_>>(),
        ["FederatedConfigMap", "FederatedDeployment"]
    );
    let deploy = &objs[1].object;
    assert_eq!(deploy["metadata"]["namespace"], "web");
    assert_eq!(
        deploy["spec"]["placement"],
        serde_json::json!({"clusterSelector": {"matchLabels": {"region": "eu"}}})
    );
    assert_eq!(
        deploy["spec"]["overrides"],
        serde_json::json!([
            {"clusterName": "us-1", "clusterOverrides": [{"path": "/spec/paused", "value": true}]},
            {"clusterName": "eu-1", "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]}
        ])
    );
    let flat = run_in(
        dir.path(),
        &["federate", "-f", "app", "-n", "web", "--offline"],
        "",
    );
    assert_eq!(
        kubefed_core::parse_manifests("out", &flat.stdout, &Default::default()).map(|o| o.len()),
        Ok(1)
    );
}

#[test]
fn bad_input_gets_a_clear_message_and_no_output() {
    struct Case {
        name: &'static str,
        input: &'static str,
        args: &'static [&'static str],
        code: i32,
        stderr: &'static [&'static str],
    }
    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns1}\n";
    let cases = [
        Case {
            name: "invalid YAML names file and line",
            input: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n labels: {}\n",
            args: &[],
            code: 1,
            stderr: &[
                "error: in.yaml:5:2: invalid YAML in document 1: while parsing a block mapping",
                "error: the input has 1 error; nothing was printed",
            ],
        },
        Case {
            name: "missing kind",
            input: "apiVersion: v1\nmetadata: {name: a}\n",
            args: &[],
            code: 1,
            stderr: &["error: in.yaml:1 (document 1): the object has no `kind`; add one"],
        },
        Case {
            name: "missing apiVersion",
            input: "kind: Secret\nmetadata: {name: a}\n",
            args: &[],
            code: 1,
            stderr: &["error: in.yaml:1 (document 1): Secret has no `apiVersion`; add one"],
        },
        Case {
            name: "-n disagrees with the object",
            input: CM,
            args: &["-n", "other"],
            code: 1,
            stderr: &["does not match the namespace \"other\". You must pass '--namespace=ns1'"],
        },
        Case {
            name: "cluster-scoped object with a namespace",
            input: "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: ns1}\n",
            args: &[],
            code: 0,
            stderr: &[
                "Warning: in.yaml:1 (document 1): ClusterRole \"r\" is cluster-scoped: its metadata.namespace \
                 \"ns1\" was dropped",
            ],
        },
        Case {
            name: "duplicates",
            input: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns1}\n---\n\
                    apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns1}\n",
            args: &[],
            code: 1,
            stderr: &[
                "error: in.yaml:5 (document 2): ConfigMap \"a\" in namespace \"ns1\" is defined twice: first at \
                       in.yaml:1 (document 1)",
            ],
        },
        Case {
            name: "override on a cluster outside the placement is a warning",
            input: CM,
            args: &["--clusters", "eu-1", "--override", "us-1:/data/k=v"],
            code: 0,
            stderr: &[
                "Warning: spec.overrides[0]: cluster \"us-1\" is not in spec.placement.clusters, so its overrides \
                       have no effect",
            ],
        },
        Case {
            name: "override path that is not a JSON Pointer",
            input: CM,
            args: &["--override", "eu-1:/data/~2=1"],
            code: 1,
            stderr: &[
                "error: invalid placement or overrides (--clusters, --cluster-selector, --override, \
                       --overrides-file): spec.overrides[0].clusterOverrides[0].path \"/data/~2\" is not a JSON Pointer",
            ],
        },
        Case {
            name: "override without a leading slash",
            input: CM,
            args: &["--override", "eu-1:data.k=1"],
            code: 1,
            stderr: &[
                "error: invalid --override \"eu-1:data.k=1\": the path must be a JSON Pointer starting with /",
            ],
        },
        Case {
            name: "forbidden override path",
            input: CM,
            args: &["--override", "eu-1:/metadata/name=b"],
            code: 1,
            stderr: &[
                "path \"/metadata/name\" cannot be overridden: the name, namespace and kind of an object are the \
                       same in every cluster",
            ],
        },
        Case {
            name: "bad cluster selector",
            input: CM,
            args: &["--cluster-selector", "region"],
            code: 1,
            stderr: &["error: while reading --cluster-selector: invalid cluster selector \"region\""],
        },
        Case {
            name: "empty input",
            input: "# nothing here\n---\n",
            args: &[],
            code: 1,
            stderr: &["error: no objects passed to kubectl fed: the input is empty"],
        },
        Case {
            name: "a list where an object belongs",
            input: "- apiVersion: v1\n",
            args: &[],
            code: 1,
            stderr: &["found a list; to give several objects in one document, wrap them in"],
        },
        Case {
            name: "both placements",
            input: CM,
            args: &["--clusters", "a", "--cluster-selector", "r=eu"],
            code: 2,
            stderr: &[
                "error: the argument '--clusters <a,b,...>' cannot be used with '--cluster-selector <k=v,...>'",
            ],
        },
    ];
    for case in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("in.yaml"), case.input).expect("write");
        let mut args = vec!["federate", "-f", "in.yaml", "--offline"];
        args.extend_from_slice(case.args);
        let r = run_in(dir.path(), &args, "");
        assert_eq!(
            r.code,
            Some(case.code),
            "case {:?}: stderr {}",
            case.name,
            r.stderr
        );
        for want in case.stderr {
            assert!(
                r.stderr.contains(want),
                "case {:?}: stderr lacks {want:?}:\n{}",
                case.name,
                r.stderr
            );
        }
        assert!(
            !r.stderr.contains("panicked"),
            "case {:?} panicked: {}",
            case.name,
            r.stderr
        );
        if case.code != 0 {
            assert_eq!(
                r.stdout, "",
                "case {:?}: nothing on stdout when failing",
                case.name
            );
        }
    }
}

#[test]
fn missing_files_are_named() {
    let r = run(&["federate", "-f", "nope.yaml", "--offline"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("error: the path \"nope.yaml\" does not exist"),
        "{}",
        r.stderr
    );
}

#[test]
fn commands_that_need_the_host_say_how_to_reach_it() {
    for args in [
        &["apply", "-f", "app.yaml"][..],
        &["enable", "statefulsets"],
        &["disable", "deployments"],
    ] {
        let r = run(args);
        assert_eq!(r.code, Some(1), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("no kubeconfig found: pass --kubeconfig, set $KUBECONFIG"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(r.stdout, "");
    }
    let r = run(&["apply", "-f", "app.yaml", "--kubeconfig", "missing.kubeconfig"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("while reading the kubeconfig missing.kubeconfig"),
        "{}",
        r.stderr
    );
}

#[test]
fn enable_prints_offline_for_a_default_type() {
    let r = run(&["enable", "deploy", "-o", "yaml"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("using the built-in definition of deployments.apps"),
        "{}",
        r.stderr
    );
    let objs = kubefed_core::parse_manifests("out", &r.stdout, &Default::default()).expect("valid YAML");
    assert_eq!(
        objs.iter().map(|o| o.name()).collect::<Vec<_>>(),
        ["federateddeployments.types.kubefed.io", "deployments.apps"]
    );
    assert_eq!(objs[1].namespace(), Some("kube-federation-system"));
    assert!(
        objs[0]
            .object
            .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/retainReplicas")
            .is_some()
    );
    let r = run(&["enable", "widgets.example.com", "-o", "yaml"]);
    assert_eq!(r.code, Some(1), "a non-default type needs discovery");
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in [
        &[][..],
        &["federate"],
        &["apply"],
        &["enable"],
        &["disable"],
        &["version"],
        &["completion"],
        &["join"],
        &["unjoin"],
        &["get"],
        &["status"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let r = run(&args);
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
        assert!(
            r.stdout.contains("Examples:\n  "),
            "{args:?} help has no example:\n{}",
            r.stdout
        );
        assert!(r.stdout.contains("Usage: kubectl fed"), "{args:?}:\n{}", r.stdout);
    }
    let r = run(&[]);
    assert_eq!(r.code, Some(2), "no command prints help and fails");
    assert!(r.stderr.contains("Commands:"));
}

#[test]
fn completion_and_version() {
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&["completion", shell]);
        assert_eq!(r.code, Some(0), "{shell}: {}", r.stderr);
        assert!(
            r.stdout.contains("kubectl-fed") && r.stdout.contains("federate"),
            "{shell}"
        );
    }
    let r = run(&["version", "--client"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            Some(0),
            concat!("Client Version: v", env!("CARGO_PKG_VERSION"), "\n")
        )
    );
    let r = run(&["version", "-o", "json"]);
    assert_eq!(r.code, Some(0), "an unreachable host is only a warning");
    assert!(
        r.stderr.starts_with("Warning: cannot get the server version"),
        "{}",
        r.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(
        v["clientVersion"]["gitVersion"],
        concat!("v", env!("CARGO_PKG_VERSION"))
    );
    let r = run(&["--version"]);
    assert_eq!(r.code, Some(0));
}

/// A kubeconfig with a host and a member whose API servers do not listen (port 1 on loopback).
fn unreachable_kubeconfig(dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    let cluster = |name: &str| {
        format!(
            "- name: {name}\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\n"
        )
    };
    let context = |name: &str| format!("- name: {name}\n  context:\n    cluster: {name}\n    user: u\n");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{}{}users:\n- name: u\n  user:\n    token: t\ncontexts:\n{}{}\
         current-context: host\n",
        cluster("host"),
        cluster("eu-1"),
        context("host"),
        context("eu-1")
    );
    std::fs::write(&path, text).expect("writes kubeconfig");
    path
}

#[test]
fn join_bad_input_fails_before_contacting_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = unreachable_kubeconfig(dir.path());
    let kc = kc.to_str().expect("utf-8 path");
    struct Case {
        name: &'static str,
        args: Vec<&'static str>,
        want: &'static str,
    }
    let cases = [
        Case {
            name: "not a DNS label",
            args: vec!["join", "EU_1"],
            want: "invalid cluster name: \"EU_1\" is not a valid DNS-1123 label",
        },
        Case {
            name: "bad labels",
            args: vec!["join", "eu-1", "--labels", "region"],
            want: "invalid --labels",
        },
        Case {
            name: "bad endpoint",
            args: vec!["join", "eu-1", "--api-endpoint", "10.0.0.1:6443"],
            want: "invalid --api-endpoint \"10.0.0.1:6443\": use a URL like https://",
        },
        Case {
            name: "unknown member context",
            args: vec!["join", "us-1"],
            want: "context \"us-1\" (--cluster-context (default: NAME)) is not in the kubeconfig; its contexts are: eu-1, host",
        },
        Case {
            name: "unknown host context",
            args: vec!["join", "eu-1", "--host-context", "nope"],
            want: "context \"nope\" (--host-context) is not in the kubeconfig",
        },
        Case {
            name: "unreachable host",
            args: vec!["join", "eu-1"],
            want: "cannot reach the host cluster (context \"host\", https://127.0.0.1:1/)",
        },
        Case {
            name: "unjoin, unreachable host",
            args: vec!["unjoin", "eu-1"],
            want: "cannot reach the host cluster",
        },
        Case {
            name: "get clusters, unreachable host",
            args: vec!["get", "clusters"],
            want: "https://127.0.0.1:1",
        },
    ];
    for case in cases {
        let mut args = vec!["--kubeconfig", kc];
        args.extend(case.args.iter().copied());
        let r = run(&args);
        assert_eq!(r.code, Some(1), "case {}: {}", case.name, r.stderr);
        assert!(r.stderr.contains(case.want), "case {}: {}", case.name, r.stderr);
        assert_eq!(r.stdout, "", "case {}", case.name);
    }
    let r = run(&["get", "nodes"]);
    assert_eq!(r.code, Some(2), "only clusters can be listed");
    let r = run(&["join", "eu-1", "--rbac", "root"]);
    assert_eq!(r.code, Some(2));
}

/// kubectl 1.26+ completes `kubectl fed …` by running `kubectl_complete-fed` (on the PATH) with the words
/// after `kubectl fed`; the shim answers in Cobra's protocol through `kubectl-fed __complete`.
#[test]
fn kubectl_complete_shim_speaks_cobras_protocol() {
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/kubectl_complete-fed");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_kubectl-fed"))
        .parent()
        .expect("the binary has a folder")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let out = Command::new("sh")
        .arg(&shim)
        .args(["get", "clusters", "-o", "y"])
        .env("PATH", path)
        .output()
        .expect("the shim runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "yaml\n:4\n");
}

/// plugins/fed.yaml (the krew manifest) covers linux and darwin on amd64 and arm64, each installing the
/// binary and the completion shim.
#[test]
fn krew_manifest_lists_every_platform() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/fed.yaml");
    let text = std::fs::read_to_string(&path).expect("plugins/fed.yaml");
    let manifest: serde_json::Value = serde_saphyr::from_str(&text).expect("valid YAML");
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(manifest["metadata"]["name"], "fed");
    let mut seen = Vec::new();
    for p in manifest["spec"]["platforms"].as_array().expect("platforms") {
        let labels = &p["selector"]["matchLabels"];
        let platform = format!(
            "{}_{}",
            labels["os"].as_str().unwrap_or("?"),
            labels["arch"].as_str().unwrap_or("?")
        );
        assert_eq!(p["bin"], "kubectl-fed", "{platform}");
        assert!(
            p["uri"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!("_{platform}.tar.gz"))),
            "{platform}"
        );
        assert_eq!(p["sha256"].as_str().map(str::len), Some(64), "{platform}");
        let files: Vec<&str> = p["files"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["from"].as_str())
            .collect();
        assert!(files.contains(&"kubectl_complete-fed"), "{platform}: {files:?}");
        seen.push(platform);
    }
    seen.sort();
    assert_eq!(
        seen,
        ["darwin_amd64", "darwin_arm64", "linux_amd64", "linux_arm64"]
    );
}

/// Parses federate's YAML output.
fn objects(stdout: &str) -> Vec<serde_json::Value> {
    kubefed_core::parse_manifests("out.yaml", stdout, &Default::default())
        .expect("output parses")
        .into_iter()
        .map(|o| o.object)
        .collect()
}

/// `(kind, namespace)` of each federated object.
fn kinds_and_namespaces(objs: &[serde_json::Value]) -> Vec<(String, Option<String>)> {
    objs.iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or_default().to_string(),
                o["metadata"]["namespace"].as_str().map(String::from),
            )
        })
        .collect()
}

const APP_KINDS: &str = "\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec: {replicas: 1, serviceName: db, selector: {matchLabels: {app: db}}, template: {metadata: {labels: {app: db}}, spec: {containers: [{name: db, image: db}]}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: default}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: db}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}, minReplicas: 1, maxReplicas: 3}
";

#[test]
fn built_in_kinds_get_their_real_scope_and_the_namespace_flag() {
    let r = run_in(
        &testdata(""),
        &["federate", "--offline", "-f", "-", "-n", "web"],
        APP_KINDS,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        !r.stderr.contains("guessed"),
        "no guess for built-in kinds: {}",
        r.stderr
    );
    let web = Some("web".to_string());
    assert_eq!(
        kinds_and_namespaces(&objects(&r.stdout)),
        [
            ("FederatedStatefulSet".into(), web.clone()),
            ("FederatedRole".into(), web.clone()),
            ("FederatedRoleBinding".into(), web.clone()),
            ("FederatedHorizontalPodAutoscaler".into(), web),
        ]
    );
    // Without -n and without a kubeconfig: kubectl's `default`.
    let r = run_in(&testdata(""), &["federate", "--offline", "-f", "-"], APP_KINDS);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        objects(&r.stdout)
            .iter()
            .all(|o| o["metadata"]["namespace"] == "default"),
        "{}",
        r.stdout
    );
}

#[test]
fn offline_uses_the_kubeconfig_context_namespace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("config");
    // The server is never contacted offline.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: dev\nclusters:\n- name: c\n  cluster: {server: \
         'https://127.0.0.1:1'}\ncontexts:\n- name: dev\n  context: {cluster: c, user: u, namespace: team-a}\n\
         users:\n- name: u\n  user: {token: t}\n",
    )
    .expect("write");
    let kc = kubeconfig.display().to_string();
    let input = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\
                 apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: own}\n---\n\
                 apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: c}\n";
    let r = run_in(
        dir.path(),
        &["federate", "--offline", "--kubeconfig", &kc, "-f", "-"],
        input,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let namespaces: Vec<Option<String>> = kinds_and_namespaces(&objects(&r.stdout))
        .into_iter()
        .map(|(_, ns)| ns)
        .collect();
    assert_eq!(namespaces, [Some("team-a".into()), Some("own".into()), None]);
    // -n wins over the context.
    let r = run_in(
        dir.path(),
        &[
            "federate",
            "--offline",
            "--kubeconfig",
            &kc,
            "-f",
            "-",
            "-n",
            "web",
        ],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    );
    assert_eq!(
        objects(&r.stdout)[0]["metadata"]["namespace"],
        "web",
        "{}",
        r.stderr
    );
}

#[test]
fn stray_namespaces_on_cluster_scoped_kinds_are_dropped_with_a_warning() {
    let input = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: x}\n\
                 rules: []\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n\
                 metadata: {name: b, namespace: x}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, \
                 name: r}\n";
    let r = run_in(
        &testdata(""),
        &["federate", "--offline", "-f", "-", "-n", "web"],
        input,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        kinds_and_namespaces(&objects(&r.stdout)),
        [
            ("FederatedClusterRole".into(), None),
            ("FederatedClusterRoleBinding".into(), None)
        ]
    );
    for kind in ["ClusterRole \"r\"", "ClusterRoleBinding \"b\""] {
        assert!(
            r.stderr.contains(&format!(
                "{kind} is cluster-scoped: its metadata.namespace \"x\" was dropped"
            )),
            "{kind}: {}",
            r.stderr
        );
    }
}

#[test]
fn crds_and_webhook_configurations_are_refused_unless_allowed() {
    let input = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                 metadata: {name: widgets.example.com}\nspec: {group: example.com, scope: Namespaced, \
                 names: {kind: Widget, plural: widgets}, versions: [{name: v1, served: true, storage: true}]}\n---\n\
                 apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n\
                 metadata: {name: check}\nwebhooks: []\n---\n\
                 apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n";
    let r = run_in(
        &testdata(""),
        &["federate", "--offline", "-f", "-", "-n", "web"],
        input,
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stdout, "");
    for want in [
        "error: -:1 (document 1): CustomResourceDefinition \"widgets.example.com\" is not federated by default: \
         a CRD changes the API of every member cluster",
        "Pass --allow-kind CustomResourceDefinition to federate it anyway",
        "error: -:6 (document 2): ValidatingWebhookConfiguration \"check\" is not federated by default",
        "Pass --allow-kind ValidatingWebhookConfiguration to federate it anyway",
        "error: 2 of 3 objects could not be federated; nothing was printed",
    ] {
        assert!(r.stderr.contains(want), "stderr lacks {want:?}:\n{}", r.stderr);
    }
    let r = run_in(
        &testdata(""),
        &[
            "federate",
            "--offline",
            "-f",
            "-",
            "-n",
            "web",
            "--allow-kind",
            "customresourcedefinition,ValidatingWebhookConfiguration",
        ],
        input,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        kinds_and_namespaces(&objects(&r.stdout)),
        [
            ("FederatedCustomResourceDefinition".into(), None),
            ("FederatedValidatingWebhookConfiguration".into(), None),
            // The CRD in the input declares Widget as namespaced: no guess.
            ("FederatedWidget".into(), Some("web".into())),
        ]
    );
    assert!(!r.stderr.contains("guessed"), "{}", r.stderr);
}

#[test]
fn yaml_errors_in_our_words_at_the_right_line_every_bad_object_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Line 7 repeats the key of line 6.
    let dup = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n  k: w\n";
    let dup_line = 7;
    let deep = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: d}}\ndata: {}1{}\n",
        "[".repeat(300),
        "]".repeat(300)
    );
    let input = format!(
        "{dup}---\n{deep}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ok}}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: r, namespace: other}}\n"
    );
    std::fs::write(dir.path().join("in.yaml"), &input).expect("write");
    let r = run_in(
        dir.path(),
        &["federate", "--offline", "-f", "in.yaml", "-n", "web"],
        "",
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stdout, "");
    let errors: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 4, "three bad objects and the verdict: {}", r.stderr);
    assert!(
        errors[0].starts_with(&format!("error: in.yaml:{dup_line}:"))
            && errors[0].contains("the key \"k\" appears twice"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("nests deeper than 100 levels"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].contains("does not match the namespace \"web\""),
        "{}",
        errors[2]
    );
    for internal in ["DuplicateKeyPolicy", "budget breached", "Options"] {
        assert!(
            !r.stderr.contains(internal),
            "library wording {internal:?} leaked: {}",
            r.stderr
        );
    }
}

#[test]
fn helm_hook_annotations_are_dropped() {
    let input = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: migrate\n  annotations:\n    \
                 helm.sh/hook: pre-install\n    helm.sh/hook-delete-policy: hook-succeeded\n    \
                 meta.helm.sh/release-name: web\n    team: a\n";
    let r = run_in(
        &testdata(""),
        &["federate", "--offline", "-f", "-", "-n", "web"],
        input,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let objs = objects(&r.stdout);
    assert_eq!(
        objs[0]["spec"]["template"]["metadata"]["annotations"],
        serde_json::json!({"team": "a"})
    );
    assert!(r.stderr.contains("is a Helm hook (pre-install)"), "{}", r.stderr);
}

#[test]
fn helm_template_of_a_chart_piped_with_n() {
    let Some(helm) = std::env::var_os("KUBEFED_TESTBED_BIN")
        .map(|d| PathBuf::from(d).join("helm"))
        .filter(|p| p.is_file())
    else {
        eprintln!("skipped: helm not found in $KUBEFED_TESTBED_BIN");
        return;
    };
    let home = tempfile::tempdir().expect("tempdir");
    let rendered = Command::new(helm)
        .args(["template", "web"])
        .arg(testdata("chart"))
        .env("HOME", home.path())
        .env_remove("KUBECONFIG")
        .output()
        .expect("helm runs");
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let rendered = String::from_utf8(rendered.stdout).expect("UTF-8");
    let r = run_in(
        &testdata(""),
        &["federate", "--offline", "-f", "-", "-n", "web"],
        &rendered,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stderr.contains("guessed"), "{}", r.stderr);
    let web = Some("web".to_string());
    let got = kinds_and_namespaces(&objects(&r.stdout));
    let want: Vec<(String, Option<String>)> = [
        ("FederatedServiceAccount", web.clone()),
        ("FederatedClusterRole", None),
        ("FederatedClusterRoleBinding", None),
        ("FederatedRole", web.clone()),
        ("FederatedRoleBinding", web.clone()),
        ("FederatedService", web.clone()),
        ("FederatedDeployment", web.clone()),
        ("FederatedHorizontalPodAutoscaler", web.clone()),
        // The chart's test hook: federated as a plain Pod, with a warning suggesting --no-hooks.
        ("FederatedPod", web),
    ]
    .into_iter()
    .map(|(k, ns)| (k.to_string(), ns))
    .collect();
    assert_eq!(got, want, "{}", r.stderr);
    assert!(!r.stdout.contains("helm.sh/hook"), "{}", r.stdout);
    assert!(r.stderr.contains("is a Helm hook (test)"), "{}", r.stderr);
    // The binding's subject keeps the namespace helm rendered (`default`): only metadata is scoped.
}

#[test]
fn overrides_scoped_by_kind_and_name_and_missing_paths_warned() {
    let input = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 1}\n---\n\
                 apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec: {replicas: 1}\n";
    let r = run_in(
        &testdata(""),
        &[
            "federate",
            "--offline",
            "-f",
            "-",
            "--override",
            "deployment/web:member-2:/spec/replicas=3",
            "--override",
            "deploy/api:member-2:/spec/replicaz=3",
        ],
        input,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let objs = objects(&r.stdout);
    assert_eq!(
        objs[0]["spec"]["overrides"],
        serde_json::json!([{"clusterName": "member-2", "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]}])
    );
    assert_eq!(
        objs[1]["spec"]["overrides"][0]["clusterOverrides"][0]["path"],
        "/spec/replicaz"
    );
    assert!(
        r.stderr.contains(
            "Warning: -:6 (document 2): the override replace /spec/replicaz for member-2 names a field the \
             template does not have"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.matches("names a field").count(), 1, "{}", r.stderr);
    assert!(!r.stderr.contains("changed nothing"), "{}", r.stderr);

    // A kind or name that names no object of the input is said, not silently ignored.
    let r = run_in(
        &testdata(""),
        &[
            "federate",
            "--offline",
            "-f",
            "-",
            "--override",
            "deployment/wbe:member-2:/spec/replicas=3",
            "--override",
            "service/web:member-2:/spec/type=\"NodePort\"",
        ],
        input,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "--override deployment/wbe:…: no object in the input is a deployment named \"wbe\", so it changed \
             nothing"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("no object in the input is a service named \"web\""),
        "{}",
        r.stderr
    );
    assert!(
        objects(&r.stdout)
            .iter()
            .all(|o| o["spec"].get("overrides").is_none()),
        "{}",
        r.stdout
    );
}
