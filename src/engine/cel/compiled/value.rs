//! The values the compiled evaluator computes with.
//!
//! A [`Value`] reads the parsed document in place: strings, lists and maps of the JSON are
//! borrowed (`'v` is the document's lifetime), so selecting `object.spec.containers` copies
//! nothing; only what an expression computes (a concatenated string, a `map()` result) is
//! allocated, behind an `Arc` so that copies of a value are cheap. JSON integers are CEL `int`
//! (as [`crate::engine::cel::json_val`] binds them), integers beyond `i64` are `uint`, the rest
//! `double`. Values of kinds the evaluator does not compute with itself (timestamps, durations,
//! bytes, IPs, quantities ...) are kept as the `cel` crate's own values ([`Value::Foreign`]) and
//! handed to the interpreter's functions ([`super::bridge`]).

use std::sync::Arc;

use cel::common::value::Val;
use serde_json::Value as Json;

/// A CEL value, borrowing what it can from the document.
#[derive(Debug, Clone)]
pub enum Value<'v> {
    /// `null`.
    Null,
    /// A `bool`.
    Bool(bool),
    /// An `int`.
    Int(i64),
    /// A `uint`.
    UInt(u64),
    /// A `double`.
    Double(f64),
    /// A `string`.
    Str(Str<'v>),
    /// A `list`.
    List(List<'v>),
    /// A `map`.
    Map(Map<'v>),
    /// A type value (`type(x)`, `string`), by its runtime name.
    Type(Arc<str>),
    /// An `optional`: `None` is `optional.none()`.
    Optional(Option<Arc<Value<'v>>>),
    /// Any other value, as the `cel` crate represents it.
    Foreign(Arc<dyn Val + 'v>),
}

/// A string: a slice of the document, or computed.
#[derive(Debug, Clone)]
pub enum Str<'v> {
    /// Borrowed from the document (or the expression).
    Json(&'v str),
    /// Computed.
    Owned(Arc<str>),
}

impl Str<'_> {
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            Str::Json(s) => s,
            Str::Owned(s) => s,
        }
    }
}

/// A list: an array of the document, or computed.
#[derive(Debug, Clone)]
pub enum List<'v> {
    /// Borrowed from the document (an array node).
    Json(&'v Json),
    /// Computed.
    Owned(Arc<Vec<Value<'v>>>),
}

/// The elements of an array node (none for any other node).
pub(crate) fn json_items(json: &Json) -> &[Json] {
    match json {
        Json::Array(items) => items,
        _ => &[],
    }
}

/// The member `key` of an object. Objects of a few members (most of a Kubernetes document's)
/// are scanned for an equal key: string equality compares lengths first, so most keys cost no
/// byte comparison, where the map's ordered search compares bytes at every key it passes.
pub(crate) fn json_member<'j>(members: &'j serde_json::Map<String, Json>, key: &str) -> Option<&'j Json> {
    if members.len() > SCANNED_OBJECT_MEMBERS {
        return members.get(key);
    }
    members.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Objects of at most this many members are scanned rather than searched.
const SCANNED_OBJECT_MEMBERS: usize = 16;

/// The members of an object node (`None` for any other node).
pub(crate) fn json_members(json: &Json) -> Option<&serde_json::Map<String, Json>> {
    match json {
        Json::Object(map) => Some(map),
        _ => None,
    }
}

impl<'v> List<'v> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            List::Json(items) => json_items(items).len(),
            List::Owned(items) => items.len(),
        }
    }

    /// True when it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element at `index`, if any.
    pub fn get(&self, index: usize) -> Option<Value<'v>> {
        match self {
            List::Json(items) => json_items(items).get(index).map(Value::from_json),
            List::Owned(items) => items.get(index).cloned(),
        }
    }

    /// Calls `f` on each element in order until it returns `Err` or `Ok(false)`.
    pub fn try_each<E>(&self, mut f: impl FnMut(Value<'v>) -> Result<bool, E>) -> Result<(), E> {
        match self {
            List::Json(items) => {
                for item in json_items(items) {
                    if !f(Value::from_json(item))? {
                        break;
                    }
                }
            }
            List::Owned(items) => {
                for item in items.iter() {
                    if !f(item.clone())? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A map key: CEL allows `int`, `uint`, `bool` and `string` keys.
#[derive(Debug, Clone)]
pub enum Key<'v> {
    /// An `int` key.
    Int(i64),
    /// A `uint` key.
    UInt(u64),
    /// A `bool` key.
    Bool(bool),
    /// A `string` key.
    Str(Str<'v>),
}

impl<'v> Key<'v> {
    /// The key a value makes, or `None` for a value that cannot be a key.
    pub fn of(value: &Value<'v>) -> Option<Key<'v>> {
        match value {
            Value::Int(i) => Some(Key::Int(*i)),
            Value::UInt(u) => Some(Key::UInt(*u)),
            Value::Bool(b) => Some(Key::Bool(*b)),
            Value::Str(s) => Some(Key::Str(s.clone())),
            _ => None,
        }
    }

    /// The key as a value.
    pub fn to_value(&self) -> Value<'v> {
        match self {
            Key::Int(i) => Value::Int(*i),
            Key::UInt(u) => Value::UInt(*u),
            Key::Bool(b) => Value::Bool(*b),
            Key::Str(s) => Value::Str(s.clone()),
        }
    }

    /// Same key: same kind and value, numbers compared by value across `int` and `uint`.
    pub fn same(&self, other: &Key<'_>) -> bool {
        match (self, other) {
            (Key::Int(a), Key::Int(b)) => a == b,
            (Key::UInt(a), Key::UInt(b)) => a == b,
            (Key::Int(a), Key::UInt(b)) | (Key::UInt(b), Key::Int(a)) => u64::try_from(*a).is_ok_and(|a| a == *b),
            (Key::Bool(a), Key::Bool(b)) => a == b,
            (Key::Str(a), Key::Str(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// A map: an object of the document, or computed (entries in insertion order).
#[derive(Debug, Clone)]
pub enum Map<'v> {
    /// Borrowed from the document (an object node).
    Json(&'v Json),
    /// Computed.
    Owned(Arc<Vec<(Key<'v>, Value<'v>)>>),
}

impl<'v> Map<'v> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            Map::Json(m) => json_members(m).map_or(0, serde_json::Map::len),
            Map::Owned(m) => m.len(),
        }
    }

    /// True when it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value under a string key.
    pub fn get_str(&self, key: &str) -> Option<Value<'v>> {
        match self {
            Map::Json(m) => json_member(json_members(m)?, key).map(Value::from_json),
            Map::Owned(m) => m
                .iter()
                .find(|(k, _)| matches!(k, Key::Str(s) if s.as_str() == key))
                .map(|(_, v)| v.clone()),
        }
    }

    /// The value under `key`.
    pub fn get(&self, key: &Key<'_>) -> Option<Value<'v>> {
        match (self, key) {
            (_, Key::Str(s)) => self.get_str(s.as_str()),
            (Map::Json(_), _) => None,
            (Map::Owned(m), _) => m.iter().find(|(k, _)| k.same(key)).map(|(_, v)| v.clone()),
        }
    }

    /// Calls `f` on each key in order until it returns `Err` or `Ok(false)`.
    pub fn try_each_key<E>(&self, mut f: impl FnMut(Value<'v>) -> Result<bool, E>) -> Result<(), E> {
        match self {
            Map::Json(m) => {
                for key in json_members(m).into_iter().flat_map(serde_json::Map::keys) {
                    if !f(Value::Str(Str::Json(key)))? {
                        break;
                    }
                }
            }
            Map::Owned(m) => {
                for (key, _) in m.iter() {
                    if !f(key.to_value())? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The entries, copied out (keys as values).
    pub fn entries(&self) -> Vec<(Value<'v>, Value<'v>)> {
        match self {
            Map::Json(m) => json_members(m)
                .into_iter()
                .flatten()
                .map(|(k, v)| (Value::Str(Str::Json(k)), Value::from_json(v)))
                .collect(),
            Map::Owned(m) => m.iter().map(|(k, v)| (k.to_value(), v.clone())).collect(),
        }
    }
}

impl<'v> Value<'v> {
    /// The value that stands for a JSON node, borrowing it.
    pub fn from_json(json: &'v Json) -> Value<'v> {
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::UInt(u)
                } else {
                    Value::Double(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Json::String(s) => Value::Str(Str::Json(s)),
            Json::Array(_) => Value::List(List::Json(json)),
            Json::Object(_) => Value::Map(Map::Json(json)),
        }
    }

    /// A computed string.
    pub fn string(text: impl Into<Arc<str>>) -> Value<'v> {
        Value::Str(Str::Owned(text.into()))
    }

    /// A computed list (the empty one allocates nothing: see [`Value::empty_list`]).
    pub fn list(items: Vec<Value<'v>>) -> Value<'v> {
        if items.is_empty() {
            return Value::empty_list();
        }
        Value::List(List::Owned(Arc::new(items)))
    }

    /// `[]`, shared: most `filter`s and `map`s over a document find nothing, and each would
    /// otherwise allocate its own empty list.
    pub fn empty_list() -> Value<'v> {
        thread_local! {
            static EMPTY: Arc<Vec<Value<'static>>> = Arc::new(Vec::new());
        }
        Value::List(List::Owned(EMPTY.with(Arc::clone)))
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The runtime type name, as the `cel` crate's `type()` gives it (`None` for a foreign value,
    /// whose type the crate knows).
    pub fn type_name(&self) -> Option<&'static str> {
        Some(match self {
            Value::Null => "null_type",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::UInt(_) => "uint",
            Value::Double(_) => "double",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Type(_) => "type",
            Value::Optional(_) => "optional_type",
            Value::Foreign(_) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::json_member;

    /// Small objects are scanned, large ones searched: both find every member (including keys
    /// of the same length) and nothing else.
    #[test]
    fn json_member_finds_each_member_of_small_and_large_objects() {
        for size in [0, 1, 5, 16, 17, 40] {
            let object: serde_json::Map<String, serde_json::Value> = (0..size)
                .map(|i| (format!("k{i:02}"), serde_json::Value::from(i)))
                .collect();
            for i in 0..size {
                assert_eq!(
                    json_member(&object, &format!("k{i:02}")),
                    Some(&serde_json::Value::from(i))
                );
            }
            for missing in ["", "k", "k99", "k000", "K01"] {
                assert_eq!(json_member(&object, missing), None, "{missing} in {size} members");
            }
        }
    }
}
