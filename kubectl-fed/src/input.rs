//! Reading `-f FILE|DIR|-`: which files are read, in which order, and how their errors are collected.
//!
//! As kubectl does: a file named explicitly is read whatever its extension; a folder contributes its
//! `.yaml`, `.yml` and `.json` files in name order, and its subfolders only with `-R`; `-` is standard
//! input (once). Parsing is `kubefed_core::manifest`'s. Every error of every file is collected, so one
//! run shows all that needs fixing; the caller decides that nothing is converted while any remain.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use kubefed_core::manifest::{ManifestError, ManifestObject, Manifests, ParseLimits, looks_like_json};

/// Extensions read from folders.
const MANIFEST_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Read buffer: large enough that a JSON input is recognised from its first bytes.
const BUFFER: usize = 64 * 1024;

/// What was read: the objects in input order, and every error met.
#[derive(Debug, Default)]
pub struct Input {
    pub objects: Vec<ManifestObject>,
    pub errors: Vec<String>,
}

/// Reads every `-f` argument; `stdin` is read for `-`. Holds every object: for commands that need them
/// all (apply); see [`for_each`] to stream.
pub fn read(filenames: &[String], recursive: bool, stdin: &mut dyn Read) -> Input {
    let mut input = Input::default();
    for_each(filenames, recursive, stdin, &mut |item| match item {
        Ok(obj) => input.objects.push(obj),
        Err(e) => input.errors.push(e),
    });
    input
}

/// Calls `f` with each object of every `-f` argument in order, or with an error message, as they are
/// read: YAML is parsed one document at a time, so only the current document is held (JSON is read whole).
pub fn for_each(
    filenames: &[String],
    recursive: bool,
    stdin: &mut dyn Read,
    f: &mut dyn FnMut(Result<ManifestObject, String>),
) {
    let limits = ParseLimits::default();
    let mut stdin_read = false;
    for name in filenames {
        if name == "-" {
            if stdin_read {
                f(Err(
                    "-f - is given twice; standard input can be read only once".into()
                ));
                continue;
            }
            stdin_read = true;
            parse_stream("-", BufReader::with_capacity(BUFFER, &mut *stdin), &limits, f);
            continue;
        }
        let path = Path::new(name);
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                f(Err(format!("the path {name:?} does not exist")));
            }
            Err(e) => f(Err(format!("{name}: {e}"))),
            Ok(meta) if meta.is_dir() => {
                let mut files = Vec::new();
                if let Err(e) = list_dir(path, recursive, &mut files) {
                    f(Err(e));
                }
                if files.is_empty() {
                    f(Err(format!(
                        "{name}: no .yaml, .yml or .json files{}",
                        if recursive {
                            ""
                        } else {
                            " (add -R to read subfolders)"
                        }
                    )));
                }
                for file in files {
                    read_file(&file, &limits, f);
                }
            }
            Ok(_) => read_file(path, &limits, f),
        }
    }
}

fn read_file(path: &Path, limits: &ParseLimits, f: &mut dyn FnMut(Result<ManifestObject, String>)) {
    let name = path.display().to_string();
    match std::fs::File::open(path) {
        Ok(file) => parse_stream(&name, BufReader::with_capacity(BUFFER, file), limits, f),
        Err(e) => f(Err(format!("{name}: cannot read: {e}"))),
    }
}

fn parse_stream(
    name: &str,
    mut reader: impl BufRead,
    limits: &ParseLimits,
    f: &mut dyn FnMut(Result<ManifestObject, String>),
) {
    let json = match reader.fill_buf() {
        Ok(head) => looks_like_json(head),
        Err(e) => {
            f(Err(format!("{name}: cannot read: {e}")));
            return;
        }
    };
    if !json {
        for item in Manifests::from_reader(name, reader, limits) {
            f(item.map_err(|e| e.to_string()));
        }
        return;
    }
    let mut bytes = Vec::new();
    // One byte over the limit is enough to report it.
    let cap = u64::try_from(limits.max_input_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    if let Err(e) = reader.take(cap).read_to_end(&mut bytes) {
        f(Err(format!("{name}: cannot read: {e}")));
        return;
    }
    parse_bytes(name, &bytes, limits, f);
}

fn parse_bytes(
    name: &str,
    bytes: &[u8],
    limits: &ParseLimits,
    f: &mut dyn FnMut(Result<ManifestObject, String>),
) {
    // The same checks and messages as `parse_manifest_bytes`, which stops at the first error.
    if bytes.len() > limits.max_input_bytes {
        let e = ManifestError::TooLarge {
            file: name.into(),
            size: bytes.len(),
            limit: limits.max_input_bytes,
        };
        f(Err(e.to_string()));
        return;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let e = ManifestError::NotUtf8 {
                file: name.into(),
                offset: e.valid_up_to(),
            };
            f(Err(e.to_string()));
            return;
        }
    };
    for item in Manifests::new(name, text, limits) {
        f(item.map_err(|e| e.to_string()));
    }
}

/// Manifest files of `dir` in name order, descending into subfolders when `recursive`.
fn list_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: cannot list: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if recursive {
                list_dir(&path, recursive, out)?;
            }
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e))
        {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: NAME}\n";

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }

    fn names(input: &Input) -> Vec<String> {
        input.objects.iter().map(|o| o.name().to_string()).collect()
    }

    #[test]
    fn folders_in_name_order_recursive_only_with_r() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "b.yaml", &CM.replace("NAME", "b"));
        write(dir.path(), "a.yml", &CM.replace("NAME", "a"));
        write(
            dir.path(),
            "c.json",
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"c"}}"#,
        );
        write(dir.path(), "README.md", "not a manifest");
        write(dir.path(), "sub/d.yaml", &CM.replace("NAME", "d"));
        let d = dir.path().display().to_string();
        let flat = read(std::slice::from_ref(&d), false, &mut std::io::empty());
        assert_eq!(
            (names(&flat), flat.errors.len()),
            (vec!["a".into(), "b".into(), "c".into()], 0)
        );
        let deep = read(&[d], true, &mut std::io::empty());
        assert_eq!(names(&deep), ["a", "b", "c", "d"]);
    }

    #[test]
    fn stdin_and_explicit_files_any_extension() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "app.txt", &CM.replace("NAME", "txt"));
        let file = dir.path().join("app.txt").display().to_string();
        let mut stdin = CM.replace("NAME", "in").into_bytes();
        let input = read(&["-".into(), file], false, &mut stdin.as_slice());
        assert_eq!(names(&input), ["in", "txt"]);
        assert_eq!(input.objects[0].source.file.as_ref(), "-");
        stdin.clear();
        let twice = read(&["-".into(), "-".into()], false, &mut stdin.as_slice());
        assert_eq!(
            twice.errors,
            ["-f - is given twice; standard input can be read only once"]
        );
    }

    #[test]
    fn every_error_is_collected() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "a.yaml",
            &format!(
                "{}---\nkind: [\n---\n{}",
                CM.replace("NAME", "a"),
                CM.replace("NAME", "b")
            ),
        );
        std::fs::write(dir.path().join("latin1.yaml"), b"kind: \xe9\n").expect("write");
        write(dir.path(), "empty/x.txt", "");
        let p = |n: &str| dir.path().join(n).display().to_string();
        let input = read(
            &[p("a.yaml"), p("latin1.yaml"), p("missing.yaml"), p("empty")],
            false,
            &mut std::io::empty(),
        );
        assert_eq!(names(&input), ["a", "b"]);
        assert_eq!(input.errors.len(), 4, "{:?}", input.errors);
        assert!(
            input.errors[0].contains("a.yaml:5:7: invalid YAML in document 2"),
            "{}",
            input.errors[0]
        );
        assert!(input.errors[1].contains("not UTF-8"), "{}", input.errors[1]);
        assert!(input.errors[2].ends_with("does not exist"), "{}", input.errors[2]);
        assert!(
            input.errors[3].contains("no .yaml, .yml or .json files (add -R"),
            "{}",
            input.errors[3]
        );
    }
}
