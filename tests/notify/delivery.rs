//! Delivery against the stand-in for Slack: `Retry-After`, retries then giving up, refusals not
//! retried, the rate limit and grouping under a burst, and flushing on shutdown. Pacing is
//! measured on the server's clock, where Slack would see it.

use std::time::Duration;

use celgate::engine::{FindingType, Severity};
use celgate::notify::{DecisionEvent, Notifier};
use prometheus_client::registry::Registry;

use super::stub::{Recorded, Reply, Stub};
use super::{denial, metric, parse_slack, resolve, violation};

const WAIT: Duration = Duration::from_secs(30);

fn one_denial(name: &str) -> DecisionEvent {
    denial(
        "payments",
        "payments",
        name,
        vec![violation(
            "soc2-run-as-non-root",
            Severity::High,
            FindingType::Violation,
        )],
    )
}

/// A notifier posting every denial to `/alerts` on `stub`, with `extra` YAML settings.
fn start(stub: &Stub, extra: &str, registry: &mut Registry) -> Notifier {
    let config = parse_slack(&format!(
        "webhooks: {{alerts: {{urlEnv: SLACK_ALERTS}}}}\nroutes: [{{webhook: alerts}}]\n{extra}"
    ))
    .unwrap();
    Notifier::start(&resolve(&config, &[("SLACK_ALERTS", stub.url("/alerts"))]), registry)
}

fn gaps(requests: &[Recorded]) -> Vec<Duration> {
    requests.windows(2).map(|w| w[1].at.duration_since(w[0].at)).collect()
}

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let stub = Stub::start();
    stub.script("/alerts", [Reply::TooMany(1)]);
    let mut registry = Registry::default();
    let notifier = start(
        &stub,
        "retry: {initialBackoffMs: 10, maxBackoffMs: 5000}",
        &mut registry,
    );
    notifier.notify(one_denial("api"));
    stub.wait_for_total(2, WAIT).await;
    notifier.shutdown(Duration::from_secs(5)).await;
    let requests = stub.requests("/alerts");
    assert_eq!(requests.len(), 2);
    assert!(gaps(&requests)[0] >= Duration::from_secs(1), "{:?}", gaps(&requests));
    assert_eq!(requests[0].body, requests[1].body, "the same message is posted again");
    let m = |p: &str| metric(&registry, p);
    assert_eq!(
        m("celgate_slack_retries_total{webhook=\"alerts\",reason=\"rate_limited\"}"),
        1
    );
    assert_eq!(m("celgate_slack_messages_sent_total{webhook=\"alerts\"}"), 1);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_given_up_and_counted() {
    let stub = Stub::start();
    stub.script(
        "/alerts",
        [
            Reply::Status(500, "oops"),
            Reply::Status(503, "oops"),
            Reply::Status(502, "oops"),
        ],
    );
    let mut registry = Registry::default();
    let extra =
        "retry: {maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000}\nrateLimit: {intervalMs: 1, burst: 1}";
    let notifier = start(&stub, extra, &mut registry);
    notifier.notify(one_denial("api"));
    stub.wait_for_total(3, WAIT).await;
    notifier.shutdown(Duration::from_secs(5)).await;
    let requests = stub.requests("/alerts");
    assert_eq!(requests.len(), 3, "three attempts, no fourth");
    let gaps = gaps(&requests);
    // Backoff 100 ms then 200 ms, jittered within their upper half.
    assert!(gaps[0] >= Duration::from_millis(50), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(100), "{gaps:?}");
    let m = |p: &str| metric(&registry, p);
    assert_eq!(
        m("celgate_slack_retries_total{webhook=\"alerts\",reason=\"server_error\"}"),
        2
    );
    assert_eq!(
        m("celgate_slack_messages_dropped_total{webhook=\"alerts\",reason=\"gave_up\"}"),
        1
    );
    assert_eq!(m("celgate_slack_messages_sent_total{webhook=\"alerts\"}"), 0);
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let stub = Stub::start();
    stub.script("/alerts", [Reply::Status(400, "invalid_payload")]);
    let mut registry = Registry::default();
    let notifier = start(&stub, "", &mut registry);
    notifier.notify(one_denial("api"));
    notifier.notify(one_denial("web"));
    stub.wait_for_total(2, WAIT).await;
    notifier.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stub.requests("/alerts").len(), 2, "the 400 was not tried again");
    let m = |p: &str| metric(&registry, p);
    assert_eq!(
        m("celgate_slack_messages_dropped_total{webhook=\"alerts\",reason=\"rejected\"}"),
        1
    );
    assert_eq!(m("celgate_slack_messages_sent_total{webhook=\"alerts\"}"), 1);
}

#[tokio::test]
async fn shutdown_flushes_queued_events_and_open_group_counts() {
    let stub = Stub::start();
    let mut registry = Registry::default();
    let notifier = start(&stub, "", &mut registry);
    for _ in 0..3 {
        notifier.notify(one_denial("api"));
    }
    notifier.shutdown(Duration::from_secs(10)).await;
    let requests = stub.requests("/alerts");
    assert_eq!(requests.len(), 2, "the first, then one summary");
    let header = requests[1].body["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(header.ends_with("(×3 in the last 5 min)"), "{header}");
    assert_eq!(metric(&registry, "celgate_slack_events_grouped_total"), 2);
    notifier.notify(one_denial("late"));
    assert_eq!(
        metric(
            &registry,
            "celgate_slack_messages_dropped_total{webhook=\"\",reason=\"shutdown\"}"
        ),
        1
    );
}

/// A current-thread runtime: `notify` runs 1 000 times before any delivery task gets to run, so
/// what the queue takes and drops is exact, and nothing reaches Slack while the caller runs.
#[tokio::test]
async fn a_burst_of_1000_denials_is_paced_grouped_and_counted() {
    let stub = Stub::start();
    let mut registry = Registry::default();
    let config = parse_slack(
        "webhooks: {security: {urlEnv: SECURITY}, team-a: {urlEnv: TEAM_A}}\n\
         routes: [{webhook: security}, {webhook: team-a, tenants: ['team-a*']}]\n\
         groupWindowSeconds: 1\n\
         queueCapacity: 200\n\
         rateLimit: {intervalMs: 100, burst: 2}\n",
    )
    .unwrap();
    let resolved = resolve(
        &config,
        &[("SECURITY", stub.url("/security")), ("TEAM_A", stub.url("/team-a"))],
    );
    let notifier = Notifier::start(&resolved, &mut registry);
    for i in 0..1000 {
        // 20 distinct objects, every other one of tenant team-a-1.
        let object = i % 20;
        let tenant = if object % 2 == 0 { "team-a-1" } else { "team-b" };
        notifier.notify(denial(
            tenant,
            "shop",
            &format!("web-{object}"),
            vec![violation(
                "soc2-run-as-non-root",
                Severity::High,
                FindingType::Violation,
            )],
        ));
    }
    assert_eq!(stub.requests("/security").len(), 0, "notify never waits for delivery");
    // 200 queued (20 distinct × 10), 800 dropped. Security gets 20 firsts + 20 summaries;
    // team-a 10 + 10.
    stub.wait_for_total(60, Duration::from_secs(60)).await;
    notifier.shutdown(Duration::from_secs(5)).await;

    let m = |p: &str| metric(&registry, p);
    assert_eq!(
        m("celgate_slack_messages_dropped_total{webhook=\"\",reason=\"queue_full\"}"),
        800
    );
    assert_eq!(m("celgate_slack_events_grouped_total"), 180);
    assert_eq!(m("celgate_slack_messages_sent_total{webhook=\"security\"}"), 40);
    assert_eq!(m("celgate_slack_messages_sent_total{webhook=\"team-a\"}"), 20);

    for (path, expected) in [("/security", 40), ("/team-a", 20)] {
        let requests = stub.requests(path);
        assert_eq!(requests.len(), expected, "{path}");
        assert_paced(path, &requests, Duration::from_millis(100), 2);
        let summaries = requests
            .iter()
            .filter(|r| {
                r.body["blocks"][0]["text"]["text"]
                    .as_str()
                    .is_some_and(|h| h.ends_with("(×10 in the last 1 s)"))
            })
            .count();
        assert_eq!(summaries, expected / 2, "{path}: one summary per distinct object");
    }
}

/// Token bucket as Slack sees it: between any two messages i < j, at most
/// `burst + elapsed / interval` messages (j - i + 1) arrived.
fn assert_paced(path: &str, requests: &[Recorded], interval: Duration, burst: u32) {
    for i in 0..requests.len() {
        for j in i + 1..requests.len() {
            let elapsed = requests[j].at.duration_since(requests[i].at).as_secs_f64();
            let allowed = f64::from(burst) + elapsed / interval.as_secs_f64() + 0.01;
            #[allow(clippy::cast_precision_loss)]
            let count = (j - i + 1) as f64;
            assert!(
                count <= allowed,
                "{path}: {count} messages within {elapsed:.3} s (allowed {allowed:.2})"
            );
        }
    }
}
