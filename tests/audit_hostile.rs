//! Issue 15, item 7 and 9 (minor), through the `celgate` binary: `audit verify` of nothing says
//! so and fails, a CRLF line is reported naming the CR, and `check --audit` finds the chain's last
//! record from the end of the file without reading the rest.

use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

const PACK: &str = "tests/fixtures/packs/basic";
const PHI: &str = "tests/fixtures/audit/phi.yaml";

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("celgate")
        .expect("binary built")
        .env_remove("NO_COLOR")
        .env_remove("CELGATE_LOG")
        .env("POD_NAME", "ci-runner-1")
        .timeout(Duration::from_secs(60))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_with_audit(log: &Path) -> (i32, String) {
    let log = log.to_str().expect("utf8");
    let (code, _, stderr) = run(&["check", "--packs", PACK, "--tenant", "clinic", "--audit", log, PHI]);
    (code, stderr)
}

#[test]
fn verify_of_an_empty_file_or_folder_says_so_and_fails() {
    let dir = tempfile::tempdir().expect("tmp");
    let empty = dir.path().join("audit.jsonl");
    std::fs::write(&empty, "").expect("empty file");
    let (code, stdout, stderr) = run(&["audit", "verify", empty.to_str().expect("utf8")]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("no audit records") && stderr.contains("the file is empty"),
        "{stderr}"
    );

    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).expect("folder");
    let (code, _, stderr) = run(&["audit", "verify", folder.to_str().expect("utf8")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no audit files") && stderr.contains("nothing to verify"),
        "{stderr}"
    );

    std::fs::write(folder.join("a.jsonl"), "").expect("empty file");
    std::fs::write(folder.join("b.jsonl"), "").expect("empty file");
    let (code, _, stderr) = run(&["audit", "verify", folder.to_str().expect("utf8")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("all 2 files are empty"), "{stderr}");
}

#[test]
fn crlf_lines_are_reported_naming_the_carriage_return() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("audit.jsonl");
    assert_eq!(check_with_audit(&log).0, 1);
    let text = std::fs::read_to_string(&log).expect("log");
    std::fs::write(&log, text.replace('\n', "\r\n")).expect("CRLF");
    let (code, stdout, _) = run(&["audit", "verify", log.to_str().expect("utf8")]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("carriage return"), "{stdout}");
    assert!(stdout.contains("without the CR the record is intact"), "{stdout}");
}

#[test]
fn check_audit_reads_the_chain_head_from_the_end_of_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let small = dir.path().join("small.jsonl");
    assert_eq!(check_with_audit(&small).0, 1);
    let records = std::fs::read(&small).expect("log");
    let last_hash = {
        let text = String::from_utf8(records.clone()).expect("utf8");
        let last: serde_json::Value = serde_json::from_str(text.lines().last().expect("a line")).expect("json");
        last["hash"].as_str().expect("hash").to_owned()
    };
    // 64 GiB of hole (no disk used) before the records: reading the file whole would take
    // minutes or abort on the allocation; finding the last record must not read it.
    let big = dir.path().join("big.jsonl");
    let hole: u64 = 64 << 30;
    {
        let mut file = std::fs::File::create(&big).expect("create");
        file.set_len(hole).expect("sparse file");
        file.seek(SeekFrom::Start(hole)).expect("seek");
        file.write_all(b"\n").expect("end the hole's line");
        file.write_all(&records).expect("records");
    }
    let (code, stderr) = check_with_audit(&big);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let mut file = std::fs::File::open(&big).expect("open");
    let len = file.metadata().expect("stat").len();
    let tail_len = (records.len() as u64) * 3;
    file.seek(SeekFrom::Start(len - tail_len)).expect("seek");
    let mut tail = String::new();
    file.read_to_string(&mut tail).expect("tail is text");
    let appended: Vec<serde_json::Value> = tail
        .lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let next = appended
        .iter()
        .position(|r| r["prev"] == last_hash.as_str())
        .map(|i| &appended[i])
        .expect("the run continued the chain from the last record");
    assert_eq!(next["seq"], 4);

    // Not a regular file: refused at once (reading /dev/zero or /dev/full would never end).
    if Path::new("/dev/zero").exists() {
        let (code, stderr) = check_with_audit(Path::new("/dev/zero"));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("not a regular file"), "{stderr}");
    }
}
