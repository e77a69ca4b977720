//! The chart's CRDs (`charts/kubefed/crds/`) and default FederatedTypeConfigs
//! (`charts/kubefed/files/federatedtypeconfigs.yaml`) are generated from the Rust types; these tests fail
//! when they drift, naming each drifted, missing or extra file and the command that regenerates them.
//!
//! With `UPDATE_CRDS=1` they rewrite the files instead: write every generated file and remove CRD files
//! that are no longer generated.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const FIX: &str = "UPDATE_CRDS=1 cargo test -p kubefed-core --test crds_in_sync";

fn crds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/kubefed/crds")
}

fn type_configs_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/kubefed/files/federatedtypeconfigs.yaml")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_CRDS").is_some_and(|v| v == "1")
}

/// The files now in the directory: name → content (non-UTF-8 content is read lossily, so it differs).
fn current_files(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let content = fs::read(e.path())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            (name, content)
        })
        .collect()
}

/// Where `a` and `b` first differ, as `line N: "…" vs "…"`.
fn first_difference(current: &str, generated: &str) -> String {
    let mut cur = current.lines();
    let mut gen_lines = generated.lines();
    let mut n = 1;
    loop {
        match (cur.next(), gen_lines.next()) {
            (Some(c), Some(g)) if c == g => n += 1,
            (None, None) => return "line endings or trailing newline differ".to_string(),
            (c, g) => {
                return format!(
                    "line {n}: the file has {:?}, the types generate {:?}",
                    c.unwrap_or("<end of file>"),
                    g.unwrap_or("<end of file>")
                );
            }
        }
    }
}

#[test]
fn chart_crds_match_the_rust_types() {
    let dir = crds_dir();
    let generated: BTreeMap<String, String> = kubefed_core::chart_crd_files().into_iter().collect();
    let current = current_files(&dir);

    if updating() {
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        for name in current.keys().filter(|n| !generated.contains_key(*n)) {
            let path = dir.join(name);
            fs::remove_file(&path).unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
        }
        for (name, content) in &generated {
            if current.get(name) != Some(content) {
                let path = dir.join(name);
                fs::write(&path, content).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            }
        }
        return;
    }

    let mut problems = Vec::new();
    for (name, content) in &generated {
        match current.get(name) {
            None => problems.push(format!("charts/kubefed/crds/{name} is missing")),
            Some(existing) if existing != content => problems.push(format!(
                "charts/kubefed/crds/{name} differs from the Rust types ({})",
                first_difference(existing, content)
            )),
            Some(_) => {}
        }
    }
    for name in current.keys().filter(|n| !generated.contains_key(*n)) {
        problems.push(format!(
            "charts/kubefed/crds/{name} is not generated from any Rust type (CRDs there are generated, never hand-written)"
        ));
    }
    assert!(
        problems.is_empty(),
        "the chart's CRDs are out of sync with shared/src/api:\n  {}\nRegenerate them with:\n  {FIX}\n",
        problems.join("\n  ")
    );
}

#[test]
fn chart_type_configs_match_the_rust_types() {
    let path = type_configs_file();
    let generated = kubefed_core::chart_type_configs_file();
    let current = fs::read(&path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    if updating() {
        if current.as_deref() != Some(generated.as_str()) {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
            }
            fs::write(&path, &generated).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
        return;
    }
    let problem = match current {
        None => "is missing".to_string(),
        Some(existing) if existing != generated => format!(
            "differs from FederatedTypeConfig::for_target of the default types ({})",
            first_difference(&existing, &generated)
        ),
        Some(_) => return,
    };
    panic!("charts/kubefed/files/federatedtypeconfigs.yaml {problem}\nRegenerate it with:\n  {FIX}\n");
}

#[test]
fn first_difference_names_the_line() {
    assert_eq!(
        first_difference("a\nb\nc\n", "a\nB\nc\n"),
        "line 2: the file has \"b\", the types generate \"B\""
    );
    assert_eq!(
        first_difference("a\n", "a\nb\n"),
        "line 2: the file has \"<end of file>\", the types generate \"b\""
    );
    assert_eq!(
        first_difference("a", "a\n"),
        "line endings or trailing newline differ"
    );
}

/// The Multi-Cluster Services CRDs are upstream's (`shared/mcs-api/`, from `sigs.k8s.io/mcs-api`), copied
/// into `charts/kubefed/files/mcs/` for the chart's `mcs-crds.yaml` template (helm reads files only inside
/// the chart).
#[test]
fn chart_mcs_crds_match_upstream_copies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/kubefed/files/mcs");
    let wanted: BTreeMap<String, String> = kubefed_core::mcs::mcs_crd_files().into_iter().collect();
    let current = current_files(&dir);
    if updating() {
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        for (name, content) in &wanted {
            if current.get(name) != Some(content) {
                let path = dir.join(name);
                fs::write(&path, content).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            }
        }
        return;
    }
    let problems: Vec<String> = wanted
        .iter()
        .filter(|(name, content)| current.get(*name) != Some(*content))
        .map(|(name, _)| {
            format!("charts/kubefed/files/mcs/{name} is missing or differs from shared/mcs-api/{name}")
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{}\nCopy them with:\n  {FIX}\n",
        problems.join("\n")
    );
}
