//! Evaluating one [`Input`] against compiled packs: one pass over the rules that apply, with the
//! document converted to CEL once and shared by every rule.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use cel::common::types::{CelMap, CelMapKey, CelString};
use cel::common::value::Val;
use cel::{Context, Env, Value};

use super::compile::CompiledExpr;
use super::cost::sizes::{RootDocs, SizeMemo};
use super::cost::{declared_bound_exceeded, CostMeter};
use super::decision::{FindingType, Violation};
pub(crate) use super::expr_eval::{eval_bool, eval_value, Costing, ExprFailure};
use super::expr_eval::{eval_val, run_bool, run_val, run_value};
use super::input::Input;
use super::json_val::json_view;
use super::load::{CompiledPack, CompiledRule};
use super::overrides::{Mode, Overrides};
use super::pack::{Action, OnError};
use super::patch::ResolvedOp;
use super::value::{display_value, value_to_json};

/// A finding plus the patch ops its rule asks for.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub violation: Violation,
    pub ops: Vec<ResolvedOp>,
}

/// Most findings of one kind (violation, evaluation error) one `forEach` rule keeps per pass;
/// the last one kept says how many more there were (see [`super::decision::omitted_note`]).
/// Every item is still checked, so the verdict is the same; for a patching rule, the patch
/// operations of the findings left out are carried by the last one kept.
pub const MAX_FINDINGS_PER_RULE: usize = 100;

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
                    .push_str(&super::decision::omitted_note(left_out));
            }
        }
    }
}

/// Result of one pass over the rules.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    pub findings: Vec<Finding>,
    pub evaluated: Vec<String>,
    /// Audit annotations computed by admission policies (`<policy>/<key>` -> value).
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Evaluates every rule of `packs` that applies to `input`, with `object` as the document.
pub(crate) fn run_rules(
    env: &Arc<Env>,
    packs: &[Arc<CompiledPack>],
    subject: &Subject<'_>,
    object: &serde_json::Value,
    admission_options: super::vap::AdmissionOptions<'_>,
    overrides: &dyn Overrides,
    meter: &CostMeter,
) -> Pass {
    let input = subject.input;
    let mut pass = Pass::default();
    let switched_off = |pack: &CompiledPack, rule: &CompiledRule| {
        overrides
            .mode(&pack.metadata.name, &rule.spec.id)
            .is_some_and(|m| m.mode == Mode::Off)
    };
    let facts = super::select::MatchFacts::of(input);
    let matched: Vec<(&CompiledPack, Vec<&Arc<CompiledRule>>)> = packs
        .iter()
        .map(|p| {
            (
                p.as_ref(),
                p.rules
                    .iter()
                    .filter(|r| r.matcher.matches_facts(&facts) && !switched_off(p, r))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(p, rules)| !rules.is_empty() || p.admission.is_some())
        .collect();
    if matched.is_empty() {
        return pass;
    }
    let derived = subject.derived();
    let params: Vec<Cow<'_, serde_json::Value>> = matched.iter().map(|(p, _)| merged_params(p, input)).collect();

    let mut root = Context::with_env(Arc::clone(env));
    let roots = bind_roots(&mut root, input, object, derived);
    let sizes = SizeMemo::default();

    let for_each = ForEachCache::default();
    let shared = SharedVariables::default();
    let results = SharedResults::default();
    for ((pack, rules), params) in matched.iter().zip(&params) {
        if let Some(admission) = &pack.admission {
            let policy = super::vap::eval::Policy {
                pack,
                admission,
                rules,
                bind_all: admission_options.bind_all,
            };
            let costing = Costing {
                meter,
                sizes: &sizes,
                roots,
                variables: *pack,
            };
            policy.run(&root, costing, input, object, admission_options.params, &mut pass);
            continue;
        }
        let mut scope = root.new_inner_scope();
        scope.add_variable_as_val("params", json_view(params));
        let needed: BTreeSet<usize> = rules.iter().flat_map(|r| r.variables.iter().copied()).collect();
        let costing = Costing {
            meter,
            sizes: &sizes,
            roots: roots.with_params(params),
            variables: *pack,
        };
        let (variables, failed) = compute_variables(pack, &needed, &scope, costing, &shared);
        scope.add_variable_as_val("variables", Box::new(variables));
        let ctx = RuleContext {
            for_each: &for_each,
            results: &results,
            pack,
            scope: &scope,
            costing,
            failed_variables: &failed,
            object,
        };
        for rule in rules {
            pass.evaluated.push(rule.spec.id.clone());
            ctx.evaluate_rule(rule, &mut pass.findings);
        }
    }
    pass
}

/// The pack's params with the input's merged over them (per key); borrowed when the input
/// overrides nothing, which is the common case.
fn merged_params<'a>(pack: &'a CompiledPack, input: &Input) -> Cow<'a, serde_json::Value> {
    if input.params.is_empty() {
        return Cow::Borrowed(&pack.params);
    }
    let mut params = pack.params.as_object().cloned().unwrap_or_default();
    for (k, v) in &input.params {
        params.insert(k.clone(), v.clone());
    }
    Cow::Owned(serde_json::Value::Object(params))
}

/// The input being judged, with the documents derived from it on first use and kept for both
/// passes of a patch.
pub(crate) struct Subject<'a> {
    /// The input.
    pub input: &'a Input,
    derived: std::cell::OnceCell<DerivedDocuments>,
}

impl<'a> Subject<'a> {
    pub(crate) fn new(input: &'a Input) -> Self {
        Subject {
            input,
            derived: std::cell::OnceCell::new(),
        }
    }

    fn derived(&self) -> &DerivedDocuments {
        self.derived.get_or_init(|| DerivedDocuments::of(self.input))
    }
}

/// The JSON documents CEL's `request` and `namespaceObject` are views of, derived from an
/// input once per evaluation (both passes of a patch share them).
pub(crate) struct DerivedDocuments {
    request: serde_json::Value,
    namespace_object: serde_json::Value,
}

impl DerivedDocuments {
    pub(crate) fn of(input: &Input) -> Self {
        DerivedDocuments {
            request: input.request_json(),
            namespace_object: input.namespace_object_json(),
        }
    }
}

static NULL: serde_json::Value = serde_json::Value::Null;

/// Binds `object`, `oldObject`, `request` and `namespaceObject` in `ctx` (every rule's root
/// scope, and `celgate eval`'s), returning the documents bound, for charging cost.
pub(crate) fn bind_roots<'v>(
    ctx: &mut Context<'_, 'v>,
    input: &'v Input,
    object: &'v serde_json::Value,
    derived: &'v DerivedDocuments,
) -> RootDocs<'v> {
    let old_object = input.old_object.as_ref().unwrap_or(&NULL);
    ctx.add_variable_as_val("object", json_view(object));
    ctx.add_variable_as_val("oldObject", json_view(old_object));
    ctx.add_variable_as_val("request", json_view(&derived.request));
    ctx.add_variable_as_val("namespaceObject", json_view(&derived.namespace_object));
    RootDocs {
        object: Some(object),
        old_object: Some(old_object),
        request: Some(&derived.request),
        namespace_object: Some(&derived.namespace_object),
        params: None,
        item: None,
        extra: &[],
    }
}

/// The values of the shared pack variables ([`super::load::CompiledVariable::share_id`])
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
        var: &super::load::CompiledVariable,
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
        var: &super::load::CompiledVariable,
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
pub(super) fn compute_variables<'v>(
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

/// The matches of each `forEach` JSONPath on the document, computed once per pass: rules of
/// several packs often walk the same path.
#[derive(Default)]
pub(super) struct ForEachCache<'v> {
    #[allow(clippy::type_complexity)]
    entries: std::cell::RefCell<HashMap<String, Rc<Result<Vec<(&'v serde_json::Value, String)>, String>>>>,
}

impl<'v> ForEachCache<'v> {
    fn matches(
        &self,
        source: &str,
        query: &jsonpath_rust::parser::model::JpQuery,
        object: &'v serde_json::Value,
    ) -> Rc<Result<Vec<(&'v serde_json::Value, String)>, String>> {
        if let Some(hit) = self.entries.borrow().get(source) {
            return Rc::clone(hit);
        }
        let computed = Rc::new(
            jsonpath_rust::query::js_path_process(query, object)
                .map(|refs| {
                    refs.into_iter()
                        .map(|m| (m.val, normalized_path_to_pointer(&m.path)))
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

/// The results of the shared rule expressions ([`CompiledExpr::share_id`]) evaluated so far in
/// one pass, by share id and `forEach` item: a later pack's rule that asks the same of the same
/// item reuses them (charged as if it ran). Refusals for cost are never stored: they depend on
/// the meter, not on the expression.
#[derive(Default)]
pub(crate) struct SharedResults {
    bools: ResultMemo<bool>,
    values: ResultMemo<Value>,
}

/// Results by (share id, item address).
type ResultMemo<T> = std::cell::RefCell<HashMap<(usize, usize), Result<T, ExprFailure>>>;

impl SharedResults {
    /// The stored result of `key`, or `run`'s, stored.
    fn get_or_run<T: Clone>(
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

/// Where a rule's expressions run: its scope, and the address of the `forEach` item bound in it
/// (0 without one), which tells shared results apart.
#[derive(Clone, Copy)]
pub(super) struct Target<'s, 'p, 'v> {
    pub(super) scope: &'s Context<'p, 'v>,
    pub(super) item: usize,
    /// The `forEach` item bound in `scope`, if any.
    pub(super) item_json: Option<&'v serde_json::Value>,
}

impl<'s, 'p, 'v> Target<'s, 'p, 'v> {
    /// The rule's own scope, with no `forEach` item.
    fn document(scope: &'s Context<'p, 'v>) -> Self {
        Target {
            scope,
            item: 0,
            item_json: None,
        }
    }
}

pub(super) struct RuleContext<'a, 'p, 'v> {
    pub(super) for_each: &'a ForEachCache<'v>,
    pub(super) results: &'a SharedResults,
    pub(super) pack: &'a CompiledPack,
    pub(super) scope: &'a Context<'p, 'v>,
    pub(super) costing: Costing<'a>,
    pub(super) failed_variables: &'a [(String, String)],
    pub(super) object: &'v serde_json::Value,
}

impl<'a, 'v> RuleContext<'a, '_, 'v> {
    pub(super) fn variable_failure(&self, expr: &CompiledExpr) -> Option<ExprFailure> {
        self.failed_variables
            .iter()
            .find(|(name, _)| expr.pack_variables.contains(name))
            .map(|(name, message)| ExprFailure::Variable {
                name: name.clone(),
                message: message.clone(),
            })
    }

    /// The costing of expressions run at `target` (with its `forEach` item, if any).
    fn costing_at(&self, target: Target<'_, '_, 'v>) -> Costing<'a>
    where
        'v: 'a,
    {
        match target.item_json {
            Some(item) => self.costing.with_item(item),
            None => self.costing,
        }
    }

    /// The refusal when what `rule`'s condition and validation read at `target` is larger
    /// than the input bounds the rule declares (`inputLimits`), or `None`.
    fn declared_bound_exceeded(&self, rule: &CompiledRule, target: Target<'_, '_, 'v>) -> Option<String> {
        if rule.input_limits == super::pack::InputLimits::default() {
            return None;
        }
        let costing = self.costing_at(target);
        let stats = rule
            .condition
            .iter()
            .chain(std::iter::once(&rule.validate))
            .map(|e| costing.stats_of(e, target.scope).doc)
            .fold(super::value::ValueStats::default(), super::value::ValueStats::merge);
        declared_bound_exceeded(&rule.spec.id, rule.input_limits, stats)
    }

    /// Runs a rule's bool expression at `target` (see [`RuleContext::run_expr`]).
    fn check_bool(&self, expr: &CompiledExpr, target: Target<'_, '_, 'v>) -> Result<bool, ExprFailure> {
        self.run_expr(expr, target, &self.results.bools, run_bool)
    }

    /// Runs a rule's value expression at `target` (template pieces, patch values).
    fn check_value(&self, expr: &CompiledExpr, target: Target<'_, '_, 'v>) -> Result<Value, ExprFailure> {
        self.run_expr(expr, target, &self.results.values, run_value)
    }

    /// A failed pack variable `expr` reads is its failure; otherwise it is charged, and its
    /// shared result in `memo` is reused when an earlier rule computed it for the same item.
    fn run_expr<T: Clone>(
        &self,
        expr: &CompiledExpr,
        target: Target<'_, '_, 'v>,
        memo: &ResultMemo<T>,
        run: fn(&CompiledExpr, &Context<'_, 'v>) -> Result<T, ExprFailure>,
    ) -> Result<T, ExprFailure> {
        if let Some(f) = self.variable_failure(expr) {
            return Err(f);
        }
        self.costing_at(target).charge(expr, target.scope)?;
        match expr.share_id {
            Some(id) => SharedResults::get_or_run(memo, (id, target.item), || run(expr, target.scope)),
            None => run(expr, target.scope),
        }
    }

    pub(super) fn evaluate_rule(&self, rule: &CompiledRule, findings: &mut Vec<Finding>) {
        if let Err(e) = self.costing.meter.check_budget() {
            let message = format!("rule {} not evaluated: {e}", rule.spec.id);
            findings.push(self.error_finding(rule, "", &message));
            return;
        }
        if let Some(message) = self.declared_bound_exceeded(rule, Target::document(self.scope)) {
            findings.push(self.error_finding(rule, "", &message));
            return;
        }
        if let Some(condition) = &rule.condition {
            match self.check_bool(condition, Target::document(self.scope)) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    let message = explain(rule, &e, "condition", &condition.source);
                    findings.push(self.error_finding(rule, "", &message));
                    return;
                }
            }
        }
        let Some(queries) = &rule.for_each else {
            self.check_target(rule, Target::document(self.scope), "", findings);
            return;
        };
        let mut found = Vec::with_capacity(queries.len());
        for (source, query) in queries {
            let matches = self.for_each.matches(source, query, self.object);
            if let Err(e) = matches.as_ref() {
                findings.push(self.error_finding(rule, "", &format!("forEach {source} failed: {e}")));
                return;
            }
            found.push(matches);
        }
        // Every item is checked (the verdict may depend on any of them), but past
        // MAX_FINDINGS_PER_RULE findings of one kind only counted: a document with 100 000
        // containers must not become 100 000 rendered findings.
        let mut kept = Kept::new(rule);
        for (value, pointer) in found.iter().filter_map(|m| m.as_ref().as_ref().ok()).flatten() {
            let mut scope = self.scope.new_inner_scope();
            scope.add_variable_as_val("item", json_view(value));
            scope.add_variable_as_val("itemPointer", Box::new(CelString::from(pointer.clone())));
            let item = std::ptr::from_ref(*value).addr();
            let target = Target {
                scope: &scope,
                item,
                item_json: Some(*value),
            };
            if let Some(message) = self.declared_bound_exceeded(rule, target) {
                if kept.room(FindingType::EvaluationError, findings) {
                    findings.push(self.error_finding(rule, pointer, &message));
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
                        findings.push(self.error_finding(rule, pointer, &message));
                    }
                }
            }
        }
        kept.finish(findings);
    }

    /// Checks `validate` in `scope`; `base` is the pointer of the `forEach` item (`""` without).
    fn check_target(&self, rule: &CompiledRule, target: Target<'_, '_, 'v>, base: &str, findings: &mut Vec<Finding>) {
        match self.check_bool(&rule.validate, target) {
            Ok(true) => {}
            Ok(false) => findings.push(self.violation_finding(rule, target, base)),
            Err(e) => {
                let message = explain(rule, &e, "validate", &rule.validate.source);
                findings.push(self.error_finding(rule, base, &message));
            }
        }
    }

    fn render(&self, template: &super::template::Template, target: Target<'_, '_, 'v>) -> String {
        template.render(|expr| match self.check_value(expr, target) {
            Ok(v) => display_value(&v),
            Err(e) => format!("<error: {}>", e.describe("expression", &expr.source)),
        })
    }

    fn violation_finding(&self, rule: &CompiledRule, target: Target<'_, '_, 'v>, base: &str) -> Finding {
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
        let mut finding = self.finding(rule, FindingType::Violation, rule.spec.action, message, pointer);
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

    fn resolve_ops(
        &self,
        rule: &CompiledRule,
        target: Target<'_, '_, 'v>,
        base: &str,
    ) -> Result<Vec<ResolvedOp>, String> {
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

    pub(super) fn error_finding(&self, rule: &CompiledRule, pointer: &str, message: &str) -> Finding {
        let action = match rule.spec.error_action() {
            OnError::Deny => Action::Deny,
            OnError::Warn => Action::Warn,
            OnError::Allow => Action::Audit,
        };
        self.finding(
            rule,
            FindingType::EvaluationError,
            action,
            message.to_owned(),
            pointer.to_owned(),
        )
    }

    pub(super) fn finding(
        &self,
        rule: &CompiledRule,
        finding: FindingType,
        action: Action,
        message: String,
        pointer: String,
    ) -> Finding {
        Finding {
            violation: Violation {
                pack: self.pack.metadata.name.clone(),
                rule: rule.spec.id.clone(),
                title: rule.spec.title.clone(),
                controls: rule.spec.controls.clone(),
                severity: rule.spec.severity,
                action,
                finding,
                message,
                pointer,
                rationale: rule.spec.rationale.clone().unwrap_or_default(),
                remediation: rule.spec.remediation.clone(),
                patched: false,
                status_code: None,
                mode: None,
                exception: None,
            },
            ops: Vec::new(),
        }
    }
}

/// The message of a failed expression of `rule`; a refusal for cost names the rule.
pub(super) fn explain(rule: &CompiledRule, failure: &ExprFailure, field: &str, source: &str) -> String {
    let message = failure.describe(field, source);
    if failure.is_cost() {
        format!("rule {}: {message}", rule.spec.id)
    } else {
        message
    }
}

/// `base` + a relative pointer (`/x`), or the relative pointer alone when it is absolute (`$/x`).
fn join_pointer(base: &str, relative: &str) -> String {
    if let Some(absolute) = relative.strip_prefix('$') {
        absolute.to_owned()
    } else {
        format!("{base}{relative}")
    }
}

fn resolve_patch_path(base: &str, raw: &str) -> String {
    join_pointer(base, raw)
}

/// `$['spec']['containers'][0]` -> `/spec/containers/0`: reads an RFC 9535 normalized path (as
/// `jsonpath-rust` reports matches) without a full JSONPath parse.
pub(crate) fn normalized_path_to_pointer(path: &str) -> String {
    let mut pointer = String::with_capacity(path.len());
    let mut chars = path.strip_prefix('$').unwrap_or(path).chars().peekable();
    while let Some(c) = chars.next() {
        if c != '[' {
            continue;
        }
        pointer.push('/');
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\'' => break,
                    '\\' => match chars.next() {
                        Some('b') => pointer.push('\u{8}'),
                        Some('f') => pointer.push('\u{c}'),
                        Some('n') => pointer.push('\n'),
                        Some('r') => pointer.push('\r'),
                        Some('t') => pointer.push('\t'),
                        Some('u') => {
                            let hex: String = chars.by_ref().take(4).collect();
                            if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                                pointer.push(ch);
                            }
                        }
                        Some(other) => pointer.push(other),
                        None => {}
                    },
                    '~' => pointer.push_str("~0"),
                    '/' => pointer.push_str("~1"),
                    other => pointer.push(other),
                }
            }
            // Skip the closing bracket.
            chars.next();
        } else {
            for c in chars.by_ref() {
                if c == ']' {
                    break;
                }
                pointer.push(c);
            }
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_paths_become_pointers() {
        assert_eq!(
            normalized_path_to_pointer("$['spec']['containers'][0]"),
            "/spec/containers/0"
        );
        assert_eq!(normalized_path_to_pointer("$['a/b']['c~d']"), "/a~1b/c~0d");
        assert_eq!(normalized_path_to_pointer("$"), "");
        assert_eq!(normalized_path_to_pointer("$['it\\'s']['a\\\\b'][12]"), "/it's/a\\b/12");
    }

    #[test]
    fn pointer_joining() {
        assert_eq!(join_pointer("/spec/containers/0", "/image"), "/spec/containers/0/image");
        assert_eq!(join_pointer("/spec/containers/0", "$/metadata"), "/metadata");
    }
}
