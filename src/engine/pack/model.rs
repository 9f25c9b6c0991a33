//! The rule-pack file format (design §3): the serde model of `apiVersion: celgate.io/v1`,
//! `kind: RulePack`, read strictly (unknown fields are errors).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::engine::cel::cost::InputLimits;
pub use crate::engine::facts::decision::{Action, Severity};

/// The only pack `apiVersion` this build understands.
pub const PACK_API_VERSION: &str = "celgate.io/v1";
/// The `kind` every pack document carries.
pub const PACK_KIND: &str = "RulePack";

/// One pack document as written in YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackDocument {
    /// Must be [`PACK_API_VERSION`]; checked after parsing so the error can say what was found.
    pub api_version: String,
    /// Must be [`PACK_KIND`].
    pub kind: String,
    /// Name, semantic version and framework of the pack.
    pub metadata: PackMetadata,
    /// Parameters, shared variables and rules.
    pub spec: PackSpec,
}

/// Identifies a pack: rules are reported with this name and version.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackMetadata {
    /// Short lowercase name (`soc2`); also the `--framework` filter value.
    pub name: String,
    /// Semantic version of the pack (`1.2.0`), recorded with every decision.
    pub version: String,
    /// The framework the pack supports, as a human reads it.
    #[serde(default)]
    pub framework: Option<String>,
    /// What the pack is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// The body of a pack.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackSpec {
    /// Default parameters, visible to CEL as `params`; a tenant or caller may override keys.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Params whose shipped values are examples an operator must replace, each with that example
    /// (`allowedRegistries: [registry.example.com/]`): while a param still holds its example (the
    /// pack's params unchanged, and no tenant or caller setting it), a finding of a rule that
    /// reads it warns instead of denying (see `engine::pack::placeholders`).
    #[serde(default)]
    pub params_to_configure: BTreeMap<String, serde_json::Value>,
    /// Rule ids an earlier version of the pack had and this one no longer has, each with what
    /// replaced it (`soc2-pod-no-host-escape: replaced by soc2-pss-host-namespaces, …`): a
    /// tenancy config that still names one is refused with that note instead of a bare
    /// "unknown rule".
    #[serde(default)]
    pub retired_rules: BTreeMap<String, String>,
    /// Named CEL expressions shared by the pack's rules, visible as `variables.<name>`.
    #[serde(default)]
    pub variables: Vec<VariableSpec>,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Largest input the expressions of this document are written for; bounds the load-time
    /// cost estimate and, once declared, is enforced at run time (see `engine::cel::cost`).
    #[serde(default)]
    pub input_limits: Option<InputLimits>,
}

/// A named CEL expression evaluated at most once per input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VariableSpec {
    /// Identifier used as `variables.<name>`.
    pub name: String,
    /// CEL expression; may use earlier variables.
    pub expression: String,
}

/// What an evaluation error (missing field, wrong type, cost bound) turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Fail closed: the error denies (the default of `deny` and `patch` rules).
    #[default]
    Deny,
    /// Report the error as a warning and admit.
    Warn,
    /// Record the error and admit.
    Allow,
}

/// One compliance rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSpec {
    /// Stable, lowercase id prefixed by the pack name, unique across all loaded packs.
    pub id: String,
    /// One-line summary of what must hold.
    pub title: String,
    /// Exact control clauses the rule supports (`45 CFR 164.312(a)(2)(iv)`).
    pub controls: Vec<String>,
    /// How bad a violation is.
    pub severity: Severity,
    /// Which inputs the rule applies to.
    #[serde(default, rename = "match")]
    pub match_: MatchSpec,
    /// CEL; the rule applies only when this is true.
    #[serde(default)]
    pub condition: Option<String>,
    /// JSONPath, or a list of them (matches in order); the rule is checked once per match, bound
    /// to `item` (and `itemPointer`).
    #[serde(default)]
    pub for_each: Option<ForEachPaths>,
    /// CEL; true means compliant.
    pub validate: String,
    /// Message template; `{expr}` interpolates a CEL expression, `{{` and `}}` are literal braces.
    pub message: String,
    /// CEL returning the whole message; used instead of `message` when it evaluates to a string.
    #[serde(default)]
    pub message_expression: Option<String>,
    /// How to fix a violation.
    pub remediation: String,
    /// Why the rule matters (shown in docs and SARIF help).
    #[serde(default)]
    pub rationale: Option<String>,
    /// JSON pointer of the offending field, relative to `item` in a `forEach` rule; may contain
    /// `{expr}` interpolation.
    #[serde(default)]
    pub pointer: Option<String>,
    /// What a violation does.
    #[serde(default = "default_action")]
    pub action: Action,
    /// What an evaluation error does; unset, it does what a violation does, never more
    /// ([`RuleSpec::error_action`]).
    #[serde(default)]
    pub on_error: Option<OnError>,
    /// RFC 6902 operations that fix a violation (applied when `action: patch`).
    #[serde(default)]
    pub patch: Vec<PatchOpSpec>,
    /// Input bounds of this rule's expressions, each field overriding the pack's `inputLimits`.
    #[serde(default)]
    pub input_limits: Option<InputLimits>,
    /// The pack version that added the rule or last made it stricter (`0.2.0`; at most the
    /// pack's own version). A tenancy mode keyed `pack@version` (`soc2@0.2.0: warn`) applies to
    /// the rules changed in that version, so an operator can roll a new pack version out in
    /// `warn` first.
    #[serde(default)]
    pub changed_in: Option<String>,
}

impl RuleSpec {
    /// What an evaluation error of this rule does: `onError` when set; otherwise what a
    /// violation does, so a `warn` or `audit` rule that cannot be evaluated never denies
    /// (a `deny` or `patch` rule fails closed).
    pub fn error_action(&self) -> OnError {
        self.on_error.unwrap_or(match self.action {
            Action::Deny | Action::Patch => OnError::Deny,
            Action::Warn => OnError::Warn,
            Action::Audit => OnError::Allow,
        })
    }
}

/// `forEach`: one JSONPath or several (a `Pod`, a `Deployment` and a `CronJob` keep their containers
/// at different depths; listing the three paths is much cheaper than a `..` descent).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ForEachPaths {
    /// One path.
    One(String),
    /// Several paths, walked in order.
    Many(Vec<String>),
}

impl ForEachPaths {
    /// The paths as written.
    pub fn paths(&self) -> &[String] {
        match self {
            ForEachPaths::One(p) => std::slice::from_ref(p),
            ForEachPaths::Many(p) => p,
        }
    }
}

fn default_action() -> Action {
    Action::Deny
}

/// Which inputs a rule applies to, like a webhook rule plus selectors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MatchSpec {
    /// Kinds (`Deployment`) or `group/version/Kind` / `version/Kind` (`apps/v1/Deployment`,
    /// `v1/Pod`); `*` matches any. Empty: every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or `*`. Empty: CREATE and UPDATE.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Namespace globs (`team-*`); empty: any namespace (and cluster-scoped objects).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Namespace globs the rule never applies to.
    #[serde(default)]
    pub exclude_namespaces: Vec<String>,
    /// Label selector on the object's own labels.
    #[serde(default)]
    pub selector: Option<LabelSelector>,
    /// Label selector on the labels of the object's namespace (when the door knows them).
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
}

/// A Kubernetes-style label selector.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    /// Every key must have exactly this value.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Every expression must hold.
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// How the key relates to the values.
    pub operator: SelectorOperator,
    /// Values for `In`/`NotIn`; must be empty for `Exists`/`DoesNotExist`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// `matchExpressions` operators.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum SelectorOperator {
    /// Label value is one of `values`.
    In,
    /// Label absent or value not in `values`.
    NotIn,
    /// Label present.
    Exists,
    /// Label absent.
    DoesNotExist,
}

/// One RFC 6902 operation as written in a pack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchOpSpec {
    /// `add`, `replace`, `remove`, `test`, `copy` or `move`.
    pub op: PatchOpKind,
    /// Target JSON pointer; in a `forEach` rule it is relative to the item unless it starts
    /// with `$/` (then relative to the document). May contain `{expr}` interpolation.
    pub path: String,
    /// Source pointer for `copy`/`move`.
    #[serde(default)]
    pub from: Option<String>,
    /// Literal value.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// CEL computing the value.
    #[serde(default)]
    pub value_expression: Option<String>,
}

/// RFC 6902 operation names.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PatchOpKind {
    /// Add a member or array element.
    Add,
    /// Remove the target.
    Remove,
    /// Replace the target's value.
    Replace,
    /// Move a value.
    Move,
    /// Copy a value.
    Copy,
    /// Check a value.
    Test,
}

impl PatchOpKind {
    /// RFC 6902 name.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Remove => "remove",
            PatchOpKind::Replace => "replace",
            PatchOpKind::Move => "move",
            PatchOpKind::Copy => "copy",
            PatchOpKind::Test => "test",
        }
    }
}
