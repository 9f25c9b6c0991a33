//! Compiling what every admission policy has: name and annotations, `matchConstraints`,
//! `variables`, `matchConditions`, and the rules its validations or mutations become.

use std::collections::BTreeSet;
use std::sync::Arc;

use cel::Env;

use super::convert::compile_cel;
use crate::engine::cel::compile::CompiledExpr;
use crate::engine::facts::decision::{Action, Severity};
use crate::engine::pack::admission::matching::CompiledMatch;
use crate::engine::pack::admission::model::{
    FailurePolicy, MatchCondition, MatchResources, Metadata, ParamKind, Variable,
};
use crate::engine::pack::admission::params::ParamStore;
use crate::engine::pack::admission::{CompiledAdmission, PolicyKind};
use crate::engine::pack::compiled::{CompiledPack, CompiledRule, CompiledVariable, PackKind, RuleLabels};
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

/// What a policy is compiled among: the CEL environment, its document, and the packs and
/// policies loaded before it (whose names it may not take).
pub(super) struct PolicySite<'a> {
    pub(super) env: &'a Env,
    pub(super) ctx: &'a DocContext<'a>,
    pub(super) packs: &'a [CompiledPack],
    pub(super) policies: &'a [(CompiledPack, CompiledAdmission)],
}

/// The fields of a policy document every kind has, as [`common`] compiles them.
pub(super) struct PolicyHeader<'a> {
    pub(super) kind: PolicyKind,
    pub(super) metadata: &'a Metadata,
    pub(super) match_constraints: Option<MatchResources>,
    pub(super) variables: &'a [Variable],
    pub(super) match_conditions: &'a [MatchCondition],
    pub(super) param_kind: Option<ParamKind>,
    pub(super) failure_policy: Option<FailurePolicy>,
}

/// The shared part of a policy: its name checked, constraints, annotations, variables and match
/// conditions compiled; `None` when any of it has an error (recorded in `errors`).
pub(super) fn common(site: &PolicySite<'_>, header: PolicyHeader<'_>, errors: &mut Vec<PackError>) -> Option<Common> {
    let before = errors.len();
    let ctx = site.ctx;
    let metadata = header.metadata;
    let name = metadata.name.clone();
    let subject = format!("{} '{name}'", header.kind.as_str());
    check_name(site, &name, &subject, errors);
    let constraints = constraints(ctx, &subject, header.match_constraints, errors);
    let severity = severity(ctx, &subject, metadata, errors);
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
    let mut pack = empty_pack(ctx, &name, header.kind);
    compile_variables(site, &subject, header.variables, &mut pack, errors);
    let conditions = match_conditions(site, &subject, header.match_conditions, &pack, errors);
    let constraints = constraints?;
    if errors.len() != before {
        return None;
    }
    let remediation = metadata.annotations.get(super::REMEDIATION_ANNOTATION).cloned();
    let rationale = metadata.annotations.get(super::RATIONALE_ANNOTATION).cloned();
    Some(Common {
        admission: CompiledAdmission {
            kind: header.kind,
            policy: name,
            constraints,
            param_kind: header.param_kind,
            failure_policy: header.failure_policy.unwrap_or_default(),
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

/// The policy's name: not empty, nor taken by a rule pack or another policy.
fn check_name(site: &PolicySite<'_>, name: &str, subject: &str, errors: &mut Vec<PackError>) {
    let ctx = site.ctx;
    if name.trim().is_empty() {
        errors.push(ctx.invalid("/metadata", subject.to_owned(), "metadata.name", PackErrorKind::Empty));
    }
    if let Some(other) = site.packs.iter().find(|p| p.metadata.name == name) {
        errors.push(ctx.invalid(
            "/metadata/name",
            subject.to_owned(),
            "metadata.name",
            PackErrorKind::NameOfRulePack {
                origins: other.origins.join(", "),
            },
        ));
    }
    if let Some((other, _)) = site.policies.iter().find(|(p, _)| p.metadata.name == name) {
        errors.push(ctx.invalid(
            "/metadata/name",
            subject.to_owned(),
            "metadata.name",
            PackErrorKind::PolicyDefinedTwice {
                origins: other.origins.join(", "),
            },
        ));
    }
}

/// `spec.matchConstraints`, which must be there with resource rules.
fn constraints(
    ctx: &DocContext<'_>,
    subject: &str,
    match_constraints: Option<MatchResources>,
    errors: &mut Vec<PackError>,
) -> Option<CompiledMatch> {
    let (pointer, field, kind) = match match_constraints {
        None => ("/spec", "spec.matchConstraints", PackErrorKind::NoMatchConstraints),
        Some(m) if m.resource_rules.is_empty() => (
            "/spec/matchConstraints",
            "spec.matchConstraints.resourceRules",
            PackErrorKind::NoResourceRules,
        ),
        Some(m) => match CompiledMatch::new(m, true) {
            Ok(compiled) => return Some(compiled),
            Err(e) => (
                "/spec/matchConstraints",
                "spec.matchConstraints",
                PackErrorKind::MatchResources(e),
            ),
        },
    };
    errors.push(ctx.invalid(pointer, subject.to_owned(), field, kind));
    None
}

/// The severity annotation (high when absent).
fn severity(ctx: &DocContext<'_>, subject: &str, metadata: &Metadata, errors: &mut Vec<PackError>) -> Severity {
    match metadata.annotations.get(super::SEVERITY_ANNOTATION).map(String::as_str) {
        Some("low") => Severity::Low,
        Some("medium") => Severity::Medium,
        None | Some("high") => Severity::High,
        Some("critical") => Severity::Critical,
        Some(other) => {
            errors.push(ctx.invalid(
                "/metadata/annotations",
                subject.to_owned(),
                super::SEVERITY_ANNOTATION,
                PackErrorKind::BadSeverity {
                    value: other.to_owned(),
                },
            ));
            Severity::High
        }
    }
}

/// The pack a policy becomes, before its variables and rules are added.
fn empty_pack(ctx: &DocContext<'_>, name: &str, kind: PolicyKind) -> CompiledPack {
    CompiledPack {
        metadata: PackMetadata {
            name: name.to_owned(),
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
        coverage: crate::engine::pack::programs::Coverage::default(),
        reads: crate::engine::pack::compiled::RootReads::default(),
    }
}

/// `spec.variables`, compiled into `pack` in order (each may read the ones before it).
fn compile_variables(
    site: &PolicySite<'_>,
    subject: &str,
    variables: &[Variable],
    pack: &mut CompiledPack,
    errors: &mut Vec<PackError>,
) {
    let ctx = site.ctx;
    for (i, var) in variables.iter().enumerate() {
        let pointer = format!("/spec/variables/{i}");
        let field = format!("spec.variables[{i}]");
        let problem = if !crate::engine::pack::load::is_cel_identifier(&var.name) {
            Some(PackErrorKind::VariableName { name: var.name.clone() })
        } else if pack.variables.iter().any(|v| v.name == var.name) {
            Some(PackErrorKind::VariableTwice { name: var.name.clone() })
        } else {
            None
        };
        if let Some(kind) = problem {
            errors.push(ctx.invalid(&pointer, subject.to_owned(), &field, kind));
            continue;
        }
        let expression_field = format!("{field}.expression");
        let Some(expr) = compile_cel(
            site.env,
            ctx,
            &pointer,
            subject,
            &expression_field,
            &var.expression,
            errors,
        ) else {
            continue;
        };
        let deps = variable_dependencies(ctx, &pointer, subject, &field, &expr, pack, errors);
        pack.variables.push(CompiledVariable {
            name: var.name.clone(),
            expr,
            deps,
            input_limits: crate::engine::cel::cost::InputLimits::default(),
            share_id: None,
            reads: crate::engine::cel::cost::reads::VariableReads::default(),
        });
    }
}

/// `spec.matchConditions`, named uniquely, each with its compiled expression.
fn match_conditions(
    site: &PolicySite<'_>,
    subject: &str,
    match_conditions: &[MatchCondition],
    pack: &CompiledPack,
    errors: &mut Vec<PackError>,
) -> Vec<(String, CompiledExpr)> {
    let ctx = site.ctx;
    let mut conditions: Vec<(String, CompiledExpr)> = Vec::new();
    for (i, condition) in match_conditions.iter().enumerate() {
        let pointer = format!("/spec/matchConditions/{i}");
        let field = format!("spec.matchConditions[{i}]");
        if condition.name.trim().is_empty() || conditions.iter().any(|(n, _)| n == &condition.name) {
            errors.push(ctx.invalid(
                &pointer,
                subject.to_owned(),
                &field,
                PackErrorKind::ConditionName {
                    name: condition.name.clone(),
                },
            ));
            continue;
        }
        let expression_field = format!("{field}.expression");
        if let Some(expr) = compile_cel(
            site.env,
            ctx,
            &pointer,
            subject,
            &expression_field,
            &condition.expression,
            errors,
        ) {
            variable_dependencies(ctx, &pointer, subject, &field, &expr, pack, errors);
            conditions.push((condition.name.clone(), expr));
        }
    }
    conditions
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
    let spec = RuleSpec {
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
    };
    Some(CompiledRule {
        labels: RuleLabels::new(&common.pack.metadata.name, &spec),
        spec,
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
