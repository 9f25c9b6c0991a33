//! Crossing between [`Value`] and the `cel` crate's values: for the functions the interpreter
//! runs ([`super::bridge`]), for folding constants, and for callers that want a `cel::Value`.

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelOptional, CelString, CelType, CelUInt, Kind,
};
use cel::common::value::{CowVal, Val};
use cel::ExecutionError;

use super::value::{Key, List, Map, Str, Value};
use crate::engine::cel::json_val::json_view;

/// The `cel` crate's value for `value` (documents stay borrowed, as zero-copy views).
pub fn to_val<'v>(value: &Value<'v>) -> Box<dyn Val + 'v> {
    match value {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Int(i) => Box::new(CelInt::from(*i)),
        Value::UInt(u) => Box::new(CelUInt::from(*u)),
        Value::Double(d) => Box::new(CelDouble::from(*d)),
        Value::Str(Str::Json(s)) => Box::new(CelString::from(*s)),
        Value::Str(Str::Owned(s)) => Box::new(CelString::from(s.to_string())),
        Value::List(List::Json(json)) | Value::Map(Map::Json(json)) => json_view(json),
        Value::List(List::Owned(items)) => {
            let list: Vec<Box<dyn Val + 'v>> = items.iter().map(to_val).collect();
            Box::new(CelList::from(list))
        }
        Value::Map(Map::Owned(entries)) => {
            let entries: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> =
                entries.iter().map(|(k, v)| (map_key(k), to_val(v))).collect();
            Box::new(CelMap::from(entries))
        }
        Value::Type(name) => Box::new(CelType::new(name.to_string())),
        Value::Optional(None) => Box::new(CelOptional::none()),
        Value::Optional(Some(v)) => Box::new(CelOptional::of(to_val(v))),
        Value::Foreign(v) => v.clone_as_boxed(),
    }
}

fn map_key<'v>(key: &Key<'v>) -> CelMapKey<'v> {
    match key {
        Key::Int(i) => CelMapKey::from(*i),
        Key::UInt(u) => CelMapKey::from(*u),
        Key::Bool(b) => CelMapKey::from(*b),
        Key::Str(Str::Json(s)) => CelMapKey::from(*s),
        Key::Str(Str::Owned(s)) => CelMapKey::from(s.to_string()),
    }
}

/// The [`Value`] for one of the `cel` crate's values; lists and maps are copied (their elements
/// converted), kinds the evaluator does not compute with stay foreign.
pub fn from_val<'v>(val: &(dyn Val + 'v)) -> Result<Value<'v>, ExecutionError> {
    if let Some(b) = val.downcast_ref::<CelBool>() {
        return Ok(Value::Bool(*b.inner()));
    }
    if let Some(i) = val.downcast_ref::<CelInt>() {
        return Ok(Value::Int(*i.inner()));
    }
    if let Some(u) = val.downcast_ref::<CelUInt>() {
        return Ok(Value::UInt(*u.inner()));
    }
    if let Some(d) = val.downcast_ref::<CelDouble>() {
        return Ok(Value::Double(*d.inner()));
    }
    if let Some(s) = val.downcast_ref::<CelString>() {
        return Ok(Value::string(s.inner()));
    }
    if val.downcast_ref::<CelNull>().is_some() {
        return Ok(Value::Null);
    }
    if let Some(t) = val.downcast_ref::<CelType>() {
        return Ok(Value::Type(Arc::from(t.name())));
    }
    if let Some(o) = val.downcast_ref::<CelOptional>() {
        return Ok(Value::Optional(match o.option() {
            None => None,
            Some(inner) => Some(Arc::new(from_val(inner)?)),
        }));
    }
    match val.get_type().kind() {
        Kind::List => {
            let mut items = val.as_iterable().map(|i| i.iter());
            let mut out = Vec::new();
            if let Some(items) = items.as_mut() {
                while let Some(item) = items.next() {
                    out.push(from_val(item)?);
                }
            }
            Ok(Value::list(out))
        }
        Kind::Map => {
            let (Some(keys), Some(indexer)) = (val.as_iterable(), val.as_indexer()) else {
                return Ok(Value::Foreign(Arc::from(val.clone_as_boxed())));
            };
            let mut keys = keys.iter();
            let mut out = Vec::new();
            while let Some(key) = keys.next() {
                let value = from_val(&*indexer.get(key)?)?;
                let key = from_val(key)?;
                let Some(key) = Key::of(&key) else {
                    return Err(ExecutionError::function_error("map", "unsupported key kind"));
                };
                out.push((key, value));
            }
            Ok(Value::Map(Map::Owned(Arc::new(out))))
        }
        _ => Ok(Value::Foreign(Arc::from(val.clone_as_boxed()))),
    }
}

/// [`from_val`] of a function's result.
pub fn from_cow<'v>(val: &CowVal<'_, 'v>) -> Result<Value<'v>, ExecutionError> {
    from_val(val.as_ref())
}

/// The `cel::Value` of a result (lists and maps deep-copied), for callers that render results
/// the way the interpreter's are rendered.
pub fn to_cel_value(value: &Value<'_>) -> Result<cel::Value, ExecutionError> {
    crate::engine::cel::json_val::to_value(&*to_val(value))
}
