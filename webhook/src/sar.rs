//! RBAC on the host: may the requesting user `propagate` to cluster C, create the target kind in namespace
//! N, bind role R…? (design §6; what is asked is decided in [`kubefed_core::admission::access`])
//!
//! Placing an object on cluster C requires verb `propagate` on `kubefedclusters.core.kubefed.io` with
//! resourceName C in the kubefed system namespace, where the KubeFedClusters live (so a Role there, or a
//! ClusterRole bound cluster-wide, grants it); a placement by label needs it without resourceName. The
//! webhook asks the API server with a SubjectAccessReview for the request's user, uid, groups and extra —
//! the same identity the API server authorised the request for.
//!
//! Answers are cached per identity and question (every attribute the review asks: verb, group, resource,
//! subresource, namespace, name, or non-resource path), briefly: an allow for `--rbac-allowed-ttl` (default 30 s), a
//! deny for `--rbac-denied-ttl` (default 10 s, so a newly granted Role takes effect quickly). A revoked grant
//! therefore keeps working for at most the allowed TTL. Misses of one request are asked concurrently. The
//! cache is bounded: past [`MAX_SUBJECTS`] identities (or [`MAX_ENTRIES_PER_SUBJECT`] answers for one),
//! expired entries are dropped, and if that is not enough the cache (or that identity's part) starts over.
//!
//! The question is behind [`AccessReviewer`] so the decisions can be tested and benchmarked without an API
//! server; [`KubeReviewer`] is the real one ([`SelfReviewer`] asks about the caller, for `kubectl fed check`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{SelfSubjectReview, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
pub use kubefed_core::admission::Access;
pub use kubefed_core::admission::access::{CLUSTERS_RESOURCE, PROPAGATE_VERB};

/// Most identities cached before expired entries are dropped.
pub const MAX_SUBJECTS: usize = 10_000;
/// Most answers cached per identity before its expired ones are dropped.
pub const MAX_ENTRIES_PER_SUBJECT: usize = 4_096;

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

/// A [`Subject`] with its cache key computed once, for the several cache look-ups of one request.
pub struct Keyed<'a> {
    /// Who is asking.
    pub subject: &'a Subject,
    key: String,
}

impl Subject {
    /// This subject with its cache key.
    pub fn keyed(&self) -> Keyed<'_> {
        Keyed {
            subject: self,
            key: self.cache_key(),
        }
    }
}

/// An [`Access`] question borrowed from wherever its parts are, so that a cache hit builds no strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessRef<'a> {
    /// See [`Access::Resource`].
    Resource {
        /// The verb.
        verb: &'a str,
        /// The API group.
        group: &'a str,
        /// The resource (plural).
        resource: &'a str,
        /// The subresource.
        subresource: Option<&'a str>,
        /// The namespace; `None` at cluster scope.
        namespace: Option<&'a str>,
        /// The object's name; `None` for any.
        name: Option<&'a str>,
    },
    /// See [`Access::NonResource`].
    NonResource {
        /// The verb.
        verb: &'a str,
        /// The path.
        path: &'a str,
    },
}

impl<'a> AccessRef<'a> {
    /// The parts of `access`.
    pub fn of(access: &'a Access) -> Self {
        match access {
            Access::Resource {
                verb,
                group,
                resource,
                subresource,
                namespace,
                name,
            } => AccessRef::Resource {
                verb,
                group,
                resource,
                subresource: subresource.as_deref(),
                namespace: namespace.as_deref(),
                name: name.as_deref(),
            },
            Access::NonResource { verb, path } => AccessRef::NonResource { verb, path },
        }
    }

    /// `propagate` on cluster `cluster` (`None`: every cluster) in `system_namespace`; equal to the parts of
    /// [`Access::propagate`].
    pub fn propagate(cluster: Option<&'a str>, system_namespace: &'a str) -> Self {
        AccessRef::Resource {
            verb: PROPAGATE_VERB,
            group: kubefed_core::api::constants::CORE_GROUP,
            resource: CLUSTERS_RESOURCE,
            subresource: None,
            namespace: Some(system_namespace),
            name: cluster,
        }
    }

    /// The owned question.
    pub fn to_access(self) -> Access {
        match self {
            AccessRef::Resource {
                verb,
                group,
                resource,
                subresource,
                namespace,
                name,
            } => Access::Resource {
                verb: verb.to_string(),
                group: group.to_string(),
                resource: resource.to_string(),
                subresource: subresource.map(str::to_string),
                namespace: namespace.map(str::to_string),
                name: name.map(str::to_string),
            },
            AccessRef::NonResource { verb, path } => Access::NonResource {
                verb: verb.to_string(),
                path: path.to_string(),
            },
        }
    }
}

/// Something that reads as an [`AccessRef`]: the cache's keys are looked up by borrowed parts.
trait Question {
    fn parts(&self) -> AccessRef<'_>;
}

impl Question for AccessRef<'_> {
    fn parts(&self) -> AccessRef<'_> {
        *self
    }
}

/// A cached question, hashed and compared by its parts (like the borrowed form it is looked up with).
#[derive(Debug)]
struct CachedAccess(Access);

impl Question for CachedAccess {
    fn parts(&self) -> AccessRef<'_> {
        AccessRef::of(&self.0)
    }
}

impl std::hash::Hash for dyn Question + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn Question + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn Question + '_ {}

impl std::hash::Hash for CachedAccess {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for CachedAccess {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for CachedAccess {}

impl<'a> std::borrow::Borrow<dyn Question + 'a> for CachedAccess {
    fn borrow(&self) -> &(dyn Question + 'a) {
        self
    }
}

/// A future answering one question.
pub type ReviewFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>>;

/// Answers "may `subject` do `access`?"; `Err` when it cannot tell.
pub trait AccessReviewer: Send + Sync + 'static {
    /// Asks once (no caching).
    fn review<'a>(&'a self, subject: &'a Subject, access: &'a Access) -> ReviewFuture<'a>;
}

/// Asks the API server with a SubjectAccessReview.
#[derive(Clone)]
pub struct KubeReviewer {
    client: kube::Client,
    timeout: Duration,
}

impl KubeReviewer {
    /// A reviewer asking through `client`; each review gives up after `timeout`.
    pub fn new(client: kube::Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }
}

/// What a SubjectAccessReview asks: may `subject` do `access`?
pub fn review_spec(subject: &Subject, access: &Access) -> SubjectAccessReviewSpec {
    let (resource_attributes, non_resource_attributes) = attributes(access);
    SubjectAccessReviewSpec {
        user: Some(subject.user.clone()),
        uid: subject.uid.clone(),
        groups: Some(subject.groups.clone()),
        extra: (!subject.extra.is_empty()).then(|| subject.extra.clone()),
        resource_attributes,
        non_resource_attributes,
    }
}

/// `access` as the attributes of an access review.
fn attributes(access: &Access) -> (Option<ResourceAttributes>, Option<NonResourceAttributes>) {
    match access {
        Access::Resource {
            verb,
            group,
            resource,
            subresource,
            namespace,
            name,
        } => (
            Some(ResourceAttributes {
                namespace: namespace.clone(),
                verb: Some(verb.clone()),
                group: Some(group.clone()),
                resource: Some(resource.clone()),
                subresource: subresource.clone(),
                name: name.clone(),
                ..Default::default()
            }),
            None,
        ),
        Access::NonResource { verb, path } => (
            None,
            Some(NonResourceAttributes {
                path: Some(path.clone()),
                verb: Some(verb.clone()),
            }),
        ),
    }
}

impl AccessReviewer for KubeReviewer {
    fn review<'a>(&'a self, subject: &'a Subject, access: &'a Access) -> ReviewFuture<'a> {
        Box::pin(async move {
            let review = SubjectAccessReview {
                metadata: Default::default(),
                spec: review_spec(subject, access),
                status: None,
            };
            let answer = create_review(&self.client, self.timeout, &review).await?;
            let status = answer
                .status
                .ok_or_else(|| "SubjectAccessReview came back without a status".to_string())?;
            if let Some(err) = status.evaluation_error.filter(|e| !e.is_empty())
                && !status.allowed
            {
                tracing::debug!(user = %subject.user, %access, error = %err, "SubjectAccessReview evaluation error");
            }
            Ok(status.allowed)
        })
    }
}

/// Asks the API server about the caller itself with a SelfSubjectAccessReview (`kubectl fed check` without
/// `--as`): any authenticated user may, unlike a SubjectAccessReview. The `subject` it is given is not sent;
/// the answer is for whoever `client` authenticates as (see [`whoami`]).
#[derive(Clone)]
pub struct SelfReviewer {
    client: kube::Client,
    timeout: Duration,
}

impl SelfReviewer {
    /// A reviewer asking through `client`; each review gives up after `timeout`.
    pub fn new(client: kube::Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }
}

impl AccessReviewer for SelfReviewer {
    fn review<'a>(&'a self, _subject: &'a Subject, access: &'a Access) -> ReviewFuture<'a> {
        Box::pin(async move {
            let (resource_attributes, non_resource_attributes) = attributes(access);
            let review = SelfSubjectAccessReview {
                metadata: Default::default(),
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes,
                    non_resource_attributes,
                },
                status: None,
            };
            let answer = create_review(&self.client, self.timeout, &review).await?;
            let status = answer
                .status
                .ok_or_else(|| "SelfSubjectAccessReview came back without a status".to_string())?;
            Ok(status.allowed)
        })
    }
}

/// Creates one review object (the API server answers in its `status`), giving up after `timeout`; errors name
/// the review's kind.
async fn create_review<K>(client: &kube::Client, timeout: Duration, review: &K) -> Result<K, String>
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let kind = K::kind(&());
    let api: Api<K> = Api::all(client.clone());
    tokio::time::timeout(timeout, api.create(&PostParams::default(), review))
        .await
        .map_err(|_| format!("{kind} timed out after {timeout:?}"))?
        .map_err(|e| format!("{kind} failed: {e}"))
}

/// Who `client` authenticates as, from a SelfSubjectReview (authentication.k8s.io/v1).
pub async fn whoami(client: &kube::Client, timeout: Duration) -> Result<Subject, String> {
    let answer = create_review(client, timeout, &SelfSubjectReview::default()).await?;
    answer
        .status
        .and_then(|s| s.user_info)
        .map(|info| Subject::from_user_info(&info))
        .filter(|s| !s.user.is_empty())
        .ok_or_else(|| "SelfSubjectReview came back without a user".to_string())
}

/// A reviewer with a fixed answer (tests, benchmarks).
#[derive(Clone, Copy, Debug)]
pub struct FixedReviewer(pub bool);

impl AccessReviewer for FixedReviewer {
    fn review<'a>(&'a self, _: &'a Subject, _: &'a Access) -> ReviewFuture<'a> {
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

/// Keyed by identity, then question. foldhash (randomly seeded) rather than SipHash: hashing the questions of
/// every request was a visible part of the decision, and the keys come from the API server's authenticated
/// `userInfo` and the request's own names, in maps bounded by [`MAX_SUBJECTS`] and
/// [`MAX_ENTRIES_PER_SUBJECT`], so crafted collisions could at worst slow one bounded map.
type Cache = foldhash::HashMap<String, foldhash::HashMap<CachedAccess, Entry>>;

/// Answers access questions (`propagate` on clusters, the target kind's rights, RBAC escalation), with the
/// cache described in the module docs.
pub struct PropagateAuthorizer {
    reviewer: Arc<dyn AccessReviewer>,
    ttl: CacheTtl,
    cache: Mutex<Cache>,
}

impl PropagateAuthorizer {
    /// An authorizer asking `reviewer` on cache misses.
    pub fn new(reviewer: Arc<dyn AccessReviewer>, ttl: CacheTtl) -> Self {
        Self {
            reviewer,
            ttl,
            cache: Mutex::new(Cache::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `subject` may do each of `accesses` (in order); `Err` when a review failed (nothing is cached
    /// for it). Misses are asked concurrently.
    pub async fn allowed(&self, subject: &Subject, accesses: &[&Access]) -> Result<Vec<bool>, String> {
        let questions: Vec<AccessRef<'_>> = accesses.iter().map(|a| AccessRef::of(a)).collect();
        self.allowed_keyed(&subject.keyed(), &questions).await
    }

    /// [`PropagateAuthorizer::allowed`] for a keyed subject and borrowed questions (a hit allocates
    /// nothing but the answers).
    pub async fn allowed_keyed(
        &self,
        who: &Keyed<'_>,
        questions: &[AccessRef<'_>],
    ) -> Result<Vec<bool>, String> {
        let (subject, key) = (who.subject, &who.key);
        let now = Instant::now();
        let mut answers: Vec<Option<bool>> = Vec::with_capacity(questions.len());
        {
            let cache = self.lock();
            let entries = cache.get(key);
            for question in questions {
                answers.push(match entries.and_then(|e| e.get(question as &dyn Question)) {
                    Some(e) if e.expires > now => Some(e.allowed),
                    _ => None,
                });
            }
        }
        let misses: Vec<usize> = (0..questions.len()).filter(|&i| answers[i].is_none()).collect();
        if misses.is_empty() {
            return Ok(answers.into_iter().map(|a| a.unwrap_or(false)).collect());
        }
        let owned: Vec<Access> = misses.iter().map(|&i| questions[i].to_access()).collect();
        let asked = futures::future::join_all(owned.iter().map(|a| self.reviewer.review(subject, a))).await;
        let now = Instant::now();
        let mut failure = None;
        {
            let mut cache = self.lock();
            if cache.len() >= MAX_SUBJECTS && !cache.contains_key(key) {
                cache.retain(|_, entries| {
                    entries.retain(|_, e| e.expires > now);
                    !entries.is_empty()
                });
                if cache.len() >= MAX_SUBJECTS {
                    cache.clear();
                }
            }
            let entries = cache.entry(key.clone()).or_default();
            if entries.len() >= MAX_ENTRIES_PER_SUBJECT {
                entries.retain(|_, e| e.expires > now);
                if entries.len() >= MAX_ENTRIES_PER_SUBJECT {
                    entries.clear();
                }
            }
            for ((&i, access), answer) in misses.iter().zip(owned).zip(asked) {
                match answer {
                    Ok(allowed) => {
                        let ttl = if allowed {
                            self.ttl.allowed
                        } else {
                            self.ttl.denied
                        };
                        entries.insert(
                            CachedAccess(access),
                            Entry {
                                allowed,
                                expires: now + ttl,
                            },
                        );
                        answers[i] = Some(allowed);
                    }
                    Err(e) => failure = Some(e),
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(answers.into_iter().map(|a| a.unwrap_or(false)).collect())
    }

    /// The clusters of `clusters` that `subject` may not `propagate` to, sorted; `Err` when a review failed.
    pub async fn denied(
        &self,
        subject: &Subject,
        clusters: &BTreeSet<String>,
        system_namespace: &str,
    ) -> Result<Vec<String>, String> {
        let accesses: Vec<Access> = clusters
            .iter()
            .map(|c| Access::propagate(Some(c), system_namespace))
            .collect();
        let refs: Vec<&Access> = accesses.iter().collect();
        let answers = self.allowed(subject, &refs).await?;
        Ok(clusters
            .iter()
            .zip(answers)
            .filter(|(_, ok)| !ok)
            .map(|(c, _)| c.clone())
            .collect())
    }

    /// Of `clusters`, those the cache currently says `subject` may not `propagate` to (no review is made).
    pub fn known_denied<'c>(
        &self,
        subject: &Subject,
        clusters: impl Iterator<Item = &'c str>,
        system_namespace: &str,
    ) -> BTreeSet<String> {
        self.known_denied_keyed(&subject.keyed(), clusters, system_namespace)
    }

    /// [`PropagateAuthorizer::known_denied`] for a keyed subject.
    pub fn known_denied_keyed<'c>(
        &self,
        who: &Keyed<'_>,
        clusters: impl Iterator<Item = &'c str>,
        system_namespace: &str,
    ) -> BTreeSet<String> {
        let now = Instant::now();
        let cache = self.lock();
        let Some(entries) = cache.get(&who.key) else {
            return BTreeSet::new();
        };
        clusters
            .filter(|c| {
                let question = AccessRef::propagate(Some(c), system_namespace);
                entries
                    .get(&question as &dyn Question)
                    .is_some_and(|e| e.expires > now && !e.allowed)
            })
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Allows clusters whose name starts with `ok-`, counting questions.
    struct Counting(AtomicUsize);

    impl AccessReviewer for Counting {
        fn review<'a>(&'a self, subject: &'a Subject, access: &'a Access) -> ReviewFuture<'a> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let name = match access {
                Access::Resource { name, .. } => name.clone().unwrap_or_default(),
                Access::NonResource { path, .. } => path.clone(),
            };
            let answer = if subject.user == "broken" {
                Err("boom".to_string())
            } else {
                Ok(name.starts_with("ok-"))
            };
            Box::pin(std::future::ready(answer))
        }
    }

    const NS: &str = "kube-federation-system";

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
            auth.denied(&subject, &clusters, NS).await,
            Ok(vec!["no-2".to_string()])
        );
        assert_eq!(reviewer.0.load(Ordering::SeqCst), 3);
        // Same identity, groups in another order: all cached.
        let same = alice(&["system:authenticated", "devs"]);
        assert_eq!(
            auth.denied(&same, &clusters, NS).await,
            Ok(vec!["no-2".to_string()])
        );
        assert_eq!(reviewer.0.load(Ordering::SeqCst), 3);
        // Another identity asks again.
        assert_eq!(
            auth.denied(&alice(&["ops"]), &set(&["ok-1"]), NS).await,
            Ok(vec![])
        );
        assert_eq!(reviewer.0.load(Ordering::SeqCst), 4);
        // The deny expires first.
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            auth.denied(&subject, &clusters, NS).await,
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
            auth.denied(&broken, &set(&["ok-1"]), NS).await,
            Err("boom".to_string())
        );
        assert_eq!(
            auth.denied(&broken, &set(&["ok-1"]), NS).await,
            Err("boom".to_string())
        );
        assert_eq!(reviewer.0.load(Ordering::SeqCst), 2);
        assert_eq!(auth.denied(&broken, &BTreeSet::new(), NS).await, Ok(vec![]));
    }

    #[tokio::test]
    async fn the_cache_key_holds_every_attribute_asked() {
        let reviewer = Arc::new(Counting(AtomicUsize::new(0)));
        let auth = PropagateAuthorizer::new(reviewer.clone(), CacheTtl::default());
        let subject = alice(&["devs"]);
        let a = Access::resource("create", "apps", "deployments", Some("ok-a"), Some("ok-x"));
        let variants = [
            Access::resource("update", "apps", "deployments", Some("ok-a"), Some("ok-x")),
            Access::resource("create", "", "deployments", Some("ok-a"), Some("ok-x")),
            Access::resource("create", "apps", "statefulsets", Some("ok-a"), Some("ok-x")),
            Access::resource("create", "apps", "deployments/scale", Some("ok-a"), Some("ok-x")),
            Access::resource("create", "apps", "deployments", Some("ok-b"), Some("ok-x")),
            Access::resource("create", "apps", "deployments", None, Some("ok-x")),
            Access::resource("create", "apps", "deployments", Some("ok-a"), None),
            Access::NonResource {
                verb: "create".into(),
                path: "ok-x".into(),
            },
        ];
        assert_eq!(auth.allowed(&subject, &[&a]).await, Ok(vec![true]));
        assert_eq!(auth.allowed(&subject, &[&a]).await, Ok(vec![true]));
        assert_eq!(reviewer.0.load(Ordering::SeqCst), 1);
        let refs: Vec<&Access> = variants.iter().collect();
        auth.allowed(&subject, &refs).await.expect("answers");
        assert_eq!(reviewer.0.load(Ordering::SeqCst), 1 + variants.len());
        // What the cache knows is denied, without asking.
        auth.denied(&subject, &set(&["no-1", "ok-2"]), NS)
            .await
            .expect("answers");
        let known = auth.known_denied(&subject, ["no-1", "ok-2", "no-3"].into_iter(), NS);
        assert_eq!(known, set(&["no-1"]));
    }

    /// A borrowed question finds what its owned form cached, and `propagate` has the same parts either way.
    #[tokio::test]
    async fn borrowed_questions_hit_the_owned_entries() {
        for cluster in [Some("ok-1"), None] {
            assert_eq!(
                AccessRef::propagate(cluster, NS),
                AccessRef::of(&Access::propagate(cluster, NS))
            );
            assert_eq!(
                AccessRef::propagate(cluster, NS).to_access(),
                Access::propagate(cluster, NS)
            );
        }
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let auth = PropagateAuthorizer::new(counting.clone(), CacheTtl::default());
        let subject = alice(&["dev"]);
        let owned = Access::resource("get", "", "pods/log", Some("a"), Some("ok-pod"));
        assert_eq!(auth.allowed(&subject, &[&owned]).await, Ok(vec![true]));
        assert_eq!(
            auth.allowed(&subject, &[&Access::propagate(Some("no-1"), NS)])
                .await,
            Ok(vec![false])
        );
        let who = subject.keyed();
        let asked = [AccessRef::of(&owned), AccessRef::propagate(Some("no-1"), NS)];
        assert_eq!(auth.allowed_keyed(&who, &asked).await, Ok(vec![true, false]));
        assert_eq!(
            counting.0.load(Ordering::SeqCst),
            2,
            "the borrowed questions were cache hits"
        );
        assert_eq!(
            auth.known_denied_keyed(&who, ["no-1", "ok-2"].into_iter(), NS),
            set(&["no-1"])
        );
    }

    #[test]
    fn the_review_asks_for_propagate_on_the_named_cluster() {
        let subject = Subject {
            user: "alice".into(),
            uid: Some("u".into()),
            groups: vec!["devs".into()],
            extra: BTreeMap::from([("scopes".to_string(), vec!["a".to_string()])]),
        };
        let spec = serde_json::to_value(review_spec(&subject, &Access::propagate(Some("member-1"), NS)))
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
