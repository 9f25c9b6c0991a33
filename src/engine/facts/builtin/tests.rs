//! The normalisation of built-in kinds, on a small schema written here (every element type) and on
//! the embedded one (real kinds).

use serde_json::{json, Value};

use super::normal_form::is_normal_struct;
use super::normalize::normalize_struct;
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

/// Any JSON whose object keys are the small schema's field names (and one it does not know), with
/// `null`s and empty lists and maps anywhere: the check agrees with whether normalising changes
/// the document, and normalising makes it normal.
mod agreement {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::normalized;

    const KEYS: &[&str] = &[
        "name",
        "spec",
        "needed",
        "neededMap",
        "structs",
        "strings",
        "bytes",
        "ints",
        "numbers",
        "bools",
        "ports",
        "quantities",
        "times",
        "objects",
        "lists",
        "labels",
        "limits",
        "items",
        "item",
        "raw",
        "anything",
        "count",
        "tags",
        "sub",
        "unknown",
    ];

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            Just(Value::Array(Vec::new())),
            Just(Value::Object(serde_json::Map::new())),
            any::<bool>().prop_map(Value::Bool),
            (0i64..3).prop_map(Value::from),
            "[a-c]{0,2}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 48, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_check_agrees_with_normalising(spec in json(), name in json(), needed in json()) {
            let doc = serde_json::json!({"spec": spec, "name": name, "needed": needed});
            normalized(&doc);
        }
    }
}

/// Every manifest of the real-world fixtures, as written and with one node replaced by `null`,
/// `[]` or `{}`: the check agrees with whether normalising changes it.
#[test]
fn the_check_agrees_with_normalising_on_real_manifests() {
    let schema = Schema::builtin().expect("the embedded schema parses");
    let mut checked = 0;
    for doc in real_manifests() {
        let Some(ty) = schema.kind(
            doc["apiVersion"].as_str().unwrap_or(""),
            doc["kind"].as_str().unwrap_or(""),
        ) else {
            continue;
        };
        let mut variants = vec![doc.clone()];
        for (i, pointer) in pointers(&doc).into_iter().enumerate() {
            let mut variant = doc.clone();
            if let Some(node) = variant.pointer_mut(&pointer) {
                *node = [Value::Null, json!([]), json!({})][i % 3].clone();
            }
            variants.push(variant);
        }
        for variant in variants {
            let mut out = variant.clone();
            let changed = normalize_struct(schema, ty, &mut out);
            assert_eq!(is_normal_struct(schema, ty, &variant), !changed, "{variant}");
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} documents checked");
}

/// The documents of `tests/fixtures/real` and `tests/fixtures/manifests`.
fn real_manifests() -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let collected = crate::documents::collect(&[root.join("real"), root.join("manifests")], &mut std::io::empty());
    collected.documents.into_iter().map(|d| d.value).collect()
}

/// A JSON pointer to every node of `doc` but the root.
fn pointers(doc: &Value) -> Vec<String> {
    fn walk(value: &Value, at: &str, out: &mut Vec<String>) {
        let children: Vec<(String, &Value)> = match value {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| (k.replace('~', "~0").replace('/', "~1"), v))
                .collect(),
            Value::Array(items) => items.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
            _ => Vec::new(),
        };
        for (key, child) in children {
            let pointer = format!("{at}/{key}");
            walk(child, &pointer, out);
            out.push(pointer);
        }
    }
    let mut out = Vec::new();
    walk(doc, "", &mut out);
    out
}

/// The check walks below fields the schema does not know (where the old one stopped): at the
/// deepest nesting a document can have (128, the parsers' limit), on a small stack, it still
/// answers, for a `null` under an unknown field (normal) and under known ones (not).
#[test]
fn the_check_handles_the_deepest_documents_on_a_small_stack() {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let schema = Schema::builtin().expect("the embedded schema parses");
            let ty = schema
                .kind("apps/v1", "Deployment")
                .expect("Deployment is a built-in kind");
            let mut deep = Value::Null;
            for i in 0..120 {
                deep = if i % 2 == 0 { json!([deep]) } else { json!({"x": deep}) };
            }
            let under_unknown = json!({"kind": "Deployment", "spec": {"unknown": deep.clone()}});
            assert!(is_normal_struct(schema, ty, &under_unknown));
            let under_known = json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
                {"name": "c", "args": [null]}, {"name": "d", "unknown": deep}
            ]}}}});
            assert!(!is_normal_struct(schema, ty, &under_known));
        })
        .expect("spawn")
        .join()
        .expect("no panic or overflow");
}
