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
/// the way the interpreter's are rendered. Scalars, strings and computed lists and maps are
/// converted directly; anything else (a document's node, a type, an optional, a foreign value)
/// goes through the `cel` crate's value, which gives the same result for those kinds too.
pub fn to_cel_value(value: &Value<'_>) -> Result<cel::Value, ExecutionError> {
    Ok(match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Int(i) => cel::Value::Int(*i),
        Value::UInt(u) => cel::Value::UInt(*u),
        Value::Double(d) => cel::Value::Float(*d),
        Value::Str(s) => cel::Value::String(Arc::new(s.as_str().to_owned())),
        Value::List(List::Owned(items)) => {
            cel::Value::List(Arc::new(items.iter().map(to_cel_value).collect::<Result<_, _>>()?))
        }
        Value::Map(Map::Owned(entries)) => {
            let map = entries
                .iter()
                .map(|(k, v)| Ok((cel_key(k), to_cel_value(v)?)))
                .collect::<Result<HashMap<_, _>, ExecutionError>>()?;
            cel::Value::Map(cel::objects::Map { map: Arc::new(map) })
        }
        other => crate::engine::cel::json_val::to_value(&*to_val(other))?,
    })
}

/// The `cel::Value` key of a computed map's key.
fn cel_key(key: &Key<'_>) -> cel::objects::Key {
    match key {
        Key::Int(i) => cel::objects::Key::Int(*i),
        Key::UInt(u) => cel::objects::Key::Uint(*u),
        Key::Bool(b) => cel::objects::Key::Bool(*b),
        Key::Str(s) => cel::objects::Key::String(Arc::new(s.as_str().to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`to_cel_value`] gave before it converted the common kinds itself.
    fn through_cel_val(value: &Value<'_>) -> cel::Value {
        crate::engine::cel::json_val::to_value(&*to_val(value)).expect("convertible")
    }

    #[test]
    fn the_direct_conversion_gives_what_the_cel_crates_values_give() {
        let doc = serde_json::json!({"a": [1, -2, 3.5, "x", null, true, {"b": [u64::MAX]}], "c": {}});
        let list_node = &doc["a"];
        let owned_map = Value::Map(Map::Owned(Arc::new(vec![
            (Key::Str(Str::Owned(Arc::from("k"))), Value::Int(1)),
            (
                Key::Str(Str::Json("j")),
                Value::list(vec![Value::Null, Value::Double(-0.5)]),
            ),
            (Key::Int(-4), Value::UInt(9)),
            (Key::UInt(5), Value::Bool(false)),
            (Key::Bool(true), Value::Map(Map::Json(&doc))),
        ])));
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Int(i64::MIN),
            Value::UInt(u64::MAX),
            Value::Double(f64::NAN),
            Value::Double(2.0),
            Value::Str(Str::Json("borrowed")),
            Value::string("owned é"),
            Value::List(List::Json(list_node)),
            Value::Map(Map::Json(&doc)),
            Value::list(Vec::new()),
            Value::list(vec![
                Value::Int(1),
                Value::string("a"),
                Value::list(vec![Value::Bool(true)]),
            ]),
            Value::list(vec![Value::Type(Arc::from("int")), Value::Map(Map::Json(&doc["c"]))]),
            owned_map,
        ];
        for value in &values {
            let direct = to_cel_value(value).expect("convertible");
            let before = through_cel_val(value);
            if matches!(value, Value::Double(d) if d.is_nan()) {
                // NaN is not equal to itself: compare its rendering instead.
                assert_eq!(format!("{direct:?}"), format!("{before:?}"));
            } else {
                assert_eq!(direct, before, "{value:?}");
            }
        }
    }
}
