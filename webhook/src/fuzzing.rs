//! Fuzz entry point for the webhook: arbitrary bytes as an AdmissionReview request body (docs/fuzzing.md).
//!
//! Called by the `admission_review` cargo-fuzz target in `fuzz/` and, on stable, by
//! `webhook/tests/fuzz_regressions.rs` on every committed corpus and regression file. It runs what the
//! server's handler runs after reading the body: [`decode_review`], the real [`Decisions`] (validate and
//! mutate) over [`kubefed_core::fuzzing::sample_snapshot`] with an RBAC reviewer that allows everything and
//! one that allows nothing, and [`encode_review`] of each response. Rejected bodies are fine; a panic or an
//! `Err` (a response that cannot be encoded, or one that does not echo the request's uid) is a bug.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::admission::{Admit, decode_review, encode_review};
use crate::decisions::Decisions;
use crate::sar::{CacheTtl, FixedReviewer, PropagateAuthorizer};
use crate::snapshot::StaticSnapshot;

/// Largest body looked at (the server's default `--max-body-bytes` is larger; libFuzzer's inputs are not).
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

/// The decisions, built once: one whose reviewer allows every access, one that denies every access.
fn decisions() -> &'static [Decisions; 2] {
    static DECISIONS: OnceLock<[Decisions; 2]> = OnceLock::new();
    DECISIONS.get_or_init(|| {
        let snapshot = Arc::new(StaticSnapshot(Arc::new(kubefed_core::fuzzing::sample_snapshot())));
        // No caching: every input sees the reviewer's answer, not an earlier input's.
        let ttl = CacheTtl {
            allowed: Duration::ZERO,
            denied: Duration::ZERO,
        };
        [true, false].map(|allow| {
            let authorizer = Arc::new(PropagateAuthorizer::new(Arc::new(FixedReviewer(allow)), ttl));
            Decisions::new(snapshot.clone(), authorizer, None)
        })
    })
}

/// One request body through the webhook's decode → decide → encode (see the module docs).
pub fn admission_review(data: &[u8]) -> Result<(), String> {
    if data.len() > MAX_INPUT_BYTES {
        return Ok(());
    }
    let request = match decode_review(data) {
        Ok(request) => request,
        Err(e) => {
            let _ = e.to_string();
            return Ok(());
        }
    };
    for decisions in decisions() {
        for response in [
            futures::executor::block_on(decisions.validate(&request)),
            futures::executor::block_on(decisions.mutate(&request)),
        ] {
            let body = encode_review(&request.uid, response).map_err(|e| format!("cannot encode: {e}"))?;
            let echoed: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| format!("encoded review is not JSON: {e}"))?;
            let uid = echoed
                .pointer("/response/uid")
                .and_then(serde_json::Value::as_str);
            if uid != Some(request.uid.as_str()) {
                return Err(format!(
                    "response uid {uid:?} is not the request's {:?}",
                    request.uid
                ));
            }
        }
    }
    Ok(())
}
