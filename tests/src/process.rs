//! A child process that cannot outlive us.
//!
//! Rust runs no destructors for statics at exit and a SIGKILLed test runs none at all, so each process is
//! started under a small bash watchdog whose stdin is a pipe from us: when the pipe closes — we dropped it,
//! or we died — the watchdog stops the process (TERM, then KILL after 5 s). The watchdog also exits when
//! the process dies on its own, which is how we notice an early exit. No `unsafe` (no pre_exec) needed.
//! Fault tests signal the program itself ([`Process::signal`], [`Process::kill`]): a frozen program is
//! resumed before it is told to stop, and a killed one is reaped together with its watchdog.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use crate::{Error, Result, io_err};

const WATCHDOG: &str = r#"
log="$1"; shift
"$@" >>"$log" 2>&1 </dev/null &
child=$!
echo "$child" >"$log.pid"
while kill -0 "$child" 2>/dev/null; do
  read -r -t 1 _ ; rc=$?
  if [ "$rc" -le 128 ]; then
    kill -TERM "$child" 2>/dev/null
    kill -CONT "$child" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$child" 2>/dev/null
    wait "$child" 2>/dev/null
    exit 0
  fi
done
wait "$child"; rc=$?
echo "[watchdog] process exited with status $rc" >>"$log"
exit "$rc"
"#;

/// A supervised child process with its output in a log file.
pub struct Process {
    pub name: String,
    pub log: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Process {
    /// Starts `program args…` under the watchdog, appending its output to `log`.
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> Result<Self> {
        Self::spawn_with_env(name, program, args, log, &[])
    }

    /// [`Process::spawn`] with extra environment variables for the program.
    pub fn spawn_with_env(
        name: &str,
        program: &Path,
        args: &[String],
        log: &Path,
        env: &[(&str, String)],
    ) -> Result<Self> {
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(log)
            .arg(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_err(format!("starting {name} ({})", program.display())))?;
        let stdin = child.stdin.take();
        Ok(Self {
            name: name.to_string(),
            log: log.to_path_buf(),
            child,
            stdin,
        })
    }

    /// `Err(Exited)` when the process has already ended.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::Exited {
                process: self.name.clone(),
                status: status.to_string(),
                log: self.log.display().to_string(),
                tail: tail(&self.log, 30),
            }),
            Err(e) => Err(Error::Io {
                what: format!("checking {}", self.name),
                source: e,
            }),
        }
    }

    /// Stops the process and waits for it (TERM, then KILL after 5 s).
    pub fn stop(&mut self) {
        self.stdin.take();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends `signal` (a `kill` name: `STOP`, `CONT`, `KILL`, …) to the supervised program (not its
    /// watchdog).
    pub fn signal(&self, signal: &str) -> Result<()> {
        let pid = self.wait_program_pid()?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .map_err(io_err(format!("sending SIG{signal} to {}", self.name)))?;
        if !status.success() {
            return Err(Error::Other(format!(
                "kill -{signal} {pid} ({}) failed: {status}",
                self.name
            )));
        }
        Ok(())
    }

    /// Kills the program with SIGKILL (no chance to clean up, like a crash or an OOM kill) and reaps it
    /// and its watchdog, so nothing is left `<defunct>`.
    pub fn kill(&mut self) -> Result<()> {
        self.signal("KILL")?;
        // The watchdog sees the program gone and exits on its own.
        let _ = self.child.wait();
        self.stdin.take();
        Ok(())
    }

    /// [`Process::program_pid`], waiting up to 5 s for the watchdog to record it.
    fn wait_program_pid(&self) -> Result<u32> {
        for _ in 0..50 {
            if let Some(pid) = self.program_pid() {
                return Ok(pid);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::Other(format!("{} has no recorded pid", self.name)))
    }

    /// PID of the supervised program (not of its watchdog), once the watchdog has recorded it.
    pub fn program_pid(&self) -> Option<u32> {
        let pidfile = format!("{}.pid", self.log.display());
        std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()
    }

    /// Last `n` lines of the log, for error messages.
    pub fn tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Last `n` lines of a file (reads at most the final 64 KiB).
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(mut f) = OpenOptions::new().read(true).open(path) else {
        return format!("(cannot read {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = String::new();
    let _ = f.read_to_string(&mut buf);
    let lines: Vec<&str> = buf.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for a single-user test machine).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io_err("finding a free port"))?;
    Ok(l.local_addr().map_err(io_err("finding a free port"))?.port())
}
