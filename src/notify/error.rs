//! Why a `slack:` section cannot be used: [`SlackConfigError`], raised by checking it
//! ([`super::resolve`]) and by compiling its routes (`route`). Each error names the field.

use std::path::PathBuf;

use super::url::UrlError;

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
    #[error("slack.links.{field} = {value:?}: {source}")]
    BadLink {
        /// `ruleUrl` or `dashboardUrl`.
        field: &'static str,
        /// The value (links are not secrets).
        value: String,
        /// What is wrong with it.
        #[source]
        source: UrlError,
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
    #[error("slack.webhooks.{name}: the URL in {origin} {source}")]
    BadWebhookUrl {
        /// Webhook name.
        name: String,
        /// `file PATH` or `environment variable VAR`.
        origin: String,
        /// What is wrong with it (never the URL itself).
        #[source]
        source: UrlError,
    },
}
