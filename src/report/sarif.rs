//! SARIF 2.1.0 (`check --format sarif`), for GitHub code scanning and other SARIF viewers.
//!
//! One run; `tool.driver.rules` holds one reporting descriptor per rule that has a finding, with
//! the GitHub properties `security-severity`, `precision`, `problem.severity` and `tags`; every
//! finding becomes one result pointing at `file:line:column` (relative paths against
//! `%SRCROOT%`) and at the document (`Kind/namespace/name`) and JSON pointer as a logical
//! location. Input problems become tool execution notifications, and make
//! `executionSuccessful` false.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{CheckReport, DocumentResult, InputProblem, Location};
use crate::engine::{Action, FindingType, Severity, Violation};

/// `$schema` of the log.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// The SARIF version written.
pub const SARIF_VERSION: &str = "2.1.0";
/// The URI base id relative artifact paths are resolved against.
pub const SRCROOT: &str = "%SRCROOT%";
/// `tool.driver.informationUri`: where people learn about celgate (`repository` in `Cargo.toml`).
pub const INFORMATION_URI: &str = env!("CARGO_PKG_REPOSITORY");
/// Key of the fingerprint in `partialFingerprints`; bump the suffix if its recipe changes.
const FINGERPRINT_KEY: &str = "celgate/v1";

/// Renders the whole run as a pretty-printed SARIF 2.1.0 log, with a trailing newline.
pub fn render(report: &CheckReport) -> String {
    let value = sarif_log(report);
    let mut out = serde_json::to_string_pretty(&value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

/// The SARIF log as a JSON value.
pub fn sarif_log(report: &CheckReport) -> Value {
    // One descriptor per rule id that has a finding, sorted by id so the rule table (and every
    // `ruleIndex`) does not depend on the order of the inputs.
    let mut representatives: BTreeMap<&str, &Violation> = BTreeMap::new();
    for violation in report.results.iter().flat_map(|r| &r.decision.violations) {
        let slot = representatives.entry(&*violation.rule).or_insert(violation);
        // Prefer a real violation over an evaluation error: its action is the rule's own.
        if slot.finding == FindingType::EvaluationError && violation.finding == FindingType::Violation {
            *slot = violation;
        }
    }
    let rule_index: BTreeMap<&str, usize> = representatives.keys().enumerate().map(|(i, id)| (*id, i)).collect();
    let rules: Vec<Value> = representatives.values().map(|v| rule_descriptor(v)).collect();

    let mut results = Vec::new();
    for document in &report.results {
        let locations = document.locations.iter().copied().chain(std::iter::repeat(None));
        for (violation, location) in document.decision.violations.iter().zip(locations) {
            let index = rule_index.get(&*violation.rule).copied().unwrap_or_default();
            results.push(result(document, violation, location, index));
        }
    }

    let mut invocation = json!({ "executionSuccessful": report.problems.is_empty() });
    if !report.problems.is_empty() {
        invocation["toolExecutionNotifications"] = Value::Array(report.problems.iter().map(notification).collect());
    }
    if !report.unconfigured.is_empty() {
        invocation["toolConfigurationNotifications"] =
            Value::Array(report.unconfigured.iter().map(unconfigured_notification).collect());
    }

    let packs: Vec<Value> = report
        .packs
        .iter()
        .map(|p| {
            let mut pack = json!({ "name": p.name, "version": p.version });
            if let Some(framework) = &p.framework {
                pack["framework"] = Value::from(framework.as_str());
            }
            pack
        })
        .collect();

    let sarif = json!({
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {
                "driver": {
                    "name": "celgate",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                }
            },
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": { "packs": packs },
        }]
    });
    sarif
}

/// The `reportingDescriptor` of a rule, described by one of its findings.
fn rule_descriptor(v: &Violation) -> Value {
    let title = if v.title.trim().is_empty() { &*v.rule } else { &*v.title };
    let mut full = sentence(title);
    if !v.rationale.trim().is_empty() {
        full.push(' ');
        full.push_str(&sentence(&v.rationale));
    }
    if !v.controls.is_empty() {
        let _ = write!(full, " Controls: {}.", v.controls.join(", "));
    }
    if !v.pack.is_empty() {
        let _ = write!(full, " Pack: {}.", v.pack);
    }
    // GitHub reads `security-severity` only for rules tagged `security`.
    let mut tags: Vec<&str> = Vec::new();
    for tag in v
        .controls
        .iter()
        .map(String::as_str)
        .chain([&*v.pack, "security", "compliance"])
    {
        if !tag.is_empty() && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let mut descriptor = json!({
        "id": v.rule,
        "name": friendly_name(&v.rule),
        "shortDescription": { "text": title },
        "fullDescription": { "text": full },
        "defaultConfiguration": { "level": rule_level(v.action) },
        "properties": {
            "tags": tags,
            "precision": "very-high",
            "security-severity": security_severity(v.severity),
            "problem.severity": problem_severity(v.severity),
            "severity": v.severity.as_str(),
            "pack": v.pack,
        },
    });
    let help = why_and_fix(v);
    if !help.is_empty() {
        descriptor["help"] = json!({ "text": help });
    }
    descriptor
}

/// `Why: <rationale>. Fix: <remediation>`, leaving out what the rule does not give.
fn why_and_fix(v: &Violation) -> String {
    let mut parts = Vec::new();
    if !v.rationale.trim().is_empty() {
        parts.push(format!("Why: {}", sentence(&v.rationale)));
    }
    if !v.remediation.trim().is_empty() {
        parts.push(format!("Fix: {}", v.remediation.trim_end()));
    }
    parts.join(" ")
}

/// The rule's `name`: its id as one `PascalCase` identifier (`soc2-image-digest` becomes
/// `Soc2ImageDigest`), which SARIF wants readable and different from the opaque id.
fn friendly_name(id: &str) -> String {
    let mut name = String::with_capacity(id.len());
    for word in id.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
        name.insert_str(0, "Rule");
    }
    if name == id {
        name.push_str("Rule");
    }
    name
}

/// One finding as a SARIF `result`.
fn result(document: &DocumentResult, v: &Violation, location: Option<Location>, rule_index: usize) -> Value {
    let mut text = if v.finding == FindingType::EvaluationError {
        format!("Evaluation error: {}", v.message)
    } else {
        v.message.clone()
    };
    let help = why_and_fix(v);
    if !help.is_empty() {
        text = sentence(&text);
        text.push(' ');
        text.push_str(&help);
    }
    // Without a known location: where the document starts.
    let region = match location {
        Some(loc) => json!({ "startLine": loc.line.max(1), "startColumn": loc.column.max(1) }),
        None => json!({ "startLine": document.line.max(1), "startColumn": 1 }),
    };
    let display = document.display_name();
    let mut properties = json!({
        "pack": v.pack,
        "severity": v.severity.as_str(),
        "action": v.action.as_str(),
        "type": finding_type(v.finding),
        "controls": v.controls,
        "document": document.document,
    });
    if let Some(item) = document.item {
        properties["item"] = Value::from(item);
    }
    if v.patched {
        properties["patched"] = Value::Bool(true);
    }
    if let Some(mode) = &v.mode {
        properties["mode"] = json!({ "mode": mode.mode.as_str(), "source": mode.source.to_string() });
    }
    if let Some(x) = &v.exception {
        properties["exception"] = serde_json::to_value(x).unwrap_or(Value::Null);
    }
    if let Some(tenant) = &document.decision.tenant {
        properties["tenant"] = Value::from(tenant.as_str());
    }
    if let Some(environment) = &document.decision.environment {
        properties["environment"] = Value::from(environment.as_str());
    }
    json!({
        "ruleId": v.rule,
        "ruleIndex": rule_index,
        "level": result_level(v),
        "message": { "text": text },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": artifact_location(&document.source),
                "region": region,
            },
            "logicalLocations": [{
                "name": display,
                "fullyQualifiedName": display,
                "kind": "resource",
                "properties": { "pointer": v.pointer },
            }],
        }],
        "partialFingerprints": {
            FINGERPRINT_KEY: format!("{}:{}:{}:{}", v.rule, artifact_uri(&document.source), display, v.pointer),
        },
        "properties": properties,
    })
}

/// A param that still holds its pack's example as a `toolConfigurationNotification` (a warning:
/// the rules that read it warn instead of denying until it is configured).
fn unconfigured_notification(param: &crate::engine::UnconfiguredParam) -> Value {
    let text = format!(
        "params.{} of pack {} still holds the example value the pack ships ({}), so {} warn{} instead of \
         denying; configure it in a tenant's params in celgate.yaml or in the pack's spec.params.",
        param.param,
        param.pack,
        param.example,
        param.rules.join(", "),
        if param.rules.len() == 1 { "s" } else { "" },
    );
    json!({
        "level": "warning",
        "descriptor": { "id": "unconfigured-param" },
        "message": { "text": text },
        "properties": { "pack": param.pack, "param": param.param, "example": param.example, "rules": param.rules },
    })
}

/// An input problem as a `toolExecutionNotification`.
fn notification(problem: &InputProblem) -> Value {
    let mut physical = json!({ "artifactLocation": artifact_location(&problem.source) });
    if let Some(loc) = problem.location {
        physical["region"] = json!({ "startLine": loc.line.max(1), "startColumn": loc.column.max(1) });
    }
    let mut notification = json!({
        "level": "error",
        "message": { "text": notification_text(problem) },
        "locations": [{ "physicalLocation": physical }],
    });
    if let Some(document) = problem.document {
        notification["properties"] = json!({ "document": document });
    }
    notification
}

/// The problem as its `Display` shows it, with stdin called `stdin` rather than `-`.
fn notification_text(problem: &InputProblem) -> String {
    if problem.source == "-" {
        InputProblem {
            source: "stdin".to_owned(),
            ..problem.clone()
        }
        .to_string()
    } else {
        problem.to_string()
    }
}

/// `level` of a result: what the finding did to the document.
fn result_level(v: &Violation) -> &'static str {
    match (v.finding, v.action) {
        (_, Action::Warn) => "warning",
        (_, Action::Audit) => "note",
        (FindingType::Violation, Action::Patch) if v.patched => "note",
        _ => "error",
    }
}

/// `defaultConfiguration.level` of a rule, from its action.
fn rule_level(action: Action) -> &'static str {
    match action {
        Action::Deny => "error",
        Action::Warn => "warning",
        Action::Audit | Action::Patch => "note",
    }
}

/// GitHub's `security-severity` (a CVSS-like score, as a string): above 9.0 shows as critical,
/// 7.0–8.9 high, 4.0–6.9 medium, below 4.0 low.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// GitHub's `problem.severity` (`error`, `warning` or `recommendation`).
fn problem_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "recommendation",
    }
}

fn finding_type(finding: FindingType) -> &'static str {
    match finding {
        FindingType::Violation => "violation",
        FindingType::EvaluationError => "evaluation-error",
    }
}

/// `text` ending with a full stop (or another sentence end), so another sentence can follow.
fn sentence(text: &str) -> String {
    let trimmed = text.trim_end();
    let mut out = trimmed.to_owned();
    if !trimmed.is_empty() && !trimmed.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The `artifactLocation` of a source: relative paths stay relative (against `%SRCROOT%`),
/// absolute paths become `file:` URIs, and stdin (`-`) is `stdin`.
fn artifact_location(source: &str) -> Value {
    let uri = artifact_uri(source);
    if source != "-" && !is_absolute(&source.replace('\\', "/")) {
        json!({ "uri": uri, "uriBaseId": SRCROOT })
    } else {
        json!({ "uri": uri })
    }
}

/// The URI (reference) of a source path: forward slashes, no leading `./`, and every character
/// that is not allowed in a URI path percent-encoded.
fn artifact_uri(source: &str) -> String {
    if source == "-" {
        return "stdin".to_owned();
    }
    let path = source.replace('\\', "/");
    if is_absolute(&path) {
        if let Some(rest) = path.strip_prefix("//") {
            // UNC path: //server/share/file
            return format!("file://{}", encode_path(rest));
        }
        let bytes = path.as_bytes();
        if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            // Windows drive: C:/dir/file
            return format!("file:///{}:{}", &path[..1], encode_path(&path[2..]));
        }
        return format!("file://{}", encode_path(&path));
    }
    let mut relative = path.as_str();
    while let Some(rest) = relative.strip_prefix("./") {
        relative = rest.trim_start_matches('/');
    }
    if relative.is_empty() {
        relative = ".";
    }
    encode_path(relative)
}

/// True for `/abs`, `//server/share` and `C:/abs` (after `\` became `/`).
fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with('/')
        || (bytes.len() >= 2
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && (bytes.len() == 2 || bytes[2] == b'/'))
}

/// Percent-encodes everything but unreserved characters, `/` and the harmless sub-delimiters.
/// `:` is encoded too, so a relative path like `a:b.yaml` is not read as a URI scheme.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'/'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'@'
            );
        if keep {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::fixture;

    fn parse(report: &CheckReport) -> Value {
        let text = render(report);
        assert!(text.ends_with("}\n"));
        serde_json::from_str(&text).expect("SARIF output is JSON")
    }

    #[test]
    fn log_has_version_tool_and_rules() {
        let log = parse(&fixture::report());
        assert_eq!(log["version"], "2.1.0");
        assert_eq!(log["$schema"], SARIF_SCHEMA);
        let driver = &log["runs"][0]["tool"]["driver"];
        assert_eq!(driver["name"], "celgate");
        assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
        let rules = driver["rules"].as_array().expect("rules");
        let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
        // Distinct ids with findings, sorted; rules that only passed are not listed.
        assert_eq!(
            ids,
            [
                "soc2-image-digest",
                "soc2-labels",
                "soc2-pod-no-host-escape",
                "soc2-run-as-non-root"
            ]
        );
        let host = &rules[2];
        assert_eq!(host["name"], "Soc2PodNoHostEscape");
        assert_eq!(host["shortDescription"]["text"], "title of soc2-pod-no-host-escape");
        assert_eq!(
            host["fullDescription"]["text"],
            "title of soc2-pod-no-host-escape. why soc2-pod-no-host-escape. Controls: TSC CC6.1, TSC CC6.8. \
             Pack: soc2."
        );
        assert_eq!(
            host["help"]["text"],
            "Why: why soc2-pod-no-host-escape. Fix: fix soc2-pod-no-host-escape"
        );
        // A rule without a rationale: the fix alone.
        assert_eq!(rules[1]["help"]["text"], "Fix: fix soc2-labels");
        assert_eq!(host["defaultConfiguration"]["level"], "error");
        let properties = &host["properties"];
        assert_eq!(properties["security-severity"], "8.0");
        assert_eq!(properties["problem.severity"], "error");
        assert_eq!(properties["precision"], "very-high");
        assert_eq!(
            properties["tags"],
            json!(["TSC CC6.1", "TSC CC6.8", "soc2", "security", "compliance"])
        );
        assert_eq!(rules[1]["defaultConfiguration"]["level"], "warning");
        assert_eq!(rules[3]["defaultConfiguration"]["level"], "note");
        assert_eq!(rules[3]["properties"]["security-severity"], "9.5");
    }

    #[test]
    fn results_point_at_their_rule_and_region() {
        let log = parse(&fixture::report());
        let run = &log["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        let results = run["results"].as_array().expect("results");
        // Allowed documents without findings produce no result.
        assert_eq!(results.len(), 4);
        for result in results {
            let index = result["ruleIndex"]
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .expect("ruleIndex");
            assert_eq!(rules[index]["id"], result["ruleId"]);
        }
        let host = &results[0];
        assert_eq!(host["ruleId"], "soc2-pod-no-host-escape");
        assert_eq!(host["ruleIndex"], 2);
        assert_eq!(host["level"], "error");
        assert_eq!(
            host["message"]["text"],
            "message of soc2-pod-no-host-escape <&>. Why: why soc2-pod-no-host-escape. \
             Fix: fix soc2-pod-no-host-escape"
        );
        let location = &host["locations"][0];
        assert_eq!(
            location["physicalLocation"],
            json!({
                "artifactLocation": {"uri": "deploy/app.yaml", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 20, "startColumn": 7},
            })
        );
        let logical = &location["logicalLocations"][0];
        assert_eq!(logical["fullyQualifiedName"], "Deployment/shop/web");
        assert_eq!(logical["properties"]["pointer"], "/spec/template/spec/hostNetwork");
        assert_eq!(
            host["partialFingerprints"][FINGERPRINT_KEY],
            "soc2-pod-no-host-escape:deploy/app.yaml:Deployment/shop/web:/spec/template/spec/hostNetwork"
        );

        // The evaluation error has no known location: the document's first line.
        let error = &results[1];
        assert_eq!(
            (error["ruleId"].as_str(), error["ruleIndex"].as_u64()),
            (Some("soc2-image-digest"), Some(0))
        );
        assert_eq!(error["level"], "error");
        assert_eq!(error["properties"]["type"], "evaluation-error");
        assert_eq!(
            error["locations"][0]["physicalLocation"]["region"],
            json!({"startLine": 12, "startColumn": 1})
        );
        assert_eq!(results[2]["level"], "warning");

        // The patched finding, from stdin.
        let patched = &results[3];
        assert_eq!(patched["level"], "note");
        let physical = &patched["locations"][0]["physicalLocation"];
        assert_eq!(
            physical,
            &json!({"artifactLocation": {"uri": "stdin"}, "region": {"startLine": 1, "startColumn": 1}})
        );
    }

    #[test]
    fn input_problems_are_notifications() {
        let log = parse(&fixture::report());
        let invocation = &log["runs"][0]["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        let notes = invocation["toolExecutionNotifications"]
            .as_array()
            .expect("notifications");
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["level"], "error");
        assert_eq!(
            notes[0]["message"]["text"],
            "bad.yaml:3:1 (document 2): bad <&> \"value\"\u{1}"
        );
        assert_eq!(
            notes[0]["locations"][0]["physicalLocation"],
            json!({
                "artifactLocation": {"uri": "bad.yaml", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 3, "startColumn": 1},
            })
        );

        let clean = parse(&CheckReport::default());
        let run = &clean["runs"][0];
        assert_eq!(run["invocations"], json!([{"executionSuccessful": true}]));
        assert_eq!(run["results"], json!([]));
        assert_eq!(run["tool"]["driver"]["rules"], json!([]));
    }

    #[test]
    fn friendly_names_are_pascal_case_and_differ_from_ids() {
        assert_eq!(friendly_name("soc2-image-digest"), "Soc2ImageDigest");
        assert_eq!(friendly_name("demo-policy.example.com[0]"), "DemoPolicyExampleCom0");
        assert_eq!(friendly_name("HIPAA_PHI"), "HipaaPhi");
        assert_eq!(friendly_name("2fa-required"), "Rule2faRequired");
        assert_eq!(friendly_name("---"), "Rule");
        assert_eq!(friendly_name("Abc"), "AbcRule");
    }

    #[test]
    fn information_uri_is_an_absolute_https_uri() {
        let log = parse(&CheckReport::default());
        let uri = log["runs"][0]["tool"]["driver"]["informationUri"]
            .as_str()
            .expect("informationUri");
        assert_eq!(uri, INFORMATION_URI);
        let rest = uri.strip_prefix("https://").expect("https");
        assert!(rest.split('/').next().is_some_and(|host| host.contains('.')), "{uri}");
    }

    #[test]
    fn uris() {
        assert_eq!(artifact_uri("deploy/app.yaml"), "deploy/app.yaml");
        assert_eq!(artifact_uri("./deploy/app.yaml"), "deploy/app.yaml");
        assert_eq!(artifact_uri("deploy\\app.yaml"), "deploy/app.yaml");
        assert_eq!(artifact_uri("bad dir/a:b #1%.yaml"), "bad%20dir/a%3Ab%20%231%25.yaml");
        assert_eq!(artifact_uri("/srv/k8s/ü.yaml"), "file:///srv/k8s/%C3%BC.yaml");
        assert_eq!(artifact_uri("C:\\k8s\\app.yaml"), "file:///C:/k8s/app.yaml");
        assert_eq!(
            artifact_uri("\\\\server\\share\\app.yaml"),
            "file://server/share/app.yaml"
        );
        assert_eq!(artifact_uri("-"), "stdin");
        assert_eq!(
            artifact_location("/srv/app.yaml"),
            json!({"uri": "file:///srv/app.yaml"})
        );
        assert_eq!(artifact_location("-"), json!({"uri": "stdin"}));
    }
}
