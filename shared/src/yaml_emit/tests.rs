//! Differential tests: every value here is written by [`to_yaml_into`] and by serde-saphyr, and the bytes
//! must be equal (or the fast path must decline and leave the output untouched).

use serde_json::{Value, json};

use super::*;

/// Writes `v` both ways; `true` when the fast path wrote it (and agreed), `false` when it declined.
fn agrees(v: &Value) -> bool {
    let want = serde_saphyr::to_string(v).expect("serde-saphyr writes every JSON value");
    let mut got = String::from("prefix\n");
    if to_yaml_into(v, &mut got) {
        assert_eq!(got.get(7..), Some(want.as_str()), "value {v}");
        true
    } else {
        assert_eq!(got, "prefix\n", "a declined value leaves the output as it was");
        false
    }
}

/// Strings serde-saphyr quotes, blocks, folds or leaves plain for many different reasons.
const TRICKY: &[&str] = &[
    "",
    " ",
    "  ",
    "plain",
    "two words",
    "1",
    "-1",
    "+1",
    "1.0",
    "1.",
    ".5",
    "0x1F",
    "0o17",
    "0b101",
    "0644",
    "1e3",
    "1E+3",
    "1_000",
    "_1",
    "1_",
    "1__0",
    "0x_",
    ".inf",
    "-.inf",
    "+.INF",
    ".nan",
    ".NaN",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "NaN",
    "infinity",
    "yes",
    "Yes",
    "YES",
    "no",
    "No",
    "on",
    "On",
    "off",
    "OFF",
    "y",
    "Y",
    "n",
    "N",
    "true",
    "True",
    "FALSE",
    "tRuE",
    "~",
    "null",
    "Null",
    "NULL",
    "nUll",
    "<<",
    "=",
    "==",
    "1:20",
    "01:20",
    "1:20:30.5",
    "-1:20",
    "2024-01-01",
    "2024-1-1",
    "2024-01-01T00:00:00Z",
    "2024-01-01 00:00:00",
    "2024-01-01t1:2:3.5 +01:00",
    "2024-01-01x",
    "1.0.0",
    "10.96.0.1",
    "100m",
    "256Mi",
    " lead",
    "trail ",
    "\tlead",
    "trail\t",
    "a: b",
    "a:b",
    "a:",
    "a :",
    "a #b",
    "a#b",
    "#x",
    "#",
    "-",
    ".",
    "..",
    "- x",
    "-x",
    "--",
    "? x",
    "?x",
    "?",
    ":x",
    ":",
    ",x",
    "x,y",
    "[x",
    "x[y]",
    "]",
    "{x",
    "x{y}",
    "}",
    "*x",
    "&x",
    "!x",
    "|x",
    ">x",
    "%x",
    "@x",
    "`x",
    "'q",
    "q'",
    "\"q",
    "q\"q",
    "back\\slash",
    "multi\nline",
    "multi\nline\n",
    "multi\nline\n\n",
    "\n",
    "\n\n",
    "\nlead newline",
    "  indented\nsecond",
    "first\n  indented",
    "\n  indented after blank",
    "tab\tx",
    "tab\nin\tblock",
    "cr\r\nlf",
    "nul\0x",
    "bell\u{7}",
    "esc\u{1b}",
    "del\u{7f}",
    "c1\u{85}x",
    "c1\u{9f}",
    "nbsp\u{a0}x",
    "\u{a0}",
    "ls\u{2028}ps\u{2029}",
    "bom\u{feff}",
    "\u{feff}",
    "nonchar\u{fffe}\u{ffff}",
    "caf\u{e9}",
    "\u{5b57}",
    "\u{1F600}",
    "a \u{3000}#b",
    "---",
    "...",
    "--- x",
    "... x",
    "---x",
    "...x",
    "-- x",
    "a: b: c",
    "k: v\nk2: v2\n",
    "http://example.com:8080/p?q=1#frag",
    "nginx:1.25",
    "registry.k8s.io/pause:3.10",
    "app.kubernetes.io/name",
    "kubefed.io/managed",
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"}",
];

/// Long strings: folded (`>-`) when they could be plain, quoted otherwise.
fn long_strings() -> Vec<String> {
    let words = "The quick brown fox jumps over the lazy dog and keeps running far away";
    vec![
        words.repeat(3),
        format!("{}   {}", "x".repeat(79), "y".repeat(10)),
        format!("{} {}", "x".repeat(100), "y".repeat(100)),
        "x".repeat(200),
        format!("{}  ", words.repeat(2)),
        format!("{} \tz", "a".repeat(79)),
        format!("{}: {}", words, words),
        format!("{} #{}", words, words),
        format!("- {}", words.repeat(2)),
        format!("{}\n{}", words.repeat(2), words.repeat(2)),
        format!("{} caf\u{e9} {}", words.repeat(2), "\u{5b57}".repeat(90)),
        "\u{5b57}".repeat(30),
        format!("{}\u{85}", words.repeat(2)),
        format!(" {}", words.repeat(2)),
        format!("{} ", "word ".repeat(30)),
    ]
}

/// Each string in several positions: alone, as a value, a key, an item, inside items and nested maps
/// (the block scalars' indentation depends on the position).
fn positions(s: &str) -> Vec<Value> {
    vec![
        json!(s),
        json!({"k": s}),
        json!([s]),
        json!({ s: 1 }),
        json!({ s: { s: s } }),
        json!({"a": [{"b": s, "c": [s, [s]]}], "d": {"e": {"f": s}}}),
        json!([[s, {"x": s}], {"y": [s]}]),
    ]
}

#[test]
fn tricky_strings_everywhere_as_serde_saphyr_writes_them() {
    let mut declined = 0;
    let long = long_strings();
    for s in TRICKY.iter().copied().chain(long.iter().map(String::as_str)) {
        for v in positions(s) {
            declined += usize::from(!agrees(&v));
        }
    }
    assert_eq!(declined, 0, "nothing here needs serde-saphyr");
}

#[test]
fn shapes_numbers_and_scalars() {
    let values = [
        json!(null),
        json!(true),
        json!(0),
        json!({}),
        json!([]),
        json!({"a": {}, "b": [], "c": [{}], "d": [[]], "e": [{}, []], "f": {"g": {}}}),
        json!([[[]]]),
        json!([[[1, 2], [3]], [[4]]]),
        json!([{"a": 1, "b": [1, 2]}, {"c": {"d": [{"e": 1}]}}]),
        json!({"n": [i64::MIN, i64::MAX, u64::MAX, 0, -1]}),
        json!({"f": [0.1, 1e300, -0.0, 1.0, 1e100, 1.5e-7, 123456789.125, f64::MAX, f64::MIN_POSITIVE, -2.5]}),
        json!({"b": [true, false, null], "s": "x"}),
        json!({"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"placement": {"clusters": [{"name": "member-1"}, {"name": "member-2"}]},
                "template": {"spec": {"replicas": 3, "template": {"spec": {"containers": [
                    {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                     "args": ["--flag=1", "-v", "2"], "env": [{"name": "A", "value": "yes"}]}]}}}},
                "overrides": [{"clusterName": "member-1", "clusterOverrides": [
                    {"path": "/spec/replicas", "value": 5}, {"path": "/metadata/labels/x", "op": "remove"}]}]}}),
    ];
    for v in &values {
        assert!(agrees(v), "declined {v}");
    }
    // Deep nesting within the limit is written here.
    let mut deep = json!("leaf");
    for i in 0..MAX_DEPTH - 1 {
        deep = if i % 2 == 0 {
            json!({ "k": deep })
        } else {
            json!([deep])
        };
    }
    assert!(agrees(&deep));
}

#[test]
fn declines_what_it_does_not_lay_out() {
    // Keys past the implicit-key limit are explicit `? key` entries in serde-saphyr.
    let long_key = "k".repeat(MAX_SIMPLE_KEY_BYTES + 1);
    assert!(!agrees(&json!({"a": [{"b": 1, long_key.as_str(): 2}]})));
    let at_limit = "k".repeat(MAX_SIMPLE_KEY_BYTES);
    assert!(agrees(&json!({ at_limit.as_str(): 1 })));
    let mut deep = json!(1);
    for _ in 0..MAX_DEPTH + 1 {
        deep = json!([deep]);
    }
    assert!(!agrees(&deep));
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Pieces random strings are made of: every character class the quoting rules look at.
const PIECES: &[&str] = &[
    "a",
    "b",
    "x",
    "Z",
    " ",
    " ",
    "  ",
    ":",
    ": ",
    "#",
    " #",
    "-",
    "- ",
    "?",
    "'",
    "\"",
    "\\",
    "\n",
    "\n",
    "\t",
    "\r",
    ",",
    "[",
    "]",
    "{",
    "}",
    "&",
    "*",
    "!",
    "|",
    ">",
    "%",
    "@",
    "`",
    ".",
    "0",
    "1",
    "9",
    "e",
    "E",
    "_",
    "+",
    "~",
    "=",
    "<<",
    "0x",
    "0o",
    "0b",
    "1e3",
    ".inf",
    "yes",
    "no",
    "on",
    "null",
    "true",
    "---",
    "...",
    "2024-01-01",
    "T10:00:00",
    "1:20",
    "\u{e9}",
    "\u{5b57}",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "\u{feff}",
    "\u{fffe}",
    "\0",
    "\u{7f}",
    "\u{1b}",
    "\u{1F600}",
    "\u{3000}",
    "word",
    "longer words here",
];

fn random_string(rng: &mut Rng) -> String {
    let pieces = match rng.below(10) {
        0 => 20 + rng.below(60),
        1..=3 => rng.below(2),
        _ => 1 + rng.below(6),
    };
    (0..pieces).map(|_| PIECES[rng.below(PIECES.len())]).collect()
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 4 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => match rng.below(3) {
            0 => json!(rng.next() as i64),
            1 => json!(rng.next()),
            _ => json!(f64::from_bits(rng.next()) % 1e6),
        },
        3..=5 => json!(random_string(rng)),
        6 | 7 => Value::Object(
            (0..rng.below(4))
                .map(|_| (random_string(rng), random_value(rng, depth + 1)))
                .collect(),
        ),
        _ => Value::Array((0..rng.below(4)).map(|_| random_value(rng, depth + 1)).collect()),
    }
}

#[test]
fn random_values_as_serde_saphyr_writes_them() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut written = 0;
    for _ in 0..4000 {
        let v = random_value(&mut rng, 0);
        // NaN from the float generator cannot be JSON; serde_json stores it as null already.
        written += usize::from(agrees(&v));
    }
    assert_eq!(written, 4000, "no random value needs serde-saphyr");
}

#[test]
fn one_pass_checks_match_the_ported_rules() {
    let mut rng = Rng(42);
    let long = long_strings();
    let mut strings: Vec<String> = TRICKY.iter().map(|s| (*s).to_string()).chain(long).collect();
    strings.extend((0..20_000).map(|_| random_string(&mut rng)));
    let mut ascii = 0;
    for s in &strings {
        if let Some(fast) = plain_value_safe_ascii(s) {
            ascii += 1;
            assert_eq!(fast, quoting::is_plain_value_safe(s, false, false), "value {s:?}");
        }
        if let Some(fast) = plain_key_safe_ascii(s) {
            assert_eq!(
                fast,
                quoting::is_plain_safe(s) && quoting::is_plain_value_safe(s, false, true),
                "key {s:?}"
            );
        }
    }
    assert!(ascii > 5000, "the one-pass checks saw only {ascii} strings");
}

/// Every document of the conversion fixtures (inputs and the federated objects wanted), the CRDs the
/// chart ships (long descriptions: folded blocks) and the examples.
#[test]
fn real_manifests_as_serde_saphyr_writes_them() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts: Vec<String> = crate::chart_crd_files()
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    for dir in [
        root.join("testdata/convert"),
        root.join("../examples"),
        root.join("../charts"),
    ] {
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
                    && let Ok(text) = std::fs::read_to_string(&path)
                    // Helm templates are not YAML until rendered.
                    && !text.contains("{{")
                {
                    texts.push(text);
                }
            }
        }
    }
    let mut documents = 0;
    for text in &texts {
        for doc in text.split("\n---") {
            let Ok(v) = serde_saphyr::from_str::<Value>(doc) else {
                continue;
            };
            assert!(agrees(&v), "declined a real document: {v}");
            documents += 1;
        }
    }
    assert!(documents > 50, "only {documents} documents compared");
}
