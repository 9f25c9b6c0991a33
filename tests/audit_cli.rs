//! The audit trail through the `celgate` binary: `check --audit`, `audit verify`, `audit show`
//! filters, `audit rotate-key`, and their exit codes.

use std::path::Path;

use assert_cmd::Command;

const PACK: &str = "tests/fixtures/packs/basic";
const PHI: &str = "tests/fixtures/audit/phi.yaml";

fn celgate() -> Command {
    let mut cmd = Command::cargo_bin("celgate").expect("binary built");
    cmd.env_remove("NO_COLOR")
        .env_remove("CELGATE_LOG")
        .env("POD_NAME", "ci-runner-1");
    cmd
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = celgate().args(args).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_with_audit(log: &Path) -> i32 {
    let log = log.to_str().expect("utf8");
    let (code, _, stderr) = run(&["check", "--packs", PACK, "--tenant", "clinic", "--audit", log, PHI]);
    assert!(stderr.is_empty(), "{stderr}");
    code
}

#[test]
fn check_audit_writes_one_record_per_document_without_content() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("ci").join("audit.jsonl");
    assert_eq!(check_with_audit(&log), 1, "the deny still decides the exit code");
    let text = std::fs::read_to_string(&log).expect("log written");
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(!text.contains("SECRET-PHI"), "no document content in the log");
    assert!(!text.contains("runs privileged"), "no rendered messages either");
    let first = &lines[0];
    assert_eq!(first["door"], "ci");
    assert_eq!(first["replica"], "ci-runner-1");
    assert_eq!(first["tenant"], "clinic");
    assert_eq!(first["decision"], "deny");
    assert_eq!(first["kind"], "Deployment");
    assert_eq!(first["source"], format!("{PHI}#0"));
    assert_eq!(first["rules"][0]["rule"], "basic-no-privileged");
    assert_eq!(first["rules"][0]["controls"][0], "TSC CC6.1");
    assert_eq!(first["packs"][0], "basic@1.0.0");
    assert_eq!(first["engineVersion"], env!("CARGO_PKG_VERSION"));
    let digests: Vec<&str> = lines
        .iter()
        .map(|l| l["documentSha256"].as_str().expect("digest"))
        .collect();
    assert!(digests
        .iter()
        .all(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit())));
    assert!(digests[0] != digests[1] && digests[1] != digests[2]);
    assert_eq!(lines[1]["prev"], lines[0]["hash"], "hash-chained");

    // A second run continues the chain; verify sees one intact chain of 6 records.
    check_with_audit(&log);
    let again = std::fs::read_to_string(&log).expect("log");
    assert_eq!(again.lines().count(), 6);
    let second_run_digest: serde_json::Value = serde_json::from_str(again.lines().nth(3).expect("line")).expect("json");
    assert_eq!(
        second_run_digest["documentSha256"], digests[0],
        "same document, same digest"
    );
    let (code, stdout, _) = run(&["audit", "verify", log.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.starts_with("replica ci-runner-1: intact, 6 records (seq 1..6) in 1 file"),
        "{stdout}"
    );
}

#[test]
fn verify_exit_codes_tamper_torn_and_unreadable() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("audit.jsonl");
    check_with_audit(&log);
    let path = log.to_str().expect("utf8");
    let original = std::fs::read_to_string(&log).expect("log");

    std::fs::write(&log, format!("{original}{{\"v\":1,\"replica\":\"ci-")).expect("tear");
    let (code, stdout, _) = run(&["audit", "verify", path]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains(&format!("torn last line (crash mid-write) at {path}:4")),
        "{stdout}"
    );

    std::fs::write(
        &log,
        original.replacen("\"tenant\":\"clinic\"", "\"tenant\":\"other\"", 1),
    )
    .expect("tamper");
    let (code, stdout, _) = run(&["audit", "verify", path]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!("BROKEN: {path}:1: record seq 1: record altered")),
        "{stdout}"
    );

    let (code, _, stderr) = run(&["audit", "verify", "no/such/audit"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read no/such/audit"), "{stderr}");
    let (code, _, stderr) = run(&["audit", "verify", dir.path().join("nothing").to_str().expect("utf8")]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn show_filters_by_decision_rule_tenant_and_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("audit.jsonl");
    check_with_audit(&log);
    let path = log.to_str().expect("utf8");
    let count = |extra: &[&str]| {
        let mut args = vec!["audit", "show", path, "--format", "json"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{stderr}");
        let records: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        records.len()
    };
    assert_eq!(count(&[]), 3);
    assert_eq!(count(&["--decision", "deny"]), 1);
    assert_eq!(count(&["--decision", "allow"]), 2);
    assert_eq!(count(&["--rule", "basic-no-privileged"]), 1);
    assert_eq!(count(&["--rule", "basic-replicas"]), 0);
    assert_eq!(count(&["--tenant", "clinic"]), 3);
    assert_eq!(count(&["--tenant", "other"]), 0);
    assert_eq!(
        count(&["--since", "2000-01-01T00:00:00Z", "--until", "2999-01-01T00:00:00Z"]),
        3
    );
    assert_eq!(count(&["--since", "2999-01-01T00:00:00Z"]), 0);
    let (code, stdout, _) = run(&["audit", "show", path, "--decision", "deny"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("deny  ci        tenant=clinic CREATE Deployment clinic/records"),
        "{stdout}"
    );
    assert!(stdout.contains("deny:basic-no-privileged[TSC CC6.1]"), "{stdout}");
    let (code, _, stderr) = run(&["audit", "show", path, "--decision", "maybe"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--decision \"maybe\": expected allow, deny or patch"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["audit", "show", path, "--since", "yesterday"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--since \"yesterday\": not an RFC 3339 time"),
        "{stderr}"
    );
}

#[test]
fn rotate_key_writes_a_private_key_file_and_says_how_to_use_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let keys = dir.path().join("keys");
    let (code, stdout, stderr) = run(&["audit", "rotate-key", "--key-dir", keys.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    let files: Vec<_> = std::fs::read_dir(&keys)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1);
    let key = celgate::audit::AuditKey::from_file(&files[0]).expect("a valid key file");
    assert!(stdout.contains(&format!("wrote key {}", key.id())), "{stdout}");
    assert!(stdout.contains("keyFile: "), "{stdout}");
    assert!(stdout.contains("90 days"), "{stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&files[0]).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only");
    }
    let (code, stdout, _) = run(&["audit", "rotate-key", "--key-dir", keys.to_str().expect("utf8")]);
    assert_eq!(code, 0);
    assert!(stdout.contains("older key"), "{stdout}");
}

#[test]
fn check_audit_into_an_unwritable_place_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").expect("write");
    let target = blocker.join("audit.jsonl");
    let (code, stdout, stderr) = run(&["check", "--packs", PACK, "--audit", target.to_str().expect("utf8"), PHI]);
    assert_eq!(code, 2, "{stdout}");
    assert!(stderr.contains(&blocker.display().to_string()), "{stderr}");
    assert!(stdout.is_empty(), "nothing decided unrecorded: {stdout}");
}
