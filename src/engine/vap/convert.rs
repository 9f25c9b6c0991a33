//! Admission-policy documents -> compiled packs: each policy becomes one pack (name = policy
//! name) whose rules are its validations (`<policy>[<i>]`) or mutations, with its bindings, match
//! constraints, conditions, annotations and params attached. Every problem is a [`PackError`]
//! naming the file, line, policy or binding and field.

use std::collections::HashMap;
use std::sync::Arc;

use cel::Env;

use super::jsonpatch;
use crate::engine::cel::compile::compile_within;
use crate::engine::cel::compile::{CompileError, CompiledExpr};
use crate::engine::cel::cost::BoundsSite;
use crate::engine::cel::cost::InputLimits;
use crate::engine::pack::admission::model::{
    AdmissionKind, BindingDocument, MutatingPolicySpec, PolicyDocument, ValidatingPolicySpec, API_GROUP, API_VERSIONS,
};
use crate::engine::pack::admission::params::ParamStore;
use crate::engine::pack::admission::{CompiledAdmission, PolicyKind};
use crate::engine::pack::compiled::{CompiledPack, PackKind};
use crate::engine::pack::error::{Location, PackError, PackErrorKind};
use crate::engine::pack::load::DocContext;
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
    let (mut policies, bindings) = compile_policies(env, admission, packs, errors);
    attach_bindings(bindings, &mut policies, errors);
    let (bundled, rest) = param_objects(others, &policies, errors);
    let bundled = Arc::new(bundled);
    for (mut pack, mut admission) in policies {
        admission.params = Arc::clone(&bundled);
        pack.kind = PackKind::AdmissionPolicies(Box::new(admission));
        packs.push(pack);
    }
    rest
}

/// A binding document waiting for its policy to be compiled.
type PendingBinding = (PendingDoc, AdmissionKind, BindingDocument);

/// The policies of `admission` compiled, and its bindings read (to be attached once every
/// policy is known).
fn compile_policies(
    env: &Env,
    admission: Vec<PendingDoc>,
    packs: &[CompiledPack],
    errors: &mut Vec<PackError>,
) -> (Vec<(CompiledPack, CompiledAdmission)>, Vec<PendingBinding>) {
    let mut policies: Vec<(CompiledPack, CompiledAdmission)> = Vec::new();
    let mut bindings: Vec<PendingBinding> = Vec::new();
    for pending in admission {
        let ctx = DocContext::new(&pending.origin, &pending.doc.positions);
        let Some(kind) = check_header(&ctx, &pending.doc.value, errors) else {
            continue;
        };
        let value = pending.doc.value.clone();
        match kind {
            AdmissionKind::ValidatingPolicy => {
                if let Some(doc) = ctx.deserialize::<PolicyDocument<ValidatingPolicySpec>>(value, errors) {
                    if let Some(p) = super::policy_kinds::validating_policy(env, &ctx, doc, packs, &policies, errors) {
                        policies.push(p);
                    }
                }
            }
            AdmissionKind::MutatingPolicy => {
                if let Some(doc) = ctx.deserialize::<PolicyDocument<MutatingPolicySpec>>(value, errors) {
                    if let Some(p) = super::policy_kinds::mutating_policy(env, &ctx, doc, packs, &policies, errors) {
                        policies.push(p);
                    }
                }
            }
            AdmissionKind::ValidatingBinding | AdmissionKind::MutatingBinding => {
                if let Some(doc) = ctx.deserialize::<BindingDocument>(value, errors) {
                    bindings.push((pending, kind, doc));
                }
            }
        }
    }
    (policies, bindings)
}

/// Each binding compiled into the policy it names; a binding defined twice or naming no loaded
/// policy is an error.
fn attach_bindings(
    bindings: Vec<PendingBinding>,
    policies: &mut [(CompiledPack, CompiledAdmission)],
    errors: &mut Vec<PackError>,
) {
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
                PackErrorKind::AlreadyDefined { first: first.clone() },
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
            errors.push(no_such_policy(&ctx, subject, wanted, &doc.spec.policy_name, policies));
            continue;
        };
        if let Some(binding) = super::binding::compile_binding(&ctx, &subject, kind, doc, admission, errors) {
            admission.bindings.push(binding);
        }
    }
}

/// A binding's `policyName` names no loaded policy of its kind.
fn no_such_policy(
    ctx: &DocContext<'_>,
    subject: String,
    wanted: PolicyKind,
    name: &str,
    policies: &[(CompiledPack, CompiledAdmission)],
) -> PackError {
    let known: Vec<&str> = policies
        .iter()
        .filter(|(_, a)| a.kind == wanted)
        .map(|(_, a)| a.policy.as_str())
        .collect();
    ctx.invalid(
        "/spec/policyName",
        subject,
        "spec.policyName",
        PackErrorKind::NoSuchPolicy {
            kind: wanted.as_str(),
            name: name.to_owned(),
            loaded: if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            },
        },
    )
}

/// The documents of `others` whose apiVersion and kind are some policy's `paramKind`, gathered
/// as param objects; and the rest.
fn param_objects(
    others: Vec<PendingDoc>,
    policies: &[(CompiledPack, CompiledAdmission)],
    errors: &mut Vec<PackError>,
) -> (ParamStore, Vec<PendingDoc>) {
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
        let origin = format!("{}#{}", pending.origin, pending.doc.locator());
        if let Err(e) = bundled.add(origin, pending.doc.value) {
            errors.push(PackError::new(
                Location {
                    line: Some(pending.doc.line),
                    subject: Some(format!("param object {kind}")),
                    field: Some("metadata".to_owned()),
                    ..Location::file(pending.origin.clone())
                },
                PackErrorKind::ParamObject(e),
            ));
        }
    }
    (bundled, rest)
}

fn check_header(ctx: &DocContext<'_>, value: &serde_json::Value, errors: &mut Vec<PackError>) -> Option<AdmissionKind> {
    let text = |field: &str| value.get(field).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let (api_version, kind_text) = (text("apiVersion"), text("kind"));
    let Some(kind) = AdmissionKind::parse(&kind_text) else {
        errors.push(ctx.invalid(
            "/kind",
            format!("{api_version} document"),
            "kind",
            PackErrorKind::UnknownAdmissionKind {
                kind: kind_text.clone(),
            },
        ));
        return None;
    };
    let version = api_version.split_once('/').map_or("", |(_, v)| v);
    if !API_VERSIONS.contains(&version) {
        errors.push(
            ctx.invalid(
                "/apiVersion",
                format!("{} document", kind.as_str()),
                "apiVersion",
                PackErrorKind::UnpublishedVersion {
                    api_version: api_version.clone(),
                    kind: kind.as_str(),
                    expected: API_VERSIONS
                        .iter()
                        .map(|v| format!("{API_GROUP}/{v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            ),
        );
        return None;
    }
    Some(kind)
}

/// Compiles policy CEL, naming `authorizer` (which needs a cluster) more helpfully than
/// "unknown variable".
pub(super) fn compile_cel(
    env: &Env,
    ctx: &DocContext<'_>,
    pointer: &str,
    subject: &str,
    field: &str,
    source: &str,
    errors: &mut Vec<PackError>,
) -> Option<CompiledExpr> {
    match compile_within(env, source, InputLimits::default(), BoundsSite::Policy) {
        Ok(_)
            if !field.ends_with("jsonPatch.expression")
                && !field.ends_with("applyConfiguration.expression")
                && uses_escape_key(source) =>
        {
            errors.push(ctx.invalid(
                pointer,
                subject.to_owned(),
                field,
                PackErrorKind::EscapeKeyOutsideMutation,
            ));
            None
        }
        Ok(mut expr) => {
            jsonpatch::rewrite(&mut expr.expr);
            Some(expr)
        }
        Err(CompileError::UnknownVariable { name, .. }) if name == "authorizer" => {
            errors.push(ctx.invalid(pointer, subject.to_owned(), field, PackErrorKind::Authorizer));
            None
        }
        Err(e) => {
            errors.push(ctx.cel(pointer, subject.to_owned(), field, e));
            None
        }
    }
}

/// Whether `source` calls `jsonpatch.escapeKey` (parsed, so a mention in a string does not count).
fn uses_escape_key(source: &str) -> bool {
    fn walk(e: &mut cel::common::ast::IdedExpr) -> bool {
        use cel::common::ast::Expr;
        if let Expr::Call(c) = &e.expr {
            if c.func_name == "escapeKey"
                && matches!(c.target.as_deref().map(|t| &t.expr), Some(Expr::Ident(ns)) if ns == "jsonpatch")
            {
                return true;
            }
        }
        crate::engine::cel::ast::children_mut(e).into_iter().any(walk)
    }
    crate::engine::cel::compile::environment()
        .compile(source)
        .is_ok_and(|p| walk(&mut p.expression().clone()))
}
