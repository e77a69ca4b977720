//! Label selectors: does a Kubernetes `LabelSelector` select a set of labels?
//!
//! Placement (`spec.placement.clusterSelector`) and label-based overrides (`spec.overrides[].clusterSelector`)
//! both select KubeFedClusters by their labels, so the evaluation lives here once. It follows
//! `k8s.io/apimachinery`'s `LabelSelectorAsSelector`: `matchLabels` and every `matchExpressions` entry must
//! hold (AND); operators are `In`, `NotIn`, `Exists`, `DoesNotExist`; the empty selector `{}` selects
//! everything. A malformed selector is an error naming the offending field rather than a silent "no match",
//! so a typo in a placement shows up on the object's status instead of quietly placing it nowhere.
//!
//! Also parses the `key=value,...` strings `kubectl fed --cluster-selector` and `kubectl fed join --labels`
//! take ([`parse_cluster_selector`]), and checks label keys and values with Kubernetes' rules.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// A malformed label selector. `field` is relative to the selector (e.g. `matchExpressions[1].values`);
/// callers prefix it with where the selector sits (e.g. `spec.placement.clusterSelector`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// An operator other than `In`, `NotIn`, `Exists`, `DoesNotExist`.
    #[error("{field}: unknown operator {operator:?}; use In, NotIn, Exists or DoesNotExist")]
    UnknownOperator {
        /// Path of the operator field, e.g. `matchExpressions[0].operator`.
        field: String,
        /// The operator given.
        operator: String,
    },
    /// `In` / `NotIn` without values.
    #[error("{field}: operator {operator} needs at least one value")]
    MissingValues {
        /// Path of the values field, e.g. `matchExpressions[0].values`.
        field: String,
        /// `In` or `NotIn`.
        operator: String,
    },
    /// `Exists` / `DoesNotExist` with values.
    #[error("{field}: operator {operator} takes no values; remove them")]
    UnexpectedValues {
        /// Path of the values field.
        field: String,
        /// `Exists` or `DoesNotExist`.
        operator: String,
    },
    /// A requirement with an empty key.
    #[error("{field}: the key is empty; name the label")]
    EmptyKey {
        /// Path of the key field.
        field: String,
    },
    /// A `--cluster-selector` string that is not `key=value[,key=value...]`.
    #[error("invalid cluster selector {selector:?}: {reason}")]
    Parse {
        /// The string given.
        selector: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Whether `selector` selects an object with `labels`.
///
/// The empty selector (`{}`, or empty `matchLabels`/`matchExpressions`) matches everything. Errors when the
/// selector is malformed, whatever the labels (so the error is reported deterministically).
///
/// ```
/// use std::collections::BTreeMap;
/// use kubefed_core::selector::{parse_selector, selector_matches};
/// let sel = parse_selector("region=eu")?;
/// let labels = BTreeMap::from([("region".to_string(), "eu".to_string())]);
/// assert!(selector_matches(&sel, &labels)?);
/// # Ok::<(), kubefed_core::selector::SelectorError>(())
/// ```
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, SelectorError> {
    validate_selector(selector)?;
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = selector
        .match_expressions
        .iter()
        .flatten()
        .all(|req| requirement_matches(req, labels));
    Ok(labels_ok && exprs_ok)
}

/// Checks that `selector` is well formed: known operators, values present exactly where the operator needs
/// them, non-empty keys.
pub fn validate_selector(selector: &LabelSelector) -> Result<(), SelectorError> {
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let field = |f: &str| format!("matchExpressions[{i}].{f}");
        if req.key.is_empty() {
            return Err(SelectorError::EmptyKey { field: field("key") });
        }
        let has_values = req.values.as_ref().is_some_and(|v| !v.is_empty());
        match req.operator.as_str() {
            "In" | "NotIn" if !has_values => {
                return Err(SelectorError::MissingValues {
                    field: field("values"),
                    operator: req.operator.clone(),
                });
            }
            "Exists" | "DoesNotExist" if has_values => {
                return Err(SelectorError::UnexpectedValues {
                    field: field("values"),
                    operator: req.operator.clone(),
                });
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            _ => {
                return Err(SelectorError::UnknownOperator {
                    field: field("operator"),
                    operator: req.operator.clone(),
                });
            }
        }
    }
    for key in selector.match_labels.iter().flatten().map(|(k, _)| k) {
        if key.is_empty() {
            return Err(SelectorError::EmptyKey {
                field: "matchLabels".to_string(),
            });
        }
    }
    Ok(())
}

/// Whether the selector is empty, i.e. selects everything.
pub fn selects_everything(selector: &LabelSelector) -> bool {
    selector.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && selector.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// Evaluates one (already validated) requirement.
fn requirement_matches(req: &LabelSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&req.key);
    let in_values = |v: &String| req.values.iter().flatten().any(|x| x == v);
    match req.operator.as_str() {
        "In" => value.is_some_and(in_values),
        // As in Kubernetes: a missing label satisfies NotIn.
        "NotIn" => !value.is_some_and(in_values),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    }
}

/// Parses `kubectl fed --cluster-selector`'s `key=value[,key2=value2...]` (also `key==value`) into a
/// `matchLabels` selector. `!=`, `in (...)` and `notin (...)` are refused with an error saying so.
pub fn parse_selector(selector: &str) -> Result<LabelSelector, SelectorError> {
    Ok(LabelSelector {
        match_labels: Some(parse_cluster_selector(selector)?),
        match_expressions: None,
    })
}

/// Parses `--cluster-selector`: comma-separated `key=value` (or `key==value`) label pairs.
///
/// ```
/// let m = kubefed_core::selector::parse_cluster_selector("region=eu, tier==prod").expect("valid");
/// assert_eq!(m.get("tier").map(String::as_str), Some("prod"));
/// ```
pub fn parse_cluster_selector(selector: &str) -> Result<BTreeMap<String, String>, SelectorError> {
    let fail = |reason: String| SelectorError::Parse {
        selector: selector.to_string(),
        reason,
    };
    if selector.trim().is_empty() {
        return Err(fail(
            "it is empty; give label pairs like region=eu,tier=prod, or leave the selector out to place on all \
             clusters"
                .into(),
        ));
    }
    let mut labels = BTreeMap::new();
    for pair in selector.split(',').map(str::trim) {
        let Some((key, value)) = pair.split_once("==").or_else(|| pair.split_once('=')) else {
            return Err(fail(format!("{pair:?} is not a key=value pair")));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.ends_with('!') || key.contains(' ') {
            return Err(fail(format!(
                "{pair:?}: only key=value pairs are supported (no !=, in or notin)"
            )));
        }
        check_label(key, value).map_err(|reason| fail(format!("{pair:?}: {reason}")))?;
        if let Some(old) = labels.insert(key.to_string(), value.to_string())
            && old != value
        {
            return Err(fail(format!(
                "label {key:?} is given twice, as {old:?} and {value:?}"
            )));
        }
    }
    Ok(labels)
}

/// Checks a label key and value with Kubernetes' rules.
pub(crate) fn check_label(key: &str, value: &str) -> Result<(), String> {
    fn name_ok(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    }
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        let dns_ok = !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && !part.starts_with('-')
                    && !part.ends_with('-')
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        if !dns_ok {
            return Err(format!(
                "label key prefix {p:?} must be a DNS subdomain, like example.com"
            ));
        }
    }
    if !name_ok(name) {
        return Err(format!(
            "label key {key:?} must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter \
             or digit"
        ));
    }
    if !value.is_empty() && !name_ok(value) {
        return Err(format!(
            "label value {value:?} must be at most 63 letters, digits, '-', '_' or '.', starting and ending with \
             a letter or digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn sel(v: serde_json::Value) -> LabelSelector {
        serde_json::from_value(v).expect("test selector decodes")
    }

    #[test]
    fn matching() {
        struct Case {
            name: &'static str,
            selector: serde_json::Value,
            labels: &'static [(&'static str, &'static str)],
            want: bool,
        }
        let eu = &[("region", "eu"), ("tier", "prod")][..];
        let cases = [
            Case {
                name: "empty matches all",
                selector: json!({}),
                labels: eu,
                want: true,
            },
            Case {
                name: "empty matches no labels",
                selector: json!({}),
                labels: &[],
                want: true,
            },
            Case {
                name: "empty matchLabels",
                selector: json!({"matchLabels": {}}),
                labels: &[],
                want: true,
            },
            Case {
                name: "matchLabels hit",
                selector: json!({"matchLabels": {"region": "eu"}}),
                labels: eu,
                want: true,
            },
            Case {
                name: "matchLabels miss",
                selector: json!({"matchLabels": {"region": "us"}}),
                labels: eu,
                want: false,
            },
            Case {
                name: "matchLabels all must hold",
                selector: json!({"matchLabels": {"region": "eu", "tier": "dev"}}),
                labels: eu,
                want: false,
            },
            Case {
                name: "In hit",
                selector: json!({"matchExpressions": [{"key": "region", "operator": "In", "values": ["us", "eu"]}]}),
                labels: eu,
                want: true,
            },
            Case {
                name: "In missing label",
                selector: json!({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}),
                labels: eu,
                want: false,
            },
            Case {
                name: "NotIn hit",
                selector: json!({"matchExpressions": [{"key": "region", "operator": "NotIn", "values": ["eu"]}]}),
                labels: eu,
                want: false,
            },
            Case {
                name: "NotIn missing label matches",
                selector: json!({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}),
                labels: eu,
                want: true,
            },
            Case {
                name: "Exists",
                selector: json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                labels: eu,
                want: true,
            },
            Case {
                name: "Exists missing",
                selector: json!({"matchExpressions": [{"key": "gpu", "operator": "Exists", "values": []}]}),
                labels: eu,
                want: false,
            },
            Case {
                name: "DoesNotExist",
                selector: json!({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}),
                labels: eu,
                want: true,
            },
            Case {
                name: "labels and expressions AND",
                selector: json!({"matchLabels": {"region": "eu"},
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["dev"]}]}),
                labels: eu,
                want: false,
            },
        ];
        for c in cases {
            let got = selector_matches(&sel(c.selector), &labels(c.labels));
            assert_eq!(got, Ok(c.want), "{}", c.name);
        }
    }

    #[test]
    fn malformed_selectors_name_the_field() {
        struct Case {
            name: &'static str,
            selector: serde_json::Value,
            want: &'static str,
        }
        let cases = [
            Case {
                name: "unknown operator",
                selector: json!({"matchExpressions": [{"key": "a", "operator": "Exists"},
                    {"key": "b", "operator": "Equals", "values": ["x"]}]}),
                want: "matchExpressions[1].operator: unknown operator \"Equals\"",
            },
            Case {
                name: "In without values",
                selector: json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
                want: "matchExpressions[0].values: operator In needs at least one value",
            },
            Case {
                name: "NotIn with empty values",
                selector: json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]}),
                want: "matchExpressions[0].values: operator NotIn needs",
            },
            Case {
                name: "Exists with values",
                selector: json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                want: "matchExpressions[0].values: operator Exists takes no values",
            },
            Case {
                name: "empty key",
                selector: json!({"matchExpressions": [{"key": "", "operator": "Exists"}]}),
                want: "matchExpressions[0].key: the key is empty",
            },
        ];
        for c in cases {
            let err = selector_matches(&sel(c.selector), &BTreeMap::new()).expect_err(c.name);
            assert!(err.to_string().starts_with(c.want), "{}: {err}", c.name);
        }
    }

    #[test]
    fn parsing() {
        struct Case {
            name: &'static str,
            input: &'static str,
            want: Result<&'static [(&'static str, &'static str)], &'static str>,
        }
        let cases = [
            Case {
                name: "one",
                input: "region=eu",
                want: Ok(&[("region", "eu")]),
            },
            Case {
                name: "two with spaces",
                input: "region=eu, tier==prod",
                want: Ok(&[("region", "eu"), ("tier", "prod")]),
            },
            Case {
                name: "prefixed key",
                input: "example.com/zone=a",
                want: Ok(&[("example.com/zone", "a")]),
            },
            Case {
                name: "empty",
                input: "",
                want: Err("it is empty"),
            },
            Case {
                name: "not equal",
                input: "region!=eu",
                want: Err("only key=value pairs"),
            },
            Case {
                name: "set based",
                input: "region in (eu,us)",
                want: Err("is not a key=value pair"),
            },
            Case {
                name: "bad value",
                input: "region=-eu",
                want: Err("label value"),
            },
        ];
        for c in cases {
            let got = parse_selector(c.input);
            match (got, c.want) {
                (Ok(s), Ok(want)) => {
                    assert_eq!(s.match_labels, Some(labels(want)), "{}", c.name);
                    assert_eq!(s.match_expressions, None, "{}", c.name);
                }
                (Err(e), Err(want)) => {
                    assert!(matches!(e, SelectorError::Parse { .. }), "{}", c.name);
                    assert!(e.to_string().contains(want), "{}: {e}", c.name);
                }
                (got, want) => panic!("{}: got {got:?}, want {want:?}", c.name),
            }
        }
    }

    #[test]
    fn selects_everything_only_when_empty() {
        assert!(selects_everything(&sel(json!({}))));
        assert!(selects_everything(&sel(
            json!({"matchLabels": {}, "matchExpressions": []})
        )));
        assert!(!selects_everything(&sel(json!({"matchLabels": {"a": "b"}}))));
    }
}
