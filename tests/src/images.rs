//! Container images for the testbed's node, made without Docker or a registry by `hack/images.sh` (the one
//! place that knows how; the demo uses the same script) and loaded into the node's containerd.
//!
//! ```no_run
//! # fn main() -> kubefed_tests::Result<()> {
//! // with a running node (TestbedOptions { node: true, .. }):
//! let image = kubefed_tests::images::build_and_load("kubefed-rs")?; // `kubefed-rs:<content tag>`
//! // use image.reference in pod specs with imagePullPolicy: Never
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::node::CONTAINERD_SOCKET;
use crate::{Error, Result, io_err};

/// A built image: `name` is `pause` or `kubefed-rs`; `reference` is what pod specs use (e.g.
/// `kubefed-rs:0123456789ab`; the tag is derived from the layer's content); `tarball` the OCI archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    pub reference: String,
    pub tarball: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hack/images.sh")
}

/// Builds `pause`, `kubefed-rs` or `all` (tarballs are cached by content). Building `kubefed-rs` runs
/// `cargo build --release` in `$KUBEFED_CACHE/target-images` (a target dir of its own, so it never waits for
/// the lock of the `cargo test` running us) unless `KUBEFED_IMAGE_BINS` names prebuilt binaries.
pub fn build(which: &str) -> Result<Vec<Image>> {
    run(&["build", which])
}

/// Builds and loads into the node's containerd (a testbed with `node: true` must be running). Returns the
/// image, or the first one for `all`.
pub fn build_and_load(which: &str) -> Result<Image> {
    run(&["load", which])?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Other(format!("hack/images.sh load {which} printed no image")))
}

/// Like [`build_and_load`], with the binaries taken from `bins` (`KUBEFED_IMAGE_BINS`) instead of a release
/// build: end-to-end tests pass [`test_binaries`], so the image holds exactly the code under test.
pub fn build_and_load_from(which: &str, bins: &Path) -> Result<Image> {
    run_with(&["load", which], Some(bins))?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Other(format!("hack/images.sh load {which} printed no image")))
}

/// Builds `kubefed-webhook`, `kubefed-controller` and `kubectl-fed` with cargo into the target directory and
/// profile the running test binary was built in (a no-op when they are fresh) and returns that directory.
/// Only for test binaries (it finds the target directory from `current_exe`).
pub fn test_binaries() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(io_err("finding the test binary"))?;
    // <target>/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| Error::Other("cannot find the target directory of this test binary".into()))?
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| Error::Other("cannot find the target directory".into()))?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "-p",
            "kubefed-webhook",
            "-p",
            "kubefed-controller",
            "-p",
            "kubectl-fed",
        ])
        .args([
            "--bin",
            "kubefed-webhook",
            "--bin",
            "kubefed-controller",
            "--bin",
            "kubectl-fed",
        ])
        .env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().map_err(io_err("running cargo build"))?;
    if !status.success() {
        return Err(Error::Other(format!(
            "building the binaries for the image failed ({status})"
        )));
    }
    Ok(profile_dir)
}

/// Loads a built image into the node's containerd.
pub fn load(image: &Image) -> Result<()> {
    let out = Command::new("ctr")
        .args(["-a", CONTAINERD_SOCKET, "-n", "k8s.io", "images", "import"])
        .arg(&image.tarball)
        .output()
        .map_err(io_err("running ctr images import"))?;
    if !out.status.success() {
        return Err(Error::Other(format!(
            "ctr images import {} failed: {}",
            image.tarball.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The CRI's full name of an image reference: no registry means `docker.io`, no path `library/`.
pub fn normalize(reference: &str) -> String {
    match reference.split_once('/') {
        None => format!("docker.io/library/{reference}"),
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            reference.to_string()
        }
        Some(_) => format!("docker.io/{reference}"),
    }
}

fn run(args: &[&str]) -> Result<Vec<Image>> {
    run_with(args, None)
}

fn run_with(args: &[&str], bins: Option<&Path>) -> Result<Vec<Image>> {
    let mut cmd = Command::new("bash");
    cmd.arg(script()).args(args).stderr(Stdio::inherit());
    if let Some(bins) = bins {
        cmd.env("KUBEFED_IMAGE_BINS", bins);
    } else if std::env::var_os("KUBEFED_IMAGE_BINS").is_none() {
        let cache = std::env::var_os("KUBEFED_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kubefed-rs")))
            .ok_or_else(|| Error::Other("neither KUBEFED_CACHE nor HOME is set".into()))?;
        cmd.env("CARGO_TARGET_DIR", cache.join("target-images"));
    }
    let out = cmd
        .output()
        .map_err(io_err(format!("running {}", script().display())))?;
    if !out.status.success() {
        return Err(Error::Other(format!(
            "hack/images.sh {} failed ({}); see its output above",
            args.join(" "),
            out.status
        )));
    }
    Ok(parse(&String::from_utf8_lossy(&out.stdout)))
}

/// Lines of `<name> <reference> <tarball>`.
fn parse(stdout: &str) -> Vec<Image> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(Image {
                name: f.next()?.to_string(),
                reference: f.next()?.to_string(),
                tarball: PathBuf::from(f.next()?),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_the_cri() {
        assert_eq!(normalize("kubefed-rs:abc"), "docker.io/library/kubefed-rs:abc");
        assert_eq!(normalize("kubefed.local/pause:1"), "kubefed.local/pause:1");
        assert_eq!(normalize("org/app:1"), "docker.io/org/app:1");
        assert_eq!(normalize("localhost/app:1"), "localhost/app:1");
    }

    #[test]
    fn parses_script_lines() {
        let got = parse("pause kubefed.local/pause:1 /c/pause-1.tar\n\nnoise\n");
        assert_eq!(
            got,
            vec![Image {
                name: "pause".into(),
                reference: "kubefed.local/pause:1".into(),
                tarball: "/c/pause-1.tar".into()
            }]
        );
    }
}
