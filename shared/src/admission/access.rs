//! Native equivalence: through federation a user may do on a member cluster only what Kubernetes would let
//! them do directly (design §6). The decisions cannot ask the API server, so they state *which* rights a
//! request needs as [`AccessCheck`]s; the webhook asks them with SubjectAccessReviews on the host (cached)
//! and words a missing one with [`access_denial`].
//!
//! What a federated object needs, besides `propagate` on its clusters ([`super::PropagateCheck`]):
//!
//! - **The target kind itself**: `create` (when it reaches a cluster it was not on) and/or `update` (when
//!   its member object changes) on the target's resource, in the object's namespace (cluster-scoped kinds:
//!   at cluster scope; a FederatedNamespace: the namespace itself, by name).
//! - **RBAC escalation, as Kubernetes applies it** to the member objects the request creates or changes
//!   (after overrides, so an override cannot smuggle in another role):
//!   - a RoleBinding or ClusterRoleBinding needs `bind` on the role it references (`roles` or
//!     `clusterroles`, resourceName the role, in the binding's namespace). Kubernetes also lets a user bind
//!     a role whose every rule they hold; the webhook cannot read member roles, so it asks for `bind`.
//!   - a Role or ClusterRole with rules needs `escalate` on it, unless the user already holds every rule:
//!     when `escalate` is refused, each (verb, group, resource, resourceName) and (verb, nonResourceURL) of
//!     every rule is asked in the role's scope — at most [`MAX_RULE_CHECKS`] questions, beyond which
//!     `escalate` is required. A ClusterRole with an `aggregationRule` always needs `escalate`.
//!
//! The host's RBAC stands in for the members': platform teams keep them alike (typically by federating the
//! Roles), and the host is where kubefed can ask.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use super::Denial;
use crate::api::constants::CORE_GROUP;
use crate::findings::Reason;

/// The RBAC API group.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// Most questions asked one by one for a Role's rules when `escalate` is refused.
pub const MAX_RULE_CHECKS: usize = 64;
/// The verb checked on `kubefedclusters.core.kubefed.io`.
pub const PROPAGATE_VERB: &str = "propagate";
/// The resource `propagate` is checked on.
pub const CLUSTERS_RESOURCE: &str = "kubefedclusters";

/// One question for the host's authorizer: may the user do this? (A SubjectAccessReview's attributes.)
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// A verb on a resource.
    Resource {
        /// The verb, e.g. `create`, `bind`, `*`.
        verb: String,
        /// The API group (`""` for the core group).
        group: String,
        /// The resource (plural), e.g. `deployments`, `*`.
        resource: String,
        /// The subresource, e.g. `log` of `pods/log`.
        subresource: Option<String>,
        /// The namespace; `None` at cluster scope.
        namespace: Option<String>,
        /// The object's name; `None` for any.
        name: Option<String>,
    },
    /// A verb on a non-resource URL (ClusterRole rules), e.g. `get` on `/healthz`.
    NonResource {
        /// The verb.
        verb: String,
        /// The path.
        path: String,
    },
}

impl Access {
    /// A verb on `resource` (which may be `resource/subresource`) of `group`.
    pub fn resource(
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Self {
        let (resource, subresource) = match resource.split_once('/') {
            Some((r, s)) => (r, Some(s.to_string())),
            None => (resource, None),
        };
        Access::Resource {
            verb: verb.to_string(),
            group: group.to_string(),
            resource: resource.to_string(),
            subresource,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
        }
    }

    /// `propagate` on the KubeFedCluster `cluster` in `system_namespace`, or on every cluster (`None`: a
    /// grant without resourceNames).
    pub fn propagate(cluster: Option<&str>, system_namespace: &str) -> Self {
        Access::resource(
            PROPAGATE_VERB,
            CORE_GROUP,
            CLUSTERS_RESOURCE,
            Some(system_namespace),
            cluster,
        )
    }
}

impl fmt::Display for Access {
    /// `create deployments.apps in namespace "a"`, `bind clusterroles.rbac.authorization.k8s.io "admin"`,
    /// `get /healthz`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::NonResource { verb, path } => write!(f, "{verb} {path}"),
            Access::Resource {
                verb,
                group,
                resource,
                subresource,
                namespace,
                name,
            } => {
                write!(f, "{verb} {resource}")?;
                if let Some(s) = subresource {
                    write!(f, "/{s}")?;
                }
                if !group.is_empty() {
                    write!(f, ".{group}")?;
                }
                if let Some(n) = name {
                    write!(f, " {n:?}")?;
                }
                match namespace {
                    Some(ns) => write!(f, " in namespace {ns:?}"),
                    None => write!(f, " (cluster-wide)"),
                }
            }
        }
    }
}

/// A right a request needs: `access`, or else (when `or_all_of` is not empty) every one of `or_all_of`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessCheck {
    /// The right asked first.
    pub access: Access,
    /// Rights that together stand in for `access` (a Role's rules instead of `escalate`).
    pub or_all_of: Vec<Access>,
    /// Why it is needed and how to get it ([`AccessCheck::message`]).
    pub why: Why,
}

/// What [`AccessCheck::message`] says. The common check (the target kind's own verb) is worded only when
/// it is refused: a request that holds it, nearly every one, should not pay for the sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// The target kind's own verb for `user` (worded from the check's [`Access`]).
    Native {
        /// The requesting user.
        user: String,
    },
    /// Worded already.
    Text(String),
}

impl AccessCheck {
    /// Why it is needed and how to get it; the denial when the user lacks it.
    pub fn message(&self) -> String {
        match (&self.why, &self.access) {
            (Why::Text(text), _) => text.clone(),
            (
                Why::Native { user },
                Access::Resource {
                    verb,
                    group,
                    resource,
                    namespace,
                    ..
                },
            ) => native_message(user, verb, group, resource, namespace.as_deref()),
            (Why::Native { user }, other) => format!("user {user:?} may not {other}"),
        }
    }
}

/// The words of a missing native right: `verb` on `resource` of `group` in `namespace` (or cluster-wide).
fn native_message(user: &str, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> String {
    let shown = qualified(resource, group);
    let (scope, role_kind, binding_kind, ns_flag) = match namespace {
        Some(ns) => (
            format!("in namespace {ns:?}"),
            "role",
            "rolebinding",
            format!(" -n {ns}"),
        ),
        None => (
            "cluster-wide".to_string(),
            "clusterrole",
            "clusterrolebinding",
            String::new(),
        ),
    };
    let role = format!("federate-{resource}");
    format!(
        "user {user:?} may not {verb} {shown} {scope} on the host, so they may not {verb} it on member \
         clusters through federation either (kubefed grants through federation only what Kubernetes \
         grants directly); ask a platform admin for it, e.g. `kubectl{ns_flag} create {role_kind} {role} \
         --verb=create,update --resource={shown} && kubectl{ns_flag} create {binding_kind} {role} \
         --{role_kind}={role} --user={user}`"
    )
}

/// The denial of `check` for a user who lacks it; `missing` are the fallback rights refused (listed, at most
/// five).
pub fn access_denial(check: &AccessCheck, missing: &[&Access]) -> Denial {
    let mut message = check.message();
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(5).map(ToString::to_string).collect();
        let more = missing.len().saturating_sub(5);
        message.push_str(&format!(
            " (rules you do not hold: {}{})",
            shown.join("; "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    Denial {
        reason: Reason::AccessForbidden,
        message,
    }
}

/// The target kind a federated object creates or changes on members, for [`native_checks`].
#[derive(Clone, Copy, Debug)]
pub struct NativeTarget<'a> {
    /// API group of the target (`""` core).
    pub group: &'a str,
    /// The target's resource (plural), e.g. `deployments`.
    pub resource: &'a str,
    /// The target's kind, e.g. `Deployment`.
    pub kind: &'a str,
    /// The namespace member objects live in; `None` for cluster-scoped targets.
    pub namespace: Option<&'a str>,
    /// The member objects' name.
    pub name: &'a str,
    /// Whether the target is a Namespace (then the check is on the namespace by name).
    pub is_namespace: bool,
}

/// The rights a user needs for member objects `bodies` (after overrides) of `target`: `create` when
/// `creates`, `update` when `updates`, plus the RBAC escalation rules for RBAC kinds (module docs).
pub fn native_checks(
    user: &str,
    target: &NativeTarget<'_>,
    creates: bool,
    updates: bool,
    bodies: &[&Value],
) -> Vec<AccessCheck> {
    let mut out = Vec::new();
    for (verb, wanted) in [("create", creates), ("update", updates)] {
        if !wanted {
            continue;
        }
        let name = (target.is_namespace || verb == "update").then_some(target.name);
        out.push(AccessCheck {
            access: Access::resource(verb, target.group, target.resource, target.namespace, name),
            or_all_of: Vec::new(),
            why: Why::Native {
                user: user.to_string(),
            },
        });
    }
    if target.group != RBAC_GROUP {
        return out;
    }
    let mut seen = BTreeSet::new();
    for body in bodies {
        let check = match target.kind {
            "RoleBinding" | "ClusterRoleBinding" => bind_check(user, target, body),
            "Role" | "ClusterRole" => escalate_check(user, target, body),
            _ => None,
        };
        if let Some(c) = check
            && seen.insert(c.access.clone())
        {
            out.push(c);
        }
    }
    out
}

/// `resource.group`, or `resource` for the core group.
fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

/// `bind` on the role a binding references.
fn bind_check(user: &str, target: &NativeTarget<'_>, body: &Value) -> Option<AccessCheck> {
    let role_ref = body.get("roleRef")?;
    let kind = role_ref.get("kind").and_then(Value::as_str)?;
    let name = role_ref.get("name").and_then(Value::as_str)?;
    let resource = match kind {
        "ClusterRole" => "clusterroles",
        "Role" => "roles",
        _ => return None,
    };
    let ns_flag = target.namespace.map(|ns| format!(" -n {ns}")).unwrap_or_default();
    let binding_kind = if target.namespace.is_some() {
        "rolebinding"
    } else {
        "clusterrolebinding"
    };
    let helper_kind = if resource == "roles" {
        "role"
    } else {
        "clusterrole"
    };
    // A Role lives in the binding's namespace; a ClusterRole has none.
    let helper_ns = if resource == "roles" { ns_flag.as_str() } else { "" };
    let where_ = target
        .namespace
        .map_or(String::new(), |ns| format!(" in namespace {ns:?}"));
    Some(AccessCheck {
        access: Access::resource("bind", RBAC_GROUP, resource, target.namespace, Some(name)),
        or_all_of: Vec::new(),
        why: Why::Text(format!(
            "user {user:?} may not bind {kind} {name:?}{where_}: a {} federated to member clusters grants that \
             role's rights there, and Kubernetes lets a user bind a role only with verb \"bind\" on it; ask a \
             platform admin for it, e.g. `kubectl{helper_ns} create {helper_kind} bind-{name} --verb=bind \
             --resource={resource}.{RBAC_GROUP} --resource-name={name} && kubectl{ns_flag} create {binding_kind} \
             {user}-bind-{name} --{helper_kind}=bind-{name} --user={user}`",
            target.kind
        )),
    })
}

/// `escalate` on a Role or ClusterRole with rules, or else every rule.
fn escalate_check(user: &str, target: &NativeTarget<'_>, body: &Value) -> Option<AccessCheck> {
    let rules = body.get("rules").and_then(Value::as_array);
    let aggregated = body.get("aggregationRule").is_some_and(|a| !a.is_null());
    if rules.is_none_or(Vec::is_empty) && !aggregated {
        return None;
    }
    let resource = if target.namespace.is_some() {
        "roles"
    } else {
        "clusterroles"
    };
    let mut each = BTreeSet::new();
    let mut too_many = aggregated;
    'rules: for rule in rules.into_iter().flatten() {
        let list = |key: &str| -> Vec<&str> {
            rule.get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default()
        };
        let verbs = list("verbs");
        let names = list("resourceNames");
        let names: Vec<Option<&str>> = if names.is_empty() {
            vec![None]
        } else {
            names.into_iter().map(Some).collect()
        };
        for verb in &verbs {
            for group in list("apiGroups") {
                for res in list("resources") {
                    for name in &names {
                        each.insert(Access::resource(verb, group, res, target.namespace, *name));
                        if each.len() > MAX_RULE_CHECKS {
                            too_many = true;
                            break 'rules;
                        }
                    }
                }
            }
            for path in list("nonResourceURLs") {
                each.insert(Access::NonResource {
                    verb: (*verb).to_string(),
                    path: path.to_string(),
                });
                if each.len() > MAX_RULE_CHECKS {
                    too_many = true;
                    break 'rules;
                }
            }
        }
    }
    let name = target.name;
    let ns_flag = target.namespace.map(|ns| format!(" -n {ns}")).unwrap_or_default();
    let (helper_kind, binding_kind) = if target.namespace.is_some() {
        ("role", "rolebinding")
    } else {
        ("clusterrole", "clusterrolebinding")
    };
    let why = if aggregated {
        "an aggregated ClusterRole can gain any rule, so it needs verb \"escalate\" on it".to_string()
    } else if too_many {
        format!(
            "its rules expand to more than {MAX_RULE_CHECKS} permissions, too many to check one by one, so it needs \
             verb \"escalate\" on it"
        )
    } else {
        "Kubernetes lets a user create a role only with rights they already hold, or with verb \"escalate\" on \
         it"
            .to_string()
    };
    Some(AccessCheck {
        access: Access::resource("escalate", RBAC_GROUP, resource, target.namespace, Some(name)),
        or_all_of: if too_many {
            Vec::new()
        } else {
            each.into_iter().collect()
        },
        why: Why::Text(format!(
            "user {user:?} may not federate {} {name:?} with these rules: {why}; remove the rules you do not hold, \
             or ask a platform admin for \"escalate\", e.g. `kubectl{ns_flag} create {helper_kind} escalate-{name} \
             --verb=escalate --resource={resource}.{RBAC_GROUP} --resource-name={name} && kubectl{ns_flag} create \
             {binding_kind} {user}-escalate-{name} --{helper_kind}=escalate-{name} --user={user}`",
            target.kind
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target<'a>(kind: &'a str, resource: &'a str, group: &'a str, ns: Option<&'a str>) -> NativeTarget<'a> {
        NativeTarget {
            group,
            resource,
            kind,
            namespace: ns,
            name: "x",
            is_namespace: false,
        }
    }

    #[test]
    fn a_plain_kind_needs_create_and_update_in_its_namespace() {
        let t = target("Deployment", "deployments", "apps", Some("team-a"));
        let got = native_checks("alice", &t, true, true, &[]);
        let access: Vec<String> = got.iter().map(|c| c.access.to_string()).collect();
        assert_eq!(
            access,
            [
                "create deployments.apps in namespace \"team-a\"",
                "update deployments.apps \"x\" in namespace \"team-a\""
            ]
        );
        assert!(got[0].message().starts_with(
            "user \"alice\" may not create deployments.apps in namespace \"team-a\" on the host, so they may not \
             create it on member clusters through federation either"
        ));
        assert!(got[0].message().contains(
            "`kubectl -n team-a create role federate-deployments --verb=create,update --resource=deployments.apps && \
             kubectl -n team-a create rolebinding federate-deployments --role=federate-deployments --user=alice`"
        ));
        assert!(native_checks("alice", &t, false, false, &[]).is_empty());
        let ns = NativeTarget {
            is_namespace: true,
            ..target("Namespace", "namespaces", "", None)
        };
        let got = native_checks("alice", &ns, true, false, &[]);
        assert_eq!(
            got[0].access.to_string(),
            "create namespaces \"x\" (cluster-wide)"
        );
    }

    #[test]
    fn a_binding_needs_bind_on_each_role_it_references() {
        let t = target("RoleBinding", "rolebindings", RBAC_GROUP, Some("team-a"));
        let admin =
            json!({"roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "cluster-admin"}});
        let view = json!({"roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "view"}});
        let got = native_checks("alice", &t, true, false, &[&admin, &view, &admin]);
        let access: Vec<String> = got.iter().map(|c| c.access.to_string()).collect();
        assert_eq!(
            access,
            [
                "create rolebindings.rbac.authorization.k8s.io in namespace \"team-a\"",
                "bind clusterroles.rbac.authorization.k8s.io \"cluster-admin\" in namespace \"team-a\"",
                "bind roles.rbac.authorization.k8s.io \"view\" in namespace \"team-a\"",
            ]
        );
        assert!(got[1].message().starts_with(
            "user \"alice\" may not bind ClusterRole \"cluster-admin\" in namespace \"team-a\": a RoleBinding \
             federated to member clusters grants that role's rights there"
        ));
        assert!(
            got[1]
                .message()
                .contains("--verb=bind --resource=clusterroles.rbac.authorization.k8s.io")
        );
    }

    #[test]
    fn a_role_needs_escalate_or_every_rule() {
        let t = target("ClusterRole", "clusterroles", RBAC_GROUP, None);
        let role = json!({"rules": [
            {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get"]},
            {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}
        ]});
        let got = native_checks("alice", &t, false, false, &[&role]);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].access.to_string(),
            "escalate clusterroles.rbac.authorization.k8s.io \"x\" (cluster-wide)"
        );
        let each: Vec<String> = got[0].or_all_of.iter().map(ToString::to_string).collect();
        assert_eq!(
            each,
            [
                "get pods (cluster-wide)",
                "get pods/log (cluster-wide)",
                "get /healthz"
            ]
        );
        // No rules: nothing to escalate.
        assert!(native_checks("alice", &t, false, false, &[&json!({"rules": []})]).is_empty());
        // Aggregated: escalate only.
        let agg = json!({"aggregationRule": {"clusterRoleSelectors": [{}]}});
        let got = native_checks("alice", &t, false, false, &[&agg]);
        assert!(got[0].or_all_of.is_empty() && got[0].message().contains("an aggregated ClusterRole"));
        // Too many rules to check one by one.
        let verbs: Vec<String> = (0..70).map(|i| format!("v{i}")).collect();
        let big = json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}]});
        let got = native_checks("alice", &t, false, false, &[&big]);
        assert!(got[0].or_all_of.is_empty());
        assert!(
            got[0].message().contains("more than 64 permissions"),
            "{}",
            got[0].message()
        );
    }

    #[test]
    fn denial_lists_missing_rules() {
        let check = AccessCheck {
            access: Access::resource("escalate", RBAC_GROUP, "roles", Some("a"), Some("r")),
            or_all_of: Vec::new(),
            why: Why::Text("no".into()),
        };
        let missing = Access::resource("delete", "", "pods", Some("a"), None);
        let d = access_denial(&check, &[&missing]);
        assert_eq!(d.reason, Reason::AccessForbidden);
        assert_eq!(
            d.message,
            "no (rules you do not hold: delete pods in namespace \"a\")"
        );
    }
}
