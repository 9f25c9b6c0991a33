//! Checking a [`TenancySpec`] against the loaded packs and compiling it into a [`Tenancy`]. Every
//! problem is collected and named by its field path (`tenants[1].namespaces[0]`).

mod exception;

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Duration, Utc};

use super::pattern::{NamePattern, PatternIndex};
use super::spec::{TenancySpec, TenantSpec};
use super::versions::{parse_key, PackChanges};
use super::{token, Environment, ModeTable, Tenancy, Tenant};
use crate::engine::pack::select::check_selector;
use crate::engine::{Engine, Mode};

/// One problem in the tenancy configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TenancyError {
    /// Field path as the file spells it (`exceptions[0].rules[1]`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Every problem found; the configuration is refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TenancyErrors(pub Vec<TenancyError>);

impl fmt::Display for TenancyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

struct Known {
    packs: HashSet<String>,
    rules: HashSet<String>,
    changes: PackChanges,
    /// Retired rule id -> `(pack, version, what replaced it)`.
    retired: std::collections::HashMap<String, (String, String, String)>,
}

impl Known {
    /// "unknown rule 'x'", with what replaced it when a pack retired it.
    fn unknown_rule(&self, rule: &str) -> String {
        match self.retired.get(rule) {
            Some((pack, version, note)) => {
                format!("rule '{rule}' was retired by {pack} {version}: {note} (see CHANGELOG.md)")
            }
            None => format!("unknown rule '{rule}'"),
        }
    }

    /// The packs, rules, version changes and retired rules of `engine`.
    fn of(engine: &Engine) -> Known {
        Known {
            packs: engine.packs().iter().map(|p| p.metadata.name.clone()).collect(),
            rules: engine
                .packs()
                .iter()
                .flat_map(|p| p.rules.iter().map(|r| r.spec.id.clone()))
                .collect(),
            changes: PackChanges::of(engine),
            retired: engine
                .packs()
                .iter()
                .flat_map(|p| {
                    p.retired_rules.iter().map(|(id, note)| {
                        (
                            id.clone(),
                            (p.metadata.name.clone(), p.metadata.version.clone(), note.clone()),
                        )
                    })
                })
                .collect(),
        }
    }
}

impl Tenancy {
    /// Checks `spec` against the packs of `engine` and compiles it. `now` decides which
    /// exceptions have expired and how far ahead an expiry may be.
    pub fn build(spec: &TenancySpec, engine: &Engine, now: DateTime<Utc>) -> Result<Tenancy, TenancyErrors> {
        let known = Known::of(engine);
        let mut errors = Vec::new();
        let mut err = |field: String, message: String| errors.push(TenancyError { field, message });
        let mut tenancy = Tenancy::default();

        let env_names: HashSet<&str> = spec.environments.iter().map(|e| e.name.as_str()).collect();
        if let Some(name) = &spec.environment {
            check_env(&env_names, name, "environment".to_owned(), &mut err);
        }
        tenancy.default_environment.clone_from(&spec.environment);
        tenancy.add_environments(spec, &known, &mut err);
        tenancy.add_tenants(spec, &known, &env_names, &mut err);
        tenancy.add_exceptions(spec, &known, now, &mut err);
        if errors.is_empty() {
            Ok(tenancy)
        } else {
            Err(TenancyErrors(errors))
        }
    }

    /// Adds the environments `spec` declares, each named once.
    fn add_environments(&mut self, spec: &TenancySpec, known: &Known, err: &mut ErrSink<'_>) {
        for (i, e) in spec.environments.iter().enumerate() {
            let field = format!("environments[{i}]");
            if e.name.trim().is_empty() {
                err(format!("{field}.name"), "must not be empty".to_owned());
            }
            if spec.environments[..i].iter().any(|o| o.name == e.name) {
                err(
                    format!("{field}.name"),
                    format!("environment '{}' is declared twice", e.name),
                );
            }
            self.environments.push(Environment {
                name: e.name.clone(),
                namespaces: e.namespaces.iter().map(|n| NamePattern::new(n)).collect(),
                modes: mode_table(&e.modes, known, &format!("{field}.modes"), err),
            });
        }
    }

    /// Adds the tenants `spec` declares, with their token hashes and namespaces.
    fn add_tenants(&mut self, spec: &TenancySpec, known: &Known, env_names: &HashSet<&str>, err: &mut ErrSink<'_>) {
        let mut owned = Owned::default();
        for (i, t) in spec.tenants.iter().enumerate() {
            let field = format!("tenants[{i}]");
            let tenant = build_tenant(t, &field, known, env_names, &mut owned, err);
            if self.by_name.insert(t.name.clone(), i).is_some() {
                err(
                    format!("{field}.name"),
                    format!("tenant '{}' is declared twice", t.name),
                );
            }
            for (j, tok) in t.tokens.iter().enumerate() {
                match token::from_hex(&tok.sha256) {
                    Some(hash) if self.tokens.iter().any(|(h, _)| *h == hash) => err(
                        format!("{field}.tokens[{j}].sha256"),
                        "the same token hash is configured twice".to_owned(),
                    ),
                    Some(hash) => self.tokens.push((hash, i)),
                    None => err(
                        format!("{field}.tokens[{j}].sha256"),
                        "must be 64 hex digits (the SHA-256 `celgate token new` prints)".to_owned(),
                    ),
                }
            }
            for pattern in &tenant.namespaces {
                self.by_namespace.insert(pattern, i);
            }
            self.tenants.push(tenant);
        }
    }

    /// Adds the exceptions `spec` declares (after the tenants they scope to), noting the expired.
    fn add_exceptions(&mut self, spec: &TenancySpec, known: &Known, now: DateTime<Utc>, err: &mut ErrSink<'_>) {
        if spec.exception_policy.max_days == 0 {
            err("exceptionPolicy.maxDays".to_owned(), "must be positive".to_owned());
        }
        let horizon = now + Duration::days(i64::from(spec.exception_policy.max_days));
        for (i, x) in spec.exceptions.iter().enumerate() {
            let field = format!("exceptions[{i}]");
            if spec.exceptions[..i].iter().any(|o| o.id == x.id) {
                err(format!("{field}.id"), format!("exception '{}' is declared twice", x.id));
            }
            for (j, name) in x.scope.tenants.iter().enumerate() {
                if !self.by_name.contains_key(name) {
                    err(
                        format!("{field}.scope.tenants[{j}]"),
                        format!("unknown tenant '{name}'"),
                    );
                }
            }
            let max_days = spec.exception_policy.max_days;
            if let Some(exception) = exception::build_exception(x, &field, known, now, horizon, max_days, err) {
                let index = self.exceptions.len();
                for rule in &x.rules {
                    self.exceptions_by_rule
                        .entry(rule.clone())
                        .or_default()
                        .add(&x.scope.tenants, index);
                }
                if exception.expires_at <= now {
                    self.expired.push(exception.id.clone());
                }
                self.exceptions.push(exception);
            }
        }
    }
}

type ErrSink<'a> = dyn FnMut(String, String) + 'a;

/// The namespace patterns claimed so far: an index for overlap lookups, and per entry the owning
/// tenant and the field that claimed it.
#[derive(Default)]
struct Owned {
    index: PatternIndex,
    entries: Vec<(String, String)>,
}

fn build_tenant(
    t: &TenantSpec,
    field: &str,
    known: &Known,
    env_names: &HashSet<&str>,
    owned: &mut Owned,
    err: &mut ErrSink<'_>,
) -> Tenant {
    if t.name.trim().is_empty() {
        err(format!("{field}.name"), "must not be empty".to_owned());
    }
    let namespaces = claim_namespaces(t, field, owned, err);
    if let Some(selector) = &t.namespace_selector {
        if let Err(e) = check_selector(selector) {
            err(format!("{field}.namespaceSelector"), e.to_string());
        }
    }
    if let Some(frameworks) = &t.frameworks {
        for (j, f) in frameworks.iter().enumerate() {
            if !known.packs.contains(f) {
                err(
                    format!("{field}.frameworks[{j}]"),
                    format!("unknown framework '{f}' (loaded packs: {})", sorted(&known.packs)),
                );
            }
        }
    }
    let environments = tenant_environments(t, field, env_names, &namespaces, err);
    let mut params = t.params.clone();
    if let Some(class) = &t.data_classification {
        if class.trim().is_empty() {
            err(format!("{field}.dataClassification"), "must not be empty".to_owned());
        }
        params.insert(
            "defaultClassification".to_owned(),
            serde_json::Value::String(class.to_lowercase()),
        );
    }
    Tenant {
        name: t.name.clone(),
        namespaces,
        namespace_selector: t.namespace_selector.clone(),
        environments,
        frameworks: t.frameworks.as_ref().map(|f| f.iter().cloned().collect()),
        modes: mode_table(&t.modes, known, &format!("{field}.modes"), err),
        params,
    }
}

/// The namespace patterns of tenant `t`, claimed in `owned`; a pattern overlapping another
/// tenant's is an error.
fn claim_namespaces(t: &TenantSpec, field: &str, owned: &mut Owned, err: &mut ErrSink<'_>) -> Vec<NamePattern> {
    let mut namespaces = Vec::new();
    for (j, ns) in t.namespaces.iter().enumerate() {
        let pattern = NamePattern::new(ns);
        let here = format!("{field}.namespaces[{j}]");
        let clash = owned
            .index
            .overlapping(&pattern)
            .find(|(_, id)| owned.entries[*id].0 != t.name);
        if let Some((other, id)) = clash {
            let (owner, at) = &owned.entries[*id];
            err(
                here.clone(),
                format!(
                    "namespace '{ns}' overlaps '{}' owned by tenant '{owner}' ({at}); a namespace has one tenant",
                    other.as_str()
                ),
            );
        }
        owned.index.insert(&pattern, owned.entries.len());
        owned.entries.push((t.name.clone(), here));
        namespaces.push(pattern);
    }
    namespaces
}

/// The environments of tenant `t`, each with namespace patterns among the tenant's own.
fn tenant_environments(
    t: &TenantSpec,
    field: &str,
    env_names: &HashSet<&str>,
    namespaces: &[NamePattern],
    err: &mut ErrSink<'_>,
) -> Vec<(String, Vec<NamePattern>)> {
    let mut environments = Vec::new();
    for (env, patterns) in &t.environments {
        check_env(env_names, env, format!("{field}.environments.{env}"), err);
        let patterns: Vec<NamePattern> = patterns.iter().map(|p| NamePattern::new(p)).collect();
        for (j, p) in patterns.iter().enumerate() {
            if !namespaces.is_empty() && !namespaces.iter().any(|own| own.overlaps(p)) {
                err(
                    format!("{field}.environments.{env}[{j}]"),
                    format!(
                        "namespace '{}' is not among tenant '{}''s namespaces",
                        p.as_str(),
                        t.name
                    ),
                );
            }
        }
        environments.push((env.clone(), patterns));
    }
    environments
}

/// When environments are declared, every environment name used must be one of them.
fn check_env(declared: &HashSet<&str>, name: &str, field: String, err: &mut ErrSink<'_>) {
    if !declared.is_empty() && !declared.contains(name) {
        err(
            field,
            format!("unknown environment '{name}' (declare it under environments)"),
        );
    }
}

fn mode_table(
    modes: &std::collections::BTreeMap<String, Mode>,
    known: &Known,
    field: &str,
    err: &mut ErrSink<'_>,
) -> ModeTable {
    let mut table = ModeTable::default();
    for (key, mode) in modes {
        if known.rules.contains(key) {
            table.rules.insert(key.clone(), *mode);
        } else if let Some(parsed) = parse_key(key) {
            if let Err(message) = parsed.and_then(|p| table.versions.add(key, &p, *mode, &known.changes)) {
                err(format!("{field}.{key}"), message.to_string());
            }
        } else if known.packs.contains(key) {
            table.packs.insert(key.clone(), *mode);
        } else if known.retired.contains_key(key) {
            err(format!("{field}.{key}"), known.unknown_rule(key));
        } else {
            err(
                format!("{field}.{key}"),
                format!(
                    "'{key}' is neither a loaded framework ({}) nor a rule id",
                    sorted(&known.packs)
                ),
            );
        }
    }
    table
}

fn sorted(set: &HashSet<String>) -> String {
    let mut all: Vec<&str> = set.iter().map(String::as_str).collect();
    all.sort_unstable();
    all.join(", ")
}
