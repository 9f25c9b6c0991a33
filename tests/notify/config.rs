//! The `slack:` section: what loads, and every refusal naming its field.

use rstest::rstest;

use celgate::notify::{SlackConfig, SlackConfigError, WebhookConfig};

use super::{fixture, parse_slack};

#[rstest]
#[case::inline_url("inline-url.yaml", "webhooks.alerts.url: an inline webhook URL is refused")]
#[case::unknown_field("unknown-field.yaml", "unknown field `channel`")]
fn load_errors_name_the_field(#[case] file: &str, #[case] expected: &str) {
    let error = fixture(file).expect_err("refused");
    assert!(error.contains(expected), "{error}");
    assert!(!error.contains("XXXXXXXX"), "the secret must not be echoed: {error}");
}

#[rstest]
#[case::unknown_webhook(
    "unknown-webhook.yaml",
    "slack.routes[1].webhook: no webhook named 'security' (configured: alerts)"
)]
#[case::no_source("no-url-source.yaml", "slack.webhooks.alerts: no URL source; set urlFile or urlEnv")]
#[case::two_sources("two-url-sources.yaml", "slack.webhooks.alerts: urlFile and urlEnv are both set")]
#[case::empty_route("empty-route.yaml", "slack.routes[0]: decisions and system are both empty")]
#[case::bad_glob("bad-glob.yaml", "slack.routes[0].tenants: bad glob 'team-[a'")]
#[case::plain_http_link("plain-http-link.yaml", "slack.links.dashboardUrl = \"http://grafana.example.com/d/celgate\": uses http:// to grafana.example.com, which is not a loopback host")]
#[case::zero_attempts("zero-attempts.yaml", "slack.retry.maxAttempts: must be greater than zero")]
fn validation_errors_name_the_field(#[case] file: &str, #[case] expected: &str) {
    let config = fixture(file).expect("parses");
    let error = config.validate().expect_err("refused");
    assert!(error.to_string().contains(expected), "{error}");
}

#[test]
fn full_config_loads_and_resolves_with_file_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("security-url");
    std::fs::write(&secret, "https://hooks.slack.com/services/T0/B0/SECRET\n").unwrap();
    let text = std::fs::read_to_string("tests/fixtures/notify/full.yaml")
        .unwrap()
        .replace("SECURITY_URL_FILE", &secret.display().to_string());
    let config = parse_slack(&text).expect("parses");
    let resolved = config
        .resolve(&|var| (var == "SLACK_TEAM_A").then(|| "https://hooks.slack.com/services/T0/B1/OTHER".to_owned()))
        .expect("resolves");
    let names: Vec<&str> = resolved.webhooks().iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["security", "team-a"]);
    assert!(
        !format!("{resolved:?}").contains("SECRET"),
        "Debug must hide webhook URLs"
    );
}

#[test]
fn defaults_are_those_documented() {
    let config = parse_slack("{}").unwrap();
    assert_eq!(config.group_window_seconds, 300);
    assert_eq!(config.rate_limit.interval_ms, 1000);
    assert_eq!(config.rate_limit.burst, 3);
    assert_eq!(config.retry.max_attempts, 5);
    assert!(!config.is_enabled());
    config.validate().expect("the empty section is valid");
}

fn one_webhook(hook: WebhookConfig) -> SlackConfig {
    let mut config = parse_slack("routes: [{webhook: alerts}]").unwrap();
    config.webhooks.insert("alerts".to_owned(), hook);
    config
}

#[test]
fn http_to_a_non_loopback_host_is_refused_without_echoing_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("url");
    std::fs::write(&file, "http://hooks.example.com/services/T0/B0/SECRET").unwrap();
    let error = one_webhook(WebhookConfig::from_file(&file))
        .resolve(&|_| None)
        .unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, SlackConfigError::BadWebhookUrl { .. }), "{error:?}");
    assert!(text.contains(&format!("file {}", file.display())), "{text}");
    assert!(text.contains("not a loopback host"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
}

#[test]
fn a_missing_url_file_is_named() {
    let error = one_webhook(WebhookConfig::from_file("/nonexistent/slack-url"))
        .resolve(&|_| None)
        .unwrap_err();
    assert!(matches!(error, SlackConfigError::ReadUrlFile { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "slack.webhooks.alerts.urlFile: cannot read /nonexistent/slack-url"
    );
    assert!(
        std::error::Error::source(&error).is_some(),
        "the io error is kept as the source"
    );
}

#[test]
fn an_unset_variable_is_named() {
    let error = one_webhook(WebhookConfig::from_env("SLACK_NOT_SET"))
        .resolve(&|_| None)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "slack.webhooks.alerts: environment variable SLACK_NOT_SET is empty or not set"
    );
}
