//! Block Kit shape: snapshots of what Slack receives, and Slack's limits under oversized input.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use rstest::rstest;
use serde_json::Value;

use celgate::engine::{FindingType, Severity};
use celgate::notify::blocks::{render, RenderOptions, MAX_BLOCKS, MAX_HEADER, MAX_SECTION};
use celgate::notify::config::LinksConfig;
use celgate::notify::{Event, Notifier, SystemEvent};
use prometheus_client::registry::Registry;

use super::stub::Stub;
use super::{denial, parse_slack, resolve, violation};

/// The JSON with the crate version replaced, so snapshots survive releases.
fn stable(value: &Value) -> Value {
    let text = value.to_string().replace(env!("CARGO_PKG_VERSION"), "VERSION");
    serde_json::from_str(&text).unwrap()
}

fn links() -> LinksConfig {
    LinksConfig {
        rule_url: Some("https://git.example.com/celgate/blob/main/docs/policies.md#rule-{rule}".to_owned()),
        dashboard_url: Some("https://grafana.example.com/d/celgate".to_owned()),
    }
}

#[tokio::test]
async fn a_denial_as_slack_receives_it() {
    let stub = Stub::start();
    let config = parse_slack(
        "webhooks: {alerts: {urlEnv: SLACK_ALERTS}}\n\
         routes: [{webhook: alerts}]\n\
         links:\n  ruleUrl: https://git.example.com/celgate/blob/main/docs/policies.md#rule-{rule}\n  \
         dashboardUrl: https://grafana.example.com/d/celgate\n",
    )
    .unwrap();
    let resolved = resolve(&config, &[("SLACK_ALERTS", stub.url("/alerts"))]);
    let notifier = Notifier::start(&resolved, &mut Registry::default());
    notifier.notify(denial(
        "payments",
        "payments",
        "api",
        vec![
            violation("hipaa-eval-broken", Severity::Critical, FindingType::EvaluationError),
            violation("soc2-run-as-non-root", Severity::High, FindingType::Violation),
            violation("gdpr-tenant-isolation", Severity::Medium, FindingType::Violation),
        ],
    ));
    stub.wait_for_total(1, Duration::from_secs(10)).await;
    notifier.shutdown(Duration::from_secs(1)).await;
    let body = stub.requests("/alerts")[0].body.clone();
    assert!(
        !body.to_string().contains("123-45-6789"),
        "the document itself is never sent"
    );
    insta::assert_json_snapshot!("denial", stable(&body));
}

#[rstest]
#[case::pack_reload("pack_reload_failed", SystemEvent::PackReloadFailed {
    error: "policies/hipaa/rules.yaml: rule hipaa-enc-at-rest-volume: validate: \
            undeclared reference to 'objct' (line 1, column 1)".to_owned(),
})]
#[case::certificate("certificate_expiring", SystemEvent::certificate_expiring(
    "/etc/celgate/certs/tls.crt",
    "CN=celgate.celgate-system.svc",
    Utc.with_ymd_and_hms(2025, 7, 1, 12, 0, 0).unwrap(),
    Utc.with_ymd_and_hms(2025, 6, 20, 12, 0, 0).unwrap(),
    21,
).expect("within the window"))]
#[case::audit("audit_write_failing", SystemEvent::AuditWriteFailing {
    error: "write /var/log/celgate/audit.jsonl: No space left on device (os error 28)".to_owned(),
})]
#[case::scan("scan_findings", SystemEvent::ScanFindings {
    findings: vec![
        celgate::notify::ScanFinding {
            severity: Severity::Critical,
            object: "Deployment billing/invoices".to_owned(),
            pack: "soc2".to_owned(),
            rule: "soc2-image-digest".to_owned(),
            message: "invoices uses registry.example/invoices:latest".to_owned(),
        },
        celgate::notify::ScanFinding {
            severity: Severity::High,
            object: "Pod shop/debug".to_owned(),
            pack: "soc2".to_owned(),
            rule: "soc2-pss-privileged".to_owned(),
            message: "container shell runs privileged".to_owned(),
        },
    ],
    total: 3,
})]
fn system_events(#[case] name: &str, #[case] event: SystemEvent) {
    let links = links();
    let options = RenderOptions {
        links: &links,
        max_violations: 10,
        group_window: Duration::from_secs(300),
    };
    insta::assert_json_snapshot!(name, stable(&render(&Event::System(event), None, &options)));
}

#[test]
fn a_certificate_outside_the_window_raises_nothing() {
    let now = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
    let later = Utc.with_ymd_and_hms(2025, 9, 1, 0, 0, 0).unwrap();
    assert_eq!(SystemEvent::certificate_expiring("c", "s", later, now, 21), None);
}

#[test]
fn oversized_input_is_truncated_to_slack_limits() {
    let long = "x".repeat(5000);
    let mut violations = Vec::new();
    for i in 0..80 {
        let mut v = violation(&format!("soc2-rule-{i}"), Severity::High, FindingType::Violation);
        v.message.clone_from(&long);
        violations.push(v);
    }
    let event = denial("t", &"n".repeat(200), &"a".repeat(300), violations);
    let links = links();
    let options = RenderOptions {
        links: &links,
        max_violations: 100,
        group_window: Duration::from_secs(300),
    };
    let message = render(&Event::from(event), Some(12), &options);
    let blocks = message["blocks"].as_array().unwrap();
    assert!(blocks.len() <= MAX_BLOCKS, "{} blocks", blocks.len());
    let header = blocks[0]["text"]["text"].as_str().unwrap();
    assert!(header.chars().count() <= MAX_HEADER, "{header}");
    assert!(
        header.ends_with("(×12 in the last 5 min)"),
        "the count survives truncation: {header}"
    );
    for block in blocks {
        if let Some(text) = block["text"]["text"].as_str() {
            assert!(text.chars().count() <= MAX_SECTION);
        }
    }
    let texts: Vec<&str> = blocks.iter().filter_map(|b| b["text"]["text"].as_str()).collect();
    assert!(texts.iter().any(|t| t.contains("…and 36 more findings")), "{texts:?}");
    assert!(message["text"].as_str().unwrap().chars().count() <= 3000);
}

#[test]
fn a_subresource_request_names_its_subresource() {
    let mut input = celgate::engine::Input::new(serde_json::json!({
        "apiVersion": "v1", "kind": "PodExecOptions", "metadata": {"name": "web-0", "namespace": "shop"}
    }));
    input.operation = celgate::engine::Operation::Connect;
    let mut facts = celgate::engine::RequestFacts::derived("v1", "PodExecOptions", "web-0");
    facts.resource.resource = "pods".to_owned();
    "exec".clone_into(&mut facts.sub_resource);
    input.request = Some(facts);
    let decision = celgate::engine::Decision {
        decision: celgate::engine::Verdict::Deny,
        violations: vec![violation("soc2-no-exec", Severity::High, FindingType::Violation)],
        ..celgate::engine::Decision::allow()
    };
    let event = celgate::notify::DecisionEvent::new(celgate::engine::Door::Admission, None, None, &input, &decision);
    assert_eq!(event.sub_resource, "exec");
    assert_eq!(event.object(), "PodExecOptions shop/web-0 (exec)");
    // An object itself is named as before.
    assert_eq!(
        denial("acme", "shop", "web", Vec::new()).object(),
        "Deployment shop/web"
    );
}
