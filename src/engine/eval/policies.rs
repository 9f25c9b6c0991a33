//! One admission policy against one input, as the apiserver runs it: the policy's constraints,
//! then per binding its own match, its param objects (the policy runs once per param), the match
//! conditions, the validations (or mutations) and the audit annotations; failures follow the
//! policy's `failurePolicy` and the binding's `validationActions`.

use crate::engine::facts::decision::StatusReason;
use std::collections::BTreeSet;
use std::sync::Arc;

use cel::{Context, Value};

use crate::engine::cel::json_val::json_view;
use crate::engine::cel::value::value_to_json;
use crate::engine::eval::programs::{Programs, SharedValues};
use crate::engine::eval::{
    compute_variables, program_roots, Costing, ExprFailure, Finding, ForEachCache, Interpreter, PackScope, Pass,
    RuleContext, SharedResults, SharedVariables,
};
use crate::engine::facts::decision::Action;
use crate::engine::facts::decision::FindingType;
use crate::engine::facts::input::Input;
use crate::engine::pack::admission::matching::RequestView;
use crate::engine::pack::admission::params::{resolve, ParamStore, Resolved};
use crate::engine::pack::admission::{CompiledAdmission, CompiledBinding, PolicyKind};
use crate::engine::pack::compiled::{CompiledPack, CompiledRule};
use crate::engine::pack::patch::PatchBuilder;
use crate::engine::vap::jsonpatch::ops_from_json;
use crate::engine::vap::{FailurePolicy, ParamNotFoundAction, ValidationAction};

static NULL: serde_json::Value = serde_json::Value::Null;

/// A policy pack and the rules of it that apply (all of them: the policy matches by itself).
pub(crate) struct Policy<'a> {
    pub pack: &'a CompiledPack,
    pub admission: &'a CompiledAdmission,
    pub rules: &'a [&'a Arc<CompiledRule>],
    /// `--bind-all`: run a policy that has no binding as if bound by [`crate::engine::vap::implied_binding`].
    pub bind_all: bool,
    /// Run expressions on their compiled programs (false: the interpreter only, the reference).
    pub compiled: bool,
}

/// One (binding, param) evaluation in progress.
struct Run<'a, 'p, 'v> {
    policy: &'a Policy<'a>,
    binding: &'a CompiledBinding,
    ctx: RuleContext<'a, 'p, 'v>,
}

impl Policy<'_> {
    /// Evaluates the policy for `input` (with `object` as the document) and adds its findings,
    /// evaluated rules and audit annotations to `pass`.
    pub(crate) fn run<'v>(
        &self,
        root: &Context<'_, 'v>,
        costing: Costing<'_>,
        input: &'v Input,
        object: &'v serde_json::Value,
        extra_params: &'v ParamStore,
        pass: &mut Pass,
    ) where
        Self: 'v,
    {
        let facts = RequestView::of(input);
        if !self.admission.constraints.matches(&facts, input) {
            return;
        }
        let implied = (self.bind_all && self.admission.bindings.is_empty()).then(crate::engine::vap::implied_binding);
        for binding in self.admission.bindings.iter().chain(implied.as_ref()) {
            if binding.resources.as_ref().is_some_and(|m| !m.matches(&facts, input)) {
                continue;
            }
            let stores: [&'v ParamStore; 2] = [&self.admission.params, extra_params];
            let params: Vec<&'v serde_json::Value> = match resolve(
                &stores,
                self.admission.param_kind.as_ref(),
                binding.param_ref.as_ref(),
                &facts,
            ) {
                Resolved::NoParams => vec![&NULL],
                Resolved::NotFound(searched) => {
                    if binding.not_found == ParamNotFoundAction::Deny {
                        let kind = self.admission.param_kind.as_ref().map_or("", |k| k.kind.as_str());
                        self.policy_failure(
                            binding,
                            &format!(
                                "no {kind} params found for policy binding with `Deny` parameterNotFoundAction: {searched}"
                            ),
                            pass,
                        );
                    }
                    continue;
                }
                Resolved::Found(found) => found,
                Resolved::Misconfigured(why) => {
                    self.policy_failure(
                        binding,
                        &format!("binding is misconfigured for this request: {why}"),
                        pass,
                    );
                    continue;
                }
            };
            for param in params {
                self.run_once(root, costing, binding, param, object, pass);
            }
        }
    }

    fn run_once<'v>(
        &self,
        root: &Context<'_, 'v>,
        costing: Costing<'_>,
        binding: &CompiledBinding,
        param: &'v serde_json::Value,
        object: &'v serde_json::Value,
        pass: &mut Pass,
    ) where
        Self: 'v,
    {
        let costing = costing.with_params(param);
        let needed: BTreeSet<usize> = self
            .admission
            .variables
            .iter()
            .chain(self.rules.iter().flat_map(|r| r.variables.iter()))
            .copied()
            .collect();
        // Each param runs with its own variables: nothing is shared between runs.
        let shared_values = SharedValues::default();
        let programs = self
            .compiled
            .then(|| Programs::new(self.pack, program_roots(&costing.roots), costing.meter, &shared_values));
        let pack = self.pack;
        let scope = PackScope::lazy(programs, move || {
            let mut scope = root.new_inner_scope();
            scope.add_variable_as_val("params", json_view(param));
            let (variables, failed) = compute_variables(pack, &needed, &scope, costing, &SharedVariables::default());
            scope.add_variable_as_val("variables", Box::new(variables));
            Interpreter { scope, failed }
        });
        let for_each = ForEachCache::default();
        // An admission policy's expressions are never shared (no share ids): nothing is stored.
        let results = SharedResults::default();
        let run = Run {
            policy: self,
            binding,
            ctx: RuleContext {
                for_each: &for_each,
                results: &results,
                scope: &scope,
                costing,
                object,
            },
        };
        if !run.conditions_hold(pass) {
            return;
        }
        for (index, rule) in self.rules.iter().enumerate() {
            pass.evaluated.push(Arc::clone(&rule.labels.rule));
            let mut found = Vec::new();
            match self.admission.kind {
                PolicyKind::Validating => run.ctx.evaluate_rule(rule, &mut found),
                PolicyKind::Mutating => {
                    let apply = self.admission.apply_configurations.get(index).copied().unwrap_or(false);
                    found.extend(run.mutate(rule, apply));
                }
            }
            for finding in found {
                run.enforce(finding, self.admission.reasons.get(index).copied().flatten(), pass);
            }
        }
        run.annotate(pass);
    }

    /// A finding about the policy as a whole (rule id = the policy name), subject to the
    /// failure policy and enforced per the binding's actions.
    fn policy_failure(&self, binding: &CompiledBinding, message: &str, pass: &mut Pass) {
        let Some(template) = self.rules.first() else {
            return;
        };
        // The finding is about the policy: its id is the policy's name.
        let mut finding = Finding::new(
            template,
            FindingType::EvaluationError,
            Action::Deny,
            message.to_owned(),
            String::new(),
        );
        finding.violation.rule = self.admission.policy.as_str().into();
        enforce(self.admission, binding, finding, None, pass);
    }
}

impl Run<'_, '_, '_> {
    fn check(&self, expr: &crate::engine::cel::compile::CompiledExpr) -> Result<bool, ExprFailure> {
        self.ctx.document_bool(expr)
    }

    fn value(&self, expr: &crate::engine::cel::compile::CompiledExpr) -> Result<Value, ExprFailure> {
        self.ctx.document_value(expr)
    }

    /// `matchConditions`: any false skips the policy; otherwise any error is a failure.
    fn conditions_hold(&self, pass: &mut Pass) -> bool {
        let mut errors = Vec::new();
        for (name, expr) in &self.policy.admission.match_conditions {
            match self.check(expr) {
                Ok(true) => {}
                Ok(false) => return false,
                Err(e) => errors.push(e.describe(&format!("matchCondition '{name}'"), &expr.source)),
            }
        }
        if errors.is_empty() {
            return true;
        }
        self.policy.policy_failure(self.binding, &errors.join("; "), pass);
        false
    }

    /// Runs a mutation: a finding with its ops when applying them changes the object, none when
    /// the object already is as the mutation wants it (which is how the engine's second pass
    /// over the mutated object converges).
    fn mutate(&self, rule: &CompiledRule, apply_configuration: bool) -> Option<Finding> {
        let failed = |message: String| {
            Some(Finding::error(
                rule,
                "",
                &format!("{} (mutation {})", message, rule.spec.id),
            ))
        };
        let field = if apply_configuration {
            "applyConfiguration.expression"
        } else {
            "jsonPatch.expression"
        };
        let value = match self.value(&rule.validate) {
            Ok(v) => value_to_json(&v),
            Err(e) => return failed(e.describe(field, &rule.validate.source)),
        };
        let ops = if apply_configuration {
            if !value.is_object() {
                return failed(format!("{field} must return an object, got {value}"));
            }
            let merged = crate::engine::vap::apply_config::merge(self.ctx.object, &value);
            crate::engine::vap::apply_config::diff(self.ctx.object, &merged)
        } else {
            match ops_from_json(&value) {
                Ok(ops) => ops,
                Err(e) => return failed(format!("{field} {e}")),
            }
        };
        let mut builder = PatchBuilder::new(self.ctx.object.clone());
        for op in &ops {
            if let Err(e) = builder.apply(&rule.spec.id, op) {
                return failed(format!("the patch does not apply: {e}"));
            }
        }
        if builder.document() == self.ctx.object {
            return None;
        }
        let mut finding = Finding::new(
            rule,
            FindingType::Violation,
            Action::Patch,
            rule.spec.message.clone(),
            String::new(),
        );
        finding.ops = ops;
        Some(finding)
    }

    fn enforce(&self, finding: Finding, reason: Option<StatusReason>, pass: &mut Pass) {
        enforce(self.policy.admission, self.binding, finding, reason, pass);
    }

    /// `auditAnnotations`: a string value is published as `<policy>/<key>`; null publishes
    /// nothing; an error is a failure of the policy.
    fn annotate(&self, pass: &mut Pass) {
        let policy = &self.policy.admission.policy;
        for (key, expr) in &self.policy.admission.audit_annotations {
            match self.value(expr) {
                Ok(Value::String(s)) => {
                    pass.annotations.insert(format!("{policy}/{key}"), s.to_string());
                }
                Ok(Value::Null) => {}
                Ok(other) => self.policy.policy_failure(
                    self.binding,
                    &format!(
                        "auditAnnotation '{key}': valueExpression `{}` must return a string or null, got {}",
                        expr.source,
                        other.type_of()
                    ),
                    pass,
                ),
                Err(e) => self.policy.policy_failure(
                    self.binding,
                    &e.describe(&format!("auditAnnotation '{key}' valueExpression"), &expr.source),
                    pass,
                ),
            }
        }
    }
}

/// Applies the failure policy and the binding's actions to a finding: one finding per action
/// (Deny, Warn, Audit), titled with the binding; an evaluation error under `failurePolicy:
/// Ignore` admits and is kept as an audit record only.
fn enforce(
    admission: &CompiledAdmission,
    binding: &CompiledBinding,
    mut finding: Finding,
    reason: Option<StatusReason>,
    pass: &mut Pass,
) {
    let kind = admission.kind.as_str();
    finding.violation.title = format!("{kind} '{}' with binding '{}'", admission.policy, binding.name).into();
    if finding.violation.action == Action::Patch {
        pass.findings.push(finding);
        return;
    }
    if finding.violation.finding == FindingType::EvaluationError {
        if admission.failure_policy == FailurePolicy::Ignore {
            finding.violation.action = Action::Audit;
            finding.violation.message = format!("ignored (failurePolicy: Ignore): {}", finding.violation.message);
            pass.findings.push(finding);
            return;
        }
    } else {
        finding.violation.reason = reason;
    }
    for action in &binding.actions {
        let mut copy = finding.clone();
        copy.violation.action = match action {
            ValidationAction::Deny => Action::Deny,
            ValidationAction::Warn => Action::Warn,
            ValidationAction::Audit => Action::Audit,
        };
        pass.findings.push(copy);
    }
}
