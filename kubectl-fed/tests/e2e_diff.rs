//! End-to-end: `kubectl fed diff` predicts what the controller then does. The testbed's host and two
//! members, kubefed installed and both members joined, the controller running in-process; the built binary
//! runs `diff`, then `apply`, and the members are read to check that exactly the predicted change happened:
//! creation on both members, an override changing one member (an update whose diff names the changed
//! line), then placement narrowed to one member (a delete in the other). After each apply, `diff` reports
//! no difference (exit 0).

mod common;

use common::{Run, fed};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kubefed_tests::controller::{ControllerSetup, labels, shared_controller};
use kubefed_tests::shared_testbed;
use kubefed_tests::testbed::HOST;
use kubefed_tests::wait_for;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const M1: &str = "member-1";
const M2: &str = "member-2";
const WAIT: Duration = Duration::from_secs(60);

/// Starts (once) kubefed on the host with both members joined, and the controller on a runtime of its own;
/// waits until both members are Ready, so diff and the controller agree on where things go.
async fn controller() -> TestResult {
    let setup = ControllerSetup {
        manager: "diff-tests",
        fast_health_check: true,
        members: vec![
            (M1, labels(&[("region", "eu")])),
            (M2, labels(&[("region", "us")])),
        ],
    };
    shared_controller(setup, |host| async move {
        let settings = kubefed_controller::Settings {
            concurrency: 4,
            member_timeout: Duration::from_secs(5),
            deletion_timeout: Duration::from_secs(20),
            identity: "diff-tests".into(),
            ..Default::default()
        };
        let metrics = std::sync::Arc::new(kubefed_controller::Metrics::new());
        Ok(kubefed_controller::start(host, settings, metrics))
    })
    .await
}

fn app(ns: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {ns}
data:
  mode: fast
  level: "3"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels: {{app: web}}
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
        ports:
        - containerPort: 80
"#
    )
}

/// The report line of `object` in `cluster`, e.g. `member-1: configmap/settings -n NS: create`.
fn line(cluster: &str, object: &str, ns: &str, what: &str) -> String {
    if object.starts_with("namespace/") {
        format!("{cluster}: namespace/{ns}: {what}")
    } else {
        format!("{cluster}: {object} -n {ns}: {what}")
    }
}

const OBJECTS: [&str; 3] = ["namespace/", "configmap/settings", "deployment.apps/web"];

fn assert_lines(run: &Run, ns: &str, want: &[(&str, &str, &str)]) {
    let got: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("member-") && !l.starts_with("member-1 ") && !l.starts_with("member-2 "))
        .collect();
    let want: Vec<String> = want.iter().map(|(c, o, w)| line(c, o, ns, w)).collect();
    assert_eq!(got, want, "report lines of:\n{}", run.stdout);
}

async fn members() -> TestResult<(kube::Client, kube::Client)> {
    let tb = shared_testbed()?;
    Ok((tb.client(M1).await?, tb.client(M2).await?))
}

async fn config_mode(member: &kube::Client, ns: &str) -> TestResult<Option<String>> {
    let cm = Api::<ConfigMap>::namespaced(member.clone(), ns)
        .get_opt("settings")
        .await?;
    Ok(cm.and_then(|c| c.data).and_then(|d| d.get("mode").cloned()))
}

#[tokio::test]
async fn diff_predicts_create_update_and_delete() -> TestResult {
    controller().await?;
    let tb = shared_testbed()?;
    let ns = tb.namespace_name("fed-diff");
    let input = app(&ns);
    let both = ["--clusters", "member-1,member-2"];
    let (m1, m2) = members().await?;

    // 1. Nothing yet: create everywhere, each followed by the object as a diff from /dev/null.
    let mut args = vec!["diff", "-f", "-"];
    args.extend(both);
    let first = fed(&args, &input).await?;
    assert_eq!(first.code, Some(1), "{}", first.stderr);
    let mut want = Vec::new();
    for o in OBJECTS {
        for c in [M1, M2] {
            want.push((c, o, "create"));
        }
    }
    assert_lines(&first, &ns, &want);
    assert!(first.stdout.contains("--- /dev/null\n"), "{}", first.stdout);
    assert!(first.stdout.contains("+  mode: fast\n"), "{}", first.stdout);
    assert!(
        first.stdout.contains("+    kubefed.io/managed: 'true'\n")
            || first.stdout.contains("+    kubefed.io/managed: \"true\"\n"),
        "{}",
        first.stdout
    );

    let mut args = vec!["apply", "-f", "-"];
    args.extend(both);
    let applied = fed(&args, &input).await?;
    assert_eq!(applied.code, Some(0), "{}", applied.stderr);
    for m in [&m1, &m2] {
        wait_for("the ConfigMap and Deployment in the member", WAIT, || {
            let (m, ns) = (m.clone(), ns.clone());
            async move {
                let mode = config_mode(&m, &ns).await?;
                let deploy = Api::<Deployment>::namespaced(m, &ns).get_opt("web").await?;
                Ok((mode.as_deref() == Some("fast") && deploy.is_some()).then_some(()))
            }
        })
        .await?;
    }
    // The controller created what diff predicted; now there is nothing to do.
    let mut args = vec!["diff", "-f", "-"];
    args.extend(both);
    let same = wait_for("diff to report no difference", WAIT, || {
        let (args, input) = (args.clone(), input.clone());
        async move {
            let run = fed(&args, &input).await?;
            Ok((run.code == Some(0)).then_some(run))
        }
    })
    .await?;
    let want: Vec<_> = OBJECTS
        .iter()
        .flat_map(|o| [(M1, *o, "unchanged"), (M2, *o, "unchanged")])
        .collect();
    assert_lines(&same, &ns, &want);

    // 2. An override for member-2 (every object gets it, as with apply): an update of each object there,
    //    whose diff is exactly the added annotation; nothing in member-1.
    let ov = ["--override", r#"member-2:/metadata/annotations+={"tier":"gold"}"#];
    let mut args = vec!["diff", "-f", "-"];
    args.extend(both);
    args.extend(ov);
    let change = fed(&args, &input).await?;
    assert_eq!(change.code, Some(1), "{}", change.stderr);
    let want: Vec<_> = OBJECTS
        .iter()
        .flat_map(|o| [(M1, *o, "unchanged"), (M2, *o, "update")])
        .collect();
    assert_lines(&change, &ns, &want);
    let diff_lines: Vec<&str> = change
        .stdout
        .lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+')) && !l.starts_with("---") && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(
        diff_lines,
        ["+  annotations:", "+    tier: gold"].repeat(3),
        "{}",
        change.stdout
    );
    assert!(
        change.stdout.contains(&format!(
            "--- member-2 configmap/settings -n {ns} (live: fields kubefed manages)\n+++ member-2 configmap/settings -n {ns} (after apply)\n"
        )),
        "{}",
        change.stdout
    );
    let mut args = vec!["apply", "-f", "-"];
    args.extend(both);
    args.extend(ov);
    assert_eq!(fed(&args, &input).await?.code, Some(0));
    let tier = |m: kube::Client, ns: String| async move {
        let cm = Api::<ConfigMap>::namespaced(m, &ns).get("settings").await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
            cm.metadata.annotations.and_then(|a| a.get("tier").cloned()),
        )
    };
    wait_for("member-2's ConfigMap updated", WAIT, || {
        let (m, ns) = (m2.clone(), ns.clone());
        async move { Ok((tier(m, ns).await?.as_deref() == Some("gold")).then_some(())) }
    })
    .await?;
    assert_eq!(
        tier(m1.clone(), ns.clone()).await?,
        None,
        "member-1 must not change"
    );
    let mut args = vec!["diff", "-f", "-"];
    args.extend(both);
    args.extend(ov);
    wait_for("diff to report no difference after the update", WAIT, || {
        let (args, input) = (args.clone(), input.clone());
        async move { Ok((fed(&args, &input).await?.code == Some(0)).then_some(())) }
    })
    .await?;

    // 3. Placement narrowed to member-1: everything of ours in member-2 is deleted, member-1 unchanged.
    let one = ["--clusters", "member-1"];
    let mut args = vec!["diff", "-f", "-"];
    args.extend(one);
    let narrow = fed(&args, &input).await?;
    assert_eq!(narrow.code, Some(1), "{}", narrow.stderr);
    let delete = "delete (the placement no longer selects this cluster)";
    let want: Vec<_> = OBJECTS
        .iter()
        .flat_map(|o| [(M1, *o, "unchanged"), (M2, *o, delete)])
        .collect();
    assert_lines(&narrow, &ns, &want);
    let mut args = vec!["apply", "-f", "-"];
    args.extend(one);
    assert_eq!(fed(&args, &input).await?.code, Some(0));
    wait_for("member-2's copies deleted", WAIT, || {
        let (m, ns) = (m2.clone(), ns.clone());
        async move {
            let cm = config_mode(&m, &ns).await.unwrap_or(None);
            let gone = Api::<Namespace>::all(m)
                .get_opt(&ns)
                .await?
                .is_none_or(|n| n.metadata.deletion_timestamp.is_some());
            Ok((cm.is_none() && gone).then_some(()))
        }
    })
    .await?;
    assert_eq!(config_mode(&m1, &ns).await?.as_deref(), Some("fast"));
    let mut args = vec!["diff", "-f", "-"];
    args.extend(one);
    let after = wait_for("diff to report no difference after narrowing", WAIT, || {
        let (args, input) = (args.clone(), input.clone());
        async move {
            let run = fed(&args, &input).await?;
            Ok((run.code == Some(0)).then_some(run))
        }
    })
    .await?;
    let want: Vec<_> = OBJECTS
        .iter()
        .flat_map(|o| [(M1, *o, "unchanged"), (M2, *o, "not placed")])
        .collect();
    assert_lines(&after, &ns, &want);
    Ok(())
}

/// `status --watch` renders again when the federated object changes, and stops at --watch-timeout.
#[tokio::test]
async fn status_watch_rerenders_on_change_and_stops() -> TestResult {
    controller().await?;
    let tb = shared_testbed()?;
    let ns = tb.namespace_name("fed-watch");
    let input = app(&ns);
    let kubeconfig = tb.kubeconfig.clone();
    let ns2 = ns.clone();
    let started = std::time::Instant::now();
    let watcher = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-fed"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--context", HOST, "status", "configmap/settings", "-n", &ns2])
            .args(["--watch", "--watch-timeout", "20s"])
            .env_remove("KUBECONFIG")
            .env("NO_COLOR", "1")
            .output()
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let applied = fed(&["apply", "-f", "-", "--clusters", "member-1"], &input).await?;
    assert_eq!(applied.code, Some(0), "{}", applied.stderr);
    let out = watcher.await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "the watch did not stop at its timeout"
    );
    // First the object is missing, then it is shown, and in the end propagated to member-1.
    let first = stdout
        .find("not found on the host")
        .ok_or("no 'not found' block")?;
    let shown = stdout
        .find(&format!("federatedconfigmap/settings (namespace {ns})"))
        .ok_or("never rendered the object")?;
    assert!(first < shown, "{stdout}");
    let last_block = stdout
        .rsplit("federatedconfigmap/settings")
        .next()
        .unwrap_or_default();
    assert!(last_block.contains("Propagation: True"), "{stdout}");
    Ok(())
}
