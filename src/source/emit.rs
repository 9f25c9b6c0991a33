//! Rendering JSON values as readable block-style YAML.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::scalar::resolve_plain;

/// Keys longer than this (in characters) are written in the explicit `? key` form, since YAML
/// limits implicit keys to 1024 characters.
const MAX_IMPLICIT_KEY: usize = 1000;

/// Renders `value` as a readable block-style YAML document (no leading `---`, ending in a
/// newline).
///
/// Mappings and sequences are written in block style (`key: value`, `- item`), empty ones as
/// `{}` and `[]`. Strings are written plain when that reads back as the same string (under YAML
/// 1.2 and, conservatively, YAML 1.1: `"yes"`, `"0755"`, `"2024-01-01"` and
/// `"2024-01-01T10:00:00Z"` are quoted too),
/// multi-line strings as literal blocks (`|`) where that is exact, and everything else
/// double-quoted. Reading the output back with [`parse_documents`](super::parse_documents)
/// gives `value` again.
///
/// Recursion follows the nesting of `value`; values read by this crate are at most
/// [`MAX_DEPTH`](super::MAX_DEPTH) deep.
#[must_use]
pub fn to_yaml_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0, false),
        scalar => write_scalar(&mut out, scalar, 2),
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Writes the entries of a non-empty mapping at `indent`; when `first_inline`, the first entry
/// continues the current line (after `- `).
fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize, first_inline: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !first_inline {
            pad(out, indent);
        }
        if key.chars().count() > MAX_IMPLICIT_KEY {
            out.push_str("? ");
            write_quoted(out, key);
            out.push('\n');
            pad(out, indent);
        } else {
            write_string_inline(out, key);
        }
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                write_map(out, inner, indent + 2, false);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, indent + 2, false);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar, indent + 2);
            }
        }
    }
}

/// Writes the items of a non-empty sequence at `indent`; when `first_inline`, the first item
/// continues the current line (after `- `).
fn write_seq(out: &mut String, items: &[Value], indent: usize, first_inline: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !first_inline {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => write_map(out, inner, indent + 2, true),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, indent + 2, true),
            scalar => write_scalar(out, scalar, indent + 2),
        }
    }
}

/// Writes a scalar (or empty collection) and the line break after it; the lines of a literal
/// block are indented by `block_indent`.
fn write_scalar(out: &mut String, value: &Value, block_indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) if literal_block_fits(s) => {
            write_literal(out, s, block_indent);
            return;
        }
        Value::String(s) => write_string_inline(out, s),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
    out.push('\n');
}

fn write_string_inline(out: &mut String, s: &str) {
    if plain_fits(s) {
        out.push_str(s);
    } else {
        write_quoted(out, s);
    }
}

/// Characters that may appear unescaped in any scalar.
fn is_safe_char(c: char) -> bool {
    !(c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}'))
}

/// Whether `s` can be written as a plain scalar in block context, reading back as this same
/// string under YAML 1.2 and without being mistaken for another type by YAML 1.1 readers.
fn plain_fits(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let last = s.chars().next_back().unwrap_or(first);
    if first.is_whitespace()
        || last.is_whitespace()
        || "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || s.starts_with("...")
        || s.ends_with(':')
        || s.contains(": ")
        || s.contains(" #")
        || !s.chars().all(is_safe_char)
    {
        return false;
    }
    if !matches!(resolve_plain(s), Value::String(_)) || looks_like_yaml11_scalar(s) {
        return false;
    }
    true
}

/// Words and number-like forms that YAML 1.1 (or the core schema's special floats) would not
/// read as strings.
fn looks_like_yaml11_scalar(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", ".inf",
        ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", "<<", "=",
    ];
    if WORDS.contains(&s) || looks_like_yaml11_timestamp(s) {
        return true;
    }
    let mut chars = s.chars();
    let starts_numeric = match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('-' | '+' | '.') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    };
    starts_numeric && s.chars().all(|c| c.is_ascii_hexdigit() || "xXoObB_.:+-eE".contains(c))
}

/// A YAML 1.1 `!!timestamp` (`2027-02-15T12:00:00Z`, `2001-12-14 21:59:43.10 -5`), which YAML 1.1
/// readers such as `PyYAML` turn into a date-time: four digits and `-`, then only digits and
/// the separators a timestamp has (a few strings that are no timestamp are quoted too).
fn looks_like_yaml11_timestamp(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() > 5
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[5..]
            .iter()
            .all(|b| b.is_ascii_digit() || b"-:.+TtZz \t".contains(b))
}

/// Writes `s` as a double-quoted scalar.
fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if !is_safe_char(c) => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `s` is multi-line text that a literal block scalar reproduces exactly.
fn literal_block_fits(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && s.chars().all(|c| c == '\n' || (c != '\t' && is_safe_char(c)))
        && s.split('\n').all(|line| !line.ends_with(' '))
}

/// Writes `s` as a literal block scalar (`|`, `|-` or `|+` as its final line breaks need).
fn write_literal(out: &mut String, s: &str, indent: usize) {
    let body = s.trim_end_matches('\n');
    let breaks = s.len() - body.len();
    out.push_str(match breaks {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    out.push('\n');
    for line in body.split('\n') {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    for _ in 1..breaks {
        out.push('\n');
    }
}

/// A scalar (or empty collection) as it is written after `key: ` or `- `, without the final line
/// break; the lines of a literal block are indented by `block_indent`. Used by `--fix` to write
/// values into existing text.
pub(crate) fn scalar_text(value: &Value, block_indent: usize) -> String {
    let mut out = String::new();
    write_scalar(&mut out, value, block_indent);
    if out.ends_with('\n') {
        out.pop();
    }
    out
}

/// A string as written on one line: plain when that reads back as the same string, else
/// double-quoted.
pub(crate) fn inline_string(s: &str) -> String {
    let mut out = String::new();
    write_string_inline(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::yaml::parse_documents;
    use serde_json::json;

    fn round_trip(value: &Value) -> String {
        let text = to_yaml_string(value);
        let docs = parse_documents(&text).unwrap_or_else(|err| panic!("emitted YAML does not parse: {err}\n{text}"));
        assert_eq!(docs.len(), 1, "{text}");
        assert_eq!(&docs[0].value, value, "round trip changed the value:\n{text}");
        text
    }

    const TRICKY: &[&str] = &[
        "",
        " ",
        " lead",
        "trail ",
        "true",
        "True",
        "FALSE",
        "yes",
        "No",
        "on",
        "y",
        "null",
        "Null",
        "~",
        "123",
        "-5",
        "+5",
        "0x1F",
        "0o17",
        "0755",
        "1e3",
        "1.5",
        ".5",
        ".inf",
        "-.Inf",
        ".nan",
        "1.2.3",
        "2024-01-01",
        "12:30:00",
        "1_000",
        "- dash",
        "-dash",
        "a: b",
        "a:b",
        "a #b",
        "a#b",
        "#c",
        "key:",
        "?",
        "? x",
        "@x",
        "`x`",
        "%x",
        "!tag",
        "&a",
        "*a",
        "|",
        ">",
        "---",
        "...",
        "[x]",
        "{x}",
        "x, y",
        "<<",
        "=",
        "plain text",
        "nginx:1.25",
        "http://example.com/a?b=c#d",
        "line1\nline2",
        "line1\nline2\n",
        "trail\n\n\n",
        "\n",
        "\n\nx",
        " indented\nx",
        "x\n  indented\ny",
        "a \nb",
        "tab\there",
        "tab\n\tx",
        "cr\r\nlf",
        "\u{7f}",
        "\u{85}",
        "x\u{2028}y",
        "\u{feff}bom",
        "nul\0",
        "quote\"s",
        "single's",
        "back\\slash",
        "ünïcödé ✓",
        "emoji 🎉",
        "a\"\n'b",
    ];

    #[test]
    fn tricky_strings_round_trip_as_values_and_keys() {
        for s in TRICKY {
            round_trip(&json!(s));
            round_trip(&json!({ *s: s }));
            round_trip(&json!([s, { "k": s }, [s]]));
            round_trip(&json!({ "outer": { *s: [s] } }));
        }
    }

    #[test]
    fn numbers_bools_and_null_round_trip() {
        round_trip(&json!({
            "i": 42, "neg": -7, "max": u64::MAX, "min": i64::MIN, "f": 1.5, "big": 1e300,
            "small": -2.5e-12, "whole": 3.0, "negzero": -0.0, "t": true, "f2": false, "n": null
        }));
        round_trip(&json!(null));
        round_trip(&json!(5));
        round_trip(&json!(true));
    }

    #[test]
    fn layout_is_block_style() {
        let value = json!({
            "apiVersion": "v1",
            "metadata": {"labels": {}, "name": "web"},
            "spec": {
                "containers": [{"args": ["--port", "80"], "name": "app"}, {"name": "side"}],
                "matrix": [[1, 2], []],
                "script": "echo hi\necho bye\n",
                "version": "1.20"
            }
        });
        let text = round_trip(&value);
        assert_eq!(
            text,
            "\
apiVersion: v1
metadata:
  labels: {}
  name: web
spec:
  containers:
    - args:
        - \"--port\"
        - \"80\"
      name: app
    - name: side
  matrix:
    - - 1
      - 2
    - []
  script: |
    echo hi
    echo bye
  version: \"1.20\"
"
        );
    }

    #[test]
    fn empty_and_root_values() {
        assert_eq!(to_yaml_string(&json!({})), "{}\n");
        assert_eq!(to_yaml_string(&json!([])), "[]\n");
        assert_eq!(to_yaml_string(&json!("x")), "x\n");
        assert_eq!(to_yaml_string(&json!("true")), "\"true\"\n");
        // YAML 1.1 timestamps, which PyYAML reads as date-times; a version string stays plain.
        assert_eq!(
            to_yaml_string(&json!("2027-02-15T12:00:00Z")),
            "\"2027-02-15T12:00:00Z\"\n"
        );
        assert_eq!(
            to_yaml_string(&json!("2001-12-14 21:59:43.10 -5")),
            "\"2001-12-14 21:59:43.10 -5\"\n"
        );
        assert_eq!(to_yaml_string(&json!("v2027-02-15")), "v2027-02-15\n");
        round_trip(&json!({}));
        round_trip(&json!([]));
        round_trip(&json!([{}, [], {"a": {}}]));
    }

    #[test]
    fn long_and_multiline_keys() {
        let long = "k".repeat(3000);
        let text = round_trip(&json!({ long.clone(): 1, "short": { long.clone(): [1] } }));
        assert!(text.starts_with("? \"kkk"));
        round_trip(&json!([{ long: {"a": 1} }]));
        round_trip(&json!({ "multi\nline": "v", "x": "multi\nline" }));
    }

    fn arb_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let text = "[ -~\n\t\r\u{85}\u{2028}\u{feff}é🎉]{0,12}";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            text.prop_map(Value::String),
            proptest::sample::select(TRICKY).prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(6, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(text, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_values_round_trip(value in arb_value()) {
            round_trip(&value);
        }
    }

    #[test]
    fn deep_values_round_trip() {
        let mut value = json!("leaf");
        for i in 0..100 {
            value = if i % 2 == 0 {
                json!([value])
            } else {
                json!({ "k": value })
            };
        }
        round_trip(&value);
    }
}
