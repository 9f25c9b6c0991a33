//! Where the `cel` crate's functions answer differently from Kubernetes' CEL environment, the
//! Kubernetes behaviour, installed by renaming the calls at compile time ([`rewrite`]) to
//! functions registered here ([`register`]):
//!
//! - `string.format(list)`: cel-go's strings extension at version 2 ([`super::strfmt`]);
//! - `string.indexOf(s, offset)` / `lastIndexOf(s, offset)`: an offset at or past the end is
//!   -1, not an error (cel-go `ext/strings.go`);
//! - `optional.ofNonZeroValue(x)`: Go's zero values (a timestamp is zero at
//!   `0001-01-01T00:00:00Z`, not at the Unix epoch);
//! - `jsonpatch.escapeKey(k)`: `~` -> `~0`, `/` -> `~1` (`k8s.io/apiserver/pkg/cel/library/jsonpatch.go`).

use cel::common::ast::{Expr, IdedExpr};
use cel::common::types::{CelInt, CelOptional, CelString, DYN_TYPE, INT_TYPE, LIST_TYPE, STRING_TYPE};
use cel::common::value::CowVal;
use cel::{DeclarationError, Env, ExecutionError, Value};

use super::strfmt;

/// `s.indexOf(sub, offset)` is renamed to this.
const INDEX_OF_OFFSET: &str = "__celgate_indexOf_offset";
/// `s.lastIndexOf(sub, offset)` is renamed to this.
const LAST_INDEX_OF_OFFSET: &str = "__celgate_lastIndexOf_offset";
/// `optional.ofNonZeroValue(x)` is renamed to this.
const OF_NON_ZERO: &str = "__celgate_ofNonZeroValue";
/// `jsonpatch.escapeKey(k)`.
pub const ESCAPE_KEY: &str = "jsonpatch.escapeKey";

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_member_overload(
        strfmt::FORMAT,
        "celgate_string_format_list",
        STRING_TYPE,
        vec![LIST_TYPE],
        strfmt::format_fn,
    )?;
    env.add_member_overload(
        INDEX_OF_OFFSET,
        "celgate_string_index_of_string_int",
        STRING_TYPE,
        vec![STRING_TYPE, INT_TYPE],
        index_of_offset,
    )?;
    env.add_member_overload(
        LAST_INDEX_OF_OFFSET,
        "celgate_string_last_index_of_string_int",
        STRING_TYPE,
        vec![STRING_TYPE, INT_TYPE],
        last_index_of_offset,
    )?;
    env.add_overload(OF_NON_ZERO, "celgate_of_non_zero_value", vec![DYN_TYPE], of_non_zero)?;
    env.add_overload(
        ESCAPE_KEY,
        "celgate_jsonpatch_escape_key",
        vec![STRING_TYPE],
        escape_key,
    )?;
    Ok(())
}

/// Renames the calls whose Kubernetes behaviour differs from the `cel` crate's (see the module
/// docs). Run on the compiled tree, after macros are expanded.
pub fn rewrite(expr: &mut IdedExpr) {
    for child in crate::engine::cel::ast::children_mut(expr) {
        rewrite(child);
    }
    let Expr::Call(call) = &mut expr.expr else {
        return;
    };
    let namespace = match call.target.as_deref().map(|t| &t.expr) {
        Some(Expr::Ident(ns)) => Some(ns.as_str()),
        _ => None,
    };
    let renamed = match (call.func_name.as_str(), namespace, call.args.len()) {
        ("ofNonZeroValue", Some("optional"), 1) => {
            call.target = None;
            OF_NON_ZERO
        }
        ("format", _, 1) if call.target.is_some() => strfmt::FORMAT,
        ("indexOf", _, 2) if call.target.is_some() => INDEX_OF_OFFSET,
        ("lastIndexOf", _, 2) if call.target.is_some() => LAST_INDEX_OF_OFFSET,
        _ => return,
    };
    renamed.clone_into(&mut call.func_name);
}

/// The receiver, needle and offset of an `indexOf`-style call.
fn offset_args(function: &str, args: &[CowVal<'_, '_>]) -> Result<(Vec<char>, Vec<char>, i64), ExecutionError> {
    match (
        args.first().and_then(|a| a.downcast_ref::<CelString>()),
        args.get(1).and_then(|a| a.downcast_ref::<CelString>()),
        args.get(2).and_then(|a| a.downcast_ref::<CelInt>()),
    ) {
        (Some(s), Some(sub), Some(off)) => {
            Ok((s.inner().chars().collect(), sub.inner().chars().collect(), *off.inner()))
        }
        _ => Err(ExecutionError::function_error(
            function,
            "expects (string, string, int)",
        )),
    }
}

/// cel-go's `indexOfOffset` / `lastIndexOfOffset`, in code points.
fn find_from(function: &str, args: &[CowVal<'_, '_>], last: bool) -> Result<i64, ExecutionError> {
    let (runes, sub, offset) = offset_args(function, args)?;
    if offset < 0 {
        return Err(ExecutionError::function_error(
            function,
            format!("index out of range: {offset}"),
        ));
    }
    let len = i64::try_from(runes.len()).unwrap_or(i64::MAX);
    if sub.is_empty() {
        return Ok(offset.min(len));
    }
    if offset >= len || sub.len() > runes.len() {
        return Ok(-1);
    }
    let off = usize::try_from(offset).unwrap_or(usize::MAX);
    let matches_at = |i: usize| runes[i..].starts_with(&sub);
    let found = if last {
        let start = off.min(runes.len() - sub.len());
        (0..=start).rev().find(|&i| matches_at(i))
    } else {
        (off..=runes.len() - sub.len()).find(|&i| matches_at(i))
    };
    Ok(found.and_then(|i| i64::try_from(i).ok()).unwrap_or(-1))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn index_of_offset<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    Ok(CowVal::owned(CelInt::from(find_from("indexOf", &args, false)?)))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn last_index_of_offset<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    Ok(CowVal::owned(CelInt::from(find_from("lastIndexOf", &args, true)?)))
}

/// Whether `value` is its type's zero value in Go (cel-go's `IsZeroValue`).
fn is_go_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::UInt(u) => *u == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.map.is_empty(),
        Value::Duration(d) => d.is_zero(),
        Value::Timestamp(t) => *t == go_zero_time(),
        Value::Function(..) | Value::Opaque(_) | Value::Struct(_) => false,
    }
}

/// `time.Time{}`: January 1, year 1, 00:00:00 UTC.
fn go_zero_time() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::from_timestamp(-62_135_596_800, 0)
        .unwrap_or_default()
        .fixed_offset()
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn of_non_zero<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let Some(arg) = args.first() else {
        return Err(ExecutionError::function_error("ofNonZeroValue", "expects one argument"));
    };
    let zero = Value::try_from(&**arg).is_ok_and(|v| is_go_zero(&v));
    Ok(CowVal::owned(if zero {
        CelOptional::none()
    } else {
        CelOptional::of(arg.clone_as_boxed())
    }))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn escape_key<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let Some(key) = args.first().and_then(|a| a.downcast_ref::<CelString>()) else {
        return Err(ExecutionError::function_error("escapeKey", "expects (string)"));
    };
    Ok(CowVal::owned(CelString::from(
        crate::source::escape_segment(key.inner()).into_owned(),
    )))
}
