//! Checking a [`SlackConfig`] ([`SlackConfig::validate`], nothing read) and resolving it
//! ([`SlackConfig::resolve`]: the secret URLs read from their files or variables, routes compiled).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::config::{SlackConfig, WebhookConfig};
use super::error::SlackConfigError;
use super::route::Router;
use super::url::{check_link_url, WebhookUrl};

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
                check_link_url(value).map_err(|source| SlackConfigError::BadLink {
                    field,
                    value: value.clone(),
                    source,
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
            let url = WebhookUrl::parse(text).map_err(|source| SlackConfigError::BadWebhookUrl {
                name: name.clone(),
                origin,
                source,
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
