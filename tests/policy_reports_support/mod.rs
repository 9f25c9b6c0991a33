//! Shared by the policy-report tests: running `celgate check`, reading its YAML stream, and the
//! vendored report CRDs (tests/fixtures/crds) as JSON Schema validators.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use assert_cmd::Command;
use serde_json::{Map, Value};

/// The `--now` every run uses, so exception expiry and timestamps are fixed.
pub const NOW: &str = "2026-12-07T10:00:00Z";

/// One `celgate check` run: exit code, stdout, stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `celgate check ARGS` from the repository root.
pub fn check(args: &[&str]) -> Run {
    check_with_stdin(args, "")
}

/// Runs `celgate check ARGS` from the repository root with `stdin` as standard input.
pub fn check_with_stdin(args: &[&str], stdin: &str) -> Run {
    let out = Command::cargo_bin("celgate")
        .expect("binary built")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .env_remove("CELGATE_LOG")
        .arg("check")
        .args(args)
        .write_stdin(stdin)
        .output()
        .expect("celgate runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The documents of a YAML stream.
pub fn documents(yaml: &str) -> Vec<Value> {
    celgate::source::parse_documents(yaml)
        .unwrap_or_else(|e| panic!("the report stream is YAML: {e}\n{yaml}"))
        .into_iter()
        .map(|d| d.value)
        .collect()
}

/// One served version of a report CRD.
pub struct ReportKind {
    /// True for a namespaced kind.
    pub namespaced: bool,
    /// The version's `openAPIV3Schema`, made strict (see [`strict`]).
    pub validator: jsonschema::Validator,
}

/// Every kind of the vendored CRDs, by (apiVersion, kind), for every version they serve.
pub fn report_kinds() -> BTreeMap<(String, String), ReportKind> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crds");
    let files = [
        "wgpolicyk8s.io/wgpolicyk8s.io_policyreports.yaml",
        "wgpolicyk8s.io/wgpolicyk8s.io_clusterpolicyreports.yaml",
        "openreports.io/openreports.io_reports.yaml",
        "openreports.io/openreports.io_clusterreports.yaml",
    ];
    let mut kinds = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(dir.join(file)).expect("vendored CRD");
        let crd = documents(&text).into_iter().next().expect("one CRD");
        let spec = &crd["spec"];
        let group = spec["group"].as_str().expect("group");
        let kind = spec["names"]["kind"].as_str().expect("kind");
        for version in spec["versions"].as_array().expect("versions") {
            let name = version["name"].as_str().expect("version name");
            let schema = strict(&version["schema"]["openAPIV3Schema"]);
            let validator = jsonschema::draft4::new(&schema).unwrap_or_else(|e| panic!("{file} {name}: {e}"));
            kinds.insert(
                (format!("{group}/{name}"), kind.to_owned()),
                ReportKind {
                    namespaced: spec["scope"] == "Namespaced",
                    validator,
                },
            );
        }
    }
    kinds
}

/// `schema` as the API server applies it with strict field validation (`kubectl apply`'s
/// default): `x-kubernetes-*` markers dropped (they do not constrain values here), and every
/// object with `properties` but no `additionalProperties` closed, since the server rejects
/// unknown fields instead of storing them.
pub fn strict(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| !k.starts_with("x-kubernetes-"))
                .map(|(k, v)| {
                    // `properties` maps field names to schemas: recurse into the schemas only.
                    let v = match (k.as_str(), v) {
                        ("properties", Value::Object(fields)) => {
                            Value::Object(fields.iter().map(|(f, s)| (f.clone(), strict(s))).collect())
                        }
                        _ => strict(v),
                    };
                    (k.clone(), v)
                })
                .collect();
            if out.contains_key("properties") && !out.contains_key("additionalProperties") {
                out.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(strict).collect()),
        other => other.clone(),
    }
}

/// The schema errors of `report` (empty when valid), plus what the CRD's scope and the API's
/// object metadata require.
pub fn problems(kinds: &BTreeMap<(String, String), ReportKind>, report: &Value) -> Vec<String> {
    let key = (
        report["apiVersion"].as_str().unwrap_or("").to_owned(),
        report["kind"].as_str().unwrap_or("").to_owned(),
    );
    let Some(kind) = kinds.get(&key) else {
        return vec![format!("no vendored CRD serves {key:?}")];
    };
    let mut problems: Vec<String> = kind
        .validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    let metadata = &report["metadata"];
    let name = metadata["name"].as_str().unwrap_or("");
    if name.is_empty() || name.len() > 253 || !is_dns_subdomain(name) {
        problems.push(format!("metadata.name {name:?} is not a DNS subdomain"));
    }
    if metadata.get("namespace").is_some() != kind.namespaced {
        problems.push(format!("metadata.namespace does not fit a {key:?} report"));
    }
    for result in report["results"].as_array().into_iter().flatten() {
        let nanos = result["timestamp"]["nanos"].as_i64().unwrap_or(-1);
        if !(0..=999_999_999).contains(&nanos) {
            problems.push(format!("timestamp.nanos {nanos} out of range"));
        }
    }
    problems
}

fn is_dns_subdomain(name: &str) -> bool {
    name.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}
