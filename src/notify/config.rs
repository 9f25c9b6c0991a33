//! The `slack:` section of `celgate.yaml`: webhooks (their URLs come from a file or an environment
//! variable, never inline), routes, filters, links and delivery limits. [`SlackConfig::validate`]
//! checks the shape; [`SlackConfig::resolve`] then reads the secret URLs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::route::{DecisionClass, Router, SystemClass};
use super::url::{check_link_url, WebhookUrl};
use crate::engine::Severity;

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
    vec![DecisionClass::Deny, DecisionClass::EvaluationError]
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

/// A `slack:` setting that cannot be used; each names the field.
#[derive(Debug, thiserror::Error)]
pub enum SlackConfigError {
    /// A webhook gives neither `urlFile` nor `urlEnv`.
    #[error("slack.webhooks.{name}: no URL source; set urlFile or urlEnv")]
    NoUrlSource {
        /// Webhook name.
        name: String,
    },
    /// A webhook gives both `urlFile` and `urlEnv`.
    #[error("slack.webhooks.{name}: urlFile and urlEnv are both set; set one")]
    TwoUrlSources {
        /// Webhook name.
        name: String,
    },
    /// A webhook name that cannot be shown in logs and metrics.
    #[error("slack.webhooks: bad webhook name {name:?}: use letters, digits, '-', '_' or '.'")]
    BadWebhookName {
        /// The name.
        name: String,
    },
    /// A route names a webhook that is not configured.
    #[error("slack.routes[{index}].webhook: no webhook named '{webhook}' (configured: {known})")]
    UnknownWebhook {
        /// Route index.
        index: usize,
        /// The name given.
        webhook: String,
        /// The names that exist.
        known: String,
    },
    /// A tenant glob that does not compile.
    #[error("slack.routes[{index}].tenants: bad glob '{glob}'")]
    BadGlob {
        /// Route index.
        index: usize,
        /// The glob.
        glob: String,
        /// Why.
        #[source]
        source: globset::Error,
    },
    /// A route with neither decisions nor system events matches nothing.
    #[error("slack.routes[{index}]: decisions and system are both empty, so it matches nothing")]
    EmptyRoute {
        /// Route index.
        index: usize,
    },
    /// A number that must be positive is zero.
    #[error("slack.{field}: must be greater than zero")]
    Zero {
        /// Field path below `slack.`.
        field: &'static str,
    },
    /// `retry.maxBackoffMs` is below `retry.initialBackoffMs`.
    #[error("slack.retry.maxBackoffMs ({max}) is less than slack.retry.initialBackoffMs ({initial})")]
    BackoffOrder {
        /// `maxBackoffMs`.
        max: u64,
        /// `initialBackoffMs`.
        initial: u64,
    },
    /// A link URL that is not `https://` (or `http://` to loopback).
    #[error("slack.links.{field} = {value:?}: {reason}")]
    BadLink {
        /// `ruleUrl` or `dashboardUrl`.
        field: &'static str,
        /// The value (links are not secrets).
        value: String,
        /// Why.
        reason: String,
    },
    /// The URL file could not be read.
    #[error("slack.webhooks.{name}.urlFile: cannot read {}", path.display())]
    ReadUrlFile {
        /// Webhook name.
        name: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The URL file or variable is empty or missing.
    #[error("slack.webhooks.{name}: {origin} is empty or not set")]
    EmptyUrl {
        /// Webhook name.
        name: String,
        /// `file PATH` or `environment variable VAR`.
        origin: String,
    },
    /// The URL read is not acceptable; the value itself is never shown (it is a secret).
    #[error("slack.webhooks.{name}: the URL in {origin} {reason}")]
    BadWebhookUrl {
        /// Webhook name.
        name: String,
        /// `file PATH` or `environment variable VAR`.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// One webhook with its URL read.
#[derive(Debug, Clone)]
pub struct ResolvedWebhook {
    /// Name from the config (what logs and metrics show).
    pub name: String,
    /// The secret URL (its `Debug` hides it).
    pub url: WebhookUrl,
}

/// A validated config with every webhook URL read and the routes compiled: what
/// [`super::Notifier::start`] takes. Only [`SlackConfig::resolve`] makes one.
#[derive(Debug, Clone)]
pub struct ResolvedSlackConfig {
    config: SlackConfig,
    webhooks: Vec<ResolvedWebhook>,
    router: Arc<Router>,
}

impl ResolvedSlackConfig {
    /// The settings.
    pub fn config(&self) -> &SlackConfig {
        &self.config
    }

    /// The webhooks, in name order.
    pub fn webhooks(&self) -> &[ResolvedWebhook] {
        &self.webhooks
    }

    pub(crate) fn router(&self) -> Arc<Router> {
        Arc::clone(&self.router)
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

    /// Checks everything that needs no file or environment; the first problem is returned.
    pub fn validate(&self) -> Result<(), SlackConfigError> {
        for (name, hook) in &self.webhooks {
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !name_ok {
                return Err(SlackConfigError::BadWebhookName { name: name.clone() });
            }
            match (&hook.url_file, &hook.url_env) {
                (None, None) => return Err(SlackConfigError::NoUrlSource { name: name.clone() }),
                (Some(_), Some(_)) => return Err(SlackConfigError::TwoUrlSources { name: name.clone() }),
                _ => {}
            }
        }
        for (index, route) in self.routes.iter().enumerate() {
            if !self.webhooks.contains_key(&route.webhook) {
                return Err(SlackConfigError::UnknownWebhook {
                    index,
                    webhook: route.webhook.clone(),
                    known: known_names(&self.webhooks),
                });
            }
            for glob in &route.tenants {
                globset::Glob::new(glob).map_err(|source| SlackConfigError::BadGlob {
                    index,
                    glob: glob.clone(),
                    source,
                })?;
            }
            if route.decisions.is_empty() && route.system.is_empty() {
                return Err(SlackConfigError::EmptyRoute { index });
            }
        }
        let positive: [(&'static str, u64); 7] = [
            ("groupWindowSeconds", self.group_window_seconds),
            ("queueCapacity", self.queue_capacity as u64),
            ("webhookBacklog", self.webhook_backlog as u64),
            ("retry.maxAttempts", u64::from(self.retry.max_attempts)),
            ("rateLimit.intervalMs", self.rate_limit.interval_ms),
            ("rateLimit.burst", u64::from(self.rate_limit.burst)),
            ("timeouts.requestMs", self.timeouts.request_ms),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(SlackConfigError::Zero { field });
            }
        }
        if self.timeouts.connect_ms == 0 {
            return Err(SlackConfigError::Zero {
                field: "timeouts.connectMs",
            });
        }
        if self.retry.max_backoff_ms < self.retry.initial_backoff_ms {
            return Err(SlackConfigError::BackoffOrder {
                max: self.retry.max_backoff_ms,
                initial: self.retry.initial_backoff_ms,
            });
        }
        for (field, value) in [
            ("ruleUrl", &self.links.rule_url),
            ("dashboardUrl", &self.links.dashboard_url),
        ] {
            if let Some(value) = value {
                check_link_url(value).map_err(|reason| SlackConfigError::BadLink {
                    field,
                    value: value.clone(),
                    reason,
                })?;
            }
        }
        Ok(())
    }

    /// Validates, then reads every webhook URL: files from disk, variables through `env`
    /// (pass `|name| std::env::var(name).ok()` in production).
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<ResolvedSlackConfig, SlackConfigError> {
        self.validate()?;
        let mut webhooks = Vec::with_capacity(self.webhooks.len());
        for (name, hook) in &self.webhooks {
            let (text, origin) = match (&hook.url_file, &hook.url_env) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(path).map_err(|source| SlackConfigError::ReadUrlFile {
                        name: name.clone(),
                        path: path.clone(),
                        source,
                    })?;
                    (Some(text), format!("file {}", path.display()))
                }
                (None, Some(var)) => (env(var), format!("environment variable {var}")),
                (None, None) => return Err(SlackConfigError::NoUrlSource { name: name.clone() }),
            };
            let text = text.unwrap_or_default();
            let text = text.trim();
            if text.is_empty() {
                return Err(SlackConfigError::EmptyUrl {
                    name: name.clone(),
                    origin,
                });
            }
            let url = WebhookUrl::parse(text).map_err(|reason| SlackConfigError::BadWebhookUrl {
                name: name.clone(),
                origin,
                reason,
            })?;
            webhooks.push(ResolvedWebhook {
                name: name.clone(),
                url,
            });
        }
        let names: Vec<String> = webhooks.iter().map(|w| w.name.clone()).collect();
        let router = Arc::new(Router::new(self, &names)?);
        Ok(ResolvedSlackConfig {
            config: self.clone(),
            webhooks,
            router,
        })
    }
}

fn known_names(webhooks: &BTreeMap<String, WebhookConfig>) -> String {
    if webhooks.is_empty() {
        "none".to_owned()
    } else {
        webhooks.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}
