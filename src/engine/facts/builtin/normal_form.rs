//! Whether a document of a built-in kind is already in the form the API server sends
//! ([`super::normalize`] would leave it as it is), read without a copy.
//!
//! Only three things make a document not normal: a `null` member of a struct, a `null` list
//! item or map value whose type has a zero value, and an empty list or map at an optional list or
//! map field. A subtree holding no `null` and no empty list or map is normal whatever its type,
//! so the walk looks nothing up in the schema until it meets a `null` or an empty collection;
//! only then are the types of that node's ancestors resolved, each once, from the nearest one
//! already known. Most documents have a handful of such nodes, so the check costs about one pass
//! over the document.

use std::cell::Cell;

use serde_json::{Map, Value};

use super::normalize::{omitted, zero_value};
use super::schema::{FieldType, Schema, Struct};

/// Whether normalising `document` as a value of the struct `ty` would leave it as it is.
pub fn is_normal_struct(schema: &Schema, ty: &Struct, document: &Value) -> bool {
    let Value::Object(members) = document else {
        return true;
    };
    let root = Node {
        parent: None,
        step: Step::Item,
        is_object: true,
        members: Cell::new(Some(Members::Struct(ty))),
    };
    object_is_normal(schema, &root, members)
}

/// How a node's members or items are typed, once known.
#[derive(Clone, Copy)]
enum Members<'s> {
    /// The fields of a struct.
    Struct(&'s Struct),
    /// Items of a list, or values of a map, of this type.
    Elements(&'s FieldType),
    /// Not typed by the schema (an unknown field, a free-form object, a value of another kind
    /// than its type): anything below is left as it is.
    Free,
}

/// How a node is reached from its parent.
#[derive(Clone, Copy)]
enum Step<'d> {
    /// As the member of this name.
    Member(&'d str),
    /// As a list item.
    Item,
}

/// An object or array being walked: its place, and how its members are typed once resolved.
struct Node<'p, 'd, 's> {
    parent: Option<&'p Node<'p, 'd, 's>>,
    step: Step<'d>,
    is_object: bool,
    members: Cell<Option<Members<'s>>>,
}

impl<'s> Node<'_, '_, 's> {
    /// How this node's members are typed, resolving its ancestors as far as needed.
    fn members(&self, schema: &'s Schema) -> Members<'s> {
        if let Some(known) = self.members.get() {
            return known;
        }
        let resolved = match self.parent {
            Some(parent) => match element_type(parent.members(schema), self.step) {
                Some(ty) => members_of(schema, ty, self.is_object),
                None => Members::Free,
            },
            None => Members::Free,
        };
        self.members.set(Some(resolved));
        resolved
    }
}

/// The type of what `step` reaches in a node whose members are typed as `members`.
fn element_type<'s>(members: Members<'s>, step: Step<'_>) -> Option<&'s FieldType> {
    match (members, step) {
        (Members::Struct(ty), Step::Member(name)) => ty.fields.get(name).map(|f| &f.ty),
        (Members::Elements(ty), _) => Some(ty),
        _ => None,
    }
}

/// How the members of an object (or the items of an array) of type `ty` are typed.
fn members_of<'s>(schema: &'s Schema, ty: &'s FieldType, is_object: bool) -> Members<'s> {
    match (ty, is_object) {
        (FieldType::Struct(i), true) => Members::Struct(schema.get(*i)),
        (FieldType::Map(inner), true) | (FieldType::List(inner), false) => Members::Elements(inner),
        _ => Members::Free,
    }
}

fn object_is_normal<'d, 's>(schema: &'s Schema, node: &Node<'_, 'd, 's>, members: &'d Map<String, Value>) -> bool {
    members
        .iter()
        .all(|(name, value)| child_is_normal(schema, node, Step::Member(name), value))
}

fn child_is_normal<'d, 's>(schema: &'s Schema, parent: &Node<'_, 'd, 's>, step: Step<'d>, value: &'d Value) -> bool {
    if let Some(Members::Free) = parent.members.get() {
        return true; // nothing below a node the schema does not type is looked at
    }
    match value {
        Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
        Value::Null => null_is_normal(parent.members(schema)),
        Value::Array(items) if items.is_empty() => empty_is_normal(parent.members(schema), step, value),
        Value::Object(members) if members.is_empty() => empty_is_normal(parent.members(schema), step, value),
        Value::Array(items) => {
            let node = child(parent, step, false);
            items
                .iter()
                .all(|item| child_is_normal(schema, &node, Step::Item, item))
        }
        Value::Object(members) => object_is_normal(schema, &child(parent, step, true), members),
    }
}

fn child<'p, 'd, 's>(parent: &'p Node<'p, 'd, 's>, step: Step<'d>, is_object: bool) -> Node<'p, 'd, 's> {
    Node {
        parent: Some(parent),
        step,
        is_object,
        members: Cell::new(None),
    }
}

/// A `null` member of a struct is absent once normalised; a `null` list item or map value
/// becomes the zero value of its type, if that is not `null`.
fn null_is_normal(parent: Members<'_>) -> bool {
    match parent {
        Members::Struct(_) => false,
        Members::Elements(ty) => zero_value(ty).is_none(),
        Members::Free => true,
    }
}

/// An empty list or map is omitted at an optional list or map field of a struct.
fn empty_is_normal(parent: Members<'_>, step: Step<'_>, value: &Value) -> bool {
    match (parent, step) {
        (Members::Struct(ty), Step::Member(name)) => ty.fields.get(name).is_none_or(|field| !omitted(field, value)),
        _ => true,
    }
}
