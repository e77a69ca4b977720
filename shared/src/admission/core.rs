//! Admission of the `core.kubefed.io` kinds: KubeFed's own validations of FederatedTypeConfig,
//! KubeFedCluster and KubeFedConfig, and the defaulting of KubeFedConfig.
//!
//! What the CRD schemas already enforce (required fields, enum values, types) is not repeated; what they
//! cannot say is checked here:
//! - **FederatedTypeConfig**: the name is `<targetType.pluralName>[.<targetType.group>]` (KubeFed's rule);
//!   names, groups and kinds are well formed; the federated type's scope matches the target's (a
//!   FederatedNamespace is namespaced); no two configs federate the same kind. Warnings: a federated group
//!   other than `types.kubefed.io` or a kind other than `Federated<Kind>`, and a config outside the system
//!   namespace (the controller does not read it).
//! - **KubeFedCluster**: `apiEndpoint` is a URL or `host[:port]`; `secretRef.name` is a Secret name;
//!   `caBundle` holds a PEM certificate; `disabledTLSValidations` lists `*` alone; `proxyURL` is an
//!   http(s)/socks5 URL. Warning: a cluster outside the system namespace.
//! - **KubeFedConfig** (checked with defaults applied, as the mutating webhook stores it): durations parse;
//!   `leaseDuration > renewDeadline > retryPeriod`; thresholds and concurrency are at least 1; the lock kind
//!   and feature gates are known, each gate listed once. Warnings: a config not named `kubefed` or outside
//!   the system namespace (the controller reads only that one), a probe timeout not below its period.

use std::collections::BTreeMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, PatchOperation};
use kube::core::DynamicObject;

use super::names::{dns1123_label, dns1123_subdomain};
use super::{AdmissionInput, Findings, Mutation, Snapshot, decode_spec};
use crate::api::constants::KUBEFED_CONFIG_NAME;
use crate::api::{
    ApiResourceRef, FederatedTypeConfig, FederatedTypeConfigSpec, KubeFedClusterSpec, KubeFedConfigSpec,
    TlsValidation, parse_duration,
};
use crate::policy::validation::looks_like_kind;
use crate::typeinfo::{FEDERATED_GROUP, Scope};

/// Feature gates KubeFed knows.
pub const KNOWN_FEATURE_GATES: &[&str] = &[
    "PushReconciler",
    "SchedulerPreferences",
    "CrossClusterServiceDiscovery",
    "FederatedIngress",
    "RawResourceStatusCollection",
];

/// Lock kinds a `leaderElect.resourceLock` may name.
pub const KNOWN_RESOURCE_LOCKS: &[&str] = &[
    "leases",
    "configmaps",
    "endpoints",
    "configmapsleases",
    "endpointsleases",
];

fn scope_str(scope: Scope) -> &'static str {
    match scope {
        Scope::Namespaced => "Namespaced",
        Scope::Cluster => "Cluster",
    }
}

/// Validates a FederatedTypeConfig.
pub fn validate_type_config(
    input: &AdmissionInput<'_>,
    object: &DynamicObject,
    snapshot: &Snapshot,
) -> Findings {
    let mut f = Findings::default();
    let spec: FederatedTypeConfigSpec = match decode_spec(object) {
        Ok(spec) => spec,
        Err(e) => {
            f.error(e);
            return f;
        }
    };
    let name = input.object_name();
    let mut ftc = FederatedTypeConfig::new(name, spec);
    ftc.metadata = object.metadata.clone();
    let target = ftc.target();
    let t = &ftc.spec.target_type;

    // KubeFed: the name is the target's group-qualified plural.
    let (name_plural, name_group) = name.split_once('.').unwrap_or((name, ""));
    let explicit_plural = (!t.plural_name.is_empty()).then_some(t.plural_name.as_str());
    let explicit_group = (!t.group.is_empty()).then_some(t.group.as_str());
    if explicit_plural.is_some_and(|p| p != name_plural) || explicit_group.is_some_and(|g| g != name_group) {
        f.error(format!(
            "metadata.name {name:?} must be {:?} (<targetType.pluralName>.<targetType.group>, or the plural alone \
             for the core group); rename the FederatedTypeConfig or fix spec.targetType",
            target.type_config_name()
        ));
    }
    if name == "namespaces" && !target.is_namespace() {
        f.error(
            "metadata.name \"namespaces\" is reserved for the core Namespace type; set spec.targetType to \
             {version: v1, kind: Namespace, scope: Cluster}"
                .to_string(),
        );
    }
    check_resource(
        "spec.targetType",
        t,
        Some((&target.plural, &target.group)),
        &mut f,
    );
    let fed = &ftc.spec.federated_type;
    check_resource("spec.federatedType", fed, None, &mut f);
    if fed.plural_name.is_empty() {
        f.error(
            "spec.federatedType.pluralName is empty; set it, e.g. federated<plural of the target>"
                .to_string(),
        );
    }
    if fed.group.is_empty() {
        f.error(format!(
            "spec.federatedType.group is empty; set it to {FEDERATED_GROUP}"
        ));
    } else if fed.group != FEDERATED_GROUP {
        f.warn(format!(
            "spec.federatedType.group {:?} is not {FEDERATED_GROUP}: the admission webhook and the chart cover only \
             {FEDERATED_GROUP}, so objects of this type are not validated",
            fed.group
        ));
    }
    if !fed.kind.is_empty() && looks_like_kind(&target.kind) && fed.kind != target.federated_kind() {
        f.warn(format!(
            "spec.federatedType.kind {:?} is not {:?}; kubectl fed and the docs assume Federated<Kind>",
            fed.kind,
            target.federated_kind()
        ));
    }
    let want_scope = target.federated_scope();
    if fed.scope != want_scope {
        f.error(format!(
            "spec.federatedType.scope is {} but must be {} for a target of scope {}{}; set it to {}",
            scope_str(fed.scope),
            scope_str(want_scope),
            scope_str(target.scope),
            if target.is_namespace() {
                " (a FederatedNamespace lives in the namespace it federates)"
            } else {
                ""
            },
            scope_str(want_scope)
        ));
    }
    if let Some(other) = snapshot
        .types
        .iter()
        .find(|e| e.config_name != name && e.federated.kind == fed.kind && e.federated.group == fed.group)
    {
        f.error(format!(
            "spec.federatedType: FederatedTypeConfig {:?} already federates {} ({}); two configs cannot share a \
             federated type, so delete one of them",
            other.config_name, fed.kind, fed.group
        ));
    }
    let system_namespace = &snapshot.settings.system_namespace;
    if object
        .metadata
        .namespace
        .as_deref()
        .is_some_and(|ns| ns != system_namespace)
    {
        f.warn(format!(
            "the controller reads FederatedTypeConfigs only in namespace {system_namespace}, so this one has no effect; \
             create it there"
        ));
    }
    f
}

/// Checks one `APIResource` of a FederatedTypeConfig; `defaulted` is the (plural, group) after defaulting from
/// the name, for the target type.
fn check_resource(field: &str, r: &ApiResourceRef, defaulted: Option<(&String, &String)>, f: &mut Findings) {
    if r.kind.is_empty() {
        f.error(format!(
            "{field}.kind is empty; set the CamelCase kind, e.g. Deployment"
        ));
    } else if !looks_like_kind(&r.kind) {
        f.error(format!(
            "{field}.kind {:?} is not a CamelCase kind (a capital letter, then letters and digits), e.g. Deployment",
            r.kind
        ));
    }
    if r.version.is_empty() {
        f.error(format!("{field}.version is empty; set it, e.g. v1"));
    } else if let Err(why) = dns1123_label(&r.version) {
        f.error(format!("{field}.version: {why}"));
    }
    let (plural, group) = defaulted.map_or((&r.plural_name, &r.group), |(p, g)| (p, g));
    if !plural.is_empty()
        && let Err(why) = dns1123_label(plural)
    {
        f.error(format!("{field}.pluralName: {why}"));
    }
    if !group.is_empty()
        && let Err(why) = dns1123_subdomain(group)
    {
        f.error(format!("{field}.group: {why}"));
    }
}

/// Validates a KubeFedCluster.
pub fn validate_cluster(object: &DynamicObject, snapshot: &Snapshot) -> Findings {
    let mut f = Findings::default();
    let spec: KubeFedClusterSpec = match decode_spec(object) {
        Ok(spec) => spec,
        Err(e) => {
            f.error(e);
            return f;
        }
    };
    if let Err(why) = check_endpoint(&spec.api_endpoint, &["https", "http"]) {
        f.error(format!(
            "spec.apiEndpoint {:?} {why}; write the member API server's URL, e.g. https://10.0.0.1:6443",
            spec.api_endpoint
        ));
    }
    if spec.secret_ref.name.is_empty() {
        f.error(format!(
            "spec.secretRef.name is empty; name the Secret (in {}) whose \"token\" key authenticates to the member",
            snapshot.settings.system_namespace
        ));
    } else if let Err(why) = dns1123_subdomain(&spec.secret_ref.name) {
        f.error(format!("spec.secretRef.name: {why}"));
    }
    if let Some(ca) = &spec.ca_bundle {
        let text = String::from_utf8_lossy(&ca.0);
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            f.error(
                "spec.caBundle does not hold a PEM certificate; set it to the base64 of the member CA's PEM file \
                 (e.g. base64 -w0 ca.crt)"
                    .to_string(),
            );
        }
    }
    let tls = &spec.disabled_tls_validations;
    if tls.contains(&TlsValidation::All) && tls.len() > 1 {
        f.error(
            "spec.disabledTLSValidations lists \"*\" with other values; \"*\" disables every check and must be the \
             only entry"
                .to_string(),
        );
    }
    for (i, v) in tls.iter().enumerate() {
        if tls[..i].contains(v) {
            f.warn(format!(
                "spec.disabledTLSValidations[{i}] repeats an earlier entry; remove it"
            ));
        }
    }
    if let Some(proxy) = spec.proxy_url.as_deref().filter(|p| !p.is_empty())
        && let Err(why) = check_endpoint(proxy, &["http", "https", "socks5"]).and_then(|()| {
            if proxy.contains("://") {
                Ok(())
            } else {
                Err("has no scheme".to_string())
            }
        })
    {
        f.error(format!(
            "spec.proxyURL {proxy:?} {why}; write a proxy URL such as http://proxy.example:3128"
        ));
    }
    warn_outside_system_namespace(object, "KubeFedClusters", snapshot, &mut f);
    f
}

/// Checks `scheme://host[:port][/path]` (scheme one of `schemes`) or `host[:port]`.
fn check_endpoint(endpoint: &str, schemes: &[&str]) -> Result<(), String> {
    if endpoint.trim().is_empty() {
        return Err("is empty".to_string());
    }
    let rest = match endpoint.split_once("://") {
        Some((scheme, rest)) => {
            if !schemes.contains(&scheme) {
                return Err(format!("has scheme {scheme:?}; use {}", schemes.join(" or ")));
            }
            rest
        }
        None => endpoint,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, rest)) => (h, rest.strip_prefix(':')),
            None => return Err("has an unclosed [ in its IPv6 address".to_string()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("has no host".to_string());
    }
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(n) if n > 0)
    {
        return Err(format!("has an invalid port {p:?}"));
    }
    Ok(())
}

fn warn_outside_system_namespace(object: &DynamicObject, what: &str, snapshot: &Snapshot, f: &mut Findings) {
    let system_namespace = &snapshot.settings.system_namespace;
    if object
        .metadata
        .namespace
        .as_deref()
        .is_some_and(|ns| ns != system_namespace)
    {
        f.warn(format!(
            "the controller reads {what} only in namespace {system_namespace}, so this one has no effect; create it there"
        ));
    }
}

/// Validates a KubeFedConfig, with defaults applied first (as the mutating webhook stores it).
pub fn validate_config(object: &DynamicObject, snapshot: &Snapshot) -> Findings {
    let mut f = Findings::default();
    let spec: KubeFedConfigSpec = match decode_spec(object) {
        Ok(spec) => spec,
        Err(e) => {
            f.error(e);
            return f;
        }
    };
    let spec = spec.with_defaults();
    let mut durations = BTreeMap::new();
    let mut duration = |field: &'static str, value: &Option<String>, f: &mut Findings| {
        if let Some(v) = value {
            match parse_duration(v) {
                Ok(d) => {
                    durations.insert(field, d);
                }
                Err(e) => f.error(format!("{field}: {e}")),
            }
        }
    };
    if let Some(d) = &spec.controller_duration {
        duration(
            "spec.controllerDuration.availableDelay",
            &d.available_delay,
            &mut f,
        );
        duration(
            "spec.controllerDuration.unavailableDelay",
            &d.unavailable_delay,
            &mut f,
        );
        duration(
            "spec.controllerDuration.cacheSyncTimeout",
            &d.cache_sync_timeout,
            &mut f,
        );
    }
    if let Some(l) = &spec.leader_elect {
        duration("spec.leaderElect.leaseDuration", &l.lease_duration, &mut f);
        duration("spec.leaderElect.renewDeadline", &l.renew_deadline, &mut f);
        duration("spec.leaderElect.retryPeriod", &l.retry_period, &mut f);
        if let Some(lock) = &l.resource_lock
            && !KNOWN_RESOURCE_LOCKS.contains(&lock.as_str())
        {
            f.error(format!(
                "spec.leaderElect.resourceLock {lock:?} is not a lock kind; use one of {}",
                KNOWN_RESOURCE_LOCKS.join(", ")
            ));
        }
    }
    if let Some(h) = &spec.cluster_health_check {
        duration("spec.clusterHealthCheck.period", &h.period, &mut f);
        duration("spec.clusterHealthCheck.timeout", &h.timeout, &mut f);
        for (field, value) in [
            ("spec.clusterHealthCheck.failureThreshold", h.failure_threshold),
            ("spec.clusterHealthCheck.successThreshold", h.success_threshold),
        ] {
            if let Some(n) = value
                && n < 1
            {
                f.error(format!("{field} is {n}; it must be 1 or more"));
            }
        }
    }
    for (field, value) in [
        (
            "spec.syncController.maxConcurrentReconciles",
            spec.sync_controller
                .as_ref()
                .and_then(|s| s.max_concurrent_reconciles),
        ),
        (
            "spec.statusController.maxConcurrentReconciles",
            spec.status_controller
                .as_ref()
                .and_then(|s| s.max_concurrent_reconciles),
        ),
    ] {
        if let Some(n) = value
            && n < 1
        {
            f.error(format!(
                "{field} is {n}; it must be 1 or more (or unset for the default)"
            ));
        }
    }
    let get = |k: &str| durations.get(k).copied();
    if let (Some(lease), Some(renew)) = (
        get("spec.leaderElect.leaseDuration"),
        get("spec.leaderElect.renewDeadline"),
    ) && lease <= renew
    {
        f.error(format!(
            "spec.leaderElect.leaseDuration ({lease:?}) must be longer than renewDeadline ({renew:?}); raise \
             leaseDuration or lower renewDeadline"
        ));
    }
    if let (Some(renew), Some(retry)) = (
        get("spec.leaderElect.renewDeadline"),
        get("spec.leaderElect.retryPeriod"),
    ) && renew <= retry
    {
        f.error(format!(
            "spec.leaderElect.renewDeadline ({renew:?}) must be longer than retryPeriod ({retry:?}); raise \
             renewDeadline or lower retryPeriod"
        ));
    }
    if let (Some(period), Some(timeout)) = (
        get("spec.clusterHealthCheck.period"),
        get("spec.clusterHealthCheck.timeout"),
    ) && timeout >= period
    {
        f.warn(format!(
            "spec.clusterHealthCheck.timeout ({timeout:?}) is not shorter than its period ({period:?}), so probes \
             overlap; lower the timeout"
        ));
    }
    for (i, gate) in spec.feature_gates.iter().flatten().enumerate() {
        if let Some(first) = spec
            .feature_gates
            .iter()
            .flatten()
            .take(i)
            .position(|g| g.name == gate.name)
        {
            f.error(format!(
                "spec.featureGates[{i}]: gate {:?} is listed twice (first at [{first}]); keep one",
                gate.name
            ));
        } else if !KNOWN_FEATURE_GATES.contains(&gate.name.as_str()) {
            f.warn(format!(
                "spec.featureGates[{i}]: unknown feature gate {:?} is ignored; known gates: {}",
                gate.name,
                KNOWN_FEATURE_GATES.join(", ")
            ));
        }
    }
    if object
        .metadata
        .name
        .as_deref()
        .is_some_and(|n| n != KUBEFED_CONFIG_NAME)
    {
        f.warn(format!(
            "the controller reads only the KubeFedConfig named {KUBEFED_CONFIG_NAME:?}, so this one has no effect"
        ));
    }
    warn_outside_system_namespace(object, "the KubeFedConfig", snapshot, &mut f);
    f
}

/// Defaults a KubeFedConfig with [`KubeFedConfigSpec::with_defaults`]: one `add /spec` of the defaulted spec,
/// or nothing when it is already complete (or does not decode; validation reports that).
pub fn default_config(object: &DynamicObject, m: &mut Mutation) {
    let Ok(spec) = decode_spec::<KubeFedConfigSpec>(object) else {
        return;
    };
    let defaulted = spec.clone().with_defaults();
    if defaulted == spec {
        return;
    }
    let Ok(value) = serde_json::to_value(&defaulted) else {
        return;
    };
    m.patch.push(PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(["spec"]),
        value,
    }));
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints() {
        for ok in [
            "https://10.0.0.1:6443",
            "https://api.example.com",
            "10.0.0.1",
            "api.example.com:6443",
            "https://[::1]:6443/prefix",
            "http://user@host:80",
        ] {
            assert_eq!(check_endpoint(ok, &["https", "http"]), Ok(()), "{ok}");
        }
        for (bad, want) in [
            ("", "is empty"),
            ("ftp://x", "has scheme \"ftp\"; use https or http"),
            ("https://", "has no host"),
            ("https://host:0", "has an invalid port \"0\""),
            ("host:http", "has an invalid port \"http\""),
            ("https://[::1", "has an unclosed [ in its IPv6 address"),
        ] {
            assert_eq!(
                check_endpoint(bad, &["https", "http"]),
                Err(want.to_string()),
                "{bad}"
            );
        }
    }
}
