//! The engine's answer: a [`Decision`] with the [`Violation`]s that caused it (design §4).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::overrides::{AppliedMode, ExceptionUse};

/// The verdict on one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Admit as submitted (warnings may apply).
    Allow,
    /// Reject.
    Deny,
    /// Admit after applying [`Decision::patch`].
    Patch,
}

impl Verdict {
    /// Lowercase name as used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Patch => "patch",
        }
    }
}

/// Whether a finding is a failed check or a check that could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingType {
    /// `validate` returned false.
    Violation,
    /// Evaluating the rule failed (missing field, wrong type, cost bound): never a silent allow.
    EvaluationError,
}

/// The note the last kept finding of a rule gets when `n` more of the same kind were left out
/// (see `engine::eval::MAX_FINDINGS_PER_RULE`).
pub fn omitted_note(n: usize) -> String {
    format!(" (…and {n} more findings of this rule)")
}

/// `message` without its [`omitted_note`], and the number in it (0 without one).
pub fn split_omitted_note(message: &str) -> (&str, usize) {
    let Some(head) = message.strip_suffix(" more findings of this rule)") else {
        return (message, 0);
    };
    match head.rsplit_once(" (…and ") {
        Some((text, n)) => n.parse().map_or((message, 0), |n| (text, n)),
        None => (message, 0),
    }
}

/// One rule finding, with everything a person needs to act on it.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// Pack name (`hipaa`).
    pub pack: Arc<str>,
    /// Rule id.
    pub rule: Arc<str>,
    /// Rule title.
    pub title: Arc<str>,
    /// Control clauses the rule supports.
    pub controls: Arc<[String]>,
    /// Rule severity.
    pub severity: Severity,
    /// What the finding did: the rule's action, or the `onError` outcome for errors
    /// (`deny`, `warn`, or `audit` for `onError: allow`).
    pub action: Action,
    /// Failed check or evaluation error.
    #[serde(rename = "type")]
    pub finding: FindingType,
    /// Rendered message with the actual values (or the error).
    pub message: String,
    /// JSON pointer of the offending field (RFC 6901), `""` for the whole document.
    pub pointer: String,
    /// Why the rule matters (the rule's `rationale`; `""` when it gives none).
    pub rationale: Arc<str>,
    /// How to fix it.
    pub remediation: Arc<str>,
    /// True when the rule's patch was applied and fixed this finding.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub patched: bool,
    /// The tenant or environment mode that changed the rule's action, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<AppliedMode>,
    /// The exception that covers this finding (or matched but expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<ExceptionUse>,
    /// The reason a denial answers with (a Kubernetes validation's `reason`); `None`: the
    /// door's default (`Forbidden`, 403). Written as its HTTP code, `statusCode`.
    #[serde(
        rename = "statusCode",
        serialize_with = "serialize_reason_code",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<StatusReason>,
}

#[cfg(test)]
impl Violation {
    /// A denying finding of rule `rule` of pack `pack`, everything else empty (unit tests).
    pub(crate) fn sample(pack: &str, rule: &str) -> Violation {
        Violation {
            pack: pack.into(),
            rule: rule.into(),
            title: "".into(),
            controls: Arc::new([]),
            severity: Severity::High,
            action: Action::Deny,
            finding: FindingType::Violation,
            message: String::new(),
            pointer: String::new(),
            rationale: "".into(),
            remediation: "".into(),
            patched: false,
            mode: None,
            exception: None,
            reason: None,
        }
    }
}

/// Why a denial refuses a request, as `metav1.StatusReason` names it (a Kubernetes
/// validation's `reason`); each implies the HTTP code the API server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum StatusReason {
    /// 401.
    Unauthorized,
    /// 403 (the default).
    Forbidden,
    /// 422.
    Invalid,
    /// 413.
    RequestEntityTooLarge,
}

impl StatusReason {
    /// The HTTP status code the API server uses for this reason.
    pub fn code(self) -> u16 {
        match self {
            StatusReason::Unauthorized => 401,
            StatusReason::Forbidden => 403,
            StatusReason::Invalid => 422,
            StatusReason::RequestEntityTooLarge => 413,
        }
    }

    /// The reason as written (`Invalid`).
    pub fn as_str(self) -> &'static str {
        match self {
            StatusReason::Unauthorized => "Unauthorized",
            StatusReason::Forbidden => "Forbidden",
            StatusReason::Invalid => "Invalid",
            StatusReason::RequestEntityTooLarge => "RequestEntityTooLarge",
        }
    }
}

// serde's `serialize_with` passes the field by reference.
#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
fn serialize_reason_code<S: serde::Serializer>(
    reason: &Option<StatusReason>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match reason {
        Some(r) => serializer.serialize_u16(r.code()),
        None => serializer.serialize_none(),
    }
}

/// One RFC 6902 operation of the emitted patch, with the rule that produced it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PatchOp {
    /// The RFC 6902 operation (written `{"op": "add", "path": ..., "value": ...}`).
    pub op: json_patch::PatchOperation,
    /// Id of the rule that asked for it.
    pub rule: String,
}

/// The decision for one input.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Allow, deny or patch.
    pub decision: Verdict,
    /// Every finding, most severe first (deny before warn before audit within a severity).
    pub violations: Vec<Violation>,
    /// Warning texts (for `warn` findings), as Kubernetes shows them.
    pub warnings: Vec<String>,
    /// Operations that turn the input into the patched document (empty unless `patch`).
    pub patch: Vec<PatchOp>,
    /// The patched document, when the decision is `patch`.
    #[serde(skip)]
    pub patched_object: Option<serde_json::Value>,
    /// Ids of the rules that applied to the input and were evaluated.
    #[serde(skip)]
    pub evaluated_rules: Vec<Arc<str>>,
    /// The tenant the input was judged for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The environment the input was judged for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Audit annotations from admission policies' `auditAnnotations` (`<policy>/<key>` ->
    /// value), for the admission response; empty for rule packs.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub audit_annotations: std::collections::BTreeMap<String, String>,
}

impl Decision {
    /// An allow with nothing evaluated.
    pub fn allow() -> Self {
        Decision {
            decision: Verdict::Allow,
            violations: Vec::new(),
            warnings: Vec::new(),
            patch: Vec::new(),
            patched_object: None,
            evaluated_rules: Vec::new(),
            tenant: None,
            environment: None,
            audit_annotations: std::collections::BTreeMap::new(),
        }
    }

    /// True when the input is rejected.
    pub fn is_denied(&self) -> bool {
        self.decision == Verdict::Deny
    }

    /// The patch as an RFC 6902 document (written `[{"op": ...}, ...]`).
    pub fn json_patch(&self) -> json_patch::Patch {
        json_patch::Patch(self.patch.iter().map(|p| p.op.clone()).collect())
    }
}

/// Order for reports: most severe first, then blocking actions first, then rule id and pointer.
pub(crate) fn sort_violations(violations: &mut [Violation]) {
    fn action_rank(action: Action) -> u8 {
        match action {
            Action::Deny => 0,
            Action::Patch => 1,
            Action::Warn => 2,
            Action::Audit => 3,
        }
    }
    violations.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| action_rank(a.action).cmp(&action_rank(b.action)))
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.pointer.cmp(&b.pointer))
    });
}

/// How bad a violation is; orders the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Low,
    /// Should be fixed soon.
    Medium,
    /// Must be fixed before release.
    High,
    /// Exploitable or a direct breach of a control.
    Critical,
}

impl Severity {
    /// Lowercase name as written in packs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What happens when a rule is violated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Reject the submission.
    Deny,
    /// Admit it with a warning.
    Warn,
    /// Admit it silently; record the finding for auditors.
    Audit,
    /// Fix it with the rule's `JSONPatch` ops, then validate again.
    Patch,
}

impl Action {
    /// Lowercase name as written in packs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deny => "deny",
            Action::Warn => "warn",
            Action::Audit => "audit",
            Action::Patch => "patch",
        }
    }
}
