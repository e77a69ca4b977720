//! What the controller would do to one member cluster for one federated object, decided ahead of time
//! (`kubectl fed diff`). The same decision the controller makes in its per-cluster sync (create, update,
//! adopt, delete, orphan, or leave alone), made from what a reader sees: is the cluster selected and
//! Ready, does the member object exist, is it ours, and does the part of it our field manager owns equal
//! the desired object ([`crate::intent`]).
//!
//! The controller also skips an apply when it applied the same desired object before and nobody changed
//! our fields since; a reader cannot know that, so a value the member's API server normalizes (a quantity
//! `1000m` stored as `1`) shows as an update here although the controller would not write it.

use serde_json::{Map, Value};

use crate::api::PropagationStatus;
use crate::intent::intent_hash;
use crate::propagation::Managed;

/// A member object as read from its cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveMember {
    /// Its `kubefed.io/managed` label.
    pub managed: Managed,
    /// The object cut down to the fields of our server-side-apply entry; `None` when we have no entry.
    pub owned: Option<Value>,
    /// Whether it is being deleted (`metadata.deletionTimestamp` set).
    pub deleting: bool,
}

/// What applying would change in one member cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum MemberChange {
    /// The object would be created.
    Create,
    /// The member object would be written: its owned fields differ from the desired ones, or (`adopt`) an
    /// object kubefed does not manage yet would be taken over (`adoptResources`).
    Update {
        /// Whether the object is taken over.
        adopt: bool,
    },
    /// The member holds the desired object: no write.
    Unchanged,
    /// Our member copy would be deleted: the placement no longer selects the cluster.
    Delete,
    /// Our member copy would be kept and our label removed (`kubefed.io/orphan: "true"`).
    Orphan,
    /// Nothing there and nothing to do: the cluster is not selected and holds no copy of ours.
    NotPlaced,
    /// The cluster is not Ready: nothing is written until it is.
    NotReady,
    /// Our copy is being deleted already; the controller waits for it to go.
    Deleting,
    /// The controller would not write and reports this per-cluster status (`AlreadyExists`,
    /// `ManagedLabelFalse`, `ApplyOverridesFailed`, …), with its message.
    Blocked(PropagationStatus, String),
}

impl MemberChange {
    /// Whether the member would differ from what applying asks for (kubectl diff's exit code 1): every
    /// change, and every case where the controller cannot do what is asked.
    pub fn is_difference(&self) -> bool {
        !matches!(
            self,
            MemberChange::Unchanged | MemberChange::NotPlaced | MemberChange::NotReady
        )
    }
}

/// The change in one cluster.
///
/// - `placed`: the placement selects the cluster.
/// - `ready`: the cluster is Ready.
/// - `live`: the member object, if it exists.
/// - `desired`: the desired member object (`crate::propagation::desired_member_object_with`), or why it
///   cannot be built; only looked at when `placed`.
/// - `adopt_resources`, `orphan`: KubeFedConfig's `adoptResources`, the object's `kubefed.io/orphan`.
pub fn member_change(
    placed: bool,
    ready: bool,
    live: Option<&LiveMember>,
    desired: Option<Result<&Value, (PropagationStatus, String)>>,
    adopt_resources: bool,
    orphan: bool,
) -> MemberChange {
    if !placed {
        return match live {
            Some(l) if l.managed == Managed::Yes => {
                if !ready {
                    MemberChange::NotReady
                } else if orphan {
                    MemberChange::Orphan
                } else if l.deleting {
                    MemberChange::Deleting
                } else {
                    MemberChange::Delete
                }
            }
            _ => MemberChange::NotPlaced,
        };
    }
    if !ready {
        return MemberChange::NotReady;
    }
    let desired = match desired {
        Some(Ok(d)) => d,
        Some(Err((status, message))) => return MemberChange::Blocked(status, message),
        None => {
            return MemberChange::Blocked(
                PropagationStatus::ComputeResourceFailed,
                "no desired object".to_string(),
            );
        }
    };
    let Some(live) = live else {
        return MemberChange::Create;
    };
    match live.managed {
        Managed::ExplicitlyUnmanaged => MemberChange::Blocked(
            PropagationStatus::ManagedLabelFalse,
            "the member object is labelled kubefed.io/managed=false and is left alone".to_string(),
        ),
        Managed::No if !adopt_resources => MemberChange::Blocked(
            PropagationStatus::AlreadyExists,
            "the member object already exists and is not managed by kubefed; delete it, label it \
             kubefed.io/managed=true, or enable adoptResources in the KubeFedConfig"
                .to_string(),
        ),
        Managed::No => MemberChange::Update { adopt: true },
        Managed::Yes => {
            let current = live
                .owned
                .as_ref()
                .is_some_and(|owned| intent_hash(owned) == intent_hash(desired));
            if current {
                MemberChange::Unchanged
            } else {
                MemberChange::Update { adopt: false }
            }
        }
    }
}

/// `obj` as a diff shows it: identity (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`) taken
/// from `identity`, `status` dropped, and null values removed — the fields [`intent_hash`] compares.
pub fn comparable(obj: &Value, identity: &Value) -> Value {
    let mut out = strip_nulls(obj);
    if let Value::Object(m) = &mut out {
        m.remove("status");
        for key in ["apiVersion", "kind"] {
            match identity.get(key) {
                Some(v) => m.insert(key.to_string(), v.clone()),
                None => m.remove(key),
            };
        }
        let meta = m.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            for key in ["name", "namespace"] {
                match identity.pointer(&format!("/metadata/{key}")) {
                    Some(v) => meta.insert(key.to_string(), v.clone()),
                    None => meta.remove(key),
                };
            }
        }
    }
    out
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn desired() -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "namespace": "n", "labels": {"kubefed.io/managed": "true"}},
               "data": {"a": "1"}})
    }

    fn ours(owned: Value) -> LiveMember {
        LiveMember {
            managed: Managed::Yes,
            owned: Some(owned),
            deleting: false,
        }
    }

    #[test]
    fn decisions() {
        let d = desired();
        let same = ours(json!({"metadata": {"labels": {"kubefed.io/managed": "true"}}, "data": {"a": "1"}}));
        let changed =
            ours(json!({"metadata": {"labels": {"kubefed.io/managed": "true"}}, "data": {"a": "2"}}));
        let no_entry = LiveMember {
            managed: Managed::Yes,
            owned: None,
            deleting: false,
        };
        let foreign = LiveMember {
            managed: Managed::No,
            owned: None,
            deleting: false,
        };
        let hands_off = LiveMember {
            managed: Managed::ExplicitlyUnmanaged,
            ..foreign.clone()
        };
        let deleting = LiveMember {
            deleting: true,
            ..same.clone()
        };
        let bad = || {
            Some(Err((
                PropagationStatus::ApplyOverridesFailed,
                "bad path".to_string(),
            )))
        };
        struct Case<'a> {
            name: &'a str,
            placed: bool,
            ready: bool,
            live: Option<&'a LiveMember>,
            desired: Option<Result<&'a Value, (PropagationStatus, String)>>,
            adopt: bool,
            orphan: bool,
            want: MemberChange,
        }
        let case = |name, placed, ready, live, adopt, orphan, want| Case {
            name,
            placed,
            ready,
            live,
            desired: Some(Ok(&d)),
            adopt,
            orphan,
            want,
        };
        let cases = [
            case("absent", true, true, None, true, false, MemberChange::Create),
            case(
                "same",
                true,
                true,
                Some(&same),
                true,
                false,
                MemberChange::Unchanged,
            ),
            case(
                "changed",
                true,
                true,
                Some(&changed),
                true,
                false,
                MemberChange::Update { adopt: false },
            ),
            case(
                "created by POST",
                true,
                true,
                Some(&no_entry),
                true,
                false,
                MemberChange::Update { adopt: false },
            ),
            case(
                "adopt",
                true,
                true,
                Some(&foreign),
                true,
                false,
                MemberChange::Update { adopt: true },
            ),
            case(
                "not ready",
                true,
                false,
                None,
                true,
                false,
                MemberChange::NotReady,
            ),
            case(
                "dropped",
                false,
                true,
                Some(&same),
                true,
                false,
                MemberChange::Delete,
            ),
            case(
                "dropped, orphan",
                false,
                true,
                Some(&same),
                true,
                true,
                MemberChange::Orphan,
            ),
            case(
                "dropped, not ready",
                false,
                false,
                Some(&same),
                true,
                false,
                MemberChange::NotReady,
            ),
            case(
                "dropped, deleting",
                false,
                true,
                Some(&deleting),
                true,
                false,
                MemberChange::Deleting,
            ),
            case(
                "not ours, not placed",
                false,
                true,
                Some(&foreign),
                true,
                false,
                MemberChange::NotPlaced,
            ),
            case("nothing", false, true, None, true, false, MemberChange::NotPlaced),
        ];
        for c in cases {
            let got = member_change(c.placed, c.ready, c.live, c.desired, c.adopt, c.orphan);
            assert_eq!(got, c.want, "case {}", c.name);
        }
        let blocked = |live, adopt| match member_change(true, true, live, Some(Ok(&d)), adopt, false) {
            MemberChange::Blocked(s, _) => s,
            other => panic!("not blocked: {other:?}"),
        };
        assert_eq!(blocked(Some(&foreign), false), PropagationStatus::AlreadyExists);
        assert_eq!(
            blocked(Some(&hands_off), true),
            PropagationStatus::ManagedLabelFalse
        );
        assert!(matches!(
            member_change(true, true, None, bad(), true, false),
            MemberChange::Blocked(PropagationStatus::ApplyOverridesFailed, _)
        ));
        assert!(!MemberChange::Unchanged.is_difference() && MemberChange::Delete.is_difference());
    }

    #[test]
    fn comparable_takes_identity_and_drops_nulls_and_status() {
        let owned = json!({"metadata": {"labels": {"a": "b"}, "annotations": null}, "data": {"a": "1"},
                           "status": {"x": 1}});
        let got = comparable(&owned, &desired());
        assert_eq!(
            got,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "namespace": "n", "labels": {"a": "b"}}, "data": {"a": "1"}})
        );
        assert_eq!(intent_hash(&got), intent_hash(&owned));
    }
}
