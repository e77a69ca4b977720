//! `kubefed_core::fuzzing::override_apply` on libFuzzer's bytes; a broken property panics, which libFuzzer reports.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = kubefed_core::fuzzing::override_apply(data) {
        panic!("override_apply: {e}");
    }
});
