//! Kubernetes admission policies run as they are: `admissionregistration.k8s.io`
//! `ValidatingAdmissionPolicy` + `ValidatingAdmissionPolicyBinding` and `MutatingAdmissionPolicy`
//! (JSONPatch form) + `MutatingAdmissionPolicyBinding`, loaded wherever rule packs are and turned
//! into compiled packs of the same engine, so every door explains them the same way.
//!
//! Reading admission policies into packs; imports `cel/`, `facts/` and `pack/`:
//!
//! - `convert`: documents -> [`CompiledPack`](crate::engine::pack::compiled::CompiledPack)s, one per policy
//!   (pack name = policy name; rule id = `<policy>[<index>]` of the validation or mutation;
//!   findings about the policy as a whole, such as missing params, use the policy name), with
//!   its bindings and param objects; `schema_check`: the API server's type-checking warnings.
//! - `jsonpatch` and `apply_config`: the two forms of a mutation.
//! - The compiled form they produce (serde [`model`], [`matching`], [`params`]) is the pack
//!   model's (`pack::admission`, re-exported here); running a policy is
//!   `engine::eval`'s (`eval/policies.rs`).

pub(crate) mod apply_config;
mod binding;
pub(crate) mod convert;
pub(crate) mod jsonpatch;
mod policy;
mod policy_kinds;
pub(crate) mod schema_check;

pub use crate::engine::facts::resources;
pub use crate::engine::pack::admission::matching::CompiledMatch;
pub use crate::engine::pack::admission::model::{
    FailurePolicy, ParamKind, ParamNotFoundAction, ParamRef, ValidationAction,
};
pub use crate::engine::pack::admission::params::{ParamError, ParamObject, ParamStore};
pub use crate::engine::pack::admission::{matching, model, params, CompiledAdmission, CompiledBinding, PolicyKind};
use crate::engine::pack::compiled::PackKind;

/// Annotation on a policy listing the control clauses its rules support (comma-separated).
pub const CONTROLS_ANNOTATION: &str = "celgate.io/controls";
/// Annotation on a policy giving its rules' severity (`low` .. `critical`; default `high`).
pub const SEVERITY_ANNOTATION: &str = "celgate.io/severity";
/// Annotation on a policy giving the remediation text (default: the validation's message).
pub const REMEDIATION_ANNOTATION: &str = "celgate.io/remediation";
/// Annotation on a policy saying why its rules matter (the findings' `rationale`; default: none).
pub const RATIONALE_ANNOTATION: &str = "celgate.io/rationale";

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
    packs: impl IntoIterator<Item = &'a crate::engine::pack::compiled::CompiledPack>,
    bind_all: bool,
) -> Vec<UnboundPolicy> {
    packs
        .into_iter()
        .filter_map(|p| match &p.kind {
            PackKind::Rules => None,
            PackKind::AdmissionPolicies(admission) => Some(admission),
        })
        .filter(|a| a.bindings.is_empty())
        .map(|a| UnboundPolicy {
            kind: a.kind,
            name: a.policy.clone(),
            implied: bind_all,
        })
        .collect()
}
