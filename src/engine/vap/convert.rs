//! Admission-policy documents -> compiled packs: each policy becomes one pack (name = policy
//! name) whose rules are its validations (`<policy>[<i>]`) or mutations, with its bindings, match
//! constraints, conditions, annotations and params attached. Every problem is a [`PackError`]
//! naming the file, line, policy or binding and field.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cel::Env;
use serde::de::DeserializeOwned;

use super::matching::CompiledMatch;
use super::model::{
    AdmissionKind, BindingDocument, FailurePolicy, Metadata, MutatingPolicySpec, ParamNotFoundAction, PolicyDocument,
    ValidatingPolicySpec, ValidationAction, Variable, API_GROUP,
};
use super::params::ParamStore;
use super::{jsonpatch, CompiledAdmission, CompiledBinding, PolicyKind};
use crate::engine::compile::{compile, CompileError, CompiledExpr};
use crate::engine::load::{path_to_pointer, CompiledPack, CompiledRule, CompiledVariable, DocContext};
use crate::engine::pack::{Action, MatchSpec, OnError, PackMetadata, RuleSpec, Severity};
use crate::engine::pack_error::PackError;
use crate::engine::select::Matcher;
use crate::engine::template::{Segment, Template};
use crate::source::SourceDoc;

/// A document read from a packs file that is not a rule pack, kept until every file is read
/// (bindings may come before their policy; param objects before the policy naming their kind).
#[derive(Debug)]
pub struct PendingDoc {
    /// The file.
    pub origin: String,
    /// The document and its positions.
    pub doc: SourceDoc,
}

/// True when `value` claims to be one of the `admissionregistration.k8s.io` kinds.
pub fn is_admission_document(value: &serde_json::Value) -> bool {
    value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.split_once('/').is_some_and(|(group, _)| group == API_GROUP))
}

/// Compiles the admission documents into packs appended to `packs`; documents in `others` whose
/// apiVersion and kind are some policy's `paramKind` become that policy's param objects. Returns
/// the `others` that are not param objects (the caller reports them as it reports any foreign
/// document).
pub fn convert(
    env: &Env,
    admission: Vec<PendingDoc>,
    others: Vec<PendingDoc>,
    packs: &mut Vec<CompiledPack>,
    errors: &mut Vec<PackError>,
) -> Vec<PendingDoc> {
    let mut policies: Vec<(CompiledPack, CompiledAdmission)> = Vec::new();
    let mut bindings: Vec<(PendingDoc, AdmissionKind, BindingDocument)> = Vec::new();
    for pending in admission {
        let ctx = DocContext::new(&pending.origin, &pending.doc.positions);
        let Some(kind) = check_header(&ctx, &pending.doc.value, errors) else {
            continue;
        };
        let value = pending.doc.value.clone();
        match kind {
            AdmissionKind::ValidatingPolicy => {
                if let Some(doc) = parse::<PolicyDocument<ValidatingPolicySpec>>(&ctx, value, errors) {
                    if let Some(p) = validating_policy(env, &ctx, doc, packs, &policies, errors) {
                        policies.push(p);
                    }
                }
            }
            AdmissionKind::MutatingPolicy => {
                if let Some(doc) = parse::<PolicyDocument<MutatingPolicySpec>>(&ctx, value, errors) {
                    if let Some(p) = mutating_policy(env, &ctx, doc, packs, &policies, errors) {
                        policies.push(p);
                    }
                }
            }
            AdmissionKind::ValidatingBinding | AdmissionKind::MutatingBinding => {
                if let Some(doc) = parse::<BindingDocument>(&ctx, value, errors) {
                    bindings.push((pending, kind, doc));
                }
            }
        }
    }
    let mut names: HashMap<String, String> = HashMap::new();
    for (pending, kind, doc) in bindings {
        let ctx = DocContext::new(&pending.origin, &pending.doc.positions);
        let subject = format!("{} '{}'", kind.as_str(), doc.metadata.name);
        if let Some(first) = names.insert(
            format!("{}/{}", kind.as_str(), doc.metadata.name),
            pending.origin.clone(),
        ) {
            errors.push(ctx.invalid(
                "/metadata/name",
                subject.clone(),
                "metadata.name",
                format!("is already defined in {first}"),
            ));
            continue;
        }
        let wanted = if kind == AdmissionKind::ValidatingBinding {
            PolicyKind::Validating
        } else {
            PolicyKind::Mutating
        };
        let Some((_, admission)) = policies
            .iter_mut()
            .find(|(_, a)| a.kind == wanted && a.policy == doc.spec.policy_name)
        else {
            let known: Vec<&str> = policies
                .iter()
                .filter(|(_, a)| a.kind == wanted)
                .map(|(_, a)| a.policy.as_str())
                .collect();
            errors.push(ctx.invalid(
                "/spec/policyName",
                subject,
                "spec.policyName",
                format!(
                    "no {} named '{}' is loaded (loaded: {})",
                    wanted.as_str(),
                    doc.spec.policy_name,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
            continue;
        };
        if let Some(binding) = compile_binding(&ctx, &subject, kind, doc, admission, errors) {
            admission.bindings.push(binding);
        }
    }
    let mut bundled = ParamStore::default();
    let mut rest = Vec::new();
    for pending in others {
        let text = |field: &str| {
            pending
                .doc
                .value
                .get(field)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        let is_param = policies.iter().any(|(_, a)| {
            a.param_kind
                .as_ref()
                .is_some_and(|k| k.api_version == api_version && k.kind == kind)
        });
        if !is_param {
            rest.push(pending);
            continue;
        }
        let origin = format!("{}#{}", pending.origin, pending.doc.index);
        if let Err(e) = bundled.add(origin, pending.doc.value) {
            errors.push(PackError::Invalid {
                file: pending.origin.clone(),
                line: pending.doc.line,
                subject: format!("param object {kind}"),
                field: "metadata".to_owned(),
                message: e.to_string(),
            });
        }
    }
    let bundled = Arc::new(bundled);
    for (mut pack, mut admission) in policies {
        admission.params = Arc::clone(&bundled);
        pack.admission = Some(Box::new(admission));
        packs.push(pack);
    }
    rest
}

fn check_header(ctx: &DocContext<'_>, value: &serde_json::Value, errors: &mut Vec<PackError>) -> Option<AdmissionKind> {
    let text = |field: &str| value.get(field).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let (api_version, kind_text) = (text("apiVersion"), text("kind"));
    let Some(kind) = AdmissionKind::parse(&kind_text) else {
        errors.push(ctx.invalid(
            "/kind",
            format!("{api_version} document"),
            "kind",
            format!(
                "'{kind_text}' is not ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, MutatingAdmissionPolicy or MutatingAdmissionPolicyBinding"
            ),
        ));
        return None;
    };
    let version = api_version.split_once('/').map_or("", |(_, v)| v);
    if !kind.versions().contains(&version) {
        errors.push(ctx.invalid(
            "/apiVersion",
            format!("{} document", kind.as_str()),
            "apiVersion",
            format!(
                "'{api_version}' is not a published version of {} (expected one of {})",
                kind.as_str(),
                kind.versions().iter().map(|v| format!("{API_GROUP}/{v}")).collect::<Vec<_>>().join(", ")
            ),
        ));
        return None;
    }
    Some(kind)
}

fn parse<T: DeserializeOwned>(
    ctx: &DocContext<'_>,
    value: serde_json::Value,
    errors: &mut Vec<PackError>,
) -> Option<T> {
    match serde_path_to_error::deserialize(value) {
        Ok(doc) => Some(doc),
        Err(e) => {
            let path = e.path().to_string();
            errors.push(PackError::Schema {
                file: ctx.file.to_owned(),
                line: ctx.line(&path_to_pointer(&path)),
                path,
                message: e.into_inner().to_string(),
            });
            None
        }
    }
}

/// Compiles policy CEL, naming `authorizer` (which needs a cluster) more helpfully than
/// "unknown variable".
fn cel(
    env: &Env,
    ctx: &DocContext<'_>,
    pointer: &str,
    subject: &str,
    field: &str,
    source: &str,
    errors: &mut Vec<PackError>,
) -> Option<CompiledExpr> {
    match compile(env, source) {
        Ok(mut expr) => {
            jsonpatch::rewrite(&mut expr.expr);
            Some(expr)
        }
        Err(CompileError::UnknownVariable { name, .. }) if name == "authorizer" => {
            errors.push(ctx.invalid(
                pointer,
                subject.to_owned(),
                field,
                "uses `authorizer`, which celgate cannot offer: authorization checks need the cluster's authorizer, and celgate judges offline; keep this policy for the apiserver, or drop the authorizer check".to_owned(),
            ));
            None
        }
        Err(e) => {
            errors.push(ctx.cel(pointer, subject.to_owned(), field, e));
            None
        }
    }
}

/// What a policy of either kind shares: header checks, constraints, variables, conditions.
struct Common {
    pack: CompiledPack,
    admission: CompiledAdmission,
    severity: Severity,
    controls: Vec<String>,
    remediation: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn common(
    env: &Env,
    ctx: &DocContext<'_>,
    kind: PolicyKind,
    metadata: &Metadata,
    match_constraints: Option<super::model::MatchResources>,
    variables: &[Variable],
    match_conditions: &[super::model::MatchCondition],
    param_kind: Option<super::model::ParamKind>,
    failure_policy: Option<FailurePolicy>,
    packs: &[CompiledPack],
    policies: &[(CompiledPack, CompiledAdmission)],
    errors: &mut Vec<PackError>,
) -> Option<Common> {
    let before = errors.len();
    let name = metadata.name.clone();
    let subject = format!("{} '{name}'", kind.as_str());
    if name.trim().is_empty() {
        errors.push(ctx.invalid(
            "/metadata",
            subject.clone(),
            "metadata.name",
            "must not be empty".to_owned(),
        ));
    }
    if let Some(other) = packs.iter().find(|p| p.metadata.name == name) {
        errors.push(ctx.invalid(
            "/metadata/name",
            subject.clone(),
            "metadata.name",
            format!("is also the name of the rule pack from {}", other.origins.join(", ")),
        ));
    }
    if let Some((other, _)) = policies.iter().find(|(p, _)| p.metadata.name == name) {
        errors.push(ctx.invalid(
            "/metadata/name",
            subject.clone(),
            "metadata.name",
            format!(
                "a policy of this name is already defined in {}",
                other.origins.join(", ")
            ),
        ));
    }
    let constraints = match match_constraints {
        None => {
            errors.push(ctx.invalid(
                "/spec",
                subject.clone(),
                "spec.matchConstraints",
                "is required (with resourceRules): without it the policy matches nothing".to_owned(),
            ));
            None
        }
        Some(m) if m.resource_rules.is_empty() => {
            errors.push(ctx.invalid(
                "/spec/matchConstraints",
                subject.clone(),
                "spec.matchConstraints.resourceRules",
                "must list at least one rule: without one the policy matches nothing".to_owned(),
            ));
            None
        }
        Some(m) => CompiledMatch::new(m, true)
            .map_err(|e| {
                errors.push(ctx.invalid(
                    "/spec/matchConstraints",
                    subject.clone(),
                    "spec.matchConstraints",
                    e.to_string(),
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
                format!("'{other}' is not low, medium, high or critical"),
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
        admission: None,
    };
    for (i, var) in variables.iter().enumerate() {
        let pointer = format!("/spec/variables/{i}");
        let field = format!("spec.variables[{i}]");
        if !crate::engine::load::is_cel_identifier(&var.name) {
            errors.push(ctx.invalid(
                &pointer,
                subject.clone(),
                &field,
                format!("name '{}' is not a CEL identifier", var.name),
            ));
            continue;
        }
        if pack.variables.iter().any(|v| v.name == var.name) {
            errors.push(ctx.invalid(
                &pointer,
                subject.clone(),
                &field,
                format!("'{}' is defined twice", var.name),
            ));
            continue;
        }
        let Some(expr) = cel(
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
        let deps = dependencies(ctx, &pointer, &subject, &field, &expr, &pack, errors);
        pack.variables.push(CompiledVariable {
            name: var.name.clone(),
            expr,
            deps,
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
                format!("name '{}' must be non-empty and unique", condition.name),
            ));
            continue;
        }
        if let Some(expr) = cel(
            env,
            ctx,
            &pointer,
            &subject,
            &format!("{field}.expression"),
            &condition.expression,
            errors,
        ) {
            dependencies(ctx, &pointer, &subject, &field, &expr, &pack, errors);
            conditions.push((condition.name.clone(), expr));
        }
    }
    let constraints = constraints?;
    if errors.len() != before {
        return None;
    }
    let remediation = metadata.annotations.get(super::REMEDIATION_ANNOTATION).cloned();
    Some(Common {
        admission: CompiledAdmission {
            kind,
            policy: name,
            constraints,
            param_kind,
            failure_policy: failure_policy.unwrap_or_default(),
            match_conditions: conditions,
            audit_annotations: Vec::new(),
            status_codes: Vec::new(),
            variables: Vec::new(),
            bindings: Vec::new(),
            params: Arc::new(ParamStore::default()),
        },
        pack,
        severity,
        controls,
        remediation,
    })
}

/// Indexes of the earlier variables `expr` reads (directly); an error for any it reads that is
/// not defined before it.
fn dependencies(
    ctx: &DocContext<'_>,
    pointer: &str,
    subject: &str,
    field: &str,
    expr: &CompiledExpr,
    pack: &CompiledPack,
    errors: &mut Vec<PackError>,
) -> Vec<usize> {
    let mut deps = Vec::new();
    for name in &expr.pack_variables {
        match pack.variables.iter().position(|v| &v.name == name) {
            Some(idx) => deps.push(idx),
            None => errors.push(ctx.invalid(
                pointer,
                subject.to_owned(),
                field,
                format!("reads variables.{name}, which is not defined before it"),
            )),
        }
    }
    deps
}

/// Every variable `exprs` read, with what those read in turn.
fn transitive(pack: &CompiledPack, exprs: &[&CompiledExpr]) -> Vec<usize> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<usize> = exprs
        .iter()
        .flat_map(|e| e.pack_variables.iter())
        .filter_map(|name| pack.variables.iter().position(|v| &v.name == name))
        .collect();
    while let Some(idx) = todo.pop() {
        if out.insert(idx) {
            todo.extend(pack.variables[idx].deps.iter().copied());
        }
    }
    out.into_iter().collect()
}

/// A rule of an admission pack: it applies to every request (the policy's own matching runs
/// before it), with a literal message.
fn rule(
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
            rationale: None,
            pointer: None,
            action: extra.action,
            on_error: OnError::Deny,
            patch: Vec::new(),
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
    })
}

struct RuleExtra {
    message_expression: Option<CompiledExpr>,
    action: Action,
}

fn validating_policy(
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
            "a policy needs at least one validation or auditAnnotation".to_owned(),
        ));
    }
    let mut rules = Vec::new();
    for (i, v) in spec.validations.iter().enumerate() {
        let pointer = format!("/spec/validations/{i}");
        let field = format!("spec.validations[{i}]");
        let expr = cel(
            env,
            ctx,
            &pointer,
            &subject,
            &format!("{field}.expression"),
            &v.expression,
            errors,
        );
        let message_expression = v.message_expression.as_ref().and_then(|m| {
            cel(
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
            dependencies(ctx, &pointer, &subject, &field, e, &common.pack, errors);
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
                common
                    .admission
                    .status_codes
                    .push(v.reason.map(super::model::Reason::status_code));
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
                format!(
                    "'{}' must be a unique name of letters, digits, '-', '_' and '.', at most 63 long",
                    a.key
                ),
            ));
            continue;
        }
        if let Some(expr) = cel(
            env,
            ctx,
            &pointer,
            &subject,
            &format!("{field}.valueExpression"),
            &a.value_expression,
            errors,
        ) {
            dependencies(ctx, &pointer, &subject, &field, &expr, &common.pack, errors);
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

fn mutating_policy(
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
            format!("'{r}' is not Never or IfNeeded"),
        ));
    }
    if spec.mutations.is_empty() {
        errors.push(ctx.invalid(
            "/spec",
            subject.clone(),
            "spec.mutations",
            "a policy needs at least one mutation".to_owned(),
        ));
    }
    let mut rules = Vec::new();
    for (i, m) in spec.mutations.iter().enumerate() {
        let pointer = format!("/spec/mutations/{i}");
        let field = format!("spec.mutations[{i}]");
        let source = match (m.patch_type.as_str(), &m.json_patch, &m.apply_configuration) {
            ("JSONPatch", Some(j), None) => &j.expression,
            ("ApplyConfiguration", _, _) => {
                errors.push(ctx.invalid(
                    &pointer,
                    subject.clone(),
                    &format!("{field}.patchType"),
                    "ApplyConfiguration is not supported yet; write the mutation as a JSONPatch".to_owned(),
                ));
                continue;
            }
            ("JSONPatch", _, _) => {
                errors.push(ctx.invalid(
                    &pointer,
                    subject.clone(),
                    &format!("{field}.jsonPatch"),
                    "patchType JSONPatch needs jsonPatch.expression (and no applyConfiguration)".to_owned(),
                ));
                continue;
            }
            (other, _, _) => {
                errors.push(ctx.invalid(
                    &pointer,
                    subject.clone(),
                    &format!("{field}.patchType"),
                    format!("'{other}' is not JSONPatch or ApplyConfiguration"),
                ));
                continue;
            }
        };
        let Some(expr) = cel(
            env,
            ctx,
            &pointer,
            &subject,
            &format!("{field}.jsonPatch.expression"),
            source,
            errors,
        ) else {
            continue;
        };
        dependencies(ctx, &pointer, &subject, &field, &expr, &common.pack, errors);
        // The rule's `validate` holds the JSONPatch expression; `eval` runs it as a mutation.
        let extra = RuleExtra {
            message_expression: None,
            action: Action::Patch,
        };
        let message = format!("mutation {i} of MutatingAdmissionPolicy '{policy}' changes the object");
        if let Some(r) = rule(&common, ctx.file, format!("{policy}[{i}]"), expr, message, extra) {
            rules.push(r);
            common.admission.status_codes.push(None);
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

fn compile_binding(
    ctx: &DocContext<'_>,
    subject: &str,
    kind: AdmissionKind,
    doc: BindingDocument,
    admission: &CompiledAdmission,
    errors: &mut Vec<PackError>,
) -> Option<CompiledBinding> {
    let before = errors.len();
    let spec = doc.spec;
    let mut err = |pointer: &str, field: &str, message: String| {
        errors.push(ctx.invalid(pointer, subject.to_owned(), field, message));
    };
    let actions = if kind == AdmissionKind::ValidatingBinding {
        let actions = spec.validation_actions.clone();
        if actions.is_empty() {
            err(
                "/spec",
                "spec.validationActions",
                "must list at least one of Deny, Warn, Audit".to_owned(),
            );
        }
        let unique: BTreeSet<String> = actions.iter().map(|a| format!("{a:?}")).collect();
        if unique.len() != actions.len() {
            err(
                "/spec/validationActions",
                "spec.validationActions",
                "lists an action twice".to_owned(),
            );
        }
        if actions.contains(&ValidationAction::Deny) && actions.contains(&ValidationAction::Warn) {
            err(
                "/spec/validationActions",
                "spec.validationActions",
                "Deny and Warn may not be used together (the failure would be reported twice)".to_owned(),
            );
        }
        actions
    } else {
        if !spec.validation_actions.is_empty() {
            err(
                "/spec/validationActions",
                "spec.validationActions",
                "is not a field of a MutatingAdmissionPolicyBinding".to_owned(),
            );
        }
        vec![ValidationAction::Deny]
    };
    match (&admission.param_kind, &spec.param_ref) {
        (None, Some(_)) => err(
            "/spec/paramRef",
            "spec.paramRef",
            format!(
                "policy '{}' declares no paramKind, so there is nothing to reference",
                admission.policy
            ),
        ),
        (Some(k), None) => err(
            "/spec",
            "spec.paramRef",
            format!(
                "policy '{}' declares paramKind {} {}, so the binding must say which params to use",
                admission.policy, k.api_version, k.kind
            ),
        ),
        (Some(_), Some(r)) if r.name.is_some() == r.selector.is_some() => err(
            "/spec/paramRef",
            "spec.paramRef",
            "give exactly one of name and selector".to_owned(),
        ),
        _ => {}
    }
    let resources = spec.match_resources.map(|m| {
        CompiledMatch::new(m, false).map_err(|e| {
            errors.push(ctx.invalid(
                "/spec/matchResources",
                subject.to_owned(),
                "spec.matchResources",
                e.to_string(),
            ));
        })
    });
    let resources = match resources {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(())) => return None,
    };
    if errors.len() != before {
        return None;
    }
    Some(CompiledBinding {
        name: doc.metadata.name,
        resources,
        not_found: spec
            .param_ref
            .as_ref()
            .and_then(|r| r.parameter_not_found_action)
            .unwrap_or(ParamNotFoundAction::Deny),
        param_ref: spec.param_ref,
        actions,
    })
}
