//! Routing: which webhooks an event goes to (tenant glob, severity, kind of decision or trouble).

use globset::{Glob, GlobMatcher};

use super::config::{RouteConfig, SlackConfig};
use super::error::SlackConfigError;
use super::event::Event;
use super::vocab::{DecisionClass, Severity, SystemClass};

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
            let class_ok = route.decisions.iter().any(|class| d.is_of(*class));
            tenant_ok && class_ok
        }
        Event::System(s) => s.class().is_carried_by(&route.system),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Action, Decision, Input, Verdict, Violation};
    use crate::notify::event::{DecisionEvent, Door, SystemEvent};

    fn router(yaml: serde_json::Value) -> Router {
        let config: SlackConfig = serde_json::from_value(yaml).unwrap();
        config.validate().unwrap();
        Router::new(&config, &["sec".to_owned(), "team".to_owned()]).unwrap()
    }

    fn decision(tenant: &str, verdict: Verdict, severity: Severity, action: Action) -> Event {
        let violation = Violation {
            severity,
            action,
            ..Violation::sample("soc2", "soc2-x")
        };
        let decision = Decision {
            decision: verdict,
            violations: vec![violation],
            ..Decision::allow()
        };
        let input = Input::new(serde_json::json!({"kind": "Pod", "metadata": {"name": "p"}}));
        DecisionEvent::new(Door::Admission, Some(tenant), None, &input, &decision).into()
    }

    #[test]
    fn routes_filter_by_tenant_severity_and_class() {
        let r = router(serde_json::json!({
            "webhooks": {"sec": {"urlEnv": "A"}, "team": {"urlEnv": "B"}},
            "minSeverity": "medium",
            "routes": [
                {"webhook": "sec", "minSeverity": "high", "system": ["audit-write-failing"]},
                {"webhook": "team", "tenants": ["team-*"], "decisions": ["deny", "warn"]},
            ],
        }));
        let deny = |t, s| decision(t, Verdict::Deny, s, Action::Deny);
        assert_eq!(r.targets(&deny("team-a", Severity::Critical)), [0, 1]);
        assert_eq!(r.targets(&deny("team-a", Severity::Medium)), [1]);
        assert_eq!(r.targets(&deny("other", Severity::High)), [0]);
        assert!(
            r.targets(&deny("team-a", Severity::Low)).is_empty(),
            "below the global minimum"
        );
        let warned = decision("team-a", Verdict::Allow, Severity::High, Action::Warn);
        assert_eq!(r.targets(&warned), [1], "the first route carries no warnings");
        let audit = Event::System(SystemEvent::AuditWriteFailing { error: "disk".into() });
        assert_eq!(r.targets(&audit), [0]);
        let reload = Event::System(SystemEvent::PackReloadFailed { error: "bad".into() });
        assert!(r.targets(&reload).is_empty());
    }

    #[test]
    fn refused_weakening_reloads_reach_their_class_and_pack_reload_routes() {
        let refused = Event::System(SystemEvent::ConfigReloadRefused {
            path: "celgate.yaml".into(),
            reason: "it removes every tenant".into(),
        });
        let r = router(serde_json::json!({
            "webhooks": {"sec": {"urlEnv": "A"}, "team": {"urlEnv": "B"}},
            "routes": [
                {"webhook": "sec", "system": ["config-reload-refused"]},
                {"webhook": "team", "system": ["pack-reload-failed"]},
            ],
        }));
        assert_eq!(r.targets(&refused), [0, 1]);
        let r = router(serde_json::json!({
            "webhooks": {"sec": {"urlEnv": "A"}, "team": {"urlEnv": "B"}},
            "routes": [
                {"webhook": "sec", "system": ["config-reload-refused"]},
                {"webhook": "team", "system": ["audit-write-failing"]},
            ],
        }));
        assert_eq!(r.targets(&refused), [0]);
    }
}
