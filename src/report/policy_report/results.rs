//! One document's results: one per evaluated rule, its findings folded into one status.

use std::collections::BTreeMap;

use super::catalog::{RuleCatalog, RuleInfo};
use super::types::{ObjectReference, ReportResult, ReportSeverity, ResultStatus, Timestamp, SOURCE};
use crate::engine::{Action, FindingType, Violation};
use crate::report::DocumentResult;

/// The status one finding gives its rule:
///
/// - covered by an exception that has not expired: `skip`;
/// - an evaluation error: `error`;
/// - `deny`: `fail` (the object is refused at admission);
/// - `warn`, `audit`, and `patch` (fixed at admission, or left unfixed because another rule
///   refused the object): `warn`.
pub fn finding_status(v: &Violation) -> ResultStatus {
    if v.exception.as_ref().is_some_and(|x| !x.expired) {
        return ResultStatus::Skip;
    }
    if v.finding == FindingType::EvaluationError {
        return ResultStatus::Error;
    }
    match v.action {
        Action::Deny => ResultStatus::Fail,
        Action::Warn | Action::Audit | Action::Patch => ResultStatus::Warn,
    }
}

/// The status of a rule with these findings: the worst of theirs (fail, then error, warn,
/// skip), `pass` without findings.
pub fn rule_status<'v>(findings: impl IntoIterator<Item = &'v Violation>) -> ResultStatus {
    findings
        .into_iter()
        .map(finding_status)
        .max()
        .unwrap_or(ResultStatus::Pass)
}

/// The object `result` judged, as a report references it.
pub fn object_reference(result: &DocumentResult) -> ObjectReference {
    ObjectReference {
        api_version: result.api_version.clone(),
        kind: result.kind.clone(),
        name: result.name.clone(),
        namespace: result.namespace.clone(),
        uid: result.uid.clone(),
    }
}

/// One result per rule `result.decision` evaluated (each id once, in evaluation order), then one
/// per rule that has a finding without being listed as evaluated (a finding about a whole
/// admission policy).
pub fn document_results(result: &DocumentResult, catalog: &RuleCatalog, timestamp: Timestamp) -> Vec<ReportResult> {
    let mut order: Vec<&str> = Vec::new();
    let mut findings: BTreeMap<&str, Vec<&Violation>> = BTreeMap::new();
    for id in &result.decision.evaluated_rules {
        if !order.contains(&&**id) {
            order.push(id);
        }
    }
    for v in &result.decision.violations {
        if !order.contains(&&*v.rule) {
            order.push(&v.rule);
        }
        findings.entry(&*v.rule).or_default().push(v);
    }
    let resource = object_reference(result);
    order
        .into_iter()
        .map(|rule| {
            let found = findings.get(rule).map_or(&[][..], Vec::as_slice);
            rule_result(rule, found, catalog, &resource, timestamp)
        })
        .collect()
}

/// The result of rule `rule` with `findings` (most severe first, as the decision orders them).
fn rule_result(
    rule: &str,
    findings: &[&Violation],
    catalog: &RuleCatalog,
    resource: &ObjectReference,
    timestamp: Timestamp,
) -> ReportResult {
    let info = catalog
        .rule(rule)
        .cloned()
        .or_else(|| findings.first().map(|v| RuleInfo::of_violation(v)))
        .unwrap_or_else(|| RuleInfo {
            pack: String::new(),
            framework: None,
            title: rule.to_owned(),
            severity: crate::engine::Severity::Medium,
            controls: Vec::new(),
        });
    let status = rule_status(findings.iter().copied());
    let category = info
        .framework
        .clone()
        .or_else(|| catalog.framework(&info.pack).map(str::to_owned));
    ReportResult {
        source: SOURCE,
        policy: info.pack.clone(),
        rule: rule.to_owned(),
        category,
        severity: Some(ReportSeverity::from(info.severity)),
        timestamp,
        result: status,
        scored: status != ResultStatus::Warn,
        message: message(&info, findings),
        resources: vec![resource.clone()],
        properties: properties(&info, findings),
    }
}

/// The findings' distinct messages joined by `; `, or the rule's title when it passed.
fn message(info: &RuleInfo, findings: &[&Violation]) -> String {
    if findings.is_empty() {
        return info.title.clone();
    }
    let mut messages: Vec<&str> = Vec::new();
    for v in findings {
        if !messages.contains(&v.message.as_str()) {
            messages.push(&v.message);
        }
    }
    messages.join("; ")
}

/// The string details of a result:
///
/// - `controls`: the rule's control clauses joined by `; ` (when it has any);
/// - `title`: the rule's title, when the result has findings (a pass's message is the title);
/// - with findings: `action` (what the first finding did: deny, warn, audit, patch), `type`
///   (`violation` or `evaluation-error`), `pointer` (the first finding's JSON pointer; with
///   several findings, `pointers`: all of them as a JSON array), `findings` (their number,
///   when more than one), `remediation`;
/// - `patched: "true"` when the rule's patch fixed the finding at admission;
/// - `mode`: the tenant or environment mode that set the action, and where it came from;
/// - an exception: `exception` (its id), `exceptionOwner`, `exceptionExpires`, `exceptionTicket`,
///   and `exceptionExpired: "true"` when it matched but no longer applies.
fn properties(info: &RuleInfo, findings: &[&Violation]) -> BTreeMap<String, String> {
    let mut props = BTreeMap::new();
    let mut put = |key: &str, value: String| {
        props.insert(key.to_owned(), value);
    };
    if !info.controls.is_empty() {
        put("controls", info.controls.join("; "));
    }
    let Some(first) = findings.first() else {
        return props;
    };
    put("title", info.title.clone());
    put("action", first.action.as_str().to_owned());
    put(
        "type",
        match first.finding {
            FindingType::Violation => "violation",
            FindingType::EvaluationError => "evaluation-error",
        }
        .to_owned(),
    );
    put("pointer", first.pointer.clone());
    if findings.len() > 1 {
        put("findings", findings.len().to_string());
        let pointers: Vec<&str> = findings.iter().map(|v| v.pointer.as_str()).collect();
        put("pointers", serde_json::Value::from(pointers).to_string());
    }
    if !first.remediation.is_empty() {
        put("remediation", first.remediation.to_string());
    }
    if findings.iter().any(|v| v.patched) {
        put("patched", "true".to_owned());
    }
    if let Some(mode) = &first.mode {
        put("mode", format!("{} ({})", mode.mode.as_str(), mode.source));
    }
    if let Some(x) = findings.iter().find_map(|v| v.exception.as_ref()) {
        put("exception", x.id.clone());
        put("exceptionOwner", x.owner.clone());
        put("exceptionExpires", x.expires.clone());
        if let Some(ticket) = &x.ticket {
            put("exceptionTicket", ticket.clone());
        }
        if x.expired {
            put("exceptionExpired", "true".to_owned());
        }
    }
    props
}
