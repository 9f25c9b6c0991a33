//! The normalisation of built-in kinds, on a small schema written here (every element type) and on
//! the embedded one (real kinds).

use serde_json::{json, Value};

use super::normalize::{is_normal_struct, normalize_struct};
use super::{normalize_document, normalized_input, Schema};
use crate::engine::Input;

/// A schema with one kind, `test/v1` `Thing`, whose fields cover every type.
fn small_schema() -> Schema {
    let text = r#"{
      "kinds": {"test/v1/Thing": "t.Thing"},
      "definitions": {
        "t.Thing": {"properties": {
          "apiVersion": "string", "kind": "string", "name": "string",
          "spec": "t.Spec", "needed": "[]string", "neededMap": "{}string"
        }, "required": ["needed", "neededMap"]},
        "t.Spec": {"properties": {
          "structs": "[]t.Item", "strings": "[]string", "bytes": "[]byte", "ints": "[]integer",
          "numbers": "[]number", "bools": "[]boolean", "ports": "[]int-or-string",
          "quantities": "[]quantity", "times": "[]date-time", "objects": "[]object",
          "lists": "[][]string", "labels": "{}string", "limits": "{}quantity", "items": "{}t.Item",
          "item": "t.Item", "raw": "object", "anything": "any", "count": "integer"
        }},
        "t.Item": {"properties": {"name": "string", "tags": "[]string", "sub": "t.Item"}}
      }
    }"#;
    Schema::parse(text).expect("the test schema parses")
}

/// Normalises `doc` as a `Thing`; asserts the read-only check agrees with whether it changed.
fn normalized(doc: &Value) -> Value {
    let schema = small_schema();
    let ty = schema.kind("test/v1", "Thing").expect("Thing is a kind");
    let mut out = doc.clone();
    let changed = normalize_struct(&schema, ty, &mut out);
    assert_eq!(changed, &out != doc, "changed flag for {doc}");
    assert_eq!(is_normal_struct(&schema, ty, doc), !changed, "is_normal for {doc}");
    assert!(
        is_normal_struct(&schema, ty, &out),
        "normalising twice changes nothing: {out}"
    );
    out
}

#[test]
fn null_fields_are_absent_at_every_depth() {
    let doc = json!({
        "name": null, "needed": ["a"], "neededMap": {"k": "v"},
        "spec": {"count": null, "item": {"name": null, "sub": {"tags": null, "name": "x"}}}
    });
    assert_eq!(
        normalized(&doc),
        json!({"needed": ["a"], "neededMap": {"k": "v"}, "spec": {"item": {"sub": {"name": "x"}}}})
    );
    // A struct field whose value is null is absent, even a required one.
    assert_eq!(normalized(&json!({"needed": null, "spec": null})), json!({}));
}

#[test]
fn null_list_items_become_the_zero_value_of_their_type() {
    let doc = json!({"spec": {
        "structs": [null, {"name": "a"}], "strings": ["a", null], "bytes": [null], "ints": [null, 3],
        "numbers": [null], "bools": [null, true], "ports": [null, "http"], "quantities": [null],
        "times": [null], "objects": [null], "lists": [null, ["x", null]]
    }});
    assert_eq!(
        normalized(&doc),
        json!({"spec": {
            "structs": [{}, {"name": "a"}], "strings": ["a", ""], "bytes": [""], "ints": [0, 3],
            "numbers": [0], "bools": [false, true], "ports": [0, "http"], "quantities": ["0"],
            "times": [null], "objects": [null], "lists": [null, ["x", ""]]
        }})
    );
}

#[test]
fn null_map_values_become_the_zero_value_of_their_type() {
    let doc = json!({"spec": {"labels": {"a": null, "b": "x"}, "limits": {"cpu": null}, "items": {"i": null}}});
    assert_eq!(
        normalized(&doc),
        json!({"spec": {"labels": {"a": "", "b": "x"}, "limits": {"cpu": "0"}, "items": {"i": {}}}})
    );
}

#[test]
fn empty_optional_lists_and_maps_are_omitted_but_structs_and_required_ones_stay() {
    let doc = json!({
        "needed": [], "neededMap": {},
        "spec": {"strings": [], "labels": {}, "item": {}, "raw": {}, "anything": [], "structs": [{"tags": []}]}
    });
    assert_eq!(
        normalized(&doc),
        json!({"needed": [], "neededMap": {}, "spec": {"item": {}, "raw": {}, "anything": [], "structs": [{}]}})
    );
}

#[test]
fn unknown_fields_free_form_values_and_wrong_types_are_left_alone() {
    let doc = json!({
        "extra": {"x": null, "y": []},
        "spec": {"raw": {"x": null}, "anything": {"y": null}, "strings": "not a list", "item": 5}
    });
    assert_eq!(normalized(&doc), doc);
}

#[test]
fn list_indices_never_shift() {
    let doc = json!({"spec": {"structs": [null, null, {"name": "third", "tags": null}]}});
    let out = normalized(&doc);
    assert_eq!(out.pointer("/spec/structs/2/name"), Some(&json!("third")));
}

#[test]
fn real_kinds_from_the_embedded_schema() {
    let mut config_map =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": null}, "data": null});
    assert!(normalize_document(&mut config_map));
    assert_eq!(
        config_map,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    );

    let mut policy = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "spec": {"podSelector": {}, "ingress": [{"from": null, "ports": [{"port": 80}]}], "egress": [null]}});
    assert!(normalize_document(&mut policy));
    assert_eq!(
        policy["spec"],
        json!({"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}], "egress": [{}]})
    );

    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "spec": {
        "containers": [{"name": "c", "args": ["a", null], "env": [], "ports": null}],
        "volumes": [{"name": "v", "emptyDir": {}}], "nodeSelector": {}}});
    assert!(normalize_document(&mut pod));
    assert_eq!(
        pod["spec"],
        json!({"containers": [{"name": "c", "args": ["a", ""]}], "volumes": [{"name": "v", "emptyDir": {}}]})
    );
}

#[test]
fn unknown_kinds_are_untouched() {
    for doc in [
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "spec": {"groups": null}}),
        json!({"apiVersion": "v1", "kind": "NoSuchKind", "spec": null}),
        json!({"kind": "ConfigMap", "data": null}),
    ] {
        let mut copy = doc.clone();
        assert!(!normalize_document(&mut copy));
        assert_eq!(copy, doc);
        assert!(normalized_input(&Input::new(doc)).is_none());
    }
}

#[test]
fn inputs_are_copied_only_when_something_changes() {
    let clean = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}});
    assert!(normalized_input(&Input::new(clean.clone())).is_none());
    let mut update = Input::new(clean.clone());
    update.old_object = Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": null}));
    let out = normalized_input(&update).expect("oldObject is normalised");
    assert_eq!(out.object, clean);
    assert_eq!(
        out.old_object,
        Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}))
    );
    // On DELETE the kind comes from oldObject.
    let mut delete = Input::new(Value::Null);
    delete.old_object =
        Some(json!({"apiVersion": "v1", "kind": "Service", "spec": {"loadBalancerSourceRanges": null}}));
    let out = normalized_input(&delete).expect("oldObject is normalised");
    assert_eq!(out.object, Value::Null);
    assert_eq!(
        out.old_object,
        Some(json!({"apiVersion": "v1", "kind": "Service", "spec": {}}))
    );
}
