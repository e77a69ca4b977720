//! Leader election with a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it.
//!
//! kube-runtime has none, and the crates that offer one are unmaintained or pull another HTTP stack, so
//! this is ours: a candidate reads the Lease and takes it when it is free or has not been renewed for
//! `leaseDuration` *as observed locally* (the holder's clock is never compared with ours); the leader
//! renews every `retryPeriod` and steps down when it cannot renew for `renewDeadline`. Every write is a
//! `replace` with the `resourceVersion` that was read, so two candidates never both win.
//!
//! Losing the Lease is final for the process: [`LeaderElector::hold`] returns, the caller stops every
//! controller and exits, and the Deployment restarts it as a fresh candidate — client-go's behaviour,
//! which guarantees two replicas never act at once even if a stopped controller was slow to notice.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::error::{Error, Result};

/// Timing of the election (KubeFedConfig `leaderElect`: 15 s / 10 s / 5 s by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long a Lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it steps down.
    pub renew_deadline: Duration,
    /// How often candidates retry and the leader renews.
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// One candidate for the Lease `namespace/name`.
pub struct LeaderElector {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    timing: Timing,
    /// The Lease as last read and when it was read, to judge expiry by our own clock.
    observed: Option<(LeaseSpec, Instant)>,
}

impl LeaderElector {
    /// A candidate with `identity` for Lease `name` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, name: &str, identity: &str, timing: Timing) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            timing,
            observed: None,
        }
    }

    /// Waits until this candidate holds the Lease.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = self.name, identity = self.identity, "became the leader");
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "trying to acquire the leader Lease"),
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Renews the Lease until that fails for `renewDeadline` or another identity holds it; returns why.
    pub async fn hold(&mut self) -> Error {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            let attempt = tokio::time::timeout(self.timing.renew_deadline, self.try_acquire_or_renew()).await;
            let reason = match attempt {
                Ok(Ok(true)) => {
                    last_renewal = Instant::now();
                    continue;
                }
                Ok(Ok(false)) => {
                    return self.lost("another replica holds the Lease".to_string());
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("renewal took longer than {:?}", self.timing.renew_deadline),
            };
            if last_renewal.elapsed() >= self.timing.renew_deadline {
                return self.lost(format!(
                    "not renewed for {:?}: {reason}",
                    self.timing.renew_deadline
                ));
            }
            tracing::warn!(reason, "renewing the leader Lease failed; retrying");
        }
    }

    /// Gives the Lease up (on a clean shutdown), so another replica takes over at once.
    pub async fn release(&mut self) {
        let Ok(mut lease) = self.api.get(&self.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        if let Err(e) = self.api.replace(&self.name, &PostParams::default(), &lease).await {
            tracing::debug!(error = %e, "releasing the leader Lease");
        }
    }

    fn lost(&self, reason: String) -> Error {
        Error::LostLeadership {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            reason,
        }
    }

    /// One round: create, renew or take over the Lease. `Ok(true)` when we hold it afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool> {
        let now = Timestamp::now();
        let duration_secs = i32::try_from(self.timing.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let current = self.api.get_opt(&self.name).await.map_err(Error::host(format!(
            "reading Lease {}/{}",
            self.namespace, self.name
        )))?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(created.spec.unwrap_or_default());
                    Ok(true)
                }
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(Error::host(format!(
                    "creating Lease {}/{}",
                    self.namespace, self.name
                ))(e)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(self.identity.as_str());
        if !ours && holder.is_some() {
            // Someone else holds it: free only when it has not changed for its whole duration, by our clock.
            let changed = self.observed.as_ref().is_none_or(|(o, _)| !same_record(o, &spec));
            if changed {
                self.observe(spec);
                return Ok(false);
            }
            let held_for = spec.lease_duration_seconds.unwrap_or(duration_secs).max(1);
            let since = self
                .observed
                .as_ref()
                .map_or(Duration::ZERO, |(_, at)| at.elapsed());
            if since < Duration::from_secs(u64::try_from(held_for).unwrap_or(15)) {
                return Ok(false);
            }
        }
        let new_spec = lease.spec.get_or_insert_with(Default::default);
        if !ours {
            new_spec.acquire_time = Some(MicroTime(now));
            new_spec.lease_transitions = Some(new_spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        new_spec.holder_identity = Some(self.identity.clone());
        new_spec.lease_duration_seconds = Some(duration_secs);
        new_spec.renew_time = Some(MicroTime(now));
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(updated) => {
                self.observe(updated.spec.unwrap_or_default());
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(Error::host(format!(
                "updating Lease {}/{}",
                self.namespace, self.name
            ))(e)),
        }
    }

    fn observe(&mut self, spec: LeaseSpec) {
        self.observed = Some((spec, Instant::now()));
    }
}

/// Whether two Lease records are the same renewal (holder, renew time and transitions).
fn same_record(a: &LeaseSpec, b: &LeaseSpec) -> bool {
    a.holder_identity == b.holder_identity
        && a.renew_time == b.renew_time
        && a.lease_transitions == b.lease_transitions
}
