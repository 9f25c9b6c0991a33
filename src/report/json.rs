//! The JSON record of design §6, one per document (`check --format json`, `/v1/check`).

use serde_json::{json, Value};

use super::{CheckReport, DocumentResult};

/// The record for one document.
pub fn document_record(result: &DocumentResult) -> Value {
    let violations: Vec<Value> = result
        .decision
        .violations
        .iter()
        .zip(result.locations.iter().chain(std::iter::repeat(&None)))
        .map(|(v, loc)| {
            let mut record = json!({
                "pack": v.pack,
                "rule": v.rule,
                "title": v.title,
                "controls": v.controls,
                "severity": v.severity,
                "action": v.action,
                "type": v.finding,
                "message": v.message,
                "pointer": v.pointer,
                "line": loc.map(|l| l.line),
                "column": loc.map(|l| l.column),
                "remediation": v.remediation,
            });
            if v.patched {
                record["patched"] = Value::Bool(true);
            }
            record
        })
        .collect();
    let mut record = json!({
        "source": result.source,
        "document": result.document,
        "apiVersion": result.api_version,
        "kind": result.kind,
        "name": result.name,
        "namespace": result.namespace,
        "decision": result.decision.decision,
        "violations": violations,
        "warnings": result.decision.warnings,
        "patch": result.decision.json_patch(),
    });
    if let Some(item) = result.item {
        record["item"] = Value::from(item);
    }
    record
}

/// The whole run: a JSON array with one record per checked document, in input order. Input
/// problems are reported on stderr (and by the exit code), not in this array.
pub fn render(report: &CheckReport) -> String {
    let value = serde_json::Value::Array(report.results.iter().map(document_record).collect());
    let mut out = serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}
