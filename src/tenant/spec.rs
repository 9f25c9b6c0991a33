//! The tenancy sections of `celgate.yaml` as written (serde); [`super::Tenancy::build`] checks and
//! compiles them. Reference: `docs/tenants.md`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::engine::pack::LabelSelector;
use crate::engine::Mode;

/// The tenancy part of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TenancySpec {
    /// The environment when nothing more specific says (e.g. the cluster is `production`).
    #[serde(default)]
    pub environment: Option<String>,
    /// The tenants.
    #[serde(default)]
    pub tenants: Vec<TenantSpec>,
    /// Environments and their mode overrides.
    #[serde(default)]
    pub environments: Vec<EnvironmentSpec>,
    /// Time-boxed exceptions to rules.
    #[serde(default)]
    pub exceptions: Vec<ExceptionSpec>,
    /// Limits on exceptions.
    #[serde(default)]
    pub exception_policy: ExceptionPolicySpec,
}

/// One tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantSpec {
    /// Unique name (`acme`).
    pub name: String,
    /// Namespaces it owns: exact names or globs (`acme-*`).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Namespaces it owns by their labels (where the labels are known: CI bundles with the
    /// Namespace, Namespace objects themselves).
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// Environment of some of its namespaces: environment name -> namespace names or globs.
    #[serde(default)]
    pub environments: BTreeMap<String, Vec<String>>,
    /// Data classification of its objects when they carry no `data-classification` label
    /// (the packs read it as `params.defaultClassification`).
    #[serde(default)]
    pub data_classification: Option<String>,
    /// Packs (frameworks) that apply to it; all when absent.
    #[serde(default)]
    pub frameworks: Option<Vec<String>>,
    /// Mode per framework (pack name) or rule id; a rule's entry beats its pack's.
    #[serde(default)]
    pub modes: BTreeMap<String, Mode>,
    /// Values its rules read as `params` (merged over each pack's `spec.params`, per key).
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Bearer tokens for the check API, stored as hashes (`celgate token new`).
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
}

/// A check-API token of a tenant; only its SHA-256 is stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenSpec {
    /// What the token is for (`ci`, `portal`); shown in logs, never the token.
    #[serde(default)]
    pub name: Option<String>,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
}

/// One environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnvironmentSpec {
    /// Unique name (`production`, `staging`).
    pub name: String,
    /// Namespaces (names or globs) that are in this environment, for any tenant.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Mode per framework or rule id in this environment; beats the tenant's modes.
    #[serde(default)]
    pub modes: BTreeMap<String, Mode>,
}

/// An exception: some rules do not block some objects until a date.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExceptionSpec {
    /// Unique id (`EXC-2026-014`).
    pub id: String,
    /// Rule ids it covers (`rule: x` for one).
    #[serde(alias = "rule", deserialize_with = "one_or_many")]
    pub rules: Vec<String>,
    /// Which objects it covers; every given field must match.
    #[serde(default)]
    pub scope: ExceptionScopeSpec,
    /// Why it was granted.
    pub reason: String,
    /// Who is accountable.
    pub owner: String,
    /// Tracking ticket.
    #[serde(default)]
    pub ticket: Option<String>,
    /// Expiry: `2026-12-31` (end of that day, UTC) or an RFC 3339 date-time. Required.
    #[serde(default)]
    pub expires: Option<String>,
}

/// Which objects an exception covers. An empty scope covers everything the rules see.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExceptionScopeSpec {
    /// Tenant names (`tenant: acme` for one).
    #[serde(default, alias = "tenant", deserialize_with = "one_or_many")]
    pub tenants: Vec<String>,
    /// Namespace names or globs (`namespace: x` for one).
    #[serde(default, alias = "namespace", deserialize_with = "one_or_many")]
    pub namespaces: Vec<String>,
    /// Object names or globs (`name: x` for one).
    #[serde(default, alias = "name", deserialize_with = "one_or_many")]
    pub names: Vec<String>,
    /// Kinds (`Deployment`; `kind: X` for one).
    #[serde(default, alias = "kind", deserialize_with = "one_or_many")]
    pub kinds: Vec<String>,
    /// Object labels, as a Kubernetes label selector.
    #[serde(default)]
    pub selector: Option<LabelSelector>,
    /// Object labels that must all be present with these values (shorthand for
    /// `selector.matchLabels`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A list, or one value standing for a list of one.
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// Limits on exceptions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExceptionPolicySpec {
    /// Longest an exception may run from now, in days (default 90).
    #[serde(default = "default_max_days")]
    pub max_days: u32,
}

impl Default for ExceptionPolicySpec {
    fn default() -> Self {
        ExceptionPolicySpec {
            max_days: default_max_days(),
        }
    }
}

fn default_max_days() -> u32 {
    90
}
