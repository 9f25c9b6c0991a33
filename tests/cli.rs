//! The `celgate` binary driven as a process: exit codes, formats (snapshotted with `insta`),
//! `--fix`, bad input, `eval` and `test`.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

const PACK: &str = "tests/fixtures/packs/basic";

fn celgate() -> Command {
    let mut cmd = Command::cargo_bin("celgate").expect("binary built");
    cmd.env_remove("NO_COLOR").env_remove("CELGATE_LOG");
    cmd
}

fn check(args: &[&str]) -> (i32, String, String) {
    let out = celgate()
        .arg("check")
        .args(["--packs", PACK, "--color", "never"])
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn text_report_is_verdict_first_with_file_line_col() {
    let (code, stdout, _) = check(&["tests/fixtures/manifests/deployment.yaml"]);
    assert_eq!(code, 1);
    assert!(stdout.starts_with("DENY"), "{stdout}");
    assert!(
        stdout.contains("tests/fixtures/manifests/deployment.yaml:18:13"),
        "{stdout}"
    );
    insta::assert_snapshot!("text_deny", stdout);
}

#[test]
fn json_report_has_design_record_shape() {
    let (code, stdout, _) = check(&["--format", "json", "tests/fixtures/manifests/"]);
    assert_eq!(code, 1);
    let records: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let first = &records[0];
    for key in [
        "source",
        "document",
        "apiVersion",
        "kind",
        "name",
        "namespace",
        "decision",
        "violations",
        "warnings",
        "patch",
    ] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    insta::assert_snapshot!("json_all", stdout);
}

#[test]
fn sarif_report_snapshot() {
    let (_, stdout, _) = check(&["--format", "sarif", "tests/fixtures/manifests/deployment.yaml"]);
    let sarif: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(sarif["version"], "2.1.0");
    insta::assert_snapshot!("sarif_deny", stdout);
}

#[test]
fn junit_report_snapshot() {
    let (_, stdout, _) = check(&["--format", "junit", "tests/fixtures/manifests/multi.yaml"]);
    assert!(stdout.starts_with("<?xml"), "{stdout}");
    insta::assert_snapshot!("junit_multi", stdout);
}

#[test]
fn allowed_and_patched_exit_zero() {
    let (code, stdout, _) = check(&["tests/fixtures/manifests/multi.yaml"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("PATCH"), "{stdout}");
}

#[test]
fn fix_writes_patched_documents_to_stdout() {
    let (code, stdout, stderr) = check(&["--fix", "tests/fixtures/manifests/multi.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("PATCH"), "report goes to stderr: {stderr}");
    let docs = celgate::source::parse_documents(&stdout).expect("fix output is YAML");
    assert_eq!(docs.len(), 2);
    assert_eq!(
        docs[1].value["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"],
        serde_json::json!(false)
    );
}

#[test]
fn fix_out_dir_mirrors_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf8");
    let (code, _, stderr) = check(&["--fix", "--out", out, "tests/fixtures/manifests/multi.yaml"]);
    assert_eq!(code, 0, "{stderr}");
    let written = dir.path().join("tests/fixtures/manifests/multi.yaml");
    let text = std::fs::read_to_string(&written).expect("fixed file written");
    assert!(text.contains("allowPrivilegeEscalation: false"), "{text}");
}

#[test]
fn stdin_and_lists_are_checked() {
    let input = std::fs::read_to_string("tests/fixtures/manifests/list.json").expect("fixture");
    let out = celgate()
        .args(["check", "--packs", PACK, "--format", "json", "-"])
        .write_stdin(input)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(records.as_array().map(Vec::len), Some(2));
    assert_eq!(records[0]["source"], "-");
    assert_eq!(records[0]["violations"][0]["rule"], "basic-replicas");
    assert_eq!(records[0]["violations"][0]["line"], 10);
}

#[test]
fn framework_filter_and_unknown_framework() {
    let (code, _, stderr) = check(&["--framework", "nope", "tests/fixtures/manifests/deployment.yaml"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unknown framework 'nope' (loaded packs: basic)"),
        "{stderr}"
    );
}

#[test]
fn bad_inputs_are_named_and_the_rest_still_checked() {
    let (code, stdout, stderr) = check(&["tests/fixtures/bad", "tests/fixtures/manifests/deployment.yaml"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Deployment/shop/web"),
        "good input still reported: {stdout}"
    );
    for expected in [
        "tests/fixtures/bad/malformed.yaml:5:",
        "tests/fixtures/bad/no-kind.yaml:1:1 (document 1): document has no 'kind'",
        "tests/fixtures/bad/empty.yaml: no documents",
        "tests/fixtures/bad/binary.yaml: binary file",
        "tests/fixtures/bad/latin1.yaml: not UTF-8 text",
    ] {
        assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    }
}

#[test]
fn huge_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.yaml");
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(100 * 1024 * 1024).expect("sparse 100 MB file");
    let (code, _, stderr) = check(&[path.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("larger than the 16777216-byte limit; not read"),
        "{stderr}"
    );
}

#[test]
fn deeply_nested_json_does_not_overflow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("deep.json");
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    std::fs::write(&path, text).expect("write");
    let (code, _, stderr) = check(&[path.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("nesting is deeper than the limit"), "{stderr}");
}

#[test]
fn missing_pack_folder_is_exit_2() {
    celgate()
        .args([
            "check",
            "--packs",
            "no/such/packs",
            "tests/fixtures/manifests/deployment.yaml",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/packs: no such file or directory"));
}

#[test]
fn broken_pack_is_exit_2_with_file_and_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pack = std::fs::read_to_string(Path::new(PACK).join("pack.yaml")).expect("pack");
    let broken = pack.replace("object.spec.replicas <= params.maxReplicas", "object.spec.replicas <=");
    std::fs::write(dir.path().join("pack.yaml"), broken).expect("write");
    celgate()
        .args([
            "check",
            "--packs",
            dir.path().to_str().expect("utf8"),
            "tests/fixtures/manifests/deployment.yaml",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "rule 'basic-replicas': validate: line 1, column",
        ));
}

#[test]
fn missing_input_path_is_reported() {
    let (code, _, stderr) = check(&["no/such/file.yaml"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no/such/file.yaml: no such file or directory"),
        "{stderr}"
    );
}

#[test]
fn no_paths_is_a_usage_error() {
    celgate().arg("check").assert().code(2);
}

#[test]
fn eval_prints_json() {
    celgate()
        .args([
            "eval",
            "object.spec.template.spec.containers.map(c, c.name)",
            "--object",
        ])
        .arg("tests/fixtures/manifests/deployment.yaml")
        .assert()
        .success()
        .stdout(predicate::str::contains("\"app\"").and(predicate::str::contains("\"sidecar\"")));
    celgate()
        .args(["eval", "params.max * 2", "--var", r#"params={"max": 21}"#])
        .assert()
        .success()
        .stdout("42\n");
}

#[test]
fn eval_errors_have_codes() {
    celgate()
        .args(["eval", "1 +"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("line 1, column"));
    celgate()
        .args(["eval", "object.missing"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("evaluation failed"));
}

/// `celgate eval` runs on the compiled evaluator, which counts the steps it takes: what it
/// never reaches costs nothing, and a runaway stops at the per-expression limit. `--interpreter`
/// runs the reference, which can only refuse by estimate. Both word errors alike.
#[test]
fn eval_runs_compiled_and_the_interpreter_on_request() {
    let nested = "lists.range(10000).all(i, lists.range(10000).all(j, lists.range(10000).all(k, true)))";
    let unreached = format!("false && {nested}");
    celgate()
        .args(["eval", unreached.as_str()])
        .assert()
        .success()
        .stdout("false\n");
    celgate()
        .args(["eval", nested])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "ran past the per-expression limit of 10000000 steps",
        ));
    celgate()
        .args(["eval", "--interpreter", unreached.as_str()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("its estimated cost"));
    let failure = |flags: &[&str]| {
        let out = celgate()
            .arg("eval")
            .args(flags)
            .args([
                "object.spec.missing",
                "--object",
                "tests/fixtures/manifests/deployment.yaml",
            ])
            .output()
            .expect("runs");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = failure(&[]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("evaluation failed") && stderr.contains("missing"),
        "{stderr}"
    );
    assert_eq!(failure(&["--interpreter"]), (code, stderr));
    for flags in [&[][..], &["--interpreter"][..]] {
        celgate()
            .arg("eval")
            .args(flags)
            .arg(r#"["caf\u00e9", "cafe"].map(s, s.matches('^\\w+$'))"#)
            .assert()
            .success()
            .stdout("[\n  false,\n  true\n]\n");
    }
}

#[test]
fn test_command_runs_pack_cases() {
    celgate()
        .args(["test", "tests/fixtures/packs/basic"])
        .assert()
        .success()
        .stdout(predicate::str::contains("passed, 0 failed"));
}

#[test]
fn test_command_fails_on_mismatch() {
    celgate()
        .args(["test", "tests/fixtures/packs/failing"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL").and(predicate::str::contains("expected decision allow, got deny")));
}

#[test]
fn shipped_packs_work_from_any_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = std::fs::read_to_string("tests/fixtures/manifests/deployment.yaml").expect("fixture");
    std::fs::write(dir.path().join("d.yaml"), manifest).expect("write");
    celgate()
        .current_dir(dir.path())
        .args(["check", "d.yaml"])
        .assert()
        .code(predicate::in_iter([0, 1]));
}

#[test]
fn deploy_manifests_pass_the_shipped_packs() {
    // celgate obeys its own rules: everything in deploy/ (recursively) is allowed.
    let out = celgate()
        .args(["check", "--color", "never", "deploy/"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 denied"), "{stdout}");
}
