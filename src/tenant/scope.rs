//! [`Scope`]: one request's tenant, environment and clock, answering the engine's questions about
//! modes and exceptions ([`Overrides`]).

use chrono::{DateTime, Utc};

use super::{EnvironmentRef, Exception, ModeTable, Tenancy, Tenant};
use crate::engine::{AppliedMode, ExceptionUse, Input, Layer, Mode, ModeSource, Overrides};

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
        let tenant = Self::owner_of_namespace(tenancy, input);
        let environment = tenancy.environment_of_namespace(tenant, Self::placement(input));
        Scope::new(tenancy, tenant, environment, now)
    }

    /// The namespace that places an input in a tenant and an environment: its own, or a
    /// Namespace object's name.
    pub fn placement(input: &Input) -> Option<&str> {
        input
            .effective_namespace()
            .or_else(|| (input.kind() == "Namespace").then(|| input.name()))
    }

    /// The tenant owning the input's namespace ([`Scope::placement`]), by the namespace's name
    /// and labels (a Namespace object's own labels).
    pub fn owner_of_namespace(tenancy: &'a Tenancy, input: &Input) -> Option<&'a Tenant> {
        let namespace = Self::placement(input);
        // A Namespace object is placed by its own labels; anything else by its namespace's, when known.
        let own_labels: Option<std::collections::BTreeMap<String, String>> = (input.kind() == "Namespace").then(|| {
            input
                .labels()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        });
        let labels = own_labels.as_ref().or(input.namespace_labels.as_ref());
        namespace.and_then(|ns| tenancy.tenant_of_namespace(ns, labels))
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

    /// False when the object's namespace belongs to another tenant than the one judged (a
    /// check-API caller submitting another tenant's object): then no exception applies, so none
    /// of another tenant's exceptions reaches the caller.
    fn owns_namespace_of(&self, input: &Input) -> bool {
        let Some(namespace) = input.effective_namespace() else {
            return true;
        };
        match self
            .tenancy
            .tenant_of_namespace(namespace, input.namespace_labels.as_ref())
        {
            Some(owner) => self.tenant.is_some_and(|t| std::ptr::eq(t, owner)),
            None => true,
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
            .is_none_or(|s| crate::engine::pack::select::selector_matches(s, &input.labels()));
        tenant_ok && namespace_ok && name_ok && kind_ok && labels_ok
    }
}

impl Overrides for Scope<'_> {
    fn mode(&self, pack: &str, rule: &str) -> Option<AppliedMode> {
        if let Some(t) = self.tenant {
            if t.frameworks.as_ref().is_some_and(|f| !f.contains(pack)) {
                return Some(AppliedMode {
                    mode: Mode::Off,
                    source: ModeSource::FrameworkNotApplied {
                        tenant: t.name.clone(),
                        pack: pack.to_owned(),
                    },
                });
            }
        }
        // The most specific key wins: a rule id, then a pack version (`soc2@0.2.0`), then a pack
        // name; at the same level the environment before the tenant.
        let environment = match &self.environment {
            Some(EnvironmentRef::Configured(e)) => Some(*e),
            _ => None,
        };
        let layers: Vec<(Layer, &ModeTable)> = environment
            .map(|e| (Layer::Environment(e.name.clone()), &e.modes))
            .into_iter()
            .chain(self.tenant.map(|t| (Layer::Tenant(t.name.clone()), &t.modes)))
            .collect();
        let applied = |mode: Mode, source: ModeSource| Some(AppliedMode { mode, source });
        for (layer, modes) in &layers {
            if let Some(mode) = modes.rules.get(rule) {
                let rule = rule.to_owned();
                return applied(
                    *mode,
                    ModeSource::Rule {
                        layer: layer.clone(),
                        rule,
                    },
                );
            }
        }
        for (layer, modes) in &layers {
            if let Some((mode, key)) = modes.versions.get(rule) {
                let (key, rule) = (key.to_string(), rule.to_owned());
                return applied(
                    mode,
                    ModeSource::Version {
                        layer: layer.clone(),
                        key,
                        rule,
                    },
                );
            }
        }
        for (layer, modes) in layers {
            if let Some(mode) = modes.packs.get(pack) {
                return applied(
                    *mode,
                    ModeSource::Framework {
                        layer,
                        pack: pack.to_owned(),
                    },
                );
            }
        }
        None
    }

    fn exception(&self, rule: &str, input: &Input) -> Option<ExceptionUse> {
        let candidates = self
            .tenancy
            .exceptions_by_rule
            .get(rule)?
            .for_tenant(self.tenant.map(|t| t.name.as_str()));
        if candidates.is_empty() || !self.owns_namespace_of(input) {
            return None;
        }
        let mut expired = None;
        for i in candidates {
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
