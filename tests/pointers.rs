//! Findings point at the offending element itself (issue #13): the hostPath of the exact
//! volume, the hostPort of its port entry, `privileged` of the container, the env entry by
//! index, with the line and column of that node in the file as written.

use assert_cmd::Command;
use serde_json::Value;

fn findings(fixture: &str) -> Vec<Value> {
    let output = Command::cargo_bin("celgate")
        .expect("binary built")
        .args(["check", "--format", "json", fixture])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs");
    let records: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    records
        .as_array()
        .and_then(|r| r.first())
        .and_then(|r| r.get("violations"))
        .and_then(Value::as_array)
        .cloned()
        .expect("one record with violations")
}

#[test]
fn each_finding_names_the_element_and_its_line() {
    let found = findings("tests/fixtures/pointers/host-access.yaml");
    let at = |rule: &str| -> Vec<(String, u64, u64)> {
        found
            .iter()
            .filter(|v| v["rule"] == rule)
            .map(|v| {
                (
                    v["pointer"].as_str().unwrap_or("").to_owned(),
                    v["line"].as_u64().unwrap_or(0),
                    v["column"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    // Each Pod Security control points at its own element.
    assert_eq!(
        at("soc2-pss-host-path"),
        [("/spec/template/spec/volumes/1/hostPath".to_owned(), 11, 24)]
    );
    assert_eq!(
        at("soc2-pss-host-ports"),
        [("/spec/template/spec/containers/0/ports/1/hostPort".to_owned(), 15, 62)]
    );
    assert_eq!(
        at("soc2-pss-privileged"),
        [(
            "/spec/template/spec/containers/0/securityContext/privileged".to_owned(),
            19,
            29
        )]
    );
    assert_eq!(
        at("soc2-no-inline-credentials"),
        [("/spec/template/spec/containers/0/env/1/value".to_owned(), 18, 35)]
    );
    let message = |rule: &str| -> String {
        found
            .iter()
            .find(|v| v["rule"] == rule)
            .and_then(|v| v["message"].as_str())
            .unwrap_or("")
            .to_owned()
    };
    for (rule, part) in [
        (
            "soc2-pss-host-path",
            "volume root mounts host path / at /spec/template/spec/volumes/1/hostPath",
        ),
        ("soc2-pss-privileged", "container a sets privileged: true"),
        ("soc2-pss-host-ports", "container a binds host port 9100"),
    ] {
        let text = message(rule);
        assert!(text.contains(part), "{rule}: {text}");
    }
    for v in &found {
        assert!(!v["rationale"].as_str().unwrap_or("").is_empty(), "no rationale: {v}");
    }
}
