//! Metrics of the audit trail, registered on the server's registry (no globals). Names are
//! stable: alerts depend on them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of `celgate_audit_records_dropped_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// `queue_full` or `write_failed`.
    pub reason: String,
}

/// Counters and gauges of one [`super::AuditLog`].
#[derive(Debug, Clone, Default)]
pub struct AuditMetrics {
    /// Records appended to the log (`celgate_audit_records_written_total`).
    pub written: Counter,
    /// Records lost, by reason (`celgate_audit_records_dropped_total{reason}`).
    pub dropped: Family<DropLabels, Counter>,
    /// Failed writes, syncs or reopen attempts (`celgate_audit_write_failures_total`).
    pub write_failures: Counter,
    /// Records waiting for the writer (`celgate_audit_queue_depth`).
    pub queue_depth: Gauge,
}

/// Reason label: the queue was full.
pub const QUEUE_FULL: &str = "queue_full";
/// Reason label: the writer failed (or was failing) to write it.
pub const WRITE_FAILED: &str = "write_failed";

impl AuditMetrics {
    /// Creates the metrics and registers them as `celgate_audit_*` in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = AuditMetrics::default();
        let r = registry.sub_registry_with_prefix("celgate_audit");
        r.register(
            "records_written",
            "Audit records appended to the log",
            metrics.written.clone(),
        );
        r.register(
            "records_dropped",
            "Audit records lost, by reason (queue_full, write_failed)",
            metrics.dropped.clone(),
        );
        r.register(
            "write_failures",
            "Failed audit writes, syncs or recovery attempts",
            metrics.write_failures.clone(),
        );
        r.register(
            "queue_depth",
            "Audit records waiting for the writer",
            metrics.queue_depth.clone(),
        );
        metrics
    }

    /// Counts one dropped record.
    pub fn drop_one(&self, reason: &str) {
        self.dropped
            .get_or_create(&DropLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Records dropped for `reason` so far.
    pub fn dropped_for(&self, reason: &str) -> u64 {
        self.dropped
            .get_or_create(&DropLabels {
                reason: reason.to_owned(),
            })
            .get()
    }
}
