//! Routing: which webhooks an event goes to (tenant glob, severity, kind of decision or trouble).

use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use super::config::{RouteConfig, SlackConfig, SlackConfigError};
use super::event::{Event, SystemEvent};
use crate::engine::Severity;

/// Kinds of decisions a route can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionClass {
    /// The request was denied.
    Deny,
    /// A rule could not be evaluated (whatever the verdict).
    EvaluationError,
    /// The request was admitted with warnings.
    Warn,
}

/// Kinds of celgate's own trouble a route can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SystemClass {
    /// A pack reload was refused.
    PackReloadFailed,
    /// A certificate expires within `certificateWarningDays`.
    CertificateExpiring,
    /// Audit records cannot be written.
    AuditWriteFailing,
}

struct CompiledRoute {
    webhook: usize,
    tenants: Vec<GlobMatcher>,
    min_severity: Option<Severity>,
    decisions: Vec<DecisionClass>,
    system: Vec<SystemClass>,
}

/// Routes with their globs compiled and webhook names turned into indexes.
pub(crate) struct Router {
    min_severity: Severity,
    routes: Vec<CompiledRoute>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("min_severity", &self.min_severity)
            .field("routes", &self.routes.len())
            .finish()
    }
}

impl Router {
    /// Compiles the routes of a validated config; `names` is the webhook order used by delivery.
    pub(crate) fn new(config: &SlackConfig, names: &[String]) -> Result<Router, SlackConfigError> {
        let routes = config
            .routes
            .iter()
            .enumerate()
            .map(|(index, route)| compile(index, route, names))
            .collect::<Result<_, _>>()?;
        Ok(Router {
            min_severity: config.min_severity,
            routes,
        })
    }

    /// Indexes of the webhooks `event` goes to, each once, in route order.
    pub(crate) fn targets(&self, event: &Event) -> Vec<usize> {
        let mut out = Vec::new();
        let Some(severity) = event.severity() else {
            return out;
        };
        if severity < self.min_severity {
            return out;
        }
        for route in &self.routes {
            if route.min_severity.is_some_and(|min| severity < min) || out.contains(&route.webhook) {
                continue;
            }
            if route_matches(route, event) {
                out.push(route.webhook);
            }
        }
        out
    }
}

fn compile(index: usize, route: &RouteConfig, names: &[String]) -> Result<CompiledRoute, SlackConfigError> {
    let webhook = names
        .iter()
        .position(|n| *n == route.webhook)
        .ok_or_else(|| SlackConfigError::UnknownWebhook {
            index,
            webhook: route.webhook.clone(),
            known: names.join(", "),
        })?;
    let tenants = route
        .tenants
        .iter()
        .map(|glob| {
            Glob::new(glob)
                .map(|g| g.compile_matcher())
                .map_err(|source| SlackConfigError::BadGlob {
                    index,
                    glob: glob.clone(),
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(CompiledRoute {
        webhook,
        tenants,
        min_severity: route.min_severity,
        decisions: route.decisions.clone(),
        system: route.system.clone(),
    })
}

fn route_matches(route: &CompiledRoute, event: &Event) -> bool {
    match event {
        Event::Decision(d) => {
            let tenant_ok = route.tenants.is_empty()
                || d.tenant
                    .as_deref()
                    .is_some_and(|t| route.tenants.iter().any(|g| g.is_match(t)));
            let class_ok = route.decisions.iter().any(|class| match class {
                DecisionClass::Deny => d.is_deny(),
                DecisionClass::EvaluationError => d.has_evaluation_error(),
                DecisionClass::Warn => d.has_warning(),
            });
            tenant_ok && class_ok
        }
        Event::System(s) => {
            let class = match s {
                SystemEvent::PackReloadFailed { .. } => SystemClass::PackReloadFailed,
                SystemEvent::CertificateExpiring { .. } => SystemClass::CertificateExpiring,
                SystemEvent::AuditWriteFailing { .. } => SystemClass::AuditWriteFailing,
            };
            route.system.contains(&class)
        }
    }
}
