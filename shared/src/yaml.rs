//! A fast reading of the YAML documents manifests are made of, into JSON values, with serde-saphyr as
//! the authority.
//!
//! `serde_saphyr::from_str::<Value>` spends most of its time in its general deserializer (budgets,
//! anchors, merge keys, tags, spans, serde's visitor calls). Manifests use little of that: plain and
//! quoted scalars, block and flow collections, comments. [`read_plain`] builds the value straight from
//! the events of the parser serde-saphyr itself uses (granit-parser, with the options serde-saphyr passes
//! it — comments off, as [`crate::manifest`] asks — so exactly the same documents are accepted),
//! resolving plain scalars with serde-saphyr's rules as [`crate::manifest`] configures them (YAML 1.1: `yes`/`on` are booleans, `0644` is octal).
//!
//! It answers only when the answer is certain to be serde-saphyr's; on anything else — an anchor, an
//! alias, a tag, a `<<` merge key, a key that is not a plain string, a duplicate key, a float that is not
//! finite, a parse error, nesting or size near the limits — it returns `None` and the caller asks
//! serde-saphyr, which then also words any error. `tests` and the `yaml_differential` fuzz target check
//! both readings agree.

use std::borrow::Cow;

use serde_json::{Map, Value};
use serde_saphyr::granit_parser::{self, Event, Parser, ScalarStyle, StrInput};

/// How far [`read_plain`] goes before leaving a document to serde-saphyr: well inside serde-saphyr's
/// own budgets, so the fast reading never accepts what serde-saphyr would refuse.
#[derive(Clone, Debug)]
pub(crate) struct PlainLimits {
    /// The parser options serde-saphyr derives from its budget.
    pub parser: granit_parser::Options,
    /// Deepest nesting read here (the document is level 1); deeper documents go to serde-saphyr.
    pub max_depth: usize,
    /// Most nodes (scalars, sequences, mappings) read here.
    pub max_nodes: usize,
}

impl PlainLimits {
    /// Limits and parser options matching what serde-saphyr runs with `options` (its
    /// `Options::parser_options`, which is crate-private): the budget's limits, then `emit_comments`,
    /// `strict_indentation` and `bom_inside_document_as_content` from `options`. With comments off (as
    /// [`crate::manifest`] reads) the parser skips `#` text instead of queueing comment events, exactly
    /// as serde-saphyr's own parse does, so acceptance is the same and no comment budget applies.
    pub(crate) fn new(options: &serde_saphyr::Options) -> Self {
        let default_budget = serde_saphyr::Budget::default();
        let budget = options.budget.as_ref().unwrap_or(&default_budget);
        let block_nesting_limit = granit_parser::Options::default()
            .block_nesting_limit
            .max(budget.max_depth.saturating_add(1));
        let mut parser = granit_parser::Options::default();
        parser.simple_key_max_lookahead = budget.simple_key_max_lookahead;
        parser.flow_nesting_limit = budget.flow_nesting_limit;
        parser.block_nesting_limit = block_nesting_limit;
        parser.emit_comments = options.emit_comments;
        parser.max_buffered_comment_events = budget.max_buffered_comment_events;
        parser.strict_indentation = options.strict_indentation;
        parser.bom_inside_document_as_content = options.bom_inside_document_as_content;
        Self {
            parser,
            // Strictly inside the budget: at the limit itself serde-saphyr decides.
            max_depth: budget.max_depth.saturating_sub(1),
            max_nodes: (budget.max_nodes / 2).min(budget.max_events / 4),
        }
    }
}

/// Largest document read here; larger ones (never a real manifest) go to serde-saphyr, whose byte
/// budgets are far above this.
const MAX_PLAIN_BYTES: usize = 4 * 1024 * 1024;

enum Frame {
    Seq(Vec<Value>),
    Map(Map<String, Value>, Option<String>),
}

/// Reads one YAML document (`text` holds at most one) as serde-saphyr would into a JSON value, with
/// `legacy_octal_numbers` and YAML 1.1 booleans; `None` when the document is better left to serde-saphyr
/// (see the module docs), including every document serde-saphyr would refuse.
pub(crate) fn read_plain(text: &str, limits: &PlainLimits) -> Option<Value> {
    if text.len() > MAX_PLAIN_BYTES {
        return None;
    }
    let parser = Parser::with_options(StrInput::new(text), limits.parser.clone());
    let mut stack: Vec<Frame> = Vec::new();
    let mut root = None;
    let mut documents = 0;
    let mut nodes = 0usize;
    for event in parser {
        let (event, _span) = event.ok()?;
        let value = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => continue,
            Event::Comment(..) => continue,
            Event::DocumentStart(_, version) => {
                documents += 1;
                // A `%YAML` directive may change how scalars read; one document only.
                if version.is_some() || documents > 1 {
                    return None;
                }
                continue;
            }
            Event::Scalar(text, style, anchor, tag) => {
                nodes += 1;
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                if let Some(Frame::Map(_, key @ None)) = stack.last_mut() {
                    *key = Some(plain_key(text, style)?);
                    continue;
                }
                scalar(text, style)?
            }
            Event::SequenceStart(_, anchor, ref tag) | Event::MappingStart(_, anchor, ref tag) => {
                nodes += 1;
                if anchor != 0 || tag.is_some() || stack.len() >= limits.max_depth || nodes > limits.max_nodes
                {
                    return None;
                }
                // A collection as a mapping key is not a JSON key.
                if let Some(Frame::Map(_, None)) = stack.last() {
                    return None;
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(Vec::new())
                } else {
                    Frame::Map(Map::new(), None)
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop()? {
                Frame::Seq(items) => Value::Array(items),
                Frame::Map(map, None) => Value::Object(map),
                Frame::Map(_, Some(_)) => return None,
            },
            // Aliases, anchors, and whatever else the parser may report.
            _ => return None,
        };
        if nodes > limits.max_nodes {
            return None;
        }
        match stack.last_mut() {
            None => {
                if root.is_some() {
                    return None;
                }
                root = Some(value);
            }
            Some(Frame::Seq(items)) => items.push(value),
            Some(Frame::Map(map, key)) => {
                let key = key.take()?;
                if map.insert(key, value).is_some() {
                    return None; // a duplicate key: serde-saphyr words the error
                }
            }
        }
    }
    // A document without a node (only `---` or comments) is left to serde-saphyr too.
    if !stack.is_empty() {
        return None;
    }
    root
}

/// A mapping key that is certainly a plain string for serde-saphyr too: quoted, block, or plain text that
/// does not read as null, a boolean or a number, and not the merge key `<<`.
fn plain_key(text: Cow<'_, str>, style: ScalarStyle) -> Option<String> {
    if text == "<<" {
        return None;
    }
    match style {
        ScalarStyle::Plain => match resolve_plain(&text)? {
            Plain::String => Some(text.into_owned()),
            _ => None,
        },
        _ => Some(text.into_owned()),
    }
}

fn scalar(text: Cow<'_, str>, style: ScalarStyle) -> Option<Value> {
    if style != ScalarStyle::Plain {
        return Some(Value::String(text.into_owned()));
    }
    Some(match resolve_plain(&text)? {
        Plain::Null => Value::Null,
        Plain::Bool(b) => Value::Bool(b),
        Plain::Unsigned(u) => Value::from(u),
        Plain::Signed(i) => Value::from(i),
        Plain::Float(f) => Value::from(f),
        Plain::String => Value::String(text.into_owned()),
    })
}

/// What an untagged plain scalar is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Plain {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    String,
}

/// serde-saphyr 2.2's reading of an untagged plain scalar into a typeless value (its
/// `deserialize_any`), with `legacy_octal_numbers` on and its other scalar options at their defaults;
/// `None` where it would fail (non-finite floats are refused by its default policy).
pub(crate) fn resolve_plain(text: &str) -> Option<Plain> {
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Some(Plain::Null);
    }
    let t = yaml_trim(text);
    if let Some(b) = yaml11_bool(t) {
        return Some(Plain::Bool(b));
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if matches!(unsigned.as_bytes(), [b'0', b'X' | b'O' | b'B', ..]) || is_signed_nan(t) {
        return Some(Plain::String);
    }
    // Cheap exit for the common case: text that no number starts with.
    match t.as_bytes().first() {
        Some(b'0'..=b'9' | b'+' | b'-' | b'.') => {}
        _ => return Some(Plain::String),
    }
    if t.starts_with('-') {
        if let Some(v) = parse_int_signed(t) {
            return Some(Plain::Signed(v));
        }
    } else if let Some(v) = parse_int_unsigned(t) {
        return Some(Plain::Unsigned(v));
    }
    match parse_float(t) {
        Some(f) if f.is_finite() => Some(Plain::Float(f)),
        Some(_) => None,
        None => Some(Plain::String),
    }
}

fn yaml_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

fn yaml11_bool(t: &str) -> Option<bool> {
    let is = |w: &str| t.eq_ignore_ascii_case(w);
    if is("true") || is("yes") || is("y") || is("on") {
        Some(true)
    } else if is("false") || is("no") || is("n") || is("off") {
        Some(false)
    } else {
        None
    }
}

fn is_signed_nan(t: &str) -> bool {
    t.strip_prefix(['+', '-'])
        .is_some_and(|u| matches!(u, ".nan" | ".NaN" | ".NAN"))
}

/// `(radix, digits)` with legacy octal (`0644`).
fn radix_and_digits(rest: &str) -> (u32, &str) {
    fn strip(d: &str) -> &str {
        d.strip_prefix('_').unwrap_or(d)
    }
    if let Some(r) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        (16, strip(r))
    } else if let Some(r) = rest.strip_prefix("0o").or_else(|| rest.strip_prefix("0O")) {
        (8, strip(r))
    } else if let Some(r) = rest.strip_prefix("0b").or_else(|| rest.strip_prefix("0B")) {
        (2, strip(r))
    } else if rest == "0" {
        (8, "0")
    } else if let Some(r) = rest.strip_prefix('0') {
        (8, strip(r))
    } else {
        (10, rest)
    }
}

/// Digits with single `_` separators (not first or last); `None` on any other character or overflow.
fn parse_digits(digits: &str, radix: u32) -> Option<u128> {
    let bytes = digits.as_bytes();
    let mut val: u128 = 0;
    let mut saw = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let prev_ok = i > 0 && bytes[i - 1] != b'_';
            let next_ok = i + 1 < bytes.len() && bytes[i + 1] != b'_';
            if !prev_ok || !next_ok {
                return None;
            }
            continue;
        }
        let d = (b as char).to_digit(16)?;
        if d >= radix {
            return None;
        }
        val = val.checked_mul(u128::from(radix))?.checked_add(u128::from(d))?;
        saw = true;
    }
    saw.then_some(val)
}

fn parse_int_unsigned(t: &str) -> Option<u64> {
    if t.starts_with('-') {
        return None;
    }
    let rest = t.strip_prefix('+').unwrap_or(t);
    let (radix, digits) = radix_and_digits(rest);
    if radix == 10 && digits.starts_with('0') && digits != "0" {
        return None;
    }
    u64::try_from(parse_digits(digits, radix)?).ok()
}

fn parse_int_signed(t: &str) -> Option<i64> {
    let (neg, rest) = match t.strip_prefix('+') {
        Some(r) => (false, r),
        None => match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t),
        },
    };
    let (radix, digits) = radix_and_digits(rest);
    if radix == 10 && digits.starts_with('0') && digits != "0" {
        return None;
    }
    let mag = i128::try_from(parse_digits(digits, radix)?).ok()?;
    i64::try_from(if neg { -mag } else { mag }).ok()
}

/// serde-saphyr's float reading for typeless values: `.inf`/`.nan` spellings, then Rust's parser for
/// finite values, then numerals that overflow to infinity.
fn parse_float(t: &str) -> Option<f64> {
    let (negative, unsigned) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    match unsigned {
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        ".inf" | ".Inf" | ".INF" if negative => return Some(f64::NEG_INFINITY),
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        _ => {}
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        Ok(v) if v.is_infinite() && unsigned.as_bytes().first().is_some_and(u8::is_ascii_digit) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{ParseLimits, check_plain_reading, yaml_options};

    /// Documents that exercise every YAML feature manifests may meet: the fast path must read each as
    /// serde-saphyr does, or leave it to serde-saphyr.
    pub(crate) const TRICKY: &[&str] = &[
        "a: 1\nb: [1, 2, {c: d}]\n",
        "anchors: &a {x: 1}\nalias: *a\n",
        "base: &b {x: 1, y: 2}\nmerged:\n  <<: *b\n  y: 3\n",
        "\"<<\": quoted merge key\n",
        "tagged: !!str 123\nint: !!int \"7\"\nlocal: !thing x\nset: !!set {a, b}\n",
        "%YAML 1.2\n---\nyes: no\n",
        "%YAML 1.1\n---\nv: 0644\n",
        "flow: {a: [1, 2, [3, {b: c}]], 'q': \"d\", e: }\nempty_flow: {}\nempty_seq: []\n",
        "literal: |\n  line 1\n  line 2\nfolded: >\n  a\n  b\n\n  c\nkeep: |+\n  x\n\nstrip: |-\n  y\n",
        "\"quoted key\": 1\n'single': 2\n? explicit\n: value\n",
        "? [complex, key]\n: value\n",
        "? {a: 1}\n: value\n",
        "numbers: [0o12, 0x1F, 0b101, 0644, 012_3, 1_000, +12, -0, -012, 1e3, 1.5, .5, +.5, -1.5e-3, 1., 1e999, -1e999]\n",
        "special: [.inf, -.inf, +.inf, .Inf, .INF, .nan, .NaN, +.nan, -.nan, inf, nan, infinity, Infinity, NaN]\n",
        "big: [9223372036854775807, 9223372036854775808, 18446744073709551615, 18446744073709551616, \
         -9223372036854775808, -9223372036854775809, 0xFFFFFFFFFFFFFFFF, 0x10000000000000000]\n",
        "radix: [0X1F, 0O17, 0B11, 0x_1F, 0o_7, 0_7, 08, 09, 0o8, 0b2, 0xG, 0x, 0o, +0x1F, -0x1F, -0o17]\n",
        "bools: [yes, no, Yes, No, YES, NO, on, off, On, OFF, y, n, Y, N, true, false, True, FALSE, tRuE]\n",
        "nulls: [~, null, Null, NULL, nUll, '', \"\", '~']\nempty:\nnull_key_value: ~\n",
        "~: null key\n",
        "null: null key word\n",
        "yes: boolean key\n",
        "on: boolean key\n",
        "1: number key\n",
        "0644: octal key\n",
        "1.5: float key\n",
        ": empty key\n",
        "versions: [1.0.0, 10.96.0.1, 100m, 256Mi, 1:20, 2024-01-01, 2024-01-01T00:00:00Z, 1_, _1, 1__0, 0x_, +, -, .]\n",
        "multi: this is\n  a multi-line\n  plain scalar\nnext: x\n",
        "quoted: \"esc\\t\\u00e9\\n\\x41\\\\\"\nsingle: 'it''s'\nfolded_quoted: \"a\n  b\"\n",
        "# only a comment\n",
        "---\n# comment only, explicit start\n",
        "---\n...\n",
        "a: 1 # trailing comment\n# full-line comment\nb: 2\n",
        // Comments everywhere the parser may meet one (it reads them with comment events off, as
        // serde-saphyr does here): between key and value, in flow collections, after block scalar
        // headers and inside their indentation, unseparated `#` (not a comment), and many in a row.
        "a: # c1\n  # c2\n  b # c3\n# c4\n",
        "a: [1, # c\n  2, #c\n  {b: c} # d\n  ]\n",
        "a: {x: 1, # c\n  y: 2}\n",
        "lit: | # header comment\n  text # not a comment\n  # not a comment either\n# real comment\nnext: 1\n",
        "fold: >- #c\n  a\n\n  b\n  # inside\n",
        "a: b#c\nd: 'e'#f\n",
        "a: \"x\"#y\n",
        "a: [b]#c\n",
        "- # c\n  a\n- #c\n- b # c\n",
        "? # c\n  k\n: # c\n  v\n",
        "#\n#\n#\na: 1\n#\n",
        "a:\n  #c\n    b: 1\n",
        "a: 1\n  # indented comment\nb: 2\n",
        "a: |\n   x\n  # less indented\n",
        "a: 1 #\tc\nb: 2\t# c\n",
        "a: 1\t#c\n",
        "--- # after start\na: 1\n... # after end\n",
        "a: 'multi # not\n  comment'\n",
        "a: multi\n  # comment ends plain scalar\n  b\n",
        "a: 1\r\nb: [x, y]\r\nc: |\r\n  z\r\n",
        "\u{feff}a: 1\n",
        "a: 1\n...\n",
        "a: 1\na: 2\n",
        "a: 1\n\"a\": 2\n",
        "a: {b: 1, b: 2}\n",
        "x: [a, b\n",
        "x: \"unterminated\n",
        "x:\n\t- tab\n",
        "- a\n- b\n",
        "just a scalar\n",
        "~\n",
        "'quoted root'\n",
        "a:\n  - b\n  -\n  - c: d\n    e: f\n",
        "a: b: c\n",
        "a: - b\n",
        "emoji: \"\u{1F600}\"\nplain_unicode: caf\u{e9}\n",
        "key with spaces: value with spaces\n",
        "url: http://example.com:8080/path?q=1#frag\n",
        "colon: a:b\nhash: a#b\ndash: -a\nq: ?a\n",
        "indicator: !important\n",
        "dup_anchor: &x 1\nsecond: &x 2\nuse: *x\n",
        "recursive: &r [*r]\n",
        "bin: !!binary aGVsbG8=\n",
        "ts: !!timestamp 2024-01-01\n",
        "float_tag: !!float 1\n",
        "spaces:   \t trailing tab \t\n",
        "a:\n  b:\n    c:\n      d: [[[[[[1]]]]]]\n",
    ];

    fn general(text: &str) -> Result<Value, String> {
        serde_saphyr::from_str_with_options::<Value>(text, yaml_options(&ParseLimits::default()))
            .map_err(|e| e.to_string())
    }

    fn limits() -> PlainLimits {
        crate::manifest::plain_limits(&ParseLimits::default())
    }

    #[test]
    fn tricky_documents_read_as_serde_saphyr_reads_them() {
        let mut fast_read = 0;
        for doc in TRICKY {
            if let Err(e) = check_plain_reading(doc, &ParseLimits::default()) {
                panic!("{e}");
            }
            fast_read += usize::from(read_plain(doc, &limits()).is_some());
        }
        // Most are exotic on purpose and left to serde-saphyr; the comparison must still cover plenty.
        assert!(fast_read >= 25, "only {fast_read} read by the fast path");
    }

    #[test]
    fn many_comments_in_a_row_read_as_serde_saphyr_reads_them() {
        // Past granit-parser's comment-event buffer (96 by default): with comment events on this was
        // an error; serde-saphyr reads with them off, and so does the fast path.
        for doc in [
            format!("{}a: 1\n", "# c\n".repeat(300)),
            format!("a:\n{}  b: 1\n", "  # c\n".repeat(300)),
            format!("a: [\n{}  1]\n", "  # c\n".repeat(300)),
        ] {
            if let Err(e) = check_plain_reading(&doc, &ParseLimits::default()) {
                panic!("{e}");
            }
            assert!(read_plain(&doc, &limits()).is_some(), "{doc:?}");
        }
    }

    #[test]
    fn what_the_fast_path_leaves_to_serde_saphyr() {
        for doc in [
            "a: &x 1\n",
            "a: *x\n",
            "a: !!str 1\n",
            "<<: {a: 1}\n",
            "yes: 1\n",
            "1: a\n",
            "~: a\n",
            "? [a]\n: b\n",
            "a: 1\na: 2\n",
            "a: .inf\n",
            "a: 1e999\n",
            "%YAML 1.2\n---\na: 1\n",
            "# nothing\n",
            "a: [1\n",
        ] {
            assert_eq!(read_plain(doc, &limits()), None, "{doc:?}");
        }
        let deep = format!("a: {}1{}\n", "[".repeat(99), "]".repeat(99));
        assert_eq!(read_plain(&deep, &limits()), None, "at the depth limit");
    }

    #[test]
    fn manifests_are_read_by_the_fast_path() {
        let doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\n\
                   spec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: web\n        \
                   image: nginx:1.27\n        resources: {requests: {cpu: 100m, memory: 256Mi}}\n        \
                   ports:\n        - {containerPort: 80}\n";
        let fast = read_plain(doc, &limits()).expect("read by the fast path");
        assert_eq!(Ok(fast), general(doc));
    }

    /// Every plain scalar of up to three characters from the alphabet numbers, booleans and nulls are
    /// spelled with, as a mapping value: the same value as serde-saphyr's, or left to it.
    #[test]
    fn short_plain_scalars_resolve_as_serde_saphyr_resolves_them() {
        const ALPHABET: &[&str] = &[
            "0", "1", "7", "8", "9", "x", "X", "o", "O", "b", "B", "_", ".", "e", "E", "+", "-", "a", "f",
            "i", "n", "N", "I", "y", "Y", "~", "l", ":",
        ];
        let mut scalars = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = scalars
                .iter()
                .flat_map(|s| ALPHABET.iter().map(move |c| format!("{s}{c}")))
                .collect();
            scalars.extend(longer);
            scalars.dedup();
        }
        let mut compared = 0;
        for s in scalars {
            let doc = format!("k: {s}\n");
            if let Some(fast) = read_plain(&doc, &limits()) {
                assert_eq!(Ok(&fast), general(&doc).as_ref(), "{doc:?}");
                compared += 1;
            }
        }
        assert!(compared > 10_000, "{compared}");
    }

    #[test]
    fn longer_numbers_resolve_as_serde_saphyr_resolves_them() {
        for s in [
            "0o12",
            "1e3",
            "1E3",
            "1e+3",
            "1e-3",
            "-1e3",
            "+1e3",
            "1.5e10",
            "0644",
            "-0644",
            "+0644",
            "0x1F",
            "-0x1F",
            "0b1010",
            "-0b1010",
            "1_000_000",
            "1__0",
            "_1",
            "1_",
            "0o1_7",
            "0x_1f",
            "0_7",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "340282366920938463463374607431768211456",
            "1.7976931348623157e308",
            "1.8e308",
            "-1.8e308",
            "4.9e-324",
            "1e-400",
            "0.1",
            "00.1",
            "01.5",
            "1.",
            ".1",
            "-.1",
            "+.1",
            "1.2.3",
            "12:30",
            "1:2:3",
            "0x",
            "0o",
            "0b",
            "-",
            "+",
            "--1",
            "+-1",
            "1-1",
            "1e",
            "e1",
            "1ee1",
        ] {
            let doc = format!("k: {s}\n");
            if let Some(fast) = read_plain(&doc, &limits()) {
                assert_eq!(Ok(&fast), general(&doc).as_ref(), "{doc:?}");
            }
        }
    }

    /// Documents stitched from manifest-like lines at random (a fixed seed): nested mappings and sequences,
    /// flow collections, block scalars, quoting, comments, odd indentation — each either read as
    /// serde-saphyr reads it or left to serde-saphyr.
    #[test]
    fn stitched_documents_read_as_serde_saphyr_reads_them() {
        const LINES: &[&str] = &[
            "a: 1",
            "b: yes",
            "c: 0644",
            "d: 1.5",
            "e: \"x\"",
            "f: 'y'",
            "g:",
            "  h: i",
            "  - j",
            "- k",
            "  - {l: m, n: [o, 1, ~]}",
            "p: |",
            "  q",
            "   r",
            "s: >-",
            "  t",
            "u: [1, 2",
            "  , 3]",
            "# c",
            "v: w # c",
            "x: &a 1",
            "y: *a",
            "z: !!str 1",
            "<<: {a: 1}",
            "aa: 10.96.0.1",
            "bb: 100m",
            "cc: -0x1F",
            "dd: .inf",
            "ee: 1e3",
            "ff: on",
            "gg: ''",
            "hh: \"a\\nb\"",
            "  ii:",
            "    jj: kk",
            "ll: mm: nn",
            "? oo",
            ": pp",
            "qq: - rr",
            "\tss: tt",
            "uu: 'v''w'",
            "xx: -",
            "yy: ---",
            "zz: ...",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut fast_read = 0;
        for _ in 0..3000 {
            let n = 1 + next() % 8;
            let doc: String = (0..n)
                .map(|_| format!("{}\n", LINES[(next() % LINES.len() as u64) as usize]))
                .collect();
            if let Err(e) = check_plain_reading(&doc, &ParseLimits::default()) {
                panic!("{e}");
            }
            fast_read += usize::from(read_plain(&doc, &limits()).is_some());
        }
        assert!(fast_read > 100, "only {fast_read} read by the fast path");
    }
}
