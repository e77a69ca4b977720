//! The fuzz targets' seed corpora and crash regressions (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`)
//! through the same entry functions as `cargo fuzz` (`kubefed_core::fuzzing`), on stable: a crash found by
//! fuzzing stays a test of the normal test command. See docs/fuzzing.md.

use std::path::{Path, PathBuf};

/// Each input runs on its own thread with this much stack: the manifest parser's depth limit needs 4 MiB in
/// debug builds (see `ParseLimits::max_depth`), more than a test thread's default.
const STACK_BYTES: usize = 64 * 1024 * 1024;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every file under `fuzz/<kind>/<target>/`, sorted (none if the folder does not exist).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `target` on every corpus and regression file; fails naming each file that panicked or broke a
/// property.
fn replay(target: &'static str) {
    let corpus = inputs("corpus", target);
    assert!(
        !corpus.is_empty(),
        "no seed corpus in {}/corpus/{target}",
        fuzz_dir().display()
    );
    let mut failures = Vec::new();
    for path in corpus.into_iter().chain(inputs("regressions", target)) {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let outcome = std::thread::Builder::new()
            .stack_size(STACK_BYTES)
            .spawn(move || kubefed_core::fuzzing::run(target, &data))
            .expect("spawning the replay thread")
            .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{}: {e}", path.display())),
            Err(_) => failures.push(format!("{}: panicked (message above)", path.display())),
        }
    }
    assert!(failures.is_empty(), "{target}:\n{}", failures.join("\n"));
}

#[test]
fn manifest_convert() {
    replay("manifest_convert");
}

#[test]
fn override_apply() {
    replay("override_apply");
}

#[test]
fn policy_eval() {
    replay("policy_eval");
}

#[test]
fn yaml_differential() {
    replay("yaml_differential");
}

#[test]
fn yaml_emit_differential() {
    replay("yaml_emit_differential");
}

#[test]
fn every_target_is_replayed() {
    // A target added to kubefed_core::fuzzing without a test here would never replay its regressions.
    assert_eq!(
        kubefed_core::fuzzing::TARGETS,
        [
            "manifest_convert",
            "override_apply",
            "policy_eval",
            "yaml_differential",
            "yaml_emit_differential"
        ]
    );
}
