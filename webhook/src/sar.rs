//! RBAC per cluster: may the requesting user `propagate` to cluster C? (design §6)
//!
//! Placing an object on cluster C requires verb `propagate` on `kubefedclusters.core.kubefed.io` with
//! resourceName C in the kubefed system namespace, where the KubeFedClusters live (so a Role there, or a
//! ClusterRole bound cluster-wide, grants it). The webhook asks the API server with a SubjectAccessReview for
//! the request's user, uid, groups and extra — the same identity the API server authorised the request for.
//!
//! Answers are cached per identity and cluster, briefly: an allow for `--rbac-allowed-ttl` (default 30 s), a
//! deny for `--rbac-denied-ttl` (default 10 s, so a newly granted Role takes effect quickly). A revoked grant
//! therefore keeps working for at most the allowed TTL. Misses of one request are asked concurrently. The
//! cache is bounded: past [`MAX_SUBJECTS`] identities, expired entries are dropped, and if that is not enough
//! the cache starts over.
//!
//! The question is behind [`AccessReviewer`] so the decisions can be tested and benchmarked without an API
//! server; [`KubeReviewer`] is the real one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use kube::api::{Api, PostParams};
use kubefed_core::api::constants::CORE_GROUP;

/// The verb checked on `kubefedclusters.core.kubefed.io`.
pub const PROPAGATE_VERB: &str = "propagate";
/// The resource checked.
pub const CLUSTERS_RESOURCE: &str = "kubefedclusters";
/// Most identities cached before expired entries are dropped.
pub const MAX_SUBJECTS: usize = 10_000;

/// Who is asking: the request's `userInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// User name.
    pub user: String,
    /// User UID.
    pub uid: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes (e.g. scopes).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl Subject {
    /// The identity of an admission request.
    pub fn from_user_info(info: &UserInfo) -> Self {
        Self {
            user: info.username.clone().unwrap_or_default(),
            uid: info.uid.clone(),
            groups: info.groups.clone().unwrap_or_default(),
            extra: info.extra.clone().unwrap_or_default(),
        }
    }

    /// A key that is equal exactly when two subjects are (groups in any order).
    fn cache_key(&self) -> String {
        let mut groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        groups.sort_unstable();
        let len = self.user.len()
            + self.uid.as_deref().map_or(0, str::len)
            + groups.iter().map(|g| g.len() + 1).sum::<usize>()
            + 2;
        let mut key = String::with_capacity(len);
        key.push_str(&self.user);
        key.push('\0');
        key.push_str(self.uid.as_deref().unwrap_or_default());
        key.push('\0');
        for g in groups {
            key.push_str(g);
            key.push('\u{1}');
        }
        for (k, values) in &self.extra {
            key.push('\0');
            key.push_str(k);
            key.push('=');
            for v in values {
                key.push_str(v);
                key.push('\u{1}');
            }
        }
        key
    }
}

/// A future answering one question.
pub type ReviewFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>>;

/// Answers "may `subject` propagate to `cluster`?"; `Err` when it cannot tell.
pub trait AccessReviewer: Send + Sync + 'static {
    /// Asks once (no caching).
    fn can_propagate<'a>(&'a self, subject: &'a Subject, cluster: &'a str) -> ReviewFuture<'a>;
}

/// Asks the API server with a SubjectAccessReview.
#[derive(Clone)]
pub struct KubeReviewer {
    client: kube::Client,
    namespace: String,
    timeout: Duration,
}

impl KubeReviewer {
    /// A reviewer for KubeFedClusters in `namespace`; each review gives up after `timeout`.
    pub fn new(client: kube::Client, namespace: impl Into<String>, timeout: Duration) -> Self {
        Self {
            client,
            namespace: namespace.into(),
            timeout,
        }
    }

    /// The review for `subject` and `cluster`.
    pub fn review(&self, subject: &Subject, cluster: &str) -> SubjectAccessReview {
        SubjectAccessReview {
            metadata: Default::default(),
            spec: review_spec(subject, cluster, &self.namespace),
            status: None,
        }
    }
}

/// What a SubjectAccessReview asks: may `subject` `propagate` the KubeFedCluster `cluster` in `namespace`?
pub fn review_spec(subject: &Subject, cluster: &str, namespace: &str) -> SubjectAccessReviewSpec {
    SubjectAccessReviewSpec {
        user: Some(subject.user.clone()),
        uid: subject.uid.clone(),
        groups: Some(subject.groups.clone()),
        extra: (!subject.extra.is_empty()).then(|| subject.extra.clone()),
        resource_attributes: Some(ResourceAttributes {
            namespace: Some(namespace.to_string()),
            verb: Some(PROPAGATE_VERB.to_string()),
            group: Some(CORE_GROUP.to_string()),
            resource: Some(CLUSTERS_RESOURCE.to_string()),
            name: Some(cluster.to_string()),
            ..Default::default()
        }),
        non_resource_attributes: None,
    }
}

impl AccessReviewer for KubeReviewer {
    fn can_propagate<'a>(&'a self, subject: &'a Subject, cluster: &'a str) -> ReviewFuture<'a> {
        Box::pin(async move {
            let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
            let review = self.review(subject, cluster);
            let answer = tokio::time::timeout(self.timeout, api.create(&PostParams::default(), &review))
                .await
                .map_err(|_| format!("SubjectAccessReview timed out after {:?}", self.timeout))?
                .map_err(|e| format!("SubjectAccessReview failed: {e}"))?;
            let status = answer
                .status
                .ok_or_else(|| "SubjectAccessReview came back without a status".to_string())?;
            if let Some(err) = status.evaluation_error.filter(|e| !e.is_empty())
                && !status.allowed
            {
                tracing::debug!(user = %subject.user, cluster, error = %err, "SubjectAccessReview evaluation error");
            }
            Ok(status.allowed)
        })
    }
}

/// A reviewer with a fixed answer (tests, benchmarks).
#[derive(Clone, Copy, Debug)]
pub struct FixedReviewer(pub bool);

impl AccessReviewer for FixedReviewer {
    fn can_propagate<'a>(&'a self, _: &'a Subject, _: &'a str) -> ReviewFuture<'a> {
        Box::pin(std::future::ready(Ok(self.0)))
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    allowed: bool,
    expires: Instant,
}

/// Cache lifetimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheTtl {
    /// How long an allow is remembered.
    pub allowed: Duration,
    /// How long a deny is remembered.
    pub denied: Duration,
}

impl Default for CacheTtl {
    fn default() -> Self {
        Self {
            allowed: Duration::from_secs(30),
            denied: Duration::from_secs(10),
        }
    }
}

/// Checks `propagate` for a set of clusters, with the cache described in the module docs.
pub struct PropagateAuthorizer {
    reviewer: Arc<dyn AccessReviewer>,
    ttl: CacheTtl,
    cache: Mutex<HashMap<String, HashMap<String, Entry>>>,
}

impl PropagateAuthorizer {
    /// An authorizer asking `reviewer` on cache misses.
    pub fn new(reviewer: Arc<dyn AccessReviewer>, ttl: CacheTtl) -> Self {
        Self {
            reviewer,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashMap<String, Entry>>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The clusters of `clusters` that `subject` may not propagate to, sorted; `Err` when a review failed
    /// (nothing is cached for it).
    pub async fn denied(
        &self,
        subject: &Subject,
        clusters: &BTreeSet<String>,
    ) -> Result<Vec<String>, String> {
        let key = subject.cache_key();
        let now = Instant::now();
        let mut denied = Vec::new();
        let mut misses = Vec::new();
        {
            let cache = self.lock();
            let entries = cache.get(&key);
            for cluster in clusters {
                match entries.and_then(|e| e.get(cluster)) {
                    Some(e) if e.expires > now => {
                        if !e.allowed {
                            denied.push(cluster.clone());
                        }
                    }
                    _ => misses.push(cluster.as_str()),
                }
            }
        }
        if misses.is_empty() {
            return Ok(denied);
        }
        let answers =
            futures::future::join_all(misses.iter().map(|c| self.reviewer.can_propagate(subject, c))).await;
        let now = Instant::now();
        let mut failure = None;
        {
            let mut cache = self.lock();
            if cache.len() >= MAX_SUBJECTS && !cache.contains_key(&key) {
                cache.retain(|_, entries| {
                    entries.retain(|_, e| e.expires > now);
                    !entries.is_empty()
                });
                if cache.len() >= MAX_SUBJECTS {
                    cache.clear();
                }
            }
            let entries = cache.entry(key).or_default();
            for (cluster, answer) in misses.iter().zip(answers) {
                match answer {
                    Ok(allowed) => {
                        let ttl = if allowed {
                            self.ttl.allowed
                        } else {
                            self.ttl.denied
                        };
                        entries.insert(
                            (*cluster).to_string(),
                            Entry {
                                allowed,
                                expires: now + ttl,
                            },
                        );
                        if !allowed {
                            denied.push((*cluster).to_string());
                        }
                    }
                    Err(e) => failure = Some(e),
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        denied.sort();
        Ok(denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Allows clusters whose name starts with `ok-`, counting questions.
    struct Counting(AtomicUsize);

    impl AccessReviewer for Counting {
        fn can_propagate<'a>(&'a self, subject: &'a Subject, cluster: &'a str) -> ReviewFuture<'a> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let answer = if subject.user == "broken" {
                Err("boom".to_string())
            } else {
                Ok(cluster.starts_with("ok-"))
            };
            Box::pin(std::future::ready(answer))
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_string()).collect()
    }

    fn alice(groups: &[&str]) -> Subject {
        Subject {
            user: "alice".into(),
            uid: Some("uid-alice".into()),
            groups: groups.iter().map(|s| (*s).to_string()).collect(),
            extra: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn caches_allows_and_denies_for_their_ttl() {
        let reviewer = Arc::new(Counting(AtomicUsize::new(0)));
        let ttl = CacheTtl {
            allowed: Duration::from_secs(60),
            denied: Duration::from_millis(50),
        };
        let auth = PropagateAuthorizer::new(reviewer.clone(), ttl);
        let subject = alice(&["devs", "system:authenticated"]);
        let clusters = set(&["ok-1", "no-2", "ok-3"]);
        assert_eq!(
            auth.denied(&subject, &clusters).await,
            Ok(vec!["no-2".to_string()])
        );
        assert_eq!(reviewer.0.load(Ordering::SeqCst), 3);
        // Same identity, groups in another order: all cached.
        let same = alice(&["system:authenticated", "devs"]);
        assert_eq!(auth.denied(&same, &clusters).await, Ok(vec!["no-2".to_string()]));
        assert_eq!(reviewer.0.load(Ordering::SeqCst), 3);
        // Another identity asks again.
        assert_eq!(auth.denied(&alice(&["ops"]), &set(&["ok-1"])).await, Ok(vec![]));
        assert_eq!(reviewer.0.load(Ordering::SeqCst), 4);
        // The deny expires first.
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            auth.denied(&subject, &clusters).await,
            Ok(vec!["no-2".to_string()])
        );
        assert_eq!(reviewer.0.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn failures_are_errors_and_not_cached() {
        let reviewer = Arc::new(Counting(AtomicUsize::new(0)));
        let auth = PropagateAuthorizer::new(reviewer.clone(), CacheTtl::default());
        let broken = Subject {
            user: "broken".into(),
            ..Subject::default()
        };
        assert_eq!(
            auth.denied(&broken, &set(&["ok-1"])).await,
            Err("boom".to_string())
        );
        assert_eq!(
            auth.denied(&broken, &set(&["ok-1"])).await,
            Err("boom".to_string())
        );
        assert_eq!(reviewer.0.load(Ordering::SeqCst), 2);
        assert_eq!(auth.denied(&broken, &BTreeSet::new()).await, Ok(vec![]));
    }

    #[test]
    fn the_review_asks_for_propagate_on_the_named_cluster() {
        let subject = Subject {
            user: "alice".into(),
            uid: Some("u".into()),
            groups: vec!["devs".into()],
            extra: BTreeMap::from([("scopes".to_string(), vec!["a".to_string()])]),
        };
        let spec = serde_json::to_value(review_spec(&subject, "member-1", "kube-federation-system"))
            .expect("serializes");
        assert_eq!(
            spec,
            serde_json::json!({
                "user": "alice", "uid": "u", "groups": ["devs"], "extra": {"scopes": ["a"]},
                "resourceAttributes": {"namespace": "kube-federation-system", "verb": "propagate",
                    "group": "core.kubefed.io", "resource": "kubefedclusters", "name": "member-1"}
            })
        );
    }
}
