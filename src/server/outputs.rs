//! Handing each decision to the audit trail and to Slack. Without `audit.required` both only
//! enqueue, off the answer's path. With it, the answer waits until the record is written and
//! synced (group commit in the writer), and a decision the trail cannot take in time is refused
//! instead of answered.

use super::ServerState;
use crate::audit::AuditRecord;
use crate::notify::DecisionEvent;

/// The audit trail could not take the record and `audit.required` is set.
#[derive(Debug)]
pub(super) struct Unrecorded(pub String);

impl Unrecorded {
    /// What the caller is told.
    pub(super) fn message(&self) -> String {
        format!(
            "celgate could not record this decision in its audit trail ({}), and audit.required forbids deciding unrecorded",
            self.0
        )
    }
}

/// What one decision hands to the audit trail and to Slack, built by the service next to the
/// evaluation (the record hashes the whole document) and sent by [`Prepared::send`] once the
/// answer is certain, so a review that timed out is never recorded as decided.
#[derive(Default)]
pub(super) struct Prepared {
    record: Option<AuditRecord>,
    event: Option<DecisionEvent>,
}

impl Prepared {
    /// What to send once the answer is certain: the judgment's record and event.
    pub(super) fn new(record: Option<AuditRecord>, event: Option<DecisionEvent>) -> Prepared {
        Prepared { record, event }
    }

    /// Enqueues the record and the event. Without `audit.required` it never waits; with it, it
    /// waits (at most `within`) for the record to be on disk, and the only error is a record the
    /// trail could not take or confirm in time.
    pub(super) async fn send(self, state: &ServerState, within: std::time::Duration) -> Result<(), Unrecorded> {
        if let (Some(audit), Some(record)) = (&state.outputs.audit, self.record) {
            if audit.is_required() {
                let committed = match audit.record_durably(record) {
                    Ok(receipt) => match tokio::time::timeout(within, receipt.written()).await {
                        Ok(written) => written.map_err(|e| crate::audit::log::error_chain(&e)),
                        Err(_) => Err(format!("the record was not on disk within {within:?}")),
                    },
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = committed {
                    tracing::error!(error = %e, "decision refused: the audit trail cannot record it");
                    return Err(Unrecorded(e));
                }
            } else if let Err(e) = audit.record(record) {
                tracing::warn!(error = %e, "decision answered but not recorded in the audit trail");
            }
        }
        if let (Some(notifier), Some(event)) = (&state.outputs.notifier, self.event) {
            notifier.notify(event);
        }
        Ok(())
    }
}
