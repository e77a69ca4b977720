//! The webhook's [`Admit`]: kubefed-core's admission decisions over the current [`Snapshot`](kubefed_core::admission::Snapshot), plus what a
//! pure function cannot do — the SubjectAccessReviews ([`crate::sar`]), the target kinds' schemas
//! ([`schemas`]) and writing `Audit` violations to the policies' status.
//!
//! Per request: refuse a malformed review (no object, uid or user: not from an API server); take the
//! snapshot (an `Arc` clone); run [`admission::validate`] or [`admission::mutate`] (with the clusters the
//! RBAC cache already refuses, so hints never suggest them); ask the rights the decision names —
//! `propagate` per cluster or on every cluster, the target kind's own verbs, `bind`/`escalate` and, when
//! `escalate` is refused, each rule — in one cached batch; type-check override values against the host's
//! schema (fail-open with a warning); and build the response: `allowed`, or denied with `status.reason` the
//! first denial's [`Reason`](kubefed_core::admission::Reason) (which the `admission_denials` metric counts),
//! `status.code`, and every denial's message; warnings in `warnings`. `Audit` violations are recorded, and
//! put in `auditAnnotations`, only for an admitted request that is not a dry run.
//!
//! Audit violations go through a bounded channel to [`AuditWriter`], off the request path. It writes each
//! policy's status at most once per `--audit-interval`, merging with
//! [`kubefed_core::policy::record_violations`] into the status it has just read, with optimistic
//! concurrency (a conflict keeps the batch for the next round). When the channel is full, violations are
//! dropped and counted in the log: auditing must never slow admission down.

pub mod schemas;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::core::Status;
use kube::core::admission::{AdmissionResponse, Operation as KubeOperation};
use kubefed_core::admission::{
    self, Access, AccessCheck, AdmissionInput, AuditEntry, Decision, Denial, Operation, PropagateCheck,
    Reason, RuledOut, access_denial, malformed_request, propagate_all_denial, propagate_check_failed,
    propagate_denial,
};
use kubefed_core::api::FederationPolicy;
use kubefed_core::api::PolicyViolation;
use kubefed_core::api::policy::MAX_STATUS_VIOLATIONS;
use serde_json::json;
use tokio::sync::mpsc;

use crate::admission::{Admit, AdmitFuture, Request};
use crate::sar::{AccessRef, Keyed, PropagateAuthorizer, Subject};
use crate::snapshot::SnapshotSource;
use schemas::SchemaSource;

/// Reason of the answer while the caches are not synced yet.
pub const NOT_READY_REASON: &str = "ServiceUnavailable";

/// The decisions the webhook serves.
pub struct Decisions {
    snapshots: Arc<dyn SnapshotSource>,
    authorizer: Arc<PropagateAuthorizer>,
    audit: Option<AuditSink>,
    schemas: Option<Arc<dyn SchemaSource>>,
}

impl Decisions {
    /// Decisions over `snapshots`, checking RBAC with `authorizer`, recording audits to `audit`. Override
    /// values are type-checked only with [`Decisions::with_schemas`].
    pub fn new(
        snapshots: Arc<dyn SnapshotSource>,
        authorizer: Arc<PropagateAuthorizer>,
        audit: Option<AuditSink>,
    ) -> Self {
        Self {
            snapshots,
            authorizer,
            audit,
            schemas: None,
        }
    }

    /// Checks override values against the target kinds' schemas from `schemas`.
    pub fn with_schemas(mut self, schemas: Arc<dyn SchemaSource>) -> Self {
        self.schemas = Some(schemas);
        self
    }

    async fn decide_validate(&self, request: &Request) -> AdmissionResponse {
        if !self.snapshots.synced() {
            return not_ready(request);
        }
        let input = input_of(request);
        if let Some(denial) = malformed(request) {
            return respond(request, vec![denial], Vec::new());
        }
        let snapshot = self.snapshots.snapshot();
        let subject = Subject::from_user_info(&request.user_info);
        let who = subject.keyed();
        let system_namespace = snapshot.settings.system_namespace.as_str();
        // Clusters the cache already says the user may not propagate to are never suggested in hints (looked
        // up only when a hint is worded).
        let ruled_out = KnownDenied {
            authorizer: &self.authorizer,
            who: &who,
            system_namespace,
        };
        let input = AdmissionInput {
            ruled_out: Some(&ruled_out),
            ..input
        };
        let Decision {
            mut denials,
            mut warnings,
            audit,
            propagate,
            access,
            type_check,
        } = admission::validate(&input, &snapshot);
        if let Err(e) = self
            .check_rights(&who, propagate.as_ref(), &access, system_namespace, &mut denials)
            .await
        {
            tracing::warn!(user = %subject.user, error = %e, "RBAC check failed");
            denials.push(propagate_check_failed(&e));
        }
        if let (Some(check), Some(schemas)) = (&type_check, &self.schemas) {
            match schemas.document(&check.document_path()).await {
                Ok(doc) => {
                    for message in doc.check(check).unwrap_or_default() {
                        denials.push(Denial {
                            reason: Reason::Invalid,
                            message,
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(kind = %check.kind, error = %e, "cannot read the target kind's schema; override types not checked");
                    warnings.push(format!(
                        "the types of spec.overrides values were not checked: cannot read the schema of {} from the \
                         host ({e}); the controller reports a wrong type in the object's status",
                        check.kind
                    ));
                }
            }
        }
        // Audit only what is admitted and really happens: not a request another rule denies, not a dry run.
        let mut annotations = HashMap::new();
        if denials.is_empty() && !request.dry_run && !audit.is_empty() {
            annotations = audit_annotations(&audit);
            if let Some(sink) = &self.audit {
                sink.record(audit);
            }
        }
        let mut response = respond(request, denials, warnings);
        response.audit_annotations = annotations;
        response
    }

    /// Asks the rights `propagate` and `access` need; see [`check_rights`].
    async fn check_rights(
        &self,
        who: &Keyed<'_>,
        propagate: Option<&PropagateCheck>,
        access: &[AccessCheck],
        system_namespace: &str,
        denials: &mut Vec<Denial>,
    ) -> Result<(), String> {
        check_rights(
            &self.authorizer,
            who,
            propagate,
            access,
            system_namespace,
            denials,
        )
        .await
    }

    fn decide_mutate(&self, request: &Request) -> AdmissionResponse {
        if !self.snapshots.synced() {
            return not_ready(request);
        }
        if let Some(denial) = malformed(request) {
            return respond(request, vec![denial], Vec::new());
        }
        let snapshot = self.snapshots.snapshot();
        let mutation = admission::mutate(&input_of(request), &snapshot);
        let mut response = AdmissionResponse::from(request);
        if !mutation.patch.is_empty() {
            response = match response.with_patch(json_patch::Patch(mutation.patch)) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode the mutation's patch; admitting unchanged");
                    AdmissionResponse::from(request)
                }
            };
        }
        if !mutation.warnings.is_empty() {
            response.warnings = Some(mutation.warnings);
        }
        response
    }
}

impl Admit for Decisions {
    fn validate<'a>(&'a self, request: &'a Request) -> AdmitFuture<'a> {
        Box::pin(self.decide_validate(request))
    }

    fn mutate<'a>(&'a self, request: &'a Request) -> AdmitFuture<'a> {
        Box::pin(std::future::ready(self.decide_mutate(request)))
    }
}

/// The webhook's RBAC step (also `kubectl fed check --from-host --as`): asks the rights `propagate` and
/// `access` need (one concurrent batch, then the fallbacks of refused escalation checks) and adds a denial
/// for each one missing; `Err` when a review failed.
pub async fn check_rights(
    authorizer: &PropagateAuthorizer,
    who: &Keyed<'_>,
    propagate: Option<&PropagateCheck>,
    access: &[AccessCheck],
    system_namespace: &str,
    denials: &mut Vec<Denial>,
) -> Result<(), String> {
    let subject = who.subject;
    let mut asked: Vec<AccessRef<'_>> = Vec::with_capacity(
        propagate.map_or(0, |p| if p.all_clusters { 1 } else { p.clusters.len() }) + access.len(),
    );
    match propagate {
        Some(p) if p.all_clusters => asked.push(AccessRef::propagate(None, system_namespace)),
        Some(p) => asked.extend(
            p.clusters
                .iter()
                .map(|c| AccessRef::propagate(Some(c), system_namespace)),
        ),
        None => {}
    }
    let first_access = asked.len();
    asked.extend(access.iter().map(|c| AccessRef::of(&c.access)));
    if asked.is_empty() {
        return Ok(());
    }
    let answers = authorizer.allowed_keyed(who, &asked).await?;
    if let Some(p) = propagate {
        if p.all_clusters {
            if !answers[0] {
                denials.push(propagate_all_denial(&subject.user, p.field, system_namespace));
            }
        } else {
            let denied: Vec<String> = p
                .clusters
                .iter()
                .zip(&answers[..first_access])
                .filter(|(_, ok)| !**ok)
                .map(|(c, _)| c.clone())
                .collect();
            if !denied.is_empty() {
                denials.push(propagate_denial(
                    &subject.user,
                    p.field,
                    &denied,
                    system_namespace,
                ));
            }
        }
    }
    for (check, ok) in access.iter().zip(&answers[first_access..]) {
        if *ok {
            continue;
        }
        if check.or_all_of.is_empty() {
            denials.push(access_denial(check, &[]));
            continue;
        }
        let each: Vec<AccessRef<'_>> = check.or_all_of.iter().map(AccessRef::of).collect();
        let held = authorizer.allowed_keyed(who, &each).await?;
        let missing: Vec<&Access> = check
            .or_all_of
            .iter()
            .zip(held)
            .filter(|(_, ok)| !ok)
            .map(|(a, _)| a)
            .collect();
        if !missing.is_empty() {
            denials.push(access_denial(check, &missing));
        }
    }
    Ok(())
}

/// The clusters the RBAC cache says a user may not `propagate` to, for hints (no review is made).
struct KnownDenied<'a> {
    authorizer: &'a PropagateAuthorizer,
    who: &'a Keyed<'a>,
    system_namespace: &'a str,
}

impl std::fmt::Debug for KnownDenied<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownDenied")
            .field("user", &self.who.subject.user)
            .finish_non_exhaustive()
    }
}

impl RuledOut for KnownDenied<'_> {
    fn ruled_out(&self, cluster: &str) -> bool {
        !self
            .authorizer
            .known_denied_keyed(self.who, std::iter::once(cluster), self.system_namespace)
            .is_empty()
    }
}

/// Why the review cannot come from an API server, if it cannot (see
/// [`kubefed_core::admission::malformed_request`]).
fn malformed(request: &Request) -> Option<Denial> {
    let input = input_of(request);
    malformed_request(
        input.operation,
        &request.uid,
        input.user,
        request.object.is_some(),
        request.old_object.is_some(),
    )
}

/// Longest audit annotation value (the API server keeps annotations in every audit event).
pub const MAX_AUDIT_ANNOTATION_BYTES: usize = 1024;

/// One `auditAnnotations` entry per policy with findings: key `policy-<name>` (the API server prefixes it
/// with the webhook's name, e.g. `validate.kubefed.io/policy-small`; a qualified name of at most 63
/// characters), value the findings (`rule: message`, joined with `; `, at most
/// [`MAX_AUDIT_ANNOTATION_BYTES`]).
pub fn audit_annotations(entries: &[AuditEntry]) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    for e in entries {
        let key = annotation_key(&e.policy);
        let value = out.entry(key).or_default();
        if !value.is_empty() {
            value.push_str("; ");
        }
        value.push_str(&e.violation.rule);
        value.push_str(": ");
        value.push_str(&e.violation.message);
    }
    for value in out.values_mut() {
        truncate(value, MAX_AUDIT_ANNOTATION_BYTES);
    }
    out
}

/// `policy-<name>`, cut to a valid qualified name part ([A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9], ≤ 63).
fn annotation_key(policy: &str) -> String {
    let mut key: String = format!("policy-{policy}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    while key.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        key.pop();
    }
    key
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
fn truncate(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

/// The request as kubefed-core's decisions see it.
pub fn input_of(request: &Request) -> AdmissionInput<'_> {
    AdmissionInput {
        operation: match request.operation {
            KubeOperation::Create => Operation::Create,
            KubeOperation::Update => Operation::Update,
            KubeOperation::Delete => Operation::Delete,
            KubeOperation::Connect => Operation::Connect,
        },
        group: &request.kind.group,
        kind: &request.kind.kind,
        namespace: request.namespace.as_deref(),
        name: &request.name,
        object: request.object.as_ref(),
        old_object: request.old_object.as_ref(),
        user: request.user_info.username.as_deref(),
        ruled_out: None,
    }
}

/// Allowed, or denied with every denial's message and the first one's reason and code; warnings attached.
fn respond(request: &Request, denials: Vec<Denial>, warnings: Vec<String>) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(request);
    let decision = Decision {
        denials,
        ..Decision::default()
    };
    if let Some(reason) = decision.reason() {
        response.allowed = false;
        response.result = Status::failure(&decision.message(), reason.as_str()).with_code(reason.code());
    }
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    response
}

fn not_ready(request: &Request) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(request);
    response.allowed = false;
    response.result = Status::failure(
        "the kubefed admission webhook is starting: its caches of clusters, namespaces, type configs and policies \
         are not synced yet; retry in a few seconds",
        NOT_READY_REASON,
    )
    .with_code(503);
    response
}

/// Where request handlers send `Audit` violations (cheap to clone).
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<AuditEntry>,
    dropped: Arc<AtomicU64>,
}

impl AuditSink {
    /// Queues violations for the writer; drops them (counting) when the queue is full.
    pub fn record(&self, entries: Vec<AuditEntry>) {
        for entry in entries {
            if self.tx.try_send(entry).is_err() {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(dropped = n, "audit queue full; violations dropped");
                }
            }
        }
    }
}

/// Writes queued `Audit` violations to the policies' status (see the module docs).
pub struct AuditWriter {
    rx: mpsc::Receiver<AuditEntry>,
    api: Api<FederationPolicy>,
    interval: Duration,
}

/// A sink and the writer draining it into the API server; `capacity` bounds the queue.
pub fn audit_channel(client: kube::Client, capacity: usize, interval: Duration) -> (AuditSink, AuditWriter) {
    let (sink, rx) = audit_queue(capacity);
    (
        sink,
        AuditWriter {
            rx,
            api: Api::all(client),
            interval,
        },
    )
}

/// A sink and the receiving end of its queue (for callers that drain it themselves, e.g. tests).
pub fn audit_queue(capacity: usize) -> (AuditSink, mpsc::Receiver<AuditEntry>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        AuditSink {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        rx,
    )
}

/// Pending violations of one policy: the newest ones and how many older ones were dropped.
#[derive(Default)]
struct Pending {
    violations: Vec<PolicyViolation>,
    dropped: i64,
}

impl AuditWriter {
    /// Runs until every sink is dropped, then writes what is left.
    pub async fn run(mut self) {
        let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                entry = self.rx.recv() => match entry {
                    Some(AuditEntry { policy, mut violation }) => {
                        violation.time = Some(Time(Timestamp::now()));
                        let p = pending.entry(policy).or_default();
                        p.violations.push(violation);
                        if p.violations.len() > MAX_STATUS_VIOLATIONS {
                            let excess = p.violations.len() - MAX_STATUS_VIOLATIONS;
                            p.violations.drain(..excess);
                            p.dropped += i64::try_from(excess).unwrap_or(i64::MAX);
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => self.flush(&mut pending).await,
            }
        }
        self.flush(&mut pending).await;
    }

    async fn flush(&self, pending: &mut BTreeMap<String, Pending>) {
        let names: Vec<String> = pending.keys().cloned().collect();
        for name in names {
            let Some(batch) = pending.remove(&name) else {
                continue;
            };
            match self.write(&name, &batch).await {
                Ok(()) => {}
                Err(WriteError::Gone) => {
                    tracing::debug!(policy = %name, "policy deleted; its audit violations are dropped");
                }
                Err(WriteError::Retry(e)) => {
                    tracing::info!(policy = %name, error = %e, "cannot write audit violations yet; retrying");
                    // Keep the batch (newer entries queued meanwhile go after it).
                    pending.insert(name, batch);
                }
            }
        }
    }

    async fn write(&self, name: &str, batch: &Pending) -> Result<(), WriteError> {
        let policy = match self.api.get_opt(name).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err(WriteError::Gone),
            Err(e) => return Err(WriteError::Retry(e.to_string())),
        };
        let now = Time(Timestamp::now());
        let mut status = kubefed_core::policy::record_violations(
            policy.status.as_ref(),
            &batch.violations,
            &now,
            policy.metadata.generation,
        );
        status.violation_count = status.violation_count.saturating_add(batch.dropped);
        let patch = json!({
            "metadata": {"resourceVersion": policy.metadata.resource_version},
            "status": status,
        });
        match self
            .api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                tracing::debug!(policy = %name, violations = batch.violations.len(), "audit violations recorded");
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 404 => Err(WriteError::Gone),
            Err(e) => Err(WriteError::Retry(e.to_string())),
        }
    }
}

enum WriteError {
    Gone,
    Retry(String),
}

#[cfg(test)]
mod tests;
