//! The functions the evaluator runs itself, on the operand kinds the shipped packs use. For any
//! other kinds a builtin answers [`Outcome::Other`] and the call goes to the interpreter's own
//! function ([`super::bridge`]), so an unusual call behaves exactly as the interpreter does.

use std::sync::Arc;

use super::value::{List, Value};
use super::EvalError;
use crate::engine::cel::functions;
use crate::engine::cel::k8s::ip;

/// A function the evaluator implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `size(x)` / `x.size()`.
    Size,
    /// `type(x)`.
    TypeOf,
    /// `string(x)`.
    ToString,
    /// `int(x)`.
    ToInt,
    /// `s.startsWith(p)`.
    StartsWith,
    /// `s.endsWith(p)`.
    EndsWith,
    /// `s.contains(p)`.
    Contains,
    /// `s.lowerAscii()`.
    LowerAscii,
    /// `s.upperAscii()`.
    UpperAscii,
    /// `s.trim()`.
    Trim,
    /// `l.join()` / `l.join(sep)`.
    Join,
    /// `s.replace(a, b)`.
    Replace,
    /// `s.split(sep)`.
    Split,
    /// `s.substring(i)` / `s.substring(i, j)`.
    Substring,
    /// `s.charAt(i)`.
    CharAt,
    /// `o.orValue(d)`.
    OrValue,
    /// `o.hasValue()`.
    HasValue,
    /// `o.value()`.
    OptValue,
    /// `optional.of(x)`.
    OptionalOf,
    /// `optional.none()`.
    OptionalNone,
    /// `l.flatten()`.
    Flatten,
    /// `s.matches(p)` with a computed pattern.
    MatchesDynamic,
    /// The `[index or key, value]` pairs of a list or map (two-variable macros).
    Entries,
    /// `double(x)`.
    ToDouble,
    /// `lists.range(n)`.
    Range,
    /// `celgate.durationSeconds(s)`.
    DurationSeconds,
    /// `celgate.isDuration(s)`.
    IsDuration,
    /// `celgate.isCron(s)`.
    IsCron,
    /// `promql.valid(s)`.
    PromqlValid,
    /// `promql.error(s)`.
    PromqlError,
    /// `isCIDR(s)`.
    IsCidr,
    /// `cidr(s)`.
    Cidr,
    /// `c.containsCIDR(other)`.
    ContainsCidr,
    /// `c.prefixLength()`.
    PrefixLength,
}

impl Builtin {
    /// The builtin for a call of `name` with (`member`) or without a receiver and `arity`
    /// arguments besides it.
    pub fn resolve(name: &str, member: bool, arity: usize) -> Option<Builtin> {
        Some(match (name, member, arity) {
            ("size", false, 1) | ("size", true, 0) => Builtin::Size,
            ("type", false, 1) => Builtin::TypeOf,
            ("string", false, 1) => Builtin::ToString,
            ("int", false, 1) => Builtin::ToInt,
            ("startsWith", true, 1) => Builtin::StartsWith,
            ("endsWith", true, 1) => Builtin::EndsWith,
            ("contains", true, 1) => Builtin::Contains,
            ("lowerAscii", true, 0) => Builtin::LowerAscii,
            ("upperAscii", true, 0) => Builtin::UpperAscii,
            ("trim", true, 0) => Builtin::Trim,
            ("join", true, 0 | 1) => Builtin::Join,
            ("replace", true, 2) => Builtin::Replace,
            ("split", true, 1 | 2) => Builtin::Split,
            ("isCIDR", false, 1) => Builtin::IsCidr,
            ("cidr", false, 1) => Builtin::Cidr,
            ("containsCIDR", true, 1) => Builtin::ContainsCidr,
            ("prefixLength", true, 0) => Builtin::PrefixLength,
            ("substring", true, 1 | 2) => Builtin::Substring,
            ("charAt", true, 1) => Builtin::CharAt,
            ("orValue", true, 1) => Builtin::OrValue,
            ("hasValue", true, 0) => Builtin::HasValue,
            ("value", true, 0) => Builtin::OptValue,
            ("optional.of", false, 1) => Builtin::OptionalOf,
            ("optional.none", false, 0) => Builtin::OptionalNone,
            ("flatten", true, 0) => Builtin::Flatten,
            ("__celgate_matches", false, 2) => Builtin::MatchesDynamic,
            ("@celgate_entries", false, 1) => Builtin::Entries,
            ("double", false, 1) => Builtin::ToDouble,
            ("lists.range", false, 1) => Builtin::Range,
            ("celgate.durationSeconds", false, 1) => Builtin::DurationSeconds,
            ("celgate.isDuration", false, 1) => Builtin::IsDuration,
            ("celgate.isCron", false, 1) => Builtin::IsCron,
            ("promql.valid", false, 1) => Builtin::PromqlValid,
            ("promql.error", false, 1) => Builtin::PromqlError,
            _ => return None,
        })
    }
}

/// What a builtin made of its arguments.
pub enum Outcome<'v> {
    /// Its result.
    Done(Result<Value<'v>, EvalError>),
    /// Kinds it does not handle: ask the interpreter.
    Other,
}

use Outcome::{Done, Other};

fn ok(v: Value<'_>) -> Outcome<'_> {
    Done(Ok(v))
}

fn err<'v>(function: &'static str, message: impl Into<String>) -> Outcome<'v> {
    Done(Err(EvalError::function(function, message)))
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Runs `builtin` on `args` (receiver first); `steps` is told the work done beyond one step.
// Long: one match, the table of every native builtin by operand kinds, read best whole.
pub fn call<'v>(builtin: Builtin, args: &[Value<'v>], steps: &mut u64) -> Outcome<'v> {
    use Value as V;
    match (builtin, args) {
        (Builtin::Size, [V::Str(s)]) => {
            *steps += (s.as_str().len() / 64) as u64;
            ok(V::Int(count(s.as_str().chars().count())))
        }
        (Builtin::Size, [V::List(l)]) => ok(V::Int(count(l.len()))),
        (Builtin::Size, [V::Map(m)]) => ok(V::Int(count(m.len()))),
        (Builtin::TypeOf, [v]) => match v.type_name() {
            Some(name) => ok(V::Type(Arc::from(name))),
            None => Other,
        },
        (Builtin::ToString, [V::Str(s)]) => ok(V::Str(s.clone())),
        (Builtin::ToString, [V::Int(i)]) => ok(V::string(i.to_string())),
        (Builtin::ToString, [V::UInt(u)]) => ok(V::string(u.to_string())),
        (Builtin::ToString, [V::Bool(b)]) => ok(V::string(if *b { "true" } else { "false" })),
        (Builtin::ToInt, [V::Int(i)]) => ok(V::Int(*i)),
        (Builtin::StartsWith, [V::Str(s), V::Str(p)]) => ok(V::Bool(s.as_str().starts_with(p.as_str()))),
        (Builtin::EndsWith, [V::Str(s), V::Str(p)]) => ok(V::Bool(s.as_str().ends_with(p.as_str()))),
        (Builtin::Contains, [V::Str(s), V::Str(p)]) => {
            *steps += (s.as_str().len() / 64) as u64;
            ok(V::Bool(s.as_str().contains(p.as_str())))
        }
        (Builtin::LowerAscii, [V::Str(s)]) => ok(V::string(s.as_str().to_ascii_lowercase())),
        (Builtin::UpperAscii, [V::Str(s)]) => ok(V::string(s.as_str().to_ascii_uppercase())),
        (Builtin::Trim, [V::Str(s)]) => ok(V::string(s.as_str().trim())),
        (Builtin::Join, [V::List(l)]) => join(l, "", steps),
        (Builtin::Join, [V::List(l), V::Str(sep)]) => join(l, sep.as_str(), steps),
        (Builtin::Replace, [V::Str(s), V::Str(a), V::Str(b)]) => {
            ok(V::string(s.as_str().replace(a.as_str(), b.as_str())))
        }
        (Builtin::Split, [V::Str(s), V::Str(sep)]) if !sep.as_str().is_empty() => {
            ok(V::list(s.as_str().split(sep.as_str()).map(V::string).collect()))
        }
        (Builtin::Split, [V::Str(_), V::Str(_), V::Int(0)]) => ok(V::list(Vec::new())),
        (Builtin::Split, [V::Str(s), V::Str(sep), V::Int(n)]) if *n > 0 && !sep.as_str().is_empty() => {
            let n = usize::try_from(*n).unwrap_or(usize::MAX);
            ok(V::list(s.as_str().splitn(n, sep.as_str()).map(V::string).collect()))
        }
        (Builtin::IsCidr, [V::Str(s)]) => ok(V::Bool(ip::parse_cidr(s.as_str()).is_ok())),
        (Builtin::Cidr, [V::Str(s)]) => Done(
            ip::parse_cidr(s.as_str())
                .map(|c| V::Foreign(Arc::new(c)))
                .map_err(|e| EvalError::function("cidr", e)),
        ),
        (Builtin::ContainsCidr, [V::Foreign(c), V::Str(other)]) => match c.downcast_ref::<ip::Cidr>() {
            Some(c) => Done(
                ip::parse_cidr(other.as_str())
                    .map(|other| V::Bool(c.contains_cidr(other)))
                    .map_err(|e| EvalError::function("containsCIDR", e)),
            ),
            None => Other,
        },
        (Builtin::ContainsCidr, [V::Foreign(c), V::Foreign(other)]) => {
            match (c.downcast_ref::<ip::Cidr>(), other.downcast_ref::<ip::Cidr>()) {
                (Some(c), Some(other)) => ok(V::Bool(c.contains_cidr(*other))),
                _ => Other,
            }
        }
        (Builtin::PrefixLength, [V::Foreign(c)]) => match c.downcast_ref::<ip::Cidr>() {
            Some(c) => ok(V::Int(i64::from(c.bits))),
            None => Other,
        },
        (Builtin::Substring, [V::Str(s), V::Int(start)]) => {
            let len = count(s.as_str().chars().count());
            if *start < 0 || *start > len {
                return err("substring", format!("index out of range: {start}"));
            }
            substring(s.as_str(), *start, len)
        }
        (Builtin::Substring, [V::Str(s), V::Int(start), V::Int(end)]) => substring(s.as_str(), *start, *end),
        (Builtin::CharAt, [V::Str(s), V::Int(i)]) => {
            let len = count(s.as_str().chars().count());
            if *i < 0 || *i > len {
                return err("charAt", format!("index out of range: {i}"));
            }
            let at = usize::try_from(*i).unwrap_or(usize::MAX);
            ok(V::string(
                s.as_str().chars().nth(at).map(String::from).unwrap_or_default(),
            ))
        }
        (Builtin::OrValue, [V::Optional(o), d]) => ok(o.as_deref().cloned().unwrap_or_else(|| d.clone())),
        (Builtin::HasValue, [V::Optional(o)]) => ok(V::Bool(o.is_some())),
        (Builtin::OptValue, [V::Optional(Some(v))]) => ok((**v).clone()),
        (Builtin::OptionalOf, [v]) => ok(V::Optional(Some(Arc::new(v.clone())))),
        (Builtin::OptionalNone, []) => ok(V::Optional(None)),
        (Builtin::Flatten, [V::List(l)]) => flatten(l, steps),
        (Builtin::MatchesDynamic, [V::Str(s), V::Str(p)]) => {
            let found = crate::engine::cel::k8s::regex::with_regex("matches", p.as_str(), |re| re.is_match(s.as_str()));
            Done(found.map(V::Bool).map_err(|e| EvalError::Regex(e.to_string().into())))
        }
        (Builtin::Entries, [V::List(l)]) => {
            let mut out = Vec::with_capacity(l.len());
            let mut i: i64 = 0;
            let _ = l.try_each::<()>(|item| {
                out.push(V::list(vec![V::Int(i), item]));
                i += 1;
                Ok(true)
            });
            *steps += out.len() as u64;
            ok(V::list(out))
        }
        (Builtin::Entries, [V::Map(m)]) => {
            let out: Vec<Value<'v>> = m.entries().into_iter().map(|(k, v)| V::list(vec![k, v])).collect();
            *steps += out.len() as u64;
            ok(V::list(out))
        }
        (Builtin::ToDouble, [V::Double(d)]) => ok(V::Double(*d)),
        #[allow(clippy::cast_precision_loss)]
        (Builtin::ToDouble, [V::Int(i)]) => ok(V::Double(*i as f64)),
        #[allow(clippy::cast_precision_loss)]
        (Builtin::ToDouble, [V::UInt(u)]) => ok(V::Double(*u as f64)),
        (Builtin::Range, [V::Int(n)]) if *n >= 0 => {
            *steps += n.unsigned_abs();
            ok(V::list((0..*n).map(V::Int).collect()))
        }
        (Builtin::DurationSeconds, [V::Str(s)]) => Done(
            functions::parse_duration_seconds(s.as_str())
                .map(V::Int)
                .map_err(|e| EvalError::function("celgate.durationSeconds", e)),
        ),
        (Builtin::IsDuration, [V::Str(s)]) => ok(V::Bool(functions::parse_duration_seconds(s.as_str()).is_ok())),
        (Builtin::IsCron, [V::Str(s)]) => ok(V::Bool(functions::is_cron(s.as_str()))),
        (Builtin::PromqlValid, [V::Str(s)]) => {
            *steps += (s.as_str().len() / 16) as u64;
            ok(V::Bool(functions::promql_parse(s.as_str()).is_ok()))
        }
        (Builtin::PromqlError, [V::Str(s)]) => {
            *steps += (s.as_str().len() / 16) as u64;
            ok(V::string(functions::promql_parse(s.as_str()).err().unwrap_or_default()))
        }
        _ => Other,
    }
}

fn join<'v>(list: &List<'v>, sep: &str, steps: &mut u64) -> Outcome<'v> {
    let mut out = String::new();
    let mut first = true;
    let mut foreign = false;
    let _ = list.try_each::<()>(|item| {
        let Value::Str(s) = item else {
            foreign = true;
            return Ok(false);
        };
        if !first {
            out.push_str(sep);
        }
        first = false;
        out.push_str(s.as_str());
        Ok(true)
    });
    *steps += list.len() as u64;
    if foreign {
        Other
    } else {
        ok(Value::string(out))
    }
}

fn substring<'v>(s: &str, start: i64, end: i64) -> Outcome<'v> {
    let len = count(s.chars().count());
    if start > end {
        return err(
            "substring",
            format!("invalid substring range. start: {start}, end: {end}"),
        );
    }
    if start < 0 || start > len {
        return err("substring", format!("index out of range: {start}"));
    }
    if end > len {
        return err("substring", format!("index out of range: {end}"));
    }
    let (start, end) = (usize::try_from(start).unwrap_or(0), usize::try_from(end).unwrap_or(0));
    ok(Value::string(
        s.chars().skip(start).take(end - start).collect::<String>(),
    ))
}

fn flatten<'v>(list: &List<'v>, steps: &mut u64) -> Outcome<'v> {
    let mut out = Vec::with_capacity(list.len());
    let _ = list.try_each::<()>(|item| {
        match item {
            Value::List(inner) => {
                let _ = inner.try_each::<()>(|x| {
                    out.push(x);
                    Ok(true)
                });
            }
            other => out.push(other),
        }
        Ok(true)
    });
    *steps += out.len() as u64;
    ok(Value::list(out))
}
