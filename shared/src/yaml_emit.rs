//! A fast writing of JSON values as YAML, byte for byte what serde-saphyr writes.
//!
//! `kubectl fed federate -o yaml` renders every converted object; through `serde_saphyr::to_fmt_writer`
//! that is serde's visitor calls plus several passes over each string deciding how to quote it (about a
//! sixth of the command's CPU on large inputs). [`to_yaml_into`] walks the [`Value`] directly and decides
//! each string's style in one pass over its bytes when it is printable ASCII (nearly every string of a
//! manifest), with serde-saphyr's own rules — ported below from serde-saphyr 2.2.0's `ser/quoting.rs`,
//! `ser/wrapping.rs`, `ser/zmij_format.rs` and the layout of its serializer with the default options
//! (2-space indentation, compact sequences under keys, `{}`/`[]` for empty collections, literal `|`
//! blocks for multi-line strings, folded `>-` blocks for long plain strings, YAML 1.1-safe quoting).
//!
//! It declines (returns `false`, leaving the output as it was) whatever it does not lay out itself: keys
//! over 1,024 bytes (serde-saphyr writes them as explicit `? key` entries) and nesting deeper than
//! [`MAX_DEPTH`]; the caller then asks serde-saphyr. The tests here and the `yaml_emit_differential`
//! fuzz target check that both writings agree. Pin: a serde-saphyr upgrade must rerun them (the tests
//! fail loudly on any difference in their corpus).

use serde_json::{Map, Value};

/// Deepest nesting written here; deeper values are left to serde-saphyr.
pub const MAX_DEPTH: usize = 128;

/// serde-saphyr's folded-block width (`SerializerOptions::folded_wrap_chars`): longer single-line plain
/// strings are written as `>-` blocks wrapped at this many characters.
const FOLD_WIDTH: usize = 80;

/// Longest key written as `key:`; serde-saphyr writes longer ones as explicit `? key` entries (the YAML
/// limit on implicit keys is 1,024 characters; bytes bound characters from above).
const MAX_SIMPLE_KEY_BYTES: usize = 1024;

/// Appends `value` as one YAML document, exactly as `serde_saphyr::to_fmt_writer(out, value)` with
/// default options would; `false` (and `out` unchanged) when it leaves the value to serde-saphyr.
pub fn to_yaml_into(value: &Value, out: &mut String) -> bool {
    let start = out.len();
    let done = match value {
        Value::Object(m) if m.is_empty() => {
            out.push_str("{}\n");
            true
        }
        Value::Array(a) if a.is_empty() => {
            out.push_str("[]\n");
            true
        }
        Value::Object(m) => map_body(m, 0, false, 1, out),
        Value::Array(a) => seq_body(a, 0, false, 1, out),
        scalar => {
            inline_scalar(scalar, 0, out);
            true
        }
    };
    if !done {
        out.truncate(start);
    }
    done
}

fn spaces(n: usize, out: &mut String) {
    const SPACES: &str = "                                                                ";
    let mut n = n;
    while n > 0 {
        let k = n.min(SPACES.len());
        out.push_str(&SPACES[..k]);
        n -= k;
    }
}

/// A block mapping whose keys sit at column `col`; the first key continues the current line when
/// `first_inline` (a mapping right after `- `).
fn map_body(m: &Map<String, Value>, col: usize, first_inline: bool, depth: usize, out: &mut String) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !first_inline {
            spaces(col, out);
        }
        if !key(k, out) {
            return false;
        }
        out.push(':');
        match v {
            Value::Object(inner) if inner.is_empty() => out.push_str(" {}\n"),
            Value::Array(inner) if inner.is_empty() => out.push_str(" []\n"),
            Value::Object(inner) => {
                out.push('\n');
                if !map_body(inner, col + 2, false, depth + 1, out) {
                    return false;
                }
            }
            // Compact: the dashes at the key's own column.
            Value::Array(inner) => {
                out.push('\n');
                if !seq_body(inner, col, false, depth + 1, out) {
                    return false;
                }
            }
            scalar => {
                out.push(' ');
                inline_scalar(scalar, col, out);
            }
        }
    }
    true
}

/// A block sequence whose dashes sit at column `col`; the first dash continues the current line when
/// `first_inline` (a sequence right after `- `).
fn seq_body(a: &[Value], col: usize, first_inline: bool, depth: usize, out: &mut String) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    for (i, v) in a.iter().enumerate() {
        if i > 0 || !first_inline {
            spaces(col, out);
        }
        out.push_str("- ");
        let done = match v {
            Value::Object(inner) if inner.is_empty() => {
                out.push_str("{}\n");
                true
            }
            Value::Array(inner) if inner.is_empty() => {
                out.push_str("[]\n");
                true
            }
            Value::Object(inner) => map_body(inner, col + 2, true, depth + 1, out),
            Value::Array(inner) => seq_body(inner, col + 2, true, depth + 1, out),
            scalar => {
                inline_scalar(scalar, col, out);
                true
            }
        };
        if !done {
            return false;
        }
    }
    true
}

/// A mapping key: plain when safe in every position serde-saphyr considers, else double-quoted.
fn key(k: &str, out: &mut String) -> bool {
    if k.len() > MAX_SIMPLE_KEY_BYTES {
        return false;
    }
    if plain_key_safe(k) {
        out.push_str(k);
    } else {
        out.push('"');
        escape_double_quoted(k, out);
        out.push('"');
    }
    true
}

/// A scalar after `key: `, after `- `, or alone; block scalars indent their body two columns past
/// `parent_col` (the key's or the dash's column). Ends the line.
fn inline_scalar(v: &Value, parent_col: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null\n"),
        Value::Bool(true) => out.push_str("true\n"),
        Value::Bool(false) => out.push_str("false\n"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push_str(itoa::Buffer::new().format(u));
            } else if let Some(i) = n.as_i64() {
                out.push_str(itoa::Buffer::new().format(i));
            } else if let Some(f) = n.as_f64() {
                push_float(f, out);
            }
            out.push('\n');
        }
        Value::String(s) => string(s, parent_col, out),
        // Collections never reach here.
        Value::Array(_) | Value::Object(_) => {}
    }
}

/// serde-saphyr's `serialize_str` with default options, outside flow collections.
fn string(s: &str, parent_col: usize, out: &mut String) {
    let bytes = s.as_bytes();
    if bytes.contains(&b'\n') {
        // Multi-line: a literal block when every character can stand in one.
        if is_block_scalar_content_safe(s) {
            literal_block(s, parent_col, out);
            return;
        }
    } else if bytes.len() > FOLD_WIDTH {
        // Long single line: folded when it could be plain (ignoring trailing spaces, which a
        // folded block keeps) and longer than the width in characters.
        let probe = s.trim_end_matches(' ');
        if !probe.is_empty() && plain_value_safe(probe) && s.chars().count() > FOLD_WIDTH {
            if is_block_scalar_content_safe(s) {
                out.push('>');
                if first_line_leading_spaces(s) > 0 {
                    out.push('2');
                }
                out.push_str("-\n");
                write_folded_block(s, parent_col + 2, out);
            } else {
                double_quoted(s, out);
            }
            return;
        }
    }
    // serde-saphyr's special case for some one-character punctuation.
    if matches!(s, "." | "#" | "-") {
        out.push('\'');
        out.push_str(s);
        out.push_str("'\n");
        return;
    }
    if plain_value_safe(s) {
        out.push_str(s);
        out.push('\n');
    } else {
        double_quoted(s, out);
    }
}

fn double_quoted(s: &str, out: &mut String) {
    out.push('"');
    escape_double_quoted(s, out);
    out.push_str("\"\n");
}

/// A literal block (`|`, `|-`, `|+`, with an indentation indicator when the first line starts with a
/// space), its body two columns past `parent_col`.
fn literal_block(s: &str, parent_col: usize, out: &mut String) {
    let content = s.trim_end_matches('\n');
    let trailing_nl = s.len() - content.len();
    out.push('|');
    if first_line_leading_spaces(content) > 0 {
        out.push('2');
    }
    match trailing_nl {
        0 => out.push('-'),
        1 if !content.is_empty() => {}
        _ => out.push('+'),
    }
    out.push('\n');
    if content.is_empty() {
        for _ in 0..trailing_nl {
            out.push('\n');
        }
        return;
    }
    for line in content.split('\n') {
        if !line.is_empty() {
            spaces(parent_col + 2, out);
            out.push_str(line);
        }
        out.push('\n');
    }
    for _ in 1..trailing_nl {
        out.push('\n');
    }
}

/// serde-saphyr's `write_folded_block` (ser/wrapping.rs): wraps at ASCII-space runs past
/// [`FOLD_WIDTH`] characters, keeping all but one space of the run at the end of the line.
fn write_folded_block(s: &str, indent: usize, out: &mut String) {
    for line in s.split('\n') {
        if line.is_empty() {
            out.push('\n');
            continue;
        }
        if line.starts_with(' ') {
            spaces(indent, out);
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut start = 0usize;
        let mut col = 0usize;
        let mut last_space_run: Option<(usize, usize, usize)> = None;
        let mut in_space_run = false;
        let mut run_start = 0usize;
        let mut run_len = 0usize;
        let mut prev_i = 0usize;
        let mut prev_ch_len = 0usize;
        for (i, ch) in line.char_indices() {
            if in_space_run && ch != ' ' {
                let run_end = prev_i + prev_ch_len;
                if ch != '\t' {
                    last_space_run = Some((run_start, run_end, run_len));
                }
                in_space_run = false;
                run_len = 0;
            }
            if ch == ' ' {
                if in_space_run {
                    run_len += 1;
                } else {
                    in_space_run = true;
                    run_start = i;
                    run_len = 1;
                }
            }
            col += 1;
            if col > FOLD_WIDTH {
                let Some((ws_start, ws_end, ws_len)) = last_space_run else {
                    break;
                };
                spaces(indent, out);
                out.push_str(&line[start..ws_start]);
                spaces(ws_len - 1, out);
                out.push('\n');
                start = ws_end;
                col = 0;
                last_space_run = None;
            }
            prev_i = i;
            prev_ch_len = ch.len_utf8();
        }
        spaces(indent, out);
        out.push_str(&line[start..]);
        out.push('\n');
    }
}

fn first_line_leading_spaces(s: &str) -> usize {
    for line in s.split('\n') {
        if !line.is_empty() {
            return line.len() - line.trim_start_matches(' ').len();
        }
    }
    0
}

/// serde-saphyr's `push_float_string` (ser/zmij_format.rs) for the finite floats JSON holds.
fn push_float(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str(".nan");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f.is_sign_positive() { ".inf" } else { "-.inf" });
        return;
    }
    let mut buf = zmij::Buffer::new();
    let s = buf.format_finite(f);
    if let Some(exp_pos) = s.find(['e', 'E']) {
        out.push_str(&s[..exp_pos]);
        if !s[..exp_pos].contains('.') {
            out.push_str(".0");
        }
        out.push_str(&s[exp_pos..=exp_pos]);
        if !matches!(s.as_bytes().get(exp_pos + 1), Some(b'+' | b'-')) {
            out.push('+');
        }
        out.push_str(&s[exp_pos + 1..]);
    } else {
        out.push_str(s);
        if !s.contains('.') {
            out.push_str(".0");
        }
    }
}

// ---- Quoting: serde-saphyr 2.2.0 ser/quoting.rs, with a one-pass path for printable ASCII. ----

/// Whether `s` may be written plain as a value in block context (serde-saphyr's
/// `is_plain_value_safe(s, yaml_12 = false, in_flow = false)`).
fn plain_value_safe(s: &str) -> bool {
    match plain_value_safe_ascii(s) {
        Some(answer) => answer,
        None => quoting::is_plain_value_safe(s, false, false),
    }
}

/// Whether `k` may be written plain as a key (serde-saphyr's `is_plain_safe(k) &&
/// is_plain_value_safe(k, false, true)`).
fn plain_key_safe(k: &str) -> bool {
    match plain_key_safe_ascii(k) {
        Some(answer) => answer,
        None => quoting::is_plain_safe(k) && quoting::is_plain_value_safe(k, false, true),
    }
}

/// Bytes that may not start a plain scalar.
fn is_indicator(b: u8) -> bool {
    matches!(
        b,
        b',' | b':'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

/// Whether a non-empty string of printable ASCII without edge spaces may read as something else than
/// a string: every spelling serde-saphyr's `is_ambiguous` accepts starts with a byte that starts a
/// number (numbers, `.inf`, timestamps, base 60), or is at most 5 bytes and starts as one of `~`, `<<`,
/// `=`, `null`, `nan`, `inf`, `true`, `false`, `yes`, `y`, `no`, `n`, `on`, `off` (in any case).
fn maybe_ambiguous(b: &[u8]) -> bool {
    match b[0] {
        b'0'..=b'9' | b'+' | b'-' | b'.' | b'_' => true,
        first => {
            b.len() <= 5
                && matches!(
                    first.to_ascii_lowercase(),
                    b'~' | b'<' | b'=' | b'n' | b'i' | b't' | b'f' | b'y' | b'o'
                )
        }
    }
}

/// [`plain_value_safe`] in one pass for printable ASCII (space to `~`); `None` for anything else.
fn plain_value_safe_ascii(s: &str) -> Option<bool> {
    let b = s.as_bytes();
    let (&first, &last) = (b.first()?, b.last()?);
    let mut prev = 0u8;
    let mut bad = false;
    for &c in b {
        if !(b' '..=b'~').contains(&c) {
            return None;
        }
        // `: ` ends a plain key; ` #` starts a comment.
        bad |= (c == b' ' && prev == b':') | (c == b'#' && prev == b' ');
        prev = c;
    }
    Some(
        !(bad
            || first == b' '
            || last == b' '
            || last == b':'
            || is_indicator(first)
            || (matches!(first, b'-' | b'?') && (b.len() == 1 || b[1] == b' '))
            || quoting::starts_with_document_marker(s)
            || (maybe_ambiguous(b) && quoting::is_ambiguous(s, false))),
    )
}

/// [`plain_key_safe`] in one pass for printable ASCII; `None` for anything else.
fn plain_key_safe_ascii(s: &str) -> Option<bool> {
    let b = s.as_bytes();
    let (&first, &last) = (b.first()?, b.last()?);
    let mut prev = 0u8;
    let mut bad = false;
    for &c in b {
        if !(b' '..=b'~').contains(&c) {
            return None;
        }
        // No `:` at all in keys, no flow indicators (keys may be written in flow context), no comment.
        bad |= matches!(c, b':' | b',' | b'[' | b']' | b'{' | b'}') | (c == b'#' && prev == b' ');
        prev = c;
    }
    Some(
        !(bad
            || first == b' '
            || last == b' '
            || is_indicator(first)
            || (matches!(first, b'-' | b'?') && (b.len() == 1 || b[1] == b' '))
            || s == "<<"
            || quoting::starts_with_document_marker(s)
            || (maybe_ambiguous(b) && (quoting::is_ambiguous(s, true) || quoting::is_ambiguous(s, false)))),
    )
}

/// The contents of a double-quoted scalar, escaped as serde-saphyr escapes them.
fn escape_double_quoted(s: &str, out: &mut String) {
    // Runs of characters that need no escape are copied whole.
    let mut run = 0;
    for (i, ch) in s.char_indices() {
        let escape: Option<&str> = match ch {
            '\\' => Some("\\\\"),
            '"' => Some("\\\""),
            '\0' => Some("\\0"),
            '\u{7}' => Some("\\a"),
            '\u{8}' => Some("\\b"),
            '\t' => Some("\\t"),
            '\n' => Some("\\n"),
            '\u{b}' => Some("\\v"),
            '\u{c}' => Some("\\f"),
            '\r' => Some("\\r"),
            '\u{1b}' => Some("\\e"),
            '\u{FEFF}' => Some("\\uFEFF"),
            '\u{0085}' => Some("\\N"),
            '\u{2028}' => Some("\\L"),
            '\u{2029}' => Some("\\P"),
            _ => None,
        };
        let numeric = escape.is_none()
            && ((ch as u32 <= 0xFF && (ch.is_control() || (0x7F..=0x9F).contains(&(ch as u32))))
                || (ch as u32 <= 0xFFFF && quoting::is_control_which_needs_escaping(ch)));
        if escape.is_none() && !numeric {
            continue;
        }
        out.push_str(&s[run..i]);
        run = i + ch.len_utf8();
        match escape {
            Some(e) => out.push_str(e),
            None => {
                use std::fmt::Write;
                let code = ch as u32;
                // Writing to a String cannot fail.
                let _ = if code <= 0xFF {
                    write!(out, "\\x{code:02X}")
                } else {
                    write!(out, "\\u{code:04X}")
                };
            }
        }
    }
    out.push_str(&s[run..]);
}

/// Whether every character of `s` can stand in a `|`/`>` block (serde-saphyr's
/// `is_block_scalar_content_safe`).
fn is_block_scalar_content_safe(s: &str) -> bool {
    s.chars().all(|ch| match ch {
        '\n' | '\t' => true,
        '\r' | '\u{0085}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}' => false,
        c => matches!(c as u32, 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x0010_FFFF),
    })
}

/// serde-saphyr 2.2.0's scalar classification, ported line for line (its functions are crate-private).
/// The general path for strings that are not printable ASCII, and the authority the one-pass checks
/// above are tested against.
mod quoting {
    /// YAML 1.1 booleans (serde-saphyr's `parse_yaml11_bool(..).is_some()`).
    fn is_yaml11_bool(s: &str) -> bool {
        let t = s.trim_matches([' ', '\t', '\r', '\n']);
        ["true", "yes", "y", "on", "false", "no", "n", "off"]
            .iter()
            .any(|w| t.eq_ignore_ascii_case(w))
    }

    fn is_numeric(s: &str, yaml_12: bool) -> bool {
        if !matches!(
            s.as_bytes().first(),
            Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b'_')
        ) {
            return false;
        }
        let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
        if unsigned.eq_ignore_ascii_case(".inf") || unsigned.eq_ignore_ascii_case(".nan") {
            return true;
        }
        if !yaml_12 {
            if is_yaml11_sexagesimal(s) {
                return true;
            }
            if let Some((radix, digits)) = radix_digits(unsigned)
                && is_digit_run(digits, radix, false)
            {
                return true;
            }
        }
        let normalized;
        let s = if !yaml_12 && s.contains('_') {
            normalized = s.replace('_', "");
            normalized.as_str()
        } else {
            s
        };
        let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
        if let Some((radix, digits)) = radix_digits(unsigned) {
            let digits = if !yaml_12 && (s.starts_with("0b") || s.starts_with("0o")) {
                digits.strip_prefix(['+', '-']).unwrap_or(digits)
            } else {
                digits
            };
            return is_digit_run(digits, radix, true);
        }
        let mantissa = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => {
                let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
                if !is_digit_run(exponent, 10, true) {
                    return false;
                }
                mantissa
            }
            None => unsigned,
        };
        match mantissa.split_once('.') {
            Some((whole, fraction)) => {
                if !whole.is_empty() && !is_digit_run(whole, 10, true) {
                    return false;
                }
                if !yaml_12 {
                    fraction.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                } else if fraction.is_empty() {
                    !whole.is_empty()
                } else {
                    is_digit_run(fraction, 10, true)
                }
            }
            None => is_digit_run(mantissa, 10, true),
        }
    }

    fn radix_digits(s: &str) -> Option<(u32, &str)> {
        match s.as_bytes() {
            [b'0', b'b' | b'B', ..] => Some((2, &s[2..])),
            [b'0', b'o' | b'O', ..] => Some((8, &s[2..])),
            [b'0', b'x' | b'X', ..] => Some((16, &s[2..])),
            _ => None,
        }
    }

    fn is_digit_run(s: &str, radix: u32, strict_underscores: bool) -> bool {
        let is_digit = |b: u8| b.is_ascii() && char::from(b).is_digit(radix);
        let bytes = s.as_bytes();
        !bytes.is_empty()
            && bytes.iter().enumerate().all(|(i, &b)| {
                is_digit(b)
                    || (b == b'_'
                        && (!strict_underscores
                            || (i > 0
                                && is_digit(bytes[i - 1])
                                && bytes.get(i + 1).is_some_and(|&next| is_digit(next)))))
            })
    }

    fn is_yaml11_sexagesimal(s: &str) -> bool {
        let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
        let (integer, fraction) = match unsigned.split_once('.') {
            Some((integer, fraction)) => (integer, Some(fraction)),
            None => (unsigned, None),
        };
        let Some((first, rest)) = integer.split_once(':') else {
            return false;
        };
        let Some(first_digit) = first.as_bytes().first() else {
            return false;
        };
        if !first_digit.is_ascii_digit()
            || (fraction.is_none() && *first_digit == b'0')
            || !first.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        {
            return false;
        }
        if !rest.split(':').all(|part| match part.as_bytes() {
            [digit] => digit.is_ascii_digit(),
            [tens, units] => matches!(tens, b'0'..=b'5') && units.is_ascii_digit(),
            _ => false,
        }) {
            return false;
        }
        fraction.is_none_or(|part| part.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
    }

    fn is_yaml11_timestamp(mut s: &str) -> bool {
        fn digits(s: &mut &str, min: usize, max: usize) -> bool {
            let len = s.bytes().take_while(u8::is_ascii_digit).count();
            if !(min..=max).contains(&len) {
                return false;
            }
            *s = &s[len..];
            true
        }
        fn prefix(s: &mut &str, ch: char) -> bool {
            if let Some(rest) = s.strip_prefix(ch) {
                *s = rest;
                true
            } else {
                false
            }
        }
        if !digits(&mut s, 4, 4)
            || !prefix(&mut s, '-')
            || !digits(&mut s, 1, 2)
            || !prefix(&mut s, '-')
            || !digits(&mut s, 1, 2)
        {
            return false;
        }
        if s.is_empty() {
            return true;
        }
        if let Some(rest) = s.strip_prefix(['T', 't']) {
            s = rest;
        } else {
            let rest = s.trim_start_matches([' ', '\t']);
            if rest.len() == s.len() {
                return false;
            }
            s = rest;
        }
        if !digits(&mut s, 1, 2)
            || !prefix(&mut s, ':')
            || !digits(&mut s, 1, 2)
            || !prefix(&mut s, ':')
            || !digits(&mut s, 1, 2)
        {
            return false;
        }
        if prefix(&mut s, '.') || prefix(&mut s, ',') {
            digits(&mut s, 0, usize::MAX);
        }
        s = s.trim_start_matches([' ', '\t']);
        if s.is_empty() || s == "Z" {
            return true;
        }
        if !(prefix(&mut s, '+') || prefix(&mut s, '-')) || !digits(&mut s, 1, 2) {
            return false;
        }
        if prefix(&mut s, ':') && !digits(&mut s, 2, 2) {
            return false;
        }
        s.is_empty()
    }

    pub(super) fn is_ambiguous(s: &str, yaml_12: bool) -> bool {
        s.is_empty()
            || s == "~"
            || s.eq_ignore_ascii_case("null")
            || s.eq_ignore_ascii_case("true")
            || s.eq_ignore_ascii_case("false")
            || is_numeric(s, yaml_12)
            || s.eq_ignore_ascii_case("nan")
            || s.eq_ignore_ascii_case("inf")
            || s.eq_ignore_ascii_case("+inf")
            || s.eq_ignore_ascii_case("-inf")
            || (!yaml_12 && (is_yaml11_bool(s) || is_yaml11_timestamp(s) || matches!(s, "<<" | "=")))
    }

    pub(super) fn starts_with_document_marker(s: &str) -> bool {
        let Some(rest) = s.strip_prefix("---").or_else(|| s.strip_prefix("...")) else {
            return false;
        };
        rest.is_empty() || rest.as_bytes().first().is_some_and(u8::is_ascii_whitespace)
    }

    pub(super) fn is_plain_safe(s: &str) -> bool {
        if is_ambiguous(s, true) {
            return false;
        }
        if s == "<<" {
            return false;
        }
        if starts_with_document_marker(s) {
            return false;
        }
        let bytes = s.as_bytes();
        if bytes.first().is_some_and(u8::is_ascii_whitespace)
            || bytes.last().is_some_and(u8::is_ascii_whitespace)
        {
            return false;
        }
        // An empty key is ambiguous (quoted) above; no indexing on input all the same.
        let Some(&first) = bytes.first() else {
            return false;
        };
        match first {
            b'-' | b'?' => {
                if bytes.len() == 1 {
                    return false;
                }
                if bytes[1].is_ascii_whitespace() {
                    return false;
                }
            }
            b',' | b':' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
            | b'"' | b'%' | b'@' | b'`' => return false,
            _ => {}
        }
        !contains_any_or_is_control(s, &[':']) && !has_comment_start(s)
    }

    pub(super) fn is_plain_value_safe(s: &str, yaml_12: bool, in_flow: bool) -> bool {
        if is_ambiguous(s, yaml_12) {
            return false;
        }
        if starts_with_document_marker(s) {
            return false;
        }
        let bytes = s.as_bytes();
        if bytes.first().is_some_and(u8::is_ascii_whitespace)
            || bytes.last().is_some_and(u8::is_ascii_whitespace)
        {
            return false;
        }
        match bytes {
            [b'-' | b'?', b1, ..] if b1.is_ascii_whitespace() => return false,
            [b'-' | b'?']
            | [
                b',' | b':' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
                | b'"' | b'%' | b'@' | b'`',
                ..,
            ] => return false,
            _ => {}
        }
        if s.contains(": ") || s.trim().ends_with(':') {
            return false;
        }
        if in_flow {
            !contains_any_or_is_control(s, &[',', '[', ']', '{', '}']) && !has_comment_start(s)
        } else {
            !contains_any_or_is_control(s, &[]) && !has_comment_start(s)
        }
    }

    pub(super) fn is_control_which_needs_escaping(ch: char) -> bool {
        ch.is_control() || matches!(ch, '\u{FEFF}' | '\u{2028}' | '\u{2029}' | '\u{FFFE}' | '\u{FFFF}')
    }

    fn contains_any_or_is_control(string: &str, values: &[char]) -> bool {
        string
            .chars()
            .any(|x| is_control_which_needs_escaping(x) || values.iter().any(|v| &x == v))
    }

    fn has_comment_start(string: &str) -> bool {
        string.match_indices('#').any(|(index, _)| {
            string[..index]
                .chars()
                .next_back()
                .is_some_and(char::is_whitespace)
        })
    }
}

#[cfg(test)]
mod tests;
