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

/// Records `decision` on `input` (never the document: its SHA-256) and posts it to Slack when it
/// has findings. Never blocks; the only error is a refused record under `audit.required`.
pub(super) fn publish(
    state: &ServerState,
    door: Door,
    input: &Input,
    decision: &Decision,
    uid: Option<&str>,
) -> Result<(), Unrecorded> {
    if let Some(audit) = &state.outputs.audit {
        let mut record = AuditRecord::new(door, input, decision).with_packs(pack_versions(&state.engine.load()));
        if let Some(uid) = uid {
            record = record.with_uid(uid);
        }
        if let Err(e) = audit.record(record) {
            if audit.is_required() {
                tracing::error!(error = %e, "decision refused: the audit trail cannot record it");
                return Err(Unrecorded(e.to_string()));
            }
            tracing::warn!(error = %e, "decision answered but not recorded in the audit trail");
        }
    }
    if let Some(notifier) = &state.outputs.notifier {
        if !decision.violations.is_empty() {
            let mut event = DecisionEvent::new(
                door,
                decision.tenant.as_deref(),
                decision.environment.as_deref(),
                input,
                decision,
            );
            if let Some(uid) = uid {
                event = event.with_request_uid(uid);
            }
            notifier.notify(event);
        }
    }
    Ok(())
}
