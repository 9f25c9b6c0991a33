//! Walking the `cel` crate's expression tree: the direct children of a node, so each load-time
//! rewrite (cached `matches` and structural equality, admission policies' object construction)
//! states only what it changes, not how to reach every kind of node.

use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr};

/// The direct sub-expressions of `expr`, in source order: a call's target and arguments, a
/// select's operand, a comprehension's parts, list elements, map keys and values, struct values.
pub fn children_mut(expr: &mut IdedExpr) -> Vec<&mut IdedExpr> {
    match &mut expr.expr {
        Expr::Call(call) => call
            .target
            .as_deref_mut()
            .into_iter()
            .chain(call.args.iter_mut())
            .collect(),
        Expr::Select(s) => vec![&mut *s.operand],
        Expr::Comprehension(c) => vec![
            &mut c.iter_range,
            &mut c.accu_init,
            &mut c.loop_cond,
            &mut c.loop_step,
            &mut c.result,
        ],
        Expr::List(l) => l.elements.iter_mut().collect(),
        Expr::Map(m) => m.entries.iter_mut().flat_map(entry_children).collect(),
        Expr::Struct(s) => s.entries.iter_mut().flat_map(entry_children).collect(),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    }
}

/// A map entry's key and value, or a struct field's value.
fn entry_children(entry: &mut IdedEntryExpr) -> Vec<&mut IdedExpr> {
    match &mut entry.expr {
        EntryExpr::MapEntry(e) => vec![&mut e.key, &mut e.value],
        EntryExpr::StructField(f) => vec![&mut f.value],
    }
}
