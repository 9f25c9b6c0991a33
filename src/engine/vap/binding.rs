//! Compiling a binding of either kind: its actions, `paramRef` and `matchResources`, checked
//! against the policy it binds.

use std::collections::BTreeSet;

use crate::engine::pack::admission::matching::CompiledMatch;
use crate::engine::pack::admission::model::{
    AdmissionKind, BindingDocument, BindingSpec, ParamNotFoundAction, ValidationAction,
};
use crate::engine::pack::admission::{CompiledAdmission, CompiledBinding};
use crate::engine::pack::error::{PackError, PackErrorKind};
use crate::engine::pack::load::DocContext;

pub(super) fn compile_binding(
    ctx: &DocContext<'_>,
    subject: &str,
    kind: AdmissionKind,
    doc: BindingDocument,
    admission: &CompiledAdmission,
    errors: &mut Vec<PackError>,
) -> Option<CompiledBinding> {
    let before = errors.len();
    let spec = doc.spec;
    let actions = {
        let mut err = |pointer: &str, field: &str, kind: PackErrorKind| {
            errors.push(ctx.invalid(pointer, subject.to_owned(), field, kind));
        };
        let actions = validation_actions(kind, &spec, &mut err);
        check_param_ref(admission, &spec, &mut err);
        actions
    };
    let resources = spec.match_resources.map(|m| {
        CompiledMatch::new(m, false).map_err(|e| {
            errors.push(ctx.invalid(
                "/spec/matchResources",
                subject.to_owned(),
                "spec.matchResources",
                PackErrorKind::MatchResources(e),
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

/// The binding's `validationActions`: one or more, distinct, not both Deny and Warn, and none
/// on a mutating binding (whose one action is Deny).
fn validation_actions(
    kind: AdmissionKind,
    spec: &BindingSpec,
    err: &mut impl FnMut(&str, &str, PackErrorKind),
) -> Vec<ValidationAction> {
    if kind != AdmissionKind::ValidatingBinding {
        if !spec.validation_actions.is_empty() {
            err(
                "/spec/validationActions",
                "spec.validationActions",
                PackErrorKind::ActionsOnMutatingBinding,
            );
        }
        return vec![ValidationAction::Deny];
    }
    let actions = spec.validation_actions.clone();
    if actions.is_empty() {
        err("/spec", "spec.validationActions", PackErrorKind::NoValidationActions);
    }
    let unique: BTreeSet<String> = actions.iter().map(|a| format!("{a:?}")).collect();
    if unique.len() != actions.len() {
        err(
            "/spec/validationActions",
            "spec.validationActions",
            PackErrorKind::ActionTwice,
        );
    }
    if actions.contains(&ValidationAction::Deny) && actions.contains(&ValidationAction::Warn) {
        err(
            "/spec/validationActions",
            "spec.validationActions",
            PackErrorKind::DenyAndWarn,
        );
    }
    actions
}

/// A `paramRef` exactly when the policy has a `paramKind`, naming its params by name or by
/// selector.
fn check_param_ref(admission: &CompiledAdmission, spec: &BindingSpec, err: &mut impl FnMut(&str, &str, PackErrorKind)) {
    match (&admission.param_kind, &spec.param_ref) {
        (None, Some(_)) => err(
            "/spec/paramRef",
            "spec.paramRef",
            PackErrorKind::ParamRefWithoutParamKind {
                policy: admission.policy.clone(),
            },
        ),
        (Some(k), None) => err(
            "/spec",
            "spec.paramRef",
            PackErrorKind::ParamRefMissing {
                policy: admission.policy.clone(),
                api_version: k.api_version.clone(),
                kind: k.kind.clone(),
            },
        ),
        (Some(_), Some(r)) if r.name.is_some() == r.selector.is_some() => {
            err("/spec/paramRef", "spec.paramRef", PackErrorKind::ParamRefNameOrSelector);
        }
        _ => {}
    }
}
