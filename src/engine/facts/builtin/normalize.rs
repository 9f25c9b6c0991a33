//! A document of a built-in kind as the API server sends it to a webhook: decoded into its typed
//! object and encoded again. Go's decoding and encoding (`omitempty`) give:
//!
//! - a struct field whose value is `null` (YAML `key:` with nothing after it) is absent;
//! - an optional list or map field that is empty (`[]`, `{}`) is absent; a struct stays, even
//!   empty (`emptyDir: {}` means something);
//! - a `null` list item or map value is the zero value of its type: `{}` for a struct, `""` for a
//!   string, `0` for a number or an int-or-string, `"0"` for a quantity, `false` for a boolean
//!   (`null` stays where Go's zero value is `null`: times, free-form objects, lists, maps).
//!
//! Fields the schema does not know are left as they are, and so is everything in a free-form
//! object. List items are never removed, so a JSON pointer into the normalised document names the
//! same node in the document as written.

use serde_json::{Map, Value};

use super::schema::{Field, FieldType, Schema, Struct};

/// Normalises `document` in place as a value of the struct `ty`; returns whether it changed.
pub fn normalize_struct(schema: &Schema, ty: &Struct, document: &mut Value) -> bool {
    match document {
        Value::Object(map) => struct_fields(schema, ty, map),
        _ => false,
    }
}

fn struct_fields(schema: &Schema, ty: &Struct, map: &mut Map<String, Value>) -> bool {
    let before = map.len();
    map.retain(|name, value| {
        if value.is_null() {
            return false;
        }
        !ty.fields
            .get(name)
            .is_some_and(|f| !f.required && is_empty_collection(&f.ty, value))
    });
    let mut changed = map.len() != before;
    for (name, value) in map.iter_mut() {
        if let Some(field) = ty.fields.get(name) {
            changed |= normalize(schema, &field.ty, value);
        }
    }
    // Emptiness is decided before the children are normalised: normalising never removes a
    // list item or a map entry, so it cannot empty a list or map that was not empty.
    changed
}

/// Whether Go's `omitempty` drops `value` at `field`: an empty list or map at an optional field.
pub(crate) fn omitted(field: &Field, value: &Value) -> bool {
    !field.required && is_empty_collection(&field.ty, value)
}

/// Normalises one value of type `ty`; returns whether it changed.
fn normalize(schema: &Schema, ty: &FieldType, value: &mut Value) -> bool {
    match (ty, value) {
        (FieldType::Struct(i), Value::Object(map)) => struct_fields(schema, schema.get(*i), map),
        (FieldType::List(inner), Value::Array(items)) => {
            let mut changed = false;
            for item in items {
                changed |= element(schema, inner, item);
            }
            changed
        }
        (FieldType::Map(inner), Value::Object(map)) => {
            let mut changed = false;
            for value in map.values_mut() {
                changed |= element(schema, inner, value);
            }
            changed
        }
        _ => false,
    }
}

/// A list item or map value: `null` becomes the zero value of its type.
fn element(schema: &Schema, ty: &FieldType, value: &mut Value) -> bool {
    if value.is_null() {
        match zero_value(ty) {
            Some(zero) => {
                *value = zero;
                true
            }
            None => false,
        }
    } else {
        normalize(schema, ty, value)
    }
}

/// The JSON Go writes for the zero value of `ty`, where that is not `null`.
pub fn zero_value(ty: &FieldType) -> Option<Value> {
    match ty {
        FieldType::Struct(_) => Some(Value::Object(Map::new())),
        FieldType::String | FieldType::Byte => Some(Value::String(String::new())),
        FieldType::Integer | FieldType::Number | FieldType::IntOrString => Some(Value::from(0)),
        FieldType::Quantity => Some(Value::String("0".to_owned())),
        FieldType::Boolean => Some(Value::Bool(false)),
        FieldType::DateTime | FieldType::Object | FieldType::Any | FieldType::List(_) | FieldType::Map(_) => None,
    }
}

/// An empty list at a list field, or an empty map at a map field (what `omitempty` drops).
fn is_empty_collection(ty: &FieldType, value: &Value) -> bool {
    match (ty, value) {
        (FieldType::List(_), Value::Array(items)) => items.is_empty(),
        (FieldType::Map(_), Value::Object(map)) => map.is_empty(),
        _ => false,
    }
}
