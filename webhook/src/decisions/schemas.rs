//! Target kinds' OpenAPI v3 schemas, fetched from the host lazily and cached, for the type check of
//! override values ([`kubefed_core::admission::schema`]).
//!
//! One document per group-version (`/openapi/v3/apis/<group>/<version>`), fetched on first use by one
//! request at a time (the others wait for it), kept for [`DOCUMENT_TTL`]; a failed fetch is remembered for
//! [`FAILURE_TTL`] so an unreachable endpoint costs one timeout, not one per request. The caller fails open
//! on errors (admits with a warning): a schema hiccup must never block admission. At most
//! [`MAX_DOCUMENTS`] documents are kept. The webhook's ServiceAccount needs `get` on the non-resource URLs
//! `/openapi/v3` and `/openapi/v3/*`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubefed_core::admission::GroupVersionSchema;

/// How long a fetched document is used before it is fetched again (CRD schemas change).
pub const DOCUMENT_TTL: Duration = Duration::from_secs(600);
/// How long a failed fetch is remembered.
pub const FAILURE_TTL: Duration = Duration::from_secs(30);
/// Most documents cached.
pub const MAX_DOCUMENTS: usize = 64;

/// A future answering with a document's schemas.
pub type SchemaFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<GroupVersionSchema>, String>> + Send + 'a>>;

/// Where schemas come from.
pub trait SchemaSource: Send + Sync + 'static {
    /// The schemas of the OpenAPI v3 document at `path` on the host.
    fn document<'a>(&'a self, path: &'a str) -> SchemaFuture<'a>;
}

/// A fetched document (or why it could not be fetched).
type Fetched = Result<Arc<GroupVersionSchema>, String>;

/// Fetches documents from the host through a client, with the cache of the module docs.
pub struct KubeSchemas {
    client: kube::Client,
    timeout: Duration,
    /// By path: when the entry expires, and the document.
    cache: Mutex<HashMap<String, (Instant, Fetched)>>,
    fetching: tokio::sync::Mutex<()>,
}

impl KubeSchemas {
    /// A source asking through `client`; a fetch gives up after `timeout`.
    pub fn new(client: kube::Client, timeout: Duration) -> Self {
        Self {
            client,
            timeout,
            cache: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, path: &str) -> Option<Fetched> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(path)
            .filter(|(expires, _)| *expires > Instant::now())
            .map(|(_, r)| r.clone())
    }

    async fn fetch(&self, path: &str) -> Fetched {
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| format!("building the request for {path}: {e}"))?;
        let text = tokio::time::timeout(self.timeout, self.client.request_text(request))
            .await
            .map_err(|_| format!("GET {path} timed out after {:?}", self.timeout))?
            .map_err(|e| format!("GET {path} failed: {e}"))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("GET {path} is not JSON: {e}"))?;
        Ok(Arc::new(GroupVersionSchema::from_document(doc)))
    }
}

impl SchemaSource for KubeSchemas {
    fn document<'a>(&'a self, path: &'a str) -> SchemaFuture<'a> {
        Box::pin(async move {
            if let Some(hit) = self.cached(path) {
                return hit;
            }
            // One fetch at a time: a burst of requests for a new kind costs one download.
            let _one = self.fetching.lock().await;
            if let Some(hit) = self.cached(path) {
                return hit;
            }
            let result = self.fetch(path).await;
            let ttl = if result.is_ok() { DOCUMENT_TTL } else { FAILURE_TTL };
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= MAX_DOCUMENTS {
                cache.clear();
            }
            cache.insert(path.to_string(), (Instant::now() + ttl, result.clone()));
            result
        })
    }
}

/// Fixed documents by path (tests); a missing path is an error.
#[derive(Default)]
pub struct StaticSchemas(pub HashMap<String, Arc<GroupVersionSchema>>);

impl SchemaSource for StaticSchemas {
    fn document<'a>(&'a self, path: &'a str) -> SchemaFuture<'a> {
        let answer = self
            .0
            .get(path)
            .cloned()
            .ok_or_else(|| format!("GET {path} failed: 503 Service Unavailable"));
        Box::pin(std::future::ready(answer))
    }
}
