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
