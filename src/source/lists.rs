//! Lists: a `kind: List` document, or a typed list such as `DeploymentList`, holds several
//! objects in `items`. Kubernetes tools write them (`kubectl get -o yaml`, manifests in the
//! documentation), and each item is read as a document of its own wherever lists are accepted
//! (`celgate check` inputs, packs, param files).

use serde_json::Value;

use super::SourceDoc;

impl SourceDoc {
    /// The items of this document, each as a document of its own, when it is a list (see
    /// [`list_items`]); otherwise the document itself. An item keeps the document's `index`,
    /// has its own `line` and positions (still lines of the whole text), and `item` set.
    #[must_use]
    pub fn split_list(self) -> Vec<SourceDoc> {
        let Some(items) = list_items(&self.value).map(<[Value]>::to_vec) else {
            return vec![self];
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                let positions = self.positions.subtree(&format!("/items/{i}"));
                let line = positions.get("").map_or(self.line, |p| p.line);
                SourceDoc {
                    index: self.index,
                    value,
                    positions,
                    line,
                    item: Some(i),
                }
            })
            .collect()
    }

    /// Where the document is in its text, for origins and messages: its index (`2`), or for an
    /// item of a list, the index and the item's pointer (`2/items/0`).
    #[must_use]
    pub fn locator(&self) -> String {
        match self.item {
            Some(i) => format!("{}/items/{i}", self.index),
            None => self.index.to_string(),
        }
    }
}

/// True for the kinds whose documents are lists of objects: `List`, and the typed lists
/// (`DeploymentList`, `ValidatingAdmissionPolicyList`).
#[must_use]
pub fn is_list_kind(kind: &str) -> bool {
    kind == "List" || (kind.ends_with("List") && kind.len() > 4)
}

/// The `items` of `value` when it is a list: its `kind` is a list kind ([`is_list_kind`]) and
/// `items` is an array.
#[must_use]
pub fn list_items(value: &Value) -> Option<&[Value]> {
    let kind = value.get("kind").and_then(Value::as_str)?;
    if !is_list_kind(kind) {
        return None;
    }
    value.get("items").and_then(Value::as_array).map(Vec::as_slice)
}

#[cfg(test)]
#[path = "tests/lists.rs"]
mod tests;
