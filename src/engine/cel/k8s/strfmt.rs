//! `string.format(list)` as Kubernetes runs it: the formatter of cel-go's strings extension at
//! `ext.StringsVersion(2)` (the version `k8s.io/apiserver/pkg/cel/environment/base.go` configures
//! since Kubernetes 1.29), with the `en_US` locale and no precision cap. It differs from the
//! cel-spec formatter the `cel` crate ships: lists and maps print as CEL literals (`["a", "b"]`,
//! doubles inside them as `%.6f`), `%s` of a double is Go's `%g` (`2e-09`), `%f`/`%e` use the
//! locale's printer (`1,234.500000`, `2.718280 × 10⁰⁰`, `∞`), and too many arguments are only an
//! error when the checker sees them (see [`check_literal`]).
//!
//! [`parse`] walks a format string once for both: the runtime formatter ([`format_fn`]) and the
//! load-time check of literal format strings against literal argument lists.

use std::fmt::Write as _;

use cel::common::types::CelString;
use cel::common::value::CowVal;
use cel::{ExecutionError, Value};

use super::gofmt::{duration_text, go_fixed, go_g, go_quote, locale_fixed, locale_scientific, timestamp_text};

/// The name `x.format(args)` calls are rewritten to.
pub const FORMAT: &str = "__celgate_format";

/// One formatting clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clause {
    /// `%s`
    String,
    /// `%d`
    Decimal,
    /// `%f` with its precision.
    Fixed(Option<usize>),
    /// `%e` with its precision.
    Scientific(Option<usize>),
    /// `%b`
    Binary,
    /// `%x` / `%X` (upper case when set).
    Hex(bool),
    /// `%o`
    Octal,
}

/// A piece of a parsed format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text copied as is (`%%` already turned into `%`).
    Text(String),
    /// A clause taking the next argument.
    Clause(Clause),
}

/// Parses `format` as cel-go's `parseFormatString` does, checking each clause against
/// `arg_count` as it goes (so the first problem reported is the one cel-go reports).
///
/// # Errors
///
/// cel-go's message: `index N out of range`, `unexpected end of string`,
/// `could not parse formatting clause: ...`.
pub fn parse(format: &str, arg_count: usize) -> Result<Vec<Piece>, String> {
    let bytes = format.as_bytes();
    let mut pieces = Vec::new();
    let mut text = Vec::new();
    let mut i = 0;
    let mut arg = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            text.push(bytes[i]);
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'%') {
            text.push(b'%');
            i += 2;
            continue;
        }
        if arg >= arg_count {
            return Err(format!("index {arg} out of range"));
        }
        if i + 1 >= bytes.len() {
            return Err("unexpected end of string".to_owned());
        }
        let (read, clause) = clause(&bytes[i + 1..]).map_err(|e| format!("could not parse formatting clause: {e}"))?;
        if !text.is_empty() {
            pieces.push(Piece::Text(
                String::from_utf8_lossy(&std::mem::take(&mut text)).into_owned(),
            ));
        }
        pieces.push(Piece::Clause(clause));
        i += 1 + read;
        arg += 1;
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(String::from_utf8_lossy(&text).into_owned()));
    }
    Ok(pieces)
}

fn clause(rest: &[u8]) -> Result<(usize, Clause), String> {
    let mut i = 0;
    let mut precision = None;
    if rest.first() == Some(&b'.') {
        i = 1;
        let start = i;
        loop {
            match rest.get(i) {
                None => {
                    return Err("error while parsing precision: could not find end of precision specifier".to_owned())
                }
                Some(b) if b.is_ascii_digit() => i += 1,
                Some(_) => break,
            }
        }
        let digits = std::str::from_utf8(&rest[start..i]).unwrap_or("");
        let value: usize = digits.parse().map_err(|_| {
            format!("error while parsing precision: error while converting precision to integer: strconv.Atoi: parsing \"{digits}\": invalid syntax")
        })?;
        precision = Some(value);
    }
    let Some(&verb) = rest.get(i) else {
        return Err("unexpected end of string".to_owned());
    };
    let clause = match verb {
        b's' => Clause::String,
        b'd' => Clause::Decimal,
        b'f' => Clause::Fixed(precision),
        b'e' => Clause::Scientific(precision),
        b'b' => Clause::Binary,
        b'x' => Clause::Hex(false),
        b'X' => Clause::Hex(true),
        b'o' => Clause::Octal,
        _ => {
            let c = std::str::from_utf8(&rest[i..])
                .ok()
                .and_then(|s| s.chars().next())
                .unwrap_or(char::from(verb));
            return Err(format!("unrecognized formatting clause \"{c}\""));
        }
    };
    Ok((i + 1, clause))
}

/// `string.format(list)`: receiver and argument as the overload resolution guarantees them.
#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
pub fn format_fn<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (Some(format), Some(list)) = (args.first().and_then(|a| a.downcast_ref::<CelString>()), args.get(1)) else {
        return Err(ExecutionError::function_error("format", "expects (string, list)"));
    };
    let Value::List(values) = Value::try_from(&**list)? else {
        return Err(ExecutionError::function_error("format", "expects a list of arguments"));
    };
    let out = format_values(format.inner(), &values).map_err(|e| ExecutionError::function_error("format", e))?;
    Ok(CowVal::owned(CelString::from(out)))
}

/// Formats `values` into `format` (the runtime formatter).
///
/// # Errors
///
/// cel-go's message for the first clause that fails.
pub fn format_values(format: &str, values: &[Value]) -> Result<String, String> {
    let pieces = parse(format, values.len())?;
    let mut out = String::new();
    let mut next = values.iter();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Clause(c) => {
                let value = next.next().ok_or("index out of range")?;
                let text = apply(c, value).map_err(|e| format!("error during formatting: {e}"))?;
                out.push_str(&text);
            }
        }
    }
    Ok(out)
}

/// The CEL type name cel-go's messages use for a value.
pub fn type_name(value: &Value) -> String {
    match value {
        Value::List(_) => "list".into(),
        Value::Map(_) => "map".into(),
        Value::Function(..) => "function".into(),
        Value::Int(_) => "int".into(),
        Value::UInt(_) => "uint".into(),
        Value::Float(_) => "double".into(),
        Value::String(_) => "string".into(),
        Value::Bytes(_) => "bytes".into(),
        Value::Bool(_) => "bool".into(),
        Value::Duration(_) => "google.protobuf.Duration".into(),
        Value::Timestamp(_) => "google.protobuf.Timestamp".into(),
        Value::Opaque(o) => o.runtime_type_name().to_owned(),
        Value::Struct(_) => "struct".into(),
        Value::Null => "null_type".into(),
    }
}

/// The message of a clause given a value of the wrong type (`bad` is the type's name).
pub fn clause_error(clause: Clause, bad: &str) -> String {
    match clause {
        Clause::String => format!("string clause can only be used on strings, bools, bytes, ints, doubles, maps, lists, types, durations, and timestamps, was given {bad}"),
        Clause::Decimal => format!("decimal clause can only be used on integers, was given {bad}"),
        Clause::Fixed(_) => format!("fixed-point clause can only be used on doubles, was given {bad}"),
        Clause::Scientific(_) => format!("scientific clause can only be used on doubles, was given {bad}"),
        Clause::Binary => format!("only integers and bools can be formatted as binary, was given {bad}"),
        Clause::Hex(_) => format!("only integers, byte buffers, and strings can be formatted as hex, was given {bad}"),
        Clause::Octal => format!("octal clause can only be used on integers, was given {bad}"),
    }
}

fn apply(clause: Clause, value: &Value) -> Result<String, String> {
    let bad = || clause_error(clause, &type_name(value));
    match clause {
        Clause::String => format_string(value).ok_or_else(bad),
        Clause::Decimal => match value {
            Value::Int(i) => Ok(i.to_string()),
            Value::UInt(u) => Ok(u.to_string()),
            _ => Err(bad()),
        },
        Clause::Fixed(p) | Clause::Scientific(p) => {
            let x = match value {
                Value::Float(f) => *f,
                Value::String(s) if s.as_str() == "NaN" => f64::NAN,
                Value::String(s) if s.as_str() == "Infinity" => f64::INFINITY,
                Value::String(s) if s.as_str() == "-Infinity" => f64::NEG_INFINITY,
                _ => return Err(bad()),
            };
            let p = p.unwrap_or(6);
            Ok(if matches!(clause, Clause::Fixed(_)) {
                locale_fixed(x, p)
            } else {
                locale_scientific(x, p)
            })
        }
        Clause::Binary => match value {
            Value::Int(i) => Ok(signed(*i, |u| format!("{u:b}"))),
            Value::UInt(u) => Ok(format!("{u:b}")),
            Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_owned()),
            _ => Err(bad()),
        },
        Clause::Hex(upper) => {
            let text = match value {
                Value::Int(i) => signed(*i, |u| format!("{u:x}")),
                Value::UInt(u) => format!("{u:x}"),
                Value::String(s) => hex_bytes(s.as_bytes()),
                Value::Bytes(b) => hex_bytes(b),
                _ => return Err(bad()),
            };
            Ok(if upper { text.to_uppercase() } else { text })
        }
        Clause::Octal => match value {
            Value::Int(i) => Ok(signed(*i, |u| format!("{u:o}"))),
            Value::UInt(u) => Ok(format!("{u:o}")),
            _ => Err(bad()),
        },
    }
}

/// Lowercase hex of each byte, two digits each.
fn hex_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Go prints a negative number in base 2, 8 or 16 as `-` and its magnitude.
fn signed(i: i64, f: impl Fn(u64) -> String) -> String {
    if i < 0 {
        format!("-{}", f(i.unsigned_abs()))
    } else {
        f(i.unsigned_abs())
    }
}

/// `%s`: cel-go's `FormatString`; `None` for a type it does not format.
fn format_string(value: &Value) -> Option<String> {
    Some(match value {
        Value::List(items) => {
            let parts: Option<Vec<String>> = items.iter().map(literal).collect();
            format!("[{}]", parts?.join(", "))
        }
        Value::Map(map) => {
            let mut entries = Vec::new();
            for (k, v) in map.map.iter() {
                let key = match k {
                    cel::objects::Key::String(s) => go_quote(s),
                    cel::objects::Key::Bool(b) => b.to_string(),
                    cel::objects::Key::Int(i) => i.to_string(),
                    cel::objects::Key::Uint(u) => u.to_string(),
                };
                entries.push((key, literal(v)?));
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let parts: Vec<String> = entries.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => go_g(*f),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.as_str().to_owned(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Timestamp(t) => timestamp_text(t),
        Value::Duration(d) => duration_text(*d),
        Value::Null => "null".to_owned(),
        Value::Function(..) | Value::Opaque(_) | Value::Struct(_) => return None,
    })
}

/// A list element or map value as cel-go prints it inside `[...]` / `{...}`: a CEL literal.
fn literal(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(s) => go_quote(s),
        Value::Bytes(b) => format!("b{}", go_quote(&String::from_utf8_lossy(b))),
        Value::Float(f) => {
            let text = go_fixed(*f, 6);
            if f.is_finite() {
                text
            } else {
                go_quote(&text)
            }
        }
        Value::Timestamp(t) => format!("timestamp({})", go_quote(&timestamp_text(t))),
        Value::Duration(d) => format!("duration({})", go_quote(&duration_text(*d))),
        other => format_string(other)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_and_errors() {
        let v = |s: &str| Value::String(std::sync::Arc::new(s.to_owned()));
        assert_eq!(
            format_values("%s and %d", &[v("a"), Value::Int(3)]),
            Ok("a and 3".into())
        );
        assert_eq!(
            format_values("%s", &[Value::List(std::sync::Arc::new(vec![v("a"), v("b")]))]),
            Ok("[\"a\", \"b\"]".into())
        );
        assert_eq!(format_values("%s %s", &[v("abc")]), Err("index 1 out of range".into()));
        assert_eq!(format_values("filler %", &[]), Err("index 0 out of range".into()));
        assert!(format_values("%d", &[Value::Float(1.0)])
            .is_err_and(|e| e.contains("decimal clause can only be used on integers, was given double")));
    }
}
