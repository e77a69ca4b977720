//! `kubectl fed federate`: plain manifests in, federated objects out on stdout.
//!
//! Discovery rule: `--offline` never contacts a cluster; `--use-discovery` resolves every kind on the host
//! and fails when it cannot be reached; otherwise the built-in table answers for the default types and the
//! host is asked — with a short connect timeout — only about kinds the table does not know, falling back to
//! a guessed plural (and a warning) when there is no kubeconfig or the host does not answer.
//!
//! Nothing is printed on stdout unless every object converted: a pipeline never gets half the app.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use kubefed_core::manifest::ManifestObject;

use crate::cli::{FederateArgs, GlobalArgs};
use crate::client::Connection;
use crate::discovery::Discovery;
use crate::output;
use crate::types::{Converted, TypeTable, convert};

/// Connect timeout when discovery is only a nicety.
const OPTIONAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs `kubectl fed federate`.
pub async fn run(global: &GlobalArgs, args: &FederateArgs) -> anyhow::Result<()> {
    let objects = super::read_input(&args.input)?;
    let connection = Connection::from_args(global);
    // -n is enforced (an object in another namespace is an error); the context's namespace only fills in.
    let default_namespace = args
        .namespace
        .clone()
        .or_else(|| (!args.offline).then(|| connection.context_namespace()).flatten());
    let default_namespace = default_namespace.as_deref();
    let opts = args.placement.convert_options(args.namespace.clone())?;

    // With --use-discovery the table starts empty, so every kind the conversion asks about is discovered.
    let mut table = if args.use_discovery {
        TypeTable::default()
    } else {
        TypeTable::builtin()
    };
    let first = convert(objects.iter().cloned(), &table, &opts, default_namespace)?;
    let converted = if args.offline || first.missed.is_empty() {
        first
    } else if args.use_discovery {
        let host = connection
            .connect(None)
            .await
            .context("while connecting to the host for --use-discovery")?;
        let mut discovery = Discovery::new(host);
        resolve_into(&mut discovery, &first.missed, &mut table, true).await?;
        convert(objects, &table, &opts, default_namespace)?
    } else {
        discover_missed(&connection, objects, first, &mut table, &opts, default_namespace).await?
    };
    let Converted { batch, .. } = converted;

    for w in &batch.warnings {
        output::warn(w);
    }
    let mut failed = 0;
    let mut out = Vec::with_capacity(batch.items.len());
    for item in batch.items {
        match item.result {
            Ok(fed) => {
                for w in &fed.warnings {
                    output::warn(&format!("{}: {w}", item.source));
                }
                out.push(fed.object);
            }
            Err(e) => {
                failed += 1;
                output::error(&format!("{}: {e}", item.source));
            }
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} objects could not be federated; nothing was printed",
            out.len() + failed
        );
    }
    output::print_stdout(&output::render(&out, args.output)?)
}

/// Asks the host about the kinds the built-in table missed, if it answers; converts again when it did.
async fn discover_missed(
    connection: &Connection,
    objects: Vec<ManifestObject>,
    first: Converted,
    table: &mut TypeTable,
    opts: &kubefed_core::ConvertOptions,
    default_namespace: Option<&str>,
) -> anyhow::Result<Converted> {
    let kinds = first
        .missed
        .iter()
        .map(|(v, k)| format!("{k} ({v})"))
        .collect::<Vec<_>>()
        .join(", ");
    let host = match connection.kubeconfig() {
        Ok(Some(_)) => connection.connect(Some(OPTIONAL_CONNECT_TIMEOUT)).await,
        Ok(None) => {
            tracing::info!("no kubeconfig: guessing the resource names of {kinds}");
            return Ok(first);
        }
        Err(e) => Err(e),
    };
    let mut discovery = match host {
        Ok(host) => Discovery::new(host),
        Err(e) => {
            output::warn(&format!(
                "cannot reach the host for discovery ({e:#}); guessing the resource names of {kinds} (pass \
                 --offline to skip discovery)"
            ));
            return Ok(first);
        }
    };
    if let Err(e) = resolve_into(&mut discovery, &first.missed, table, false).await {
        output::warn(&format!(
            "discovery on the host failed ({e:#}); guessing the resource names of {kinds} (pass --offline to \
             skip discovery)"
        ));
        return Ok(first);
    }
    convert(objects, table, opts, default_namespace)
}

/// Resolves each (apiVersion, kind) by discovery into `table`. A kind the host does not serve is an error
/// when `required`, else a warning (the conversion then guesses).
async fn resolve_into(
    discovery: &mut Discovery,
    pairs: &BTreeSet<(String, String)>,
    table: &mut TypeTable,
    required: bool,
) -> anyhow::Result<()> {
    for (api_version, kind) in pairs {
        match discovery.resolve_kind(api_version, kind).await? {
            Some(resource) => {
                let has_replicas = discovery.has_replicas(&resource).await.unwrap_or(false);
                table.insert(resource.target(has_replicas));
            }
            None if required => anyhow::bail!(
                "the host does not serve {kind} in {api_version}; install its CRD or fix the apiVersion"
            ),
            None => output::warn(&format!("the host does not serve {kind} in {api_version}")),
        }
    }
    Ok(())
}
