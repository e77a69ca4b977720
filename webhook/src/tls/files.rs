//! Files mode: serve `tls.crt`/`tls.key` from a directory and reload them when they change.
//!
//! Meant for a cert-manager Certificate's Secret mounted as a volume (cert-manager's cainjector then fills
//! the webhook configurations' `caBundle`) or for certificates managed by hand. The kubelet updates such a
//! volume by swapping a symlink, which changes the files' content but not always their mtime in a way that
//! is easy to trust, so each poll simply reads the two small files and compares bytes. A pair that does not
//! parse or whose key does not match (e.g. caught half-written) is reported and the previous certificate
//! stays in use; the next change is tried again.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::CertResolver;
use crate::error::{Error, Result};

/// File name of the certificate chain in the directory.
pub const CERT_FILE: &str = "tls.crt";
/// File name of the private key in the directory.
pub const KEY_FILE: &str = "tls.key";

/// Polls a directory for a new certificate.
#[derive(Debug)]
pub struct FileSource {
    dir: PathBuf,
    resolver: Arc<CertResolver>,
    last: Option<(Vec<u8>, Vec<u8>)>,
}

async fn read(path: &Path) -> Result<Vec<u8>> {
    tokio::fs::read(path).await.map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

impl FileSource {
    /// A source reading `dir/tls.crt` and `dir/tls.key` into `resolver`.
    pub fn new(dir: impl Into<PathBuf>, resolver: Arc<CertResolver>) -> Self {
        Self {
            dir: dir.into(),
            resolver,
            last: None,
        }
    }

    /// Reads the files once; loads them if they changed since the last poll. Returns whether a new
    /// certificate was installed.
    pub async fn poll(&mut self) -> Result<bool> {
        let cert = read(&self.dir.join(CERT_FILE)).await?;
        let key = read(&self.dir.join(KEY_FILE)).await?;
        if self.last.as_ref().is_some_and(|(c, k)| *c == cert && *k == key) {
            return Ok(false);
        }
        // Remember even a bad pair, so it is reported once per change rather than once per poll.
        self.last = Some((cert, key));
        let (cert, key) = self
            .last
            .as_ref()
            .map(|(c, k)| (c.as_slice(), k.as_slice()))
            .unwrap_or_default();
        self.resolver.load_pem(cert, key, &self.dir.display().to_string())
    }

    /// Polls every `interval` until `shutdown` resolves.
    pub async fn run(mut self, interval: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(err) = self.poll().await {
                tracing::warn!(error = %err, dir = %self.dir.display(), "cannot load the serving certificate; keeping the previous one");
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::readiness::Readiness;
    use kubefed_core::pki::CertificateAuthority;

    #[tokio::test]
    async fn reloads_on_change_and_survives_bad_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let resolver = Arc::new(CertResolver::new(Readiness::default(), Arc::new(Metrics::new())));
        let mut source = FileSource::new(dir.path(), resolver.clone());

        let missing = source.poll().await.expect_err("no files yet");
        assert!(missing.to_string().contains("tls.crt"), "{missing}");
        assert!(resolver.current().is_none());

        let ca = CertificateAuthority::generate("ca", Duration::from_secs(3600)).expect("ca");
        let write = |leaf: &kubefed_core::pki::CertifiedKey| {
            std::fs::write(dir.path().join(CERT_FILE), &leaf.cert_pem).expect("write crt");
            std::fs::write(dir.path().join(KEY_FILE), &leaf.key_pem).expect("write key");
        };
        let a = ca
            .issue_serving(&["a".into()], &[], Duration::from_secs(600))
            .expect("a");
        write(&a);
        assert!(source.poll().await.expect("load a"));
        assert!(!source.poll().await.expect("unchanged"));
        let first = resolver.current().expect("a").cert.clone();

        // Half-written update: new certificate, old key.
        let b = ca
            .issue_serving(&["b".into()], &[], Duration::from_secs(600))
            .expect("b");
        std::fs::write(dir.path().join(CERT_FILE), &b.cert_pem).expect("write crt");
        assert!(source.poll().await.is_err());
        assert_eq!(resolver.current().expect("still a").cert, first);

        std::fs::write(dir.path().join(KEY_FILE), &b.key_pem).expect("write key");
        assert!(source.poll().await.expect("load b"));
        assert_ne!(resolver.current().expect("b").cert, first);
    }
}
