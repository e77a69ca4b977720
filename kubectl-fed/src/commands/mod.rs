//! One module per command; each has a `run` that returns an error for any failure (the exit code is 1).

pub mod apply;
pub mod check;
pub mod completion;
pub mod diff;
pub mod disable;
pub mod enable;
pub mod federate;
pub mod get;
pub mod join;
pub mod migrate;
pub mod status;
pub mod unjoin;
pub mod version;

use kubefed_core::manifest::ManifestObject;

use crate::cli::InputArgs;
use crate::{input, output};

/// Reads `-f` inputs; any error (every one is printed) stops the command before anything is converted.
pub(crate) fn read_input(args: &InputArgs) -> anyhow::Result<Vec<ManifestObject>> {
    let read = input::read(&args.filenames, args.recursive, &mut std::io::stdin().lock());
    if !read.errors.is_empty() {
        for e in &read.errors {
            output::error(e);
        }
        let n = read.errors.len();
        anyhow::bail!(
            "the input has {n} error{}; nothing was done",
            if n == 1 { "" } else { "s" }
        );
    }
    if read.objects.is_empty() {
        anyhow::bail!("no objects passed to {}: the input is empty", "kubectl fed");
    }
    Ok(read.objects)
}
