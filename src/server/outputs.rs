//! Handing each decision to the audit trail and to Slack, off the answer's path: both only
//! enqueue. With `audit.required`, a decision the trail cannot take is refused instead of answered.

use super::ServerState;
use crate::audit::record::pack_versions;
use crate::audit::AuditRecord;
use crate::engine::{Decision, Door, Input};
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
/// Slack event when it has findings, for the outputs `state` has.
pub(super) fn prepare(
    state: &ServerState,
    door: Door,
    input: &Input,
    decision: &Decision,
    uid: Option<&str>,
) -> Prepared {
    let record = state.outputs.audit.as_ref().map(|_| {
        let record = AuditRecord::new(door, input, decision).with_packs(pack_versions(&state.engine.load()));
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
    /// Enqueues the record and the event. Never blocks; the only error is a refused record
    /// under `audit.required`.
    pub(super) fn send(self, state: &ServerState) -> Result<(), Unrecorded> {
        if let (Some(audit), Some(record)) = (&state.outputs.audit, self.record) {
            if let Err(e) = audit.record(record) {
                if audit.is_required() {
                    tracing::error!(error = %e, "decision refused: the audit trail cannot record it");
                    return Err(Unrecorded(e.to_string()));
                }
                tracing::warn!(error = %e, "decision answered but not recorded in the audit trail");
            }
        }
        if let (Some(notifier), Some(event)) = (&state.outputs.notifier, self.event) {
            notifier.notify(event);
        }
        Ok(())
    }
}
