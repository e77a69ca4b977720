//! `kubefed_webhook::fuzzing::admission_review` on libFuzzer's bytes; a broken property panics, which
//! libFuzzer reports.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = kubefed_webhook::fuzzing::admission_review(data) {
        panic!("admission_review: {e}");
    }
});
