//! The only module that knows the `admission.k8s.io/v1` wire format: an [`Input`] from an
//! AdmissionReview request (read with kube-core's admission types), and the answer for a
//! [`Decision`] (the typed [`ReviewAnswer`], in `answer.rs`).

use std::collections::BTreeMap;

mod answer;

pub use answer::{AnswerBody, AnswerStatus, Refusal, ReviewAnswer};

use kube_core::admission::{AdmissionRequest, AdmissionReview, Operation as KubeOperation};
use kube_core::DynamicObject;
use serde_json::Value;

use crate::text::truncate;

use crate::engine::{
    Action, Decision, GroupVersionKind, GroupVersionResource, Input, ModeSource, Operation, RequestFacts, StatusReason,
    UserInfo, Verdict, Violation,
};

/// The only AdmissionReview version served.
pub const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";

/// Most findings listed in a denial message; the rest are counted (kubectl shows the message).
const MAX_DENIAL_FINDINGS: usize = 3;

/// Why a review could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The body is not JSON.
    #[error("request body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// Another `apiVersion`/`kind`.
    #[error("expected apiVersion {ADMISSION_API_VERSION} and kind AdmissionReview, got apiVersion {api_version:?} kind {kind:?}")]
    WrongVersion {
        /// What the body says.
        api_version: String,
        /// What the body says.
        kind: String,
        /// `request.uid` when it was readable.
        uid: Option<String>,
    },
    /// No `request`.
    #[error("AdmissionReview has no request")]
    NoRequest,
    /// The request does not have the AdmissionRequest shape.
    #[error("malformed AdmissionReview request: {message}")]
    Malformed {
        /// What serde said.
        message: String,
        /// `request.uid` when it was readable.
        uid: Option<String>,
    },
}

impl ReviewError {
    /// The request uid, when the body was readable enough to have one.
    pub fn uid(&self) -> Option<&str> {
        match self {
            ReviewError::WrongVersion { uid, .. } | ReviewError::Malformed { uid, .. } => uid.as_deref(),
            ReviewError::NotJson(_) | ReviewError::NoRequest => None,
        }
    }
}

/// A parsed admission request: the typed envelope and the documents exactly as sent.
#[derive(Debug)]
pub struct Review {
    /// kube-core's view of the request (without `object`/`oldObject`, kept raw below).
    pub request: AdmissionRequest<DynamicObject>,
    /// `request.object` as sent.
    pub object: Value,
    /// `request.oldObject` as sent.
    pub old_object: Option<Value>,
}

/// Parses an AdmissionReview body. `object` and `oldObject` are kept as raw JSON (the exact
/// document the apiserver sent); the rest goes through kube-core's types.
pub fn parse(body: &[u8]) -> Result<Review, ReviewError> {
    let mut value: Value = crate::text::json_from_bytes(body).map_err(ReviewError::NotJson)?;
    let uid = value.pointer("/request/uid").and_then(Value::as_str).map(str::to_owned);
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != ADMISSION_API_VERSION || kind != "AdmissionReview" {
        return Err(ReviewError::WrongVersion {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            uid,
        });
    }
    let Some(request) = value.get_mut("request").filter(|r| !r.is_null()) else {
        return Err(ReviewError::NoRequest);
    };
    let object = request.get_mut("object").map_or(Value::Null, Value::take);
    let old_object = request.get_mut("oldObject").map(Value::take).filter(|v| !v.is_null());
    let review: AdmissionReview<DynamicObject> = serde_json::from_value(value).map_err(|e| ReviewError::Malformed {
        message: e.to_string(),
        uid: uid.clone(),
    })?;
    let request: AdmissionRequest<DynamicObject> = review.try_into().map_err(|_| ReviewError::NoRequest)?;
    if request.uid.is_empty() {
        return Err(ReviewError::Malformed {
            message: "request.uid is empty".to_owned(),
            uid: None,
        });
    }
    if object.is_null() && matches!(request.operation, KubeOperation::Create | KubeOperation::Update) {
        return Err(ReviewError::Malformed {
            message: format!(
                "request.object is null, but {} requests carry the object being written",
                operation(&request.operation).as_str()
            ),
            uid: Some(request.uid),
        });
    }
    Ok(Review {
        request,
        object,
        old_object,
    })
}

impl Review {
    /// The engine input: documents (moved out of the review, which keeps only its envelope),
    /// operation, namespace, user and the request's kind, resource, subresource, name and
    /// options (tenant/environment are set by the caller).
    pub fn take_input(&mut self, namespace_labels: Option<BTreeMap<String, String>>) -> Input {
        let user = &self.request.user_info;
        let mut object = std::mem::take(&mut self.object);
        // A review's object may omit apiVersion/kind (subresources); take them from the request.
        if let Value::Object(map) = &mut object {
            let gvk = &self.request.kind;
            let api_version = if gvk.group.is_empty() {
                gvk.version.clone()
            } else {
                format!("{}/{}", gvk.group, gvk.version)
            };
            map.entry("apiVersion").or_insert_with(|| Value::String(api_version));
            map.entry("kind").or_insert_with(|| Value::String(gvk.kind.clone()));
        }
        Input {
            object,
            old_object: self.old_object.take(),
            operation: operation(&self.request.operation),
            namespace: self.request.namespace.clone(),
            namespace_labels,
            user: UserInfo {
                username: user.username.clone().unwrap_or_default(),
                uid: user.uid.clone().unwrap_or_default(),
                groups: user.groups.clone().unwrap_or_default(),
                extra: user.extra.clone().unwrap_or_default(),
            },
            tenant: None,
            environment: None,
            params: serde_json::Map::new(),
            dry_run: self.request.dry_run,
            request: Some(self.facts()),
        }
    }

    /// The request's kind, resource, subresource, name and options as the API server sent
    /// them; the `request*` fields default to the converted ones, as they did before the API
    /// server sent both.
    fn facts(&self) -> RequestFacts {
        let request = &self.request;
        let kind = gvk(&request.kind);
        let resource = gvr(&request.resource);
        let sub_resource = request.sub_resource.clone().unwrap_or_default();
        RequestFacts {
            request_kind: request.request_kind.as_ref().map_or_else(|| kind.clone(), gvk),
            request_resource: request.request_resource.as_ref().map_or_else(|| resource.clone(), gvr),
            request_sub_resource: request
                .request_sub_resource
                .clone()
                .unwrap_or_else(|| sub_resource.clone()),
            kind,
            resource,
            sub_resource,
            name: request.name.clone(),
            options: request.options.as_ref().map(|o| o.0.clone()).filter(|o| !o.is_null()),
        }
    }

    /// The AdmissionReview answer for `decision`. `mutating` selects whether a patch decision
    /// returns the JSONPatch (the mutating webhook) or just admits (the validating webhook sees
    /// the object after mutation). A patch that cannot be written refuses the request: never
    /// admitted unpatched.
    pub fn respond(&self, decision: &Decision, mutating: bool) -> ReviewAnswer {
        let uid = self.request.uid.as_str();
        let mut answer = match decision.decision {
            Verdict::Deny => {
                // A Kubernetes validation's `reason` chooses the code; rule packs answer 403.
                let reason = decision
                    .violations
                    .iter()
                    .filter(|v| v.action == Action::Deny)
                    .find_map(|v| v.reason);
                ReviewAnswer::refuse(
                    uid,
                    Refusal::Denied(reason.unwrap_or(StatusReason::Forbidden)),
                    denial_message(decision),
                )
            }
            Verdict::Patch if mutating && !decision.patch.is_empty() => {
                match ReviewAnswer::allow(uid).with_patch(decision) {
                    Ok(answer) => answer,
                    Err(cause) => {
                        return ReviewAnswer::refuse(
                            uid,
                            Refusal::InternalError,
                            format!(
                                "celgate decided to patch this object but could not build the JSONPatch ({cause}); \
                                 it is refused rather than admitted unpatched"
                            ),
                        )
                    }
                }
            }
            Verdict::Allow | Verdict::Patch => ReviewAnswer::allow(uid),
        };
        let response = &mut answer.response;
        response.warnings = (!decision.warnings.is_empty()).then(|| decision.warnings.clone());
        response.audit_annotations = audit_annotations(decision);
        answer
    }
}

/// The audit annotations of `decision`: each audited finding (with its exception or mode), the
/// tenant and environment, and the admission policies' own annotations.
fn audit_annotations(decision: &Decision) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    for v in decision.violations.iter().filter(|v| v.action == Action::Audit) {
        let mut text = format!("{} ({})", v.message, v.controls.join(", "));
        if let Some(x) = &v.exception {
            text = format!("{text}; {}", crate::report::exception_line(x));
        } else if let Some(mode) = &v.mode {
            text = format!("{text}; mode {} set by {}", mode.mode.as_str(), mode.source);
        }
        annotations.insert(audit_key(&v.rule), truncate(&text, 1024));
    }
    for (key, value) in [("tenant", &decision.tenant), ("environment", &decision.environment)] {
        if let Some(value) = value {
            annotations.insert(key.to_owned(), truncate(value, 1024));
        }
    }
    for (key, value) in &decision.audit_annotations {
        annotations.insert(key.clone(), truncate(value, 1024));
    }
    annotations
}

fn operation(operation: &KubeOperation) -> Operation {
    match operation {
        KubeOperation::Create => Operation::Create,
        KubeOperation::Update => Operation::Update,
        KubeOperation::Delete => Operation::Delete,
        KubeOperation::Connect => Operation::Connect,
    }
}

fn gvk(kind: &kube_core::GroupVersionKind) -> GroupVersionKind {
    GroupVersionKind {
        group: kind.group.clone(),
        version: kind.version.clone(),
        kind: kind.kind.clone(),
    }
}

fn gvr(resource: &kube_core::GroupVersionResource) -> GroupVersionResource {
    GroupVersionResource {
        group: resource.group.clone(),
        version: resource.version.clone(),
        resource: resource.resource.clone(),
    }
}

/// A well-formed AdmissionReview that refuses a request that could not be read (`uid` when it
/// was readable) or judged.
pub fn error_response(uid: Option<&str>, refusal: Refusal, message: &str) -> ReviewAnswer {
    ReviewAnswer::refuse(uid.unwrap_or_default(), refusal, message)
}

/// `celgate.io/<rule>`: an audit annotation key (the apiserver prefixes the webhook name).
fn audit_key(rule: &str) -> String {
    let mut key: String = rule
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    key.truncate(63);
    key
}

/// What `kubectl` shows on a denial: each blocking finding with its control, field and fix.
pub fn denial_message(decision: &Decision) -> String {
    let blocking: Vec<&Violation> = decision
        .violations
        .iter()
        .filter(|v| matches!(v.action, Action::Deny | Action::Patch))
        .collect();
    let scope: Vec<String> = [("tenant", &decision.tenant), ("environment", &decision.environment)]
        .into_iter()
        .filter_map(|(what, name)| name.as_ref().map(|n| format!("{what} {n}")))
        .collect();
    let scope = if scope.is_empty() {
        String::new()
    } else {
        format!(" ({})", scope.join(", "))
    };
    let mut lines = vec![format!(
        "celgate denied the request{scope}: {} finding(s)",
        blocking.len()
    )];
    for v in blocking.iter().take(MAX_DENIAL_FINDINGS) {
        let field = if v.pointer.is_empty() {
            String::new()
        } else {
            format!(" at {}", v.pointer)
        };
        let mode = match &v.mode {
            Some(m) if m.source != ModeSource::RuleDefault => {
                format!(" [mode {} set by {}]", m.mode.as_str(), m.source)
            }
            _ => String::new(),
        };
        lines.push(format!(
            "[{}] {} ({}){}: {} Fix: {}{mode}",
            v.rule,
            v.title,
            v.controls.join(", "),
            field,
            truncate(&v.message, 300),
            truncate(&v.remediation, 200)
        ));
    }
    if blocking.len() > MAX_DENIAL_FINDINGS {
        lines.push(format!("... and {} more", blocking.len() - MAX_DENIAL_FINDINGS));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::PatchOp;
    use base64::Engine as _;
    use serde_json::json;

    fn patch_review() -> Review {
        let text = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/admission/patch.json"
        ))
        .expect("fixture");
        parse(&text).expect("a valid review")
    }

    fn patching(op: serde_json::Value) -> Decision {
        let mut decision = Decision::allow();
        decision.decision = Verdict::Patch;
        decision.patch = vec![PatchOp {
            op: serde_json::from_value(op).expect("an RFC 6902 operation"),
            rule: "x-rule".to_owned(),
        }];
        decision
    }

    #[test]
    fn a_patch_is_sent_as_base64_json_patch() {
        let review = patch_review();
        let answer = review.respond(
            &patching(json!({"op": "add", "path": "/metadata/labels/x", "value": "y"})),
            true,
        );
        let answer: Value = serde_json::from_slice(&answer.to_bytes()).expect("JSON");
        assert_eq!(answer["response"]["allowed"], true);
        assert_eq!(answer["response"]["patchType"], "JSONPatch");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(answer["response"]["patch"].as_str().expect("a base64 patch"))
            .expect("base64");
        let sent: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(sent[0]["path"], "/metadata/labels/x");
    }

    #[test]
    fn the_validating_webhook_admits_a_patch_decision_without_the_patch() {
        let review = patch_review();
        let decision = patching(json!({"op": "add", "path": "/metadata/labels/x", "value": "y"}));
        let answer: Value = serde_json::from_slice(&review.respond(&decision, false).to_bytes()).expect("JSON");
        assert_eq!(answer["response"]["allowed"], true);
        assert!(answer["response"].get("patch").is_none(), "{answer}");
        assert!(answer["response"].get("patchType").is_none(), "{answer}");
    }

    #[test]
    fn a_denial_answers_with_the_code_and_reason_its_finding_chose() {
        let review = patch_review();
        let mut decision = Decision::allow();
        decision.decision = Verdict::Deny;
        for (reason, expected) in [
            (None, (403, "Forbidden")),
            (Some(StatusReason::Invalid), (422, "Invalid")),
        ] {
            decision.violations = vec![Violation {
                reason,
                ..Violation::sample("k8s", "policy")
            }];
            let answer: Value = serde_json::from_slice(&review.respond(&decision, false).to_bytes()).expect("JSON");
            let status = &answer["response"]["status"];
            assert_eq!(answer["response"]["allowed"], false);
            assert_eq!(
                (status["code"].as_u64(), status["reason"].as_str()),
                (Some(expected.0), Some(expected.1))
            );
            assert_eq!(answer["response"]["uid"], review.request.uid.as_str());
        }
    }
}
