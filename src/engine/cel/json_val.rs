//! A lazy, zero-copy view of a JSON document as a CEL value ([`json_view`]).
//!
//! Scalars become the `cel` crate's own types (JSON integers stay CEL `int`, as in
//! [`super::value::json_to_val`]; strings borrow their bytes); objects and arrays become a
//! [`JsonMap`] or a [`JsonList`], which hold a reference to the JSON. A member or an element is a
//! new view of the child (one small box), and cloning a view copies the reference, so neither
//! binding a document nor iterating over it in `all`/`exists`/`map`/`filter` copies it.
//!
//! They behave like the eager conversion, except where the `cel` crate recognises its own
//! containers by downcasting, which a borrowing foreign type cannot take part in:
//! * a map or list *literal on the left* of `==` (or holding the needle of `in`) never equals a
//!   view: `{'a': 1} == object.m`, `[1] == object.l`, `object.m in [{'a': 1}]` are `false`,
//!   while `object.m == {'a': 1}` is right;
//! * `cel::Value::try_from` refuses a view (or a built-in list or map holding one): convert
//!   results with [`to_value`].

use std::fmt;
use std::sync::{Arc, OnceLock};

use cel::common::traits::{self, Adder, Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMapKey, CelNull, CelOptional, CelString, CelUInt, Kind, Type, LIST_TYPE,
    MAP_TYPE,
};
use cel::common::value::{CowVal, Val};
use cel::objects::{Key, OptionalValue};
use cel::{ExecutionError, Value};
use serde_json::{Map, Value as Json};

use super::value::ValueStats;

/// Views `json` as a CEL value borrowing from it; nothing below the top is converted.
pub fn json_view<'v>(json: &'v Json) -> Box<dyn Val + 'v> {
    Node::of(json).into_boxed()
}

/// The size facts of `json` that [`super::value::json_to_val`] records, without converting it.
pub fn json_stats(json: &Json) -> ValueStats {
    fn walk(json: &Json, stats: &mut ValueStats) {
        stats.nodes += 1;
        match json {
            Json::Array(items) => {
                stats.max_collection = stats.max_collection.max(items.len());
                for item in items {
                    walk(item, stats);
                }
            }
            Json::Object(map) => {
                stats.max_collection = stats.max_collection.max(map.len());
                for (key, value) in map {
                    stats.max_string = stats.max_string.max(key.len());
                    stats.max_key = stats.max_key.max(key.len());
                    walk(value, stats);
                }
            }
            Json::String(s) => stats.max_string = stats.max_string.max(s.len()),
            _ => {}
        }
    }
    let mut stats = ValueStats::default();
    walk(json, &mut stats);
    stats
}

/// Converts any CEL value to a [`Value`], views (and built-in containers holding views)
/// included, which `Value::try_from` refuses: lists and maps are walked through their
/// `Iterable` and `Indexer`, optionals through their content, everything else is left to
/// `Value::try_from`.
pub fn to_value(val: &dyn Val) -> Result<Value, ExecutionError> {
    match val.get_type().kind() {
        Kind::List => {
            let mut items = iterable(val)?.iter();
            let mut out = Vec::new();
            while let Some(item) = items.next() {
                out.push(to_value(item)?);
            }
            Ok(Value::List(Arc::new(out)))
        }
        Kind::Map => {
            let indexer = val.as_indexer().ok_or_else(|| no_value_repr(val))?;
            let mut keys = iterable(val)?.iter();
            let mut out = std::collections::HashMap::new();
            while let Some(key) = keys.next() {
                let value = to_value(&*indexer.get(key)?)?;
                out.insert(Key::from(CelMapKey::try_from(CowVal::Borrowed(key))?), value);
            }
            Ok(Value::Map(cel::objects::Map { map: Arc::new(out) }))
        }
        Kind::Opaque => match val.downcast_ref::<CelOptional>() {
            Some(opt) => Ok(Value::Opaque(Arc::new(match opt.option() {
                None => OptionalValue::none(),
                Some(inner) => OptionalValue::of(to_value(inner)?),
            }))),
            None => match super::k8s::display(val) {
                Some(text) => Ok(Value::String(Arc::new(text))),
                None => Value::try_from(val),
            },
        },
        _ => Value::try_from(val),
    }
}

fn iterable<'b, 'v>(val: &'b (dyn Val + 'v)) -> Result<&'b (dyn Iterable + 'v), ExecutionError> {
    val.as_iterable().ok_or_else(|| no_value_repr(val))
}

fn no_value_repr(val: &dyn Val) -> ExecutionError {
    ExecutionError::UnexpectedType {
        got: val.get_type().name().to_owned(),
        want: "a type representable as `Value`".to_owned(),
    }
}

/// `$e` with `$v` bound to the value inside the node `$node`, whatever its variant.
macro_rules! on_node {
    ($node:expr, $v:ident => $e:expr) => {
        match $node {
            Node::Null($v) => $e,
            Node::Bool($v) => $e,
            Node::Int($v) => $e,
            Node::UInt($v) => $e,
            Node::Double($v) => $e,
            Node::String($v) => $e,
            Node::Map($v) => $e,
            Node::List($v) => $e,
        }
    };
}

/// One JSON value as the CEL value that stands for it, unboxed.
enum Node<'v> {
    Null(CelNull),
    Bool(CelBool),
    Int(CelInt),
    UInt(CelUInt),
    Double(CelDouble),
    String(CelString<'v>),
    Map(JsonMap<'v>),
    List(JsonList<'v>),
}

impl<'v> Node<'v> {
    fn of(json: &'v Json) -> Self {
        match json {
            Json::Null => Node::Null(CelNull),
            Json::Bool(b) => Node::Bool(CelBool::from(*b)),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Node::Int(CelInt::from(i))
                } else if let Some(u) = n.as_u64() {
                    Node::UInt(CelUInt::from(u))
                } else {
                    Node::Double(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
                }
            }
            Json::String(s) => Node::String(CelString::from(s.as_str())),
            Json::Object(map) => Node::Map(JsonMap::new(map)),
            Json::Array(items) => Node::List(JsonList::new(items)),
        }
    }

    fn as_val(&self) -> &(dyn Val + 'v) {
        on_node!(self, v => v)
    }

    fn into_boxed(self) -> Box<dyn Val + 'v> {
        on_node!(self, v => Box::new(v) as Box<dyn Val + 'v>)
    }
}

/// Whether `json` equals `other` by CEL equality, `json` being the left operand.
fn json_equals(json: &Json, other: &dyn Val) -> bool {
    Node::of(json).as_val().equals(other)
}

/// The `Val` plumbing the two views share: their CEL type, their capabilities, O(1) clones,
/// `size()`, emptiness, and iteration over what their cache holds (keys, or elements).
macro_rules! json_container {
    ($view:ident, $cel_type:path, { $($more:tt)* }) => {
        impl<'v> Val for $view<'v> {
            $($more)*

            fn get_type(&self) -> &Type {
                &$cel_type
            }

            fn cel_type() -> &'static Type {
                &$cel_type
            }

            fn as_container(&self) -> Option<&dyn Container> {
                Some(self)
            }

            fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
            where
                Self: 'w,
            {
                Some(self)
            }

            fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
            where
                Self: 'w,
            {
                Some(self)
            }

            fn as_sizer(&self) -> Option<&dyn Sizer> {
                Some(self)
            }

            fn as_zeroer(&self) -> Option<&dyn Zeroer> {
                Some(self)
            }

            fn equals(&self, other: &dyn Val) -> bool {
                other.get_type().kind() == $cel_type.kind() && self.equals_same_kind(other)
            }

            fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
            where
                Self: 'w,
            {
                Box::new($view::new(self.json))
            }
        }

        impl<'v> Indexer for $view<'v> {
            fn get<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
            where
                Self: 'w,
            {
                self.lookup(idx)
            }

            fn steal<'w>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'w>, ExecutionError>
            where
                Self: 'w,
            {
                self.lookup(idx).map(CowVal::into_owned)
            }
        }

        impl<'v> Iterable for $view<'v> {
            fn iter<'b, 'w>(&'b self) -> Box<dyn traits::Iterator<'b, 'w> + 'b>
            where
                Self: 'w,
            {
                Box::new(CacheIter(self.cached().iter()))
            }
        }

        impl Sizer for $view<'_> {
            fn size(&self) -> CelInt {
                CelInt::from(i64::try_from(self.json.len()).unwrap_or(i64::MAX))
            }
        }

        impl Zeroer for $view<'_> {
            fn is_zero_value(&self) -> bool {
                self.json.is_empty()
            }
        }

        impl fmt::Debug for $view<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($view)).field(&self.json).finish()
            }
        }
    };
}

struct CacheIter<'b, 'v>(std::slice::Iter<'b, Node<'v>>);

impl<'b, 'v: 'w, 'w> traits::Iterator<'b, 'w> for CacheIter<'b, 'v> {
    fn next(&mut self) -> Option<&'b (dyn Val + 'w)> {
        self.0.next().map(|node| node.as_val() as &(dyn Val + 'w))
    }
}

/// A JSON object seen as a CEL `map` with string keys. Cloning it copies the reference; a
/// member is a new view of the child.
pub struct JsonMap<'v> {
    json: &'v Map<String, Json>,
    /// The keys as CEL strings, made on the first iteration (an iterator lends out references).
    keys: OnceLock<Box<[Node<'v>]>>,
}

json_container!(JsonMap, MAP_TYPE, {});

impl<'v> JsonMap<'v> {
    /// A view of `map`.
    pub fn new(map: &'v Map<String, Json>) -> Self {
        JsonMap {
            json: map,
            keys: OnceLock::new(),
        }
    }

    fn cached(&self) -> &[Node<'v>] {
        self.keys.get_or_init(|| {
            self.json
                .keys()
                .map(|k| Node::String(CelString::from(k.as_str())))
                .collect()
        })
    }

    /// Equal to a `map` of the same size holding an equal value at each of our keys.
    fn equals_same_kind(&self, other: &dyn Val) -> bool {
        let (Some(sizer), Some(indexer)) = (other.as_sizer(), other.as_indexer()) else {
            return false;
        };
        i64::try_from(self.json.len()).is_ok_and(|len| len == *sizer.size().inner())
            && self.json.iter().all(|(k, v)| {
                indexer
                    .get(&CelString::from(k.as_str()))
                    .is_ok_and(|theirs| json_equals(v, &*theirs))
            })
    }

    /// The member `key`, with the errors of `DefaultMap` for keys that cannot be ours.
    fn lookup<'b, 'w>(&'b self, key: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        'v: 'w,
    {
        if let Some(s) = key.downcast_ref::<CelString>() {
            return match self.json.get(s.inner()) {
                Some(child) => Ok(CowVal::Owned(Node::of(child).into_boxed())),
                None => Err(ExecutionError::no_such_key(s.inner())),
            };
        }
        let name = match to_value(key) {
            Ok(Value::Int(i)) => i.to_string(),
            Ok(Value::UInt(u)) => u.to_string(),
            Ok(Value::Float(d)) => d.to_string(),
            Ok(Value::Bool(b)) => b.to_string(),
            _ => {
                let got = key.get_type().name().to_owned();
                return Err(ExecutionError::UnexpectedType {
                    got,
                    want: "map key".to_owned(),
                });
            }
        };
        Err(ExecutionError::no_such_key(&name))
    }
}

impl Container for JsonMap<'_> {
    fn contains(&self, key: &dyn Val) -> Result<bool, ExecutionError> {
        if let Some(s) = key.downcast_ref::<CelString>() {
            Ok(self.json.contains_key(s.inner()))
        } else if matches!(
            to_value(key),
            Ok(Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::Bool(_))
        ) {
            // A valid key, just never one of ours.
            Ok(false)
        } else {
            Err(ExecutionError::UnsupportedKeyType(to_value(key).unwrap_or(Value::Null)))
        }
    }
}

/// A JSON array seen as a CEL `list`. Cloning it copies the reference; an element is a new
/// view of the child.
pub struct JsonList<'v> {
    json: &'v [Json],
    /// The elements as CEL values, made on the first iteration (an iterator lends out
    /// references): scalars, or views of the child containers.
    elements: OnceLock<Box<[Node<'v>]>>,
}

json_container!(JsonList, LIST_TYPE, {
    fn as_adder<'b, 'w>(&'b self) -> Option<&'b (dyn Adder + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }
});

impl<'v> JsonList<'v> {
    /// A view of `items`.
    pub fn new(items: &'v [Json]) -> Self {
        JsonList {
            json: items,
            elements: OnceLock::new(),
        }
    }

    fn cached(&self) -> &[Node<'v>] {
        self.elements.get_or_init(|| self.json.iter().map(Node::of).collect())
    }

    /// Equal to a `list` of the same length whose elements are pairwise equal.
    fn equals_same_kind(&self, other: &dyn Val) -> bool {
        let Some(iterable) = other.as_iterable() else {
            return false;
        };
        let mut theirs = iterable.iter();
        self.json
            .iter()
            .all(|item| theirs.next().is_some_and(|t| json_equals(item, t)))
            && theirs.next().is_none()
    }

    /// The element at `idx`: an `int`, a `uint` or a whole `double`, with the errors of
    /// `DefaultList`.
    fn lookup<'b, 'w>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        'v: 'w,
    {
        let position = match to_value(idx) {
            Ok(Value::Int(i)) => usize::try_from(i).map_err(|_| ExecutionError::IndexOutOfBounds(Value::Int(i)))?,
            Ok(Value::UInt(u)) => usize::try_from(u).map_err(|_| ExecutionError::IndexOutOfBounds(Value::UInt(u)))?,
            Ok(Value::Float(d)) => {
                let list = || to_value(self).unwrap_or(Value::Null);
                let i = double_to_int_lossless(d)
                    .ok_or_else(|| ExecutionError::UnsupportedIndex(Value::Float(d), list()))?;
                usize::try_from(i).map_err(|_| ExecutionError::IndexOutOfBounds(Value::Int(i)))?
            }
            _ => {
                let got = idx.get_type().name().to_owned();
                return Err(ExecutionError::UnexpectedType {
                    got,
                    want: "int|uint|double".to_owned(),
                });
            }
        };
        let out_of_bounds = || ExecutionError::IndexOutOfBounds(to_value(idx).unwrap_or(Value::Null));
        if let Some(elements) = self.elements.get() {
            let element = elements.get(position).ok_or_else(out_of_bounds)?;
            return Ok(CowVal::Borrowed(element.as_val()));
        }
        let item = self.json.get(position).ok_or_else(out_of_bounds)?;
        Ok(CowVal::Owned(Node::of(item).into_boxed()))
    }
}

impl Adder for JsonList<'_> {
    /// Concatenation with any iterable, as `DefaultList` does.
    fn add<'b, 'w>(&'b self, rhs: &(dyn Val + 'w)) -> Result<CowVal<'b, 'w>, ExecutionError>
    where
        Self: 'w,
    {
        let Some(rhs_items) = rhs.as_iterable() else {
            return Err(ExecutionError::UnsupportedBinaryOperator(
                "add",
                to_value(self).unwrap_or(Value::Null),
                to_value(rhs).unwrap_or(Value::Null),
            ));
        };
        let mut list: Vec<Box<dyn Val + 'w>> = Vec::with_capacity(self.json.len());
        list.extend(self.json.iter().map(|i| Node::of(i).into_boxed()));
        let mut rhs_items = rhs_items.iter();
        while let Some(item) = rhs_items.next() {
            list.push(item.clone_as_boxed());
        }
        Ok(CowVal::owned(CelList::from(list)))
    }
}

impl Container for JsonList<'_> {
    fn contains(&self, value: &dyn Val) -> Result<bool, ExecutionError> {
        Ok(self.json.iter().any(|i| json_equals(i, value)))
    }
}

/// `d` as an `i64` if it converts without loss, as the `cel` crate (and cel-go) index lists.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss, clippy::float_cmp)]
fn double_to_int_lossless(d: f64) -> Option<i64> {
    // The range check comes first, as `as` saturates.
    if d > i64::MIN as f64 && d < i64::MAX as f64 {
        let i = d as i64;
        (i as f64 == d).then_some(i)
    } else {
        None
    }
}

#[cfg(test)]
#[path = "tests/json_val.rs"]
mod tests;
