//! Handing each decision to the audit trail and to Slack. Without `audit.required` both only
//! enqueue, off the answer's path. With it, the answer waits until the record is written and
//! synced (group commit in the writer), and a decision the trail cannot take in time is refused
//! instead of answered.

use super::ServerState;
use crate::audit::record::pack_versions;
use crate::audit::AuditRecord;
use crate::engine::{Decision, Door, Engine, Input};
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

/// What one decision hands to the audit trail and to Slack, built next to the evaluation (the
/// record hashes the whole document) and sent by [`Prepared::send`] once the answer is certain,
/// so a review that timed out is never recorded as decided.
#[derive(Default)]
pub(super) struct Prepared {
    record: Option<AuditRecord>,
    event: Option<DecisionEvent>,
}

/// Builds the audit record of `decision` on `input` (never the document: its SHA-256) and the
/// Slack event when it has findings, for the outputs `state` has. The record names the packs of
/// `engine`, the one that judged (a reload may have swapped `state.engine` since).
pub(super) fn prepare(
    state: &ServerState,
    engine: &Engine,
    door: Door,
    input: &Input,
    decision: &Decision,
    uid: Option<&str>,
) -> Prepared {
    let record = state.outputs.audit.as_ref().map(|_| {
        let record = AuditRecord::new(door, input, decision).with_packs(pack_versions(engine));
        match uid {
            Some(uid) => record.with_uid(uid),
            None => record,
        }
    });
    let event = state
        .outputs
        .notifier
        .as_ref()
        .filter(|_| !decision.violations.is_empty())
        .map(|_| {
            let event = DecisionEvent::new(
                door,
                decision.tenant.as_deref(),
                decision.environment.as_deref(),
                input,
                decision,
            );
            match uid {
                Some(uid) => event.with_request_uid(uid),
                None => event,
            }
        });
    Prepared { record, event }
}

impl Prepared {
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
