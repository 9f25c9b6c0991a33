//! `celgate docs`: the checked-in rule reference is current, `--check` catches a stale copy, and
//! the output covers every shipped rule.

use assert_cmd::Command;
use predicates::prelude::*;

fn celgate() -> Command {
    let mut cmd = Command::cargo_bin("celgate").expect("binary built");
    cmd.env_remove("NO_COLOR").env_remove("CELGATE_LOG");
    cmd
}

fn shipped_rule_ids() -> Vec<String> {
    let found = celgate::packs::embedded();
    let engine = celgate::engine::Engine::load(&found.packs).expect("shipped packs load");
    engine
        .packs()
        .iter()
        .flat_map(|p| p.rules.iter().map(|r| r.spec.id.clone()))
        .collect()
}

#[test]
fn checked_in_reference_is_current() {
    celgate()
        .args(["docs", "--check", "docs/policies.md"])
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
}

#[test]
fn check_fails_on_a_stale_copy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("policies.md");
    let text = std::fs::read_to_string("docs/policies.md").expect("checked-in reference");
    std::fs::write(&copy, text.replacen("| high |", "| low |", 1)).expect("write copy");
    let shown = copy.display().to_string();
    celgate()
        .args(["docs", "--check", &shown])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(format!(
            "{shown} is stale: run `celgate docs --out {shown}`"
        )));

    let missing = dir.path().join("missing.md").display().to_string();
    celgate()
        .args(["docs", "--check", &missing])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("{missing} is stale")));
}

#[test]
fn stale_message_names_the_default_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).expect("docs dir");
    std::fs::write(docs.join("policies.md"), "# old\n").expect("write stale copy");
    celgate()
        .current_dir(dir.path())
        .args(["docs", "--check", "docs/policies.md"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "docs/policies.md is stale: run `celgate docs --out docs/policies.md`",
        ));
}

#[test]
fn output_covers_every_shipped_rule_and_clause() {
    let out = celgate().arg("docs").output().expect("runs");
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let ids = shipped_rule_ids();
    assert!(!ids.is_empty());
    for id in &ids {
        assert!(stdout.contains(&format!("`{id}`")), "{id} missing from the reference");
    }
    assert!(stdout.contains("45 CFR 164.312(a)(2)(iv)"));
    assert!(stdout.contains("## Clause → rules"));
    assert!(!stdout.contains("\n\n\n"));
}

#[test]
fn out_writes_the_same_markdown_and_framework_filters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("ref.md");
    celgate()
        .args(["docs", "--out"])
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::is_empty());
    let written = std::fs::read_to_string(&file).expect("written");
    let stdout = celgate().arg("docs").output().expect("runs").stdout;
    assert_eq!(written, String::from_utf8(stdout).expect("utf-8"));

    let only = celgate().args(["docs", "--framework", "hipaa"]).output().expect("runs");
    let only = String::from_utf8(only.stdout).expect("utf-8");
    assert!(only.contains("## hipaa "));
    assert!(!only.contains("## soc2 ") && !only.contains("soc2-"));

    celgate().args(["docs", "--framework", "nope"]).assert().code(2);
}
