//! Sharing work across the packs loaded together: variables and rule expressions that compute
//! the same value in every pack get the same share id, so an evaluation computes them once.

use std::collections::HashMap;

use crate::engine::cel::compile::CompiledExpr;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::engine::pack::compiled::{CompiledPack, CompiledRule, PackKind};
use crate::engine::pack::template::Template;

/// The root variables a rule pack's variable may read and still be shared across packs: those
/// bound once per pass for every pack, and the pack-bound `params` and `variables` when what it
/// reads of them is equal in both packs (see [`share_key`]).
const SHARED_ROOTS: [&str; 6] = [
    "object",
    "oldObject",
    "request",
    "namespaceObject",
    "params",
    "variables",
];

/// Sets [`CompiledVariable::share_id`](crate::engine::pack::compiled::CompiledVariable::share_id): rule-pack variables with the same [`share_key`] (same
/// source, dependencies of the same names sharing ids, equal pack defaults for the params they
/// read) get the same id; they evaluate to equal values in every pack (soc2, gdpr and hipaa
/// define the same `podSpec`, `containers`, `cls`, ...).
pub(crate) fn assign_share_ids(packs: &mut [CompiledPack]) {
    let mut ids: HashMap<String, usize> = HashMap::new();
    for pack in packs.iter_mut().filter(|p| matches!(p.kind, PackKind::Rules)) {
        for i in 0..pack.variables.len() {
            let var = &pack.variables[i];
            let deps = var.deps.iter().map(|&d| {
                let dep = &pack.variables[d];
                dep.share_id.map(|id| (dep.name.as_str(), id))
            });
            let Some(key) = share_key(&var.expr, &[], deps, &pack.params) else {
                continue;
            };
            let next = ids.len();
            pack.variables[i].share_id = Some(*ids.entry(key).or_insert(next));
        }
    }
}

/// The roots a rule expression may read besides [`SHARED_ROOTS`] and still be shared across
/// packs: results are kept by `forEach` item.
const ITEM_ROOTS: [&str; 2] = ["item", "itemPointer"];

/// Sets [`CompiledExpr::share_id`] on the expressions of rule-pack rules (condition, validate,
/// message and pointer templates, patch paths and values): those with the same [`share_key`] get
/// the same id. They compute the same result for the same `item` in every pack (soc2 and hipaa
/// check containers the same way and word their messages from the same pieces), so a pass
/// evaluates each once per item.
pub(crate) fn assign_result_share_ids(packs: &mut [CompiledPack]) {
    let mut ids: HashMap<String, usize> = HashMap::new();
    for pack in packs.iter_mut().filter(|p| matches!(p.kind, PackKind::Rules)) {
        let (variables, params) = (&pack.variables, &pack.params);
        for rule in &mut pack.rules {
            // Nothing else holds a rule at load; one that is held keeps its expressions unshared.
            let Some(rule) = Arc::get_mut(rule) else {
                continue;
            };
            for expr in rule_expressions_mut(rule) {
                // The `variables` map a rule sees holds what its pack's matching rules need, which
                // differs between packs: a read by a computed key is not shared.
                if expr.reads_all_variables() {
                    continue;
                }
                let deps = expr.pack_variables.iter().map(|name| {
                    let var = variables.iter().find(|v| &v.name == name)?;
                    var.share_id.map(|id| (name.as_str(), id))
                });
                expr.share_id = share_key(expr, &ITEM_ROOTS, deps, params).map(|key| {
                    let next = ids.len();
                    *ids.entry(key).or_insert(next)
                });
            }
        }
    }
}

/// What makes an expression's value the same in every pack that holds it: its source, the share
/// ids of the pack variables it reads (`deps`, as `(name, share id)`, `None` for one that is not
/// shared), and its pack's defaults for the params it reads (the whole map when it reads one by
/// a computed key). An input's params are merged over every pack's the same way, key by key, so
/// equal defaults (or a key absent from both) stay equal. `None` when a dependency is not shared
/// or it reads a root outside [`SHARED_ROOTS`] and `more_roots`.
fn share_key<'a>(
    expr: &CompiledExpr,
    more_roots: &[&str],
    deps: impl Iterator<Item = Option<(&'a str, usize)>>,
    params: &serde_json::Value,
) -> Option<String> {
    let shared = |root: &String| SHARED_ROOTS.contains(&root.as_str()) || more_roots.contains(&root.as_str());
    if !expr.free_variables.iter().all(shared) {
        return None;
    }
    let mut key = format!("{}\0", expr.source);
    for dep in deps {
        let (name, id) = dep?;
        let _ = write!(key, "{name}={id},");
    }
    key.push('\0');
    if expr.whole_roots.contains("params") {
        key.push_str(&params.to_string());
    } else {
        for name in &expr.param_keys {
            let value = params
                .get(name)
                .map_or_else(|| "<absent>".to_owned(), serde_json::Value::to_string);
            let _ = write!(key, "{name}={value},");
        }
    }
    Some(key)
}

/// Every expression a rule evaluates in its own scope.
pub(crate) fn rule_expressions_mut(rule: &mut CompiledRule) -> Vec<&mut CompiledExpr> {
    fn template_exprs(template: &mut Template) -> impl Iterator<Item = &mut CompiledExpr> {
        template.segments.iter_mut().filter_map(|segment| match segment {
            super::template::Segment::Expr(expr) => Some(expr.as_mut()),
            super::template::Segment::Literal(_) => None,
        })
    }
    let mut exprs: Vec<&mut CompiledExpr> = Vec::new();
    exprs.extend(rule.condition.as_mut());
    exprs.push(&mut rule.validate);
    exprs.extend(rule.message_expression.as_mut());
    exprs.extend(template_exprs(&mut rule.message));
    if let Some(pointer) = rule.pointer.as_mut() {
        exprs.extend(template_exprs(pointer));
    }
    for op in &mut rule.patch {
        exprs.extend(template_exprs(&mut op.path));
        exprs.extend(op.value_expression.as_mut());
    }
    exprs
}
