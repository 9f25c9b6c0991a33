//! Resolution of scalars to JSON values: the YAML 1.2 core schema for plain scalars, and the
//! explicit core-schema tags (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`).

use serde_json::{Number, Value};
use yaml_rust2::parser::Tag;
use yaml_rust2::scanner::TScalarStyle;

use super::{Position, SourceError};

/// Prefix of the tags of the YAML core schema (`!!str` is `tag:yaml.org,2002:str`).
const CORE_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// Turns a scalar into a JSON value according to its style and tag.
pub(super) fn resolve_scalar(
    text: &str,
    style: TScalarStyle,
    tag: Option<&Tag>,
    at: Position,
) -> Result<Value, SourceError> {
    let Some(tag) = tag else {
        return Ok(if style == TScalarStyle::Plain {
            resolve_plain(text)
        } else {
            Value::String(text.to_owned())
        });
    };
    let full;
    let name = if tag.handle == CORE_TAG_PREFIX {
        tag.suffix.as_str()
    } else {
        full = format!("{}{}", tag.handle, tag.suffix);
        full.strip_prefix(CORE_TAG_PREFIX).unwrap_or("")
    };
    let resolved = match name {
        "str" => Some(Value::String(text.to_owned())),
        "int" => parse_int(text),
        "float" => parse_float(text)
            .or_else(|| parse_int(text).and_then(|v| v.as_f64().and_then(float_value)))
            .or_else(|| is_special_float(text).then(|| Value::String(text.to_owned()))),
        "bool" => parse_bool(text).map(Value::Bool),
        "null" => is_null(text).then_some(Value::Null),
        // `!`, `!!binary`, `!custom`, …: the text as written.
        _ => return Ok(Value::String(text.to_owned())),
    };
    resolved.ok_or_else(|| SourceError::InvalidScalar {
        line: at.line,
        column: at.column,
        tag: format!("!!{name}"),
        value: text.to_owned(),
    })
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub(crate) fn resolve_plain(text: &str) -> Value {
    if is_null(text) {
        return Value::Null;
    }
    if let Some(b) = parse_bool(text) {
        return Value::Bool(b);
    }
    parse_int(text)
        .or_else(|| parse_float(text))
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// `.inf`, `-.inf`, `+.inf`, `.nan` in the capitalisations of the core schema.
fn is_special_float(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN")
}

/// A finite float as a JSON number.
fn float_value(f: f64) -> Option<Value> {
    Number::from_f64(f).map(Value::Number)
}

/// A non-negative integer as a JSON number: i64 if it fits, else u64.
fn unsigned_value(n: u64) -> Value {
    match i64::try_from(n) {
        Ok(i) => Value::from(i),
        Err(_) => Value::from(n),
    }
}

/// Core schema integers: `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`.
fn parse_int(text: &str) -> Option<Value> {
    let radix_digits = |digits: &str, radix: u32| -> Option<Value> {
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        if let Ok(n) = u64::from_str_radix(digits, radix) {
            return Some(unsigned_value(n));
        }
        let f = digits
            .chars()
            .filter_map(|c| c.to_digit(radix))
            .fold(0.0_f64, |acc, d| acc * f64::from(radix) + f64::from(d));
        float_value(f)
    };
    if let Some(hex) = text.strip_prefix("0x") {
        return radix_digits(hex, 16);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return radix_digits(oct, 8);
    }
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::from(i));
    }
    if !negative {
        if let Ok(u) = digits.parse::<u64>() {
            return Some(Value::from(u));
        }
    }
    text.parse::<f64>().ok().and_then(float_value)
}

/// Core schema floats `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, when finite.
fn parse_float(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_digits = digits(&mut i);
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = digits(&mut i);
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    text.parse::<f64>().ok().and_then(float_value)
}

#[cfg(test)]
#[path = "tests/scalar.rs"]
mod tests;
