//! `kubectl fed version`: the client version, and the host's server version when it answers within a few
//! seconds (an unreachable host is a warning, not a failure: the client version is still useful).

use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{Format, GlobalArgs, PrintFormat, VersionArgs};
use crate::client::{Connection, message};
use crate::output;

/// How long to wait for the host's `/version`.
const SERVER_TIMEOUT: Duration = Duration::from_secs(5);

/// The client version: the crate version, as `v0.1.0`.
pub fn client_version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// Runs `kubectl fed version`.
pub async fn run(global: &GlobalArgs, args: &VersionArgs) -> anyhow::Result<()> {
    let server = if args.client {
        None
    } else {
        match server_version(global).await {
            Ok(v) => Some(v),
            Err(e) => {
                output::warn(&format!("cannot get the server version of the host: {e:#}"));
                None
            }
        }
    };
    let text = match args.output {
        None => {
            let mut text = format!("Client Version: {}\n", client_version());
            if let Some(v) = &server {
                let git = v.get("gitVersion").and_then(Value::as_str).unwrap_or("unknown");
                text.push_str(&format!("Server Version: {git}\n"));
            }
            text
        }
        Some(format) => {
            let mut doc = json!({"clientVersion": {"gitVersion": client_version()}});
            if let Some(v) = server {
                doc["serverVersion"] = v;
            }
            let format = match format {
                PrintFormat::Yaml => Format::Yaml,
                PrintFormat::Json => Format::Json,
            };
            output::render(&[doc], format)?
        }
    };
    output::print_stdout(&text)
}

async fn server_version(global: &GlobalArgs) -> anyhow::Result<Value> {
    let mut connection = Connection::from_args(global);
    connection.timeout = Some(SERVER_TIMEOUT);
    let host = connection.connect(Some(SERVER_TIMEOUT)).await?;
    let info = host
        .client
        .apiserver_version()
        .await
        .map_err(|e| anyhow::anyhow!(message(&e)))?;
    Ok(serde_json::to_value(info)?)
}
