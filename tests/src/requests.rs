//! What a cluster's API server says it has served: `apiserver_request_total` from its own `/metrics`. Tests
//! and benchmarks count the controller's member requests this way — the member's view, which no client-side
//! counter can flatter.

use std::collections::HashMap;

use crate::{Error, Result};

/// Requests for `resources` (not their subresources) `client`'s API server has served so far, keyed
/// `<resource> <verb>` (e.g. `configmaps APPLY`). Verbs are the API server's: `GET`, `LIST`, `WATCH`,
/// `POST`, `PUT`, `PATCH`, `APPLY`, `DELETE`.
pub async fn served(client: &kube::Client, resources: &[&str]) -> Result<HashMap<String, u64>> {
    served_matching(client, |resource, subresource| {
        resources
            .contains(&resource)
            .then(|| resource.to_string())
            .filter(|_| subresource.is_empty())
    })
    .await
}

/// Every request the API server served, keyed `"<resource>[/<subresource>] <VERB>"`.
pub async fn served_all(client: &kube::Client) -> Result<HashMap<String, u64>> {
    served_matching(client, |resource, subresource| {
        Some(if subresource.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}/{subresource}")
        })
    })
    .await
}

/// Write requests (as [`writes_reads`] counts them) in `counts` keyed as [`served_all`] keys them.
pub fn writes(counts: &HashMap<String, u64>) -> u64 {
    counts.iter().filter(|(k, _)| is_write(k)).map(|(_, n)| n).sum()
}

/// Whether a key of [`served_all`] counts writes.
pub fn is_write(key: &str) -> bool {
    key.rsplit(' ')
        .next()
        .is_some_and(|verb| WRITE_VERBS.contains(&verb))
}

const WRITE_VERBS: [&str; 5] = ["APPLY", "PATCH", "POST", "PUT", "DELETE"];

/// `apiserver_request_total` summed by verb and the key `key(resource, subresource)` gives (none: skipped).
async fn served_matching(
    client: &kube::Client,
    key: impl Fn(&str, &str) -> Option<String>,
) -> Result<HashMap<String, u64>> {
    let req = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(|e| Error::Other(format!("building the /metrics request: {e}")))?;
    let text = client
        .request_text(req)
        .await
        .map_err(|e| Error::Other(format!("reading the API server's /metrics: {e}")))?;
    let mut counts = HashMap::new();
    for line in text.lines() {
        let Some(labels) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                .and_then(|v| v.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        let Some(key) = key(&label("resource"), &label("subresource")) else {
            continue;
        };
        let count: f64 = line.rsplit(' ').next().unwrap_or("0").parse().unwrap_or(0.0);
        *counts.entry(format!("{key} {}", label("verb"))).or_insert(0) += count as u64;
    }
    Ok(counts)
}

/// `now - before`, keeping only what grew.
pub fn delta(now: &HashMap<String, u64>, before: &HashMap<String, u64>) -> HashMap<String, u64> {
    now.iter()
        .map(|(k, n)| (k.clone(), n.saturating_sub(before.get(k).copied().unwrap_or(0))))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Writes (`APPLY`, `PATCH`, `POST`, `PUT`, `DELETE`) and single-object reads (`GET`) of `resource` in
/// `counts` (as [`served`] or [`delta`] return them).
pub fn writes_reads(counts: &HashMap<String, u64>, resource: &str) -> (u64, u64) {
    let n = |verb: &str| counts.get(&format!("{resource} {verb}")).copied().unwrap_or(0);
    (WRITE_VERBS.iter().map(|v| n(v)).sum(), n("GET"))
}
