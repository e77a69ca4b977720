//! `kubefed_core::fuzzing::yaml_emit_differential` on libFuzzer's bytes: the fast YAML writing must give
//! serde-saphyr's bytes for every value it writes; a difference panics, which libFuzzer reports.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = kubefed_core::fuzzing::yaml_emit_differential(data) {
        panic!("yaml_emit_differential: {e}");
    }
});
