//! What one pass computes once and every pack reuses: variables, `forEach` matches, shared results.

use std::collections::BTreeSet;

use foldhash::HashMap;
use std::rc::Rc;

use cel::common::types::{CelMap, CelMapKey};
use cel::common::value::Val;
use cel::{Context, Value};

use crate::engine::cel::expr_eval::{eval_val, run_val};
use crate::engine::cel::expr_eval::{Costing, ExprFailure};
use crate::engine::pack::compiled::CompiledPack;

use super::pointers::normalized_path_to_pointer;

/// The values of the shared pack variables ([`CompiledVariable::share_id`](crate::engine::pack::compiled::CompiledVariable::share_id))
/// computed so far in one pass, by id: a later pack reuses them instead of evaluating the same
/// expression again.
#[derive(Default)]
pub(crate) struct SharedVariables<'v> {
    values: std::cell::RefCell<HashMap<usize, VariableResult<'v>>>,
}

/// A variable's value, or why it has none.
type VariableResult<'v> = Result<Box<dyn Val + 'v>, ExprFailure>;

impl<'v> SharedVariables<'v> {
    /// A copy of the value an earlier pack computed for `var`'s share id, charged as if `var`
    /// ran (so the meter sees what it would without sharing); `None` when there is none yet.
    fn reused(
        &self,
        var: &crate::engine::pack::compiled::CompiledVariable,
        scope: &Context<'_, 'v>,
        costing: Costing<'_>,
    ) -> Option<VariableResult<'v>> {
        let values = self.values.borrow();
        let known = values.get(&var.share_id?)?;
        Some(
            costing
                .charge(&var.expr, scope)
                .and_then(|()| known.as_ref().map(|v| v.clone_as_boxed()).map_err(Clone::clone)),
        )
    }

    /// Evaluates `var` in `scope`, keeping a copy of the result for later packs when it has a
    /// share id (not when the meter refused it: a later pack is charged on its own).
    fn compute(
        &self,
        var: &crate::engine::pack::compiled::CompiledVariable,
        scope: &Context<'_, 'v>,
        costing: Costing<'_>,
    ) -> VariableResult<'v> {
        let Some(id) = var.share_id else {
            return eval_val(&var.expr, scope, costing);
        };
        costing.charge(&var.expr, scope)?;
        let result = run_val(&var.expr, scope);
        let copy = result.as_ref().map(|v| v.clone_as_boxed()).map_err(Clone::clone);
        self.values.borrow_mut().insert(id, copy);
        result
    }
}

/// Computes the needed variables in declaration order; returns the `variables` map and the
/// failures by name. Shared variables come from `shared` when an earlier pack computed them.
pub(crate) fn compute_variables<'v>(
    pack: &CompiledPack,
    needed: &BTreeSet<usize>,
    scope: &Context<'_, 'v>,
    costing: Costing<'_>,
    shared: &SharedVariables<'v>,
) -> (CelMap<'v>, Vec<(String, String)>) {
    let mut values: Vec<Option<Box<dyn Val + 'v>>> = (0..pack.variables.len()).map(|_| None).collect();
    let mut failed: Vec<(String, String)> = Vec::new();
    for &idx in needed {
        let var = &pack.variables[idx];
        if let Some(dep) = var.deps.iter().find(|d| values[**d].is_none()) {
            let name = &pack.variables[*dep].name;
            // The dependency failed earlier (declaration order): carry its reason along.
            let why = failed
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, m)| format!(": {m}"))
                .unwrap_or_default();
            failed.push((
                var.name.clone(),
                format!("it reads variables.{name}, which failed{why}"),
            ));
            continue;
        }
        // A value an earlier pack computed needs no run, but is charged in the scope it would
        // run in (what it reads of other variables is measured there).
        let result = if var.deps.is_empty() {
            shared
                .reused(var, scope, costing)
                .unwrap_or_else(|| shared.compute(var, scope, costing))
        } else {
            let mut inner = scope.new_inner_scope();
            let deps: std::collections::HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = var
                .deps
                .iter()
                .filter_map(|d| {
                    values[*d]
                        .as_ref()
                        .map(|v| (CelMapKey::from(pack.variables[*d].name.clone()), v.clone()))
                })
                .collect();
            inner.add_variable_as_val("variables", Box::new(CelMap::from(deps)));
            shared
                .reused(var, &inner, costing)
                .unwrap_or_else(|| shared.compute(var, &inner, costing))
        };
        match result {
            Ok(v) => values[idx] = Some(v),
            Err(e) => failed.push((var.name.clone(), e.describe("expression", &var.expr.source))),
        }
    }
    let map: std::collections::HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = values
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (CelMapKey::from(pack.variables[i].name.clone()), v)))
        .collect();
    (CelMap::from(map), failed)
}

/// The items a `forEach` JSONPath matched, each with its pointer, or why the query failed.
pub(crate) type ForEachMatches<'v> = Rc<Result<Vec<(&'v serde_json::Value, std::sync::Arc<str>)>, String>>;

/// The matches of each `forEach` JSONPath on the document, computed once per pass: rules of
/// several packs often walk the same path.
#[derive(Default)]
pub(crate) struct ForEachCache<'v> {
    entries: std::cell::RefCell<HashMap<String, ForEachMatches<'v>>>,
}

impl<'v> ForEachCache<'v> {
    pub(super) fn matches(
        &self,
        source: &str,
        query: &jsonpath_rust::parser::model::JpQuery,
        object: &'v serde_json::Value,
    ) -> ForEachMatches<'v> {
        if let Some(hit) = self.entries.borrow().get(source) {
            return Rc::clone(hit);
        }
        let computed = Rc::new(
            jsonpath_rust::query::js_path_process(query, object)
                .map(|refs| {
                    refs.into_iter()
                        .map(|m| (m.val, std::sync::Arc::from(normalized_path_to_pointer(&m.path))))
                        .collect()
                })
                .map_err(|e| e.to_string()),
        );
        self.entries
            .borrow_mut()
            .insert(source.to_owned(), Rc::clone(&computed));
        computed
    }
}

/// The results of the shared rule expressions ([`CompiledExpr::share_id`](crate::engine::cel::compile::CompiledExpr::share_id)) evaluated so far in
/// one pass, by share id and `forEach` item: a later pack's rule that asks the same of the same
/// item reuses them (charged as if it ran). Refusals for cost are never stored: they depend on
/// the meter, not on the expression.
#[derive(Default)]
pub(crate) struct SharedResults {
    pub(super) bools: ResultMemo<bool>,
    pub(super) values: ResultMemo<Value>,
}

/// Results by (share id, item address).
pub(super) type ResultMemo<T> = std::cell::RefCell<HashMap<(usize, usize), Result<T, ExprFailure>>>;

impl SharedResults {
    /// The stored result of `key`, or `run`'s, stored.
    pub(super) fn get_or_run<T: Clone>(
        map: &ResultMemo<T>,
        key: (usize, usize),
        run: impl FnOnce() -> Result<T, ExprFailure>,
    ) -> Result<T, ExprFailure> {
        if let Some(known) = map.borrow().get(&key) {
            return known.clone();
        }
        let result = run();
        if !result.as_ref().is_err_and(ExprFailure::is_cost) {
            map.borrow_mut().insert(key, result.clone());
        }
        result
    }
}
