use serde_json::{json, Value};

use super::{escape_segment, unescape_segment, PositionMap};
use crate::source::test_support::{one, pos};

#[test]
fn positions_of_nested_keys_and_list_items() {
    let text = "\
apiVersion: v1
kind: Pod
spec:
  containers:
    - name: app
      image: \"nginx:1.25\"
      ports:
        - containerPort: 80
    -   name: side
  empty:
list: [a, {k: v}]
";
    let doc = one(text);
    let p = &doc.positions;
    assert_eq!(p.get(""), Some(pos(1, 1)));
    assert_eq!(p.get("/apiVersion"), Some(pos(1, 1)));
    assert_eq!(p.get("/kind"), Some(pos(2, 1)));
    assert_eq!(p.get("/spec"), Some(pos(3, 1)));
    assert_eq!(p.get("/spec/containers"), Some(pos(4, 3)));
    // A sequence item that is a block mapping is located at its first key.
    assert_eq!(p.get("/spec/containers/0"), Some(pos(5, 7)));
    assert_eq!(p.get("/spec/containers/0/name"), Some(pos(5, 7)));
    assert_eq!(p.get("/spec/containers/0/image"), Some(pos(6, 7)));
    assert_eq!(p.get("/spec/containers/0/ports"), Some(pos(7, 7)));
    assert_eq!(p.get("/spec/containers/0/ports/0"), Some(pos(8, 11)));
    assert_eq!(p.get("/spec/containers/0/ports/0/containerPort"), Some(pos(8, 11)));
    assert_eq!(p.get("/spec/containers/1"), Some(pos(9, 9)));
    assert_eq!(p.get("/spec/containers/1/name"), Some(pos(9, 9)));
    assert_eq!(p.get("/spec/empty"), Some(pos(10, 3)));
    assert_eq!(p.get("/list"), Some(pos(11, 1)));
    assert_eq!(p.get("/list/0"), Some(pos(11, 8)));
    assert_eq!(p.get("/list/1"), Some(pos(11, 11)));
    assert_eq!(p.get("/list/1/k"), Some(pos(11, 12)));
    assert_eq!(
        doc.value["spec"]["containers"][0]["ports"][0]["containerPort"],
        json!(80)
    );
    assert_eq!(doc.value["spec"]["empty"], Value::Null);
}

#[test]
fn json_input_positions() {
    let text = "{\n  \"kind\": \"Pod\",\n  \"spec\": {\n    \"replicas\": 3,\n    \"items\": [1, 2.5, true, null, \"x\"]\n  }\n}\n";
    let doc = one(text);
    assert_eq!(
        doc.value,
        json!({"kind": "Pod", "spec": {"replicas": 3, "items": [1, 2.5, true, null, "x"]}})
    );
    let p = &doc.positions;
    assert_eq!(p.get(""), Some(pos(1, 1)));
    assert_eq!(p.get("/kind"), Some(pos(2, 3)));
    assert_eq!(p.get("/spec"), Some(pos(3, 3)));
    assert_eq!(p.get("/spec/replicas"), Some(pos(4, 5)));
    assert_eq!(p.get("/spec/items"), Some(pos(5, 5)));
    assert_eq!(p.get("/spec/items/0"), Some(pos(5, 15)));
    assert_eq!(p.get("/spec/items/1"), Some(pos(5, 18)));
    assert_eq!(p.get("/spec/items/4"), Some(pos(5, 35)));
}

#[test]
fn minified_json_and_tabs() {
    let doc = one("{\"a\":[{\"b\":1}],\t\"c\":\"d\"}");
    assert_eq!(doc.value, json!({"a": [{"b": 1}], "c": "d"}));
    assert_eq!(doc.positions.get("/a/0/b"), Some(pos(1, 8)));
    assert_eq!(doc.positions.get("/c"), Some(pos(1, 17)));
}

#[test]
fn pointer_escaping_of_keys() {
    let doc = one("metadata:\n  annotations:\n    example.com/owner: team\n    a~b: 1\n    \"~1\": 2\n");
    let p = &doc.positions;
    assert_eq!(p.get("/metadata/annotations/example.com~1owner"), Some(pos(3, 5)));
    assert_eq!(p.get("/metadata/annotations/a~0b"), Some(pos(4, 5)));
    assert_eq!(p.get("/metadata/annotations/~01"), Some(pos(5, 5)));
    // The unescaped form names a different (missing) path.
    assert_eq!(p.get("/metadata/annotations/example.com/owner"), None);
    assert_eq!(escape_segment("a/b~c"), "a~1b~0c");
    let pointers: Vec<String> = p.entries().into_iter().map(|(ptr, _)| ptr).collect();
    assert_eq!(
        pointers,
        [
            "",
            "/metadata",
            "/metadata/annotations",
            "/metadata/annotations/a~0b",
            "/metadata/annotations/example.com~1owner",
            "/metadata/annotations/~01",
        ]
    );
    assert_eq!(unescape_segment("a~1b~0c"), "a/b~c");
    assert_eq!(unescape_segment("~01"), "~1");
}

#[test]
fn locate_falls_back_to_nearest_ancestor() {
    let doc = one("spec:\n  containers:\n    - name: a\n      image: x\n");
    let p = &doc.positions;
    assert_eq!(p.locate("/spec/containers/0/image"), Some(pos(4, 7)));
    assert_eq!(
        p.locate("/spec/containers/0/securityContext/runAsNonRoot"),
        Some(pos(3, 7))
    );
    assert_eq!(p.locate("/spec/containers/5/name"), Some(pos(2, 3)));
    assert_eq!(p.locate("/spec/containers/-"), Some(pos(2, 3)));
    assert_eq!(p.locate("/spec/containers/00"), Some(pos(2, 3)));
    assert_eq!(p.locate("/spec/containers/0/image/deeper"), Some(pos(4, 7)));
    assert_eq!(p.locate("/missing"), Some(pos(1, 1)));
    assert_eq!(p.locate(""), Some(pos(1, 1)));
    assert_eq!(p.locate("no-slash"), None);
    assert_eq!(p.get("/spec/containers/0/missing"), None);
    assert_eq!(PositionMap::default().locate(""), None);
}

#[test]
fn scalar_and_sequence_roots() {
    let doc = one("  hello\n");
    assert_eq!(doc.value, json!("hello"));
    assert_eq!(doc.positions.get(""), Some(pos(1, 3)));
    let doc = one("- 1\n- two\n");
    assert_eq!(doc.value, json!([1, "two"]));
    assert_eq!(doc.positions.get("/1"), Some(pos(2, 3)));
}

#[test]
fn unicode_columns_count_characters() {
    let doc = one("é: {ü: 1, x: 2}\n");
    assert_eq!(doc.positions.get("/é/x"), Some(pos(1, 11)));
}
