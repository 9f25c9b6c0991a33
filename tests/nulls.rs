//! Empty YAML fields (`data:`, `from:`, `loadBalancerSourceRanges:`, `tls[].hosts:`,
//! `subjects:`) on built-in kinds are judged as the API server would send them, absent, through
//! `celgate check` (the binary) and `/v1/check` (over TLS): the shipped packs give no evaluation
//! error, and the positions still point into the file as written.

mod support;

use assert_cmd::Command;
use serde_json::Value;

use celgate::server::PackSourceSpec;
use support::{Options, TestServer};

const FIXTURE: &str = "tests/fixtures/nulls/empty-fields.yaml";
const KINDS: [&str; 5] = ["ConfigMap", "NetworkPolicy", "Service", "Ingress", "RoleBinding"];

/// Every evaluation error in a list of JSON records, as `kind rule: message`.
fn evaluation_errors(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .flat_map(|r| {
            let kind = r["kind"].as_str().unwrap_or("").to_owned();
            r["violations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v["type"] == "evaluation-error")
                .map(move |v| format!("{kind} {}: {}", v["rule"], v["message"]))
        })
        .collect()
}

#[test]
fn check_gives_no_evaluation_error_on_empty_fields_of_builtin_kinds() {
    for environment in ["production", "dev"] {
        let out = Command::cargo_bin("celgate")
            .expect("binary built")
            .env_remove("CELGATE_LOG")
            .args(["check", "--format", "json", "--environment", environment, FIXTURE])
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let records: Vec<Value> = serde_json::from_str(&stdout).expect("a JSON array of records");
        let kinds: Vec<&str> = records.iter().map(|r| r["kind"].as_str().unwrap_or("")).collect();
        assert_eq!(kinds, KINDS, "{stdout}");
        let errors = evaluation_errors(&records);
        assert!(
            errors.is_empty(),
            "{environment}: evaluation errors:\n{}",
            errors.join("\n")
        );
        // Every finding still has a line in the file as written.
        for v in records
            .iter()
            .flat_map(|r| r["violations"].as_array().into_iter().flatten())
        {
            assert!(v["line"].as_u64().is_some_and(|l| l > 3), "{v}");
        }
    }
}

#[test]
fn positions_point_into_the_file_as_written() {
    // The Ingress's tls entry (with `hosts:` null) is reported at its line in the file.
    let out = Command::cargo_bin("celgate")
        .expect("binary built")
        .env_remove("CELGATE_LOG")
        .args([
            "check",
            "--format",
            "json",
            "--packs",
            "tests/fixtures/nulls/pack",
            FIXTURE,
        ])
        .output()
        .expect("runs");
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).expect("records");
    let ingress = records.iter().find(|r| r["kind"] == "Ingress").expect("the Ingress");
    let v = &ingress["violations"][0];
    assert_eq!(v["rule"], "nulls-tls-secret", "{ingress}");
    assert_eq!(v["pointer"], "/spec/tls/0/secretName");
    let text = std::fs::read_to_string(FIXTURE).expect("fixture");
    let line = text
        .lines()
        .position(|l| l.trim() == "secretName: x")
        .expect("the secretName line")
        + 1;
    assert_eq!(v["line"].as_u64(), Some(line as u64), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_api_gives_no_evaluation_error_on_empty_fields_of_builtin_kinds() {
    let server = TestServer::start(Options {
        packs: PackSourceSpec::Embedded,
        ..Options::default()
    })
    .await;
    let client = server.client();
    let text = std::fs::read_to_string(support::manifest_dir().join(FIXTURE)).expect("fixture");
    let mut records = Vec::new();
    for document in text.split("\n---\n") {
        let response = client
            .send("POST", "/v1/check", Some("application/yaml"), document.as_bytes())
            .await
            .expect("answered");
        assert_eq!(response.status, 200, "{}", response.text());
        records.push(response.json());
    }
    let kinds: Vec<&str> = records.iter().map(|r| r["kind"].as_str().unwrap_or("")).collect();
    assert_eq!(kinds, KINDS);
    let errors = evaluation_errors(&records);
    assert!(errors.is_empty(), "evaluation errors:\n{}", errors.join("\n"));
}
