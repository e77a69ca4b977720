//! Polling for an expected state, the one way end-to-end tests wait: the API server is eventually
//! consistent and controllers act asynchronously, so tests poll a condition with a deadline and report the
//! last error seen when it never holds.

use std::future::Future;
use std::time::{Duration, Instant};

/// The error type of end-to-end tests.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often [`wait_for`] asks again.
const POLL: Duration = Duration::from_millis(200);

/// Calls `f` until it returns `Ok(Some(v))` and returns `v`; errors from `f` are remembered and retried.
/// After `timeout` fails with `what` and the last error (or "condition not met").
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T, BoxError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, BoxError>>,
{
    let start = Instant::now();
    let mut last = String::from("condition not met");
    loop {
        match f().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = e.to_string(),
        }
        if start.elapsed() > timeout {
            return Err(format!("timed out after {timeout:?} waiting for {what} ({last})").into());
        }
        tokio::time::sleep(POLL).await;
    }
}
