//! The testbed's worker node end-to-end: our image (made by hack/images.sh, no registry) runs on the host
//! cluster; a webhook pod becomes Ready, which needs the host apiserver through in-cluster credentials (it
//! stores its TLS Secret and syncs its caches); a pod reaches a member apiserver on its pod endpoint; and the
//! apiserver reaches kubelet (`kubectl logs`).
//!
//! Needs root: on a machine that cannot run a node the test says why and skips, unless
//! `KUBEFED_REQUIRE_NODE=1` makes that a failure.

use std::time::Duration;

use kubefed_tests::testbed::{HOST, install_crds};
use kubefed_tests::{Error, Testbed, TestbedOptions, images, node};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn kubectl(tb: &Testbed, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let out = tb.kubectl(args)?;
    if !out.status.success() {
        return Err(format!(
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_of_our_image_run_and_reach_host_and_member() -> TestResult {
    let opts = TestbedOptions {
        members: 1,
        node: true,
        ..Default::default()
    };
    let tb = match Testbed::start(opts) {
        Err(Error::NodeUnavailable(why)) if std::env::var("KUBEFED_REQUIRE_NODE").as_deref() != Ok("1") => {
            eprintln!("\n!!!!! SKIPPED node end-to-end test: {why}\n");
            return Ok(());
        }
        other => other?,
    };
    // The workspace's own (debug) binaries go into the image: no second, release, build.
    let image = tokio::task::spawn_blocking(|| {
        images::test_binaries().and_then(|bins| images::build_and_load_from("kubefed-rs", &bins))
    })
    .await??;
    let host = tb.client(HOST).await?;
    let mut crds = kubefed_core::crds::core_crds();
    crds.extend(kubefed_core::crds::default_federated_crds());
    install_crds(&host, &crds).await?;
    let ns = tb.namespace("node", &[HOST]).await?;

    let member = "member-1";
    let endpoint = tb.pod_endpoint(member)?;
    assert_eq!(
        endpoint,
        format!(
            "https://{}:{}",
            node::NODE_IP,
            tb.endpoint(member)?.rsplit(':').next().unwrap_or("")
        )
    );
    let ca = tb.ca_pem(member)?;
    let indent = |s: &str| s.lines().map(|l| format!("      {l}\n")).collect::<String>();
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: m\n  cluster:\n    server: {endpoint}\n    certificate-authority-data: {}\nusers:\n- name: u\n  user:\n    token: {}\ncontexts:\n- name: m\n  context: {{cluster: m, user: u}}\ncurrent-context: m\n",
        b64(ca.as_bytes()),
        tb.token("admin")
    );
    let reference = &image.reference;
    let manifest = format!(
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {ns}-admin}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}
subjects: [{{kind: ServiceAccount, name: default, namespace: {ns}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: webhook, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: webhook}}}}
  template:
    metadata: {{labels: {{app: webhook}}}}
    spec:
      containers:
      - name: webhook
        image: {reference}
        imagePullPolicy: Never
        command: [/usr/local/bin/kubefed-webhook, --namespace, {ns}]
        readinessProbe: {{httpGet: {{path: /readyz, port: 8443, scheme: HTTPS}}, periodSeconds: 1}}
        securityContext: {{runAsNonRoot: true, allowPrivilegeEscalation: false}}
        resources: {{limits: {{memory: 256Mi}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: member, namespace: {ns}}}
data:
  kubeconfig: |
{kc}---
apiVersion: v1
kind: Pod
metadata: {{name: member-check, namespace: {ns}}}
spec:
  restartPolicy: Never
  containers:
  - name: check
    image: {reference}
    imagePullPolicy: Never
    command: [/usr/local/bin/kubectl-fed, version, -o, json, --kubeconfig, /cfg/kubeconfig]
    volumeMounts: [{{name: cfg, mountPath: /cfg}}]
  volumes: [{{name: cfg, configMap: {{name: member}}}}]
"#,
        kc = indent(&kubeconfig)
    );
    // Pods are refused until the namespace's default ServiceAccount exists (kube-controller-manager makes it).
    for _ in 0..120 {
        if tb
            .kubectl(&["-n", &ns, "get", "serviceaccount", "default"])?
            .status
            .success()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let file = tb.dir.join(format!("{ns}.yaml"));
    std::fs::write(&file, manifest)?;
    let file = file.display().to_string();
    kubectl(&tb, &["apply", "-f", &file])?;

    // The member: kubectl-fed in a pod dials the member's pod endpoint and prints its server version.
    let phase = r#"-o=jsonpath={.status.phase}"#;
    let mut last = String::new();
    for _ in 0..240 {
        last = kubectl(&tb, &["-n", &ns, "get", "pod", "member-check", phase])?;
        if last == "Succeeded" || last == "Failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let logs = kubectl(&tb, &["-n", &ns, "logs", "member-check"])?;
    assert_eq!(
        last, "Succeeded",
        "member-check pod ended {last:?}; logs:\n{logs}"
    );
    let start = logs
        .find('{')
        .ok_or_else(|| format!("no JSON in the pod's logs:\n{logs}"))?;
    let v: serde_json::Value = serde_json::from_str(&logs[start..])?;
    let server = v["serverVersion"]["gitVersion"].as_str().unwrap_or_default();
    assert!(
        server.starts_with("v1.34."),
        "the pod did not reach {endpoint}; logs:\n{logs}"
    );

    // The host: the webhook is Ready only once it stored its TLS Secret and synced its caches, all through
    // the kubernetes Service IP (relayed to the host apiserver) with its service-account token.
    let wait = kubectl(
        &tb,
        &["-n", &ns, "rollout", "status", "deploy/webhook", "--timeout=120s"],
    );
    if let Err(e) = wait {
        let logs = tb.kubectl(&["-n", &ns, "logs", "deploy/webhook"])?;
        let describe = tb.kubectl(&["-n", &ns, "describe", "pod", "-l", "app=webhook"])?;
        return Err(format!(
            "{e}\nwebhook logs:\n{}\n{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&describe.stdout)
        )
        .into());
    }
    let secret = kubectl(
        &tb,
        &[
            "-n",
            &ns,
            "get",
            "secret",
            "kubefed-webhook-tls",
            "-o=jsonpath={.type}",
        ],
    )?;
    assert!(!secret.is_empty(), "the webhook did not store its TLS Secret");
    let ip = kubectl(
        &tb,
        &[
            "-n",
            &ns,
            "get",
            "pod",
            "-l",
            "app=webhook",
            "-o=jsonpath={.items[0].status.podIP}",
        ],
    )?;
    assert!(
        ip.starts_with("10.77.0."),
        "pod IP {ip:?} is not on the node's bridge"
    );
    Ok(())
}

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
