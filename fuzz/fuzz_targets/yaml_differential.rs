//! `kubefed_core::fuzzing::yaml_differential` on libFuzzer's bytes: the fast YAML reading must agree with
//! serde-saphyr's on every document it reads; a difference panics, which libFuzzer reports.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = kubefed_core::fuzzing::yaml_differential(data) {
        panic!("yaml_differential: {e}");
    }
});
