//! Compiling what every admission policy has: name and annotations, `matchConstraints`,
//! `variables`, `matchConditions`, and the rules its validations or mutations become.

use std::collections::BTreeSet;
use std::sync::Arc;

use cel::Env;

use super::convert::compile_cel;
use crate::engine::cel::compile::CompiledExpr;
use crate::engine::facts::decision::{Action, Severity};
use crate::engine::pack::admission::matching::CompiledMatch;
use crate::engine::pack::admission::model::{FailurePolicy, Metadata, Variable};
use crate::engine::pack::admission::params::ParamStore;
use crate::engine::pack::admission::{CompiledAdmission, PolicyKind};
use crate::engine::pack::compiled::{CompiledPack, CompiledRule, CompiledVariable, PackKind};
use crate::engine::pack::error::{PackError, PackErrorKind};
use crate::engine::pack::load::{variable_dependencies, DocContext};
use crate::engine::pack::select::Matcher;
use crate::engine::pack::template::{Segment, Template};
use crate::engine::pack::{MatchSpec, OnError, PackMetadata, RuleSpec};

/// What a policy of either kind shares: header checks, constraints, variables, conditions.
pub(super) struct Common {
    pub(super) pack: CompiledPack,
    pub(super) admission: CompiledAdmission,
    pub(super) severity: Severity,
    pub(super) controls: Vec<String>,
    pub(super) remediation: Option<String>,
    pub(super) rationale: Option<String>,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn common(
    env: &Env,
    ctx: &DocContext<'_>,
    kind: PolicyKind,
    metadata: &Metadata,
    match_constraints: Option<crate::engine::pack::admission::model::MatchResources>,
    variables: &[Variable],
    match_conditions: &[crate::engine::pack::admission::model::MatchCondition],
    param_kind: Option<crate::engine::pack::admission::model::ParamKind>,
    failure_policy: Option<FailurePolicy>,
    packs: &[CompiledPack],
    policies: &[(CompiledPack, CompiledAdmission)],
    errors: &mut Vec<PackError>,
) -> Option<Common> {
    let before = errors.len();
    let name = metadata.name.clone();
    let subject = format!("{} '{name}'", kind.as_str());
    if name.trim().is_empty() {
        errors.push(ctx.invalid("/metadata", subject.clone(), "metadata.name", PackErrorKind::Empty));
    }
    if let Some(other) = packs.iter().find(|p| p.metadata.name == name) {
        errors.push(ctx.invalid(
            "/metadata/name",
            subject.clone(),
            "metadata.name",
            PackErrorKind::NameOfRulePack {
                origins: other.origins.join(", "),
            },
        ));
    }
    if let Some((other, _)) = policies.iter().find(|(p, _)| p.metadata.name == name) {
        errors.push(ctx.invalid(
            "/metadata/name",
            subject.clone(),
            "metadata.name",
            PackErrorKind::PolicyDefinedTwice {
                origins: other.origins.join(", "),
            },
        ));
    }
    let constraints = match match_constraints {
        None => {
            errors.push(ctx.invalid(
                "/spec",
                subject.clone(),
                "spec.matchConstraints",
                PackErrorKind::NoMatchConstraints,
            ));
            None
        }
        Some(m) if m.resource_rules.is_empty() => {
            errors.push(ctx.invalid(
                "/spec/matchConstraints",
                subject.clone(),
                "spec.matchConstraints.resourceRules",
                PackErrorKind::NoResourceRules,
            ));
            None
        }
        Some(m) => CompiledMatch::new(m, true)
            .map_err(|e| {
                errors.push(ctx.invalid(
                    "/spec/matchConstraints",
                    subject.clone(),
                    "spec.matchConstraints",
                    PackErrorKind::MatchResources(e),
                ));
            })
            .ok(),
    };
    let severity = match metadata.annotations.get(super::SEVERITY_ANNOTATION).map(String::as_str) {
        Some("low") => Severity::Low,
        Some("medium") => Severity::Medium,
        None | Some("high") => Severity::High,
        Some("critical") => Severity::Critical,
        Some(other) => {
            errors.push(ctx.invalid(
                "/metadata/annotations",
                subject.clone(),
                super::SEVERITY_ANNOTATION,
                PackErrorKind::BadSeverity {
                    value: other.to_owned(),
                },
            ));
            Severity::High
        }
    };
    let controls = metadata
        .annotations
        .get(super::CONTROLS_ANNOTATION)
        .map(|c| {
            c.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut pack = CompiledPack {
        metadata: PackMetadata {
            name: name.clone(),
            version: "0.0.0".to_owned(),
            framework: Some(format!("Kubernetes {}", kind.as_str())),
            description: None,
        },
        origins: vec![ctx.file.to_owned()],
        params: serde_json::Value::Null,
        variables: Vec::new(),
        rules: Vec::new(),
        kind: PackKind::Rules,
        params_to_configure: crate::engine::pack::placeholders::ParamsToConfigure::default(),
        retired_rules: std::collections::BTreeMap::new(),
    };
    for (i, var) in variables.iter().enumerate() {
        let pointer = format!("/spec/variables/{i}");
        let field = format!("spec.variables[{i}]");
        if !crate::engine::pack::load::is_cel_identifier(&var.name) {
            errors.push(ctx.invalid(
                &pointer,
                subject.clone(),
                &field,
                PackErrorKind::VariableName { name: var.name.clone() },
            ));
            continue;
        }
        if pack.variables.iter().any(|v| v.name == var.name) {
            errors.push(ctx.invalid(
                &pointer,
                subject.clone(),
                &field,
                PackErrorKind::VariableTwice { name: var.name.clone() },
            ));
            continue;
        }
        let Some(expr) = compile_cel(
            env,
            ctx,
            &pointer,
            &subject,
            &format!("{field}.expression"),
            &var.expression,
            errors,
        ) else {
            continue;
        };
        let deps = variable_dependencies(ctx, &pointer, &subject, &field, &expr, &pack, errors);
        pack.variables.push(CompiledVariable {
            name: var.name.clone(),
            expr,
            deps,
            input_limits: crate::engine::cel::cost::InputLimits::default(),
            share_id: None,
            reads: crate::engine::cel::cost::reads::VariableReads::default(),
        });
    }
    let mut conditions = Vec::new();
    for (i, condition) in match_conditions.iter().enumerate() {
        let pointer = format!("/spec/matchConditions/{i}");
        let field = format!("spec.matchConditions[{i}]");
        if condition.name.trim().is_empty() || conditions.iter().any(|(n, _)| n == &condition.name) {
            errors.push(ctx.invalid(
                &pointer,
                subject.clone(),
                &field,
                PackErrorKind::ConditionName {
                    name: condition.name.clone(),
                },
            ));
            continue;
        }
        if let Some(expr) = compile_cel(
            env,
            ctx,
            &pointer,
            &subject,
            &format!("{field}.expression"),
            &condition.expression,
            errors,
        ) {
            variable_dependencies(ctx, &pointer, &subject, &field, &expr, &pack, errors);
            conditions.push((condition.name.clone(), expr));
        }
    }
    let constraints = constraints?;
    if errors.len() != before {
        return None;
    }
    let remediation = metadata.annotations.get(super::REMEDIATION_ANNOTATION).cloned();
    let rationale = metadata.annotations.get(super::RATIONALE_ANNOTATION).cloned();
    Some(Common {
        admission: CompiledAdmission {
            kind,
            policy: name,
            constraints,
            param_kind,
            failure_policy: failure_policy.unwrap_or_default(),
            match_conditions: conditions,
            audit_annotations: Vec::new(),
            reasons: Vec::new(),
            apply_configurations: Vec::new(),
            variables: Vec::new(),
            bindings: Vec::new(),
            params: Arc::new(ParamStore::default()),
        },
        pack,
        severity,
        controls,
        remediation,
        rationale,
    })
}

/// Every variable `exprs` read, with what those read in turn.
pub(super) fn transitive(pack: &CompiledPack, exprs: &[&CompiledExpr]) -> Vec<usize> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<usize> = exprs
        .iter()
        .flat_map(|e| e.pack_variables.iter())
        .filter_map(|name| pack.variables.iter().position(|v| &v.name == name))
        .collect();
    if exprs.iter().any(|e| e.reads_all_variables()) {
        todo.extend(0..pack.variables.len());
    }
    while let Some(idx) = todo.pop() {
        if out.insert(idx) {
            todo.extend(pack.variables[idx].deps.iter().copied());
        }
    }
    out.into_iter().collect()
}

/// A rule of an admission pack: it applies to every request (the policy's own matching runs
/// before it), with a literal message.
pub(super) fn rule(
    common: &Common,
    origin: &str,
    id: String,
    validate: CompiledExpr,
    message: String,
    extra: RuleExtra,
) -> Option<CompiledRule> {
    let matcher = Matcher::new(&MatchSpec {
        operations: vec!["*".to_owned()],
        ..MatchSpec::default()
    })
    .ok()?;
    let variables = transitive(
        &common.pack,
        &[Some(&validate), extra.message_expression.as_ref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
    );
    Some(CompiledRule {
        spec: RuleSpec {
            id,
            title: format!("{} '{}'", common.admission.kind.as_str(), common.admission.policy),
            controls: common.controls.clone(),
            severity: common.severity,
            match_: MatchSpec::default(),
            condition: None,
            for_each: None,
            validate: validate.source.clone(),
            message: message.clone(),
            message_expression: extra.message_expression.as_ref().map(|e| e.source.clone()),
            remediation: common.remediation.clone().unwrap_or_else(|| message.clone()),
            rationale: common.rationale.clone(),
            pointer: None,
            action: extra.action,
            on_error: Some(OnError::Deny),
            patch: Vec::new(),
            input_limits: None,
            changed_in: None,
        },
        origin: origin.to_owned(),
        matcher,
        condition: None,
        for_each: None,
        validate,
        message: Template {
            segments: vec![Segment::Literal(message)],
        },
        message_expression: extra.message_expression,
        pointer: None,
        patch: Vec::new(),
        variables,
        input_limits: crate::engine::cel::cost::InputLimits::default(),
    })
}

pub(super) struct RuleExtra {
    pub(super) message_expression: Option<CompiledExpr>,
    pub(super) action: Action,
}
