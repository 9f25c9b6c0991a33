//! Slack alerts (issue 6): denials, evaluation errors and warnings that matter, and celgate's own
//! trouble (pack reloads refused, certificates about to expire, audit writes failing), posted as
//! Block Kit messages to incoming webhooks.
//!
//! - [`vocab`]: the names config, events and routes share (severity, kinds of decision and of
//!   trouble, how they match); it imports no other notify module;
//! - [`config`]: the `slack:` section of `celgate.yaml` — webhooks (URL from a file or the
//!   environment, never inline), routes, filters, links, limits; [`resolve`]: checking it and
//!   reading the URLs ([`url`]: which URLs are accepted), failing with a [`SlackConfigError`];
//! - [`event`]: what can be alerted on, built from the engine's `Input` and `Decision`;
//! - `route`: which webhooks an event goes to;
//! - [`blocks`]: Block Kit rendering within Slack's limits;
//! - [`Notifier`]: the handle the doors call; delivery (queue, grouping, rate limit, retries)
//!   runs in tasks off the request path and never blocks or fails an answer;
//! - [`metrics`]: `celgate_slack_*` counters.
//!
//! Imports go one way: `vocab` and `url` import no notify module; `error` → `url`; `config`,
//! `event` → `vocab`; `route` → `config`, `error`, `event`, `vocab`; `resolve` → `config`,
//! `error`, `route`, `url`; `blocks`, `group`, `http`, `delivery` and this module sit above them
//! (a test in `tests/` keeps it so).
//!
//! Only kind, namespace, name, rule ids, controls, messages and remediation leave the cluster:
//! never the document.

pub mod blocks;
pub mod config;
mod delivery;
pub mod error;
pub mod event;
mod group;
mod http;
pub mod metrics;
mod rate_limit;
pub mod resolve;
mod route;
pub mod url;
pub mod vocab;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use config::{SlackConfig, WebhookConfig};
pub use error::SlackConfigError;
pub use event::{DecisionEvent, Door, Event, ScanFinding, SystemEvent, ViolationSummary, SCAN_FINDINGS_SHOWN};
pub use metrics::NotifyMetrics;
pub use resolve::{ResolvedSlackConfig, ResolvedWebhook};
pub use url::{UrlError, WebhookUrl};
pub use vocab::{DecisionClass, SystemClass};

/// The notifier's handle: cheap to clone, shared by every door.
#[derive(Clone, Debug)]
pub struct Notifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    events: mpsc::Sender<Event>,
    metrics: NotifyMetrics,
    deadline: watch::Sender<Option<Instant>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Notifier {
    /// Starts delivery (a dispatcher task and one task per webhook) and registers the
    /// `celgate_slack_*` metrics. Must be called inside a tokio runtime.
    pub fn start(config: &ResolvedSlackConfig, registry: &mut Registry) -> Notifier {
        let metrics = NotifyMetrics::new(registry);
        let (tx, rx) = mpsc::channel(config.config().queue_capacity);
        let (deadline_tx, deadline_rx) = watch::channel(None);
        let tasks = delivery::spawn(config, rx, metrics.clone(), &deadline_rx);
        Notifier {
            inner: Arc::new(Inner {
                events: tx,
                metrics,
                deadline: deadline_tx,
                tasks: Mutex::new(tasks),
            }),
        }
    }

    /// Hands `event` to delivery and returns at once: never waits, never fails. When the queue is
    /// full (or the notifier is shut down) the event is dropped and counted.
    pub fn notify(&self, event: impl Into<Event>) {
        match self.inner.events.try_send(event.into()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!("Slack queue full; alert dropped");
                self.inner.metrics.drop("", metrics::DropReason::QueueFull);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.inner.metrics.drop("", metrics::DropReason::Shutdown);
            }
        }
    }

    /// The counters (also registered in the registry given to [`Notifier::start`]).
    pub fn metrics(&self) -> &NotifyMetrics {
        &self.inner.metrics
    }

    /// Stops taking events and tries to deliver what is queued (and the counts of open groups)
    /// within `grace`; what cannot be posted by then is dropped and counted as `shutdown`.
    /// Calling it again returns at once.
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.inner.deadline.send_replace(Some(deadline));
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for mut task in tasks {
            // A post in flight may outlive the deadline by its own request timeout at most; past
            // a short margin the task is stopped.
            if tokio::time::timeout_at(deadline + Duration::from_secs(1), &mut task)
                .await
                .is_err()
            {
                tracing::warn!("Slack delivery did not finish within the shutdown grace; stopped");
                task.abort();
            }
        }
    }
}
