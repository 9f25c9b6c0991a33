//! Compiling the two policy kinds: a `ValidatingAdmissionPolicy`'s validations and audit
//! annotations, a `MutatingAdmissionPolicy`'s JSONPatch mutations.

use std::collections::BTreeSet;
use std::sync::Arc;

use cel::Env;

use super::convert::compile_cel;
use super::policy::{common, rule, transitive, RuleExtra};
use crate::engine::cel::compile::CompiledExpr;
use crate::engine::facts::decision::Action;
use crate::engine::pack::admission::model::{MutatingPolicySpec, PolicyDocument, ValidatingPolicySpec};
use crate::engine::pack::admission::{CompiledAdmission, PolicyKind};
use crate::engine::pack::compiled::CompiledPack;
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
    let mut common = common(
        env,
        ctx,
        PolicyKind::Validating,
        &doc.metadata,
        spec.match_constraints,
        &spec.variables,
        &spec.match_conditions,
        spec.param_kind,
        spec.failure_policy,
        packs,
        policies,
        errors,
    )?;
    let before = errors.len();
    let policy = common.admission.policy.clone();
    let subject = format!("ValidatingAdmissionPolicy '{policy}'");
    if spec.validations.is_empty() && spec.audit_annotations.is_empty() {
        errors.push(ctx.invalid(
            "/spec",
            subject.clone(),
            "spec.validations",
            PackErrorKind::NoValidations,
        ));
    }
    let mut rules = Vec::new();
    for (i, v) in spec.validations.iter().enumerate() {
        let pointer = format!("/spec/validations/{i}");
        let field = format!("spec.validations[{i}]");
        let expr = compile_cel(
            env,
            ctx,
            &pointer,
            &subject,
            &format!("{field}.expression"),
            &v.expression,
            errors,
        );
        let message_expression = v.message_expression.as_ref().and_then(|m| {
            compile_cel(
                env,
                ctx,
                &pointer,
                &subject,
                &format!("{field}.messageExpression"),
                m,
                errors,
            )
        });
        for e in [&expr, &message_expression].into_iter().flatten() {
            variable_dependencies(ctx, &pointer, &subject, &field, e, &common.pack, errors);
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
            if let Some(r) = rule(&common, ctx.file, format!("{policy}[{i}]"), expr, message, extra) {
                rules.push(r);
                common.admission.reasons.push(v.reason);
            }
        }
    }
    let mut keys = BTreeSet::new();
    for (i, a) in spec.audit_annotations.iter().enumerate() {
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
                subject.clone(),
                &format!("{field}.key"),
                PackErrorKind::AnnotationKey { key: a.key.clone() },
            ));
            continue;
        }
        if let Some(expr) = compile_cel(
            env,
            ctx,
            &pointer,
            &subject,
            &format!("{field}.valueExpression"),
            &a.value_expression,
            errors,
        ) {
            variable_dependencies(ctx, &pointer, &subject, &field, &expr, &common.pack, errors);
            common.admission.audit_annotations.push((a.key.clone(), expr));
        }
    }
    if errors.len() != before {
        return None;
    }
    let mut policy_exprs: Vec<&CompiledExpr> = common.admission.match_conditions.iter().map(|(_, e)| e).collect();
    policy_exprs.extend(common.admission.audit_annotations.iter().map(|(_, e)| e));
    common.admission.variables = transitive(&common.pack, &policy_exprs);
    common.pack.rules = rules.into_iter().map(Arc::new).collect();
    Some((common.pack, common.admission))
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
    let mut common = common(
        env,
        ctx,
        PolicyKind::Mutating,
        &doc.metadata,
        spec.match_constraints,
        &spec.variables,
        &spec.match_conditions,
        spec.param_kind,
        spec.failure_policy,
        packs,
        policies,
        errors,
    )?;
    let before = errors.len();
    let policy = common.admission.policy.clone();
    let subject = format!("MutatingAdmissionPolicy '{policy}'");
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
    let mut rules = Vec::new();
    for (i, m) in spec.mutations.iter().enumerate() {
        let pointer = format!("/spec/mutations/{i}");
        let field = format!("spec.mutations[{i}]");
        let (source, form) = match (m.patch_type.as_str(), &m.json_patch, &m.apply_configuration) {
            ("JSONPatch", Some(j), None) => (&j.expression, "jsonPatch"),
            ("ApplyConfiguration", None, Some(a)) => (&a.expression, "applyConfiguration"),
            ("ApplyConfiguration", _, _) => {
                errors.push(ctx.invalid(
                    &pointer,
                    subject.clone(),
                    &format!("{field}.applyConfiguration"),
                    PackErrorKind::ApplyConfigurationMissing,
                ));
                continue;
            }
            ("JSONPatch", _, _) => {
                errors.push(ctx.invalid(
                    &pointer,
                    subject.clone(),
                    &format!("{field}.jsonPatch"),
                    PackErrorKind::JsonPatchMissing,
                ));
                continue;
            }
            (other, _, _) => {
                errors.push(ctx.invalid(
                    &pointer,
                    subject.clone(),
                    &format!("{field}.patchType"),
                    PackErrorKind::PatchType {
                        value: other.to_string(),
                    },
                ));
                continue;
            }
        };
        let Some(expr) = compile_cel(
            env,
            ctx,
            &pointer,
            &subject,
            &format!("{field}.{form}.expression"),
            source,
            errors,
        ) else {
            continue;
        };
        variable_dependencies(ctx, &pointer, &subject, &field, &expr, &common.pack, errors);
        // The rule's `validate` holds the JSONPatch expression; `eval` runs it as a mutation.
        let extra = RuleExtra {
            message_expression: None,
            action: Action::Patch,
        };
        let message = format!("mutation {i} of MutatingAdmissionPolicy '{policy}' changes the object");
        if let Some(r) = rule(&common, ctx.file, format!("{policy}[{i}]"), expr, message, extra) {
            rules.push(r);
            common.admission.reasons.push(None);
            common.admission.apply_configurations.push(form == "applyConfiguration");
        }
    }
    if errors.len() != before {
        return None;
    }
    let policy_exprs: Vec<&CompiledExpr> = common.admission.match_conditions.iter().map(|(_, e)| e).collect();
    common.admission.variables = transitive(&common.pack, &policy_exprs);
    common.pack.rules = rules.into_iter().map(Arc::new).collect();
    Some((common.pack, common.admission))
}
