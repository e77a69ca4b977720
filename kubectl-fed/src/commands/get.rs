//! `kubectl fed get clusters`: the joined clusters as a table (NAME, READY, VERSION, LABELS, AGE; `-o wide`
//! adds the API endpoint and the Ready condition's message), or as YAML/JSON.

use anyhow::Context;
use kube::Api;
use kube::api::ListParams;
use kubefed_core::api::{ClusterConditionType, ConditionStatus, KubeFedCluster};

use crate::cli::{Format, GetArgs, GetFormat, GetResource, GlobalArgs};
use crate::client::{Connection, is_not_found, message};
use crate::output;

/// Runs `kubectl fed get`.
pub async fn run(global: &GlobalArgs, args: &GetArgs) -> anyhow::Result<()> {
    match args.resource {
        GetResource::Clusters => clusters(global, args.output).await,
    }
}

async fn clusters(global: &GlobalArgs, format: Option<GetFormat>) -> anyhow::Result<()> {
    let host = Connection::from_args(global)
        .connect(None)
        .await
        .context("while connecting to the host cluster")?;
    let ns = &global.kubefed_namespace;
    let api: Api<KubeFedCluster> = Api::namespaced(host.client.clone(), ns);
    let mut list = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) if is_not_found(&e) => anyhow::bail!(
            "kubefed is not installed on the host cluster (context {:?}): it does not serve KubeFedClusters; \
             install the kubefed chart first",
            host.context
        ),
        Err(e) => {
            return Err(anyhow::anyhow!(message(&e)))
                .with_context(|| host.doing(format!("listing KubeFedClusters in namespace {ns}")));
        }
    };
    list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    match format {
        Some(GetFormat::Yaml | GetFormat::Json) => {
            let mut objects = Vec::with_capacity(list.len());
            for mut kfc in list {
                kfc.metadata.managed_fields = None;
                objects.push(serde_json::to_value(&kfc)?);
            }
            let format = if format == Some(GetFormat::Yaml) {
                Format::Yaml
            } else {
                Format::Json
            };
            // Always a List, as `kubectl get` prints for a collection.
            let list =
                serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects, "metadata": {}});
            output::print_stdout(&output::render(&[list], format)?)
        }
        Some(GetFormat::Wide) | None => {
            if list.is_empty() {
                output::warn(&format!(
                    "no clusters are joined (no KubeFedClusters in namespace {ns}); join one with `kubectl fed join NAME`"
                ));
                return Ok(());
            }
            let now = k8s_openapi::jiff::Timestamp::now();
            let wide = format == Some(GetFormat::Wide);
            let rows: Vec<Vec<String>> = list.iter().map(|k| row(k, now, wide)).collect();
            let mut header = vec!["NAME", "READY", "VERSION", "LABELS", "AGE"];
            if wide {
                header.extend(["API-ENDPOINT", "MESSAGE"]);
            }
            output::print_stdout(&output::table(&header, &rows))
        }
    }
}

/// One table row.
fn row(kfc: &KubeFedCluster, now: k8s_openapi::jiff::Timestamp, wide: bool) -> Vec<String> {
    let status = kfc.status.as_ref();
    let ready = status.and_then(|s| s.condition(ClusterConditionType::Ready));
    let ready_text = match ready.map(|c| c.status) {
        Some(ConditionStatus::True) => "True",
        Some(ConditionStatus::False) => "False",
        _ => "Unknown",
    };
    let labels = kfc
        .metadata
        .labels
        .as_ref()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "<none>".into());
    let age = kfc
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| output::age(now.duration_since(t.0).unsigned_abs()))
        .unwrap_or_else(|| "<unknown>".into());
    let mut cells = vec![
        kfc.metadata.name.clone().unwrap_or_default(),
        ready_text.to_string(),
        status
            .and_then(|s| s.kubernetes_version.clone())
            .unwrap_or_else(|| "<unknown>".into()),
        labels,
        age,
    ];
    if wide {
        cells.push(kfc.spec.api_endpoint.clone());
        let problem = status.and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ != ClusterConditionType::Ready && c.status == ConditionStatus::True)
                .or(ready)
        });
        cells.push(
            problem
                .and_then(|c| c.message.clone().or_else(|| c.reason.clone()))
                .unwrap_or_default(),
        );
    }
    cells
}
