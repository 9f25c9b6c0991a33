//! Writing values into existing text in the style around them: block YAML with the document's
//! indentation, flow YAML, or JSON.

use serde_json::{Map, Value};
use yaml_rust2::scanner::TScalarStyle;

use crate::source::emit::{inline_string, scalar_text};

/// How the text being edited is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    /// The text is JSON: everything written must be JSON.
    pub json: bool,
    /// Spaces per nesting level of block mappings (and of JSON objects).
    pub step: usize,
    /// Block sequences under a key are written at the key's own column (`key:\n- item`).
    pub indentless: bool,
}

/// Keys written first in new mappings, in this order, as Kubernetes objects and list items are
/// written by hand; the others follow in their own order.
const LEADING_KEYS: [&str; 4] = ["apiVersion", "kind", "metadata", "name"];

/// The entries of `map` in the order they are written.
fn ordered(map: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    let leading = LEADING_KEYS.iter().filter_map(|k| map.get_key_value(*k));
    let rest = map.iter().filter(|(k, _)| !LEADING_KEYS.contains(&k.as_str()));
    leading.chain(rest)
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A non-empty mapping or sequence in block style, each line at `indent` (the first line without
/// indentation when `first_inline`, since it follows `- `), ending with a line break.
pub(super) fn block(value: &Value, indent: usize, first_inline: bool, style: Style) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) => block_map(&mut out, map, indent, first_inline, style),
        Value::Array(items) => block_seq(&mut out, items, indent, first_inline, style),
        scalar => {
            out.push_str(&scalar_text(scalar, indent + style.step));
            out.push('\n');
        }
    }
    out
}

/// Whether `value` is written in block style on lines of its own (a non-empty collection).
pub(super) fn needs_block(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

fn block_map(out: &mut String, map: &Map<String, Value>, indent: usize, first_inline: bool, style: Style) {
    for (i, (key, value)) in ordered(map).enumerate() {
        if i > 0 || !first_inline {
            pad(out, indent);
        }
        out.push_str(&inline_string(key));
        out.push(':');
        block_value(out, value, indent, style);
    }
}

/// What follows `key:` for `value`, the key being at `indent`.
fn block_value(out: &mut String, value: &Value, indent: usize, style: Style) {
    match value {
        Value::Object(inner) if !inner.is_empty() => {
            out.push('\n');
            block_map(out, inner, indent + style.step, false, style);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            let at = if style.indentless { indent } else { indent + style.step };
            block_seq(out, items, at, false, style);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar, indent + style.step));
            out.push('\n');
        }
    }
}

fn block_seq(out: &mut String, items: &[Value], indent: usize, first_inline: bool, style: Style) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !first_inline {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => block_map(out, inner, indent + 2, true, style),
            Value::Array(inner) if !inner.is_empty() => block_seq(out, inner, indent + 2, true, style),
            scalar => {
                out.push_str(&scalar_text(scalar, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// `key: value` for a new entry of a block mapping whose keys are at `indent`, ending with a
/// line break.
/// A string value is quoted as `quote` (the quoting of its siblings), when given.
pub(super) fn block_entry(
    key: &str,
    value: &Value,
    indent: usize,
    quote: Option<TScalarStyle>,
    style: Style,
) -> String {
    let mut out = String::new();
    pad(&mut out, indent);
    out.push_str(&inline_string(key));
    out.push(':');
    if quote.is_some() && value.is_string() {
        out.push(' ');
        out.push_str(&scalar(value, indent + style.step, quote, style));
        out.push('\n');
    } else {
        block_value(&mut out, value, indent, style);
    }
    out
}

/// `value` in flow context: a string quoted as `quote` (the quoting of its siblings) when
/// given, else [`flow`].
pub(super) fn flow_like(value: &Value, quote: Option<TScalarStyle>, style: Style) -> String {
    match value {
        Value::String(s) if quote.is_some() && !s.contains(['\n', '\r']) => scalar(value, 0, quote, style),
        _ => flow(value, style),
    }
}

/// The quoting shared by every non-empty scalar among `nodes` (at least one), if they are all
/// single- or all double-quoted.
pub(super) fn shared_quote<'n>(nodes: impl Iterator<Item = &'n super::tree::Node>) -> Option<TScalarStyle> {
    let mut shared = None;
    for node in nodes {
        match node.kind {
            super::tree::Kind::Scalar { empty: true, .. } => {}
            super::tree::Kind::Scalar {
                style: style @ (TScalarStyle::DoubleQuoted | TScalarStyle::SingleQuoted),
                ..
            } if shared.is_none_or(|s| s == style) => shared = Some(style),
            _ => return None,
        }
    }
    shared
}

/// A scalar or empty collection on one line (or a literal block indented by `indent`), keeping
/// the quoting of the scalar it replaces (`was`) where the new value is a string that allows it.
pub(super) fn scalar(value: &Value, indent: usize, was: Option<TScalarStyle>, style: Style) -> String {
    if style.json {
        return json(value, None, style);
    }
    match (value, was) {
        (Value::String(s), Some(TScalarStyle::DoubleQuoted)) => json(&Value::String(s.clone()), None, style),
        (Value::String(s), Some(TScalarStyle::SingleQuoted)) if !s.contains(['\n', '\r']) => {
            format!("'{}'", s.replace('\'', "''"))
        }
        _ => scalar_text(value, indent),
    }
}

/// A key as written in a mapping of this style.
pub(super) fn key(key: &str, flow: bool, style: Style) -> String {
    if style.json {
        json(&Value::String(key.to_owned()), None, style)
    } else {
        flow_string(key, flow)
    }
}

/// A string in YAML, plain where it reads back the same (and, in flow context, has no flow
/// indicators), else double-quoted.
fn flow_string(s: &str, flow: bool) -> String {
    let plain = inline_string(s);
    if flow && !plain.starts_with('"') && plain.contains([',', '[', ']', '{', '}']) {
        json(
            &Value::String(s.to_owned()),
            None,
            Style {
                json: true,
                step: 2,
                indentless: false,
            },
        )
    } else {
        plain
    }
}

/// `value` in YAML flow style on one line (`{a: 1, b: [x]}`).
pub(super) fn flow(value: &Value, style: Style) -> String {
    if style.json {
        return json(value, None, style);
    }
    let mut out = String::new();
    flow_into(&mut out, value);
    out
}

fn flow_into(out: &mut String, value: &Value) {
    one_line(out, value, &|s| flow_string(s, true));
}

/// `value` as JSON: on one line, or (with `indent`, the column of the line it starts on) pretty,
/// nested lines indented from there by the style's step.
pub(super) fn json(value: &Value, indent: Option<usize>, style: Style) -> String {
    let mut out = String::new();
    match indent.filter(|_| needs_block(value)) {
        Some(indent) => pretty_json(&mut out, value, indent, style.step.max(1)),
        None => compact_json(&mut out, value),
    }
    out
}

/// JSON over lines, each nested level `step` spaces further than `indent`.
fn pretty_json(out: &mut String, value: &Value, indent: usize, step: usize) {
    let (open, close, entries): (char, char, Vec<(Option<&String>, &Value)>) = match value {
        Value::Object(map) if !map.is_empty() => ('{', '}', ordered(map).map(|(k, v)| (Some(k), v)).collect()),
        Value::Array(items) if !items.is_empty() => ('[', ']', items.iter().map(|v| (None, v)).collect()),
        other => return compact_json(out, other),
    };
    out.push(open);
    for (i, (key, item)) in entries.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        pad(out, indent + step);
        if let Some(key) = key {
            out.push_str(&serde_json::to_string(key).unwrap_or_default());
            out.push_str(": ");
        }
        pretty_json(out, item, indent + step, step);
    }
    out.push('\n');
    pad(out, indent);
    out.push(close);
}

/// JSON on one line with a space after `:` and `,`, as people write it by hand.
fn compact_json(out: &mut String, value: &Value) {
    one_line(out, value, &|s| serde_json::to_string(s).unwrap_or_default());
}

/// `value` on one line, `{k: v, ...}` and `[a, ...]` with a space after `:` and `,`; keys and
/// one-line strings written by `string` (YAML flow or JSON quoting), other scalars as JSON.
fn one_line(out: &mut String, value: &Value, string: &dyn Fn(&str) -> String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in ordered(map).enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&string(key));
                out.push_str(": ");
                one_line(out, item, string);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                one_line(out, item, string);
            }
            out.push(']');
        }
        Value::String(s) if !s.contains(['\n', '\r']) => out.push_str(&string(s)),
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}
