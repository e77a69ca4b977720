//! Self-managed TLS: the webhook is its own CA, so installing it needs nothing else (design §5).
//!
//! One reconcile reads the Secret, asks [`rotation::plan`] what to do, writes the result back, publishes
//! the trust bundle to the webhook configurations and loads the serving certificate. It runs at start,
//! whenever the Secret changes (a watch — another replica renewed, or someone deleted it), whenever one of
//! its two webhook configurations is created or changed (a watch each, by name — so a configuration
//! created after the webhook started, or whose `caBundle` a `helm upgrade` reset, gets the bundle within a
//! second), at the next renewal deadline, and at least every `--resync-interval`.
//!
//! The `caBundle` is written with a JSON patch on a configuration that exists, never by create or
//! server-side apply: recreating a configuration that `helm uninstall` just deleted would leave a
//! `failurePolicy: Fail` webhook pointing at a Service that is going away.
//!
//! Order matters for "no failed handshakes": the bundle with a new CA is written to the webhook
//! configurations *before* the Secret that carries a serving certificate signed by it, and the old CA
//! stays in the bundle until it expires. Replicas race safely: the Secret write is optimistic (create, or a
//! patch carrying `resourceVersion`), the loser re-reads and adopts the winner's material, and every
//! replica publishes whatever the Secret holds.
//!
//! When the Secret is deleted or damaged, a replica bootstraps a new CA but keeps the CAs it last knew in
//! the bundle (until they expire), so the certificate it is still serving stays trusted during the
//! switch. To *revoke* a CA (say its key leaked), delete the Secret and restart every replica: a fresh
//! process knows no old CA.
//!
//! RBAC this needs in its namespace: `secrets` get, list, watch, create, patch (the Secret); cluster-wide:
//! `mutatingwebhookconfigurations` and `validatingwebhookconfigurations` get, list, watch, patch — all
//! limitable with `resourceNames` to its own two, since the watches select `metadata.name`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::CertResolver;
use super::rotation::{self, Cert, Material, Plan, RotationPolicy, Sans};
use crate::error::{Error, Result};
use kubefed_core::pki::CertificateAuthority;

/// Where the material lives and what it must cover.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Namespace of the Secret.
    pub namespace: String,
    /// Name of the Secret.
    pub secret_name: String,
    /// MutatingWebhookConfiguration whose webhooks get the `caBundle`.
    pub mutating_config: String,
    /// ValidatingWebhookConfiguration whose webhooks get the `caBundle`.
    pub validating_config: String,
    /// Names of the serving certificate.
    pub sans: Sans,
    /// Certificate lifetimes.
    pub policy: RotationPolicy,
    /// Longest time between two reconciles.
    pub resync_interval: Duration,
}

/// The Secret as read: its material (or why it is unreadable) and its `resourceVersion`.
#[derive(Clone, Debug)]
pub struct StoredSecret {
    /// The four PEM texts, or what is wrong with the data.
    pub material: std::result::Result<Material, String>,
    /// For optimistic concurrency on write.
    pub resource_version: Option<String>,
}

/// Where the material is kept and the bundle published; the API server in production, memory in tests.
pub trait CertStore: Send + Sync {
    /// Reads the Secret; `None` when it does not exist.
    fn read(&self) -> impl Future<Output = Result<Option<StoredSecret>>> + Send;

    /// Creates the Secret (`resource_version` `None`) or updates it if still at `resource_version`;
    /// [`Error::Conflict`] when someone else got there first.
    fn write(
        &self,
        material: &Material,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Sets `caBundle` of every webhook in the webhook configurations to `bundle_pem` (no-op when equal).
    fn publish_ca_bundle(&self, bundle_pem: &str) -> impl Future<Output = Result<()>> + Send;
}

/// The result of one reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconciled {
    /// What was decided.
    pub plan: Plan,
    /// When the material needs another look at the latest.
    pub next_check: Option<SystemTime>,
}

/// Runs reconciles against a [`CertStore`].
#[derive(Debug)]
pub struct Reconciler<S> {
    store: S,
    sans: Sans,
    policy: RotationPolicy,
    resolver: Arc<CertResolver>,
    /// The trust bundle of the last reconcile, carried into a bootstrap so the certificate still being
    /// served stays trusted when the Secret is deleted or damaged.
    known_cas: std::sync::Mutex<Vec<Cert>>,
}

const WRITE_ATTEMPTS: usize = 3;

impl<S: CertStore> Reconciler<S> {
    /// A reconciler that installs what it settles on into `resolver`.
    pub fn new(store: S, sans: Sans, policy: RotationPolicy, resolver: Arc<CertResolver>) -> Self {
        Self {
            store,
            sans,
            policy,
            resolver,
            known_cas: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The store (for tests and diagnostics).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// One reconcile at `now`; see the module docs.
    pub async fn reconcile(&self, now: SystemTime) -> Result<Reconciled> {
        let mut conflict = String::new();
        for _ in 0..WRITE_ATTEMPTS {
            let stored = self.store.read().await?;
            let observed = stored.as_ref().map(|s| {
                s.material
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(rotation::observe)
            });
            let plan = rotation::plan(observed.as_ref(), &self.sans, &self.policy, now);
            let current = stored.as_ref().and_then(|s| s.material.as_ref().ok());
            let usable = observed.as_ref().and_then(|o| o.as_ref().ok());
            let desired = self.desired(&plan, current, usable, now)?;

            let changed = current != Some(&desired);
            if changed {
                match &plan {
                    Plan::Keep => tracing::info!("pruning expired CAs from the trust bundle"),
                    Plan::IssueLeaf(why) => {
                        tracing::info!(reason = %why, "issuing a new serving certificate")
                    }
                    Plan::RotateCa(why) => {
                        tracing::info!(reason = %why, "rotating the CA; the old CA stays trusted until it expires")
                    }
                    Plan::Bootstrap(why) => {
                        tracing::info!(reason = %why, "creating a CA and serving certificate")
                    }
                }
            }
            // Trust first: the API server must trust a new CA before any replica serves a leaf it signed.
            self.store.publish_ca_bundle(&desired.ca_crt).await?;
            if changed {
                let version = stored.as_ref().and_then(|s| s.resource_version.as_deref());
                match self.store.write(&desired, version).await {
                    Ok(()) => {}
                    Err(Error::Conflict(what)) => {
                        tracing::debug!(secret = %what, "lost a write race; re-reading");
                        conflict = what;
                        continue;
                    }
                    Err(err) => return Err(err),
                }
            }
            self.resolver.load_pem(
                desired.tls_crt.as_bytes(),
                desired.tls_key.as_bytes(),
                "TLS Secret",
            )?;
            let settled = rotation::observe(&desired).ok();
            let next_check = settled
                .as_ref()
                .and_then(|o| rotation::next_check(o, &self.policy));
            if let Some(settled) = settled {
                *self
                    .known_cas
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = settled.bundle;
            }
            return Ok(Reconciled { plan, next_check });
        }
        Err(Error::Conflict(conflict))
    }

    /// The material the Secret should hold after carrying out `plan`.
    fn desired(
        &self,
        plan: &Plan,
        current: Option<&Material>,
        observed: Option<&rotation::Observed>,
        now: SystemTime,
    ) -> Result<Material> {
        let keep_or_reissue = |reissue: bool| -> Result<Material> {
            let (Some(current), Some(observed)) = (current, observed) else {
                return self.fresh(&[], now);
            };
            let Some(active) = observed.active_ca() else {
                return self.fresh(&[], now);
            };
            let ca_crt = rotation::build_bundle(active, observed.bundle.iter().skip(1), now);
            if !reissue {
                return Ok(Material {
                    ca_crt,
                    ..current.clone()
                });
            }
            let active_pem = super::x509::certs_to_pem([&active.der]);
            let ca = CertificateAuthority::from_pem(&active_pem, &current.ca_key)?;
            let leaf = ca.issue_serving(&self.sans.dns_names, &self.sans.ips, self.policy.leaf_validity)?;
            Ok(Material {
                ca_crt,
                ca_key: current.ca_key.clone(),
                tls_crt: leaf.cert_pem,
                tls_key: leaf.key_pem,
            })
        };
        match plan {
            Plan::Keep => keep_or_reissue(false),
            Plan::IssueLeaf(_) => keep_or_reissue(true),
            Plan::RotateCa(_) => self.fresh(observed.map(|o| o.bundle.as_slice()).unwrap_or_default(), now),
            Plan::Bootstrap(_) => {
                let known = self
                    .known_cas
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                self.fresh(&known, now)
            }
        }
    }

    /// A new CA and serving certificate; `previous` CAs stay in the bundle while valid.
    fn fresh(&self, previous: &[Cert], now: SystemTime) -> Result<Material> {
        let stamp = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let ca =
            CertificateAuthority::generate(&format!("kubefed-webhook-ca@{stamp}"), self.policy.ca_validity)?;
        let leaf = ca.issue_serving(&self.sans.dns_names, &self.sans.ips, self.policy.leaf_validity)?;
        let active = rotation::observe(&Material {
            ca_crt: ca.cert_pem.clone(),
            ca_key: ca.key_pem(),
            tls_crt: leaf.cert_pem.clone(),
            tls_key: leaf.key_pem.clone(),
        })
        .ok()
        .and_then(|o| o.bundle.into_iter().next())
        .ok_or_else(|| Error::Certificate {
            what: "the new CA".into(),
            reason: "cannot be read back".into(),
        })?;
        Ok(Material {
            ca_crt: rotation::build_bundle(&active, previous, now),
            ca_key: ca.key_pem(),
            tls_crt: leaf.cert_pem,
            tls_key: leaf.key_pem,
        })
    }
}

/// JSON patch setting `caBundle` on each webhook whose bundle differs, guarded by a `test` of its name so a
/// concurrent reorder fails the patch instead of writing the wrong entry. `None` when nothing differs.
pub fn ca_bundle_patch(webhooks: &[(String, Option<Vec<u8>>)], bundle: &[u8]) -> Option<Value> {
    let encoded = serde_json::to_value(ByteString(bundle.to_vec())).unwrap_or(Value::Null);
    let mut ops = Vec::new();
    for (i, (name, current)) in webhooks.iter().enumerate() {
        if current.as_deref() != Some(bundle) {
            ops.push(json!({"op": "test", "path": format!("/webhooks/{i}/name"), "value": name}));
            ops.push(json!({"op": "add", "path": format!("/webhooks/{i}/clientConfig/caBundle"), "value": encoded}));
        }
    }
    if ops.is_empty() {
        None
    } else {
        Some(Value::Array(ops))
    }
}

/// The API-server-backed [`CertStore`].
#[derive(Clone)]
pub struct KubeStore {
    secrets: Api<Secret>,
    mutating: Api<MutatingWebhookConfiguration>,
    validating: Api<ValidatingWebhookConfiguration>,
    settings: Settings,
}

impl KubeStore {
    /// A store for `settings` using `client`.
    pub fn new(client: Client, settings: Settings) -> Self {
        Self {
            secrets: Api::namespaced(client.clone(), &settings.namespace),
            mutating: Api::all(client.clone()),
            validating: Api::all(client),
            settings,
        }
    }

    fn secret_ref(&self) -> String {
        format!("{}/{}", self.settings.namespace, self.settings.secret_name)
    }

    async fn patch_config<K>(
        &self,
        api: &Api<K>,
        kind: &str,
        name: &str,
        webhooks: Option<Vec<(String, Option<Vec<u8>>)>>,
        bundle: &[u8],
    ) -> Result<()>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let Some(webhooks) = webhooks else {
            tracing::debug!(
                config = name,
                "webhook configuration not found; caBundle not published there"
            );
            return Ok(());
        };
        let Some(ops) = ca_bundle_patch(&webhooks, bundle) else {
            return Ok(());
        };
        let patch: json_patch::Patch = serde_json::from_value(ops).map_err(Error::Encode)?;
        match api
            .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
            .await
        {
            Ok(_) => {
                tracing::info!(config = name, kind, "caBundle updated");
                Ok(())
            }
            // Deleted since we read it (helm uninstall): nothing to do, and nothing to recreate.
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
            Err(e) => Err(Error::kube(format!("writing caBundle into {kind} {name}"), e)),
        }
    }
}

impl CertStore for KubeStore {
    async fn read(&self) -> Result<Option<StoredSecret>> {
        let secret = self
            .secrets
            .get_opt(&self.settings.secret_name)
            .await
            .map_err(|e| Error::kube(format!("reading Secret {}", self.secret_ref()), e))?;
        Ok(secret.map(|s| {
            let data = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            StoredSecret {
                material: Material::from_data(&data),
                resource_version: s.metadata.resource_version,
            }
        }))
    }

    async fn write(&self, material: &Material, resource_version: Option<&str>) -> Result<()> {
        let data = material
            .to_data()
            .into_iter()
            .map(|(k, v)| (k, ByteString(v)))
            .collect();
        let name = &self.settings.secret_name;
        let result = match resource_version {
            None => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(self.settings.namespace.clone()),
                        labels: Some(
                            [
                                ("app.kubernetes.io/managed-by", "kubefed-webhook"),
                                ("app.kubernetes.io/name", "kubefed-webhook"),
                            ]
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect(),
                        ),
                        ..ObjectMeta::default()
                    },
                    type_: Some("kubernetes.io/tls".into()),
                    data: Some(data),
                    ..Secret::default()
                };
                self.secrets
                    .create(&PostParams::default(), &secret)
                    .await
                    .map(drop)
            }
            Some(version) => {
                // A merge patch keeps labels and annotations others (Helm) put on the Secret; the
                // resourceVersion in it makes the write fail with 409 if the Secret changed since we read it.
                let patch = json!({"metadata": {"resourceVersion": version}, "data": data});
                self.secrets
                    .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(drop)
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(kube::Error::Api(status)) if status.is_conflict() || status.is_already_exists() => {
                Err(Error::Conflict(self.secret_ref()))
            }
            Err(err) => Err(Error::kube(format!("writing Secret {}", self.secret_ref()), err)),
        }
    }

    async fn publish_ca_bundle(&self, bundle_pem: &str) -> Result<()> {
        let bundle = bundle_pem.as_bytes();
        let name = &self.settings.mutating_config;
        let mutating = self
            .mutating
            .get_opt(name)
            .await
            .map_err(|e| Error::kube(format!("reading MutatingWebhookConfiguration {name}"), e))?
            .map(|c| {
                c.webhooks
                    .unwrap_or_default()
                    .into_iter()
                    .map(|w| (w.name, w.client_config.ca_bundle.map(|b| b.0)))
                    .collect()
            });
        self.patch_config(
            &self.mutating,
            "MutatingWebhookConfiguration",
            name,
            mutating,
            bundle,
        )
        .await?;
        let name = &self.settings.validating_config;
        let validating = self
            .validating
            .get_opt(name)
            .await
            .map_err(|e| Error::kube(format!("reading ValidatingWebhookConfiguration {name}"), e))?
            .map(|c| {
                c.webhooks
                    .unwrap_or_default()
                    .into_iter()
                    .map(|w| (w.name, w.client_config.ca_bundle.map(|b| b.0)))
                    .collect()
            });
        self.patch_config(
            &self.validating,
            "ValidatingWebhookConfiguration",
            name,
            validating,
            bundle,
        )
        .await
    }
}

const MIN_WAIT: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
const DEBOUNCE: Duration = Duration::from_millis(200);

/// A watch of the one object of kind `K` named `name` (cluster-scoped), as a stream of "look again" ticks.
fn watch_by_name<K>(client: Client, name: &str, what: &'static str) -> futures::stream::BoxStream<'static, ()>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let api: Api<K> = Api::all(client);
    let selector = format!("metadata.name={name}");
    watcher(api, watcher::Config::default().fields(&selector))
        .default_backoff()
        .filter_map(move |event| async move {
            match event {
                Ok(watcher::Event::Apply(_) | watcher::Event::InitDone) => Some(()),
                Ok(_) => None,
                Err(err) => {
                    tracing::warn!(error = %err, what, "watch failed; retrying");
                    None
                }
            }
        })
        .boxed()
}

/// Keeps the material current until `shutdown` resolves: reconciles at start, on every change of the
/// Secret or of the webhook configurations, at the next renewal deadline and every `resync_interval`,
/// retrying failures with backoff.
pub async fn run(
    client: Client,
    settings: Settings,
    resolver: Arc<CertResolver>,
    shutdown: impl Future<Output = ()>,
) {
    let resync = settings.resync_interval.max(MIN_WAIT);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let selector = format!("metadata.name={}", settings.secret_name);
    let mut events = watcher(secrets, watcher::Config::default().fields(&selector))
        .default_backoff()
        .boxed();
    let mut configs = futures::stream::select(
        watch_by_name::<MutatingWebhookConfiguration>(
            client.clone(),
            &settings.mutating_config,
            "MutatingWebhookConfiguration",
        ),
        watch_by_name::<ValidatingWebhookConfiguration>(
            client.clone(),
            &settings.validating_config,
            "ValidatingWebhookConfiguration",
        ),
    )
    .boxed();
    let reconciler = Reconciler::new(
        KubeStore::new(client, settings.clone()),
        settings.sans.clone(),
        settings.policy,
        resolver,
    );
    tokio::pin!(shutdown);
    let mut wake = Instant::now();
    let mut failures: u32 = 0;
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep_until(wake) => {
                match reconciler.reconcile(SystemTime::now()).await {
                    Ok(done) => {
                        failures = 0;
                        let until = done
                            .next_check
                            .and_then(|t| t.duration_since(SystemTime::now()).ok())
                            .unwrap_or(MIN_WAIT);
                        wake = Instant::now() + until.clamp(MIN_WAIT, resync);
                    }
                    Err(err) => {
                        failures = failures.saturating_add(1);
                        let delay = MIN_WAIT.saturating_mul(2u32.saturating_pow(failures.min(6))).min(MAX_BACKOFF);
                        tracing::warn!(error = %err, retry_in = ?delay, "TLS reconcile failed");
                        wake = Instant::now() + delay;
                    }
                }
            }
            event = events.next() => match event {
                Some(Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone)) => {
                    wake = wake.min(Instant::now() + DEBOUNCE);
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => tracing::warn!(error = %err, "watching the TLS Secret failed; retrying"),
                None => {
                    tracing::warn!("the TLS Secret watch ended; relying on periodic resync");
                    events = futures::stream::pending().boxed();
                }
            },
            // A configuration appeared or changed: its caBundle may be missing or stale. Our own patch
            // comes back here too; the reconcile after it finds nothing to change.
            tick = configs.next() => match tick {
                Some(()) => wake = wake.min(Instant::now() + DEBOUNCE),
                None => {
                    tracing::warn!("the webhook configuration watches ended; relying on periodic resync");
                    configs = futures::stream::pending().boxed();
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::readiness::Readiness;
    use crate::tls::rotation::Reason;
    use crate::tls::x509;
    use std::sync::Mutex;

    const HOUR: Duration = Duration::from_secs(3600);

    /// An in-memory Secret and bundle that records the order of writes.
    #[derive(Default)]
    struct MemoryStore {
        secret: Mutex<Option<(std::result::Result<Material, String>, u64)>>,
        bundle: Mutex<Option<String>>,
        log: Mutex<Vec<String>>,
        /// Written by "another replica" just before our next write, which then conflicts.
        racer: Mutex<Option<Material>>,
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    impl MemoryStore {
        fn log(&self) -> Vec<String> {
            std::mem::take(&mut *lock(&self.log))
        }
        fn material(&self) -> Material {
            lock(&self.secret)
                .as_ref()
                .and_then(|(m, _)| m.clone().ok())
                .expect("material")
        }
        fn bundle(&self) -> String {
            lock(&self.bundle).clone().expect("bundle")
        }
    }

    impl CertStore for MemoryStore {
        async fn read(&self) -> Result<Option<StoredSecret>> {
            Ok(lock(&self.secret).as_ref().map(|(m, rv)| StoredSecret {
                material: m.clone(),
                resource_version: Some(rv.to_string()),
            }))
        }

        async fn write(&self, material: &Material, resource_version: Option<&str>) -> Result<()> {
            let mut secret = lock(&self.secret);
            if let Some(theirs) = lock(&self.racer).take() {
                let rv = secret.as_ref().map_or(1, |(_, rv)| rv + 1);
                *secret = Some((Ok(theirs), rv));
            }
            let current = secret.as_ref().map(|(_, rv)| rv.to_string());
            if current.as_deref() != resource_version {
                lock(&self.log).push("conflict".into());
                return Err(Error::Conflict("memory".into()));
            }
            let rv = secret.as_ref().map_or(1, |(_, rv)| rv + 1);
            *secret = Some((Ok(material.clone()), rv));
            let certs = x509::certs_from_pem(material.ca_crt.as_bytes(), "bundle").map_or(0, |c| c.len());
            lock(&self.log).push(format!("write bundle of {certs}"));
            Ok(())
        }

        async fn publish_ca_bundle(&self, bundle_pem: &str) -> Result<()> {
            let mut bundle = lock(&self.bundle);
            if bundle.as_deref() != Some(bundle_pem) {
                let certs = x509::certs_from_pem(bundle_pem.as_bytes(), "bundle").map_or(0, |c| c.len());
                lock(&self.log).push(format!("publish bundle of {certs}"));
                *bundle = Some(bundle_pem.to_owned());
            }
            Ok(())
        }
    }

    fn sans() -> Sans {
        Sans {
            dns_names: vec![
                "kubefed-webhook".into(),
                "kubefed-webhook.kubefed-system.svc".into(),
            ],
            ips: vec!["127.0.0.1".parse().expect("ip")],
        }
    }

    fn reconciler(store: MemoryStore, sans: Sans) -> (Reconciler<MemoryStore>, Arc<CertResolver>) {
        let resolver = Arc::new(CertResolver::new(Readiness::default(), Arc::new(Metrics::new())));
        let policy = RotationPolicy {
            ca_validity: 30 * HOUR,
            leaf_validity: 3 * HOUR,
        };
        (Reconciler::new(store, sans, policy, resolver.clone()), resolver)
    }

    fn serving_der(resolver: &CertResolver) -> CertificateDer<'static> {
        resolver.current().expect("installed").cert[0].clone()
    }

    fn der(pem: &str) -> Vec<CertificateDer<'static>> {
        x509::certs_from_pem(pem.as_bytes(), "test").expect("pem")
    }

    use rustls_pki_types::CertificateDer;

    #[tokio::test]
    async fn bootstrap_then_keep_then_renew_leaf_then_rotate_ca() {
        let (r, resolver) = reconciler(MemoryStore::default(), sans());
        let now = SystemTime::now();

        // Bootstrap: bundle published before the Secret is written, certificate served.
        let done = r.reconcile(now).await.expect("bootstrap");
        assert_eq!(done.plan, Plan::Bootstrap(Reason::NoSecret));
        assert_eq!(r.store().log(), ["publish bundle of 1", "write bundle of 1"]);
        let first = r.store().material();
        assert_eq!(r.store().bundle(), first.ca_crt);
        assert_eq!(serving_der(&resolver), der(&first.tls_crt)[0]);
        let info = x509::CertInfo::from_der(&der(&first.tls_crt)[0], "leaf").expect("leaf");
        assert_eq!(info.dns_names, sans().dns_names);
        assert_eq!(info.ips, sans().ips);
        assert!(
            done.next_check
                .is_some_and(|t| t > now + HOUR && t < now + 3 * HOUR)
        );

        // Steady state: nothing written.
        let done = r.reconcile(now + HOUR).await.expect("keep");
        assert_eq!(done.plan, Plan::Keep);
        assert!(r.store().log().is_empty());

        // Leaf past 2/3: new leaf from the same CA, bundle unchanged.
        let done = r
            .reconcile(now + 2 * HOUR + Duration::from_secs(60))
            .await
            .expect("renew");
        assert_eq!(done.plan, Plan::IssueLeaf(Reason::LeafRenewalDue));
        assert_eq!(r.store().log(), ["write bundle of 1"]);
        let second = r.store().material();
        assert_eq!((&second.ca_crt, &second.ca_key), (&first.ca_crt, &first.ca_key));
        assert_ne!(second.tls_crt, first.tls_crt);
        assert!(x509::issued_by(&der(&second.tls_crt)[0], &der(&first.ca_crt)[0]));
        assert_eq!(serving_der(&resolver), der(&second.tls_crt)[0]);

        // CA past 2/3: new CA first in the bundle, old CA kept, bundle published before the new leaf.
        let done = r.reconcile(now + 21 * HOUR).await.expect("rotate");
        assert_eq!(done.plan, Plan::RotateCa(Reason::CaRenewalDue));
        assert_eq!(r.store().log(), ["publish bundle of 2", "write bundle of 2"]);
        let third = r.store().material();
        let bundle = der(&third.ca_crt);
        assert_eq!(bundle.len(), 2);
        assert_eq!(bundle[1], der(&first.ca_crt)[0], "old CA stays trusted");
        assert!(x509::issued_by(&der(&third.tls_crt)[0], &bundle[0]));
        assert_eq!(r.store().bundle(), third.ca_crt);
        assert_eq!(serving_der(&resolver), der(&third.tls_crt)[0]);

        // Secret deleted: a new CA, but the CAs of the certificates still being served stay trusted.
        *lock(&r.store().secret) = None;
        let done = r.reconcile(now + 22 * HOUR).await.expect("bootstrap again");
        assert_eq!(done.plan, Plan::Bootstrap(Reason::NoSecret));
        assert_eq!(r.store().log(), ["publish bundle of 3", "write bundle of 3"]);
        let fourth = der(&r.store().material().ca_crt);
        assert_eq!(fourth[1..], bundle[..], "previous bundle carried over");
    }

    #[tokio::test]
    async fn losing_a_write_race_adopts_the_winner() {
        let (winner, _) = reconciler(MemoryStore::default(), sans());
        winner.reconcile(SystemTime::now()).await.expect("winner");
        let theirs = winner.store().material();

        let store = MemoryStore::default();
        *lock(&store.racer) = Some(theirs.clone());
        let (r, resolver) = reconciler(store, sans());
        let done = r.reconcile(SystemTime::now()).await.expect("loser");
        assert_eq!(done.plan, Plan::Keep, "second attempt reads the winner's Secret");
        let log = r.store().log();
        assert_eq!(log[..2], ["publish bundle of 1", "conflict"]);
        assert_eq!(r.store().material(), theirs);
        assert_eq!(
            r.store().bundle(),
            theirs.ca_crt,
            "the winner's CA is what ends up published"
        );
        assert_eq!(serving_der(&resolver), der(&theirs.tls_crt)[0]);
    }

    #[tokio::test]
    async fn unreadable_secret_is_replaced_and_new_names_reissue() {
        let store = MemoryStore::default();
        *lock(&store.secret) = Some((Err("key ca.key is missing".into()), 7));
        let (r, _) = reconciler(store, sans());
        let done = r.reconcile(SystemTime::now()).await.expect("replace");
        assert_eq!(
            done.plan,
            Plan::Bootstrap(Reason::CaUnusable("key ca.key is missing".into()))
        );
        let before = r.store().material();

        let more = Sans {
            ips: vec!["127.0.0.1".parse().expect("ip"), "10.0.0.7".parse().expect("ip")],
            ..sans()
        };
        let (r2, resolver) = reconciler(MemoryStore::default(), more.clone());
        *lock(&r2.store().secret) = Some((Ok(before.clone()), 1));
        let done = r2.reconcile(SystemTime::now()).await.expect("reissue");
        assert_eq!(done.plan, Plan::IssueLeaf(Reason::SansChanged));
        let after = r2.store().material();
        assert_eq!(after.ca_key, before.ca_key);
        let info = x509::CertInfo::from_der(&serving_der(&resolver), "leaf").expect("leaf");
        assert_eq!(info.ips, more.ips);
    }

    #[test]
    fn ca_bundle_patch_touches_only_stale_webhooks() {
        let bundle = b"PEM".to_vec();
        let webhooks = vec![
            ("current.kubefed.io".to_owned(), Some(bundle.clone())),
            ("stale.kubefed.io".to_owned(), Some(b"OLD".to_vec())),
            ("empty.kubefed.io".to_owned(), None),
        ];
        let patch = ca_bundle_patch(&webhooks, &bundle).expect("patch");
        assert_eq!(
            patch,
            json!([
                {"op": "test", "path": "/webhooks/1/name", "value": "stale.kubefed.io"},
                {"op": "add", "path": "/webhooks/1/clientConfig/caBundle", "value": "UEVN"},
                {"op": "test", "path": "/webhooks/2/name", "value": "empty.kubefed.io"},
                {"op": "add", "path": "/webhooks/2/clientConfig/caBundle", "value": "UEVN"},
            ])
        );
        assert!(serde_json::from_value::<json_patch::Patch>(patch).is_ok());
        assert_eq!(ca_bundle_patch(&webhooks[..1], &bundle), None);
        assert_eq!(ca_bundle_patch(&[], &bundle), None);
    }
}
