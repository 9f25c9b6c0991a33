//! [`Scope`]: one request's tenant, environment and clock, answering the engine's questions about
//! modes and exceptions ([`Overrides`]).

use chrono::{DateTime, Utc};

use super::{EnvironmentRef, Exception, Tenancy, Tenant};
use crate::engine::{AppliedMode, ExceptionUse, Input, Mode, Overrides};

/// The tenant and environment one input is judged for, at one instant.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    tenancy: &'a Tenancy,
    tenant: Option<&'a Tenant>,
    environment: Option<EnvironmentRef<'a>>,
    now: DateTime<Utc>,
}

impl<'a> Scope<'a> {
    /// A scope for `tenant` in `environment`, with `now` deciding which exceptions have expired.
    pub fn new(
        tenancy: &'a Tenancy,
        tenant: Option<&'a Tenant>,
        environment: Option<EnvironmentRef<'a>>,
        now: DateTime<Utc>,
    ) -> Self {
        Scope {
            tenancy,
            tenant,
            environment,
            now,
        }
    }

    /// The scope of an input by its namespace (the admission door): the namespace's tenant and
    /// environment; a Namespace object is its own namespace.
    pub fn of_input(tenancy: &'a Tenancy, input: &Input, now: DateTime<Utc>) -> Self {
        let namespace = input
            .effective_namespace()
            .or_else(|| (input.kind() == "Namespace").then(|| input.name()));
        let labels = input.namespace_labels.as_ref().or(None);
        let tenant = namespace.and_then(|ns| tenancy.tenant_of_namespace(ns, labels));
        let environment = tenancy.environment_of_namespace(tenant, namespace);
        Scope::new(tenancy, tenant, environment, now)
    }

    /// The tenant, if any.
    pub fn tenant_ref(&self) -> Option<&'a Tenant> {
        self.tenant
    }

    /// Sets the tenant's params (incl. `defaultClassification`) on `input`, keeping any the
    /// caller gave explicitly, and the tenant and environment names `request` shows.
    pub fn prepare(&self, input: &mut Input) {
        if let Some(t) = self.tenant {
            for (k, v) in &t.params {
                input.params.entry(k.clone()).or_insert_with(|| v.clone());
            }
            input.tenant = Some(t.name.clone());
        }
        if let Some(e) = &self.environment {
            input.environment = Some(e.name().to_owned());
        }
    }

    fn exception_matches(&self, x: &Exception, input: &Input) -> bool {
        let tenant_ok = x.tenants.is_empty() || self.tenant.is_some_and(|t| x.tenants.contains(&t.name));
        let namespace_ok = x.namespaces.is_empty()
            || input
                .effective_namespace()
                .is_some_and(|ns| x.namespaces.iter().any(|p| p.matches(ns)));
        let name_ok = x.names.is_empty() || x.names.iter().any(|p| p.matches(input.name()));
        let kind_ok = x.kinds.is_empty() || x.kinds.iter().any(|k| k == input.kind());
        let labels_ok = x
            .selector
            .as_ref()
            .is_none_or(|s| crate::engine::select::selector_matches(s, &input.labels()));
        tenant_ok && namespace_ok && name_ok && kind_ok && labels_ok
    }
}

impl Overrides for Scope<'_> {
    fn mode(&self, pack: &str, rule: &str) -> Option<AppliedMode> {
        if let Some(t) = self.tenant {
            if t.frameworks.as_ref().is_some_and(|f| !f.contains(pack)) {
                return Some(AppliedMode {
                    mode: Mode::Off,
                    source: format!("tenant {} (framework {pack} does not apply to it)", t.name),
                });
            }
        }
        if let Some(EnvironmentRef::Configured(e)) = &self.environment {
            if let Some((mode, by)) = e.modes.get(pack, rule) {
                let key = if by == "rule" { rule } else { pack };
                return Some(AppliedMode {
                    mode,
                    source: format!("environment {} ({by} {key})", e.name),
                });
            }
        }
        let t = self.tenant?;
        let (mode, by) = t.modes.get(pack, rule)?;
        let key = if by == "rule" { rule } else { pack };
        Some(AppliedMode {
            mode,
            source: format!("tenant {} ({by} {key})", t.name),
        })
    }

    fn exception(&self, rule: &str, input: &Input) -> Option<ExceptionUse> {
        let candidates = self.tenancy.exceptions_by_rule.get(rule)?;
        let mut expired = None;
        for &i in candidates {
            let x = &self.tenancy.exceptions[i];
            if !self.exception_matches(x, input) {
                continue;
            }
            let is_expired = x.expires_at <= self.now;
            let used = ExceptionUse {
                id: x.id.clone(),
                owner: x.owner.clone(),
                reason: x.reason.clone(),
                ticket: x.ticket.clone(),
                expires: x.expires_text.clone(),
                expired: is_expired,
            };
            if !is_expired {
                return Some(used);
            }
            expired.get_or_insert(used);
        }
        expired
    }

    fn tenant(&self) -> Option<&str> {
        self.tenant.map(|t| t.name.as_str())
    }

    fn environment(&self) -> Option<&str> {
        self.environment.as_ref().map(EnvironmentRef::name)
    }
}
