//! `celgate check --format policyreport|openreports` on real inputs: every report it writes is
//! valid against the vendored upstream CRDs (tests/fixtures/crds), read with strict field
//! validation as `kubectl apply` does; and its results agree with `check --format json` on the
//! same objects, finding by finding.
//!
//! Cases: the real manifests of tests/fixtures/real/upstream with the shipped packs; the
//! examples with their tenancy; tenants with exceptions that apply and have expired; a small
//! pack with every status; Kubernetes admission policies.

mod policy_reports_support;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use policy_reports_support::{check, documents, problems, report_kinds, NOW};

/// A `check` case: its name and arguments (besides `--format` and `--now`).
struct Case {
    name: &'static str,
    args: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "real manifests",
        args: &["tests/fixtures/real/upstream"],
    },
    Case {
        name: "examples with their tenancy",
        args: &[
            "--config",
            "examples/celgate.yaml",
            "examples/compliant",
            "examples/noncompliant",
        ],
    },
    Case {
        name: "tenant exceptions that apply",
        args: &[
            "--config",
            "examples/celgate.yaml",
            "--now",
            "2026-11-25T12:00:00Z",
            "tests/fixtures/policy-reports/tenants.yaml",
        ],
    },
    Case {
        name: "a tenant exception that expired",
        args: &[
            "--config",
            "examples/celgate.yaml",
            "--now",
            "2027-02-05T00:00:00Z",
            "tests/fixtures/policy-reports/tenants.yaml",
        ],
    },
    Case {
        name: "every status",
        args: &[
            "--packs",
            "tests/fixtures/policy-reports/pack",
            "--config",
            "tests/fixtures/policy-reports/celgate.yaml",
            "tests/fixtures/policy-reports/small.yaml",
        ],
    },
    Case {
        name: "admission policies",
        args: &[
            "--packs",
            "tests/fixtures/vap/demo",
            "--packs",
            "tests/fixtures/vap/failure",
            "tests/fixtures/vap/inputs/demo.yaml",
        ],
    },
];

const FORMATS: [&str; 2] = ["policyreport", "openreports"];

/// Runs one case in `format`, with `--now` unless the case sets it.
fn run(case: &Case, format: &str) -> policy_reports_support::Run {
    let mut args = vec!["--format", format];
    if !case.args.contains(&"--now") {
        args.extend(["--now", NOW]);
    }
    args.extend(case.args);
    check(&args)
}

#[test]
fn every_report_is_valid_against_the_upstream_crds() {
    let kinds = report_kinds();
    for case in CASES {
        for format in FORMATS {
            let out = run(case, format);
            assert!(
                out.code == 0 || out.code == 1,
                "{}: {format}: {}",
                case.name,
                out.stderr
            );
            let reports = documents(&out.stdout);
            assert!(!reports.is_empty(), "{}: {format}: no report", case.name);
            for report in &reports {
                let found = problems(&kinds, report);
                assert!(
                    found.is_empty(),
                    "{}: {format}: {} is invalid:\n{}",
                    case.name,
                    report["metadata"]["name"],
                    found.join("\n")
                );
                let group = report["apiVersion"].as_str().unwrap_or("");
                let expected = if format == "policyreport" {
                    "wgpolicyk8s.io/v1alpha2"
                } else {
                    "openreports.io/v1alpha1"
                };
                assert_eq!(group, expected);
                assert_eq!(report["metadata"]["labels"]["app.kubernetes.io/managed-by"], "celgate");
            }
        }
    }
}

#[test]
fn the_validator_rejects_what_the_api_server_rejects() {
    let kinds = report_kinds();
    let out = run(&CASES[4], "policyreport");
    let valid = documents(&out.stdout).remove(0);
    assert!(problems(&kinds, &valid).is_empty());
    // (what, the field's JSON pointer, its new value; `None` removes it)
    let broken = [
        ("an unknown status", "/results/0/result", Some(json!("broken"))),
        ("an unknown severity", "/results/0/severity", Some(json!("urgent"))),
        ("a result without policy", "/results/0/policy", None),
        ("a timestamp without nanos", "/results/0/timestamp/nanos", None),
        ("a field PolicyReport does not have", "/source", Some(json!("celgate"))),
        (
            "a property that is not a string",
            "/results/0/properties/findings",
            Some(json!(2)),
        ),
    ];
    for (what, pointer, value) in broken {
        let mut report = valid.clone();
        let (parent, field) = pointer.rsplit_once('/').expect("a pointer");
        let map = report
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .expect("the field's parent");
        match value {
            Some(v) => map.insert(field.to_owned(), v),
            None => map.remove(field),
        };
        assert!(!problems(&kinds, &report).is_empty(), "{what} passed validation");
    }
    let mut cluster_kind = valid.clone();
    cluster_kind["kind"] = json!("ClusterPolicyReport");
    assert!(
        !problems(&kinds, &cluster_kind).is_empty(),
        "a namespaced cluster report passed"
    );
}

/// Object identity in both outputs: apiVersion, kind, namespace, name.
type Object = (String, String, String, String);
/// A non-passing result: object, rule, status, pack, severity.
type Finding = (Object, String, String, String, String);

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_owned()
}

/// The status a rule with these JSON findings must have in a report (the mapping of
/// docs/reports.md, written out again here).
fn expected_status(violations: &[&Value]) -> &'static str {
    let rank = |s: &str| ["pass", "skip", "warn", "error", "fail"].iter().position(|x| *x == s);
    violations
        .iter()
        .map(|v| {
            let excepted = v.get("exception").is_some_and(|x| x["expired"] != json!(true));
            if excepted {
                "skip"
            } else if v["type"] == "evaluation-error" {
                "error"
            } else if v["action"] == "deny" {
                "fail"
            } else {
                "warn"
            }
        })
        .max_by_key(|s| rank(s))
        .unwrap_or("pass")
}

/// The findings of one rule on one object, for every record of that object (the real
/// manifests hold a few objects twice, in different files).
type Details = BTreeMap<(Object, String), Vec<Vec<Value>>>;

/// The non-passing results `check --format json` implies, with the details each must carry,
/// and how many records each object has.
fn json_findings(records: &[Value]) -> (BTreeMap<Finding, usize>, Details, BTreeMap<Object, usize>) {
    let mut findings = BTreeMap::new();
    let mut details: Details = BTreeMap::new();
    let mut objects = BTreeMap::new();
    for record in records {
        let object = (
            text(&record["apiVersion"]),
            text(&record["kind"]),
            text(&record["namespace"]),
            text(&record["name"]),
        );
        *objects.entry(object.clone()).or_insert(0) += 1;
        let mut by_rule: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for v in record["violations"].as_array().into_iter().flatten() {
            by_rule.entry(text(&v["rule"])).or_default().push(v);
        }
        for (rule, violations) in by_rule {
            let first = violations[0];
            let key = (
                object.clone(),
                rule.clone(),
                expected_status(&violations).to_owned(),
                text(&first["pack"]),
                text(&first["severity"]),
            );
            *findings.entry(key).or_insert(0) += 1;
            details
                .entry((object.clone(), rule))
                .or_default()
                .push(violations.into_iter().cloned().collect());
        }
    }
    (findings, details, objects)
}

#[test]
fn results_agree_with_the_json_format() {
    for case in CASES {
        let json_run = run(case, "json");
        let records: Vec<Value> = serde_json::from_str(&json_run.stdout).expect("JSON records");
        let (expected, details, objects) = json_findings(&records);
        for format in FORMATS {
            let out = run(case, format);
            assert_eq!(out.code, json_run.code, "{}: {format}: exit code", case.name);
            let mut found: BTreeMap<Finding, usize> = BTreeMap::new();
            let mut passes = 0;
            for report in documents(&out.stdout) {
                let namespace = text(&report["metadata"]["namespace"]);
                let results = report["results"].as_array().cloned().unwrap_or_default();
                let mut summary = BTreeMap::new();
                for result in &results {
                    *summary.entry(text(&result["result"])).or_insert(0) += 1;
                    let resource = &result["resources"][0];
                    assert_eq!(
                        text(&resource["namespace"]),
                        namespace,
                        "{}: object in its namespace's report",
                        case.name
                    );
                    assert_eq!(result["source"], "celgate");
                    let object = (
                        text(&resource["apiVersion"]),
                        text(&resource["kind"]),
                        text(&resource["namespace"]),
                        text(&resource["name"]),
                    );
                    let rule = text(&result["rule"]);
                    if result["result"] == "pass" {
                        passes += 1;
                        assert!(
                            objects.get(&object) != Some(&1) || !details.contains_key(&(object, rule.clone())),
                            "{}: {rule} passes on an object it has findings for",
                            case.name
                        );
                        continue;
                    }
                    let candidates = details
                        .get(&(object.clone(), rule.clone()))
                        .unwrap_or_else(|| panic!("{}: {format}: {rule} has no JSON finding", case.name));
                    let disagreements: Vec<String> =
                        candidates.iter().filter_map(|v| disagreement(result, v)).collect();
                    assert!(
                        disagreements.len() < candidates.len(),
                        "{}: {format}: {}",
                        case.name,
                        disagreements.join("\n")
                    );
                    let key = (
                        object,
                        rule,
                        text(&result["result"]),
                        text(&result["policy"]),
                        text(&result["severity"]),
                    );
                    *found.entry(key).or_insert(0) += 1;
                }
                for status in ["pass", "fail", "warn", "error", "skip"] {
                    let counted = summary.get(status).copied().unwrap_or(0);
                    assert_eq!(
                        report["summary"][status],
                        json!(counted),
                        "{}: summary.{status}",
                        case.name
                    );
                }
            }
            assert_eq!(found, expected, "{}: {format}: non-passing results", case.name);
            assert!(passes > 0, "{}: {format}: no rule passed anywhere", case.name);
        }
    }
}

/// What a result's message and properties say differently from the JSON findings of its rule
/// (`None`: they agree).
fn disagreement(result: &Value, violations: &[Value]) -> Option<String> {
    let first = &violations[0];
    let props = &result["properties"];
    let controls: Vec<String> = first["controls"].as_array().into_iter().flatten().map(text).collect();
    let exception = violations.iter().find_map(|v| v.get("exception"));
    let checks = [
        ("message", text(&result["message"]).contains(&text(&first["message"]))),
        ("pointer", props["pointer"] == first["pointer"]),
        ("action", props["action"] == first["action"]),
        (
            "controls",
            if controls.is_empty() {
                props.get("controls").is_none()
            } else {
                text(&props["controls"]) == controls.join("; ")
            },
        ),
        (
            "exception",
            exception.map_or(Value::Null, |x| x["id"].clone())
                == props.get("exception").cloned().unwrap_or(Value::Null),
        ),
        (
            "exceptionExpired",
            props.get("exceptionExpired").is_some() == exception.is_some_and(|x| x["expired"] == json!(true)),
        ),
        ("scored", result["scored"] == json!(result["result"] != "warn")),
    ];
    let wrong: Vec<&str> = checks.iter().filter(|(_, ok)| !ok).map(|(what, _)| *what).collect();
    (!wrong.is_empty()).then(|| format!("{} differ: {result} vs {first}", wrong.join(", ")))
}
