//! The compiled form of Kubernetes admission policies, as the pack model holds it: what a pack
//! made from a `ValidatingAdmissionPolicy` or `MutatingAdmissionPolicy` carries besides its rules
//! ([`CompiledAdmission`]), the policies' serde model ([`model`]), their `matchConstraints` and
//! bindings' `matchResources` ([`matching`]) and param objects ([`params`]). Reading policy
//! documents into this form is [`crate::engine::vap`]'s job; running it is `engine::eval`'s.

pub mod matching;
pub mod model;
pub mod params;

use crate::engine::facts::decision::StatusReason;
use std::sync::Arc;

use crate::engine::cel::compile::CompiledExpr;
use matching::CompiledMatch;
use model::{FailurePolicy, ParamKind, ParamNotFoundAction, ParamRef, ValidationAction};
use params::ParamStore;

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
    /// Per rule (same index as the pack's rules): the validation's `reason`.
    pub reasons: Vec<Option<StatusReason>>,
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
