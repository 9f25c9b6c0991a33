//! Tenants, environments, modes, params and exceptions (design §2 `tenant.rs`): the data from
//! `celgate.yaml`, checked once against the loaded packs ([`Tenancy::build`]), and the resolution
//! of one request to a [`Scope`] — which tenant, which environment, which modes and exceptions —
//! that the engine consults through [`crate::engine::Overrides`].
//!
//! Compiled packs are shared by every tenant; a tenant costs only its own tables.

mod build;
pub mod pattern;
mod scope;
pub mod spec;
pub mod token;
mod versions;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::engine::pack::LabelSelector;
use crate::engine::Mode;
use pattern::NamePattern;

pub use build::{TenancyError, TenancyErrors};
pub use scope::Scope;
pub use spec::TenancySpec;

/// The checked tenancy configuration. Immutable; the server swaps a whole new one on reload.
#[derive(Debug, Default)]
pub struct Tenancy {
    tenants: Vec<Tenant>,
    by_name: HashMap<String, usize>,
    by_namespace: pattern::PatternIndex,
    environments: Vec<Environment>,
    default_environment: Option<String>,
    exceptions: Vec<Exception>,
    exceptions_by_rule: HashMap<String, RuleExceptions>,
    tokens: Vec<(token::TokenHash, usize)>,
    expired: Vec<String>,
}

/// One tenant, compiled.
#[derive(Debug)]
pub struct Tenant {
    /// Its name.
    pub name: String,
    namespaces: Vec<NamePattern>,
    namespace_selector: Option<LabelSelector>,
    environments: Vec<(String, Vec<NamePattern>)>,
    /// Packs that apply; `None` = all.
    frameworks: Option<HashSet<String>>,
    modes: ModeTable,
    /// `params` its rules read (incl. `defaultClassification`).
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// One environment, compiled.
#[derive(Debug)]
pub struct Environment {
    /// Its name.
    pub name: String,
    namespaces: Vec<NamePattern>,
    modes: ModeTable,
}

/// The exceptions of one rule, by the tenant their scope names (most name one), so a finding
/// only looks at its own tenant's exceptions and the tenant-less ones.
#[derive(Debug, Default)]
struct RuleExceptions {
    by_tenant: HashMap<String, Vec<usize>>,
    any_tenant: Vec<usize>,
}

impl RuleExceptions {
    fn add(&mut self, tenants: &[String], index: usize) {
        if tenants.is_empty() {
            self.any_tenant.push(index);
        }
        for t in tenants {
            self.by_tenant.entry(t.clone()).or_default().push(index);
        }
    }

    /// Candidates for `tenant`, in configuration order.
    fn for_tenant(&self, tenant: Option<&str>) -> Vec<usize> {
        let own = tenant
            .and_then(|t| self.by_tenant.get(t))
            .map_or(&[][..], Vec::as_slice);
        let mut all: Vec<usize> = own.iter().chain(&self.any_tenant).copied().collect();
        all.sort_unstable();
        all
    }
}

/// Modes by pack name, by pack version (`soc2@0.2.0`, resolved to the rules it covers) and by
/// rule id.
#[derive(Debug, Default)]
struct ModeTable {
    packs: HashMap<String, Mode>,
    versions: versions::VersionModes,
    rules: HashMap<String, Mode>,
}

/// One exception, compiled.
#[derive(Debug)]
struct Exception {
    id: String,
    tenants: Vec<String>,
    namespaces: Vec<NamePattern>,
    names: Vec<NamePattern>,
    kinds: Vec<String>,
    selector: Option<LabelSelector>,
    reason: String,
    owner: String,
    ticket: Option<String>,
    expires_text: String,
    expires_at: DateTime<Utc>,
}

/// A request the check API refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No token, or one that is not any tenant's (HTTP 401).
    #[error("a valid bearer token is required (Authorization: Bearer <token>)")]
    Unauthenticated,
    /// The token's tenant asked to act as another (HTTP 403).
    #[error("this token belongs to tenant '{own}' and cannot act as tenant '{asked}'")]
    OtherTenant {
        /// The token's tenant.
        own: String,
        /// The tenant asked for.
        asked: String,
    },
}

/// A name the caller gave that the configuration does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownName {
    /// `--tenant` / `tenant` names no tenant.
    #[error("unknown tenant '{name}' (configured: {known})")]
    Tenant {
        /// The name given.
        name: String,
        /// The configured ones.
        known: String,
    },
    /// `--environment` / `environment` names no environment.
    #[error("unknown environment '{name}' (configured: {known})")]
    Environment {
        /// The name given.
        name: String,
        /// The configured ones.
        known: String,
    },
}

impl Tenancy {
    /// True when no tenant is configured (the check API is then open, as in development).
    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }

    /// The tenants in configuration order.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// The environment used when nothing more specific says.
    pub fn default_environment(&self) -> Option<&str> {
        self.default_environment.as_deref()
    }

    /// Ids of exceptions that have expired (they no longer apply; reported at load and in findings).
    pub fn expired_exceptions(&self) -> &[String] {
        &self.expired
    }

    /// The tenant called `name`.
    pub fn tenant(&self, name: &str) -> Result<&Tenant, UnknownName> {
        self.by_name
            .get(name)
            .map(|&i| &self.tenants[i])
            .ok_or_else(|| UnknownName::Tenant {
                name: name.to_owned(),
                known: join(self.tenants.iter().map(|t| t.name.as_str())),
            })
    }

    /// The environment called `name`: a configured one, or (when none is configured) a bare name.
    pub fn environment(&self, name: &str) -> Result<EnvironmentRef<'_>, UnknownName> {
        if self.environments.is_empty() {
            return Ok(EnvironmentRef::Named(name.to_owned()));
        }
        self.environments
            .iter()
            .find(|e| e.name == name)
            .map(EnvironmentRef::Configured)
            .ok_or_else(|| UnknownName::Environment {
                name: name.to_owned(),
                known: join(self.environments.iter().map(|e| e.name.as_str())),
            })
    }

    /// The tenant owning `namespace`: by name or glob first, then by the namespace's labels
    /// (when the door knows them).
    pub fn tenant_of_namespace(&self, namespace: &str, labels: Option<&BTreeMap<String, String>>) -> Option<&Tenant> {
        if let Some(i) = self.by_namespace.find(namespace) {
            return Some(&self.tenants[i]);
        }
        let labels: BTreeMap<&str, &str> = labels?.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.tenants.iter().find(|t| {
            t.namespace_selector
                .as_ref()
                .is_some_and(|s| crate::engine::pack::select::selector_matches(s, &labels))
        })
    }

    /// The environment of `namespace`: the tenant's mapping, then the environments' namespace
    /// lists, then the configured default.
    pub fn environment_of_namespace(
        &self,
        tenant: Option<&Tenant>,
        namespace: Option<&str>,
    ) -> Option<EnvironmentRef<'_>> {
        let by_tenant = tenant.zip(namespace).and_then(|(t, ns)| {
            t.environments
                .iter()
                .find(|(_, patterns)| patterns.iter().any(|p| p.matches(ns)))
                .map(|(name, _)| name.as_str())
        });
        let by_environment = || {
            namespace.and_then(|ns| {
                self.environments
                    .iter()
                    .find(|e| e.namespaces.iter().any(|p| p.matches(ns)))
                    .map(|e| e.name.as_str())
            })
        };
        let name = by_tenant
            .or_else(by_environment)
            .or(self.default_environment.as_deref())?;
        self.environment(name).ok()
    }

    /// The tenant a check-API bearer token belongs to. Every configured hash is compared, in
    /// constant time, whatever matches first.
    pub fn tenant_of_token(&self, presented: &str) -> Option<&Tenant> {
        let hash = token::hash(presented);
        let mut found = None;
        for (stored, tenant) in &self.tokens {
            if token::constant_time_eq(stored, &hash) {
                found = Some(*tenant);
            }
        }
        found.map(|i| &self.tenants[i])
    }

    /// Checks a check-API call: the token must be a tenant's, and any tenant asked for must be
    /// that one. Returns the tenant to act as. With no tenants configured, access is open.
    pub fn authorize(&self, bearer: Option<&str>, asked: Option<&str>) -> Result<Option<&Tenant>, AccessError> {
        if self.is_empty() {
            return Ok(None);
        }
        let tenant = bearer
            .and_then(|t| self.tenant_of_token(t))
            .ok_or(AccessError::Unauthenticated)?;
        match asked {
            Some(asked) if asked != tenant.name => Err(AccessError::OtherTenant {
                own: tenant.name.clone(),
                asked: asked.to_owned(),
            }),
            _ => Ok(Some(tenant)),
        }
    }
}

impl Tenancy {
    /// The exceptions scoped to `tenant` by name (what its callers may see), as of their expiry.
    pub fn exceptions_of(&self, tenant: &Tenant) -> Vec<crate::engine::ExceptionUse> {
        let now = Utc::now();
        self.exceptions
            .iter()
            .filter(|x| x.tenants.contains(&tenant.name))
            .map(|x| crate::engine::ExceptionUse {
                id: x.id.clone(),
                owner: x.owner.clone(),
                reason: x.reason.clone(),
                ticket: x.ticket.clone(),
                expires: x.expires_text.clone(),
                expired: x.expires_at <= now,
            })
            .collect()
    }
}

impl Tenant {
    /// Whether a check-API caller of this tenant may ask to be judged as in `environment`: any
    /// environment when the tenant maps none of its namespaces, else only those it maps (and the
    /// configuration's default), so a caller cannot pick a laxer environment than its own.
    pub fn may_use_environment(&self, environment: &str, default: Option<&str>) -> bool {
        self.environments.is_empty()
            || default == Some(environment)
            || self.environments.iter().any(|(name, _)| name == environment)
    }

    /// Packs that apply to this tenant (`None` = all).
    pub fn frameworks(&self) -> Option<Vec<&str>> {
        self.frameworks.as_ref().map(|f| {
            let mut names: Vec<&str> = f.iter().map(String::as_str).collect();
            names.sort_unstable();
            names
        })
    }

    /// The tenant's own mode for a rule, if it set one (rule id beats pack name).
    pub fn mode_for(&self, pack: &str, rule: &str) -> Option<Mode> {
        self.modes.get(pack, rule).map(|(m, _)| m)
    }
}

/// An environment as resolved: a configured one (with mode overrides) or a bare name.
#[derive(Debug, Clone)]
pub enum EnvironmentRef<'a> {
    /// Configured in `environments`.
    Configured(&'a Environment),
    /// Named (by flag, request or default) while no environments are configured.
    Named(String),
}

impl EnvironmentRef<'_> {
    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            EnvironmentRef::Configured(e) => &e.name,
            EnvironmentRef::Named(n) => n,
        }
    }
}

impl ModeTable {
    /// The mode for `rule` (first), the pack version that changed it, or `pack`, with which key
    /// matched.
    fn get(&self, pack: &str, rule: &str) -> Option<(Mode, &'static str)> {
        if let Some(m) = self.rules.get(rule) {
            return Some((*m, "rule"));
        }
        if let Some((m, _)) = self.versions.get(rule) {
            return Some((m, "pack version"));
        }
        self.packs.get(pack).map(|m| (*m, "framework"))
    }
}

fn join<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    if all.is_empty() {
        "none".to_owned()
    } else {
        all.join(", ")
    }
}
