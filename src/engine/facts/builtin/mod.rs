//! Built-in Kubernetes kinds: their compact schema ([`schema`]) and the normalisation of a
//! document of such a kind into what the API server sends a webhook ([`normalize`]). Every door
//! gets it through the engine ([`normalized_input`], called by `Engine::evaluate_with_cost`), so
//! `celgate check`, `/v1/check` and `/validate` judge the same document. Kinds the schema does not
//! know (custom resources) are left as they are: their packs decide what a `null` means.

pub mod normal_form;
pub mod normalize;
pub mod schema;

use super::input::Input;
pub use schema::{Field, FieldType, Schema, Struct};

/// `input` with its `object` and `oldObject` normalised as the API server would send them, or
/// `None` when they are already (or are not of a built-in kind).
pub fn normalized_input(input: &Input) -> Option<Input> {
    let schema = Schema::builtin().ok()?;
    let ty = schema.kind(input.api_version(), input.kind())?;
    let object_normal = normal_form::is_normal_struct(schema, ty, &input.object);
    let old_normal = input
        .old_object
        .as_ref()
        .is_none_or(|old| normal_form::is_normal_struct(schema, ty, old));
    if object_normal && old_normal {
        return None;
    }
    let mut normalized = input.clone();
    normalize::normalize_struct(schema, ty, &mut normalized.object);
    if let Some(old) = &mut normalized.old_object {
        normalize::normalize_struct(schema, ty, old);
    }
    Some(normalized)
}

/// Normalises `document` in place if its `apiVersion` and `kind` name a built-in kind; returns
/// whether it changed.
pub fn normalize_document(document: &mut serde_json::Value) -> bool {
    let Ok(schema) = Schema::builtin() else {
        return false;
    };
    let api_version = document.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
    let kind = document.get("kind").and_then(|v| v.as_str()).unwrap_or("");
    let Some(ty) = schema.kind(api_version, kind) else {
        return false;
    };
    normalize::normalize_struct(schema, ty, document)
}

#[cfg(test)]
mod tests;
