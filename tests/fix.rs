//! `celgate check --fix` driven as a process with the shipped packs (read from `policies/`) and a
//! fixture pack of Kyverno-style mutations (the shipped packs deny rather than patch workloads):
//! every input document is
//! written back, unchanged unless patched; a patch changes only its lines (snapshots of the line
//! diff); the fixed output judges the same as the patched object; `--out`, `--changed-only`,
//! `--in-place`.

use std::collections::BTreeSet;
use std::path::Path;

use assert_cmd::Command;
use similar::{ChangeTag, TextDiff};

fn celgate() -> Command {
    let mut cmd = Command::cargo_bin("celgate").expect("binary built");
    cmd.env_remove("NO_COLOR").env_remove("CELGATE_LOG");
    cmd
}

/// The packs when a test names none: the shipped ones plus the mutating fixture pack.
const DEFAULT_PACKS: &[&str] = &["--packs", "policies", "--packs", "tests/fixtures/packs/fixreal"];

/// `check --color never ARGS` (with [`DEFAULT_PACKS`] unless ARGS name packs), with `stdin`:
/// exit code, stdout, stderr.
fn check(args: &[&str], stdin: &str) -> (i32, String, String) {
    let packs = if args.contains(&"--packs") {
        &[][..]
    } else {
        DEFAULT_PACKS
    };
    let out = celgate()
        .arg("check")
        .args(["--color", "never"])
        .args(packs)
        .args(args)
        .write_stdin(stdin.to_owned())
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines a fix changed, as a unified diff (what a reviewer sees).
fn line_diff(before: &str, after: &str) -> String {
    TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(1)
        .header("input", "fixed")
        .to_string()
}

/// Removed and added lines.
fn changed_lines(before: &str, after: &str) -> (usize, usize) {
    let diff = TextDiff::from_lines(before, after);
    let count = |tag| diff.iter_all_changes().filter(|c| c.tag() == tag).count();
    (count(ChangeTag::Delete), count(ChangeTag::Insert))
}

/// A finding as compared before and after a fix: rule, pointer, action.
type Finding = (String, String, String);

/// The decision and findings of `check --format json` over `text`, by document.
fn findings(text: &str, packs: &[&str]) -> Vec<(String, BTreeSet<Finding>)> {
    let (_, stdout, stderr) = check(&[packs, &["--format", "json", "-"][..]].concat(), text);
    let records: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    records
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            let found = r["violations"]
                .as_array()
                .expect("violations")
                .iter()
                .map(|v| {
                    let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                    (field("rule"), field("pointer"), field("action"))
                })
                .collect();
            (r["decision"].as_str().unwrap_or_default().to_owned(), found)
        })
        .collect()
}

/// Runs `--fix` on `path` (with the shipped packs, or `packs`), checks that the output judges as
/// the patched documents did (no patch left, the same other findings) and returns the input and
/// the output.
fn fix_and_recheck(path: &str, packs: &[&str]) -> (String, String) {
    let input = std::fs::read_to_string(path).expect("fixture");
    let (code, fixed, stderr) = check(&[packs, &["--fix", path][..]].concat(), "");
    assert!(code == 0 || code == 1, "{stderr}");
    let before = findings(&input, packs);
    let after = findings(&fixed, packs);
    assert_eq!(before.len(), after.len(), "every document is written back:\n{fixed}");
    for ((decision, was), (now_decision, now)) in before.iter().zip(&after) {
        assert_ne!(now_decision, "patch", "a patch is left to apply:\n{fixed}");
        let expected: BTreeSet<_> = was
            .iter()
            .filter(|(_, _, action)| decision != "patch" || action != "patch")
            .cloned()
            .collect();
        assert_eq!(
            &expected, now,
            "findings differ after the fix ({decision} before):\n{fixed}"
        );
    }
    (input, fixed)
}

#[test]
fn documents_without_patches_are_written_byte_for_byte() {
    for path in [
        "examples/compliant/deployment.yaml",
        "examples/compliant/namespace.yaml",
        "examples/compliant/service.yaml",
        "examples/noncompliant/patient-records.yaml",
    ] {
        let (input, _) = fix_and_recheck(path, &[]);
        let (code, stdout, stderr) = check(&["--fix", path], "");
        assert_eq!(stdout, input, "{path}: {stderr}");
        if path.contains("noncompliant") {
            assert_eq!(code, 1);
            assert!(stderr.contains("DENY"), "the report says they still fail: {stderr}");
        }
    }
}

#[test]
fn a_folder_comes_back_whole_and_in_order() {
    let (_, stdout, _) = check(&["--fix", "examples/compliant/"], "");
    let mut expected = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir("examples/compliant").expect("folder") {
        files.push(entry.expect("entry").path());
    }
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("file");
        expected.extend(
            celgate::source::parse_documents(&text)
                .expect("parses")
                .into_iter()
                .map(|d| d.value),
        );
    }
    let written: Vec<_> = celgate::source::parse_documents(&stdout)
        .expect("output parses")
        .into_iter()
        .map(|d| d.value)
        .collect();
    assert_eq!(written, expected);
}

const OPS_PACK: &[&str] = &["--packs", "tests/fixtures/packs/fixops"];
/// Only the mutating fixture pack: its patches apply even where a shipped pack would deny the
/// document (a denied document is written back unpatched).
const MUTATIONS: &[&str] = &["--packs", "tests/fixtures/packs/fixreal"];

#[rstest::rstest]
#[case::comments_quotes_flow("tests/fixtures/fix/deployment-comments.yaml", MUTATIONS)]
#[case::anchors_aliases_merge_multi("tests/fixtures/fix/anchors-multi.yaml", MUTATIONS)]
#[case::json("tests/fixtures/fix/pod.json", MUTATIONS)]
#[case::every_operation("tests/fixtures/fix/ops.yaml", OPS_PACK)]
#[case::every_operation_json("tests/fixtures/fix/ops.json", OPS_PACK)]
#[case::kube_prometheus(
    "tests/fixtures/real/upstream/kube-prometheus/manifests/blackboxExporter-deployment.yaml",
    MUTATIONS
)]
#[case::argo_cd_install("tests/fixtures/real/upstream/argo-cd/manifests/install.yaml", MUTATIONS)]
#[case::argo_workflows_sa(
    "tests/fixtures/real/upstream/argo-workflows/manifests/base/workflow-controller/workflow-controller-sa.yaml",
    MUTATIONS
)]
fn a_fix_changes_only_the_patched_lines(#[case] path: &str, #[case] packs: &[&str]) {
    let (input, fixed) = fix_and_recheck(path, packs);
    let (removed, added) = changed_lines(&input, &fixed);
    assert!(added > 0, "{path}: nothing patched");
    if packs == MUTATIONS {
        // The fixture pack only adds fields: additions only, except a line that gains a comma
        // (JSON) or a flow entry.
        assert!(
            removed <= 2,
            "{path}: {removed} lines removed\n{}",
            line_diff(&input, &fixed)
        );
    }
    let name = Path::new(path).file_name().and_then(|s| s.to_str()).unwrap_or("fix");
    insta::assert_snapshot!(format!("fix_diff_{name}"), line_diff(&input, &fixed));
}

#[test]
fn crlf_line_endings_are_kept() {
    let lf = std::fs::read_to_string("tests/fixtures/fix/deployment-comments.yaml").expect("fixture");
    let crlf = lf.replace('\n', "\r\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crlf.yaml");
    std::fs::write(&path, &crlf).expect("write");
    let path = path.to_str().expect("utf8");
    let (_, fixed, stderr) = check(&["--fix", path], "");
    assert!(
        !fixed.replace("\r\n", "").contains('\n'),
        "a bare line feed: {fixed:?} {stderr}"
    );
    let (_, fixed_lf, _) = check(&["--fix", "tests/fixtures/fix/deployment-comments.yaml"], "");
    assert_eq!(fixed.replace("\r\n", "\n"), fixed_lf);
}

#[test]
fn out_mirrors_every_input_or_only_the_changed_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf8");
    let inputs = [
        "tests/fixtures/fix/anchors-multi.yaml",
        "tests/fixtures/fix/deployment-comments.yaml",
        "tests/fixtures/fix/pod.json",
        "examples/compliant/service.yaml",
    ];
    let (code, stdout, stderr) = check(&[MUTATIONS, &["--fix", "--out", out][..], &inputs[..]].concat(), "");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("PATCH"), "the report goes to stdout: {stdout}");
    for file in ["anchors-multi.yaml", "deployment-comments.yaml", "pod.json"] {
        let written = dir.path().join("tests/fixtures/fix").join(file);
        assert!(written.exists(), "{file} mirrored");
    }
    let service = dir.path().join("examples/compliant/service.yaml");
    assert_eq!(
        std::fs::read(&service).expect("unchanged file mirrored"),
        std::fs::read("examples/compliant/service.yaml").expect("input")
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("utf8");
    let (code, _, stderr) = check(
        &[MUTATIONS, &["--fix", "--changed-only", "--out", out][..], &inputs[..]].concat(),
        "",
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(dir.path().join("tests/fixtures/fix/pod.json").exists());
    assert!(
        !dir.path().join("examples/compliant/service.yaml").exists(),
        "unchanged inputs are skipped"
    );
}

#[test]
fn in_place_rewrites_changed_inputs_and_refuses_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let patched = dir.path().join("deployment.yaml");
    let untouched = dir.path().join("service.yaml");
    std::fs::copy("tests/fixtures/fix/deployment-comments.yaml", &patched).expect("copy");
    std::fs::copy("examples/compliant/service.yaml", &untouched).expect("copy");
    let (code, stdout, stderr) = check(&["--fix", "--in-place", dir.path().to_str().expect("utf8")], "");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("PATCH"), "{stdout}");
    let (_, expected, _) = check(&["--fix", "tests/fixtures/fix/deployment-comments.yaml"], "");
    assert_eq!(std::fs::read_to_string(&patched).expect("read"), expected);
    assert_eq!(
        std::fs::read(&untouched).expect("read"),
        std::fs::read("examples/compliant/service.yaml").expect("input")
    );

    let (code, stdout, stderr) = check(&["--fix", "--in-place", "-"], "kind: Pod\n");
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("standard input"), "{stderr}");
}

#[test]
fn stdin_is_fixed_to_stdout() {
    let input = std::fs::read_to_string("tests/fixtures/fix/deployment-comments.yaml").expect("fixture");
    let (code, stdout, _) = check(&["--fix", "-"], &input);
    assert_eq!(code, 0);
    let (_, from_file, _) = check(&["--fix", "tests/fixtures/fix/deployment-comments.yaml"], "");
    assert_eq!(stdout, from_file);
}
