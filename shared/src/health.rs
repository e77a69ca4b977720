//! Member cluster health decisions: readiness with failure/success thresholds over consecutive probes,
//! and the KubeFedCluster conditions that say why a cluster is (not) ready. The controller probes
//! `/healthz` and writes the status; what it writes is decided here.

use crate::api::{ClusterConditionType, ConditionStatus, KubeFedClusterStatus};

/// What one probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// `/healthz` answered `ok`.
    Healthy,
    /// The API server answered, but not `ok`.
    Unhealthy(String),
    /// The API server refused the controller's credentials (401 or 403): the cluster may be fine, the
    /// KubeFedCluster's token is not. Needs a person, not a retry.
    CredentialsRejected(String),
    /// The API server could not be reached (connection refused, TLS failure, timeout).
    Unreachable(String),
}

impl Probe {
    /// The `Ready` condition's reason when the cluster is not ready after this probe.
    pub fn reason(&self) -> &'static str {
        match self {
            Probe::Unreachable(_) => "ClusterNotReachable",
            Probe::CredentialsRejected(_) => "ClusterCredentialsRejected",
            Probe::Unhealthy(_) | Probe::Healthy => "ClusterNotReady",
        }
    }

    /// Whether `/healthz` answered `ok`.
    pub fn is_healthy(&self) -> bool {
        matches!(self, Probe::Healthy)
    }
}

/// Readiness with thresholds: the first observation decides; after that a ready cluster needs
/// `failure_threshold` consecutive failures to become not ready, and a not-ready one
/// `success_threshold` consecutive successes to become ready.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracker {
    ready: Option<bool>,
    failures: u32,
    successes: u32,
}

impl Tracker {
    /// A tracker that starts from a known state (e.g. the `Ready` condition already stored).
    pub fn starting(ready: Option<bool>) -> Self {
        Tracker {
            ready,
            ..Default::default()
        }
    }

    /// The current readiness (`None` before the first probe of an unknown cluster).
    pub fn ready(&self) -> Option<bool> {
        self.ready
    }

    /// Records one probe result; returns the readiness after it.
    pub fn observe(&mut self, healthy: bool, failure_threshold: u32, success_threshold: u32) -> bool {
        if healthy {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        let next = match self.ready {
            None => healthy,
            Some(true) => self.failures < failure_threshold.max(1),
            Some(false) => self.successes >= success_threshold.max(1),
        };
        self.ready = Some(next);
        next
    }
}

/// The conditions for a cluster that is `ready` (or not), given the last probe.
pub fn conditions(
    ready: bool,
    last: &Probe,
) -> Vec<(ClusterConditionType, ConditionStatus, &'static str, String)> {
    if ready {
        return vec![
            (
                ClusterConditionType::Ready,
                ConditionStatus::True,
                "ClusterReady",
                "/healthz responded with ok".into(),
            ),
            (
                ClusterConditionType::Offline,
                ConditionStatus::False,
                "ClusterReachable",
                "cluster is reachable".into(),
            ),
        ];
    }
    match last {
        Probe::Unreachable(msg) => vec![
            (
                ClusterConditionType::Ready,
                ConditionStatus::False,
                "ClusterNotReachable",
                msg.clone(),
            ),
            (
                ClusterConditionType::Offline,
                ConditionStatus::True,
                "ClusterNotReachable",
                msg.clone(),
            ),
        ],
        Probe::Unhealthy(msg) | Probe::CredentialsRejected(msg) => vec![
            (
                ClusterConditionType::Ready,
                ConditionStatus::False,
                last.reason(),
                msg.clone(),
            ),
            (
                ClusterConditionType::Offline,
                ConditionStatus::False,
                "ClusterReachable",
                "cluster is reachable".into(),
            ),
        ],
        // Ready with thresholds not yet met after failures: still report what the probe says.
        Probe::Healthy => vec![
            (
                ClusterConditionType::Ready,
                ConditionStatus::False,
                "ClusterNotReady",
                "/healthz responded with ok; waiting for more successful probes".into(),
            ),
            (
                ClusterConditionType::Offline,
                ConditionStatus::False,
                "ClusterReachable",
                "cluster is reachable".into(),
            ),
        ],
    }
}

/// Whether two statuses say the same thing (times aside).
pub fn same_meaning(a: &KubeFedClusterStatus, b: &KubeFedClusterStatus) -> bool {
    let key = |s: &KubeFedClusterStatus| {
        let mut v: Vec<_> = s
            .conditions
            .iter()
            .map(|c| {
                (
                    c.type_.as_str(),
                    c.status.as_str(),
                    c.reason.clone(),
                    c.message.clone(),
                )
            })
            .collect();
        v.sort();
        (v, s.kubernetes_version.clone())
    };
    key(a) == key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_probe_decides_then_thresholds_apply() {
        struct Case {
            name: &'static str,
            start: Option<bool>,
            probes: &'static [bool],
            want: &'static [bool],
        }
        let cases = [
            Case {
                name: "unknown, healthy",
                start: None,
                probes: &[true],
                want: &[true],
            },
            Case {
                name: "unknown, failing",
                start: None,
                probes: &[false],
                want: &[false],
            },
            Case {
                name: "ready needs 3 failures",
                start: Some(true),
                probes: &[false, false, true, false, false, false],
                want: &[true, true, true, true, true, false],
            },
            Case {
                name: "not ready recovers after 1 success",
                start: Some(false),
                probes: &[false, true],
                want: &[false, true],
            },
        ];
        for c in cases {
            let mut t = Tracker::starting(c.start);
            let got: Vec<bool> = c.probes.iter().map(|p| t.observe(*p, 3, 1)).collect();
            assert_eq!(got, c.want, "{}", c.name);
        }
        let mut t = Tracker::starting(Some(false));
        assert!(!t.observe(true, 3, 2));
        assert!(t.observe(true, 3, 2), "two successes with successThreshold 2");
    }

    #[test]
    fn conditions_say_why() {
        let ready = conditions(true, &Probe::Healthy);
        assert_eq!(ready[0].1, ConditionStatus::True);
        let offline = conditions(false, &Probe::Unreachable("connection refused".into()));
        assert_eq!(
            offline.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
            vec![
                (ClusterConditionType::Ready, ConditionStatus::False),
                (ClusterConditionType::Offline, ConditionStatus::True)
            ]
        );
        let unhealthy = conditions(false, &Probe::Unhealthy("etcd failed".into()));
        assert_eq!(unhealthy[0].2, "ClusterNotReady");
        let rejected = conditions(false, &Probe::CredentialsRejected("401 Unauthorized".into()));
        assert_eq!(
            rejected.iter().map(|c| (c.0, c.1, c.2)).collect::<Vec<_>>(),
            vec![
                (
                    ClusterConditionType::Ready,
                    ConditionStatus::False,
                    "ClusterCredentialsRejected"
                ),
                (
                    ClusterConditionType::Offline,
                    ConditionStatus::False,
                    "ClusterReachable"
                )
            ],
            "rejected credentials: reachable, not ready, and a reason of its own"
        );
    }
}
