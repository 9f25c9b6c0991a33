//! [`AuditRecord`]: what one door knows about one decision. The document itself is never
//! stored (it may hold PHI): only the SHA-256 of its canonical JSON.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::pack::{Action, Severity};
pub use crate::engine::Door;
use crate::engine::{Decision, Input, Verdict};

/// One rule finding, without its message or pointer (both may quote the document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleHit {
    /// Rule id.
    pub rule: String,
    /// Pack the rule belongs to.
    pub pack: String,
    /// Control clauses the rule supports.
    pub controls: Vec<String>,
    /// What the finding did (`deny`, `warn`, `audit`, `patch`).
    pub action: Action,
    /// Rule severity.
    pub severity: Severity,
    /// True when the rule could not be evaluated (an evaluation error, not a failed check).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub error: bool,
}

/// An exception (waiver) that changed the outcome of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionUsed {
    /// The exception's id.
    pub id: String,
    /// Who owns (approved) it.
    #[serde(default)]
    pub owner: String,
    /// When it expires, as written in the tenant configuration.
    #[serde(default)]
    pub expires: String,
}

/// One decision as the audit trail keeps it (design §1: every door builds one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// When the decision was made (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// The door it came through.
    pub door: Door,
    /// The admission request's uid (or the check API's request id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Where a CI document came from (`file#index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Tenant of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Environment of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// `apiVersion` of the object.
    pub api_version: String,
    /// `kind` of the object.
    pub kind: String,
    /// The resource requested (`deployments`, `pods`), as the API server named it or as the
    /// kind implies.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// The subresource requested (`exec`, `scale`, `status`), if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub_resource: String,
    /// Namespace of the request (empty for cluster-scoped objects).
    #[serde(default)]
    pub namespace: String,
    /// `metadata.name` of the object.
    #[serde(default)]
    pub name: String,
    /// Requesting user name.
    #[serde(default)]
    pub user: String,
    /// Requesting user's groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// allow, deny or patch.
    pub decision: Verdict,
    /// A dry-run request (evaluated, not applied).
    #[serde(default)]
    pub dry_run: bool,
    /// The findings: rule ids with their controls.
    #[serde(default)]
    pub rules: Vec<RuleHit>,
    /// Number of JSONPatch operations in the answer.
    #[serde(default)]
    pub patch_ops: usize,
    /// Exceptions that changed the outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exceptions: Vec<ExceptionUsed>,
    /// celgate version that decided.
    pub engine_version: String,
    /// Packs in force, as `name@version`.
    #[serde(default)]
    pub packs: Vec<String>,
    /// SHA-256 (hex) of the canonical JSON of the object (`oldObject` for a DELETE).
    pub document_sha256: String,
    /// SHA-256 (hex) of the canonical JSON of `oldObject`, when the request had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_document_sha256: Option<String>,
}

/// The exceptions that changed a finding of `decision` (expired ones changed nothing).
fn exceptions_used(decision: &Decision) -> Vec<ExceptionUsed> {
    let mut used: Vec<ExceptionUsed> = Vec::new();
    for x in decision.violations.iter().filter_map(|v| v.exception.as_ref()) {
        if !x.expired && !used.iter().any(|u| u.id == x.id) {
            used.push(ExceptionUsed {
                id: x.id.clone(),
                owner: x.owner.clone(),
                expires: x.expires.clone(),
            });
        }
    }
    used
}

impl AuditRecord {
    /// The record of `decision` on `input` made now at `door`. Fill in what only the door knows
    /// with the `with_*` setters.
    pub fn new(door: Door, input: &Input, decision: &Decision) -> Self {
        let user = &input.user;
        let facts = input.request_facts();
        AuditRecord {
            time: format_time(SystemTime::now()),
            door,
            uid: None,
            source: None,
            tenant: decision.tenant.clone().or_else(|| input.tenant.clone()),
            environment: decision.environment.clone().or_else(|| input.environment.clone()),
            operation: input.operation.as_str().to_owned(),
            api_version: input.api_version().to_owned(),
            kind: input.kind().to_owned(),
            resource: facts.resource.resource.clone(),
            sub_resource: facts.sub_resource.clone(),
            namespace: input.effective_namespace().unwrap_or("").to_owned(),
            name: input.name().to_owned(),
            user: user.username.clone(),
            groups: user.groups.clone(),
            decision: decision.decision,
            dry_run: input.dry_run,
            rules: decision
                .violations
                .iter()
                .map(|v| RuleHit {
                    rule: v.rule.to_string(),
                    pack: v.pack.to_string(),
                    controls: v.controls.to_vec(),
                    action: v.action,
                    severity: v.severity,
                    error: v.finding == crate::engine::FindingType::EvaluationError,
                })
                .collect(),
            patch_ops: decision.patch.len(),
            exceptions: exceptions_used(decision),
            engine_version: env!("CARGO_PKG_VERSION").to_owned(),
            packs: Vec::new(),
            document_sha256: document_sha256(input.subject()),
            old_document_sha256: input
                .old_object
                .as_ref()
                .filter(|_| !input.object.is_null())
                .map(document_sha256),
        }
    }

    /// Sets the decision time (tests and doors with their own clock).
    #[must_use]
    pub fn at(mut self, time: SystemTime) -> Self {
        self.time = format_time(time);
        self
    }

    /// Sets the request uid.
    #[must_use]
    pub fn with_uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }

    /// Sets where a CI document came from.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the tenant (when the door resolved it after building the input).
    #[must_use]
    pub fn with_tenant(mut self, tenant: Option<String>) -> Self {
        self.tenant = tenant;
        self
    }

    /// Sets the environment.
    #[must_use]
    pub fn with_environment(mut self, environment: Option<String>) -> Self {
        self.environment = environment;
        self
    }

    /// Sets the exceptions that changed the outcome.
    #[must_use]
    pub fn with_exceptions(mut self, exceptions: Vec<ExceptionUsed>) -> Self {
        self.exceptions = exceptions;
        self
    }

    /// Sets the packs in force (`name@version`; see [`crate::engine::Engine::pack_versions`]).
    #[must_use]
    pub fn with_packs(mut self, packs: Vec<String>) -> Self {
        self.packs = packs;
        self
    }

    /// Sets the dry-run flag (when the door knows better than the input).
    #[must_use]
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

/// RFC 3339 in UTC with milliseconds, as records write time.
pub fn format_time(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// SHA-256 (lowercase hex) of the canonical JSON of `value`: object keys sorted by code point
/// at every level, no whitespace, strings and numbers as `serde_json` writes them. The same
/// document gives the same digest whatever its key order or YAML/JSON spelling.
pub fn document_sha256(value: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    canonical(value, &mut hasher);
    hex(&hasher.finalize())
}

fn canonical(value: &serde_json::Value, out: &mut Sha256) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            // Sorted here, whatever order the map keeps (keys are unique).
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.update(b"{");
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.update(b",");
                }
                write_json(key, out);
                out.update(b":");
                canonical(item, out);
            }
            out.update(b"}");
        }
        Value::Array(items) => {
            out.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.update(b",");
                }
                canonical(item, out);
            }
            out.update(b"]");
        }
        scalar => write_json(scalar, out),
    }
}

/// Hashes `value` as `serde_json` writes it, without building the text.
fn write_json<T: serde::Serialize + ?Sized>(value: &T, out: &mut Sha256) {
    /// What `serde_json` writes goes into the digest.
    struct Digesting<'a>(&'a mut Sha256);
    impl std::io::Write for Digesting<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // Writing a string or a JSON scalar into a digest cannot fail.
    let _ = serde_json::to_writer(Digesting(out), value);
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_key_order_and_sees_values() {
        let a = serde_json::json!({"b": 1, "a": {"y": [1, "x"], "x": null}});
        let b = serde_json::json!({"a": {"x": null, "y": [1, "x"]}, "b": 1});
        let c = serde_json::json!({"a": {"x": null, "y": [1, "x"]}, "b": 2});
        assert_eq!(document_sha256(&a), document_sha256(&b));
        assert_ne!(document_sha256(&a), document_sha256(&c));
        assert_eq!(document_sha256(&a).len(), 64);
        // The canonical text: keys sorted at every level, no whitespace, serde_json's escapes.
        let doc = serde_json::json!({"z": [1, 2.5, null, true], "a": {"é\"q": "x\ny", "b": -3}});
        let text = r#"{"a":{"b":-3,"é\"q":"x\ny"},"z":[1,2.5,null,true]}"#;
        assert_eq!(document_sha256(&doc), hex(&Sha256::digest(text.as_bytes())));
    }

    #[test]
    fn time_is_rfc3339_utc_millis() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        assert_eq!(format_time(t), "2023-11-14T22:13:20.123Z");
    }
}
