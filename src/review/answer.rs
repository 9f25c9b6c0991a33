//! The AdmissionReview v1 response, typed: [`ReviewAnswer`] is built from a [`Decision`] and
//! serialised once, straight to the bytes the API server reads (the patch as base64, the
//! status with its code and reason).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;

use super::ADMISSION_API_VERSION;
use crate::engine::{Decision, StatusReason};

/// A whole AdmissionReview answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewAnswer {
    /// Always `admission.k8s.io/v1`.
    pub api_version: &'static str,
    /// Always `AdmissionReview`.
    pub kind: &'static str,
    /// The verdict.
    pub response: AnswerBody,
}

/// `response` of an AdmissionReview answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerBody {
    /// The request's uid.
    pub uid: String,
    /// Whether the request is admitted.
    pub allowed: bool,
    /// Why it was refused (empty when admitted).
    pub status: AnswerStatus,
    /// The RFC 6902 patch, base64-encoded (Go's `[]byte`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// `JSONPatch` when there is a patch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    /// Audit annotations (the API server prefixes the webhook's name).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
    /// Warnings shown to the client (`kubectl` prints them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// `response.status`: a `metav1.Status` summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AnswerStatus {
    /// `Failure` on a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    /// The HTTP code the API server answers its client with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// What `kubectl` shows.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The machine-readable reason (`Forbidden`, `Invalid`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Why a request is refused: a policy's denial (with the reason its finding chose), or a
/// request celgate could not read or judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A denial, with its `metav1.StatusReason` (`Forbidden`, 403, for rule packs).
    Denied(StatusReason),
    /// A bad request body (400).
    BadRequest,
    /// celgate could not judge or answer (500).
    InternalError,
}

impl Refusal {
    /// The HTTP status code.
    pub fn code(self) -> u16 {
        match self {
            Refusal::Denied(reason) => reason.code(),
            Refusal::BadRequest => 400,
            Refusal::InternalError => 500,
        }
    }

    /// The `metav1.StatusReason`.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Denied(reason) => reason.as_str(),
            Refusal::BadRequest => "BadRequest",
            Refusal::InternalError => "InternalError",
        }
    }
}

impl ReviewAnswer {
    /// An answer admitting request `uid`.
    pub fn allow(uid: &str) -> ReviewAnswer {
        ReviewAnswer {
            api_version: ADMISSION_API_VERSION,
            kind: "AdmissionReview",
            response: AnswerBody {
                uid: uid.to_owned(),
                allowed: true,
                status: AnswerStatus::default(),
                patch: None,
                patch_type: None,
                audit_annotations: BTreeMap::new(),
                warnings: None,
            },
        }
    }

    /// An answer refusing request `uid` (`""` when it could not be read) for `refusal`.
    pub fn refuse(uid: &str, refusal: Refusal, message: impl Into<String>) -> ReviewAnswer {
        let mut answer = ReviewAnswer::allow(uid);
        answer.response.allowed = false;
        answer.response.status = AnswerStatus {
            status: Some("Failure"),
            code: Some(refusal.code()),
            message: message.into(),
            reason: Some(refusal.reason()),
        };
        answer
    }

    /// The same answer carrying `decision`'s patch (base64 of its RFC 6902 JSON).
    pub(super) fn with_patch(mut self, decision: &Decision) -> Result<ReviewAnswer, serde_json::Error> {
        let bytes = serde_json::to_vec(&decision.json_patch())?;
        self.response.patch = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        self.response.patch_type = Some("JSONPatch");
        Ok(self)
    }

    /// The JSON bytes of the answer. Should serialising fail, the bytes of a refusal that says
    /// so (fail closed: never an empty or admitting answer).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|e| {
            let refusal = ReviewAnswer::refuse(
                &self.response.uid,
                Refusal::InternalError,
                format!("celgate could not write its answer ({e}); the request is refused"),
            );
            serde_json::to_vec(&refusal).unwrap_or_default()
        })
    }
}
