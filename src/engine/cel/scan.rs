//! What an expression's tree shows before it runs, read in one walk: the names it reads free,
//! the `params` keys and pack variables it reads by name (and whether it reads either map
//! whole), how deep it nests, and the literal collection sizes it builds.

use std::collections::BTreeSet;
use std::sync::Arc;

use cel::common::ast::{
    operators, CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedEntryExpr, IdedExpr, LiteralValue,
};

use super::compile::{FUNCTION_NAMESPACES, MAX_RANGE};
use super::k8s;

/// What [`scan`] found.
#[derive(Default)]
pub(super) struct Facts {
    pub(super) free: BTreeSet<String>,
    pub(super) pack_variables: BTreeSet<String>,
    pub(super) param_keys: BTreeSet<String>,
    pub(super) whole_roots: BTreeSet<String>,
    /// Addresses of the `params`/`variables` identifiers that are the operand of a read by name.
    selected_roots: BTreeSet<usize>,
    pub(super) max_depth: usize,
    pub(super) comprehension_depth: usize,
    pub(super) max_literal_collection: usize,
    /// A `lists.range` whose size is not a literal within [`MAX_RANGE`].
    pub(super) unbounded_range: bool,
}

/// A node still to visit: its depth, its comprehension depth and the names bound around it.
type Frame<'a> = (&'a IdedExpr, usize, usize, Arc<Vec<String>>);

/// Walks the tree under `root` with an explicit stack (a deep tree must not overflow ours).
pub(super) fn scan(root: &IdedExpr) -> Facts {
    let mut facts = Facts::default();
    let mut stack: Vec<Frame<'_>> = vec![(root, 1, 0, Arc::new(Vec::new()))];
    while let Some((node, depth, comp, bound)) = stack.pop() {
        facts.max_depth = facts.max_depth.max(depth);
        facts.comprehension_depth = facts.comprehension_depth.max(comp);
        match &node.expr {
            Expr::Ident(name) => {
                if !bound.iter().any(|b| b == name) {
                    facts.free.insert(name.clone());
                    let map_root = name == "params" || name == "variables";
                    if map_root && !facts.selected_roots.contains(&std::ptr::from_ref(node).addr()) {
                        facts.whole_roots.insert(name.clone());
                    }
                }
            }
            Expr::Select(select) => {
                record_named_read(&mut facts, &bound, &select.operand, &select.field);
                stack.push((&select.operand, depth + 1, comp, bound));
            }
            Expr::Call(call) => scan_call(&mut facts, &mut stack, call, (depth, comp, &bound)),
            Expr::Comprehension(c) => push_comprehension(&mut stack, c, depth, comp, &bound),
            Expr::List(list) => {
                facts.max_literal_collection = facts.max_literal_collection.max(list.elements.len());
                for e in &list.elements {
                    stack.push((e, depth + 1, comp, bound.clone()));
                }
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    push_entry(&mut stack, entry, depth, comp, &bound);
                }
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    push_entry(&mut stack, entry, depth, comp, &bound);
                }
            }
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
    facts
}

/// A call: the size of a `lists.range`, a read by name through an index or optional select,
/// and its target (unless a function namespace) and arguments to visit.
fn scan_call<'a>(
    facts: &mut Facts,
    stack: &mut Vec<Frame<'a>>,
    call: &'a CallExpr,
    (depth, comp, bound): (usize, usize, &Arc<Vec<String>>),
) {
    let namespace = match call.target.as_deref().map(|t| &t.expr) {
        Some(Expr::Ident(ns))
            if (FUNCTION_NAMESPACES.contains(&ns.as_str()) || k8s::NAMESPACES.contains(&ns.as_str()))
                && !bound.contains(ns) =>
        {
            Some(ns.as_str())
        }
        _ => None,
    };
    if namespace == Some("lists") && call.func_name == "range" {
        match call.args.first().map(|a| &a.expr) {
            Some(Expr::Literal(LiteralValue::Int(n))) if (0..=MAX_RANGE).contains(n.inner()) => {
                let n = usize::try_from(*n.inner()).unwrap_or(0);
                facts.max_literal_collection = facts.max_literal_collection.max(n);
            }
            _ => facts.unbounded_range = true,
        }
    }
    // `variables.?x`, `variables['x']` and `variables[?'x']` read `x` by name too.
    let by_name = [operators::OPT_SELECT, operators::INDEX, operators::OPT_INDEX].contains(&call.func_name.as_str());
    if let (true, None, [operand, key]) = (by_name, &call.target, call.args.as_slice()) {
        if let Expr::Literal(LiteralValue::String(field)) = &key.expr {
            record_named_read(facts, bound, operand, field.inner());
        }
    }
    if let (Some(target), None) = (&call.target, namespace) {
        stack.push((target, depth + 1, comp, bound.clone()));
    }
    for arg in &call.args {
        stack.push((arg, depth + 1, comp, bound.clone()));
    }
}

/// A comprehension's parts to visit; its loop condition and step one comprehension deeper, and
/// all but its range and initial value with its variables bound.
fn push_comprehension<'a>(
    stack: &mut Vec<Frame<'a>>,
    c: &'a ComprehensionExpr,
    depth: usize,
    comp: usize,
    bound: &Arc<Vec<String>>,
) {
    stack.push((&c.iter_range, depth + 1, comp, bound.clone()));
    stack.push((&c.accu_init, depth + 1, comp, bound.clone()));
    let mut inner: Vec<String> = bound.as_ref().clone();
    inner.push(c.iter_var.clone());
    if let Some(v2) = &c.iter_var2 {
        inner.push(v2.clone());
    }
    inner.push(c.accu_var.clone());
    let inner = Arc::new(inner);
    stack.push((&c.loop_cond, depth + 1, comp + 1, inner.clone()));
    stack.push((&c.loop_step, depth + 1, comp + 1, inner.clone()));
    stack.push((&c.result, depth + 1, comp, inner));
}

/// Records `field` as read by name when `operand` is the unbound `params` or `variables`.
fn record_named_read(facts: &mut Facts, bound: &[String], operand: &IdedExpr, field: &str) {
    let Expr::Ident(root) = &operand.expr else {
        return;
    };
    let fields = match root.as_str() {
        "variables" => &mut facts.pack_variables,
        "params" => &mut facts.param_keys,
        _ => return,
    };
    if !bound.iter().any(|b| b == root) {
        fields.insert(field.to_owned());
        facts.selected_roots.insert(std::ptr::from_ref(operand).addr());
    }
}

fn push_entry<'a>(
    stack: &mut Vec<Frame<'a>>,
    entry: &'a IdedEntryExpr,
    depth: usize,
    comp: usize,
    bound: &Arc<Vec<String>>,
) {
    match &entry.expr {
        EntryExpr::StructField(f) => stack.push((&f.value, depth + 1, comp, bound.clone())),
        EntryExpr::MapEntry(m) => {
            stack.push((&m.key, depth + 1, comp, bound.clone()));
            stack.push((&m.value, depth + 1, comp, bound.clone()));
        }
    }
}
