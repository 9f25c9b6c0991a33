//! The `slack:` section of `celgate.yaml`: webhooks (their URLs come from a file or an environment
//! variable, never inline), routes, filters, links and delivery limits, with their defaults.
//! The names routes use (severities, kinds of decision and trouble) are in [`super::vocab`];
//! checking the section and reading the URLs is in [`super::resolve`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::vocab::{DecisionClass, Severity, SystemClass};

/// Slack alerting: where to post, what to post, and how hard to try.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlackConfig {
    /// Incoming webhooks by name; routes refer to these names, logs show only the names.
    #[serde(default)]
    pub webhooks: BTreeMap<String, WebhookConfig>,
    /// Which events go to which webhook; an event goes to every route it matches (once per webhook).
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Events less severe than this are never posted, whatever the routes say.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Links shown in messages.
    #[serde(default)]
    pub links: LinksConfig,
    /// Identical events within this many seconds become one follow-up message with a count.
    #[serde(default = "default_group_window")]
    pub group_window_seconds: u64,
    /// How many violations one message lists before "and N more".
    #[serde(default = "default_max_violations")]
    pub max_violations: usize,
    /// A serving certificate expiring within this many days raises an alert.
    #[serde(default = "default_cert_days")]
    pub certificate_warning_days: u32,
    /// Retries of failed posts.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Messages per webhook over time (Slack allows about one per second per channel).
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Events waiting to be routed; when full, new events are dropped and counted.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// Messages waiting for one webhook (behind its rate limit); when full, dropped and counted.
    #[serde(default = "default_webhook_backlog")]
    pub webhook_backlog: usize,
    /// Network deadlines.
    #[serde(default)]
    pub timeouts: TimeoutConfig,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            webhooks: BTreeMap::new(),
            routes: Vec::new(),
            min_severity: default_min_severity(),
            links: LinksConfig::default(),
            group_window_seconds: default_group_window(),
            max_violations: default_max_violations(),
            certificate_warning_days: default_cert_days(),
            retry: RetryConfig::default(),
            rate_limit: RateLimitConfig::default(),
            queue_capacity: default_queue_capacity(),
            webhook_backlog: default_webhook_backlog(),
            timeouts: TimeoutConfig::default(),
        }
    }
}

impl SlackConfig {
    /// True when at least one webhook and one route are configured.
    pub fn is_enabled(&self) -> bool {
        !self.webhooks.is_empty() && !self.routes.is_empty()
    }

    /// The grouping window.
    pub fn group_window(&self) -> Duration {
        Duration::from_secs(self.group_window_seconds)
    }
}

fn default_min_severity() -> Severity {
    Severity::Low
}
fn default_group_window() -> u64 {
    300
}
fn default_max_violations() -> usize {
    10
}
fn default_cert_days() -> u32 {
    21
}
fn default_queue_capacity() -> usize {
    1024
}
fn default_webhook_backlog() -> usize {
    64
}

/// One Slack incoming webhook. Its URL is a secret: it is read from `urlFile` or `urlEnv`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookConfig {
    /// File holding the URL (a mounted Secret), surrounding whitespace ignored.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Environment variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// Present only so that an inline `url` is refused with the reason, not as an unknown field.
    #[serde(default, rename = "url")]
    #[allow(dead_code, reason = "only deserialized, to refuse an inline URL")]
    inline_url: Option<InlineUrlRefused>,
}

impl WebhookConfig {
    /// A webhook whose URL is in `path`.
    pub fn from_file(path: impl Into<PathBuf>) -> Self {
        WebhookConfig {
            url_file: Some(path.into()),
            ..WebhookConfig::default()
        }
    }

    /// A webhook whose URL is in the environment variable `var`.
    pub fn from_env(var: impl Into<String>) -> Self {
        WebhookConfig {
            url_env: Some(var.into()),
            ..WebhookConfig::default()
        }
    }
}

/// Never built: deserializing it fails with the reason an inline URL is refused.
#[derive(Debug, Clone)]
struct InlineUrlRefused;

impl<'de> Deserialize<'de> for InlineUrlRefused {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "an inline webhook URL is refused: it is a secret that would sit in the config file \
             (and in every copy of it); put it in a file (urlFile, e.g. a mounted Secret) or an \
             environment variable (urlEnv)",
        ))
    }
}

/// Where events go: every listed condition must hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RouteConfig {
    /// Name of the webhook in `webhooks`.
    pub webhook: String,
    /// Tenant globs (`team-*`); empty matches every tenant, and events without one.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Least severity for this route (on top of the global one).
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Kinds of decisions this route carries.
    #[serde(default = "default_decisions")]
    pub decisions: Vec<DecisionClass>,
    /// celgate's own trouble this route carries.
    #[serde(default)]
    pub system: Vec<SystemClass>,
}

fn default_decisions() -> Vec<DecisionClass> {
    DecisionClass::DEFAULT.to_vec()
}

/// Links shown in messages; each must be `https://` (or `http://` to a loopback host).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LinksConfig {
    /// Rule reference; `{rule}` is replaced by the rule id, e.g.
    /// `https://git.example.com/celgate/blob/main/docs/policies.md#rule-{rule}`.
    #[serde(default)]
    pub rule_url: Option<String>,
    /// A dashboard, shown as a button on every message.
    #[serde(default)]
    pub dashboard_url: Option<String>,
}

/// Retries of posts that failed with 5xx, 429 or a network error.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RetryConfig {
    /// Attempts in all, the first included; then the message is given up and counted.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each time, with jitter.
    #[serde(default = "default_initial_backoff")]
    pub initial_backoff_ms: u64,
    /// Longest wait between attempts (also caps `Retry-After`).
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: default_attempts(),
            initial_backoff_ms: default_initial_backoff(),
            max_backoff_ms: default_max_backoff(),
        }
    }
}

fn default_attempts() -> u32 {
    5
}
fn default_initial_backoff() -> u64 {
    500
}
fn default_max_backoff() -> u64 {
    60_000
}

/// A token bucket per webhook: `burst` messages at once, then one per `intervalMs`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimitConfig {
    /// Time for one token to come back.
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// Tokens the bucket holds.
    #[serde(default = "default_burst")]
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            interval_ms: default_interval(),
            burst: default_burst(),
        }
    }
}

fn default_interval() -> u64 {
    1000
}
fn default_burst() -> u32 {
    3
}

/// Deadlines of one post.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TimeoutConfig {
    /// TCP connect (and TLS handshake) deadline.
    #[serde(default = "default_connect")]
    pub connect_ms: u64,
    /// Whole-request deadline, connect included.
    #[serde(default = "default_request")]
    pub request_ms: u64,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            connect_ms: default_connect(),
            request_ms: default_request(),
        }
    }
}

fn default_connect() -> u64 {
    5_000
}
fn default_request() -> u64 {
    10_000
}
