//! What the user sees: objects as YAML or JSON on stdout, one line per object acted on (kubectl's
//! `<kind>.<group>/<name> <verb>`), `Warning: …` and `error: …` lines on stderr, and a progress bar on
//! stderr for large inputs when stderr is a terminal.
//!
//! Objects are rendered completely before anything is written, so a failure never leaves half a document
//! on stdout for a pipeline to apply.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::cli::Format;

/// Inputs with more objects than this get a progress bar (on a terminal).
pub const PROGRESS_THRESHOLD: usize = 20;

/// Renders objects: YAML documents separated by `---`, or JSON — the object itself when there is one,
/// a `kind: List` otherwise (as `kubectl get -o json` does).
pub fn render(objects: &[Value], format: Format) -> anyhow::Result<String> {
    match format {
        Format::Yaml => {
            let mut out = String::new();
            for (i, obj) in objects.iter().enumerate() {
                if i > 0 {
                    out.push_str("---\n");
                }
                out.push_str(&to_yaml(obj)?);
            }
            Ok(out)
        }
        Format::Json => {
            let value = match objects {
                [one] => one.clone(),
                many => json!({"apiVersion": "v1", "kind": "List", "items": many, "metadata": {}}),
            };
            let mut text = serde_json::to_string_pretty(&value)?;
            text.push('\n');
            Ok(text)
        }
    }
}

/// In-memory output beyond which [`Rendered`] spills to a temporary file.
const SPILL_BYTES: usize = 1024 * 1024;

/// Objects rendered one at a time, for `federate`'s all-or-nothing output: only the serialized text is
/// kept, never the objects — in memory up to [`SPILL_BYTES`], then in an unnamed temporary file, so memory
/// does not grow with the output. Objects rendered out of order (converted late) are placed at the spot
/// reserved for them with [`Rendered::reserve`].
pub struct Rendered {
    format: Format,
    /// The text not yet spilled.
    text: String,
    spill: Option<std::fs::File>,
    /// Bytes written to `spill`.
    spilled: u64,
    /// Offsets in the whole text of the reserved spots, in order, and what fills each.
    holes: Vec<(u64, String)>,
    count: usize,
    spill_at: usize,
}

impl Rendered {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            text: String::new(),
            spill: None,
            spilled: 0,
            holes: Vec::new(),
            count: 0,
            spill_at: SPILL_BYTES,
        }
    }

    /// Appends one object.
    pub fn push(&mut self, value: &Value) -> anyhow::Result<()> {
        let mut text = std::mem::take(&mut self.text);
        let done = self.render_into(value, &mut text);
        self.text = text;
        done?;
        if self.text.len() >= self.spill_at {
            let file = match &mut self.spill {
                Some(f) => f,
                None => self.spill.insert(
                    tempfile::tempfile()
                        .map_err(|e| anyhow::anyhow!("cannot create a temporary file: {e}"))?,
                ),
            };
            file.write_all(self.text.as_bytes())
                .map_err(|e| anyhow::anyhow!("cannot write a temporary file: {e}"))?;
            self.spilled += self.text.len() as u64;
            self.text.clear();
        }
        Ok(())
    }

    /// Reserves the spot of an object converted later; returns the spot's number for [`Self::fill`].
    pub fn reserve(&mut self) -> usize {
        self.holes
            .push((self.spilled + self.text.len() as u64, String::new()));
        self.holes.len() - 1
    }

    /// Renders an object into a reserved spot.
    pub fn fill(&mut self, spot: usize, value: &Value) -> anyhow::Result<()> {
        let mut text = String::new();
        self.render_into(value, &mut text)?;
        if let Some((_, hole)) = self.holes.get_mut(spot) {
            *hole = text;
        }
        Ok(())
    }

    fn render_into(&mut self, value: &Value, out: &mut String) -> anyhow::Result<()> {
        self.count += 1;
        match self.format {
            // Every document starts with `---`; the very first one is dropped when writing.
            Format::Yaml => {
                out.push_str("---\n");
                // Rendered in place: no string per object to copy. The fast writer writes exactly what
                // serde-saphyr would, or declines and leaves it to serde-saphyr.
                let start = out.len();
                if !kubefed_core::yaml_emit::to_yaml_into(value, out)
                    && let Err(e) = serde_saphyr::to_fmt_writer(out, value)
                {
                    out.truncate(start - 4);
                    anyhow::bail!("cannot render YAML: {e}");
                }
                if out.len() == start || !out.ends_with('\n') {
                    out.push('\n');
                }
            }
            // Every item starts with `,` and a newline and is indented as an item of a List, without a
            // newline at its end; undone for a single object.
            Format::Json => {
                for (i, line) in serde_json::to_string_pretty(value)?.lines().enumerate() {
                    out.push_str(if i == 0 { ",\n    " } else { "\n    " });
                    out.push_str(line);
                }
            }
        }
        Ok(())
    }

    /// Copies bytes `from..to` of the whole text (spilled, then in memory) to `out`.
    fn copy_range(&mut self, from: u64, to: u64, out: &mut dyn Write) -> std::io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        if from >= to {
            return Ok(());
        }
        if from < self.spilled
            && let Some(file) = &mut self.spill
        {
            let end = to.min(self.spilled);
            file.seek(SeekFrom::Start(from))?;
            std::io::copy(&mut Read::by_ref(file).take(end - from), out)?;
        }
        let start = usize::try_from(from.max(self.spilled) - self.spilled).unwrap_or(usize::MAX);
        let end = usize::try_from(to.saturating_sub(self.spilled)).unwrap_or(usize::MAX);
        if start < end {
            out.write_all(self.text.get(start..end).unwrap_or_default().as_bytes())?;
        }
        Ok(())
    }

    /// Writes everything to `out`: YAML documents separated by `---`, or JSON — the object itself when
    /// there is one, a `kind: List` otherwise (as [`render`] does).
    pub fn write_to(mut self, out: &mut dyn Write) -> std::io::Result<()> {
        let total = self.spilled + self.text.len() as u64;
        let holes = std::mem::take(&mut self.holes);
        let mut whole = Vec::new();
        // The pieces in order: (range of the text, or a hole's text).
        let single_json = self.format == Format::Json && self.count == 1;
        let mut sink: Box<dyn Write + '_> = if single_json {
            Box::new(&mut whole)
        } else {
            Box::new(&mut *out)
        };
        if self.format == Format::Json && !single_json {
            sink.write_all(b"{\n  \"apiVersion\": \"v1\",\n  \"items\": [\n")?;
        }
        let strip: &[u8] = match self.format {
            Format::Yaml => b"---\n",
            Format::Json => b",\n",
        };
        // The first piece starts with the separator: skip it.
        let mut skip = strip.len() as u64;
        let mut at = 0;
        for (offset, hole) in holes.iter().map(|(o, h)| (*o, h.as_str())).chain([(total, "")]) {
            let from = at + skip.min(offset - at);
            skip -= from - at;
            self.copy_range(from, offset, &mut *sink)?;
            let hole = hole.as_bytes();
            let cut = usize::try_from(skip).unwrap_or(0).min(hole.len());
            sink.write_all(&hole[cut..])?;
            skip -= cut as u64;
            at = offset;
        }
        if self.format == Format::Json && !single_json {
            sink.write_all(b"\n  ],\n  \"kind\": \"List\",\n  \"metadata\": {}\n}\n")?;
        }
        drop(sink);
        if single_json {
            // The one object, unindented.
            for line in String::from_utf8_lossy(&whole).lines() {
                out.write_all(line.strip_prefix("    ").unwrap_or(line).as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }
}

/// One object as a YAML document.
pub fn to_yaml(value: &Value) -> anyhow::Result<String> {
    let mut text = String::new();
    if !kubefed_core::yaml_emit::to_yaml_into(value, &mut text) {
        text = serde_saphyr::to_string(value).map_err(|e| anyhow::anyhow!("cannot render YAML: {e}"))?;
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error worth a message.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// `Warning: <text>` on stderr, as kubectl prints the API server's warnings.
pub fn warn(text: &str) {
    eprintln!("Warning: {text}");
}

/// `error: <text>` on stderr.
pub fn error(text: &str) {
    eprintln!("error: {text}");
}

/// How kubectl names an object in its one-line reports: `federateddeployment.types.kubefed.io/web`
/// (`namespace/web` for the core group).
pub fn object_ref(kind: &str, group: &str, name: &str) -> String {
    let kind = kind.to_ascii_lowercase();
    if group.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}.{group}/{name}")
    }
}

/// A kubectl-style table: columns padded to their widest cell, separated by three spaces, no trailing blanks.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("   ");
            }
            line.push_str(cell);
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// kubectl's age: `45s`, `12m`, `5h`, `3d` (two units while short: `2m30s`, `3h20m`).
pub fn age(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10800 => format!("{}m", s / 60),
        10800..172800 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86400),
    }
}

/// The one-line reports of a run, with a progress bar on stderr when it is a terminal and the run is large.
pub struct Reporter {
    bar: Option<ProgressBar>,
}

impl Reporter {
    /// A reporter for `total` objects.
    pub fn new(total: usize) -> Self {
        let bar = (total > PROGRESS_THRESHOLD && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} objects [{elapsed}]") {
                bar.set_style(style);
            }
            bar
        });
        Self { bar }
    }

    /// Prints a line on stdout (above the bar).
    pub fn line(&self, text: &str) {
        self.suspend(|| {
            let _ = print_stdout(&format!("{text}\n"));
        });
    }

    /// Prints a warning on stderr (above the bar).
    pub fn warn(&self, text: &str) {
        self.suspend(|| warn(text));
    }

    /// Prints an error on stderr (above the bar).
    pub fn error(&self, text: &str) {
        self.suspend(|| error(text));
    }

    /// Counts one object done.
    pub fn tick(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_and_json_lists() {
        let a = json!({"kind": "A", "metadata": {"name": "a"}, "data": {"on": "yes", "mode": "0644", "n": "n", "y": "Y",
            "off": "OFF", "null": "~", "float": "1e3", "hex": "0x1F", "sexagesimal": "1:20", "empty": "", "t": "true"}});
        let b = json!({"kind": "B"});
        let yaml = render(&[a.clone(), b.clone()], Format::Yaml).expect("renders");
        assert!(yaml.contains("\n---\nkind: B\n"), "{yaml}");
        // Strings that YAML 1.1 would read as booleans or octal numbers stay strings.
        let back = kubefed_core::parse_manifests(
            "out.yaml",
            &yaml
                .replace("kind: A", "kind: A\napiVersion: v1")
                .replace("kind: B", "kind: B\napiVersion: v1\nmetadata: {name: b}"),
            &Default::default(),
        )
        .expect("parses back");
        assert_eq!(back[0].object["data"], a["data"]);
        let one = render(std::slice::from_ref(&b), Format::Json).expect("renders");
        assert_eq!(serde_json::from_str::<Value>(&one).expect("json"), b);
        let two: Value =
            serde_json::from_str(&render(&[a, b], Format::Json).expect("renders")).expect("json");
        assert_eq!(
            (two["kind"].as_str(), two["items"].as_array().map(Vec::len)),
            (Some("List"), Some(2))
        );
    }

    #[test]
    fn rendered_one_at_a_time_spilled_and_out_of_order_is_render() {
        let objects: Vec<Value> = (0..6)
            .map(|i| json!({"kind": "K", "metadata": {"name": format!("o{i}")}, "data": {"n": i}}))
            .collect();
        for format in [Format::Yaml, Format::Json] {
            for count in [1, 6] {
                for spill_at in [1, 40, usize::MAX] {
                    let mut r = Rendered::new(format);
                    r.spill_at = spill_at;
                    // Objects 0 and 3 are converted late.
                    let mut spots = Vec::new();
                    for (i, o) in objects.iter().take(count).enumerate() {
                        if i % 3 == 0 {
                            spots.push((r.reserve(), o));
                        } else {
                            r.push(o).expect("renders");
                        }
                    }
                    for (spot, o) in spots {
                        r.fill(spot, o).expect("renders");
                    }
                    let mut out = Vec::new();
                    r.write_to(&mut out).expect("writes");
                    let want = render(&objects[..count], format).expect("renders");
                    assert_eq!(
                        String::from_utf8(out).expect("UTF-8"),
                        want,
                        "{format:?}, {count} objects, spill at {spill_at}"
                    );
                }
            }
        }
    }

    #[test]
    fn yaml_is_serde_saphyrs_whether_the_fast_writer_takes_the_object_or_not() {
        // The second object has a key too long for the fast writer: serde-saphyr writes it.
        let long_key = "k".repeat(2000);
        let objects = [
            json!({"kind": "A", "data": {"on": "yes", "text": "a\nb\n", "n": [1, 2.5, null]}}),
            json!({"kind": "B", "data": { long_key.as_str(): "x" }}),
        ];
        let mut want = String::new();
        for (i, o) in objects.iter().enumerate() {
            if i > 0 {
                want.push_str("---\n");
            }
            want.push_str(&serde_saphyr::to_string(o).expect("renders"));
            assert_eq!(
                to_yaml(o).expect("renders"),
                serde_saphyr::to_string(o).expect("renders")
            );
        }
        assert_eq!(render(&objects, Format::Yaml).expect("renders"), want);
        let mut r = Rendered::new(Format::Yaml);
        for o in &objects {
            r.push(o).expect("renders");
        }
        let mut out = Vec::new();
        r.write_to(&mut out).expect("writes");
        assert_eq!(String::from_utf8(out).expect("UTF-8"), want);
    }

    #[test]
    fn tables_and_ages() {
        let t = table(
            &["NAME", "READY"],
            &[
                vec!["member-1".into(), "True".into()],
                vec!["m2".into(), "".into()],
            ],
        );
        assert_eq!(t, "NAME       READY\nmember-1   True\nm2\n");
        let secs = std::time::Duration::from_secs;
        assert_eq!(age(secs(59)), "59s");
        assert_eq!(age(secs(150)), "2m30s");
        assert_eq!(age(secs(3000)), "50m");
        assert_eq!(age(secs(4 * 3600 + 60)), "4h1m");
        assert_eq!(age(secs(5 * 86400)), "5d");
    }

    #[test]
    fn object_refs_like_kubectl() {
        assert_eq!(
            object_ref("FederatedDeployment", "types.kubefed.io", "web"),
            "federateddeployment.types.kubefed.io/web"
        );
        assert_eq!(object_ref("Namespace", "", "web"), "namespace/web");
    }
}
