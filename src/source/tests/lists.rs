use serde_json::json;

use super::{is_list_kind, list_items};
use crate::source::test_support::{one, pos};

#[test]
fn list_kinds() {
    assert!(is_list_kind("List"));
    assert!(is_list_kind("ValidatingAdmissionPolicyList"));
    assert!(!is_list_kind("Pod"));
    assert!(!is_list_kind("Lis"));
    assert!(list_items(&json!({"kind": "List", "items": []})).is_some());
    // A list kind without an `items` array, or items without a list kind, is one document.
    assert!(list_items(&json!({"kind": "List"})).is_none());
    assert!(list_items(&json!({"kind": "ConfigMap", "items": [{}]})).is_none());
}

#[test]
fn items_become_documents_with_their_own_positions() {
    let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: a}
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: b
";
    let items = one(text).split_list();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].value["kind"], "Deployment");
    assert_eq!((items[1].index, items[1].item, items[1].line), (0, Some(1), 7));
    assert_eq!(items[1].locator(), "0/items/1");
    // Pointers are relative to the item; positions are lines of the whole text.
    assert_eq!(items[1].positions.get("/metadata/name"), Some(pos(10, 5)));
    assert_eq!(items[0].positions.get("/metadata/name"), Some(pos(6, 14)));
    assert_eq!(items[0].positions.get("/items"), None);
}

#[test]
fn other_documents_are_kept_whole() {
    let docs = one("kind: Pod\nmetadata: {name: a}\n").split_list();
    assert_eq!(docs.len(), 1);
    assert_eq!((docs[0].item, docs[0].locator()), (None, "0".to_owned()));
    assert_eq!(docs[0].positions.get("/metadata/name"), Some(pos(2, 12)));
}
