//! One rule against one document: its variables, `forEach` items, condition, check, message and patch.

use std::sync::Arc;

use cel::common::types::CelString;
use cel::{Context, Value};

use crate::engine::cel::compile::CompiledExpr;
use crate::engine::cel::cost::declared_bound_exceeded;
use crate::engine::cel::expr_eval::{run_bool, run_value};
use crate::engine::cel::expr_eval::{Costing, ExprFailure};
use crate::engine::cel::json_val::json_view;
use crate::engine::cel::value::{push_display, value_to_json};
use crate::engine::facts::decision::Action;
use crate::engine::facts::decision::FindingType;
use crate::engine::pack::compiled::CompiledRule;
use crate::engine::pack::patch::ResolvedOp;

use super::pointers::{join_pointer, resolve_patch_path};
use super::programs::Ran;
use super::scope::PackScope;
use super::shared::{ForEachCache, ResultMemo, SharedResults};
use super::{Finding, MAX_FINDINGS_PER_RULE};

/// Counts the findings of one `forEach` rule by kind, and where the last kept one of each is.
struct Kept {
    /// Per kind (violation, evaluation error): findings seen, index of the last kept one.
    seen: [(usize, Option<usize>); 2],
}

impl Kept {
    fn new(_rule: &CompiledRule) -> Self {
        Kept {
            seen: [(0, None), (0, None)],
        }
    }

    /// Counts one more finding of `kind`; true when it is to be kept (pushed next).
    fn room(&mut self, kind: FindingType, findings: &[Finding]) -> bool {
        let slot = &mut self.seen[usize::from(kind == FindingType::EvaluationError)];
        slot.0 += 1;
        if slot.0 > MAX_FINDINGS_PER_RULE {
            return false;
        }
        slot.1 = Some(findings.len());
        true
    }

    /// Adds the patch operations of a violation left out to the last violation kept.
    fn carry(&self, ops: Vec<ResolvedOp>, findings: &mut [Finding]) {
        if let Some(finding) = self.seen[0].1.and_then(|i| findings.get_mut(i)) {
            finding.ops.extend(ops);
        }
    }

    /// Notes on the last kept finding of each kind how many were left out.
    fn finish(self, findings: &mut [Finding]) {
        for (seen, last) in self.seen {
            let left_out = seen.saturating_sub(MAX_FINDINGS_PER_RULE);
            if let (true, Some(finding)) = (left_out > 0, last.and_then(|i| findings.get_mut(i))) {
                finding
                    .violation
                    .message
                    .push_str(&crate::engine::facts::decision::omitted_note(left_out));
            }
        }
    }
}

/// Where a rule's expressions run: the document, or one `forEach` item with its pointer.
#[derive(Clone, Copy)]
pub(crate) struct Target<'t, 'v> {
    /// The `forEach` item and its pointer, if any.
    pub(crate) item: Option<(&'v serde_json::Value, &'t Arc<str>)>,
}

impl Target<'_, '_> {
    /// The rule's own scope, with no `forEach` item.
    fn document() -> Self {
        Target { item: None }
    }

    /// Tells shared results apart: the item's address (0 without one).
    fn key(&self) -> usize {
        self.item.map_or(0, |(json, _)| std::ptr::from_ref(json).addr())
    }
}

pub(crate) struct RuleContext<'a, 'p, 'v> {
    pub(crate) for_each: &'a ForEachCache<'v>,
    pub(crate) results: &'a SharedResults,
    pub(crate) scope: &'a PackScope<'a, 'p, 'v>,
    pub(crate) costing: Costing<'a>,
    pub(crate) object: &'v serde_json::Value,
}

impl<'a, 'v> RuleContext<'a, '_, 'v> {
    /// The failure of a pack variable `expr` reads, as the interpreter computed them.
    pub(crate) fn variable_failure(&self, expr: &CompiledExpr) -> Option<ExprFailure> {
        self.scope
            .interpreter()
            .failed
            .iter()
            .find(|(name, _)| expr.pack_variables.contains(name))
            .map(|(name, message)| ExprFailure::Variable {
                name: name.clone(),
                message: message.clone(),
            })
    }

    /// Runs `f` in the interpreter's scope at `target` (its item bound).
    fn with_interpreter<R>(&self, target: Target<'_, 'v>, f: impl FnOnce(&Context<'_, 'v>) -> R) -> R {
        let interpreter = &self.scope.interpreter().scope;
        match target.item {
            None => f(interpreter),
            Some((item, pointer)) => {
                let mut scope = interpreter.new_inner_scope();
                scope.add_variable_as_val("item", json_view(item));
                scope.add_variable_as_val("itemPointer", Box::new(CelString::from(pointer.to_string())));
                f(&scope)
            }
        }
    }

    /// The costing of expressions run at `target` (with its `forEach` item, if any).
    fn costing_at(&self, target: Target<'_, 'v>) -> Costing<'a>
    where
        'v: 'a,
    {
        match target.item {
            Some((item, _)) => self.costing.with_item(item),
            None => self.costing,
        }
    }

    /// The refusal when what `rule`'s condition and validation read at `target` is larger
    /// than the input bounds the rule declares (`inputLimits`), or `None`.
    fn declared_bound_exceeded(&self, rule: &CompiledRule, target: Target<'_, 'v>) -> Option<String> {
        if rule.input_limits == crate::engine::cel::cost::InputLimits::default() {
            return None;
        }
        let costing = self.costing_at(target);
        let exprs = || rule.condition.iter().chain(std::iter::once(&rule.validate));
        let measure = |scope: Option<&Context<'_, 'v>>| {
            exprs().map(|e| costing.stats_of(e, scope).doc).fold(
                crate::engine::cel::value::ValueStats::default(),
                crate::engine::cel::value::ValueStats::merge,
            )
        };
        // The interpreter's scope (every variable computed there) only when a pack variable is read.
        let reads_variables = exprs().any(|e| e.reads.paths.iter().any(|p| p.root == "variables"));
        let stats = if reads_variables {
            self.with_interpreter(target, |scope| measure(Some(scope)))
        } else {
            measure(None)
        };
        declared_bound_exceeded(&rule.spec.id, rule.input_limits, stats)
    }

    /// Runs a bool expression of the pack on the document (an admission policy's
    /// `matchConditions`), as rule expressions run (see [`RuleContext::run_expr`]).
    pub(crate) fn document_bool(&self, expr: &CompiledExpr) -> Result<bool, ExprFailure> {
        self.check_bool(expr, Target::document())
    }

    /// Runs a value expression of the pack on the document (an admission policy's mutations
    /// and audit annotations), as rule expressions run.
    pub(crate) fn document_value(&self, expr: &CompiledExpr) -> Result<Value, ExprFailure> {
        self.check_value(expr, Target::document())
    }

    /// Runs a rule's bool expression at `target` (see [`RuleContext::run_expr`]).
    fn check_bool(&self, expr: &CompiledExpr, target: Target<'_, 'v>) -> Result<bool, ExprFailure> {
        self.run_expr(expr, target, &self.results.bools, run_bool, |v| match v {
            crate::engine::cel::compiled::Value::Bool(b) => Some(b),
            _ => None,
        })
    }

    /// Runs a rule's value expression at `target` (template pieces, patch values).
    fn check_value(&self, expr: &CompiledExpr, target: Target<'_, 'v>) -> Result<Value, ExprFailure> {
        self.run_expr(expr, target, &self.results.values, run_value, |v| {
            crate::engine::cel::compiled::convert::to_cel_value(&v).ok()
        })
    }

    /// Runs `expr` at `target`, reusing its shared result in `memo` when an earlier rule
    /// computed it for the same item: its compiled program when it has one (`convert` turns the
    /// value into what the caller wants), else (or to word a failure) the interpreter (`run`).
    fn run_expr<T: Clone>(
        &self,
        expr: &CompiledExpr,
        target: Target<'_, 'v>,
        memo: &ResultMemo<T>,
        run: fn(&CompiledExpr, &Context<'_, 'v>) -> Result<T, ExprFailure>,
        convert: fn(crate::engine::cel::compiled::Value<'v>) -> Option<T>,
    ) -> Result<T, ExprFailure> {
        let compute = || {
            match self.scope.programs.as_ref().and_then(|p| p.run(expr, target.item)) {
                Some(Ran::Value(value)) => {
                    if let Some(converted) = convert(value) {
                        return Ok(converted);
                    }
                }
                Some(Ran::Stopped(stop)) => return Err(ExprFailure::Stopped(stop)),
                Some(Ran::Failed) | None => {}
            }
            self.interpret(expr, target, run)
        };
        match expr.share_id {
            Some(id) => SharedResults::get_or_run(memo, (id, target.key()), compute),
            None => compute(),
        }
    }

    /// Runs `expr` on the interpreter at `target`: a failed pack variable it reads is its
    /// failure; otherwise it is charged its estimate, then run.
    fn interpret<T>(
        &self,
        expr: &CompiledExpr,
        target: Target<'_, 'v>,
        run: fn(&CompiledExpr, &Context<'_, 'v>) -> Result<T, ExprFailure>,
    ) -> Result<T, ExprFailure> {
        if let Some(f) = self.variable_failure(expr) {
            return Err(f);
        }
        let costing = self.costing_at(target);
        self.with_interpreter(target, |scope| {
            costing.charge(expr, scope)?;
            run(expr, scope)
        })
    }

    pub(crate) fn evaluate_rule(&self, rule: &CompiledRule, findings: &mut Vec<Finding>) {
        if let Err(e) = self.costing.meter.check_budget() {
            let message = format!("rule {} not evaluated: {e}", rule.spec.id);
            findings.push(Finding::error(rule, "", &message));
            return;
        }
        if let Some(message) = self.declared_bound_exceeded(rule, Target::document()) {
            findings.push(Finding::error(rule, "", &message));
            return;
        }
        if let Some(condition) = &rule.condition {
            match self.check_bool(condition, Target::document()) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    let message = explain(rule, &e, "condition", &condition.source);
                    findings.push(Finding::error(rule, "", &message));
                    return;
                }
            }
        }
        let Some(queries) = &rule.for_each else {
            self.check_target(rule, Target::document(), "", findings);
            return;
        };
        let mut found = Vec::with_capacity(queries.len());
        for (source, query) in queries {
            let matches = self.for_each.matches(source, query, self.object);
            if let Err(e) = matches.as_ref() {
                findings.push(Finding::error(rule, "", &format!("forEach {source} failed: {e}")));
                return;
            }
            found.push(matches);
        }
        // Every item is checked (the verdict may depend on any of them), but past
        // MAX_FINDINGS_PER_RULE findings of one kind only counted: a document with 100 000
        // containers must not become 100 000 rendered findings.
        let mut kept = Kept::new(rule);
        for (value, pointer) in found.iter().filter_map(|m| m.as_ref().as_ref().ok()).flatten() {
            let target = Target {
                item: Some((*value, pointer)),
            };
            if let Some(message) = self.declared_bound_exceeded(rule, target) {
                if kept.room(FindingType::EvaluationError, findings) {
                    findings.push(Finding::error(rule, pointer, &message));
                }
                continue;
            }
            match self.check_bool(&rule.validate, target) {
                Ok(true) => {}
                Ok(false) => {
                    if kept.room(FindingType::Violation, findings) {
                        findings.push(self.violation_finding(rule, target, pointer));
                    } else if rule.spec.action == Action::Patch {
                        // Its part of the patch rides on the last finding kept; a fix that
                        // cannot be computed is a finding of its own.
                        match self.resolve_ops(rule, target, pointer) {
                            Ok(ops) => kept.carry(ops, findings),
                            Err(_) => findings.push(self.violation_finding(rule, target, pointer)),
                        }
                    }
                }
                Err(e) => {
                    if kept.room(FindingType::EvaluationError, findings) {
                        let message = explain(rule, &e, "validate", &rule.validate.source);
                        findings.push(Finding::error(rule, pointer, &message));
                    }
                }
            }
        }
        kept.finish(findings);
    }

    /// Checks `validate` in `scope`; `base` is the pointer of the `forEach` item (`""` without).
    fn check_target(&self, rule: &CompiledRule, target: Target<'_, 'v>, base: &str, findings: &mut Vec<Finding>) {
        match self.check_bool(&rule.validate, target) {
            Ok(true) => {}
            Ok(false) => findings.push(self.violation_finding(rule, target, base)),
            Err(e) => {
                let message = explain(rule, &e, "validate", &rule.validate.source);
                findings.push(Finding::error(rule, base, &message));
            }
        }
    }

    fn render(&self, template: &crate::engine::pack::template::Template, target: Target<'_, 'v>) -> String {
        template.render(|expr, out| match self.check_value(expr, target) {
            Ok(v) => push_display(&v, out),
            Err(e) => {
                out.push_str("<error: ");
                out.push_str(&e.describe("expression", &expr.source));
                out.push('>');
            }
        })
    }

    fn violation_finding(&self, rule: &CompiledRule, target: Target<'_, 'v>, base: &str) -> Finding {
        let mut message = self.render(&rule.message, target);
        if let Some(expr) = &rule.message_expression {
            if let Ok(Value::String(s)) = self.check_value(expr, target) {
                if !s.trim().is_empty() {
                    s.as_str().clone_into(&mut message);
                }
            }
        }
        let pointer = match &rule.pointer {
            Some(t) => join_pointer(base, &self.render(t, target)),
            None => base.to_owned(),
        };
        let mut finding = Finding::new(rule, FindingType::Violation, rule.spec.action, message, pointer);
        if rule.spec.action == Action::Patch {
            match self.resolve_ops(rule, target, base) {
                Ok(ops) => finding.ops = ops,
                Err(message) => {
                    finding.violation.finding = FindingType::EvaluationError;
                    finding.violation.action = Action::Deny;
                    finding.violation.message = format!(
                        "{}; the fix could not be computed: {message}",
                        finding.violation.message
                    );
                }
            }
        }
        finding
    }

    fn resolve_ops(&self, rule: &CompiledRule, target: Target<'_, 'v>, base: &str) -> Result<Vec<ResolvedOp>, String> {
        let mut ops = Vec::with_capacity(rule.patch.len());
        for op in &rule.patch {
            let raw = self.render(&op.path, target);
            let path = resolve_patch_path(base, &raw);
            let from = op.from.as_ref().map(|f| resolve_patch_path(base, f));
            let value = match (&op.value, &op.value_expression) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(expr)) => {
                    let v = self
                        .check_value(expr, target)
                        .map_err(|e| e.describe("valueExpression", &expr.source))?;
                    Some(value_to_json(&v))
                }
                (None, None) => None,
            };
            ops.push(ResolvedOp {
                op: op.op,
                path,
                from,
                value,
            });
        }
        Ok(ops)
    }
}

/// The message of a failed expression of `rule`; a refusal for cost names the rule.
pub(crate) fn explain(rule: &CompiledRule, failure: &ExprFailure, field: &str, source: &str) -> String {
    let message = failure.describe(field, source);
    if failure.is_cost() {
        format!("rule {}: {message}", rule.spec.id)
    } else {
        message
    }
}
