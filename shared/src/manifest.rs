//! Reading what users feed `kubectl fed`: plain manifests, as files or standard input.
//!
//! Accepted input, in any mix a real pipeline produces:
//! - multi-document YAML (`---` separators, `...` end markers, comments, empty documents), which covers
//!   hand-written files and the output of `helm template` (`# Source:` comments, documents templated
//!   away to nothing);
//! - JSON: one object, several concatenated, or one per line (NDJSON) — detected by a leading `{` or `[`;
//! - lists: `kind: List` (what `kubectl get -o yaml` prints, server fields and all) and typed lists such
//!   as `DeploymentList`, whose `items` are flattened (typed-list items without `kind`/`apiVersion` get
//!   them from the list, as kubectl does).
//!
//! Every object carries a [`Source`] — file, document number, line — so later errors point at the input.
//!
//! The YAML stream is split into documents here, on `---`/`...` lines at column 0, exactly where the
//! YAML spec says a document may end, instead of handing the whole stream to the parser: each document
//! then gets its own line numbers and resource budget, a broken document does not hide the position of
//! the others, and objects can be produced one at a time ([`Manifests`] is an iterator), so a large input
//! never has to be held twice in memory. YAML follows kubectl's (YAML 1.1) reading of scalars:
//! `0644` is octal, `yes`/`on` are booleans, duplicate keys are errors.
//!
//! Hostile input is bounded by [`ParseLimits`]: total size and nesting depth (checked while parsing, so
//! deep nesting is rejected before it can exhaust the stack), plus serde-saphyr's own budgets against
//! alias bombs.
//!
//! Speed: a plain document (no anchors, tags, merge keys or odd keys — nearly every manifest) is read
//! straight from the parser's events by [`crate::yaml`], about three times faster than serde-saphyr's
//! deserializer; everything else, and every error, is serde-saphyr's, so the result is the same either way.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::{MessageFormatter, Spanned};

use crate::yaml::{PlainLimits, read_plain};

/// Default for [`ParseLimits::max_input_bytes`]: 64 MiB.
pub const DEFAULT_MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;
/// Default for [`ParseLimits::max_depth`]: 100 levels of nested mappings and sequences.
pub const DEFAULT_MAX_DEPTH: usize = 100;

/// Bounds on untrusted input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest accepted input, in bytes.
    pub max_input_bytes: usize,
    /// Deepest accepted nesting of mappings and sequences in one document (the document itself is
    /// level 1). Most manifests stay under 20; CRD schemas reach 40 or so.
    ///
    /// The YAML deserializer recurses once per level, so this also bounds the stack used: about 5 KiB a
    /// level in release builds and 40 KiB in debug builds — the default needs 0.5 MiB (4 MiB in debug),
    /// which a main thread has. Parse on a thread with enough stack, or lower the limit, elsewhere.
    pub max_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// Where an object came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    /// File name as given by the caller (e.g. `app.yaml`, or `-` for standard input).
    pub file: Arc<str>,
    /// 1-based number of the document in the file (YAML document, or JSON value).
    pub document: usize,
    /// 1-based line where the object starts (its first line of content, after `---` and comments).
    pub line: usize,
    /// 0-based index in the `items` of the list the object was taken from, if any.
    pub item: Option<usize>,
}

impl fmt::Display for Source {
    /// `app.yaml:12 (document 3)`, or `app.yaml:14 (document 3, items[1])` for a list item.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} (document {}", self.file, self.line, self.document)?;
        if let Some(item) = self.item {
            write!(f, ", items[{item}]")?;
        }
        f.write_str(")")
    }
}

/// One Kubernetes object read from the input, checked to have `apiVersion`, `kind` and `metadata.name`.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestObject {
    pub source: Source,
    /// The object as written (always a JSON object).
    pub object: Value,
}

impl ManifestObject {
    /// The object's `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The object's `kind`.
    pub fn kind(&self) -> &str {
        self.object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The object's `metadata.name`.
    pub fn name(&self) -> &str {
        self.object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The object's `metadata.namespace`, if set and not empty.
    pub fn namespace(&self) -> Option<&str> {
        self.object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
    }
}

/// Why the input could not be read. Each message starts with the place (`file:line`) and says what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "{file}: the input is {size} bytes, more than the limit of {limit} bytes; split it into smaller files"
    )]
    TooLarge {
        file: Arc<str>,
        size: usize,
        limit: usize,
    },
    #[error("{file}: the input is not UTF-8 text (invalid byte at offset {offset}); save it as UTF-8")]
    NotUtf8 { file: Arc<str>, offset: usize },
    #[error("{file}: cannot read: {message}")]
    Read { file: Arc<str>, message: String },
    #[error("{file}:{line}:{column}: invalid YAML in document {document}: {message}")]
    InvalidYaml {
        file: Arc<str>,
        document: usize,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}:{line}:{column}: invalid JSON: {message}")]
    InvalidJson {
        file: Arc<str>,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{at}: the document nests deeper than {limit} levels; no Kubernetes object is this deep, so check how \
         the file was generated"
    )]
    TooDeep { at: Source, limit: usize },
    #[error(
        "{at}: expected a Kubernetes object (a mapping with apiVersion, kind and metadata), found {found}{hint}"
    )]
    NotAMapping {
        at: Source,
        found: &'static str,
        hint: &'static str,
    },
    #[error("{at}: the object has no `kind`; add one, e.g. `kind: Deployment`")]
    MissingKind { at: Source },
    #[error("{at}: {kind} has no `apiVersion`; add one, e.g. `apiVersion: apps/v1`")]
    MissingApiVersion { at: Source, kind: String },
    #[error("{at}: `{field}` must be {expected}, found {found}")]
    InvalidField {
        at: Source,
        field: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error(
        "{at}: {kind} has no metadata.name; a federated object needs a fixed name, so set metadata.name{hint}"
    )]
    MissingName { at: Source, kind: String, hint: String },
}

/// Parses a whole input and returns its objects, or the first error.
///
/// Stops at the first error so that nothing from a broken file is applied. Use [`Manifests`] to see every
/// error, or to process a large input one object at a time.
///
/// ```
/// use kubefed_core::manifest::{parse_manifests, ParseLimits};
/// let objs = parse_manifests("app.yaml", "kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\n",
///     &ParseLimits::default())?;
/// assert_eq!(objs[0].kind(), "ConfigMap");
/// assert_eq!(objs[0].source.to_string(), "app.yaml:1 (document 1)");
/// # Ok::<(), kubefed_core::manifest::ManifestError>(())
/// ```
pub fn parse_manifests(
    file: &str,
    input: &str,
    limits: &ParseLimits,
) -> Result<Vec<ManifestObject>, ManifestError> {
    Manifests::new(file, input, limits).collect()
}

/// Like [`parse_manifests`], for raw bytes (a file read from disk): rejects non-UTF-8 input with its offset.
pub fn parse_manifest_bytes(
    file: &str,
    input: &[u8],
    limits: &ParseLimits,
) -> Result<Vec<ManifestObject>, ManifestError> {
    if input.len() > limits.max_input_bytes {
        return Err(ManifestError::TooLarge {
            file: file.into(),
            size: input.len(),
            limit: limits.max_input_bytes,
        });
    }
    let text = std::str::from_utf8(input).map_err(|e| ManifestError::NotUtf8 {
        file: file.into(),
        offset: e.valid_up_to(),
    })?;
    parse_manifests(file, text, limits)
}

/// Iterator over the objects of one input, in order, flattening lists.
///
/// After an error in one YAML document it goes on with the next document (documents are independent);
/// after an error in JSON, or a size error, it ends.
pub struct Manifests<'a> {
    file: Arc<str>,
    limits: ParseLimits,
    mode: Mode<'a>,
    pending: VecDeque<Result<ManifestObject, ManifestError>>,
    yaml_options: serde_saphyr::Options,
    plain_limits: PlainLimits,
}

enum Mode<'a> {
    Yaml(YamlSplitter<'a>),
    /// YAML read from a stream one document at a time ([`Manifests::from_reader`]).
    YamlReader(Box<ReaderSplitter<'a>>),
    /// Input that starts like JSON but is not: read as YAML (`{a: 1}` is a YAML flow mapping); if that
    /// fails too, the JSON error is the one reported, as the user most likely meant JSON.
    YamlAfterJson(YamlSplitter<'a>, ManifestError),
    Json(JsonStream<'a>),
    Done,
}

impl<'a> Manifests<'a> {
    /// Starts reading `input`; `file` names it in every [`Source`] and error.
    pub fn new(file: &str, input: &'a str, limits: &ParseLimits) -> Self {
        let file: Arc<str> = file.into();
        let mut pending = VecDeque::new();
        let input = input.strip_prefix('\u{feff}').unwrap_or(input);
        let mode = if input.len() > limits.max_input_bytes {
            pending.push_back(Err(ManifestError::TooLarge {
                file: file.clone(),
                size: input.len(),
                limit: limits.max_input_bytes,
            }));
            Mode::Done
        } else if matches!(input.trim_start().as_bytes().first(), Some(b'{' | b'[')) {
            Mode::Json(JsonStream::new(input))
        } else {
            Mode::Yaml(YamlSplitter::new(input))
        };
        Self {
            file,
            limits: *limits,
            mode,
            pending,
            yaml_options: yaml_options(limits),
            plain_limits: plain_limits(limits),
        }
    }

    /// Reads YAML from `reader` one document at a time, so that only the current document is held: for
    /// large inputs read from a file or a pipe. JSON input is not detected here (see [`looks_like_json`]):
    /// read it whole and use [`Manifests::new`]. A read error, non-UTF-8 text or more than
    /// [`ParseLimits::max_input_bytes`] ends the iteration with an error.
    pub fn from_reader(file: &str, reader: impl std::io::BufRead + 'a, limits: &ParseLimits) -> Self {
        Self {
            file: file.into(),
            limits: *limits,
            mode: Mode::YamlReader(Box::new(ReaderSplitter::new(
                Box::new(reader),
                limits.max_input_bytes,
            ))),
            pending: VecDeque::new(),
            yaml_options: yaml_options(limits),
            plain_limits: plain_limits(limits),
        }
    }

    fn source(&self, document: usize, line: usize) -> Source {
        Source {
            file: self.file.clone(),
            document,
            line,
            item: None,
        }
    }

    /// Reads the next document into `pending`; false at the end of the input.
    fn read_document(&mut self) -> bool {
        match &mut self.mode {
            Mode::Done => false,
            Mode::Yaml(splitter) | Mode::YamlAfterJson(splitter, _) => {
                let Some(doc) = splitter.next_document() else {
                    self.mode = Mode::Done;
                    return false;
                };
                let at = self.source(doc.number, doc.line);
                match parse_yaml_document(
                    &doc,
                    &self.yaml_options,
                    &self.plain_limits,
                    &self.file,
                    self.limits.max_depth,
                ) {
                    Ok(Some(value)) => {
                        let item_lines = if is_list(&value) {
                            list_item_lines(&doc, &self.yaml_options)
                        } else {
                            Vec::new()
                        };
                        self.emit(value, at, &item_lines);
                    }
                    Ok(None) => {}
                    Err(e @ ManifestError::TooDeep { .. }) => self.pending.push_back(Err(e)),
                    Err(e) => match std::mem::replace(&mut self.mode, Mode::Done) {
                        Mode::YamlAfterJson(_, json_error) => self.pending.push_back(Err(json_error)),
                        other => {
                            self.mode = other;
                            self.pending.push_back(Err(e));
                        }
                    },
                }
                true
            }
            Mode::YamlReader(splitter) => {
                let doc = match splitter.next_document() {
                    Ok(Some(doc)) => doc,
                    Ok(None) => {
                        self.mode = Mode::Done;
                        return false;
                    }
                    Err(e) => {
                        let e = e.into_error(&self.file);
                        self.mode = Mode::Done;
                        self.pending.push_back(Err(e));
                        return true;
                    }
                };
                let at = Source {
                    file: self.file.clone(),
                    document: doc.number,
                    line: doc.line,
                    item: None,
                };
                let parsed = parse_yaml_document(
                    &doc,
                    &self.yaml_options,
                    &self.plain_limits,
                    &self.file,
                    self.limits.max_depth,
                );
                match parsed {
                    Ok(Some(value)) => {
                        let item_lines = if is_list(&value) {
                            list_item_lines(&doc, &self.yaml_options)
                        } else {
                            Vec::new()
                        };
                        self.emit(value, at, &item_lines);
                    }
                    Ok(None) => {}
                    Err(e) => self.pending.push_back(Err(e)),
                }
                true
            }
            Mode::Json(stream) => match stream.next_value(&self.file, self.limits.max_depth) {
                JsonNext::End => {
                    self.mode = Mode::Done;
                    false
                }
                JsonNext::NotJson(input, json_error) => {
                    self.mode = Mode::YamlAfterJson(YamlSplitter::new(input), json_error);
                    true
                }
                JsonNext::Error(e) => {
                    self.mode = Mode::Done;
                    self.pending.push_back(Err(e));
                    true
                }
                JsonNext::Value {
                    value,
                    document,
                    line,
                } => {
                    let at = self.source(document, line);
                    if depth_exceeds(&value, self.limits.max_depth) {
                        self.pending.push_back(Err(ManifestError::TooDeep {
                            at,
                            limit: self.limits.max_depth,
                        }));
                    } else {
                        self.emit(value, at, &[]);
                    }
                    true
                }
            },
        }
    }

    /// Queues the object(s) of one parsed document: the object itself, or the items of a list.
    fn emit(&mut self, value: Value, at: Source, item_lines: &[usize]) {
        let Value::Object(map) = value else {
            let (found, hint) = match value {
                Value::Array(_) => (
                    "a list",
                    "; to give several objects in one document, wrap them in `{\"apiVersion\": \"v1\", \
                     \"kind\": \"List\", \"items\": [...]}`",
                ),
                other => (type_name(&other), ""),
            };
            self.pending
                .push_back(Err(ManifestError::NotAMapping { at, found, hint }));
            return;
        };
        let kind = match map.get("kind") {
            None | Some(Value::Null) => {
                self.pending.push_back(Err(ManifestError::MissingKind { at }));
                return;
            }
            Some(Value::String(k)) if k.is_empty() => {
                self.pending.push_back(Err(ManifestError::MissingKind { at }));
                return;
            }
            Some(Value::String(k)) => k.clone(),
            Some(other) => {
                let found = type_name(other);
                self.pending
                    .push_back(Err(invalid(at, "kind", "a string", found)));
                return;
            }
        };
        let list_items = kind.ends_with("List") && matches!(map.get("items"), Some(Value::Array(_)));
        if !list_items {
            if kind == "List" {
                let found = map.get("items").map_or("nothing", type_name);
                self.pending.push_back(Err(invalid(at, "items", "a list", found)));
            } else {
                self.pending.push_back(check_object(map, kind, at));
            }
            return;
        }
        let mut map = map;
        let items = match map.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        // Typed lists (`DeploymentList`, as the API returns them) omit kind/apiVersion in their items.
        let item_kind = kind
            .strip_suffix("List")
            .filter(|k| !k.is_empty() && kind != "List");
        let list_api_version = map.get("apiVersion").and_then(Value::as_str);
        for (index, item) in items.into_iter().enumerate() {
            let item_at = Source {
                line: item_lines.get(index).copied().unwrap_or(at.line),
                item: Some(index),
                ..at.clone()
            };
            let item = match (item, item_kind) {
                (Value::Object(mut obj), Some(ik)) => {
                    obj.entry("kind").or_insert_with(|| Value::String(ik.to_string()));
                    if let Some(av) = list_api_version {
                        obj.entry("apiVersion")
                            .or_insert_with(|| Value::String(av.to_string()));
                    }
                    Value::Object(obj)
                }
                (other, _) => other,
            };
            // A list inside a list is flattened too; depth is bounded by `max_depth`.
            self.emit(item, item_at, &[]);
        }
    }
}

impl Iterator for Manifests<'_> {
    type Item = Result<ManifestObject, ManifestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(next) = self.pending.pop_front() {
                return Some(next);
            }
            if !self.read_document() {
                return self.pending.pop_front();
            }
        }
    }
}

fn invalid(at: Source, field: &'static str, expected: &'static str, found: &'static str) -> ManifestError {
    ManifestError::InvalidField {
        at,
        field,
        expected,
        found,
    }
}

/// Checks the fields every federatable object needs.
fn check_object(map: Map<String, Value>, kind: String, at: Source) -> Result<ManifestObject, ManifestError> {
    match map.get("apiVersion") {
        Some(Value::String(v)) if !v.is_empty() => {}
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(ManifestError::MissingApiVersion { at, kind });
        }
        Some(other) => return Err(invalid(at, "apiVersion", "a string", type_name(other))),
    }
    let metadata = match map.get("metadata") {
        Some(Value::Object(m)) => Some(m),
        None | Some(Value::Null) => None,
        Some(other) => return Err(invalid(at, "metadata", "a mapping", type_name(other))),
    };
    let name = metadata.and_then(|m| m.get("name"));
    match name {
        Some(Value::String(n)) if !n.is_empty() => {}
        None | Some(Value::Null) | Some(Value::String(_)) => {
            let hint = match metadata
                .and_then(|m| m.get("generateName"))
                .and_then(Value::as_str)
            {
                Some(g) if !g.is_empty() => {
                    format!(
                        " (metadata.generateName {g:?} is not supported: the name must be the same in every cluster)"
                    )
                }
                _ => String::new(),
            };
            return Err(ManifestError::MissingName { at, kind, hint });
        }
        Some(other) => return Err(invalid(at, "metadata.name", "a string", type_name(other))),
    }
    match metadata.and_then(|m| m.get("namespace")) {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(other) => return Err(invalid(at, "metadata.namespace", "a string", type_name(other))),
    }
    Ok(ManifestObject {
        source: at,
        object: Value::Object(map),
    })
}

fn is_list(value: &Value) -> bool {
    value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && matches!(value.get("items"), Some(Value::Array(_)))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Whether `value` nests deeper than `max` levels (the value itself is level 1). Recursion is bounded by
/// serde_json's own limit of 128 levels, the only input that reaches this unchecked.
fn depth_exceeds(value: &Value, max: usize) -> bool {
    fn walk(v: &Value, level: usize, max: usize) -> bool {
        match v {
            Value::Array(items) => level > max || items.iter().any(|i| walk(i, level + 1, max)),
            Value::Object(map) => level > max || map.values().any(|i| walk(i, level + 1, max)),
            _ => false,
        }
    }
    walk(value, 1, max)
}

fn yaml_budget(limits: &ParseLimits) -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = limits.max_depth;
    // One document at a time: the remaining default budgets (1M events, 250k nodes, 64 MiB of scalars,
    // alias/anchor limits) apply per document and are far above any real manifest.
    budget.max_reader_input_bytes = Some(limits.max_input_bytes);
    budget
}

pub(crate) fn plain_limits(limits: &ParseLimits) -> PlainLimits {
    PlainLimits::new(&yaml_options(limits))
}

pub(crate) fn yaml_options(limits: &ParseLimits) -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(yaml_budget(limits));
    options.legacy_octal_numbers = true; // kubectl reads `defaultMode: 0644` as 420
    options.with_snippet = false; // we report our own file:line:column
    options.emit_comments = false;
    options
}

// ---------------------------------------------------------------------------------------------------------
// YAML documents

/// One YAML document of the stream.
struct Document<'a> {
    /// The document's text, including its `---` line if it has one.
    text: &'a str,
    /// 1-based line of the first line of `text`.
    first_line: usize,
    /// 1-based document number.
    number: usize,
    /// 1-based line of the first content (not blank, comment or bare `---`).
    line: usize,
}

/// Splits a YAML stream into documents at lines starting with `---` or `...` (followed by nothing or
/// whitespace), which YAML forbids inside content, so the split never cuts a document in two.
struct YamlSplitter<'a> {
    input: &'a str,
    pos: usize,
    line: usize,
    documents: usize,
}

impl<'a> YamlSplitter<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            input,
            pos: 0,
            line: 1,
            documents: 0,
        }
    }

    /// The next document with content, or an explicit empty one (`---` alone); `None` at the end.
    fn next_document(&mut self) -> Option<Document<'a>> {
        loop {
            if self.pos >= self.input.len() {
                return None;
            }
            let start = self.pos;
            let first_line = self.line;
            let mut explicit = false;
            // Only blank, comment and directive (`%YAML`) lines so far: a following `---` starts this
            // document rather than a new one.
            let mut prefix_only = true;
            let mut content_line = None;
            while self.pos < self.input.len() {
                let rest = &self.input[self.pos..];
                let (line, len) = match rest.find('\n') {
                    Some(i) => (&rest[..i], i + 1),
                    None => (rest, rest.len()),
                };
                let line = line.strip_suffix('\r').unwrap_or(line);
                if is_marker(line, "---") {
                    if explicit || !prefix_only {
                        break; // starts the next document
                    }
                    explicit = true;
                    let after = line[3..].trim();
                    if !after.is_empty() && !after.starts_with('#') {
                        content_line.get_or_insert(self.line);
                        prefix_only = false;
                    }
                } else if is_marker(line, "...") {
                    self.pos += len;
                    self.line += 1;
                    break; // ends this document
                } else {
                    let t = line.trim_start();
                    if !(t.is_empty() || t.starts_with('#') || (prefix_only && line.starts_with('%'))) {
                        content_line.get_or_insert(self.line);
                        prefix_only = false;
                    }
                }
                self.pos += len;
                self.line += 1;
            }
            if explicit || content_line.is_some() {
                self.documents += 1;
            }
            if let Some(line) = content_line {
                return Some(Document {
                    text: &self.input[start..self.pos],
                    first_line,
                    number: self.documents,
                    line,
                });
            }
            // Empty document (only comments, e.g. a helm template rendered to nothing): skip it.
        }
    }
}

/// Whether an input starting with `head` is JSON (a leading `{` or `[` after blanks and a byte-order mark),
/// as [`Manifests::new`] decides; for [`Manifests::from_reader`] callers, who must read JSON whole.
pub fn looks_like_json(head: &[u8]) -> bool {
    let head = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(head);
    matches!(head.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['))
}

/// What ends a [`ReaderSplitter`] early.
enum ReadFailure {
    Io(String),
    NotUtf8(usize),
    TooLarge(usize, usize),
}

impl ReadFailure {
    fn into_error(self, file: &Arc<str>) -> ManifestError {
        match self {
            ReadFailure::Io(e) => ManifestError::Read {
                file: file.clone(),
                message: e,
            },
            ReadFailure::NotUtf8(offset) => ManifestError::NotUtf8 {
                file: file.clone(),
                offset,
            },
            ReadFailure::TooLarge(size, limit) => ManifestError::TooLarge {
                file: file.clone(),
                size,
                limit,
            },
        }
    }
}

/// [`YamlSplitter`]'s rules over a stream: lines are read into the current document's buffer until the line
/// that starts the next document, which is kept for the next call.
struct ReaderSplitter<'a> {
    reader: Box<dyn std::io::BufRead + 'a>,
    limit: usize,
    /// Bytes read so far.
    read: usize,
    /// 1-based number of the next line to read.
    line: usize,
    documents: usize,
    /// The line being read, before it is checked to be UTF-8.
    buf: Vec<u8>,
    /// The current document's text, each line appended once checked (so it is checked only once).
    text: String,
    /// A line read that starts the next document (a `---`).
    carry: String,
    first: bool,
}

impl<'a> ReaderSplitter<'a> {
    fn new(reader: Box<dyn std::io::BufRead + 'a>, limit: usize) -> Self {
        Self {
            reader,
            limit,
            read: 0,
            line: 1,
            documents: 0,
            buf: Vec::with_capacity(4096),
            text: String::with_capacity(4096),
            carry: String::new(),
            first: true,
        }
    }

    /// Appends the next line (with its newline) to `text`; false at the end.
    fn next_line(&mut self) -> Result<bool, ReadFailure> {
        if !self.carry.is_empty() {
            self.text.push_str(&self.carry);
            self.carry.clear();
            return Ok(true);
        }
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| ReadFailure::Io(e.to_string()))?;
        if n == 0 {
            return Ok(false);
        }
        let offset = self.read;
        self.read += n;
        if self.read > self.limit {
            return Err(ReadFailure::TooLarge(self.read, self.limit));
        }
        let mut line = self.buf.as_slice();
        if std::mem::take(&mut self.first) {
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        match std::str::from_utf8(line) {
            Ok(line) => self.text.push_str(line),
            Err(e) => return Err(ReadFailure::NotUtf8(offset + e.valid_up_to())),
        }
        Ok(true)
    }

    fn next_document(&mut self) -> Result<Option<Document<'_>>, ReadFailure> {
        loop {
            self.text.clear();
            let first_line = self.line;
            let mut explicit = false;
            let mut prefix_only = true;
            let mut content_line = None;
            let mut at_end = false;
            loop {
                let start = self.text.len();
                if !self.next_line()? {
                    at_end = true;
                    break;
                }
                let raw = &self.text[start..];
                let line = raw.strip_suffix('\n').unwrap_or(raw);
                let line = line.strip_suffix('\r').unwrap_or(line);
                if is_marker(line, "---") {
                    if explicit || !prefix_only {
                        // `carry` is empty here (taken by `next_line`); keep both buffers' capacity.
                        self.carry.push_str(&self.text[start..]);
                        self.text.truncate(start);
                        break;
                    }
                    explicit = true;
                    let after = line[3..].trim();
                    if !after.is_empty() && !after.starts_with('#') {
                        content_line.get_or_insert(self.line);
                        prefix_only = false;
                    }
                } else if is_marker(line, "...") {
                    self.text.truncate(start);
                    self.line += 1;
                    break;
                } else {
                    let t = line.trim_start();
                    if !(t.is_empty() || t.starts_with('#') || (prefix_only && line.starts_with('%'))) {
                        content_line.get_or_insert(self.line);
                        prefix_only = false;
                    }
                }
                self.line += 1;
            }
            if explicit || content_line.is_some() {
                self.documents += 1;
            }
            if let Some(line) = content_line {
                return Ok(Some(Document {
                    text: &self.text,
                    first_line,
                    number: self.documents,
                    line,
                }));
            }
            if at_end {
                return Ok(None);
            }
        }
    }
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// For [`crate::fuzzing::yaml_differential`]: checks that every document of `input` that [`read_plain`]
/// reads reads the same with serde-saphyr; the first difference as an error.
pub(crate) fn check_plain_reading(input: &str, limits: &ParseLimits) -> Result<(), String> {
    let options = yaml_options(limits);
    let plain = plain_limits(limits);
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut splitter = YamlSplitter::new(input);
    while let Some(doc) = splitter.next_document() {
        let Some(fast) = read_plain(doc.text, &plain) else {
            continue;
        };
        match serde_saphyr::from_str_with_options::<Value>(doc.text, options.clone()) {
            Ok(general) if general == fast => {}
            Ok(general) => {
                return Err(format!(
                    "document {} read as {fast} by the fast path but as {general} by serde-saphyr: {:?}",
                    doc.number, doc.text
                ));
            }
            Err(e) => {
                return Err(format!(
                    "document {} read as {fast} by the fast path but refused by serde-saphyr ({e}): {:?}",
                    doc.number, doc.text
                ));
            }
        }
    }
    Ok(())
}

/// Parses one document; `None` for a null document (`~`, `null`). Plain documents are read by
/// [`read_plain`], the rest (and every error) by serde-saphyr.
fn parse_yaml_document(
    doc: &Document<'_>,
    options: &serde_saphyr::Options,
    plain: &PlainLimits,
    file: &Arc<str>,
    max_depth: usize,
) -> Result<Option<Value>, ManifestError> {
    if let Some(value) = read_plain(doc.text, plain) {
        return Ok((!value.is_null()).then_some(value));
    }
    match serde_saphyr::from_str_with_options::<Value>(doc.text, options.clone()) {
        Ok(Value::Null) => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(e) => Err(yaml_error(&e, doc, file, max_depth)),
    }
}

/// How serde_json and the YAML parser word hitting their own nesting limits.
const RECURSION_LIMIT: &str = "recursion limit exceeded";

fn yaml_error(
    e: &serde_saphyr::Error,
    doc: &Document<'_>,
    file: &Arc<str>,
    max_depth: usize,
) -> ManifestError {
    let e = e.without_snippet();
    let (line, column) = match e.location() {
        Some(loc) if loc.line() > 0 => (
            doc.first_line + usize::try_from(loc.line()).unwrap_or(1) - 1,
            usize::try_from(loc.column()).unwrap_or(0),
        ),
        _ => (doc.line, 1),
    };
    if let serde_saphyr::Error::Budget {
        breach: serde_saphyr::budget::BudgetBreach::Depth { .. },
        ..
    } = e
    {
        let at = Source {
            file: file.clone(),
            document: doc.number,
            line,
            item: None,
        };
        return ManifestError::TooDeep { at, limit: max_depth };
    }
    let message = match e {
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => match key {
            Some(k) => format!(
                "the key {k:?} appears twice in the same mapping; keep one (the API server rejects duplicate keys)"
            ),
            None => {
                "a key appears twice in the same mapping; keep one (the API server rejects duplicate keys)"
                    .to_string()
            }
        },
        serde_saphyr::Error::Budget { breach, .. } => budget_message(breach),
        _ => serde_saphyr::DefaultMessageFormatter
            .format_message(e)
            .into_owned(),
    };
    if message == RECURSION_LIMIT {
        // The parser's own limit on flow nesting (`[[[[…`), met before the depth budget.
        let at = Source {
            file: file.clone(),
            document: doc.number,
            line,
            item: None,
        };
        return ManifestError::TooDeep { at, limit: max_depth };
    }
    // The message may quote input text: keep it on one line and free of terminal control characters.
    let message = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    ManifestError::InvalidYaml {
        file: file.clone(),
        document: doc.number,
        line,
        column,
        message,
    }
}

/// Our words for the parser's safety limits (the library's are `budget breached: Nodes {…}`).
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    match breach {
        B::Aliases { .. } | B::Anchors { .. } | B::AliasAnchorRatio { .. } | B::MergeKeys { .. } => {
            "the document uses more YAML aliases (*name), anchors or merge keys than any manifest needs, as \
             an alias bomb does; write the values out"
                .to_string()
        }
        B::Nodes { nodes } => format!(
            "the document has more than {} values (mappings, lists and scalars); no Kubernetes object is this \
             large, so check how the file was generated",
            nodes.saturating_sub(1)
        ),
        _ => "the document is larger or more complex than any Kubernetes object (too many values, events or \
              bytes); check how the file was generated"
            .to_string(),
    }
}

/// Lines of the `items` of a list document, for precise sources. Parses the document a second time
/// (lists are rare: `kubectl get -o yaml` output); on any surprise the list's own line is used instead.
fn list_item_lines(doc: &Document<'_>, options: &serde_saphyr::Options) -> Vec<usize> {
    #[derive(Deserialize)]
    struct ItemSpans {
        items: Vec<Spanned<serde::de::IgnoredAny>>,
    }
    match serde_saphyr::from_str_with_options::<ItemSpans>(doc.text, options.clone()) {
        Ok(spans) => spans
            .items
            .iter()
            .map(|s| match usize::try_from(s.referenced.line()) {
                Ok(l) if l > 0 => doc.first_line + l - 1,
                _ => doc.line,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// JSON values

struct JsonStream<'a> {
    input: &'a str,
    stream: serde_json::StreamDeserializer<'a, serde_json::de::StrRead<'a>, Value>,
    /// Newlines counted up to this byte offset.
    counted_to: usize,
    line: usize,
    documents: usize,
}

enum JsonNext<'a> {
    Value {
        value: Value,
        document: usize,
        line: usize,
    },
    /// The first value is not JSON: read the input as YAML instead.
    NotJson(&'a str, ManifestError),
    Error(ManifestError),
    End,
}

impl<'a> JsonStream<'a> {
    fn new(input: &'a str) -> Self {
        let stream = serde_json::Deserializer::from_str(input).into_iter::<Value>();
        Self {
            input,
            stream,
            counted_to: 0,
            line: 1,
            documents: 0,
        }
    }

    fn next_value(&mut self, file: &Arc<str>, max_depth: usize) -> JsonNext<'a> {
        let offset = self.stream.byte_offset();
        let rest = self.input.get(offset..).unwrap_or_default();
        let start = offset + (rest.len() - rest.trim_start().len());
        if let Some(skipped) = self.input.get(self.counted_to..start) {
            self.line += skipped.bytes().filter(|&b| b == b'\n').count();
            self.counted_to = start;
        }
        match self.stream.next() {
            None => JsonNext::End,
            Some(Ok(value)) => {
                self.documents += 1;
                JsonNext::Value {
                    value,
                    document: self.documents,
                    line: self.line,
                }
            }
            Some(Err(e)) if json_message(&e) == RECURSION_LIMIT => {
                let at = Source {
                    file: file.clone(),
                    document: self.documents + 1,
                    line: self.line,
                    item: None,
                };
                JsonNext::Error(ManifestError::TooDeep { at, limit: max_depth })
            }
            Some(Err(e)) => {
                let error = ManifestError::InvalidJson {
                    file: file.clone(),
                    line: e.line(),
                    column: e.column(),
                    message: json_message(&e),
                };
                if self.documents == 0 {
                    JsonNext::NotJson(self.input, error)
                } else {
                    JsonNext::Error(error)
                }
            }
        }
    }
}

/// serde_json's message without its trailing " at line L column C" (we print the place first).
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<Vec<ManifestObject>, ManifestError> {
        parse_manifests("in.yaml", input, &ParseLimits::default())
    }

    fn err(input: &str) -> String {
        match parse(input) {
            Ok(objs) => panic!("expected an error, got {objs:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn sources(input: &str) -> Vec<String> {
        parse(input)
            .expect("valid input")
            .iter()
            .map(|o| format!("{} {}", o.source, o.name()))
            .collect()
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";

    #[test]
    fn multi_document_sources() {
        let input = format!(
            "# leading comment\n---\n# Source: chart/templates/a.yaml\n{CM}---\n---\n# Source: empty.yaml\n\
             ...\n{}---\n",
            CM.replace("name: a", "name: b")
        );
        assert_eq!(
            sources(&input),
            vec!["in.yaml:4 (document 1) a", "in.yaml:12 (document 4) b"]
        );
    }

    #[test]
    fn implicit_first_document_and_crlf() {
        let input = format!("{CM}---\n{}", CM.replace("name: a", "name: b")).replace('\n', "\r\n");
        assert_eq!(
            sources(&input),
            vec!["in.yaml:1 (document 1) a", "in.yaml:6 (document 2) b"]
        );
    }

    #[test]
    fn yaml_1_1_scalars_like_kubectl() {
        let objs = parse(&format!("{CM}data:\n  mode: 0644\n  flag: yes\n")).expect("valid");
        assert_eq!(objs[0].object["data"]["mode"], 420);
        assert_eq!(objs[0].object["data"]["flag"], true);
    }

    #[test]
    fn lists_are_flattened_with_item_lines() {
        let input = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    \
                     name: a\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: b}\nmetadata:\n  resourceVersion: \"\"\n";
        assert_eq!(
            sources(input),
            vec![
                "in.yaml:4 (document 1, items[0]) a",
                "in.yaml:8 (document 1, items[1]) b"
            ]
        );
    }

    #[test]
    fn typed_list_items_get_kind_and_api_version() {
        let input =
            r#"{"apiVersion":"apps/v1","kind":"DeploymentList","items":[{"metadata":{"name":"web"}}]}"#;
        let objs = parse(input).expect("valid");
        assert_eq!((objs[0].kind(), objs[0].api_version()), ("Deployment", "apps/v1"));
    }

    #[test]
    fn json_concatenated_and_ndjson() {
        let a = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}"#;
        let b = a.replace("\"a\"", "\"b\"");
        assert_eq!(
            sources(&format!("{a}\n{b}{a}")),
            vec![
                "in.yaml:1 (document 1) a",
                "in.yaml:2 (document 2) b",
                "in.yaml:2 (document 3) a"
            ]
        );
        let pretty = serde_json::to_string_pretty(&serde_json::json!({"kind": "ConfigMap",
            "apiVersion": "v1", "metadata": {"name": "p"}}))
        .expect("serializes");
        assert_eq!(
            sources(&format!("\n\n{pretty}")),
            vec!["in.yaml:3 (document 1) p"]
        );
    }

    #[test]
    fn flow_mapping_yaml_is_not_mistaken_for_json() {
        assert_eq!(
            sources("{apiVersion: v1, kind: ConfigMap, metadata: {name: f}}"),
            vec!["in.yaml:1 (document 1) f"]
        );
    }

    #[test]
    fn errors_say_where_and_what() {
        struct Case {
            name: &'static str,
            input: String,
            want: &'static str,
        }
        let cases = [
            Case {
                name: "bad yaml reports the absolute line",
                input: format!(
                    "{CM}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n labels: {{}}\n"
                ),
                want: "in.yaml:10:2: invalid YAML in document 2: while parsing a block mapping, did not find \
                       expected key",
            },
            Case {
                name: "duplicate key",
                input: format!("{CM}kind: Secret\n"),
                want: "in.yaml:5:1: invalid YAML in document 1: the key \"kind\" appears twice in the same \
                       mapping; keep one (the API server rejects duplicate keys)",
            },
            Case {
                name: "nested duplicate key, at its own line",
                input: format!("{CM}data:\n  k: v\n  k: w\n"),
                want: "in.yaml:7:3: invalid YAML in document 1: the key \"k\" appears twice in the same \
                       mapping; keep one (the API server rejects duplicate keys)",
            },
            Case {
                name: "too many values, in our words",
                input: format!("{CM}data: [{}]\n", "1,".repeat(300_000)),
                want: "in.yaml:5:499986: invalid YAML in document 1: the document has more than 250000 values \
                       (mappings, lists and scalars); no Kubernetes object is this large, so check how the file was \
                       generated",
            },
            Case {
                name: "a duplicate key after comments in a later document",
                input: format!("{CM}---\n# Source: x.yaml\n\n{CM}data:\n  k: v\n  k: w\n"),
                want: "in.yaml:14:3: invalid YAML in document 2: the key \"k\" appears twice in the same \
                       mapping; keep one (the API server rejects duplicate keys)",
            },
            Case {
                name: "missing kind",
                input: "apiVersion: v1\nmetadata: {name: a}\n".into(),
                want: "in.yaml:1 (document 1): the object has no `kind`; add one, e.g. `kind: Deployment`",
            },
            Case {
                name: "missing apiVersion",
                input: "\n# c\nkind: Secret\nmetadata: {name: a}\n".into(),
                want: "in.yaml:3 (document 1): Secret has no `apiVersion`; add one, e.g. `apiVersion: apps/v1`",
            },
            Case {
                name: "generateName",
                input: "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: run-}\n".into(),
                want: "in.yaml:1 (document 1): Job has no metadata.name; a federated object needs a fixed name, \
                       so set metadata.name (metadata.generateName \"run-\" is not supported: the name must be \
                       the same in every cluster)",
            },
            Case {
                name: "empty name",
                input: "apiVersion: v1\nkind: Secret\nmetadata: {name: ''}\n".into(),
                want: "in.yaml:1 (document 1): Secret has no metadata.name; a federated object needs a fixed \
                       name, so set metadata.name",
            },
            Case {
                name: "not a mapping",
                input: format!("{CM}---\n# NOTES\n---\njust text\n"),
                want: "in.yaml:8 (document 3): expected a Kubernetes object (a mapping with apiVersion, kind and \
                       metadata), found a string",
            },
            Case {
                name: "json array",
                input: "[1]".into(),
                want: "in.yaml:1 (document 1): expected a Kubernetes object (a mapping with apiVersion, kind and \
                       metadata), found a list; to give several objects in one document, wrap them in \
                       `{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [...]}`",
            },
            Case {
                name: "bad json after a good value",
                input:
                    "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"a\"}}\n{\"kind\": }"
                        .into(),
                want: "in.yaml:2:10: invalid JSON: expected value",
            },
            Case {
                name: "bad json in the first value",
                input: "{\n  \"kind\": \"Secret\",\n  \"apiVersion\": \"v1\"\n  \"metadata\": {}\n}".into(),
                want: "in.yaml:4:3: invalid JSON: expected `,` or `}`",
            },
            Case {
                name: "kind of the wrong type",
                input: "apiVersion: v1\nkind: [a]\nmetadata: {name: a}\n".into(),
                want: "in.yaml:1 (document 1): `kind` must be a string, found a list",
            },
            Case {
                name: "List without items",
                input: "apiVersion: v1\nkind: List\nitems: 3\n".into(),
                want: "in.yaml:1 (document 1): `items` must be a list, found a number",
            },
        ];
        for case in cases {
            assert_eq!(err(&case.input), case.want, "case {:?}", case.name);
        }
    }

    #[test]
    fn size_limit() {
        let limits = ParseLimits {
            max_input_bytes: 10,
            ..ParseLimits::default()
        };
        let e = parse_manifests("big.yaml", CM, &limits).expect_err("too large");
        assert_eq!(
            e.to_string(),
            "big.yaml: the input is 51 bytes, more than the limit of 10 bytes; split it into smaller files"
        );
        let e =
            parse_manifest_bytes("b.yaml", b"kind: \xff", &ParseLimits::default()).expect_err("not utf-8");
        assert_eq!(
            e.to_string(),
            "b.yaml: the input is not UTF-8 text (invalid byte at offset 6); save it as UTF-8"
        );
    }

    #[test]
    fn hostile_nesting_is_rejected_without_overflowing_the_stack() {
        // 8 MiB: a main thread's stack, what the default depth limit is sized for in debug builds.
        let handle = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(|| {
                let deep_flow = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
                let deep_block = (0..1_000)
                    .map(|i| format!("{}k:\n", " ".repeat(i)))
                    .collect::<String>();
                let deep_json = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
                let json_120 = format!("{}1{}", "{\"a\":".repeat(120), "}".repeat(120));
                let at_limit = format!("{CM}x: {}1{}\n", "[".repeat(98), "]".repeat(98));
                let results = [&deep_flow, &deep_block, &deep_json, &json_120].map(|input| err(input));
                (results, parse(&at_limit).map(|o| o.len()))
            })
            .expect("thread starts");
        let ([flow, block, json, json_120], at_limit) = handle.join().expect("no stack overflow");
        let too_deep = "the document nests deeper than 100 levels; no Kubernetes object is this deep, so \
                        check how the file was generated";
        assert_eq!(flow, format!("in.yaml:1 (document 1): {too_deep}"));
        assert_eq!(block, format!("in.yaml:101 (document 1): {too_deep}"));
        assert_eq!(json, format!("in.yaml:1 (document 1): {too_deep}"));
        assert_eq!(json_120, format!("in.yaml:1 (document 1): {too_deep}"));
        assert_eq!(at_limit, Ok(1));
    }

    #[test]
    fn a_broken_document_does_not_hide_the_others() {
        let input = format!("{CM}---\nkind: [\n---\n{}", CM.replace("name: a", "name: c"));
        let results: Vec<_> = Manifests::new("in.yaml", &input, &ParseLimits::default()).collect();
        assert_eq!(results.len(), 3);
        assert!(results[1].is_err());
        assert_eq!(results[2].as_ref().map(ManifestObject::name), Ok("c"));
    }
}
