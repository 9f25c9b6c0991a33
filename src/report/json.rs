//! The JSON record of design §6, one per document (`check --format json`, `/v1/check`).

use serde::Serialize;

use super::{CheckReport, DocumentResult};
use crate::engine::{Action, AppliedMode, ExceptionUse, FindingType, Severity, Verdict};

/// One document's record, fields in the order of design §6.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record<'a> {
    /// File path or `-`.
    pub source: &'a str,
    /// 0-based document index in the file.
    pub document: usize,
    /// Index inside a `kind: List`, when the document was one of its items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// Document `apiVersion`.
    pub api_version: &'a str,
    /// Document `kind`.
    pub kind: &'a str,
    /// `metadata.name`.
    pub name: &'a str,
    /// `metadata.namespace`.
    pub namespace: &'a str,
    /// allow, deny or patch.
    pub decision: Verdict,
    /// Tenant the document was judged for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<&'a str>,
    /// Environment the document was judged for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<&'a str>,
    /// Findings, most severe first.
    pub violations: Vec<ViolationRecord<'a>>,
    /// Warning texts.
    pub warnings: &'a [String],
    /// RFC 6902 operations (empty unless patched).
    pub patch: json_patch::Patch,
    /// Audit annotations from Kubernetes admission policies (`<policy>/<key>` -> value).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub audit_annotations: &'a std::collections::BTreeMap<String, String>,
}

/// One finding in a [`Record`].
#[derive(Debug, Serialize)]
pub struct ViolationRecord<'a> {
    /// Pack name.
    pub pack: &'a str,
    /// Rule id.
    pub rule: &'a str,
    /// Rule title.
    pub title: &'a str,
    /// Control clauses.
    pub controls: &'a [String],
    /// Rule severity.
    pub severity: Severity,
    /// What the finding did.
    pub action: Action,
    /// `violation` or `evaluation-error`.
    #[serde(rename = "type")]
    pub finding: FindingType,
    /// Message with the actual values.
    pub message: &'a str,
    /// JSON pointer of the offending field.
    pub pointer: &'a str,
    /// 1-based line, when the input was a file.
    pub line: Option<usize>,
    /// 1-based column, when the input was a file.
    pub column: Option<usize>,
    /// Why the rule matters (`""` when the rule gives no rationale).
    pub rationale: &'a str,
    /// How to fix it.
    pub remediation: &'a str,
    /// True when the rule's patch fixed it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub patched: bool,
    /// The mode that applied and which configuration layer set it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'a AppliedMode>,
    /// The exception used (or matched but expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<&'a ExceptionUse>,
    /// HTTP code a denial answers with, when a Kubernetes validation's `reason` set one.
    #[serde(rename = "statusCode", skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
}

/// The record for one document.
pub fn document_record(result: &DocumentResult) -> Record<'_> {
    let violations = result
        .decision
        .violations
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let loc = result.locations.get(i).copied().flatten();
            ViolationRecord {
                pack: &v.pack,
                rule: &v.rule,
                title: &v.title,
                controls: &v.controls,
                severity: v.severity,
                action: v.action,
                finding: v.finding,
                message: &v.message,
                pointer: &v.pointer,
                line: loc.map(|l| l.line),
                column: loc.map(|l| l.column),
                rationale: &v.rationale,
                remediation: &v.remediation,
                patched: v.patched,
                mode: v.mode.as_ref(),
                exception: v.exception.as_ref(),
                status_code: v.reason.map(crate::engine::StatusReason::code),
            }
        })
        .collect();
    Record {
        source: &result.source,
        document: result.document,
        item: result.item,
        api_version: &result.api_version,
        kind: &result.kind,
        name: &result.name,
        namespace: &result.namespace,
        decision: result.decision.decision,
        tenant: result.decision.tenant.as_deref(),
        environment: result.decision.environment.as_deref(),
        violations,
        warnings: &result.decision.warnings,
        patch: result.decision.json_patch(),
        audit_annotations: &result.decision.audit_annotations,
    }
}

/// The whole run: a JSON array with one record per checked document, in input order. Input
/// problems are reported on stderr (and by the exit code), not in this array.
pub fn render(report: &CheckReport) -> String {
    let records: Vec<Record<'_>> = report.results.iter().map(document_record).collect();
    let mut out = serde_json::to_string_pretty(&records).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}
