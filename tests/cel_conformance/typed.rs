//! Typed CEL values as the conformance fixtures write them (`{"int": "1"}`, `{"uint": "1"}`,
//! `{"list": [...]}`, ...): decoding, building `cel` values for bindings, and a strict comparison
//! with what celgate evaluated (an `int` 1 is not a `uint` 1 nor a `double` 1.0 here, unlike
//! CEL's own `==`).

use std::collections::HashMap;
use std::fmt::Write as _;

use base64::Engine as _;
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelDuration, CelInt, CelList, CelMap, CelMapKey, CelNull, CelOptional, CelString,
    CelTimestamp, CelType, CelUInt, Kind,
};
use cel::common::value::Val;
use serde::Deserialize;

/// One map entry of a typed map.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The key (bool, int, uint or string).
    pub key: Typed,
    /// The value.
    pub value: Typed,
}

/// A typed value as written in the fixtures.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Typed {
    /// `int`, as a decimal string (64-bit values do not survive JSON numbers).
    Int(String),
    /// `uint`, as a decimal string.
    Uint(String),
    /// `double`, as text (`"1.5"`, `"-0"`, `"NaN"`, `"Infinity"`): JSON number parsers need not
    /// round-trip a double exactly, `str::parse` does.
    Double(String),
    /// `string`.
    String(String),
    /// `bytes`, base64-encoded.
    Bytes(String),
    /// `bool`.
    Bool(bool),
    /// `null`.
    Null(()),
    /// `list`, in order.
    List(Vec<Typed>),
    /// `map`, as entries.
    Map(Vec<Entry>),
    /// A type value such as `int` or `google.protobuf.Timestamp`.
    Type(String),
    /// `google.protobuf.Timestamp`, RFC 3339.
    Timestamp(String),
    /// `google.protobuf.Duration`, as `<seconds>s`.
    Duration(String),
    /// An optional: `{"optional": null}` is `optional.none()`, `{"optional": v}` holds `v`.
    /// (cel-spec's result values cannot express one; kept for bindings and hand-written cases.)
    Optional(Option<Box<Typed>>),
    /// A protobuf message: celgate has no protobuf types, so never representable.
    Message(serde_json::Value),
}

/// A fixture value that cannot be turned into a CEL value.
#[derive(Debug, thiserror::Error)]
pub enum TypedError {
    /// A number, timestamp, duration or base64 text that does not parse.
    #[error("bad {kind} literal '{text}'")]
    BadLiteral {
        /// What was being read.
        kind: &'static str,
        /// The text as written.
        text: String,
    },
    /// A map key of a type CEL does not allow as a key.
    #[error("map key {0} is not a bool, int, uint or string")]
    BadKey(String),
    /// A protobuf message (celgate has no protobuf types).
    #[error("protobuf message {0} has no celgate representation")]
    Message(String),
}

fn literal<T: std::str::FromStr>(kind: &'static str, text: &str) -> Result<T, TypedError> {
    text.parse().map_err(|_| TypedError::BadLiteral {
        kind,
        text: text.to_owned(),
    })
}

fn double(text: &str) -> Result<f64, TypedError> {
    match text {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        other => literal("double", other),
    }
}

fn bytes(text: &str) -> Result<Vec<u8>, TypedError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| TypedError::BadLiteral {
            kind: "bytes (base64)",
            text: text.to_owned(),
        })
}

fn timestamp(text: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, TypedError> {
    chrono::DateTime::parse_from_rfc3339(text).map_err(|_| TypedError::BadLiteral {
        kind: "timestamp",
        text: text.to_owned(),
    })
}

/// `"123.5s"` / `"-1s"` (protobuf JSON) to a duration, to the nanosecond.
fn duration(text: &str) -> Result<chrono::Duration, TypedError> {
    let bad = || TypedError::BadLiteral {
        kind: "duration",
        text: text.to_owned(),
    };
    let body = text.strip_suffix('s').ok_or_else(bad)?;
    let (negative, body) = body.strip_prefix('-').map_or((false, body), |b| (true, b));
    let (secs, frac) = body.split_once('.').unwrap_or((body, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    let d = chrono::Duration::seconds(secs) + chrono::Duration::nanoseconds(nanos);
    Ok(if negative { -d } else { d })
}

fn key(t: &Typed) -> Result<CelMapKey<'static>, TypedError> {
    Ok(match t {
        Typed::Bool(b) => CelMapKey::from(*b),
        Typed::Int(i) => CelMapKey::from(literal::<i64>("int", i)?),
        Typed::Uint(u) => CelMapKey::from(literal::<u64>("uint", u)?),
        Typed::String(s) => CelMapKey::from(s.clone()),
        other => return Err(TypedError::BadKey(format!("{other:?}"))),
    })
}

impl Typed {
    /// The CEL value this stands for, to bind as a variable.
    pub fn to_val(&self) -> Result<Box<dyn Val>, TypedError> {
        Ok(match self {
            Typed::Int(i) => Box::new(CelInt::from(literal::<i64>("int", i)?)),
            Typed::Uint(u) => Box::new(CelUInt::from(literal::<u64>("uint", u)?)),
            Typed::Double(d) => Box::new(CelDouble::from(double(d)?)),
            Typed::String(s) => Box::new(CelString::from(s.clone())),
            Typed::Bytes(b) => Box::new(CelBytes::from(bytes(b)?)),
            Typed::Bool(b) => Box::new(CelBool::from(*b)),
            Typed::Null(()) => Box::new(CelNull),
            Typed::List(items) => Box::new(CelList::from(
                items.iter().map(Typed::to_val).collect::<Result<Vec<_>, _>>()?,
            )),
            Typed::Map(entries) => Box::new(CelMap::from(
                entries
                    .iter()
                    .map(|e| Ok((key(&e.key)?, e.value.to_val()?)))
                    .collect::<Result<HashMap<_, _>, TypedError>>()?,
            )),
            Typed::Type(name) => Box::new(CelType::new(name.clone())),
            Typed::Timestamp(t) => Box::new(CelTimestamp::from(timestamp(t)?)),
            Typed::Duration(d) => Box::new(CelDuration::from(duration(d)?)),
            Typed::Optional(None) => Box::new(CelOptional::none()),
            Typed::Optional(Some(inner)) => Box::new(CelOptional::of(inner.to_val()?)),
            Typed::Message(m) => return Err(TypedError::Message(message_type(m))),
        })
    }

    /// Whether `actual` is this value: same type (int, uint and double never match each other),
    /// same contents; lists in order, maps by key; doubles bit for bit (`-0.0` is not `0.0`)
    /// except that any NaN matches NaN.
    pub fn matches(&self, actual: &dyn Val) -> Result<bool, TypedError> {
        let kind = actual.get_type().kind();
        Ok(match self {
            Typed::Int(i) => {
                kind == Kind::Int && actual.downcast_ref::<CelInt>().map(CelInt::inner) == Some(&literal("int", i)?)
            }
            Typed::Uint(u) => {
                kind == Kind::UInt && actual.downcast_ref::<CelUInt>().map(CelUInt::inner) == Some(&literal("uint", u)?)
            }
            Typed::Double(d) => {
                let want = double(d)?;
                kind == Kind::Double
                    && actual.downcast_ref::<CelDouble>().is_some_and(|got| {
                        got.inner().to_bits() == want.to_bits() || (got.inner().is_nan() && want.is_nan())
                    })
            }
            Typed::String(s) => {
                kind == Kind::String && actual.downcast_ref::<CelString>().map(CelString::inner) == Some(s)
            }
            Typed::Bytes(b) => {
                kind == Kind::Bytes
                    && actual.downcast_ref::<CelBytes>().map(CelBytes::inner) == Some(bytes(b)?.as_slice())
            }
            Typed::Bool(b) => kind == Kind::Boolean && actual.downcast_ref::<CelBool>().map(CelBool::inner) == Some(b),
            Typed::Null(()) => kind == Kind::NullType,
            Typed::Type(name) => {
                kind == Kind::Type && actual.downcast_ref::<CelType>().map(CelType::name) == Some(name)
            }
            Typed::Timestamp(t) => {
                kind == Kind::Timestamp
                    && actual.downcast_ref::<CelTimestamp>().map(CelTimestamp::inner) == Some(&timestamp(t)?)
            }
            Typed::Duration(d) => {
                kind == Kind::Duration
                    && actual.downcast_ref::<CelDuration>().map(CelDuration::inner) == Some(&duration(d)?)
            }
            Typed::List(items) => match actual.downcast_ref::<CelList>() {
                Some(list) if list.inner().len() == items.len() => {
                    let mut all = true;
                    for (want, got) in items.iter().zip(list.inner()) {
                        all &= want.matches(got.as_ref())?;
                    }
                    all
                }
                _ => false,
            },
            Typed::Map(entries) => match actual.downcast_ref::<CelMap>() {
                Some(map) if map.inner().len() == entries.len() => {
                    let mut all = true;
                    for e in entries {
                        all &= match map.inner().get(&key(&e.key)?) {
                            Some(got) => e.value.matches(got.as_ref())?,
                            None => false,
                        };
                    }
                    all
                }
                _ => false,
            },
            Typed::Optional(want) => match (actual.downcast_ref::<CelOptional>().map(CelOptional::option), want) {
                (Some(None), None) => true,
                (Some(Some(got)), Some(want)) => want.matches(got)?,
                _ => false,
            },
            Typed::Message(m) => return Err(TypedError::Message(message_type(m))),
        })
    }
}

fn message_type(m: &serde_json::Value) -> String {
    m.get("type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("?")
        .to_owned()
}

/// A CEL value in the fixtures' typed spelling (`int(1)`, `uint(1)`, `list[...]`), for failure
/// messages.
pub fn render(v: &dyn Val) -> String {
    let mut out = String::new();
    render_into(v, &mut out);
    out
}

fn render_into(v: &dyn Val, out: &mut String) {
    let kind = v.get_type().kind();
    if let Some(x) = v.downcast_ref::<CelInt>() {
        let _ = write!(out, "int({})", x.inner());
    } else if let Some(x) = v.downcast_ref::<CelUInt>() {
        let _ = write!(out, "uint({})", x.inner());
    } else if let Some(x) = v.downcast_ref::<CelDouble>() {
        let _ = write!(out, "double({:?})", x.inner());
    } else if let Some(x) = v.downcast_ref::<CelString>() {
        let _ = write!(out, "string({:?})", x.inner());
    } else if let Some(x) = v.downcast_ref::<CelBytes>() {
        let _ = write!(out, "bytes({:?})", String::from_utf8_lossy(x.inner()));
    } else if let Some(x) = v.downcast_ref::<CelBool>() {
        let _ = write!(out, "bool({})", x.inner());
    } else if kind == Kind::NullType {
        out.push_str("null");
    } else if let Some(x) = v.downcast_ref::<CelType>() {
        let _ = write!(out, "type({})", x.name());
    } else if let Some(x) = v.downcast_ref::<CelList>() {
        out.push_str("list[");
        for (i, item) in x.inner().iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            render_into(item.as_ref(), out);
        }
        out.push(']');
    } else if let Some(x) = v.downcast_ref::<CelMap>() {
        out.push_str("map{");
        let mut entries: Vec<String> = x
            .inner()
            .iter()
            .map(|(k, val)| format!("{k:?}: {}", render(val.as_ref())))
            .collect();
        entries.sort();
        out.push_str(&entries.join(", "));
        out.push('}');
    } else if let Some(x) = v.downcast_ref::<CelOptional>() {
        match x.option() {
            Some(inner) => {
                out.push_str("optional.of(");
                render_into(inner, out);
                out.push(')');
            }
            None => out.push_str("optional.none()"),
        }
    } else if let Some(x) = v.downcast_ref::<CelTimestamp>() {
        let _ = write!(out, "timestamp({})", x.inner().to_rfc3339());
    } else if let Some(x) = v.downcast_ref::<CelDuration>() {
        let _ = write!(out, "duration({})", x.inner());
    } else {
        let _ = write!(out, "{}({v:?})", v.get_type().name());
    }
}

/// The same spelling as [`render`], for expected values.
impl std::fmt::Display for Typed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Typed::Int(i) => write!(f, "int({i})"),
            Typed::Uint(u) => write!(f, "uint({u})"),
            Typed::Double(d) => write!(f, "double({d})"),
            Typed::String(s) => write!(f, "string({s:?})"),
            Typed::Bytes(b) => match bytes(b) {
                Ok(raw) => write!(f, "bytes({:?})", String::from_utf8_lossy(&raw)),
                Err(_) => write!(f, "bytes(<bad base64 {b}>)"),
            },
            Typed::Bool(b) => write!(f, "bool({b})"),
            Typed::Null(()) => f.write_str("null"),
            Typed::Type(t) => write!(f, "type({t})"),
            Typed::Timestamp(t) => write!(f, "timestamp({t})"),
            Typed::Duration(d) => write!(f, "duration({d})"),
            Typed::Message(m) => write!(f, "message({})", message_type(m)),
            Typed::Optional(None) => f.write_str("optional.none()"),
            Typed::Optional(Some(inner)) => write!(f, "optional.of({inner})"),
            Typed::List(items) => {
                f.write_str("list[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Typed::Map(entries) => {
                let mut parts: Vec<String> = entries.iter().map(|e| format!("{}: {}", e.key, e.value)).collect();
                parts.sort();
                write!(f, "map{{{}}}", parts.join(", "))
            }
        }
    }
}
