//! Kubernetes admission policies run as they are: `admissionregistration.k8s.io`
//! `ValidatingAdmissionPolicy` + `ValidatingAdmissionPolicyBinding` and `MutatingAdmissionPolicy`
//! (JSONPatch form) + `MutatingAdmissionPolicyBinding`, loaded wherever rule packs are and turned
//! into compiled packs of the same engine, so every door explains them the same way.
//!
//! - [`model`]: the strict serde model of the four kinds.
//! - [`convert`]: documents -> [`CompiledPack`](crate::engine::CompiledPack)s, one per policy
//!   (pack name = policy name; rule id = `<policy>[<index>]` of the validation or mutation;
//!   findings about the policy as a whole, such as missing params, use the policy name).
//! - [`matching`]: `matchConstraints` / `matchResources`; [`resources`]: kind -> resource.
//! - [`params`]: param objects and `paramRef` resolution; [`jsonpatch`]: the JSONPatch form.
//! - `eval`: one policy against one input, per binding and per param object.

pub mod apply_config;
mod binding;
pub mod convert;
pub(crate) mod eval;
pub mod jsonpatch;
pub mod matching;
pub mod model;
pub mod params;
mod policy;
mod policy_kinds;
pub mod resources;
pub mod schema_check;

use std::sync::Arc;

use super::compile::CompiledExpr;
pub use matching::CompiledMatch;
pub use model::{FailurePolicy, ParamKind, ParamNotFoundAction, ParamRef, ValidationAction};
pub use params::{ParamError, ParamObject, ParamStore};

/// Annotation on a policy listing the control clauses its rules support (comma-separated).
pub const CONTROLS_ANNOTATION: &str = "celgate.io/controls";
/// Annotation on a policy giving its rules' severity (`low` .. `critical`; default `high`).
pub const SEVERITY_ANNOTATION: &str = "celgate.io/severity";
/// Annotation on a policy giving the remediation text (default: the validation's message).
pub const REMEDIATION_ANNOTATION: &str = "celgate.io/remediation";
/// Annotation on a policy saying why its rules matter (the findings' `rationale`; default: none).
pub const RATIONALE_ANNOTATION: &str = "celgate.io/rationale";

/// Validating or mutating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A `ValidatingAdmissionPolicy`: its rules are the validations.
    Validating,
    /// A `MutatingAdmissionPolicy`: its rules are the mutations.
    Mutating,
}

impl PolicyKind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Validating => "ValidatingAdmissionPolicy",
            PolicyKind::Mutating => "MutatingAdmissionPolicy",
        }
    }
}

/// What a compiled pack that came from an admission policy carries besides its rules: the
/// policy-level parts the apiserver applies around the validations.
#[derive(Debug)]
pub struct CompiledAdmission {
    /// Validating or mutating.
    pub kind: PolicyKind,
    /// The policy name (also the pack name).
    pub policy: String,
    /// `spec.matchConstraints`.
    pub constraints: CompiledMatch,
    /// `spec.paramKind`.
    pub param_kind: Option<ParamKind>,
    /// `spec.failurePolicy` (default `Fail`).
    pub failure_policy: FailurePolicy,
    /// `spec.matchConditions`: (name, expression).
    pub match_conditions: Vec<(String, CompiledExpr)>,
    /// `spec.auditAnnotations`: (key, valueExpression).
    pub audit_annotations: Vec<(String, CompiledExpr)>,
    /// Per rule (same index as the pack's rules): the HTTP code of the validation's `reason`.
    pub status_codes: Vec<Option<u16>>,
    /// Per rule of a mutating policy: true when the mutation is an `ApplyConfiguration` (its
    /// expression returns a partial object to merge), false for `JSONPatch`.
    pub apply_configurations: Vec<bool>,
    /// Indexes of every pack variable the match conditions and annotations read (each rule
    /// lists its own; a mutating policy's rules hold its JSONPatch expressions).
    pub variables: Vec<usize>,
    /// The bindings of this policy, in load order; a policy without one does nothing.
    pub bindings: Vec<CompiledBinding>,
    /// Param objects that were loaded with the policies (files in the packs folders).
    pub params: Arc<ParamStore>,
}

/// One binding of a policy.
#[derive(Debug)]
pub struct CompiledBinding {
    /// `metadata.name`.
    pub name: String,
    /// `spec.matchResources`, intersected with the policy's constraints.
    pub resources: Option<CompiledMatch>,
    /// `spec.paramRef`.
    pub param_ref: Option<ParamRef>,
    /// `spec.paramRef.parameterNotFoundAction` (default `Deny`).
    pub not_found: ParamNotFoundAction,
    /// `spec.validationActions` (`[Deny]` for a mutating binding, whose failures deny).
    pub actions: Vec<ValidationAction>,
}

/// How admission policies are applied for one evaluation besides their own documents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdmissionOptions<'a> {
    /// Param objects given besides those loaded with the policies.
    pub params: &'a ParamStore,
    /// `celgate check --bind-all`: a policy without a binding runs as if bound by [`implied_binding`].
    pub bind_all: bool,
}

/// Name of the binding `--bind-all` implies for a policy that has none.
pub const IMPLIED_BINDING: &str = "implied by --bind-all";

/// The binding `--bind-all` implies: every namespace and object the policy's own constraints
/// match, no params, `validationActions: [Deny]`.
pub fn implied_binding() -> CompiledBinding {
    CompiledBinding {
        name: IMPLIED_BINDING.to_owned(),
        resources: None,
        param_ref: None,
        not_found: ParamNotFoundAction::Deny,
        actions: vec![ValidationAction::Deny],
    }
}

/// A loaded admission policy that no binding binds: in a cluster it does nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnboundPolicy {
    /// Validating or mutating.
    pub kind: PolicyKind,
    /// The policy name.
    pub name: String,
    /// Whether `--bind-all` applies it anyway.
    pub implied: bool,
}

impl UnboundPolicy {
    /// The kind of binding it lacks.
    pub fn binding_kind(&self) -> &'static str {
        match self.kind {
            PolicyKind::Validating => "ValidatingAdmissionPolicyBinding",
            PolicyKind::Mutating => "MutatingAdmissionPolicyBinding",
        }
    }
}

impl std::fmt::Display for UnboundPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.implied {
            let applied = match self.kind {
                PolicyKind::Validating => "validationActions: [Deny]",
                PolicyKind::Mutating => "its mutations applied",
            };
            write!(
                f,
                "policy {} has no {}: checked as if bound to every namespace ({IMPLIED_BINDING}, {applied})",
                self.name,
                self.binding_kind()
            )
        } else {
            write!(
                f,
                "policy {} has no {}: it does nothing (add a binding, or try it with `celgate check --bind-all`)",
                self.name,
                self.binding_kind()
            )
        }
    }
}

/// The admission policies among `packs` that no binding binds, in load order.
pub fn unbound<'a>(
    packs: impl IntoIterator<Item = &'a crate::engine::CompiledPack>,
    bind_all: bool,
) -> Vec<UnboundPolicy> {
    packs
        .into_iter()
        .filter_map(|p| p.admission.as_deref())
        .filter(|a| a.bindings.is_empty())
        .map(|a| UnboundPolicy {
            kind: a.kind,
            name: a.policy.clone(),
            implied: bind_all,
        })
        .collect()
}
