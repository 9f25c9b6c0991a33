//! Admission policies decided as the API server decides them (issue 16): what its compiler
//! refuses when a policy is created is refused at load, naming file, line, policy, field and
//! column; a policy no binding binds is reported (it does nothing in a cluster); and
//! `celgate check --bind-all` applies it as if bound, saying which binding it implied.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use rstest::rstest;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vap")
}

/// Runs `celgate check` in the fixtures folder: (exit code, stdout, stderr).
fn check(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("celgate")
        .expect("binary")
        .current_dir(fixtures())
        .args(["check", "--color", "never"])
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[rstest]
#[case::typo_function(
    "typo-function.yaml",
    &["typo-function.yaml:11:", "ValidatingAdmissionPolicy 'demo-policy.example.com'", "spec.validations[0].expression", "column 31", "undeclared reference to 'startWith'", "did you mean 'startsWith'"]
)]
#[case::heterogeneous_list(
    "mixed-list.yaml",
    &["mixed-list.yaml:10:", "'mixed-list'", "spec.validations[0].expression", "column 29", "expected type 'int' but found 'string'"]
)]
#[case::format_verbs(
    "format-verbs.yaml",
    &["format-verbs.yaml:10:", "spec.validations[0].messageExpression", "index 1 out of range"]
)]
#[case::regex_outside_re2(
    "re2-regex.yaml",
    &["re2-regex.yaml:10:", "spec.validations[0].expression", "invalid nested repetition operator: `++`"]
)]
#[case::escape_key_outside_mutations(
    "escape-key-in-validation.yaml",
    &["escape-key-in-validation.yaml:10:", "'jsonpatch.escapeKey'", "MutatingAdmissionPolicy mutations"]
)]
fn compile_errors_of_the_api_server_are_load_errors(#[case] file: &str, #[case] expected: &[&str]) {
    let path = format!("bad/{file}");
    let (code, _, stderr) = check(&["--packs", &path, "inputs/demo.yaml"]);
    assert_eq!(code, 2, "{stderr}");
    for part in expected {
        assert!(stderr.contains(part), "{part:?} not in: {stderr}");
    }
}

#[test]
fn an_unbound_policy_is_reported_and_does_nothing() {
    let (code, stdout, stderr) = check(&["--packs", "unbound", "inputs/demo.yaml", "inputs/pod.yaml"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("policy demo-policy.example.com has no ValidatingAdmissionPolicyBinding: it does nothing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("policy sidecar-policy.example.com has no MutatingAdmissionPolicyBinding: it does nothing"),
        "{stderr}"
    );
    assert!(!stdout.contains("DENY"), "{stdout}");
}

#[test]
fn bind_all_applies_unbound_policies_and_names_the_implied_binding() {
    let out = Command::cargo_bin("celgate")
        .expect("binary")
        .current_dir(fixtures())
        .args(["check", "--bind-all", "--format", "json", "--packs", "unbound"])
        .args(["inputs/demo.yaml", "inputs/pod.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("checked as if bound to every namespace"), "{stderr}");
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON records");
    let decision = |name: &str| {
        records
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {records:?}"))
    };
    let denied = decision("too-many");
    assert_eq!(denied["decision"], "deny");
    let title = denied["violations"][0]["title"].as_str().unwrap_or_default();
    assert!(title.contains("with binding 'implied by --bind-all'"), "{title}");
    assert_eq!(
        denied["violations"][0]["message"],
        "failed expression: object.spec.replicas <= 5"
    );
    assert_eq!(decision("few")["decision"], "allow");
    assert_eq!(decision("app")["decision"], "patch");
}

#[test]
fn a_field_the_kind_does_not_have_is_a_warning_not_a_refusal() {
    let (code, stdout, stderr) = check(&["--bind-all", "--packs", "typechecking", "inputs/demo.yaml"]);
    assert!(
        stderr.contains("spec.validations[0].expression: apps/v1, Kind=Deployment: undefined field 'replicas' (column 7 of `object.replicas > 1`)"),
        "{stderr}"
    );
    // Only the misspelt selection: map keys, has() and real fields are not reported.
    assert_eq!(stderr.matches("undefined field").count(), 1, "{stderr}");
    // As in the cluster: the expression fails when it runs, and `failurePolicy: Fail` denies.
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("no such key: replicas"), "{stdout}");
}

#[test]
fn apply_configuration_merges_as_server_side_apply() {
    let out = Command::cargo_bin("celgate")
        .expect("binary")
        .current_dir(fixtures())
        .args([
            "check",
            "--bind-all",
            "--format",
            "json",
            "--packs",
            "apply-configuration",
            "inputs/pod.yaml",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON records");
    let pod = records.iter().find(|r| r["kind"] == "Pod").expect("the pod");
    assert_eq!(pod["decision"], "patch");
    // The existing init container is kept; the sidecar is added by name.
    let patch = &pod["patch"];
    assert_eq!(patch[0]["path"], "/spec/initContainers", "{patch}");
    let names: Vec<&str> = patch[0]["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["setup", "mesh-proxy"], "{patch}");
}

#[test]
fn the_engine_lists_unbound_policies_for_every_door() {
    // `GET /v1/packs` (its `warnings`) and the server's start log print these sentences.
    let found = celgate::packs::from_paths(&[fixtures().join("unbound")]).expect("readable");
    let engine = celgate::engine::Engine::load(&found.packs).expect("loads");
    let lines: Vec<String> = engine.unbound_policies().iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("policy demo-policy.example.com has no ValidatingAdmissionPolicyBinding: it does nothing")
    );
    let bound = celgate::packs::from_paths(&[fixtures().join("demo")]).expect("readable");
    let bound = celgate::engine::Engine::load(&bound.packs).expect("loads");
    assert!(bound.unbound_policies().is_empty());
    let implied = engine.with_bind_all().unbound_policies();
    assert!(implied[0].to_string().contains("implied by --bind-all"), "{implied:?}");
}
