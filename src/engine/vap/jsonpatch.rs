//! The JSONPatch form of `MutatingAdmissionPolicy`: the load-time rewrites that let the `cel` crate run
//! its expressions (typed object construction such as `JSONPatch{op: "add", ...}` or
//! `Object.spec{...}` becomes a map literal; `jsonpatch.escapeKey(k)` becomes two `replace`
//! calls), and reading the evaluated list back as RFC 6902 operations.

use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr, LiteralValue, MapEntryExpr, MapExpr};
use cel::common::types::CelString;

use crate::engine::pack::patch::ResolvedOp;
use crate::engine::pack::PatchOpKind;

/// Rewrites `expr` in place: every typed object construction becomes a map literal with string
/// keys, and `jsonpatch.escapeKey(k)` becomes `k.replace('~', '~0').replace('/', '~1')`.
pub fn rewrite(expr: &mut IdedExpr) {
    // Recurse first, so the replacement nodes below are built from rewritten children.
    for child in crate::engine::cel::ast::children_mut(expr) {
        rewrite(child);
    }
    let id = expr.id;
    let replacement = match &mut expr.expr {
        Expr::Struct(s) => Some(Expr::Map(MapExpr {
            entries: std::mem::take(&mut s.entries)
                .into_iter()
                .map(struct_entry_to_map)
                .collect(),
        })),
        Expr::Call(call)
            if call.func_name == "escapeKey"
                && call.args.len() == 1
                && matches!(call.target.as_deref().map(|t| &t.expr), Some(Expr::Ident(ns)) if ns == "jsonpatch") =>
        {
            let key = call.args.remove(0);
            let first = replace_call(id, key, "~", "~0");
            Some(replace_call(id, IdedExpr { id, expr: first }, "/", "~1"))
        }
        _ => None,
    };
    if let Some(new) = replacement {
        expr.expr = new;
    }
}

fn string_literal(id: u64, text: &str) -> IdedExpr {
    IdedExpr {
        id,
        expr: Expr::Literal(LiteralValue::String(CelString::from(text.to_owned()))),
    }
}

fn struct_entry_to_map(entry: IdedEntryExpr) -> IdedEntryExpr {
    let id = entry.id;
    let expr = match entry.expr {
        EntryExpr::StructField(f) => EntryExpr::MapEntry(MapEntryExpr {
            key: string_literal(id, &f.field),
            value: f.value,
            optional: f.optional,
        }),
        other @ EntryExpr::MapEntry(_) => other,
    };
    IdedEntryExpr { id, expr }
}

fn replace_call(id: u64, target: IdedExpr, from: &str, to: &str) -> Expr {
    Expr::Call(cel::common::ast::CallExpr {
        func_name: "replace".to_owned(),
        target: Some(Box::new(target)),
        args: vec![string_literal(id, from), string_literal(id, to)],
    })
}

/// Reads the JSON form of a JSONPatch expression's result (a list of `{op, path, value?, from?}`)
/// as operations; the error says which entry is wrong and how.
pub fn ops_from_json(value: &serde_json::Value) -> Result<Vec<ResolvedOp>, String> {
    let serde_json::Value::Array(items) = value else {
        return Err(format!(
            "must return a list of JSONPatch values, got {}",
            json_type(value)
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = |name: &str| item.get(name).and_then(|v| v.as_str()).map(str::to_owned);
            let op_name = field("op").ok_or_else(|| format!("entry {i}: 'op' must be a string"))?;
            let op = match op_name.as_str() {
                "add" => PatchOpKind::Add,
                "remove" => PatchOpKind::Remove,
                "replace" => PatchOpKind::Replace,
                "move" => PatchOpKind::Move,
                "copy" => PatchOpKind::Copy,
                "test" => PatchOpKind::Test,
                other => {
                    return Err(format!(
                        "entry {i}: unknown op '{other}' (expected add, remove, replace, move, copy or test)"
                    ))
                }
            };
            let path = field("path").ok_or_else(|| format!("entry {i}: 'path' must be a string"))?;
            let from = field("from");
            if matches!(op, PatchOpKind::Move | PatchOpKind::Copy) && from.is_none() {
                return Err(format!("entry {i}: '{op_name}' needs 'from'"));
            }
            let value = item.get("value").cloned();
            if matches!(op, PatchOpKind::Add | PatchOpKind::Replace | PatchOpKind::Test) && value.is_none() {
                return Err(format!("entry {i}: '{op_name}' needs 'value'"));
            }
            Ok(ResolvedOp { op, path, from, value })
        })
        .collect()
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::cel::compile::{compile, environment};

    fn run(src: &str) -> serde_json::Value {
        let env = environment();
        let mut expr = compile(&env, src).expect("compiles");
        rewrite(&mut expr.expr);
        let ctx = cel::Context::with_env(env);
        let v = cel::Value::resolve_val(&expr.expr, &ctx).expect("runs");
        let v = crate::engine::cel::json_val::to_value(&*v).expect("value");
        crate::engine::cel::value::value_to_json(&v)
    }

    #[test]
    fn typed_objects_become_maps() {
        let out = run(r#"[JSONPatch{op: "add", path: "/spec/x", value: Object.spec.x{name: "a", n: 1}}]"#);
        assert_eq!(
            out,
            json!([{"op": "add", "path": "/spec/x", "value": {"name": "a", "n": 1}}])
        );
        let ops = ops_from_json(&out).expect("ops");
        assert_eq!(ops[0].op, PatchOpKind::Add);
    }

    #[test]
    fn escape_key_escapes_pointer_characters() {
        assert_eq!(
            run(r#"jsonpatch.escapeKey("example.com/a~b")"#),
            json!("example.com~1a~0b")
        );
    }

    #[test]
    fn bad_ops_are_explained() {
        assert_eq!(
            ops_from_json(&json!([{"op": "add", "path": "/a"}])).expect_err("no value"),
            "entry 0: 'add' needs 'value'"
        );
        assert!(ops_from_json(&json!({"op": "add"})).is_err());
    }
}
