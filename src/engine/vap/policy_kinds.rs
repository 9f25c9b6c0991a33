//! Compiling the two policy kinds: a `ValidatingAdmissionPolicy`'s validations and audit
//! annotations, a `MutatingAdmissionPolicy`'s JSONPatch mutations.

use std::collections::BTreeSet;
use std::sync::Arc;

use cel::Env;

use super::convert::compile_cel;
use super::policy::{common, rule, transitive, Common, PolicyHeader, PolicySite, RuleExtra};
use crate::engine::cel::compile::CompiledExpr;
use crate::engine::facts::decision::Action;
use crate::engine::pack::admission::model::{
    AuditAnnotation, MutatingPolicySpec, Mutation, PolicyDocument, ValidatingPolicySpec, Validation,
};
use crate::engine::pack::admission::{CompiledAdmission, PolicyKind};
use crate::engine::pack::compiled::{CompiledPack, CompiledRule};
use crate::engine::pack::error::{PackError, PackErrorKind};
use crate::engine::pack::load::variable_dependencies;
use crate::engine::pack::load::DocContext;

pub(super) fn validating_policy(
    env: &Env,
    ctx: &DocContext<'_>,
    doc: PolicyDocument<ValidatingPolicySpec>,
    packs: &[CompiledPack],
    policies: &[(CompiledPack, CompiledAdmission)],
    errors: &mut Vec<PackError>,
) -> Option<(CompiledPack, CompiledAdmission)> {
    let spec = doc.spec;
    let site = PolicySite {
        env,
        ctx,
        packs,
        policies,
    };
    let header = PolicyHeader {
        kind: PolicyKind::Validating,
        metadata: &doc.metadata,
        match_constraints: spec.match_constraints,
        variables: &spec.variables,
        match_conditions: &spec.match_conditions,
        param_kind: spec.param_kind,
        failure_policy: spec.failure_policy,
    };
    let mut common = common(&site, header, errors)?;
    let before = errors.len();
    let subject = format!("ValidatingAdmissionPolicy '{}'", common.admission.policy);
    if spec.validations.is_empty() && spec.audit_annotations.is_empty() {
        errors.push(ctx.invalid(
            "/spec",
            subject.clone(),
            "spec.validations",
            PackErrorKind::NoValidations,
        ));
    }
    let rules = validations(&site, &subject, &spec.validations, &mut common, errors);
    audit_annotations(&site, &subject, &spec.audit_annotations, &mut common, errors);
    if errors.len() != before {
        return None;
    }
    Some(seal(common, rules))
}

/// The rules a validating policy's `validations` become, one each, with their status codes
/// recorded in `common`.
fn validations(
    site: &PolicySite<'_>,
    subject: &str,
    validations: &[Validation],
    common: &mut Common,
    errors: &mut Vec<PackError>,
) -> Vec<CompiledRule> {
    let (env, ctx) = (site.env, site.ctx);
    let policy = common.admission.policy.clone();
    let mut rules = Vec::new();
    for (i, v) in validations.iter().enumerate() {
        let pointer = format!("/spec/validations/{i}");
        let field = format!("spec.validations[{i}]");
        let expression_field = format!("{field}.expression");
        let expr = compile_cel(env, ctx, &pointer, subject, &expression_field, &v.expression, errors);
        let message_expression = v.message_expression.as_ref().and_then(|m| {
            compile_cel(
                env,
                ctx,
                &pointer,
                subject,
                &format!("{field}.messageExpression"),
                m,
                errors,
            )
        });
        for e in [&expr, &message_expression].into_iter().flatten() {
            variable_dependencies(ctx, &pointer, subject, &field, e, &common.pack, errors);
        }
        let message = match v.message.as_deref().map(str::trim) {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ => format!("failed expression: {}", v.expression.trim()),
        };
        if let Some(expr) = expr {
            let extra = RuleExtra {
                message_expression,
                action: Action::Deny,
            };
            if let Some(r) = rule(common, ctx.file, format!("{policy}[{i}]"), expr, message, extra) {
                rules.push(r);
                common.admission.reasons.push(v.reason);
            }
        }
    }
    rules
}

/// A validating policy's `auditAnnotations`, with valid, distinct keys, compiled into `common`.
fn audit_annotations(
    site: &PolicySite<'_>,
    subject: &str,
    annotations: &[AuditAnnotation],
    common: &mut Common,
    errors: &mut Vec<PackError>,
) {
    let ctx = site.ctx;
    let mut keys = BTreeSet::new();
    for (i, a) in annotations.iter().enumerate() {
        let pointer = format!("/spec/auditAnnotations/{i}");
        let field = format!("spec.auditAnnotations[{i}]");
        let valid_key = !a.key.is_empty()
            && a.key.len() <= 63
            && a.key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_key || !keys.insert(a.key.clone()) {
            errors.push(ctx.invalid(
                &pointer,
                subject.to_owned(),
                &format!("{field}.key"),
                PackErrorKind::AnnotationKey { key: a.key.clone() },
            ));
            continue;
        }
        let value_field = format!("{field}.valueExpression");
        if let Some(expr) = compile_cel(
            site.env,
            ctx,
            &pointer,
            subject,
            &value_field,
            &a.value_expression,
            errors,
        ) {
            variable_dependencies(ctx, &pointer, subject, &field, &expr, &common.pack, errors);
            common.admission.audit_annotations.push((a.key.clone(), expr));
        }
    }
}

pub(super) fn mutating_policy(
    env: &Env,
    ctx: &DocContext<'_>,
    doc: PolicyDocument<MutatingPolicySpec>,
    packs: &[CompiledPack],
    policies: &[(CompiledPack, CompiledAdmission)],
    errors: &mut Vec<PackError>,
) -> Option<(CompiledPack, CompiledAdmission)> {
    let spec = doc.spec;
    let site = PolicySite {
        env,
        ctx,
        packs,
        policies,
    };
    let header = PolicyHeader {
        kind: PolicyKind::Mutating,
        metadata: &doc.metadata,
        match_constraints: spec.match_constraints,
        variables: &spec.variables,
        match_conditions: &spec.match_conditions,
        param_kind: spec.param_kind,
        failure_policy: spec.failure_policy,
    };
    let mut common = common(&site, header, errors)?;
    let before = errors.len();
    let subject = format!("MutatingAdmissionPolicy '{}'", common.admission.policy);
    if let Some(r) = spec
        .reinvocation_policy
        .as_deref()
        .filter(|r| !matches!(*r, "Never" | "IfNeeded"))
    {
        errors.push(ctx.invalid(
            "/spec/reinvocationPolicy",
            subject.clone(),
            "spec.reinvocationPolicy",
            PackErrorKind::Reinvocation { value: r.to_string() },
        ));
    }
    if spec.mutations.is_empty() {
        errors.push(ctx.invalid("/spec", subject.clone(), "spec.mutations", PackErrorKind::NoMutations));
    }
    let rules = mutations(&site, &subject, &spec.mutations, &mut common, errors);
    if errors.len() != before {
        return None;
    }
    Some(seal(common, rules))
}

/// The policy's pack with its `rules`, and its admission part with the variables its own
/// expressions (match conditions, audit annotations) need.
fn seal(mut common: Common, rules: Vec<CompiledRule>) -> (CompiledPack, CompiledAdmission) {
    let admission = &common.admission;
    let policy_exprs: Vec<&CompiledExpr> = admission
        .match_conditions
        .iter()
        .chain(&admission.audit_annotations)
        .map(|(_, e)| e)
        .collect();
    common.admission.variables = transitive(&common.pack, &policy_exprs);
    common.pack.rules = rules.into_iter().map(Arc::new).collect();
    (common.pack, common.admission)
}

/// The rules a mutating policy's `mutations` become, one each, with their form recorded in
/// `common`.
fn mutations(
    site: &PolicySite<'_>,
    subject: &str,
    mutations: &[Mutation],
    common: &mut Common,
    errors: &mut Vec<PackError>,
) -> Vec<CompiledRule> {
    let ctx = site.ctx;
    let policy = common.admission.policy.clone();
    let mut rules = Vec::new();
    for (i, m) in mutations.iter().enumerate() {
        let pointer = format!("/spec/mutations/{i}");
        let field = format!("spec.mutations[{i}]");
        let Some((source, form)) = mutation_source(ctx, subject, &pointer, &field, m, errors) else {
            continue;
        };
        let expression_field = format!("{field}.{form}.expression");
        let Some(expr) = compile_cel(site.env, ctx, &pointer, subject, &expression_field, source, errors) else {
            continue;
        };
        variable_dependencies(ctx, &pointer, subject, &field, &expr, &common.pack, errors);
        // The rule's `validate` holds the JSONPatch expression; `eval` runs it as a mutation.
        let extra = RuleExtra {
            message_expression: None,
            action: Action::Patch,
        };
        let message = format!("mutation {i} of MutatingAdmissionPolicy '{policy}' changes the object");
        if let Some(r) = rule(common, ctx.file, format!("{policy}[{i}]"), expr, message, extra) {
            rules.push(r);
            common.admission.reasons.push(None);
            common.admission.apply_configurations.push(form == "applyConfiguration");
        }
    }
    rules
}

/// A mutation's expression and the form it is in (`jsonPatch` or `applyConfiguration`), which
/// must be the one its `patchType` names.
fn mutation_source<'m>(
    ctx: &DocContext<'_>,
    subject: &str,
    pointer: &str,
    field: &str,
    m: &'m Mutation,
    errors: &mut Vec<PackError>,
) -> Option<(&'m str, &'static str)> {
    let (which, kind) = match (m.patch_type.as_str(), &m.json_patch, &m.apply_configuration) {
        ("JSONPatch", Some(j), None) => return Some((&j.expression, "jsonPatch")),
        ("ApplyConfiguration", None, Some(a)) => return Some((&a.expression, "applyConfiguration")),
        ("ApplyConfiguration", _, _) => ("applyConfiguration", PackErrorKind::ApplyConfigurationMissing),
        ("JSONPatch", _, _) => ("jsonPatch", PackErrorKind::JsonPatchMissing),
        (other, _, _) => (
            "patchType",
            PackErrorKind::PatchType {
                value: other.to_string(),
            },
        ),
    };
    errors.push(ctx.invalid(pointer, subject.to_owned(), &format!("{field}.{which}"), kind));
    None
}
