//! Where the control-plane binaries are. `testbed/build-bins.sh` is the one place that knows versions and
//! the cache layout: we run it (it returns at once when everything is built) and take the directory it prints.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{Error, Result};

/// Paths of the binaries the testbed runs.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub dir: PathBuf,
}

impl Binaries {
    /// Locates the binaries: `$KUBEFED_TESTBED_BIN` if set, else whatever `tests/testbed/build-bins.sh`
    /// prints after building anything missing (minutes the first time, instant afterwards).
    pub fn locate() -> Result<Self> {
        static CACHED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
        let dir = CACHED.get_or_init(|| {
            if let Some(dir) = std::env::var_os("KUBEFED_TESTBED_BIN") {
                return Ok(PathBuf::from(dir));
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testbed/build-bins.sh");
            let out = Command::new("bash")
                .arg(&script)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} failed ({}); see its output above",
                    script.display(),
                    out.status
                ));
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            stdout
                .lines()
                .last()
                .map(|l| PathBuf::from(l.trim()))
                .ok_or_else(|| format!("{} printed no directory", script.display()))
        });
        let dir = dir.clone().map_err(Error::Binaries)?;
        let me = Self { dir };
        for b in ["etcd", "kube-apiserver", "kube-controller-manager", "kubectl"] {
            if !me.path(b).is_file() {
                return Err(Error::Binaries(format!(
                    "{} is missing; run tests/testbed/build-bins.sh",
                    me.path(b).display()
                )));
            }
        }
        Ok(me)
    }

    /// Path of binary `name` in the testbed's bin directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}
