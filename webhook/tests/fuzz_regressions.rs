//! The `admission_review` fuzz target's seed corpus and crash regressions (`fuzz/corpus/admission_review/`,
//! `fuzz/regressions/admission_review/`) through `kubefed_webhook::fuzzing::admission_review`, the entry the
//! cargo-fuzz target calls, on stable. See docs/fuzzing.md.

use std::path::{Path, PathBuf};

/// Deeply nested JSON is decoded and dropped recursively; give each input more than a test thread's stack.
const STACK_BYTES: usize = 64 * 1024 * 1024;

fn files(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join("admission_review");
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

#[test]
fn admission_review() {
    let corpus = files("corpus");
    assert!(
        !corpus.is_empty(),
        "no seed corpus in fuzz/corpus/admission_review"
    );
    let mut failures = Vec::new();
    for path in corpus.into_iter().chain(files("regressions")) {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let outcome = std::thread::Builder::new()
            .stack_size(STACK_BYTES)
            .spawn(move || kubefed_webhook::fuzzing::admission_review(&data))
            .expect("spawning the replay thread")
            .join();
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{}: {e}", path.display())),
            Err(_) => failures.push(format!("{}: panicked (message above)", path.display())),
        }
    }
    assert!(failures.is_empty(), "admission_review:\n{}", failures.join("\n"));
}
