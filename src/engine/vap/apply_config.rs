//! The `ApplyConfiguration` form of `MutatingAdmissionPolicy`: the expression returns a partial
//! object (`Object{spec: Object.spec{...}}`, a map literal once rewritten), merged into the
//! request's object as server-side apply merges: maps field by field, lists of objects that all
//! carry a `name` (containers, init containers, env, volumes, ...) item by item on that key,
//! every other list (and scalar) replaced. The merge is then expressed as JSONPatch operations,
//! so it goes through the engine's patch path like any mutation.

use serde_json::{Map, Value};

use crate::engine::pack::patch::ResolvedOp;
use crate::engine::pack::PatchOpKind;

/// Merges `config` into `object` as server-side apply would.
pub fn merge(object: &Value, config: &Value) -> Value {
    match (object, config) {
        (Value::Object(base), Value::Object(patch)) => {
            let mut out = base.clone();
            for (k, v) in patch {
                let merged = match base.get(k) {
                    Some(existing) => merge(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(base), Value::Array(patch)) if keyed_by_name(base) && keyed_by_name(patch) => {
            let mut out = base.clone();
            for item in patch {
                let name = item.get("name");
                match out.iter_mut().find(|e| e.get("name") == name) {
                    Some(existing) => *existing = merge(existing, item),
                    None => out.push(item.clone()),
                }
            }
            Value::Array(out)
        }
        (_, other) => other.clone(),
    }
}

/// Whether every item is an object with a string `name` (an associative list on `name`).
fn keyed_by_name(items: &[Value]) -> bool {
    items.iter().all(|i| i.get("name").is_some_and(Value::is_string))
}

/// The operations that turn `before` into `after` (`after` only adds and changes: a merge never
/// removes a field).
pub fn diff(before: &Value, after: &Value) -> Vec<ResolvedOp> {
    let mut ops = Vec::new();
    diff_at(String::new(), before, after, &mut ops);
    ops
}

fn diff_at(path: String, before: &Value, after: &Value, ops: &mut Vec<ResolvedOp>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => diff_objects(&path, b, a, ops),
        _ => ops.push(ResolvedOp {
            op: PatchOpKind::Replace,
            path: if path.is_empty() { String::new() } else { path },
            from: None,
            value: Some(after.clone()),
        }),
    }
}

fn diff_objects(path: &str, before: &Map<String, Value>, after: &Map<String, Value>, ops: &mut Vec<ResolvedOp>) {
    for (k, v) in after {
        let child = format!("{path}/{}", crate::source::escape_segment(k));
        match before.get(k) {
            Some(old) => diff_at(child, old, v, ops),
            None => ops.push(ResolvedOp {
                op: PatchOpKind::Add,
                path: child,
                from: None,
                value: Some(v.clone()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merges_as_server_side_apply() {
        let pod = json!({"spec": {"initContainers": [{"name": "setup", "image": "a"}], "containers": [{"name": "c"}]}});
        let config = json!({"spec": {"initContainers": [{"name": "mesh-proxy", "image": "p", "args": ["x"]}]}});
        let merged = merge(&pod, &config);
        assert_eq!(
            merged["spec"]["initContainers"],
            json!([{"name": "setup", "image": "a"}, {"name": "mesh-proxy", "image": "p", "args": ["x"]}])
        );
        let ops = diff(&pod, &merged);
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].path, "/spec/initContainers");
        assert_eq!(merge(&merged, &config), merged, "applying twice changes nothing");
        let labels = merge(
            &json!({"metadata": {"name": "x"}}),
            &json!({"metadata": {"labels": {"a/b": "1"}}}),
        );
        let ops = diff(&json!({"metadata": {"name": "x"}}), &labels);
        assert_eq!(ops[0].path, "/metadata/labels");
        assert!(matches!(ops[0].op, PatchOpKind::Add));
    }
}
