//! Running the built `kubectl-fed` binary against the shared testbed, as this crate's end-to-end tests do
//! (`CARGO_BIN_EXE_kubectl-fed` exists only in this crate's tests, so this lives here, not in kubefed-tests).

// Each test file uses part of this module.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Stdio};

use kubefed_tests::shared_testbed;
use kubefed_tests::testbed::HOST;
use kubefed_tests::wait::BoxError;

/// A finished run: exit code (None when killed by a signal) and its output.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exited 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs kubectl-fed with the testbed's kubeconfig and `context` (None: the kubeconfig's current context, the
/// host), `stdin` as standard input. KUBECONFIG and RUST_LOG are removed, so neither the caller's cluster
/// nor its log settings leak in. Blocks until the binary exits.
pub fn fed_blocking(context: Option<&str>, args: &[&str], stdin: &str) -> Result<Run, BoxError> {
    let tb = shared_testbed()?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-fed"));
    cmd.arg("--kubeconfig").arg(&tb.kubeconfig);
    if let Some(context) = context {
        cmd.args(["--context", context]);
    }
    let mut child = cmd
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    Ok(Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// [`fed_blocking`] on a blocking thread (the test's runtime keeps serving), printing the command and its
/// output to stderr for the test's log.
pub async fn fed_at(context: Option<&str>, args: &[&str], stdin: &str) -> Result<Run, BoxError> {
    let context = context.map(str::to_string);
    let owned: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
    let input = stdin.to_string();
    let run = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = owned.iter().map(String::as_str).collect();
        fed_blocking(context.as_deref(), &args, &input)
    })
    .await??;
    eprintln!("$ kubectl fed {}\n{}{}", args.join(" "), run.stdout, run.stderr);
    Ok(run)
}

/// [`fed_at`] the host's context.
pub async fn fed(args: &[&str], stdin: &str) -> Result<Run, BoxError> {
    fed_at(Some(HOST), args, stdin).await
}
