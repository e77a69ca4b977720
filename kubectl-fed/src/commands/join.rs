//! `kubectl fed join NAME`: register a member cluster with the host.
//!
//! In the member: the kubefed namespace, a ServiceAccount, its token Secret (explicit, type
//! `kubernetes.io/service-account-token`, filled by the member's token controller) and a ClusterRole plus
//! binding with only what propagation needs (`kubefed_core::membership::member_rules` of the host's enabled
//! types; `--rbac=admin` is the explicit opt-in to everything). On the host: a Secret with the token and the
//! KubeFedCluster (endpoint and CA from the member's kubeconfig context, or `--api-endpoint`).
//!
//! Every check that needs no write comes first (name, labels, contexts, both clusters reachable, kubefed
//! installed, the cluster not joined under another name), so most bad input changes nothing. Writes are
//! server-side applies with field manager `kubectl-fed`, so running join again is a no-op, and objects
//! created by a run that then fails are deleted again (or named, when that fails too). Finally join waits
//! until the controller's health check reports the cluster Ready.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::Api;
use kube::api::{ListParams, ObjectMeta};
use kubefed_core::admission::names::dns1123_label;
use kubefed_core::api::constants::CLUSTER_SECRET_TOKEN_KEY;
use kubefed_core::api::{
    ClusterConditionType, KubeFedCluster, KubeFedClusterSpec, LocalSecretReference, TlsValidation,
};
use kubefed_core::convert::parse_cluster_selector;
use kubefed_core::membership::{
    JoinNames, MEMBER_CONTEXT_ANNOTATION, MEMBER_IDENTITY_ANNOTATION, MEMBER_RBAC_ANNOTATION, admin_rules,
    grant_warnings, member_rules, same_cluster,
};

use crate::cli::{GlobalArgs, JoinArgs, Rbac};
use crate::client::{
    ClusterEndpoint, Connection, Host, check_context, cluster_endpoint, is_not_found, message,
};
use crate::members::{self, Created};
use crate::output;

/// How often the token Secret and the KubeFedCluster are polled.
const POLL: Duration = Duration::from_millis(500);

/// Runs `kubectl fed join`.
pub async fn run(global: &GlobalArgs, args: &JoinArgs) -> anyhow::Result<()> {
    let name = args.name.as_str();
    dns1123_label(name).map_err(|e| anyhow::anyhow!("invalid cluster name: {e}"))?;
    let labels = match &args.labels {
        Some(l) => parse_cluster_selector(l).map_err(|e| anyhow::anyhow!("invalid --labels: {e}"))?,
        None => BTreeMap::new(),
    };
    if let Some(url) = &args.api_endpoint {
        check_url(url)?;
    }
    let ns = global.kubefed_namespace.as_str();
    let mut connection = Connection::from_args(global);
    if let Some(ctx) = &args.host_context {
        connection.context = Some(ctx.clone());
    }
    let kc = connection
        .kubeconfig()?
        .context("no kubeconfig found: pass --kubeconfig or set $KUBECONFIG")?;
    let host_context = connection
        .context
        .clone()
        .or_else(|| kc.current_context.clone())
        .context("no host context: pass --host-context, or set a current context in the kubeconfig")?;
    check_context(&kc, &host_context, "--host-context")?;
    let member_context = args.cluster_context.clone().unwrap_or_else(|| name.to_string());
    check_context(&kc, &member_context, "--cluster-context (default: NAME)")?;
    if member_context == host_context {
        output::warn(&format!(
            "joining the host cluster itself (context {host_context:?}) as member {name}"
        ));
    }
    let endpoint = cluster_endpoint(&kc, &member_context)?;
    let api_endpoint = args
        .api_endpoint
        .clone()
        .unwrap_or_else(|| endpoint.server.clone());

    let host = members::connect(&connection, &host_context).await?;
    let member = members::connect(&connection, &member_context).await?;
    members::reachable(&host, "host").await?;
    let member_version = members::reachable(&member, "member").await?;

    let configs = members::type_configs(&host, ns).await?;
    let enabled = members::enabled_targets(&configs);
    let names = JoinNames::new(name, &host_context, ns);
    check_not_joined_elsewhere(&host, &names, &api_endpoint, &endpoint, args.error_on_existing).await?;
    let rules = match args.rbac {
        Rbac::Minimal => {
            for w in grant_warnings(&enabled) {
                output::warn(&w);
            }
            member_rules(&enabled)
        }
        Rbac::Admin => {
            output::warn(&format!(
                "--rbac=admin: the member identity of {name} may do anything in the member cluster"
            ));
            admin_rules()
        }
    };

    if args.dry_run {
        return print_plan(&host, &member, &names, &api_endpoint, &enabled, args.rbac);
    }

    let mut ledger: Vec<Created> = Vec::new();
    let result = write_all(
        &host,
        &member,
        &names,
        &endpoint,
        &api_endpoint,
        labels,
        rules,
        args.rbac,
        args.timeout,
        &mut ledger,
    )
    .await;
    if let Err(e) = result {
        if !ledger.is_empty() {
            output::error(&format!("{e:#}"));
            members::roll_back(ledger).await;
            anyhow::bail!("joining {name} failed; the objects it had created were rolled back (see above)");
        }
        return Err(e);
    }

    if args.timeout.is_zero() {
        output::print_stdout(&format!(
            "cluster {name} joined; not waiting for Ready (--timeout 0): see `kubectl fed get clusters`\n"
        ))?;
        return Ok(());
    }
    wait_ready(&host, &names, &api_endpoint, args.timeout).await?;
    output::print_stdout(&format!(
        "cluster {name} joined and Ready (Kubernetes {member_version})\n"
    ))
}

/// Refuses a member already registered under another name, and NAME registered for another cluster (or at
/// all, with `--error-on-existing`).
async fn check_not_joined_elsewhere(
    host: &Host,
    names: &JoinNames,
    api_endpoint: &str,
    endpoint: &ClusterEndpoint,
    error_on_existing: bool,
) -> anyhow::Result<()> {
    let api: Api<KubeFedCluster> = Api::namespaced(host.client.clone(), &names.namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))
        .with_context(|| {
            host.doing(format!(
                "listing KubeFedClusters in namespace {}",
                names.namespace
            ))
        })?;
    let ca = endpoint.ca_pem.as_deref();
    for kfc in &list.items {
        let other = kfc.metadata.name.as_deref().unwrap_or_default();
        let same = same_cluster(
            &kfc.spec.api_endpoint,
            kfc.spec.ca_bundle.as_ref().map(|b| b.0.as_slice()),
            api_endpoint,
            ca,
        );
        if other == names.cluster {
            if error_on_existing {
                anyhow::bail!(
                    "cluster {other} is already joined (KubeFedCluster {}/{other}) and --error-on-existing is set",
                    names.namespace
                );
            }
            // Same CA, another address: the same cluster reached differently (a fixed --api-endpoint).
            let same_ca = kfc.spec.ca_bundle.as_ref().map(|b| b.0.trim_ascii()) == ca.map(<[u8]>::trim_ascii);
            if !same && !same_ca {
                anyhow::bail!(
                    "a different cluster is already joined as {other} (API endpoint {}, another CA); run `kubectl \
                     fed unjoin {other}` first, or choose another name",
                    kfc.spec.api_endpoint
                );
            }
            if !same {
                output::warn(&format!(
                    "cluster {other} moves from API endpoint {} to {api_endpoint}",
                    kfc.spec.api_endpoint
                ));
            }
        } else if same {
            anyhow::bail!(
                "this cluster ({api_endpoint}) is already joined as {other}; a cluster can be joined only once — \
                 run `kubectl fed unjoin {other}` first to rename it"
            );
        }
    }
    Ok(())
}

/// Writes the member identity, waits for its token, then writes the host Secret and KubeFedCluster.
#[allow(clippy::too_many_arguments)]
async fn write_all(
    host: &Host,
    member: &Host,
    names: &JoinNames,
    endpoint: &ClusterEndpoint,
    api_endpoint: &str,
    labels: BTreeMap<String, String>,
    rules: Vec<k8s_openapi::api::rbac::v1::PolicyRule>,
    rbac: Rbac,
    timeout: Duration,
    ledger: &mut Vec<Created>,
) -> anyhow::Result<()> {
    let ns = names.namespace.as_str();
    let meta = |name: &str, namespace: Option<&str>| ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some(names.labels()),
        ..ObjectMeta::default()
    };
    // The namespace only if missing: it may be shared with other hosts' identities. One still terminating
    // (an unjoin just before) must be gone first, or nothing can be created in it.
    if !namespace_exists(member, ns, timeout).await? {
        let namespace = Namespace {
            metadata: meta(ns, None),
            ..Namespace::default()
        };
        members::apply(member, &Api::all(member.client.clone()), &namespace, ledger).await?;
    }
    install_mcs_crds(member).await;
    let sa = ServiceAccount {
        metadata: meta(&names.service_account, Some(ns)),
        ..ServiceAccount::default()
    };
    members::apply(member, &Api::namespaced(member.client.clone(), ns), &sa, ledger).await?;
    let mut token_secret = Secret {
        metadata: meta(&names.member_secret, Some(ns)),
        type_: Some("kubernetes.io/service-account-token".into()),
        ..Secret::default()
    };
    token_secret.metadata.annotations = Some(BTreeMap::from([(
        "kubernetes.io/service-account.name".to_string(),
        names.service_account.clone(),
    )]));
    members::apply(
        member,
        &Api::namespaced(member.client.clone(), ns),
        &token_secret,
        ledger,
    )
    .await?;
    members::apply(
        member,
        &Api::all(member.client.clone()),
        &names.cluster_role(rules),
        ledger,
    )
    .await?;
    members::apply(
        member,
        &Api::all(member.client.clone()),
        &names.cluster_role_binding(),
        ledger,
    )
    .await?;
    let token = wait_token(member, names, timeout.max(Duration::from_secs(10))).await?;

    let host_secret = Secret {
        metadata: meta(&names.host_secret, Some(ns)),
        data: Some(BTreeMap::from([(
            CLUSTER_SECRET_TOKEN_KEY.to_string(),
            ByteString(token),
        )])),
        type_: Some("Opaque".into()),
        ..Secret::default()
    };
    members::apply(
        host,
        &Api::namespaced(host.client.clone(), ns),
        &host_secret,
        ledger,
    )
    .await?;
    let mut kfc = KubeFedCluster::new(
        &names.cluster,
        KubeFedClusterSpec {
            api_endpoint: api_endpoint.to_string(),
            ca_bundle: endpoint.ca_pem.clone().map(ByteString),
            secret_ref: LocalSecretReference {
                name: names.host_secret.clone(),
            },
            disabled_tls_validations: if endpoint.insecure {
                vec![TlsValidation::All]
            } else {
                Vec::new()
            },
            proxy_url: None,
        },
    );
    kfc.metadata.namespace = Some(ns.to_string());
    kfc.metadata.labels = Some(labels);
    kfc.metadata.annotations = Some(BTreeMap::from([
        (
            MEMBER_IDENTITY_ANNOTATION.to_string(),
            names.identity_annotation(),
        ),
        (MEMBER_CONTEXT_ANNOTATION.to_string(), member.context.clone()),
        (
            MEMBER_RBAC_ANNOTATION.to_string(),
            match rbac {
                Rbac::Minimal => "minimal",
                Rbac::Admin => "admin",
            }
            .to_string(),
        ),
    ]));
    if endpoint.insecure {
        output::warn(&format!(
            "the member's kubeconfig context skips TLS verification; the KubeFedCluster {} will too",
            names.cluster
        ));
    }
    members::apply(host, &Api::namespaced(host.client.clone(), ns), &kfc, ledger).await?;
    Ok(())
}

/// Installs the Multi-Cluster Services CRDs (upstream's `multicluster.x-k8s.io` ServiceExport and
/// ServiceImport) in the member when absent, so the cluster can export and import services. CRDs already
/// there (ours from an earlier join, or another MCS implementation's) are left alone; a failure only warns:
/// propagation does not need them. They are never removed by `unjoin` (that would delete every export).
async fn install_mcs_crds(member: &Host) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(member.client.clone());
    for crd in kubefed_core::mcs::mcs_crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let res = match api.get_opt(&name).await {
            Ok(Some(_)) => continue,
            Ok(None) => api
                .create(&kube::api::PostParams::default(), &crd)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match res {
            Ok(()) => {
                let what = output::object_ref("CustomResourceDefinition", "apiextensions.k8s.io", &name);
                let _ = output::print_stdout(&format!("{}: {what} created\n", member.context));
            }
            Err(e) => output::warn(&format!(
                "cannot install CRD {name} in {} ({}); services there can be exported and imported once it is \
                 installed: kubectl apply --server-side -f charts/kubefed/files/mcs/",
                member.context,
                message(&e)
            )),
        }
    }
}

/// Whether namespace `ns` exists in the member; waits (up to `timeout`) for a terminating one to go.
async fn namespace_exists(member: &Host, ns: &str, timeout: Duration) -> anyhow::Result<bool> {
    let namespaces: Api<Namespace> = Api::all(member.client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let found = namespaces
            .get_opt(ns)
            .await
            .map_err(|e| members::write_error(member, &format!("namespace/{ns}"), &e))?;
        match found {
            None => return Ok(false),
            Some(n) if n.metadata.deletion_timestamp.is_none() => return Ok(true),
            Some(_) if Instant::now() >= deadline => anyhow::bail!(
                "namespace {ns} in the member (context {:?}) is still being deleted after {}s; wait until \
                 `kubectl --context {} get namespace {ns}` finds nothing, then join again",
                member.context,
                timeout.as_secs(),
                member.context
            ),
            Some(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Waits until the member's token controller has filled the token Secret.
async fn wait_token(member: &Host, names: &JoinNames, timeout: Duration) -> anyhow::Result<Vec<u8>> {
    let api: Api<Secret> = Api::namespaced(member.client.clone(), &names.namespace);
    let deadline = Instant::now() + timeout;
    loop {
        let secret = api
            .get(&names.member_secret)
            .await
            .map_err(|e| anyhow::anyhow!(message(&e)))
            .with_context(|| member.doing_in(format!("reading Secret {}", names.member_secret)))?;
        if let Some(token) = secret
            .data
            .as_ref()
            .and_then(|d| d.get(CLUSTER_SECRET_TOKEN_KEY))
            .filter(|t| !t.0.is_empty())
        {
            return Ok(token.0.clone());
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the member's token controller did not fill Secret {}/{} within {}s; check that \
                 kube-controller-manager runs in the member (context {:?}) with --service-account-private-key-file",
                names.namespace,
                names.member_secret,
                timeout.as_secs(),
                member.context
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the KubeFedCluster's Ready condition is True; on timeout, says what the status shows and
/// what to check.
async fn wait_ready(
    host: &Host,
    names: &JoinNames,
    api_endpoint: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let api: Api<KubeFedCluster> = Api::namespaced(host.client.clone(), &names.namespace);
    let deadline = Instant::now() + timeout;
    let mut last: Option<KubeFedCluster> = None;
    while Instant::now() < deadline {
        match api.get_opt(&names.cluster).await {
            Ok(Some(kfc)) if kfc.is_ready() => return Ok(()),
            Ok(other) => last = other,
            Err(e) if is_not_found(&e) => last = None,
            Err(e) => output::warn(&format!(
                "reading KubeFedCluster {}: {}",
                names.cluster,
                message(&e)
            )),
        }
        tokio::time::sleep(POLL).await;
    }
    let seen = last
        .as_ref()
        .and_then(|k| k.status.as_ref())
        .map(|s| {
            s.conditions
                .iter()
                .filter(|c| {
                    c.status != kubefed_core::api::ConditionStatus::False
                        || c.type_ == ClusterConditionType::Ready
                })
                .map(|c| {
                    format!(
                        "{}={} ({})",
                        c.type_,
                        c.status.as_str(),
                        c.message
                            .as_deref()
                            .or(c.reason.as_deref())
                            .unwrap_or("no message")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "no status yet: the controller has not probed it".to_string());
    anyhow::bail!(
        "cluster {} was joined but is not Ready after {}s ({seen}). Check that the kubefed controller runs on the \
         host (`kubectl -n {} get pods`), and that it can reach {api_endpoint} — if it reaches the member at another \
         address, re-run join with --api-endpoint URL. The join itself is kept; `kubectl fed get clusters` shows \
         when it becomes Ready",
        names.cluster,
        timeout.as_secs(),
        names.namespace
    )
}

/// `--dry-run`: what would be written, one line each, and the grant's rules.
fn print_plan(
    host: &Host,
    member: &Host,
    names: &JoinNames,
    api_endpoint: &str,
    enabled: &[kubefed_core::TargetType],
    rbac: Rbac,
) -> anyhow::Result<()> {
    let ns = &names.namespace;
    let mut out = String::new();
    let m = &member.context;
    let h = &host.context;
    for line in [
        format!("{m}: namespace/{ns} (if missing)"),
        format!("{m}: serviceaccount/{} in {ns}", names.service_account),
        format!(
            "{m}: secret/{} in {ns} (service-account token)",
            names.member_secret
        ),
        format!(
            "{m}: clusterrole.rbac.authorization.k8s.io/{}",
            names.cluster_role
        ),
        format!(
            "{m}: clusterrolebinding.rbac.authorization.k8s.io/{}",
            names.cluster_role
        ),
        format!("{h}: secret/{} in {ns}", names.host_secret),
        format!(
            "{h}: kubefedcluster.core.kubefed.io/{} in {ns} (apiEndpoint {api_endpoint})",
            names.cluster
        ),
    ] {
        out.push_str(&line);
        out.push_str(" would be applied (dry run)\n");
    }
    match rbac {
        Rbac::Admin => out.push_str("grant: everything (--rbac=admin)\n"),
        Rbac::Minimal => {
            let mut types: Vec<String> = enabled
                .iter()
                .map(kubefed_core::TargetType::type_config_name)
                .collect();
            types.sort();
            let namespaces = if enabled.iter().any(kubefed_core::TargetType::is_namespace) {
                ""
            } else {
                ", namespaces (read)"
            };
            out.push_str(&format!(
                "grant: {} (get list watch create update patch delete){namespaces}, GET /healthz and /version\n",
                if types.is_empty() {
                    "no enabled types".to_string()
                } else {
                    types.join(", ")
                }
            ));
        }
    }
    output::print_stdout(&out)
}

/// `--api-endpoint` must be an http(s) URL with a host.
fn check_url(url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            anyhow::anyhow!("invalid --api-endpoint {url:?}: use a URL like https://10.0.0.5:6443")
        })?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        anyhow::bail!("invalid --api-endpoint {url:?}: no host; use a URL like https://10.0.0.5:6443");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_endpoint_must_be_a_url() {
        assert!(check_url("https://10.0.0.5:6443").is_ok());
        assert!(check_url("http://a").is_ok());
        for bad in ["10.0.0.5:6443", "https://", "ftp://x", "https:// x"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
