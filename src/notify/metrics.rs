//! The notifier's Prometheus families (`celgate_slack_*`), registered in the registry passed in.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels naming a webhook (by its config name, never its URL).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// Webhook name.
    pub webhook: String,
}

/// Labels of retries.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetryLabels {
    /// Webhook name.
    pub webhook: String,
    /// `rate_limited` (429), `server_error` (5xx) or `network` (connect, TLS, timeout).
    pub reason: String,
}

/// Labels of dropped messages.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// Webhook name; empty for `queue_full` (before routing).
    pub webhook: String,
    /// `queue_full`, `backlog_full`, `gave_up`, `rejected` (4xx) or `shutdown`.
    pub reason: String,
}

/// Why a message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    QueueFull,
    BacklogFull,
    GaveUp,
    Rejected,
    Shutdown,
}

impl DropReason {
    fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::BacklogFull => "backlog_full",
            DropReason::GaveUp => "gave_up",
            DropReason::Rejected => "rejected",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// Counters of the notifier.
#[derive(Debug, Clone, Default)]
pub struct NotifyMetrics {
    /// Messages Slack accepted, by webhook.
    pub sent: Family<WebhookLabels, Counter>,
    /// Attempts that failed and were tried again, by webhook and reason.
    pub retried: Family<RetryLabels, Counter>,
    /// Messages or events lost, by webhook and reason.
    pub dropped: Family<DropLabels, Counter>,
    /// Events folded into an earlier identical one (posted later as a count).
    pub grouped: Counter,
}

impl NotifyMetrics {
    /// Creates the counters and registers them under `celgate_slack_`.
    pub fn new(registry: &mut Registry) -> NotifyMetrics {
        let metrics = NotifyMetrics::default();
        let r = registry.sub_registry_with_prefix("celgate_slack");
        r.register(
            "messages_sent",
            "Messages Slack accepted, by webhook",
            metrics.sent.clone(),
        );
        r.register(
            "retries",
            "Failed posts tried again, by webhook and reason",
            metrics.retried.clone(),
        );
        r.register(
            "messages_dropped",
            "Alerts lost, by webhook and reason (queue_full, backlog_full, gave_up, rejected, shutdown)",
            metrics.dropped.clone(),
        );
        r.register(
            "events_grouped",
            "Events folded into an identical earlier one within the group window",
            metrics.grouped.clone(),
        );
        metrics
    }

    pub(crate) fn drop(&self, webhook: &str, reason: DropReason) {
        self.dropped
            .get_or_create(&DropLabels {
                webhook: webhook.to_owned(),
                reason: reason.as_str().to_owned(),
            })
            .inc();
    }

    pub(crate) fn retry(&self, webhook: &str, reason: &str) {
        self.retried
            .get_or_create(&RetryLabels {
                webhook: webhook.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub(crate) fn sent(&self, webhook: &str) {
        self.sent
            .get_or_create(&WebhookLabels {
                webhook: webhook.to_owned(),
            })
            .inc();
    }
}
