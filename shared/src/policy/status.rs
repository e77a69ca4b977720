//! What an `Audit` policy's status records: the most recent violations, bounded, newest first.
//!
//! The webhook batches the violations it saw for a policy and writes the result of [`record_violations`]
//! to the policy's status subresource. The list is bounded ([`MAX_STATUS_VIOLATIONS`]) so a noisy policy
//! cannot grow its object towards etcd's size limit, and it keeps one entry per object and rule (the latest)
//! so a controller retrying the same object does not push every other violation out.
//! `violationCount` counts every violation recorded, including repeats and those no longer listed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::policy::MAX_STATUS_VIOLATIONS;
use crate::api::{FederationPolicyStatus, PolicyViolation};

/// The status after recording `new` violations (oldest first) at `now` on top of `current`, for a policy at
/// `generation`.
///
/// Each new violation gets `time = now` (unless it has one), replaces an older entry about the same object
/// and rule, and goes to the front; the list is then cut to [`MAX_STATUS_VIOLATIONS`].
pub fn record_violations(
    current: Option<&FederationPolicyStatus>,
    new: &[PolicyViolation],
    now: &Time,
    generation: Option<i64>,
) -> FederationPolicyStatus {
    let mut status = current.cloned().unwrap_or_default();
    if new.is_empty() {
        return status;
    }
    for v in new {
        let mut v = v.clone();
        if v.time.is_none() {
            v.time = Some(now.clone());
        }
        status.violations.retain(|old| !old.same_subject(&v));
        status.violations.insert(0, v);
    }
    status.violations.truncate(MAX_STATUS_VIOLATIONS);
    status.violation_count = status
        .violation_count
        .saturating_add(i64::try_from(new.len()).unwrap_or(i64::MAX));
    status.last_violation_time = Some(now.clone());
    if generation.is_some() {
        status.observed_generation = generation;
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, rule: &str, message: &str) -> PolicyViolation {
        PolicyViolation {
            kind: "FederatedDeployment".into(),
            namespace: Some("shop".into()),
            name: name.into(),
            rule: rule.into(),
            message: message.into(),
            user: Some("alice".into()),
            time: None,
        }
    }

    fn time(s: &str) -> Time {
        serde_json::from_value(serde_json::json!(s)).expect("RFC 3339 time")
    }

    #[test]
    fn newest_first_one_per_object_and_rule_counted() {
        let t1 = time("2025-01-01T00:00:00Z");
        let t2 = time("2025-01-01T00:01:00Z");
        let s = record_violations(
            None,
            &[v("a", "minClusters", "m1"), v("b", "minClusters", "m2")],
            &t1,
            Some(2),
        );
        assert_eq!(
            s.violations.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert_eq!(s.violation_count, 2);
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(s.violations[0].time, Some(t1.clone()));

        // "a" again with the same rule replaces its entry and moves to the front; another rule is separate.
        let s = record_violations(
            Some(&s),
            &[v("a", "minClusters", "m3"), v("a", "spread[0]", "m4")],
            &t2,
            None,
        );
        let got: Vec<(&str, &str, &str)> = s
            .violations
            .iter()
            .map(|v| (v.name.as_str(), v.rule.as_str(), v.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "spread[0]", "m4"),
                ("a", "minClusters", "m3"),
                ("b", "minClusters", "m2")
            ]
        );
        assert_eq!(s.violation_count, 4);
        assert_eq!(s.last_violation_time, Some(t2));
        assert_eq!(s.observed_generation, Some(2), "kept when not given");
    }

    #[test]
    fn bounded_and_nothing_new_changes_nothing() {
        let t = time("2025-01-01T00:00:00Z");
        let many: Vec<PolicyViolation> = (0..MAX_STATUS_VIOLATIONS + 7)
            .map(|i| v(&format!("o{i}"), "maxClusters", "m"))
            .collect();
        let s = record_violations(None, &many, &t, None);
        assert_eq!(s.violations.len(), MAX_STATUS_VIOLATIONS);
        assert_eq!(s.violations[0].name, format!("o{}", MAX_STATUS_VIOLATIONS + 6));
        assert_eq!(
            s.violation_count,
            i64::try_from(MAX_STATUS_VIOLATIONS + 7).unwrap_or(0)
        );
        assert_eq!(record_violations(Some(&s), &[], &t, Some(9)), s);
    }
}
