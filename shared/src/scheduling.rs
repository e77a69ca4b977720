//! Replica scheduling: how many replicas of a workload each member cluster runs (design §3).
//!
//! A `ReplicaSchedulingPreference` (RSP) names a total and, per cluster (or `"*"` for every cluster not
//! listed), a minimum, an optional maximum and a weight. [`plan`] turns that, the ready clusters, the
//! replicas already running and the clusters' estimated capacity into a number per cluster. It is a port
//! of KubeFed's planner (`pkg/controller/util/planner/planner.go`) and gives the same numbers for the same
//! inputs, because users migrating from KubeFed must not see their workloads reshuffled.
//!
//! # The algorithm
//!
//! 1. **Order.** Clusters with preferences are sorted by decreasing weight, then by increasing FNV-1
//!    32-bit hash of `cluster name + workload key`. Whoever comes first wins every tie and every rounding
//!    remainder, so the order must not be alphabetical (the odd replica of every workload would land on
//!    the same cluster) and must be stable across runs, processes and platforms (or replicas would move on
//!    every controller restart). Salting with the workload key spreads remainders across workloads.
//! 2. **Minimums.** In that order each cluster gets `min(minReplicas, remaining, capacity)`. When the
//!    minimums add up to more than the total, the clusters earlier in the order get theirs first.
//! 3. **Keep what runs** (only when `rebalance` is false). A cluster already running more than it was
//!    given keeps up to `min(current, maxReplicas, capacity)` of them, as far as the total allows. These
//!    *preallocated* replicas count against the cluster's weighted share below, so a cluster is not given
//!    its share on top of what it keeps; they only stop replicas from being moved needlessly.
//! 4. **Weighted rounds.** While replicas remain and something changed, every cluster still in play gets
//!    `ceil(remaining × weight / Σweight)` (capped by what remains, and reduced by unspent preallocated
//!    replicas). A cluster pushed past `maxReplicas` or its estimated capacity is clamped and leaves the
//!    game; what it could not take is spread over the others in the next round. Rounding up means the
//!    clusters early in the order get the remainders, and the last one gets what is left.
//!
//! Weight-0 clusters only ever receive their minimum (and, without `rebalance`, what they already run).
//! Clusters without preferences (not listed and no `"*"`) get 0.
//!
//! Capacity is an *estimate* (ready replicas minus unschedulable pods). When the planner wanted more on a
//! cluster than its capacity, the difference is reported as [`Plan::overflow`]: KubeFed's scheduler adds it
//! to the cluster's replicas anyway, so that if the pods become schedulable the layout gets closer to the
//! preferred one (see [`Plan::desired_replicas`]). Without `rebalance`, overflow is trimmed to the replicas
//! that could not be placed anywhere.
//!
//! # Deviations from KubeFed, all only for inputs KubeFed handles badly
//!
//! * Invalid preferences (negative numbers, `minReplicas > maxReplicas`) are rejected with a
//!   [`PlanError`] naming the cluster and field; KubeFed planned with them and could hand out negative
//!   replicas or more than the total.
//! * Arithmetic is exact for every `i64` input (the weighted share is computed in `i128`); KubeFed's
//!   `int64` products could wrap.
//! * A negative estimated capacity counts as 0 and a negative current count as none running.
//! * A cluster listed twice in `available_clusters` is planned once.
//! * Two clusters with equal weight and equal hash are ordered by name, so the result never depends on the
//!   order of `available_clusters` (Go's `sort.Sort` is not stable).
//! * An empty `clusters` map means `{"*": {weight: 1}}`, as KubeFed's replica scheduler defaulted it
//!   before calling its planner; here the planner does it so every caller gets it.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::{
    ClusterOverrides, ClusterReference, FederatedSpec, Override, Placement, ReplicaSchedulingPreference,
};
use crate::placement::{ClusterInfo, resolve_placement};

/// Key in [`Preferences::clusters`] whose preferences apply to every cluster not listed by name.
pub const ALL_CLUSTERS: &str = "*";

/// What an empty [`Preferences::clusters`] means: spread evenly over every available cluster.
const EVEN_SPREAD: ClusterPreferences = ClusterPreferences {
    min_replicas: 0,
    max_replicas: None,
    weight: 1,
};

/// One cluster's scheduling preferences (`spec.clusters[name]` of a ReplicaSchedulingPreference).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterPreferences {
    /// Replicas this cluster gets before any weighted sharing (if the total allows). Must be `>= 0`.
    pub min_replicas: i64,
    /// Replicas this cluster never exceeds; `None` means unbounded. Must be `>= min_replicas`.
    pub max_replicas: Option<i64>,
    /// Relative share of the replicas left after minimums. `0` means "minimum only". Must be `>= 0`.
    pub weight: i64,
}

/// The scheduling part of a ReplicaSchedulingPreference's spec, free of API types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preferences {
    /// Replicas to spread over all clusters (`spec.totalReplicas`). Must be `>= 0`.
    pub total_replicas: i64,
    /// `spec.rebalance`: when false, replicas already running stay where they are as far as the
    /// preferences allow; when true, the plan ignores where replicas run now.
    pub rebalance: bool,
    /// Per-cluster preferences; the key [`ALL_CLUSTERS`] (`"*"`) applies to clusters not listed by name.
    /// Empty means `{"*": {weight: 1}}`.
    pub clusters: BTreeMap<String, ClusterPreferences>,
}

impl Preferences {
    /// Checks every entry of `clusters` (whether or not that cluster is available) and the total.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.total_replicas < 0 {
            return Err(PlanError::NegativeTotalReplicas {
                value: self.total_replicas,
            });
        }
        for (cluster, p) in &self.clusters {
            let negative = |field: &'static str, value: i64| {
                (value < 0).then(|| PlanError::Negative {
                    cluster: cluster.clone(),
                    field,
                    value,
                })
            };
            if let Some(err) = negative("minReplicas", p.min_replicas)
                .or_else(|| p.max_replicas.and_then(|max| negative("maxReplicas", max)))
                .or_else(|| negative("weight", p.weight))
            {
                return Err(err);
            }
            if let Some(max) = p.max_replicas
                && p.min_replicas > max
            {
                return Err(PlanError::MinAboveMax {
                    cluster: cluster.clone(),
                    min: p.min_replicas,
                    max,
                });
            }
        }
        Ok(())
    }

    /// The preferences that apply to `cluster`: its own entry, else `"*"`, else none (it gets 0).
    /// An empty `clusters` map applies `{weight: 1}` to every cluster.
    pub fn for_cluster(&self, cluster: &str) -> Option<&ClusterPreferences> {
        if self.clusters.is_empty() {
            return Some(&EVEN_SPREAD);
        }
        self.clusters
            .get(cluster)
            .or_else(|| self.clusters.get(ALL_CLUSTERS))
    }
}

/// The planner's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Replicas per cluster. As in KubeFed, **every available cluster is present**, with 0 when it gets
    /// nothing (including clusters without preferences); clusters that are not available are absent.
    /// The values add up to at most `total_replicas`.
    pub replicas: BTreeMap<String, i64>,
    /// Replicas the planner wanted on a cluster beyond its estimated capacity; only clusters with a
    /// positive overflow are present. Not included in [`Plan::replicas`].
    pub overflow: BTreeMap<String, i64>,
}

impl Plan {
    /// The `spec.replicas` to write on each cluster, as KubeFed's replica scheduler computed it: 0 for
    /// every cluster that currently runs the workload, overwritten by the plan, plus the overflow (so
    /// replicas that may yet become schedulable are asked for where the preferences want them).
    pub fn desired_replicas(&self, current_replicas: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
        let mut result: BTreeMap<String, i64> = current_replicas.keys().map(|c| (c.clone(), 0)).collect();
        result.extend(self.replicas.iter().map(|(c, n)| (c.clone(), *n)));
        for (cluster, extra) in &self.overflow {
            let n = result.entry(cluster.clone()).or_insert(0);
            *n = n.saturating_add(*extra);
        }
        result
    }
}

/// Why preferences cannot be planned. Each names the offending field as it appears in the RSP spec.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("spec.totalReplicas is {value}; it must be 0 or more")]
    NegativeTotalReplicas { value: i64 },
    #[error("spec.clusters[{cluster:?}].{field} is {value}; it must be 0 or more")]
    Negative {
        cluster: String,
        field: &'static str,
        value: i64,
    },
    #[error(
        "spec.clusters[{cluster:?}].minReplicas ({min}) is greater than its maxReplicas ({max}); \
         lower minReplicas or raise maxReplicas"
    )]
    MinAboveMax { cluster: String, min: i64, max: i64 },
}

/// A cluster with preferences, while it is being planned.
struct Candidate<'a> {
    name: &'a str,
    hash: u32,
    prefs: ClusterPreferences,
    /// Estimated capacity, clamped at 0.
    capacity: Option<i64>,
    planned: i64,
    /// Replicas kept in place (rebalance = false) not yet matched by a weighted share.
    preallocated: i64,
}

impl Candidate<'_> {
    /// `value` limited by the cluster's maxReplicas and estimated capacity.
    fn capped(&self, value: i64) -> i64 {
        let value = self.prefs.max_replicas.map_or(value, |max| value.min(max));
        self.capacity.map_or(value, |cap| value.min(cap))
    }
}

/// Distributes `prefs.total_replicas` over `available_clusters` (the ready clusters), as KubeFed does.
///
/// * `current_replicas`: replicas running now per cluster; used only when `prefs.rebalance` is false.
/// * `estimated_capacity`: per cluster, how many replicas it can run at most (absent = unlimited).
/// * `workload_key`: salts the tie-breaking hash. Pass `"<namespace>/<name>"` of the RSP, as KubeFed does,
///   to get KubeFed's exact results; with `""` ties are broken by the hash of the cluster name alone.
///
/// ```
/// use std::collections::BTreeMap;
/// use kubefed_core::scheduling::{plan, ClusterPreferences, Preferences};
///
/// let prefs = Preferences {
///     total_replicas: 60,
///     rebalance: true,
///     clusters: BTreeMap::from([
///         ("A".to_string(), ClusterPreferences { weight: 1, ..Default::default() }),
///         ("B".to_string(), ClusterPreferences { weight: 2, ..Default::default() }),
///     ]),
/// };
/// let clusters = ["A", "B", "C"].map(String::from);
/// let p = plan(&prefs, &clusters, &BTreeMap::new(), &BTreeMap::new(), "default/web")?;
/// assert_eq!(p.replicas, BTreeMap::from([("A".into(), 20), ("B".into(), 40), ("C".into(), 0)]));
/// assert!(p.overflow.is_empty());
/// # Ok::<(), kubefed_core::scheduling::PlanError>(())
/// ```
pub fn plan(
    prefs: &Preferences,
    available_clusters: &[String],
    current_replicas: &BTreeMap<String, i64>,
    estimated_capacity: &BTreeMap<String, i64>,
    workload_key: &str,
) -> Result<Plan, PlanError> {
    prefs.validate()?;

    let mut replicas = BTreeMap::new();
    let mut candidates = Vec::with_capacity(available_clusters.len());
    let unique: BTreeSet<&str> = available_clusters.iter().map(String::as_str).collect();
    for name in unique {
        match prefs.for_cluster(name) {
            Some(p) => candidates.push(Candidate {
                name,
                hash: fnv1_32(&[name.as_bytes(), workload_key.as_bytes()]),
                prefs: *p,
                capacity: estimated_capacity.get(name).map(|c| (*c).max(0)),
                planned: 0,
                preallocated: 0,
            }),
            None => {
                replicas.insert(name.to_string(), 0);
            }
        }
    }
    candidates.sort_by(|a, b| {
        (b.prefs.weight.cmp(&a.prefs.weight))
            .then(a.hash.cmp(&b.hash))
            .then(a.name.cmp(b.name))
    });

    // Invariants from here on: 0 <= planned <= capped(planned) for every candidate, and
    // remaining + Σ planned == total_replicas, so no subtraction below can go negative or overflow.
    let mut remaining = prefs.total_replicas;

    for c in &mut candidates {
        let min = c.capped(c.prefs.min_replicas.min(remaining));
        remaining -= min;
        c.planned = min;
    }

    if !prefs.rebalance {
        for c in &mut candidates {
            match current_replicas.get(c.name) {
                Some(&count) if count > c.planned => {
                    let extra = (c.capped(count) - c.planned).clamp(0, remaining);
                    remaining -= extra;
                    c.preallocated = extra;
                    c.planned += extra;
                }
                _ => {}
            }
        }
    }

    let mut overflow = BTreeMap::new();
    // Each round either places every remaining replica, fills at least one cluster (which then leaves),
    // or consumes preallocated replicas, so the loop ends; KubeFed reasons the same way.
    let mut active: Vec<usize> = (0..candidates.len()).collect();
    let mut modified = true;
    while modified && remaining > 0 {
        modified = false;
        let weight_sum: i128 = active
            .iter()
            .map(|&i| i128::from(candidates[i].prefs.weight))
            .sum();
        if weight_sum <= 0 {
            break;
        }
        let to_distribute = i128::from(remaining);
        let mut still_active = Vec::with_capacity(active.len());
        for &i in &active {
            let c = &mut candidates[i];
            let start = c.planned;
            // ceil(to_distribute × weight / weight_sum), exact in i128, then capped by what remains.
            let share = (to_distribute * i128::from(c.prefs.weight) + weight_sum - 1) / weight_sum;
            let mut extra = i64::try_from(share.min(i128::from(remaining))).unwrap_or(remaining);

            let used_prealloc = extra.min(c.preallocated);
            c.preallocated -= used_prealloc;
            extra -= used_prealloc;
            if used_prealloc > 0 {
                modified = true;
            }

            let wanted = start.saturating_add(extra);
            let mut total = wanted;
            let mut full = false;
            if let Some(max) = c.prefs.max_replicas
                && total > max
            {
                total = max;
                full = true;
            }
            if let Some(cap) = c.capacity
                && total > cap
            {
                overflow.insert(c.name.to_string(), total - cap);
                total = cap;
                full = true;
            }
            if !full {
                still_active.push(i);
            }
            remaining -= total - start;
            c.planned = total;
            if total > start {
                modified = true;
            }
        }
        active = still_active;
    }

    if !prefs.rebalance {
        // Without rebalance, only replicas that found no home anywhere are worth asking for.
        overflow = overflow
            .into_iter()
            .filter_map(|(cluster, n)| {
                let n = n.min(remaining);
                (n > 0).then_some((cluster, n))
            })
            .collect();
    }

    replicas.extend(candidates.iter().map(|c| (c.name.to_string(), c.planned)));
    Ok(Plan { replicas, overflow })
}

/// FNV-1 (not FNV-1a), 32 bits, over the concatenation of `parts`: Go's `hash/fnv.New32`, which KubeFed
/// uses to order clusters. Fixed constants and wrapping arithmetic make it identical on every platform.
fn fnv1_32(parts: &[&[u8]]) -> u32 {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(OFFSET_BASIS, |h, &b| h.wrapping_mul(PRIME) ^ u32::from(b))
}

/// The JSON pointer of the replicas override written by [`scheduled_spec`].
pub const REPLICAS_PATH: &str = "/spec/replicas";

/// The clusters an RSP may place replicas on: the ready ones, and with `intersectWithClusterSelector`
/// only those the federated object's `clusterSelector` selects.
pub fn candidate_clusters(
    rsp: &ReplicaSchedulingPreference,
    fed: &FederatedSpec,
    clusters: &[ClusterInfo],
) -> Result<Vec<String>, String> {
    let ready: Vec<ClusterInfo> = clusters.iter().filter(|c| c.ready).cloned().collect();
    if !rsp.spec.intersect_with_cluster_selector {
        return Ok(ready.into_iter().map(|c| c.name).collect());
    }
    let by_selector = Placement {
        clusters: None,
        cluster_selector: fed.placement.cluster_selector.clone(),
    };
    resolve_placement(&by_selector, &ready, "spec.placement")
        .map(|s| s.into_iter().collect())
        .map_err(|e| e.to_string())
}

/// The federated object's placement and overrides with `replicas` written in: `placement.clusters` are the
/// clusters with at least one replica (the `clusterSelector`, if any, is kept), each gets a by-name override
/// `/spec/replicas: n`, and `/spec/replicas` operations are removed from the by-name entries of every other
/// cluster (entries left empty are dropped). Other overrides are untouched.
pub fn scheduled_spec(
    spec: &FederatedSpec,
    replicas: &BTreeMap<String, i64>,
) -> (Placement, Vec<ClusterOverrides>) {
    let placed: Vec<&String> = replicas.iter().filter(|(_, n)| **n > 0).map(|(c, _)| c).collect();
    let placement = Placement {
        clusters: Some(
            placed
                .iter()
                .map(|c| ClusterReference { name: (*c).clone() })
                .collect(),
        ),
        cluster_selector: spec.placement.cluster_selector.clone(),
    };
    let mut overrides: Vec<ClusterOverrides> = Vec::new();
    let mut done: Vec<&String> = Vec::new();
    for entry in &spec.overrides {
        let mut entry = entry.clone();
        if let Some(cluster) = entry.cluster_name.clone() {
            entry.cluster_overrides.retain(|o| o.path != REPLICAS_PATH);
            if let Some((name, n)) = replicas.get_key_value(&cluster).filter(|(_, n)| **n > 0) {
                entry.cluster_overrides.push(replicas_override(*n));
                done.push(name);
            }
            if entry.cluster_overrides.is_empty() {
                continue;
            }
        }
        overrides.push(entry);
    }
    for c in placed {
        if !done.contains(&c) {
            overrides.push(ClusterOverrides {
                cluster_name: Some(c.clone()),
                cluster_selector: None,
                cluster_overrides: vec![replicas_override(replicas.get(c).copied().unwrap_or(0))],
            });
        }
    }
    (placement, overrides)
}

/// Clusters that keep their place while they are not ready: each cluster named in the federated object's
/// `placement.clusters` that is joined (in `clusters`) but not ready, with the replicas it was last given
/// (its by-name `/spec/replicas` override, else the template's `spec.replicas`, else 1 as Kubernetes
/// defaults). Clusters with 0 replicas are not held.
///
/// Why: if the planner dropped an unreachable cluster from the placement, the propagation controller
/// would delete that cluster's workload the moment it answers again — before the next plan puts it back —
/// and every pod that kept serving through a partition would restart. Holding the cluster in the
/// placement makes its return one decision: the next plan scales it (up or down), never recreates it.
/// The cost is a bounded surge on return: at most the held replicas run on top of the total until the
/// re-plan lands (see docs/operations.md).
pub fn held_replicas(spec: &FederatedSpec, clusters: &[ClusterInfo]) -> BTreeMap<String, i64> {
    let Some(placed) = &spec.placement.clusters else {
        return BTreeMap::new();
    };
    let template_replicas = spec
        .template
        .pointer(REPLICAS_PATH)
        .and_then(serde_json::Value::as_i64);
    placed
        .iter()
        .filter(|c| clusters.iter().any(|i| i.name == c.name && !i.ready))
        .filter_map(|c| {
            let by_override = spec
                .overrides
                .iter()
                .filter(|o| o.cluster_name.as_deref() == Some(c.name.as_str()))
                .flat_map(|o| &o.cluster_overrides)
                .filter(|o| o.path == REPLICAS_PATH)
                .filter_map(|o| o.value.as_ref().and_then(serde_json::Value::as_i64))
                .next_back();
            let n = by_override.or(template_replicas).unwrap_or(1);
            (n > 0).then(|| (c.name.clone(), n))
        })
        .collect()
}

/// The override setting `/spec/replicas` to `n`.
pub fn replicas_override(n: i64) -> Override {
    Override {
        op: None,
        path: REPLICAS_PATH.to_string(),
        value: Some(serde_json::Value::from(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(weight: i64) -> ClusterPreferences {
        ClusterPreferences {
            weight,
            ..Default::default()
        }
    }

    fn wmax(weight: i64, max: i64) -> ClusterPreferences {
        ClusterPreferences {
            weight,
            max_replicas: Some(max),
            ..Default::default()
        }
    }

    fn minw(min: i64, weight: i64) -> ClusterPreferences {
        ClusterPreferences {
            min_replicas: min,
            weight,
            ..Default::default()
        }
    }

    fn map(entries: &[(&str, i64)]) -> BTreeMap<String, i64> {
        entries.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn names(clusters: &[&str]) -> Vec<String> {
        clusters.iter().map(|c| c.to_string()).collect()
    }

    #[derive(Default)]
    struct Case {
        name: &'static str,
        total: i64,
        rebalance: bool,
        prefs: Vec<(&'static str, ClusterPreferences)>,
        clusters: &'static [&'static str],
        current: &'static [(&'static str, i64)],
        capacity: &'static [(&'static str, i64)],
        want: &'static [(&'static str, i64)],
        want_overflow: &'static [(&'static str, i64)],
    }

    fn run(cases: Vec<Case>) {
        let mut failures = Vec::new();
        for case in cases {
            let prefs = Preferences {
                total_replicas: case.total,
                rebalance: case.rebalance,
                clusters: case.prefs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            };
            let got = plan(
                &prefs,
                &names(case.clusters),
                &map(case.current),
                &map(case.capacity),
                "",
            );
            let want = Ok(Plan {
                replicas: map(case.want),
                overflow: map(case.want_overflow),
            });
            if got != want {
                failures.push(format!("{}:\n   got {got:?}\n  want {want:?}", case.name));
            }
        }
        assert!(
            failures.is_empty(),
            "{} case(s) failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    /// The splits design §3 promises, with exactly its numbers.
    #[test]
    fn design_section_3_splits() {
        run(vec![
            Case {
                name: "weights 1:1:1 over 3 clusters, total 50 -> 16/17/17 (order by hash)",
                total: 50,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B", "C"],
                want: &[("A", 16), ("B", 17), ("C", 17)],
                ..Default::default()
            },
            Case {
                name: "A:w1, B:w2, total 60 over A,B,C -> 20/40/0",
                total: 60,
                prefs: vec![("A", w(1)), ("B", w(2))],
                clusters: &["A", "B", "C"],
                want: &[("A", 20), ("B", 40), ("C", 0)],
                ..Default::default()
            },
            Case {
                // fnv1("C") < fnv1("B") < fnv1("A"): C and B get their minimum first, A what is left.
                name: "*: min 20 w0, total 50 over A,B,C -> 10/20/20",
                total: 50,
                prefs: vec![("*", minw(20, 0))],
                clusters: &["A", "B", "C"],
                want: &[("A", 10), ("B", 20), ("C", 20)],
                ..Default::default()
            },
            Case {
                name: "A: w10000 max10, B: w1, C: w1 max21, D: w1 max10, total 71 -> 10/30/21/10",
                total: 71,
                prefs: vec![
                    ("A", wmax(10000, 10)),
                    ("B", w(1)),
                    ("C", wmax(1, 21)),
                    ("D", wmax(1, 10)),
                ],
                clusters: &["A", "B", "C", "D"],
                want: &[("A", 10), ("B", 30), ("C", 21), ("D", 10)],
                ..Default::default()
            },
        ]);
    }

    /// KubeFed's `planner_test.go`, case for case. Its `doCheck`/`doCheckWithExisting` helpers plan with
    /// `rebalance: false`, no capacity, and expect no overflow; `Rebalance` here mirrors that.
    #[test]
    fn kubefed_planner_cases() {
        run(vec![
            // TestEqual
            Case {
                name: "equal: 50 over A,B,C (hash dependent)",
                total: 50,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B", "C"],
                want: &[("A", 16), ("B", 17), ("C", 17)],
                ..Default::default()
            },
            Case {
                name: "equal: 50 over A,B",
                total: 50,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                want: &[("A", 25), ("B", 25)],
                ..Default::default()
            },
            Case {
                name: "equal: 1 over A,B (hash dependent)",
                total: 1,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                want: &[("A", 0), ("B", 1)],
                ..Default::default()
            },
            Case {
                name: "equal: 1 over A,B,C,D (hash dependent)",
                total: 1,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B", "C", "D"],
                want: &[("A", 0), ("B", 0), ("C", 0), ("D", 1)],
                ..Default::default()
            },
            Case {
                name: "equal: 1 over A",
                total: 1,
                prefs: vec![("*", w(1))],
                clusters: &["A"],
                want: &[("A", 1)],
                ..Default::default()
            },
            Case {
                name: "equal: 1 over no cluster",
                total: 1,
                prefs: vec![("*", w(1))],
                clusters: &[],
                want: &[],
                ..Default::default()
            },
            // TestEqualWithExisting
            Case {
                name: "existing: C runs 30 of 50",
                total: 50,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B", "C"],
                current: &[("C", 30)],
                want: &[("A", 10), ("B", 10), ("C", 30)],
                ..Default::default()
            },
            Case {
                name: "existing: A runs 30 of 50",
                total: 50,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 30)],
                want: &[("A", 30), ("B", 20)],
                ..Default::default()
            },
            Case {
                name: "existing: 15, A runs 0, B runs 8",
                total: 15,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 0), ("B", 8)],
                want: &[("A", 7), ("B", 8)],
                ..Default::default()
            },
            Case {
                name: "existing: 15, A runs 1, B runs 8",
                total: 15,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 1), ("B", 8)],
                want: &[("A", 7), ("B", 8)],
                ..Default::default()
            },
            Case {
                name: "existing: 15, A runs 4, B runs 8",
                total: 15,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 4), ("B", 8)],
                want: &[("A", 7), ("B", 8)],
                ..Default::default()
            },
            Case {
                name: "existing: 15, A runs 5, B runs 8",
                total: 15,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 5), ("B", 8)],
                want: &[("A", 7), ("B", 8)],
                ..Default::default()
            },
            Case {
                name: "existing: 15, A runs 6, B runs 8",
                total: 15,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 6), ("B", 8)],
                want: &[("A", 7), ("B", 8)],
                ..Default::default()
            },
            Case {
                name: "existing: 15, A runs 7, B runs 8",
                total: 15,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 7), ("B", 8)],
                want: &[("A", 7), ("B", 8)],
                ..Default::default()
            },
            Case {
                name: "existing: 500000, A runs 300000",
                total: 500_000,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 300_000)],
                want: &[("A", 300_000), ("B", 200_000)],
                ..Default::default()
            },
            Case {
                name: "existing: 50, A runs 10",
                total: 50,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 10)],
                want: &[("A", 25), ("B", 25)],
                ..Default::default()
            },
            Case {
                // KubeFed: "TODO: Should be 10:40, update algorithm. Issue: #31816". Kept as KubeFed does it.
                name: "existing: 50, A runs 10, B runs 70 (hash dependent)",
                total: 50,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 10), ("B", 70)],
                want: &[("A", 0), ("B", 50)],
                ..Default::default()
            },
            Case {
                name: "existing: 1, A runs 30",
                total: 1,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 30)],
                want: &[("A", 1), ("B", 0)],
                ..Default::default()
            },
            Case {
                name: "existing: 50, A runs 10, B runs 20",
                total: 50,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 10), ("B", 20)],
                want: &[("A", 25), ("B", 25)],
                ..Default::default()
            },
            // TestWithExistingAndCapacity
            Case {
                name: "capacity: rebalance, C capacity 10 (desired without capacity 17/17/16)",
                total: 50,
                rebalance: true,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B", "C"],
                capacity: &[("C", 10)],
                want: &[("A", 20), ("B", 20), ("C", 10)],
                want_overflow: &[("C", 7)],
                ..Default::default()
            },
            Case {
                name: "capacity: rebalance, A w10000 unavailable, B capacity 10 (desired B:50 C:0)",
                total: 50,
                rebalance: true,
                prefs: vec![("A", w(10000)), ("B", w(1))],
                clusters: &["B", "C"],
                capacity: &[("B", 10)],
                want: &[("B", 10), ("C", 0)],
                want_overflow: &[("B", 40)],
                ..Default::default()
            },
            Case {
                name: "capacity: rebalance, A:w1 B:w2, B capacity 10 (desired A:20 B:40)",
                total: 60,
                rebalance: true,
                prefs: vec![("A", w(1)), ("B", w(2))],
                clusters: &["A", "B", "C"],
                capacity: &[("B", 10)],
                want: &[("A", 50), ("B", 10), ("C", 0)],
                want_overflow: &[("B", 30)],
                ..Default::default()
            },
            Case {
                name: "capacity: rebalance, 71 with maxes, C capacity 10 (desired 10/30/21/10)",
                total: 71,
                rebalance: true,
                prefs: vec![
                    ("A", wmax(10000, 10)),
                    ("B", w(1)),
                    ("C", wmax(1, 21)),
                    ("D", wmax(1, 10)),
                ],
                clusters: &["A", "B", "C", "D"],
                capacity: &[("C", 10)],
                want: &[("A", 10), ("B", 41), ("C", 10), ("D", 10)],
                want_overflow: &[("C", 11)],
                ..Default::default()
            },
            Case {
                name: "capacity: no rebalance, A and B capacity 10, C has no preferences (desired A:20 B:20)",
                total: 60,
                prefs: vec![("A", w(1)), ("B", w(1))],
                clusters: &["A", "B", "C"],
                capacity: &[("A", 10), ("B", 10)],
                want: &[("A", 10), ("B", 10), ("C", 0)],
                want_overflow: &[("A", 20), ("B", 20)],
                ..Default::default()
            },
            Case {
                name: "capacity: no rebalance, A:w1 B:w5, B capacity 10 (A:50 B:10 is fine, no overflow)",
                total: 60,
                prefs: vec![("A", w(1)), ("B", w(5))],
                clusters: &["A", "B", "C"],
                capacity: &[("B", 10)],
                want: &[("A", 50), ("B", 10), ("C", 0)],
                ..Default::default()
            },
            Case {
                name: "capacity: no rebalance, *: min 20 w0, B capacity 10",
                total: 50,
                prefs: vec![("*", minw(20, 0))],
                clusters: &["A", "B", "C"],
                capacity: &[("B", 10)],
                want: &[("A", 20), ("B", 10), ("C", 20)],
                ..Default::default()
            },
            Case {
                name: "capacity: rebalance, *: min 20 w1, B capacity 10 (overflow 15 is good enough)",
                total: 60,
                rebalance: true,
                prefs: vec![("*", minw(20, 1))],
                clusters: &["A", "B"],
                capacity: &[("B", 10)],
                want: &[("A", 50), ("B", 10)],
                want_overflow: &[("B", 15)],
                ..Default::default()
            },
            // TestMin
            Case {
                name: "min: *: min 2 w0, total 50",
                total: 50,
                prefs: vec![("*", minw(2, 0))],
                clusters: &["A", "B", "C"],
                want: &[("A", 2), ("B", 2), ("C", 2)],
                ..Default::default()
            },
            Case {
                name: "min: *: min 20 w0, total 50 (hash dependent)",
                total: 50,
                prefs: vec![("*", minw(20, 0))],
                clusters: &["A", "B", "C"],
                want: &[("A", 10), ("B", 20), ("C", 20)],
                ..Default::default()
            },
            Case {
                name: "min: A min 100 w1 beats *: min 20 w0",
                total: 50,
                prefs: vec![("*", minw(20, 0)), ("A", minw(100, 1))],
                clusters: &["A", "B", "C"],
                want: &[("A", 50), ("B", 0), ("C", 0)],
                ..Default::default()
            },
            Case {
                name: "min: *: min 10 max 12 w1",
                total: 50,
                prefs: vec![(
                    "*",
                    ClusterPreferences {
                        min_replicas: 10,
                        max_replicas: Some(12),
                        weight: 1,
                    },
                )],
                clusters: &["A", "B", "C"],
                want: &[("A", 12), ("B", 12), ("C", 12)],
                ..Default::default()
            },
            // TestMax
            Case {
                name: "max: *: w1 max 2",
                total: 50,
                prefs: vec![("*", wmax(1, 2))],
                clusters: &["A", "B", "C"],
                want: &[("A", 2), ("B", 2), ("C", 2)],
                ..Default::default()
            },
            Case {
                name: "max: *: w0 max 2",
                total: 50,
                prefs: vec![("*", wmax(0, 2))],
                clusters: &["A", "B", "C"],
                want: &[("A", 0), ("B", 0), ("C", 0)],
                ..Default::default()
            },
            // TestWeight
            Case {
                name: "weight: A:w1 B:w2, total 60",
                total: 60,
                prefs: vec![("A", w(1)), ("B", w(2))],
                clusters: &["A", "B", "C"],
                want: &[("A", 20), ("B", 40), ("C", 0)],
                ..Default::default()
            },
            Case {
                name: "weight: A:w10000 B:w1, total 50",
                total: 50,
                prefs: vec![("A", w(10000)), ("B", w(1))],
                clusters: &["A", "B", "C"],
                want: &[("A", 50), ("B", 0), ("C", 0)],
                ..Default::default()
            },
            Case {
                name: "weight: A:w10000 unavailable, B:w1, total 50",
                total: 50,
                prefs: vec![("A", w(10000)), ("B", w(1))],
                clusters: &["B", "C"],
                want: &[("B", 50), ("C", 0)],
                ..Default::default()
            },
            Case {
                name: "weight: A:w10000 max10, B:w1, C:w1, total 50",
                total: 50,
                prefs: vec![("A", wmax(10000, 10)), ("B", w(1)), ("C", w(1))],
                clusters: &["A", "B", "C"],
                want: &[("A", 10), ("B", 20), ("C", 20)],
                ..Default::default()
            },
            Case {
                name: "weight: A:w10000 max10, B:w1, C:w1 max10, total 50",
                total: 50,
                prefs: vec![("A", wmax(10000, 10)), ("B", w(1)), ("C", wmax(1, 10))],
                clusters: &["A", "B", "C"],
                want: &[("A", 10), ("B", 30), ("C", 10)],
                ..Default::default()
            },
            Case {
                name: "weight: A:w10000 max10, B:w1, C:w1 max21, D:w1 max10, total 71",
                total: 71,
                prefs: vec![
                    ("A", wmax(10000, 10)),
                    ("B", w(1)),
                    ("C", wmax(1, 21)),
                    ("D", wmax(1, 10)),
                ],
                clusters: &["A", "B", "C", "D"],
                want: &[("A", 10), ("B", 30), ("C", 21), ("D", 10)],
                ..Default::default()
            },
            Case {
                name: "weight: A:w10000 max10, B:w1, C:w1 max21, D:w1 max10, E:w1, total 91",
                total: 91,
                prefs: vec![
                    ("A", wmax(10000, 10)),
                    ("B", w(1)),
                    ("C", wmax(1, 21)),
                    ("D", wmax(1, 10)),
                    ("E", w(1)),
                ],
                clusters: &["A", "B", "C", "D", "E"],
                want: &[("A", 10), ("B", 25), ("C", 21), ("D", 10), ("E", 25)],
                ..Default::default()
            },
        ]);
    }

    /// Behaviour this port adds or pins down beyond KubeFed's tests.
    #[test]
    fn edge_cases() {
        run(vec![
            Case {
                name: "empty clusters map spreads evenly, like KubeFed's scheduler default",
                total: 50,
                prefs: vec![],
                clusters: &["A", "B", "C"],
                want: &[("A", 16), ("B", 17), ("C", 17)],
                ..Default::default()
            },
            Case {
                name: "total 0 gives every available cluster 0",
                total: 0,
                prefs: vec![("*", minw(3, 1))],
                clusters: &["A", "B"],
                want: &[("A", 0), ("B", 0)],
                ..Default::default()
            },
            Case {
                name: "duplicate available clusters are planned once",
                total: 50,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B", "A", "B"],
                want: &[("A", 25), ("B", 25)],
                ..Default::default()
            },
            Case {
                name: "negative capacity counts as 0",
                total: 10,
                rebalance: true,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                capacity: &[("A", -5)],
                want: &[("A", 0), ("B", 10)],
                want_overflow: &[("A", 5)],
                ..Default::default()
            },
            Case {
                name: "negative current count is ignored",
                total: 10,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B"],
                current: &[("A", -5)],
                want: &[("A", 5), ("B", 5)],
                ..Default::default()
            },
            Case {
                name: "rebalance ignores current replicas",
                total: 50,
                rebalance: true,
                prefs: vec![("*", w(1))],
                clusters: &["A", "B", "C"],
                current: &[("C", 30)],
                want: &[("A", 16), ("B", 17), ("C", 17)],
                ..Default::default()
            },
            Case {
                name: "no rebalance keeps current only up to maxReplicas",
                total: 50,
                prefs: vec![("A", wmax(1, 20)), ("B", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 45)],
                want: &[("A", 20), ("B", 30)],
                ..Default::default()
            },
            Case {
                name: "weight-0 cluster keeps what it runs without rebalance",
                total: 50,
                prefs: vec![("A", w(0)), ("B", w(1))],
                clusters: &["A", "B"],
                current: &[("A", 20)],
                want: &[("A", 20), ("B", 30)],
                ..Default::default()
            },
            Case {
                name: "everything full: the rest is not placed",
                total: 50,
                rebalance: true,
                prefs: vec![("*", wmax(1, 5))],
                clusters: &["A", "B"],
                want: &[("A", 5), ("B", 5)],
                ..Default::default()
            },
        ]);
    }

    #[test]
    fn fnv1_matches_go_hash_fnv_new32() {
        // Go's hash/fnv golden32 vectors.
        for (input, want) in [
            ("", 0x811c_9dc5_u32),
            ("a", 0x050c_5d7e),
            ("ab", 0x7077_2d38),
            ("abc", 0x439c_2f4b),
        ] {
            assert_eq!(fnv1_32(&[input.as_bytes()]), want, "fnv1_32({input:?})");
        }
        assert_eq!(
            fnv1_32(&[b"a", b"bc"]),
            fnv1_32(&[b"abc"]),
            "parts are concatenated"
        );
    }

    #[test]
    fn workload_key_salts_the_tie_break() {
        let prefs = Preferences {
            total_replicas: 1,
            clusters: [("*".into(), w(1))].into(),
            ..Default::default()
        };
        let clusters = names(&["A", "B"]);
        for key in ["", "default/web", "prod/api", "ns/x"] {
            let winner = if fnv1_32(&[b"A", key.as_bytes()]) < fnv1_32(&[b"B", key.as_bytes()]) {
                "A"
            } else {
                "B"
            };
            let got = plan(&prefs, &clusters, &BTreeMap::new(), &BTreeMap::new(), key);
            assert_eq!(
                got.map(|p| p.replicas.get(winner).copied()),
                Ok(Some(1)),
                "key {key:?}"
            );
        }
    }

    #[test]
    fn invalid_preferences_are_rejected_with_the_field() {
        let cases: Vec<(&str, Preferences, PlanError, &str)> = vec![
            (
                "negative total",
                Preferences {
                    total_replicas: -1,
                    ..Default::default()
                },
                PlanError::NegativeTotalReplicas { value: -1 },
                "spec.totalReplicas is -1; it must be 0 or more",
            ),
            (
                "negative min",
                Preferences {
                    total_replicas: 1,
                    clusters: [("A".into(), minw(-2, 1))].into(),
                    ..Default::default()
                },
                PlanError::Negative {
                    cluster: "A".into(),
                    field: "minReplicas",
                    value: -2,
                },
                "spec.clusters[\"A\"].minReplicas is -2; it must be 0 or more",
            ),
            (
                "negative max",
                Preferences {
                    total_replicas: 1,
                    clusters: [("*".into(), wmax(1, -3))].into(),
                    ..Default::default()
                },
                PlanError::Negative {
                    cluster: "*".into(),
                    field: "maxReplicas",
                    value: -3,
                },
                "spec.clusters[\"*\"].maxReplicas is -3; it must be 0 or more",
            ),
            (
                "negative weight",
                Preferences {
                    total_replicas: 1,
                    clusters: [("B".into(), w(-1))].into(),
                    ..Default::default()
                },
                PlanError::Negative {
                    cluster: "B".into(),
                    field: "weight",
                    value: -1,
                },
                "spec.clusters[\"B\"].weight is -1; it must be 0 or more",
            ),
            (
                "min above max",
                Preferences {
                    total_replicas: 1,
                    clusters: [(
                        "C".into(),
                        ClusterPreferences {
                            min_replicas: 5,
                            max_replicas: Some(4),
                            weight: 1,
                        },
                    )]
                    .into(),
                    ..Default::default()
                },
                PlanError::MinAboveMax {
                    cluster: "C".into(),
                    min: 5,
                    max: 4,
                },
                "spec.clusters[\"C\"].minReplicas (5) is greater than its maxReplicas (4); \
                 lower minReplicas or raise maxReplicas",
            ),
        ];
        for (name, prefs, want, message) in cases {
            // Validated even when the offending cluster is not available.
            let got = plan(&prefs, &names(&["Z"]), &BTreeMap::new(), &BTreeMap::new(), "");
            assert_eq!(got.as_ref().err(), Some(&want), "{name}");
            assert_eq!(want.to_string(), message, "{name}");
        }
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let huge = ClusterPreferences {
            min_replicas: i64::MAX,
            max_replicas: None,
            weight: i64::MAX,
        };
        for rebalance in [false, true] {
            let prefs = Preferences {
                total_replicas: i64::MAX,
                rebalance,
                clusters: [("*".into(), huge), ("B".into(), w(i64::MAX)), ("C".into(), w(1))].into(),
            };
            let current = map(&[("A", i64::MAX), ("B", i64::MAX)]);
            let capacity = map(&[("B", i64::MAX - 1), ("C", i64::MIN)]);
            let got = plan(&prefs, &names(&["A", "B", "C", "D"]), &current, &capacity, "x");
            let got = got.map(|p| p.replicas.values().fold(0_i128, |s, n| s + i128::from(*n)));
            assert_eq!(got, Ok(i128::from(i64::MAX)), "rebalance {rebalance}");
        }
    }

    #[test]
    fn desired_replicas_merges_like_kubefed_scheduler() {
        let p = Plan {
            replicas: map(&[("A", 20), ("B", 10)]),
            overflow: map(&[("B", 7), ("X", i64::MAX)]),
        };
        let current = map(&[("B", 3), ("Old", 5)]);
        let want = map(&[("A", 20), ("B", 17), ("Old", 0), ("X", i64::MAX)]);
        assert_eq!(p.desired_replicas(&current), want);
        let saturating = Plan {
            replicas: map(&[("A", i64::MAX)]),
            overflow: map(&[("A", 1)]),
        };
        assert_eq!(
            saturating.desired_replicas(&BTreeMap::new()),
            map(&[("A", i64::MAX)])
        );
    }

    /// splitmix64: a tiny deterministic generator, so the property test needs no dependency and every
    /// failure is reproducible from the printed seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        /// Uniform-ish in `0..n` (n > 0).
        fn below(&mut self, n: u64) -> i64 {
            i64::try_from(self.next() % n).unwrap_or(0)
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
    }

    struct Generated {
        prefs: Preferences,
        clusters: Vec<String>,
        current: BTreeMap<String, i64>,
        capacity: BTreeMap<String, i64>,
    }

    fn generate(rng: &mut Rng, positive_weights: bool) -> Generated {
        let pool = [
            "A", "B", "C", "D", "E", "F", "G", "eu-west", "us-east", "ap-south",
        ];
        let clusters: Vec<String> = pool
            .iter()
            .filter(|_| rng.chance(60))
            .map(|c| c.to_string())
            .collect();
        let mut cluster_prefs = BTreeMap::new();
        let keys = pool.iter().copied().chain(["*"]);
        for key in keys {
            if rng.chance(50) {
                let min = if rng.chance(50) { rng.below(30) } else { 0 };
                let max = rng.chance(40).then(|| min + rng.below(40));
                let weight = if positive_weights {
                    1 + rng.below(10)
                } else {
                    rng.below(5)
                };
                cluster_prefs.insert(
                    key.to_string(),
                    ClusterPreferences {
                        min_replicas: min,
                        max_replicas: max,
                        weight,
                    },
                );
            }
        }
        let mut current = BTreeMap::new();
        let mut capacity = BTreeMap::new();
        for c in &clusters {
            if rng.chance(40) {
                current.insert(c.clone(), rng.below(60));
            }
            if rng.chance(25) {
                capacity.insert(c.clone(), rng.below(40));
            }
        }
        let prefs = Preferences {
            total_replicas: rng.below(200),
            rebalance: rng.chance(50),
            clusters: cluster_prefs,
        };
        Generated {
            prefs,
            clusters,
            current,
            capacity,
        }
    }

    /// Upper bound of a cluster's replicas: min(maxReplicas, capacity), `None` = unbounded.
    fn cap_of(g: &Generated, cluster: &str) -> Option<Option<i64>> {
        g.prefs.for_cluster(cluster).map(|p| {
            let cap = g.capacity.get(cluster).copied();
            match (p.max_replicas, cap) {
                (Some(m), Some(c)) => Some(m.min(c)),
                (m, c) => m.or(c),
            }
        })
    }

    #[test]
    fn property_plans_respect_total_min_max_and_capacity() {
        let mut checked_sum = 0;
        for seed in 0..4000_u64 {
            let mut rng = Rng(seed);
            let positive_weights = seed % 2 == 0;
            let g = generate(&mut rng, positive_weights);
            let ctx = format!(
                "seed {seed}: prefs {:?} clusters {:?} current {:?} capacity {:?}",
                g.prefs, g.clusters, g.current, g.capacity
            );
            let p = match plan(&g.prefs, &g.clusters, &g.current, &g.capacity, "ns/name") {
                Ok(p) => p,
                Err(e) => panic!("{ctx}: {e}"),
            };

            let keys: Vec<&String> = p.replicas.keys().collect();
            let mut want_keys: Vec<&String> = g.clusters.iter().collect();
            want_keys.sort();
            want_keys.dedup();
            assert_eq!(keys, want_keys, "{ctx}: every available cluster, and only those");

            let sum: i64 = p.replicas.values().sum();
            assert!(sum <= g.prefs.total_replicas, "{ctx}: sum {sum} over total");

            let mut mins_needed = 0;
            let mut cap_sum: Option<i64> = Some(0);
            for (cluster, &n) in &p.replicas {
                assert!(n >= 0, "{ctx}: {cluster} negative");
                match cap_of(&g, cluster) {
                    None => assert_eq!(n, 0, "{ctx}: {cluster} has no preferences"),
                    Some(cap) => {
                        if let Some(cap) = cap {
                            assert!(n <= cap, "{ctx}: {cluster} = {n} above max/capacity {cap}");
                        }
                        cap_sum = cap_sum.zip(cap).map(|(s, c)| s + c);
                        let min = g.prefs.for_cluster(cluster).map_or(0, |q| q.min_replicas);
                        mins_needed += cap.map_or(min, |c| min.min(c));
                    }
                }
            }
            if mins_needed <= g.prefs.total_replicas {
                for (cluster, &n) in &p.replicas {
                    let min = g.prefs.for_cluster(cluster).map_or(0, |q| q.min_replicas);
                    let floor = cap_of(&g, cluster).flatten().map_or(min, |c| min.min(c));
                    assert!(
                        n >= floor,
                        "{ctx}: {cluster} = {n} below its feasible minimum {floor}"
                    );
                }
            }
            if positive_weights {
                let want = cap_sum.map_or(g.prefs.total_replicas, |c| c.min(g.prefs.total_replicas));
                assert_eq!(sum, want, "{ctx}: sum should be min(total, Σ caps)");
                checked_sum += 1;
            }

            for (cluster, &n) in &p.overflow {
                assert!(n > 0, "{ctx}: zero overflow listed for {cluster}");
                assert!(
                    g.capacity.contains_key(cluster),
                    "{ctx}: overflow on {cluster} without capacity"
                );
            }

            // Same answer whatever the order (and repetition) of available clusters.
            let mut shuffled = g.clusters.clone();
            shuffled.reverse();
            shuffled.extend(g.clusters.iter().take(2).cloned());
            let again = plan(&g.prefs, &shuffled, &g.current, &g.capacity, "ns/name");
            assert_eq!(again.as_ref(), Ok(&p), "{ctx}: depends on cluster order");
        }
        assert!(checked_sum >= 1000, "too few sum checks: {checked_sum}");
    }

    /// Without rebalance, a layout that already satisfies the preferences and the total is left alone.
    #[test]
    fn property_no_rebalance_keeps_a_valid_layout() {
        let mut kept = 0;
        for seed in 0..4000_u64 {
            let mut rng = Rng(seed ^ 0x5eed);
            let mut g = generate(&mut rng, seed % 2 == 0);
            g.prefs.rebalance = false;
            // Current layout: each planned cluster runs something within [min, min(max, capacity)].
            let mut current = BTreeMap::new();
            let mut feasible = true;
            for c in &g.clusters {
                let Some(cap) = cap_of(&g, c) else { continue };
                let min = g.prefs.for_cluster(c).map_or(0, |q| q.min_replicas);
                let hi = cap.unwrap_or(min + 50);
                if hi < min {
                    feasible = false;
                    break;
                }
                current.insert(
                    c.clone(),
                    min + rng.below(u64::try_from(hi - min + 1).unwrap_or(1)),
                );
            }
            if !feasible {
                continue;
            }
            g.prefs.total_replicas = current.values().sum();
            let p = plan(&g.prefs, &g.clusters, &current, &g.capacity, "ns/name");
            let got = p.map(|p| {
                p.replicas
                    .into_iter()
                    .filter(|(c, _)| current.contains_key(c))
                    .collect()
            });
            assert_eq!(
                got,
                Ok(current),
                "seed {seed}: prefs {:?} capacity {:?}",
                g.prefs,
                g.capacity
            );
            kept += 1;
        }
        assert!(kept >= 1000, "too few layouts checked: {kept}");
    }
}

#[cfg(test)]
mod spec_tests {
    use super::*;
    use serde_json::{Value, json};

    fn spec(v: Value) -> FederatedSpec {
        serde_json::from_value(v).expect("valid spec")
    }

    #[test]
    fn schedule_writes_placement_and_replicas_overrides_keeping_the_rest() {
        let s = spec(json!({
            "placement": {"clusterSelector": {"matchLabels": {"env": "prod"}}},
            "overrides": [
                {"clusterName": "a", "clusterOverrides": [
                    {"path": "/spec/replicas", "value": 9},
                    {"path": "/metadata/annotations/x", "value": "y"}]},
                {"clusterName": "c", "clusterOverrides": [{"path": "/spec/replicas", "value": 4}]},
                {"clusterSelector": {"matchLabels": {"env": "prod"}},
                 "clusterOverrides": [{"path": "/spec/paused", "value": false}]}
            ]
        }));
        let replicas = BTreeMap::from([("a".to_string(), 2), ("b".to_string(), 3), ("c".to_string(), 0)]);
        let (p, o) = scheduled_spec(&s, &replicas);
        assert_eq!(p.cluster_names(), Some(vec!["a", "b"]));
        assert!(p.cluster_selector.is_some(), "the selector is kept");
        let json = serde_json::to_value(&o).expect("serializes");
        assert_eq!(
            json,
            json!([
                {"clusterName": "a", "clusterOverrides": [
                    {"path": "/metadata/annotations/x", "value": "y"},
                    {"path": "/spec/replicas", "value": 2}]},
                {"clusterSelector": {"matchLabels": {"env": "prod"}},
                 "clusterOverrides": [{"path": "/spec/paused", "value": false}]},
                {"clusterName": "b", "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]}
            ])
        );
        // Idempotent: scheduling the result again changes nothing.
        let again = FederatedSpec {
            placement: p.clone(),
            overrides: o.clone(),
            ..s
        };
        assert_eq!(scheduled_spec(&again, &replicas), (p, o));
    }

    #[test]
    fn candidates_are_ready_clusters_optionally_selected() {
        let rsp: ReplicaSchedulingPreference = serde_json::from_value(json!({
            "apiVersion": "scheduling.kubefed.io/v1alpha1", "kind": "ReplicaSchedulingPreference",
            "metadata": {"name": "w", "namespace": "n"},
            "spec": {"targetKind": "FederatedDeployment", "totalReplicas": 3}
        }))
        .expect("valid");
        let l = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        let clusters = vec![
            ClusterInfo::new("a", l("env", "prod"), true),
            ClusterInfo::new("b", l("env", "dev"), true),
            ClusterInfo::new("c", l("env", "prod"), false),
        ];
        let s = spec(json!({"placement": {"clusterSelector": {"matchLabels": {"env": "prod"}}}}));
        assert_eq!(
            candidate_clusters(&rsp, &s, &clusters),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
        let mut rsp = rsp;
        rsp.spec.intersect_with_cluster_selector = true;
        assert_eq!(candidate_clusters(&rsp, &s, &clusters), Ok(vec!["a".to_string()]));
    }
}

#[cfg(test)]
mod hold_tests {
    use super::*;
    use serde_json::json;

    fn info(name: &str, ready: bool) -> ClusterInfo {
        ClusterInfo::new(name, BTreeMap::new(), ready)
    }

    fn spec(v: serde_json::Value) -> FederatedSpec {
        serde_json::from_value(v).expect("valid spec")
    }

    #[test]
    fn unready_placed_clusters_are_held_with_their_last_replicas() {
        let s = spec(json!({
            "template": {"spec": {"replicas": 7}},
            "placement": {"clusters": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "gone"}]},
            "overrides": [
                {"clusterName": "a", "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]},
                {"clusterName": "b", "clusterOverrides": [{"path": "/metadata/labels/x", "value": "y"}]}
            ]
        }));
        let clusters = [
            info("a", false),
            info("b", false),
            info("c", true),
            info("d", false),
        ];
        // a: its override; b: the template's replicas; c is ready (planned, not held); d is not placed;
        // "gone" is no longer joined (dropped like any unknown cluster).
        assert_eq!(
            held_replicas(&s, &clusters),
            BTreeMap::from([("a".to_string(), 3), ("b".to_string(), 7)])
        );
    }

    #[test]
    fn nothing_is_held_without_a_by_name_placement_or_with_zero_replicas() {
        let by_selector = spec(json!({"placement": {"clusterSelector": {}}}));
        assert!(held_replicas(&by_selector, &[info("a", false)]).is_empty());
        let zero = spec(json!({
            "placement": {"clusters": [{"name": "a"}]},
            "overrides": [{"clusterName": "a", "clusterOverrides": [{"path": "/spec/replicas", "value": 0}]}]
        }));
        assert!(held_replicas(&zero, &[info("a", false)]).is_empty());
        let default_one = spec(json!({"placement": {"clusters": [{"name": "a"}]}}));
        assert_eq!(
            held_replicas(&default_one, &[info("a", false)]),
            BTreeMap::from([("a".to_string(), 1)])
        );
    }

    #[test]
    fn a_held_cluster_keeps_its_place_and_replicas_through_a_re_plan() {
        // 3/3/3 over a, b, c; then b goes unready and the plan moves its share to a and c.
        let s = spec(json!({
            "placement": {"clusters": [{"name": "a"}, {"name": "b"}, {"name": "c"}]},
            "overrides": [
                {"clusterName": "a", "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]},
                {"clusterName": "b", "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]},
                {"clusterName": "c", "clusterOverrides": [{"path": "/spec/replicas", "value": 3}]}
            ]
        }));
        let clusters = [info("a", true), info("b", false), info("c", true)];
        let mut replicas = BTreeMap::from([("a".to_string(), 5), ("c".to_string(), 4)]);
        replicas.extend(held_replicas(&s, &clusters));
        let (p, o) = scheduled_spec(&s, &replicas);
        assert_eq!(p.cluster_names(), Some(vec!["a", "b", "c"]));
        let b = o
            .iter()
            .find(|e| e.cluster_name.as_deref() == Some("b"))
            .expect("b keeps its override");
        assert_eq!(b.cluster_overrides, vec![replicas_override(3)]);
    }
}
