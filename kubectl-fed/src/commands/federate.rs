//! `kubectl fed federate`: plain manifests in, federated objects out on stdout.
//!
//! Discovery rule: `--offline` never contacts a cluster; `--use-discovery` resolves every kind on the host
//! and fails when it cannot be reached; otherwise the built-in table (every built-in Kubernetes kind, plus
//! the CRDs in the input) answers, and the host is asked — with a short connect timeout — only about kinds
//! it does not know, falling back to a guessed plural (and a warning) when there is no kubeconfig or the
//! host does not answer.
//!
//! Streaming: each object is converted and rendered as soon as it is read, and dropped; only the rendered
//! text is kept, because nothing is printed on stdout unless every object converted (a pipeline never gets
//! half the app). Objects of kinds the table does not know are held until the input is read (see
//! [`crate::types`]). Every bad object — unreadable or unconvertible — is reported, not only the first.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use kubefed_core::convert::{BatchItem, Federator};

use crate::cli::{FederateArgs, GlobalArgs};
use crate::client::Connection;
use crate::discovery::Discovery;
use crate::output::{self, Rendered};
use crate::types::{Admission, TypeTable, resolver};

/// Connect timeout when discovery is only a nicety.
const OPTIONAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs `kubectl fed federate`.
pub async fn run(global: &GlobalArgs, args: &FederateArgs) -> anyhow::Result<()> {
    let connection = Connection::from_args(global);
    // kubectl's rules: -n, else the object's own, else the context's namespace (offline too: reading the
    // kubeconfig is not contacting a cluster), else `default`.
    let context_namespace = connection.context_namespace();
    let opts = args.placement.convert_options(
        args.namespace.clone(),
        Some(context_namespace.unwrap_or_else(|| "default".into())),
        &args.allow,
    )?;

    // With --use-discovery the table starts empty, so every kind is discovered.
    let table = RefCell::new(if args.use_discovery {
        TypeTable::default()
    } else {
        TypeTable::builtin()
    });
    let resolve = resolver(&table);
    let mut federator = Federator::new(&resolve, &opts)
        .map_err(anyhow::Error::new)
        .context(crate::types::OPTIONS_CONTEXT)?;
    for w in federator.warnings() {
        output::warn(w);
    }
    let mut rendered = Rendered::new(args.output);
    let mut admission = Admission::default();
    let mut spots = Vec::new();
    let mut report = Report::default();
    let mut render_failure = None;
    let mut stdin = std::io::stdin().lock();
    crate::input::for_each(
        &args.input.filenames,
        args.input.recursive,
        &mut stdin,
        &mut |item| {
            let obj = match item {
                Ok(obj) => obj,
                Err(e) => {
                    report.bad(&e);
                    return;
                }
            };
            report.objects += 1;
            match admission.admit(&table, obj) {
                Some(obj) => {
                    let item = federator.federate(obj);
                    if let Some(fed) = report.take(item)
                        && let Err(e) = rendered.push(&fed)
                    {
                        render_failure.get_or_insert(e);
                    }
                }
                None => spots.push(rendered.reserve()),
            }
        },
    );
    drop(stdin);
    if let Some(e) = render_failure {
        return Err(e);
    }
    if report.objects == 0 && report.bad == 0 {
        anyhow::bail!("no objects passed to kubectl fed: the input is empty");
    }

    if !admission.is_empty() {
        let missed = admission.missed(&table);
        if !missed.is_empty() && !args.offline {
            discover(&connection, args.use_discovery, &missed, &table).await?;
        }
        for (obj, spot) in admission.deferred().into_iter().zip(spots) {
            let item = federator.federate(obj);
            if let Some(fed) = report.take(item) {
                rendered.fill(spot, &fed)?;
            }
        }
    }

    for w in federator.unmatched_scoped_overrides() {
        output::warn(&w);
    }
    if report.bad > 0 {
        let mut what = Vec::new();
        if report.unread > 0 {
            let s = if report.unread == 1 { "" } else { "s" };
            what.push(format!("the input has {} error{s}", report.unread));
        }
        let unconverted = report.bad - report.unread;
        if unconverted > 0 {
            what.push(format!(
                "{unconverted} of {} objects could not be federated",
                report.objects
            ));
        }
        anyhow::bail!("{}; nothing was printed", what.join(" and "));
    }
    let mut out = std::io::stdout().lock();
    match rendered.write_to(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// What the user is told while converting, and the counts for the final verdict.
#[derive(Default)]
struct Report {
    /// Objects read.
    objects: usize,
    /// Errors: objects that could not be converted, and parts of the input that could not be read.
    bad: usize,
    /// Errors of the second kind.
    unread: usize,
}

impl Report {
    fn bad(&mut self, message: &str) {
        self.bad += 1;
        self.unread += 1;
        output::error(message);
    }

    /// Prints the item's warnings or error; the federated object when it converted.
    fn take(&mut self, item: BatchItem) -> Option<serde_json::Value> {
        match item.result {
            Ok(fed) => {
                for w in &fed.warnings {
                    output::warn(&format!("{}: {w}", item.source));
                }
                Some(fed.object)
            }
            Err(e) => {
                self.bad += 1;
                output::error(&format!("{}: {e}", item.source));
                None
            }
        }
    }
}

/// Asks the host about the kinds the table does not know. With `required` (--use-discovery) the host must
/// answer and serve each kind; otherwise any failure is a warning and the kinds are guessed.
async fn discover(
    connection: &Connection,
    required: bool,
    missed: &BTreeSet<(String, String)>,
    table: &RefCell<TypeTable>,
) -> anyhow::Result<()> {
    let kinds = missed
        .iter()
        .map(|(v, k)| format!("{k} ({v})"))
        .collect::<Vec<_>>()
        .join(", ");
    if required {
        let host = connection
            .connect(None)
            .await
            .context("while connecting to the host for --use-discovery")?;
        return resolve_into(&mut Discovery::new(host), missed, table, true).await;
    }
    let host = match connection.kubeconfig() {
        Ok(Some(_)) => connection.connect(Some(OPTIONAL_CONNECT_TIMEOUT)).await,
        Ok(None) => {
            tracing::info!("no kubeconfig: guessing the resource names of {kinds}");
            return Ok(());
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
            return Ok(());
        }
    };
    if let Err(e) = resolve_into(&mut discovery, missed, table, false).await {
        output::warn(&format!(
            "discovery on the host failed ({e:#}); guessing the resource names of {kinds} (pass --offline to \
             skip discovery)"
        ));
    }
    Ok(())
}

/// Resolves each (apiVersion, kind) by discovery into `table`. A kind the host does not serve is an error
/// when `required`, else a warning (the conversion then guesses).
async fn resolve_into(
    discovery: &mut Discovery,
    pairs: &BTreeSet<(String, String)>,
    table: &RefCell<TypeTable>,
    required: bool,
) -> anyhow::Result<()> {
    for (api_version, kind) in pairs {
        match discovery.resolve_kind(api_version, kind).await? {
            Some(resource) => {
                let has_replicas = discovery.has_replicas(&resource).await.unwrap_or(false);
                table.borrow_mut().insert(resource.target(has_replicas));
            }
            None if required => anyhow::bail!(
                "the host does not serve {kind} in {api_version}; install its CRD or fix the apiVersion"
            ),
            None => output::warn(&format!("the host does not serve {kind} in {api_version}")),
        }
    }
    Ok(())
}
