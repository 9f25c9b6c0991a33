//! The serde model of `admissionregistration.k8s.io` `ValidatingAdmissionPolicy`,
//! `ValidatingAdmissionPolicyBinding`, `MutatingAdmissionPolicy` and `MutatingAdmissionPolicyBinding`,
//! read strictly: an unknown field in a policy or binding is an error naming its path (only
//! `metadata` and `status` are read leniently, so objects exported from a cluster load as they are).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::engine::pack::LabelSelector;

/// The API group of every kind read here.
pub const API_GROUP: &str = "admissionregistration.k8s.io";
/// The versions of that group this build reads: the published ones, for all four kinds
/// (`MutatingAdmissionPolicy` went to `v1` in Kubernetes 1.36). Each version is read with the
/// one schema of this module, which is the same in all of them.
pub const API_VERSIONS: &[&str] = &["v1", "v1beta1", "v1alpha1"];

/// The four kinds, as written in `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionKind {
    /// `ValidatingAdmissionPolicy`.
    ValidatingPolicy,
    /// `ValidatingAdmissionPolicyBinding`.
    ValidatingBinding,
    /// `MutatingAdmissionPolicy`.
    MutatingPolicy,
    /// `MutatingAdmissionPolicyBinding`.
    MutatingBinding,
}

impl AdmissionKind {
    /// The kind named `kind`, if it is one of the four.
    pub fn parse(kind: &str) -> Option<AdmissionKind> {
        match kind {
            "ValidatingAdmissionPolicy" => Some(AdmissionKind::ValidatingPolicy),
            "ValidatingAdmissionPolicyBinding" => Some(AdmissionKind::ValidatingBinding),
            "MutatingAdmissionPolicy" => Some(AdmissionKind::MutatingPolicy),
            "MutatingAdmissionPolicyBinding" => Some(AdmissionKind::MutatingBinding),
            _ => None,
        }
    }

    /// The kind as Kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AdmissionKind::ValidatingPolicy => "ValidatingAdmissionPolicy",
            AdmissionKind::ValidatingBinding => "ValidatingAdmissionPolicyBinding",
            AdmissionKind::MutatingPolicy => "MutatingAdmissionPolicy",
            AdmissionKind::MutatingBinding => "MutatingAdmissionPolicyBinding",
        }
    }
}

/// `metadata` of a policy or binding: only what celgate uses; other fields are accepted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The policy or binding name (a policy's name is its pack name and rule-id prefix).
    pub name: String,
    /// Labels (unused by admission; kept for completeness).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations; `celgate.io/controls`, `celgate.io/severity` and `celgate.io/remediation`
    /// enrich the explanations of a policy.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A `ValidatingAdmissionPolicy` or `MutatingAdmissionPolicy` document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyDocument<S> {
    /// `admissionregistration.k8s.io/<version>`.
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// Name and annotations.
    pub metadata: Metadata,
    /// The policy.
    pub spec: S,
    /// What a cluster reported (type-checking warnings); ignored.
    #[serde(default)]
    pub status: Option<serde_json::Value>,
}

/// `ValidatingAdmissionPolicy.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValidatingPolicySpec {
    /// The kind of the param objects; none: `params` is null.
    #[serde(default)]
    pub param_kind: Option<ParamKind>,
    /// Which requests the policy applies to.
    #[serde(default)]
    pub match_constraints: Option<MatchResources>,
    /// The checks.
    #[serde(default)]
    pub validations: Vec<Validation>,
    /// What an evaluation error or misconfiguration does (default `Fail`).
    #[serde(default)]
    pub failure_policy: Option<FailurePolicy>,
    /// Audit annotations computed for every request the policy judges.
    #[serde(default)]
    pub audit_annotations: Vec<AuditAnnotation>,
    /// CEL preconditions; all must be true for the policy to apply.
    #[serde(default)]
    pub match_conditions: Vec<MatchCondition>,
    /// Named expressions visible as `variables.<name>`.
    #[serde(default)]
    pub variables: Vec<Variable>,
}

/// `MutatingAdmissionPolicy.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MutatingPolicySpec {
    /// The kind of the param objects.
    #[serde(default)]
    pub param_kind: Option<ParamKind>,
    /// Which requests the policy applies to.
    #[serde(default)]
    pub match_constraints: Option<MatchResources>,
    /// Named expressions visible as `variables.<name>`.
    #[serde(default)]
    pub variables: Vec<Variable>,
    /// The mutations, applied in order.
    #[serde(default)]
    pub mutations: Vec<Mutation>,
    /// What an evaluation error does (default `Fail`).
    #[serde(default)]
    pub failure_policy: Option<FailurePolicy>,
    /// CEL preconditions.
    #[serde(default)]
    pub match_conditions: Vec<MatchCondition>,
    /// `Never` or `IfNeeded`; celgate always judges the mutated object once more.
    #[serde(default)]
    pub reinvocation_policy: Option<String>,
}

/// A binding document (validating or mutating).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BindingDocument {
    /// `admissionregistration.k8s.io/<version>`.
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// Name.
    pub metadata: Metadata,
    /// The binding.
    pub spec: BindingSpec,
    /// Ignored.
    #[serde(default)]
    pub status: Option<serde_json::Value>,
}

/// `ValidatingAdmissionPolicyBinding.spec` (a mutating binding has no `validationActions`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BindingSpec {
    /// The policy bound.
    pub policy_name: String,
    /// Where the param objects come from.
    #[serde(default)]
    pub param_ref: Option<ParamRef>,
    /// Narrows the policy's `matchConstraints`.
    #[serde(default)]
    pub match_resources: Option<MatchResources>,
    /// What a failed validation does; required for validating bindings.
    #[serde(default)]
    pub validation_actions: Vec<ValidationAction>,
}

/// `paramKind`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ParamKind {
    /// `group/version` of the param objects.
    pub api_version: String,
    /// Their kind.
    pub kind: String,
}

/// `paramRef`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ParamRef {
    /// One param object by name (exclusive with `selector`).
    #[serde(default)]
    pub name: Option<String>,
    /// Namespace to look in; unset for a namespaced kind: the request's namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Every param object whose labels match (exclusive with `name`).
    #[serde(default)]
    pub selector: Option<LabelSelector>,
    /// What no matching param object does (default `Deny`).
    #[serde(default)]
    pub parameter_not_found_action: Option<ParamNotFoundAction>,
}

/// `parameterNotFoundAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ParamNotFoundAction {
    /// No param: the binding admits.
    Allow,
    /// No param: a failure, subject to the policy's `failurePolicy`.
    Deny,
}

/// `failurePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum FailurePolicy {
    /// An error is enforced like a failed validation (per the binding's actions).
    #[default]
    Fail,
    /// An error is ignored: the request is admitted.
    Ignore,
}

/// `matchPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum MatchPolicy {
    /// Only the group/version/resource written in the rules.
    Exact,
    /// Also the same resource under another version (and the known group moves).
    #[default]
    Equivalent,
}

/// One `validationActions` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ValidationAction {
    /// Reject the request.
    Deny,
    /// Admit with a warning.
    Warn,
    /// Admit and record an audit annotation.
    Audit,
}

/// `matchConstraints` / `matchResources`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MatchResources {
    /// On the labels of the request's namespace.
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// On the labels of the object (old or new).
    #[serde(default)]
    pub object_selector: Option<LabelSelector>,
    /// Requests that match (any rule).
    #[serde(default)]
    pub resource_rules: Vec<NamedRuleWithOperations>,
    /// Requests that never match (wins over `resourceRules`).
    #[serde(default)]
    pub exclude_resource_rules: Vec<NamedRuleWithOperations>,
    /// Exact or Equivalent.
    #[serde(default)]
    pub match_policy: Option<MatchPolicy>,
}

/// One resource rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamedRuleWithOperations {
    /// Object names; empty: any.
    #[serde(default)]
    pub resource_names: Vec<String>,
    /// CREATE, UPDATE, DELETE, CONNECT or `*`.
    #[serde(default)]
    pub operations: Vec<String>,
    /// API groups (`""` core, `*` any).
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// API versions (`*` any).
    #[serde(default)]
    pub api_versions: Vec<String>,
    /// Resources (`deployments`, `pods/status`, `*`, `*/scale`, `*/*`).
    #[serde(default)]
    pub resources: Vec<String>,
    /// `Cluster`, `Namespaced` or `*` (default `*`).
    #[serde(default)]
    pub scope: Option<String>,
}

/// One validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Validation {
    /// CEL; true means the request is valid.
    pub expression: String,
    /// Static message (default `failed expression: <expression>`).
    #[serde(default)]
    pub message: Option<String>,
    /// Why the request is refused; chooses the HTTP code.
    #[serde(default)]
    pub reason: Option<Reason>,
    /// CEL returning the message; falls back to `message` when it fails or is empty.
    #[serde(default)]
    pub message_expression: Option<String>,
}

/// `reason` of a validation: the `metav1.StatusReason` the apiserver answers with.
pub use crate::engine::facts::decision::StatusReason as Reason;

/// One `auditAnnotations` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuditAnnotation {
    /// Annotation key, published as `<policy name>/<key>`.
    pub key: String,
    /// CEL returning a string (the value) or null (no annotation).
    pub value_expression: String,
}

/// One `matchConditions` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MatchCondition {
    /// Unique name, shown in errors.
    pub name: String,
    /// CEL returning a bool.
    pub expression: String,
}

/// One `variables` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Variable {
    /// Identifier used as `variables.<name>`.
    pub name: String,
    /// CEL; may use earlier variables.
    pub expression: String,
}

/// One mutation of a `MutatingAdmissionPolicy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mutation {
    /// `JSONPatch` or `ApplyConfiguration`.
    pub patch_type: String,
    /// The JSONPatch form.
    #[serde(default)]
    pub json_patch: Option<ExpressionHolder>,
    /// The apply-configuration form (not supported yet: a load error).
    #[serde(default)]
    pub apply_configuration: Option<ExpressionHolder>,
}

/// `{expression: ...}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExpressionHolder {
    /// CEL.
    pub expression: String,
}
