//! FederationPolicy evaluation: which policies select a federated object, what each of their rules says about
//! the clusters it is placed on, and how several policies combine (design §6).
//!
//! # How policies combine
//!
//! Policies are independent and unordered in meaning; there is no priority and no policy can relax another.
//!
//! 1. **Every selecting policy applies.** A policy selects an object when its `match.namespaceSelector`
//!    (absent: every namespace and the cluster-scoped objects; present: namespaced objects whose Namespace
//!    labels match) and its `match.kinds` (empty: every kind; else the federated kind or the target kind)
//!    both hold.
//! 2. **Each violation is handled by its own policy's `enforcement`.** A violation of a `Deny` policy denies
//!    the request, whatever the other policies say; a `Warn` violation becomes a warning; an `Audit`
//!    violation is recorded in that policy's status. So the effective rule set is the conjunction of every
//!    selecting `Deny` policy: the allowed clusters are the intersection of their `allowedClusters`, the
//!    denied ones the union of their `deniedClusters`, the minimum the largest `minClusters`, the maximum
//!    the smallest `maxClusters`, and every `spread` entry must hold.
//! 3. **Messages are in a stable order:** policies by name, then within a policy `allowedClusters`,
//!    `deniedClusters`, `minClusters`, `maxClusters`, `spread[0]`, `spread[1]`, …; all of them are reported,
//!    not only the first.
//! 4. **Default placement** comes from the first selecting policy, by name, that has a `defaultPlacement`
//!    and is not in `Audit` mode (an audit never changes objects). It is filled in only when the object has
//!    neither `spec.placement.clusters` nor `spec.placement.clusterSelector`, and the result is then checked
//!    like any other placement.
//! 5. **Namespace consistency** (the object's namespace must be federated to every cluster it is placed on)
//!    is enforced as the strictest `namespaceConsistency` of the selecting policies that set one
//!    (`Deny` > `Warn` > `Audit`), else the webhook's default (`--namespace-consistency`, `Deny`).
//!
//! # Which clusters the rules see
//!
//! [`Targets`] holds two views of a placement. `allowedClusters` and `deniedClusters` judge every cluster the
//! placement *names or selects*: a listed cluster that is not joined yet still counts (it would receive the
//! object the moment it joins); such a cluster is judged with no labels. `minClusters`, `maxClusters` and
//! `spread` count the *joined* clusters the object is placed on, which is where it actually runs.
//!
//! A policy whose own selectors are malformed (which the webhook refuses at creation, but a policy may
//! predate the webhook) is reported as a violation of rule `match` under its enforcement: it fails closed.

pub mod status;
pub mod validation;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::api::{ClusterSet, Enforcement, FederationPolicy};
use crate::findings::Reason;
use crate::placement::ClusterInfo;
use crate::selector::selector_matches;

pub use status::record_violations;
pub use validation::validate_policy;

/// The label every Namespace carries with its own name (set by the API server since Kubernetes 1.21).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The federated object a policy is evaluated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subject<'a> {
    /// The federated kind, e.g. `FederatedDeployment`.
    pub kind: &'a str,
    /// The target kind, e.g. `Deployment`, when a FederatedTypeConfig names it.
    pub target_kind: Option<&'a str>,
    /// The target kind's API group (`""` for the core group), when a FederatedTypeConfig names it.
    pub target_group: Option<&'a str>,
    /// The federated object's own `metadata.labels` (for `match.objectSelector`).
    pub labels: Option<&'a BTreeMap<String, String>>,
    /// The object's namespace; `None` for cluster-scoped federated objects.
    pub namespace: Option<&'a str>,
    /// The object's name.
    pub name: &'a str,
}

/// The clusters a placement puts an object on, as the rules see them (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets<'a> {
    /// Every cluster the placement names (joined or not) or selects now, sorted.
    pub named: BTreeSet<String>,
    /// The joined clusters among them, sorted by name.
    pub joined: Vec<&'a ClusterInfo>,
    /// Whether they come from `spec.placement.clusterSelector` (changes the suggested fix).
    pub by_selector: bool,
}

/// A broken rule of one policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The policy's name.
    pub policy: String,
    /// What the violation does.
    pub enforcement: Enforcement,
    /// The rule, as its field is named: `allowedClusters`, `deniedClusters`, `minClusters`, `maxClusters`,
    /// `spread[i]`, `namespaceConsistency` or `match`.
    pub rule: String,
    /// The machine-readable reason (for metrics and the response's `status.reason`).
    pub reason: Reason,
    /// What is wrong and how to fix it, starting with `policy "<name>": `.
    pub message: String,
}

/// The policies that select `subject`, in the order of `policies` (the webhook keeps them sorted by name),
/// and a `match` violation for each policy whose namespace selector is malformed.
///
/// `namespace_labels` are the labels of the subject's Namespace; when the namespace is unknown, only its
/// [`NAMESPACE_NAME_LABEL`] is assumed.
pub fn selecting<'p>(
    policies: &'p [FederationPolicy],
    subject: &Subject<'_>,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> (Vec<&'p FederationPolicy>, Vec<Violation>) {
    let mut selected = Vec::new();
    let mut broken = Vec::new();
    let mut fallback_labels = None;
    for policy in policies {
        let m = &policy.spec.match_;
        if !m.kinds.is_empty()
            && !m
                .kinds
                .iter()
                .any(|k| k == subject.kind || Some(k.as_str()) == subject.target_kind)
        {
            continue;
        }
        if let Some(selector) = &m.object_selector {
            let no_labels = BTreeMap::new();
            match selector_matches(selector, subject.labels.unwrap_or(&no_labels)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    broken.push(Violation {
                        policy: name_of(policy).to_string(),
                        enforcement: policy.spec.enforcement(),
                        rule: "match".to_string(),
                        reason: Reason::PolicyInvalid,
                        message: format!(
                            "policy {:?}: spec.match.objectSelector.{e}; the policy cannot be evaluated until a \
                             platform admin fixes it",
                            name_of(policy)
                        ),
                    });
                    continue;
                }
            }
        }
        let Some(selector) = &m.namespace_selector else {
            selected.push(policy);
            continue;
        };
        let Some(namespace) = subject.namespace else {
            continue;
        };
        let labels = match namespace_labels {
            Some(l) => l,
            None => fallback_labels.get_or_insert_with(|| {
                BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string())])
            }),
        };
        match selector_matches(selector, labels) {
            Ok(true) => selected.push(policy),
            Ok(false) => {}
            Err(e) => broken.push(Violation {
                policy: name_of(policy).to_string(),
                enforcement: policy.spec.enforcement(),
                rule: "match".to_string(),
                reason: Reason::PolicyInvalid,
                message: format!(
                    "policy {:?}: spec.match.namespaceSelector.{e}; the policy cannot be evaluated until a platform \
                     admin fixes it",
                    name_of(policy)
                ),
            }),
        }
    }
    (selected, broken)
}

/// Checks the placement rules of each policy in `selected` against `targets`; `clusters` are all joined
/// clusters (used to suggest fixes). Violations come in the order of the module docs.
pub fn check(
    selected: &[&FederationPolicy],
    targets: &Targets<'_>,
    clusters: &[ClusterInfo],
) -> Vec<Violation> {
    check_with(selected, targets, clusters, &BTreeSet::<String>::new())
}

/// Clusters never to suggest in a fix (e.g. those the user is known not to be allowed to `propagate` to).
/// Asked only while a fix is worded, so a source that has to look its answers up (the webhook's RBAC
/// cache) costs nothing on requests that break no rule.
pub trait RuledOut: std::fmt::Debug + Sync {
    /// Whether `cluster` is ruled out.
    fn ruled_out(&self, cluster: &str) -> bool;
}

impl RuledOut for BTreeSet<String> {
    fn ruled_out(&self, cluster: &str) -> bool {
        self.contains(cluster)
    }
}

/// [`check`], where the clusters in `ruled_out` (e.g. those the user is known not to be allowed to
/// `propagate` to) are never suggested in a fix. Clusters a selecting `Deny` policy rejects are never
/// suggested either, so a `Warn` policy's hint cannot contradict a `Deny` policy.
pub fn check_with(
    selected: &[&FederationPolicy],
    targets: &Targets<'_>,
    clusters: &[ClusterInfo],
    ruled_out: &dyn RuledOut,
) -> Vec<Violation> {
    let mut out = Vec::new();
    if selected.is_empty() {
        return out;
    }
    // Whether a joined cluster may be suggested at all: not ruled out, and acceptable to every selecting
    // Deny policy's cluster sets. Worked out per cluster only when a fix is worded.
    let suggestable = |c: &ClusterInfo| {
        !ruled_out.ruled_out(&c.name)
            && selected
                .iter()
                .filter(|p| p.spec.enforcement() == Enforcement::Deny)
                .all(|p| sets_accept(&p.spec, c))
    };
    // Each named cluster's labels, looked up once for every policy (none for a cluster not joined).
    let no_labels = BTreeMap::new();
    let named: Vec<(&str, &BTreeMap<String, String>)> = targets
        .named
        .iter()
        .map(|n| {
            let labels = clusters
                .binary_search_by(|c| c.name.as_str().cmp(n))
                .ok()
                .and_then(|i| clusters.get(i))
                .map_or(&no_labels, |c| &c.labels);
            (n.as_str(), labels)
        })
        .collect();
    for policy in selected {
        check_one(policy, targets, &named, clusters, &suggestable, &mut out);
    }
    out
}

/// `forbiddenKinds` violations: one per selecting policy that forbids the subject's target kind.
pub fn check_kind(selected: &[&FederationPolicy], subject: &Subject<'_>) -> Vec<Violation> {
    let (Some(group), Some(kind)) = (subject.target_group, subject.target_kind) else {
        return Vec::new();
    };
    selected
        .iter()
        .filter(|p| p.spec.forbidden_kinds.iter().any(|k| k.matches(group, kind)))
        .map(|p| {
            let name = name_of(p);
            let shown = if group.is_empty() {
                kind.to_string()
            } else {
                format!("{kind}.{group}")
            };
            Violation {
                policy: name.to_string(),
                enforcement: p.spec.enforcement(),
                rule: "forbiddenKinds".to_string(),
                reason: Reason::KindForbidden,
                message: format!(
                    "policy {name:?}: {shown} may not be federated (forbiddenKinds); create it on each member \
                     cluster directly, or ask a platform admin"
                ),
            }
        })
        .collect()
}

/// Whether a policy's `allowedClusters`/`deniedClusters` accept cluster `c` (a malformed set rejects).
fn sets_accept(spec: &crate::api::FederationPolicySpec, c: &ClusterInfo) -> bool {
    let allowed = spec
        .allowed_clusters
        .as_ref()
        .is_none_or(|s| in_set(s, &c.name, &c.labels, "").unwrap_or(false));
    let denied = spec
        .denied_clusters
        .as_ref()
        .is_some_and(|s| in_set(s, &c.name, &c.labels, "").unwrap_or(true));
    allowed && !denied
}

/// The policy whose `defaultPlacement` applies: the first of `selected` (by name) that has one and is not in
/// `Audit` mode.
pub fn default_placement<'p>(selected: &[&'p FederationPolicy]) -> Option<&'p FederationPolicy> {
    selected
        .iter()
        .copied()
        .find(|p| p.spec.default_placement.is_some() && p.spec.enforcement() != Enforcement::Audit)
}

/// How namespace consistency is enforced for an object `selected` policies select: the strictest
/// `namespaceConsistency` they set, with the first policy (by name) that sets it; else `baseline` and no policy.
pub fn namespace_consistency<'p>(
    selected: &[&'p FederationPolicy],
    baseline: Enforcement,
) -> (Enforcement, Option<&'p str>) {
    let mut best: Option<(Enforcement, &'p str)> = None;
    for p in selected {
        if let Some(e) = p.spec.namespace_consistency
            && best.is_none_or(|(b, _)| e.strictness() > b.strictness())
        {
            best = Some((e, name_of(p)));
        }
    }
    match best {
        Some((e, name)) => (e, Some(name)),
        None => (baseline, None),
    }
}

fn name_of(policy: &FederationPolicy) -> &str {
    policy.metadata.name.as_deref().unwrap_or_default()
}

/// Whether `set` contains the cluster `name` with `labels`; `Err` with the field when its selector is malformed.
fn in_set(
    set: &ClusterSet,
    name: &str,
    labels: &BTreeMap<String, String>,
    field: &str,
) -> Result<bool, String> {
    if set.names.iter().any(|n| n == name) {
        return Ok(true);
    }
    match &set.selector {
        None => Ok(false),
        Some(sel) => selector_matches(sel, labels).map_err(|e| format!("{field}.selector.{e}")),
    }
}

fn check_one(
    policy: &FederationPolicy,
    targets: &Targets<'_>,
    named: &[(&str, &BTreeMap<String, String>)],
    clusters: &[ClusterInfo],
    suggestable: &dyn Fn(&ClusterInfo) -> bool,
    out: &mut Vec<Violation>,
) {
    let name = name_of(policy);
    let spec = &policy.spec;
    let enforcement = spec.enforcement();
    let violation = |rule: &str, reason: Reason, message: String| Violation {
        policy: name.to_string(),
        enforcement,
        rule: rule.to_string(),
        reason,
        message: format!("policy {name:?}: {message}"),
    };
    // Whether a joined cluster is acceptable to this policy's cluster sets and may be suggested (for fixes).
    let acceptable = |c: &ClusterInfo| -> bool { sets_accept(spec, c) && suggestable(c) };
    let placement_field = if targets.by_selector {
        "spec.placement.clusterSelector"
    } else {
        "spec.placement.clusters"
    };

    if let Some(set) = &spec.allowed_clusters {
        let mut outside = Vec::new();
        for &(cluster, labels) in named {
            match in_set(set, cluster, labels, "spec.allowedClusters") {
                Ok(true) => {}
                Ok(false) => outside.push(cluster),
                Err(field) => {
                    out.push(violation(
                        "allowedClusters",
                        Reason::PolicyInvalid,
                        broken_policy(&field),
                    ));
                    outside.clear();
                    break;
                }
            }
        }
        if !outside.is_empty() {
            let allowed: Vec<&str> = clusters
                .iter()
                .filter(|c| acceptable(c))
                .map(|c| c.name.as_str())
                .collect();
            let them = if outside.len() == 1 { "it" } else { "them" };
            let fix = if allowed.is_empty() {
                "no joined cluster is allowed; ask a platform admin".to_string()
            } else if targets.by_selector {
                format!(
                    "narrow {placement_field} to allowed clusters, or list allowed clusters in \
                     spec.placement.clusters: {}",
                    allowed.join(", ")
                )
            } else {
                format!(
                    "remove {them} from {placement_field}; allowed: {}",
                    allowed.join(", ")
                )
            };
            out.push(violation(
                "allowedClusters",
                Reason::ClusterNotAllowed,
                format!(
                    "{placement_field} {} {}, which the policy does not allow (allowedClusters: {}); {fix}",
                    if targets.by_selector { "selects" } else { "names" },
                    clusters_phrase(&outside),
                    describe_set(set)
                ),
            ));
        }
    }

    if let Some(set) = &spec.denied_clusters {
        let mut denied = Vec::new();
        for &(cluster, labels) in named {
            match in_set(set, cluster, labels, "spec.deniedClusters") {
                Ok(false) => {}
                Ok(true) => denied.push(cluster),
                Err(field) => {
                    out.push(violation(
                        "deniedClusters",
                        Reason::PolicyInvalid,
                        broken_policy(&field),
                    ));
                    denied.clear();
                    break;
                }
            }
        }
        if !denied.is_empty() {
            let fix = if targets.by_selector {
                format!(
                    "narrow {placement_field} so it does not select {} (e.g. a matchExpressions NotIn), or list \
                     clusters in spec.placement.clusters",
                    if denied.len() == 1 { "it" } else { "them" }
                )
            } else {
                format!(
                    "remove {} from {placement_field}",
                    if denied.len() == 1 { "it" } else { "them" }
                )
            };
            out.push(violation(
                "deniedClusters",
                Reason::ClusterDenied,
                format!(
                    "{placement_field} {} {}, which the policy denies (deniedClusters: {}); {fix}",
                    if targets.by_selector { "selects" } else { "names" },
                    clusters_phrase(&denied),
                    describe_set(set)
                ),
            ));
        }
    }

    let count = targets.joined.len();
    // Only worded when a count rule is broken: this runs on every request.
    let placed_phrase = || {
        let placed: Vec<&str> = targets.joined.iter().map(|c| c.name.as_str()).collect();
        if placed.is_empty() {
            "no joined cluster".to_string()
        } else {
            format!(
                "{} joined cluster{} ({})",
                placed.len(),
                if placed.len() == 1 { "" } else { "s" },
                placed.join(", ")
            )
        }
    };
    if let Some(min) = spec.min_clusters
        && i64::try_from(count).unwrap_or(i64::MAX) < i64::from(min)
    {
        let missing = usize::try_from(min).unwrap_or(0).saturating_sub(count);
        let candidates: Vec<&str> = clusters
            .iter()
            .filter(|c| !targets.named.contains(&c.name) && acceptable(c))
            .map(|c| c.name.as_str())
            .take(missing)
            .collect();
        let fix = if candidates.is_empty() {
            "no other joined cluster is acceptable to the policy; ask a platform admin".to_string()
        } else {
            format!(
                "add {}, e.g. {}",
                plural(missing, "cluster"),
                candidates.join(", ")
            )
        };
        out.push(violation(
            "minClusters",
            Reason::TooFewClusters,
            format!(
                "spec.placement resolves to {}, but the policy requires at least {min} (minClusters); {fix}",
                placed_phrase()
            ),
        ));
    }
    if let Some(max) = spec.max_clusters
        && i64::try_from(count).unwrap_or(i64::MAX) > i64::from(max)
    {
        let extra = count.saturating_sub(usize::try_from(max).unwrap_or(0));
        let fix = if targets.by_selector {
            format!("narrow {placement_field} so it selects at most {max}")
        } else {
            format!("remove {} from {placement_field}", plural(extra, "cluster"))
        };
        out.push(violation(
            "maxClusters",
            Reason::TooManyClusters,
            format!(
                "spec.placement resolves to {}, but the policy allows at most {max} (maxClusters); {fix}",
                placed_phrase()
            ),
        ));
    }

    for (i, rule) in spec.spread.iter().enumerate() {
        // Counted without allocating: this runs on every request and target lists are short.
        let label = rule.label.as_str();
        let joined = &targets.joined;
        let distinct = joined
            .iter()
            .enumerate()
            .filter(|&(i, c)| {
                label_value(c, label)
                    .is_some_and(|v| !joined[..i].iter().any(|p| label_value(p, label) == Some(v)))
            })
            .count();
        if i64::try_from(distinct).unwrap_or(i64::MAX) >= i64::from(rule.min_distinct) {
            continue;
        }
        let values: BTreeSet<&str> = joined.iter().filter_map(|c| label_value(c, label)).collect();
        let mut seen = values.clone();
        let mut candidates = Vec::new();
        for c in clusters {
            if targets.named.contains(&c.name) || !acceptable(c) {
                continue;
            }
            if let Some(v) = c.labels.get(&rule.label)
                && seen.insert(v.as_str())
            {
                candidates.push(format!("{} ({}={v})", c.name, rule.label));
            }
        }
        let have = if values.is_empty() {
            "no value".to_string()
        } else {
            format!(
                "{} ({})",
                plural(values.len(), "distinct value"),
                values.iter().copied().collect::<Vec<_>>().join(", ")
            )
        };
        let label = &rule.label;
        let fix = if candidates.is_empty() {
            "no other joined cluster has another value; ask a platform admin".to_string()
        } else {
            format!("add clusters with other values, e.g. {}", candidates.join(", "))
        };
        out.push(violation(
            &format!("spread[{i}]"),
            Reason::SpreadNotMet,
            format!(
                "spec.placement spans {have} of cluster label {label:?}, but the policy requires at least {} \
                 (spread[{i}].minDistinct); {fix}",
                rule.min_distinct
            ),
        ));
    }
}

/// The value of `label` on cluster `c`.
fn label_value<'c>(c: &'c ClusterInfo, label: &str) -> Option<&'c str> {
    c.labels.get(label).map(String::as_str)
}

fn broken_policy(field: &str) -> String {
    format!("{field}; the policy cannot be evaluated until a platform admin fixes it")
}

/// `cluster "a"` or `clusters "a", "b"`.
fn clusters_phrase(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    if names.len() == 1 {
        format!("cluster {}", quoted.join(", "))
    } else {
        format!("clusters {}", quoted.join(", "))
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A cluster set as a short phrase: `names [a, b]`, `labels region=eu`, or both joined with ` or `.
pub fn describe_set(set: &ClusterSet) -> String {
    let mut parts = Vec::new();
    if !set.names.is_empty() {
        parts.push(format!("names [{}]", set.names.join(", ")));
    }
    if let Some(sel) = &set.selector {
        parts.push(format!("labels {}", describe_selector(sel)));
    }
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(" or ")
    }
}

/// A label selector in kubectl's syntax: `region=eu,tier in (a,b),gpu,!legacy`; `{}` selects everything.
pub fn describe_selector(selector: &LabelSelector) -> String {
    let mut out = String::new();
    for (k, v) in selector.match_labels.iter().flatten() {
        if !out.is_empty() {
            out.push(',');
        }
        let _ = write!(out, "{k}={v}");
    }
    for req in selector.match_expressions.iter().flatten() {
        if !out.is_empty() {
            out.push(',');
        }
        let values = req.values.as_deref().unwrap_or_default().join(",");
        let _ = match req.operator.as_str() {
            "In" => write!(out, "{} in ({values})", req.key),
            "NotIn" => write!(out, "{} notin ({values})", req.key),
            "Exists" => write!(out, "{}", req.key),
            "DoesNotExist" => write!(out, "!{}", req.key),
            other => write!(out, "{} {other} ({values})", req.key),
        };
    }
    if out.is_empty() {
        "{} (every cluster)".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests;
