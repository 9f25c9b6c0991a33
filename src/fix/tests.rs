use serde_json::{json, Value};

use super::{apply, Patched};
use crate::source::parse_documents;

/// Applies `patch` (a function of the document's value) to document `index` of `text`.
fn fix(text: &str, index: usize, patch: impl FnOnce(&mut Value)) -> String {
    let docs = parse_documents(text.trim_start_matches('\u{feff}')).expect("parses");
    let doc = docs.iter().find(|d| d.index == index).expect("document");
    let mut value = doc.value.clone();
    patch(&mut value);
    let out = apply(
        text,
        &[Patched {
            index,
            item: None,
            value: &value,
        }],
    )
    .expect("applies");
    let back = parse_documents(out.trim_start_matches('\u{feff}')).expect("output parses");
    let back = back.iter().find(|d| d.index == index).expect("document in output");
    assert_eq!(back.value, value, "output does not read back as the patch:\n{out}");
    out
}

fn set(value: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let parent = value.pointer_mut(parent).expect("parent");
    match parent {
        Value::Object(map) => {
            map.insert(key.replace("~1", "/").replace("~0", "~"), new);
        }
        Value::Array(items) if key == "-" => items.push(new),
        Value::Array(items) => items.insert(key.parse().expect("index"), new),
        _ => panic!("no container at {pointer}"),
    }
}

#[test]
fn adds_a_key_after_its_siblings_keeping_comments() {
    let text = "# leading\napiVersion: v1\nkind: Pod # the kind\nmetadata:\n  name: p\n  labels:\n    app: web # app\nspec:\n  containers:\n  - name: c\n    image: nginx\n";
    let out = fix(text, 0, |v| set(v, "/metadata/labels/team", json!("core")));
    assert_eq!(
        out,
        text.replace("    app: web # app\n", "    app: web # app\n    team: core\n")
    );
}

#[test]
fn adds_a_nested_block_where_none_was() {
    let text = "kind: Pod\nspec:\n  containers:\n  - name: c\n    image: nginx\n";
    let out = fix(text, 0, |v| {
        set(
            v,
            "/spec/containers/0/securityContext",
            json!({"allowPrivilegeEscalation": false}),
        );
    });
    assert_eq!(
        out,
        "kind: Pod\nspec:\n  containers:\n  - name: c\n    image: nginx\n    securityContext:\n      allowPrivilegeEscalation: false\n"
    );
}

#[test]
fn flow_mappings_keep_their_style() {
    let text = "kind: Pod\nmetadata: {name: p, labels: {app: web}}\n";
    let out = fix(text, 0, |v| set(v, "/metadata/labels/team", json!("core")));
    assert_eq!(out, "kind: Pod\nmetadata: {name: p, labels: {app: web, team: core}}\n");
    let out = fix("kind: Pod\nmetadata: {}\n", 0, |v| set(v, "/metadata/name", json!("p")));
    assert_eq!(out, "kind: Pod\nmetadata: {name: p}\n");
}

#[test]
fn a_null_or_empty_field_is_replaced_not_duplicated() {
    for text in [
        "kind: ConfigMap\ndata:\nother: 1\n",
        "kind: ConfigMap\ndata: null\nother: 1\n",
        "kind: ConfigMap\ndata: ~ # none\nother: 1\n",
    ] {
        let out = fix(text, 0, |v| set(v, "/data", json!({"k": "v"})));
        assert_eq!(out.matches("data:").count(), 1, "{out}");
        assert!(
            out.contains("data:\n  k: v\n") || out.contains("data:\n  k: v # none"),
            "{out}"
        );
    }
}

#[test]
fn crlf_and_multi_document_texts_keep_everything_else() {
    let text = "---\r\nkind: A\r\nmetadata:\r\n  name: a\r\n---\r\n# second\r\nkind: B\r\nmetadata:\r\n  name: b\r\n";
    let out = fix(text, 1, |v| set(v, "/metadata/labels", json!({"x": "z"})));
    assert_eq!(
        out,
        text.replace("  name: b\r\n", "  name: b\r\n  labels:\r\n    x: z\r\n")
    );
}

#[test]
fn json_stays_json() {
    let text = "{\n  \"kind\": \"Pod\",\n  \"metadata\": {\n    \"name\": \"p\"\n  }\n}\n";
    let out = fix(text, 0, |v| set(v, "/metadata/labels", json!({"a": "b"})));
    assert_eq!(
        out,
        "{\n  \"kind\": \"Pod\",\n  \"metadata\": {\n    \"name\": \"p\",\n    \"labels\": {\n      \"a\": \"b\"\n    }\n  }\n}\n"
    );
    serde_json::from_str::<Value>(&out).expect("still JSON");
}

#[test]
fn replace_remove_and_list_edits() {
    let text = "kind: Pod\nspec:\n  replicas: 1 # one\n  image: 'old'\n  drop: x\n  keep: y\n  list:\n  - a\n  - b\n";
    let out = fix(text, 0, |v| {
        set(v, "/spec/replicas", json!(3));
        set(v, "/spec/image", json!("new"));
        v["spec"].as_object_mut().expect("map").remove("drop");
        set(v, "/spec/list/-", json!("c"));
    });
    assert_eq!(
        out,
        "kind: Pod\nspec:\n  replicas: 3 # one\n  image: 'new'\n  keep: y\n  list:\n  - a\n  - b\n  - c\n"
    );
    let out = fix(text, 0, |v| {
        v["spec"]["list"].as_array_mut().expect("list").remove(0);
    });
    assert_eq!(out, text.replace("  - a\n", ""));
}

#[test]
fn escaped_keys_and_an_alias_are_handled() {
    let text = "kind: Namespace\nmetadata:\n  labels:\n    a: &x b\n    c: *x\n";
    let out = fix(text, 0, |v| {
        set(
            v,
            "/metadata/labels/pod-security.kubernetes.io~1warn",
            json!("restricted"),
        );
    });
    assert!(
        out.ends_with("    c: *x\n    pod-security.kubernetes.io/warn: restricted\n"),
        "{out}"
    );
    let text = "kind: A\nbase: &b {x: 1}\nuse: *b\n";
    let out = fix(text, 0, |v| set(v, "/use/w", json!(2)));
    assert_eq!(out, "kind: A\nbase: &b {x: 1}\nuse:\n  w: 2\n  x: 1\n");
}

#[test]
fn a_list_item_in_a_sequence_of_mappings() {
    let text = "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: x\n        - name: b\n          image: y\n";
    let out = fix(text, 0, |v| {
        set(
            v,
            "/spec/template/spec/containers/1/securityContext",
            json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}),
        );
    });
    assert_eq!(out, format!("{text}          securityContext:\n            runAsNonRoot: true\n            seccompProfile:\n              type: RuntimeDefault\n"));
}

#[test]
fn flow_documents_with_trailing_commas() {
    let text = "---\n{\n  apiVersion: \"v1\",\n  kind: \"Secret\",\n  data: {\n    a: \"b\",\n  },\n}\n";
    let out = fix(text, 0, |v| set(v, "/automountServiceAccountToken", json!(false)));
    assert_eq!(
        out,
        text.replace("  },\n}", "  },\n  automountServiceAccountToken: false,\n}")
    );
    let out = fix(text, 0, |v| set(v, "/data/c", json!("d")));
    assert_eq!(out, text.replace("    a: \"b\",\n", "    a: \"b\",\n    c: \"d\",\n"));
}

/// Applies `value` to item `item` of the list document 0 of `text`.
fn fix_item(text: &str, item: usize, patch: impl FnOnce(&mut Value)) -> String {
    let docs = parse_documents(text).expect("parses");
    let mut value = docs[0].value["items"][item].clone();
    patch(&mut value);
    let out = apply(
        text,
        &[Patched {
            index: 0,
            item: Some(item),
            value: &value,
        }],
    )
    .expect("applies");
    let back = parse_documents(&out).expect("output parses");
    assert_eq!(back[0].value["items"][item], value, "{out}");
    out
}

#[test]
fn items_of_lists_are_patched_in_place() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- kind: ServiceAccount\n  metadata: {name: a}\n- kind: ServiceAccount\n  metadata: {name: b}\n";
    let out = fix_item(text, 1, |v| set(v, "/automountServiceAccountToken", json!(false)));
    assert_eq!(out, format!("{text}  automountServiceAccountToken: false\n"));
    let json_text =
        "{\"kind\": \"List\", \"items\": [\n  {\"kind\": \"ServiceAccount\", \"metadata\": {\"name\": \"a\"}}\n]}\n";
    let out = fix_item(json_text, 0, |v| set(v, "/automountServiceAccountToken", json!(false)));
    assert_eq!(
        out,
        "{\"kind\": \"List\", \"items\": [\n  {\"kind\": \"ServiceAccount\", \"metadata\": {\"name\": \"a\"}, \"automountServiceAccountToken\": false}\n]}\n"
    );
}

#[test]
fn flow_sequences_take_items_in_their_style() {
    let text = "kind: X\nspec:\n  args: [a, b]\n  ports: []\n";
    let out = fix(text, 0, |v| {
        set(v, "/spec/args/-", json!("c"));
        set(v, "/spec/ports/-", json!({"port": 80}));
    });
    assert_eq!(out, "kind: X\nspec:\n  args: [a, b, c]\n  ports: [{port: 80}]\n");
    let out = fix(text, 0, |v| {
        v["spec"]["args"].as_array_mut().expect("list").remove(0);
    });
    assert_eq!(out, "kind: X\nspec:\n  args: [b]\n  ports: []\n");
    let out = fix(text, 0, |v| set(v, "/spec/args/1", json!("between")));
    assert_eq!(out, "kind: X\nspec:\n  args: [a, between, b]\n  ports: []\n");
}

#[test]
fn block_items_are_inserted_and_removed_as_lines() {
    let text = "kind: X\nlist:\n  - name: a # first\n    v: 1\n  - name: b\n";
    let out = fix(text, 0, |v| set(v, "/list/1", json!({"name": "new", "v": 2})));
    assert_eq!(
        out,
        "kind: X\nlist:\n  - name: a # first\n    v: 1\n  - name: new\n    v: 2\n  - name: b\n"
    );
    let out = fix(text, 0, |v| {
        v["list"][0].as_object_mut().expect("map").remove("name");
    });
    assert_eq!(out, "kind: X\nlist:\n  - v: 1\n  - name: b\n");
    let out = fix(text, 0, |v| set(v, "/list", json!([])));
    assert_eq!(out, "kind: X\nlist: []\n");
}

#[test]
fn indentation_and_sequence_style_of_the_document_are_followed() {
    let text = "kind: X\nspec:\n    containers:\n        -   name: a\n    other: 1\n";
    let out = fix(text, 0, |v| {
        set(v, "/spec/volumes", json!([{"name": "v", "emptyDir": {}}]));
    });
    assert_eq!(
        out,
        format!("{text}    volumes:\n        - name: v\n          emptyDir: {{}}\n")
    );
    let text = "kind: X\nspec:\n  containers:\n  - name: a\n";
    let out = fix(text, 0, |v| set(v, "/spec/volumes", json!(["x"])));
    assert_eq!(out, format!("{text}  volumes:\n  - x\n"));
}

#[test]
fn a_byte_order_mark_and_non_ascii_text_are_kept() {
    let text = "\u{feff}kind: X # é\nmetadata:\n  name: \"ñandú\"\n";
    let out = fix(text, 0, |v| set(v, "/metadata/name", json!("ü")));
    assert_eq!(out, "\u{feff}kind: X # é\nmetadata:\n  name: \"ü\"\n");
}

#[test]
fn documents_without_a_patch_are_untouched() {
    let text = "# only comments and odd spacing\nkind:   X\n---\n\n---\nkind: Y\n...\n";
    assert_eq!(apply(text, &[]).expect("applies"), text);
    let out = fix(text, 2, |v| set(v, "/a", json!(1)));
    assert_eq!(
        out,
        "# only comments and odd spacing\nkind:   X\n---\n\n---\nkind: Y\na: 1\n...\n"
    );
}

#[test]
fn an_edited_anchor_keeps_its_aliases_old_value() {
    let text = "kind: Deployment\nmetadata:\n  labels: &labels\n    app: web\nspec:\n  selector:\n    matchLabels: *labels # same\n";
    let out = fix(text, 0, |v| set(v, "/metadata/labels/team", json!("core")));
    assert_eq!(
        out,
        "kind: Deployment\nmetadata:\n  labels: &labels\n    app: web\n    team: core\nspec:\n  selector:\n    matchLabels:\n      app: web # same\n"
    );
}

#[test]
fn new_strings_are_quoted_like_their_siblings() {
    let text = "kind: X\ndrop: [ \"NET_RAW\", \"MKNOD\" ]\nlist:\n  - 'a'\nsel:\n  \"k\": \"v\"\n";
    let out = fix(text, 0, |v| {
        set(v, "/drop/-", json!("ALL"));
        set(v, "/list/-", json!("b"));
        set(v, "/sel/k2", json!("v2"));
    });
    assert_eq!(
        out,
        "kind: X\ndrop: [ \"NET_RAW\", \"MKNOD\", \"ALL\" ]\nlist:\n  - 'a'\n  - 'b'\nsel:\n  \"k\": \"v\"\n  k2: \"v2\"\n"
    );
}

#[test]
fn json_and_yaml_documents_of_one_stream_keep_their_own_style() {
    let text = "kind: A\nmetadata:\n  name: a\n---\n{\"kind\": \"B\", \"metadata\": {\"name\": \"b\"}}\n";
    let out = fix(text, 1, |v| set(v, "/metadata/labels", json!({"x": "z"})));
    assert_eq!(out, "kind: A\nmetadata:\n  name: a\n---\n{\"kind\": \"B\", \"metadata\": {\"name\": \"b\", \"labels\": {\"x\": \"z\"}}}\n");
    let out = fix(text, 0, |v| set(v, "/metadata/labels", json!({"x": "z"})));
    assert!(
        out.starts_with("kind: A\nmetadata:\n  name: a\n  labels:\n    x: z\n---\n"),
        "{out}"
    );
}
