//! Slack notifier tests (issue 6): config validation, Block Kit snapshots, and delivery against
//! a local stand-in for Slack on loopback (retries, `Retry-After`, rate limit, grouping, drops).

mod blocks;
mod config;
mod delivery;
mod modules;
mod stub;

use std::path::Path;

use celgate::engine::{Action, Decision, FindingType, Input, Severity, Verdict, Violation};
use celgate::notify::{DecisionEvent, Door, ResolvedSlackConfig, SlackConfig};
use prometheus_client::registry::Registry;

/// Fixtures of this area.
pub const FIXTURES: &str = "tests/fixtures/notify";

/// Parses a `slack:` section from YAML as `celgate.yaml` would; the error names the field.
pub fn parse_slack(yaml: &str) -> Result<SlackConfig, String> {
    let docs = celgate::source::parse_documents(yaml).map_err(|e| e.to_string())?;
    let value = docs.into_iter().next().map_or(serde_json::json!({}), |d| d.value);
    serde_path_to_error::deserialize(value).map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

/// Reads and parses a fixture.
pub fn fixture(name: &str) -> Result<SlackConfig, String> {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join(name)).expect("fixture exists");
    parse_slack(&text)
}

/// Resolves `config` with webhook URLs given as environment variables `(name, url)`.
pub fn resolve(config: &SlackConfig, vars: &[(&str, String)]) -> ResolvedSlackConfig {
    config
        .resolve(&|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
        .expect("config resolves")
}

/// One violation of `rule`.
pub fn violation(rule: &str, severity: Severity, finding: FindingType) -> Violation {
    Violation {
        pack: rule.split('-').next().unwrap_or("").into(),
        rule: rule.into(),
        title: format!("Title of {rule}").into(),
        controls: [format!("{rule} control 1"), "CC6.1".to_owned()].into(),
        severity,
        action: Action::Deny,
        finding,
        message: format!("{rule}: container <app> runs as root & privileged"),
        pointer: "/spec/template/spec/containers/0".to_owned(),
        rationale: "A root process that escapes the container owns the node.".into(),
        remediation: "Set securityContext.runAsNonRoot: true.".into(),
        patched: false,
        mode: None,
        exception: None,
        reason: None,
    }
}

/// A denial of Deployment `namespace/name` for `tenant` with `violations`.
pub fn denial(tenant: &str, namespace: &str, name: &str, violations: Vec<Violation>) -> DecisionEvent {
    let mut input = Input::new(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "SSN", "value": "123-45-6789"}]}]}}},
    }));
    "alice@example.com".clone_into(&mut input.user.username);
    let decision = Decision {
        decision: Verdict::Deny,
        violations,
        ..Decision::allow()
    };
    DecisionEvent::new(Door::Admission, Some(tenant), Some("production"), &input, &decision)
        .with_request_uid("705ab4f5-6393-11e8-b7cc-42010a800002")
}

/// The value of the counter line starting with `prefix` (`name{labels}`), 0 when absent.
pub fn metric(registry: &Registry, prefix: &str) -> u64 {
    celgate::metrics::render(registry)
        .lines()
        .find_map(|line| line.strip_prefix(prefix).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or(0)
}
