//! The audit trail through the library: chains across rotation, restarts and replicas;
//! tampering found and located; torn lines told apart from tampering; encryption and key
//! rotation; configuration errors. The non-blocking front and kill -9 are in `audit_log.rs`.

mod audit_support;

use std::path::Path;
use std::time::SystemTime;

use audit_support::{config, files, record, verify_dir, write};
use celgate::audit::show::{self, Filter, ShowError};
use celgate::audit::verify;
use celgate::audit::{AuditConfig, AuditKey, AuditWriter, EncryptionConfig, Keyring};
use rstest::rstest;

#[test]
fn chain_is_intact_across_rotation_restarts_and_replicas() {
    let dir = tempfile::tempdir().expect("tmp");
    write(&config(dir.path(), "pod-a"), 1, 20);
    write(&config(dir.path(), "pod-b"), 1, 7);
    write(&config(dir.path(), "pod-a"), 21, 40); // a restart continues the chain
    let first_file = files(dir.path())[0].clone();
    let report = verify::verify(&[dir.path().to_owned(), first_file]).expect("verifies");
    assert_eq!(
        report.exit_code(),
        0,
        "a file named twice is read once: {}",
        report.render()
    );
    let a = &report.replicas[0];
    assert_eq!(
        (a.replica.as_str(), a.records, a.seq_range),
        ("pod-a", 40, Some((1, 40)))
    );
    assert!(a.files.len() > 3, "rotated by size: {:?}", a.files);
    assert_eq!(
        (report.replicas[1].replica.as_str(), report.replicas[1].records),
        ("pod-b", 7)
    );
    assert!(
        report
            .render()
            .contains("replica pod-a: intact, 40 records (seq 1..40)"),
        "{}",
        report.render()
    );
    // The document is never stored, nor the messages that quote it: only its digest.
    for file in files(dir.path()) {
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(!text.contains("SECRET-PHI"), "{}", file.display());
        assert!(text.contains("\"documentSha256\":\""));
    }
}

/// Tampering with the files of replica `t` (40 records over several files).
#[rstest]
#[case::edit_a_field("edit", "record seq 10: record altered")]
#[case::edit_and_rehash("rehash", "broken link: record seq 11 does not carry the hash of record seq 10")]
#[case::delete_a_line("delete", "record seq 11 follows record seq 9")]
#[case::swap_two_lines("swap", "record seq 11 follows record seq 9")]
#[case::drop_a_middle_file("drop", "follows record seq")]
fn tampering_is_found_and_located(#[case] how: &str, #[case] expected: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    write(&config(dir.path(), "t"), 1, 40);
    let paths = files(dir.path());
    // Find the file and line of seq 10.
    let (file, lines, at) = paths
        .iter()
        .find_map(|p| {
            let text = std::fs::read_to_string(p).expect("read");
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let at = lines.iter().position(|l| l.contains("\"seq\":10,"))?;
            Some((p.clone(), lines, at))
        })
        .expect("seq 10 found");
    assert!(at + 1 < lines.len(), "seq 11 in the same file for these cases");
    let mut lines = lines;
    match how {
        "edit" => lines[at] = lines[at].replace("\"tenant\":\"acme\"", "\"tenant\":\"evil\""),
        "rehash" => {
            let edited = lines[at].replace("\"decision\":\"allow\"", "\"decision\":\"deny\"");
            lines[at] = rehash(&edited);
        }
        "delete" => {
            lines.remove(at);
        }
        "swap" => lines.swap(at, at + 1),
        "drop" => {
            std::fs::remove_file(&paths[1]).expect("drop file 2");
        }
        _ => unreachable!(),
    }
    if how != "drop" {
        std::fs::write(&file, lines.join("\n") + "\n").expect("write back");
    }
    let report = verify_dir(dir.path());
    let text = report.render();
    assert_eq!(report.exit_code(), 1, "{text}");
    let first = text.lines().next().expect("a line");
    assert!(first.starts_with("replica t: BROKEN: "), "{text}");
    assert!(first.contains(expected), "{text}");
    if how == "drop" {
        assert!(text.contains("missing records: seq"), "{text}");
        assert!(
            first.contains(&paths[2].display().to_string()),
            "located in the file after the gap: {text}"
        );
    } else {
        assert!(
            first.contains(&format!("{}:", file.display())),
            "names the file: {text}"
        );
        if how == "delete" {
            assert!(text.contains("missing record: seq 10"), "{text}");
        } else {
            assert!(!text.contains("missing record"), "nothing is missing: {text}");
        }
    }
}

/// Recomputes a line's own hash after an edit (what a careful forger would do).
fn rehash(line: &str) -> String {
    use sha2::{Digest, Sha256};
    let cut = line.len() - 75;
    let body = format!("{}}}", &line[..cut]);
    let hash = celgate::audit::record::hex(&Sha256::digest(body.as_bytes()));
    format!("{},\"hash\":\"{hash}\"}}", &line[..cut])
}

#[test]
fn verify_output_shape() {
    let dir = tempfile::tempdir().expect("tmp");
    write(&config(dir.path(), "snap"), 1, 12);
    let first = &files(dir.path())[0];
    let text = std::fs::read_to_string(first).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(2);
    std::fs::write(first, lines.join("\n") + "\n").expect("write");
    let rendered = verify_dir(dir.path())
        .render()
        .replace(&dir.path().display().to_string(), "[DIR]");
    let rendered = regex_lite_hash(&rendered);
    insta::assert_snapshot!("verify_deleted_line", rendered);
}

/// Hides the last hash, which depends on the record times.
fn regex_lite_hash(text: &str) -> String {
    text.split(", last hash ")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_owned()
            } else {
                format!("[HASH]{}", &part[16.min(part.len())..])
            }
        })
        .collect::<Vec<_>>()
        .join(", last hash ")
}

#[test]
fn torn_last_line_is_reported_as_a_crash_and_the_chain_continues() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), "c");
    write(&cfg, 1, 10);
    let last = files(dir.path()).pop().expect("a file");
    let mut bytes = std::fs::read(&last).expect("read");
    let whole_lines = String::from_utf8_lossy(&bytes).lines().count();
    bytes.extend_from_slice(b"{\"v\":1,\"replica\":\"c\",\"seq\":11,\"prev\":\"ab");
    std::fs::write(&last, &bytes).expect("tear");

    let report = verify_dir(dir.path());
    let text = report.render();
    assert_eq!(report.exit_code(), 3, "torn only: {text}");
    assert!(
        text.contains(&format!(
            "torn last line (crash mid-write) at {}:{}",
            last.display(),
            whole_lines + 1
        )),
        "{text}"
    );
    assert!(text.contains("10 records (seq 1..10)"), "{text}");

    // The writer notes it, keeps the torn file as evidence, and continues in a new file.
    let mut writer = AuditWriter::open(&cfg).expect("reopens");
    assert_eq!(writer.torn_tails().len(), 1);
    assert_eq!(writer.head().seq, 10);
    assert_ne!(writer.current_path(), last.as_path());
    writer.append(&record(11, "acme")).expect("appends");
    let report = verify_dir(dir.path());
    assert_eq!(report.exit_code(), 3, "{}", report.render());
    assert!(report.replicas[0].is_intact());
    assert!(
        report.render().contains("torn line (crash mid-write)"),
        "{}",
        report.render()
    );
    assert_eq!(report.replicas[0].seq_range, Some((1, 11)));
}

#[test]
fn single_file_cuts_a_torn_tail_and_continues() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = AuditConfig {
        replica_id: Some("ci".into()),
        ..AuditConfig::single_file(dir.path().join("run.jsonl"))
    };
    write(&cfg, 1, 3);
    let path = dir.path().join("run.jsonl");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes.extend_from_slice(b"{\"v\":1,\"rep");
    std::fs::write(&path, &bytes).expect("tear");
    let mut writer = AuditWriter::open(&cfg).expect("reopens");
    assert_eq!(writer.torn_tails()[0].bytes, 11);
    writer.append(&record(4, "acme")).expect("appends");
    let report = verify::verify(&[path]).expect("verifies");
    assert_eq!(report.exit_code(), 0, "{}", report.render());
    assert_eq!(report.replicas[0].records, 4);
}

fn encrypted(dir: &Path, key_file: &Path) -> AuditConfig {
    AuditConfig {
        encryption: Some(EncryptionConfig {
            key_file: Some(key_file.to_owned()),
            key_env: None,
            max_key_age_days: 90,
        }),
        ..config(dir, "enc")
    }
}

#[test]
fn encrypted_records_verify_without_key_show_with_it_and_keys_rotate() {
    let dir = tempfile::tempdir().expect("tmp");
    let keys = tempfile::tempdir().expect("tmp");
    let key_a = AuditKey::generate(SystemTime::now()).expect("key");
    let path_a = key_a.write_new(keys.path()).expect("write key");
    write(&encrypted(dir.path(), &path_a), 1, 6);
    for file in files(dir.path()) {
        let text = std::fs::read_to_string(file).expect("read");
        assert!(
            !text.contains("acme") && !text.contains("hipaa-no-privileged"),
            "content is encrypted"
        );
        assert!(text.contains(&format!("\"keyId\":\"{}\"", key_a.id())));
    }
    // Rotation mid-log: a second key, older records stay readable with the first.
    let key_b = loop {
        let k = AuditKey::generate(SystemTime::now()).expect("key");
        if k.id() != key_a.id() {
            break k;
        }
    };
    let path_b = key_b.write_new(keys.path()).expect("write key");
    write(&encrypted(dir.path(), &path_b), 7, 12);

    let report = verify_dir(dir.path());
    assert_eq!(report.exit_code(), 0, "verifies without any key: {}", report.render());
    assert_eq!(report.replicas[0].records, 12);

    let mut both = Keyring::default();
    both.add_dir(keys.path()).expect("keyring");
    let all = show::read(&[dir.path().to_owned()], &both, &Filter::default()).expect("shows");
    assert_eq!(all.records.len(), 12);
    assert_eq!(all.records[2].record.tenant.as_deref(), Some("acme"));
    assert_eq!(all.records[2].record.rules[0].controls, ["45 CFR 164.312(a)(1)"]);

    let mut only_b = Keyring::default();
    only_b.add(AuditKey::from_file(&path_b).expect("key")).expect("add");
    match show::read(&[dir.path().to_owned()], &only_b, &Filter::default()) {
        Err(e @ ShowError::NoKey { .. }) => assert!(e.to_string().contains(key_a.id()), "{e}"),
        other => panic!("expected a missing key error, got {other:?}"),
    }
    // A different key under the same id fails to decrypt, clearly.
    let forged_text = key_b.to_text().replace(key_b.id(), key_a.id());
    let mut wrong = Keyring::default();
    wrong
        .add(AuditKey::from_text(&forged_text, "forged").expect("key"))
        .expect("add");
    wrong.add(key_b).expect("add");
    let err = show::read(&[dir.path().to_owned()], &wrong, &Filter::default()).expect_err("wrong key");
    assert!(matches!(err, ShowError::Decrypt { seq: 1, .. }), "{err:?}");
    let chain = celgate::commands::audit::error_chain(&err);
    assert!(chain.contains("wrong key for this id"), "{chain}");
}

#[rstest]
#[case(serde_json::json!({"maxFileBytes": 100}), "audit.maxFileBytes = 100: must be at least 4096")]
#[case(serde_json::json!({"dir": "a", "file": "b"}), "audit.dir and audit.file: give one, not both")]
#[case(serde_json::json!({"queueCapacity": 0}), "audit.queueCapacity = 0")]
#[case(serde_json::json!({"replicaId": "a/b"}), "audit.replicaId = a/b")]
#[case(serde_json::json!({"encryption": {}}), "audit.encryption: give keyFile or keyEnv")]
#[case(serde_json::json!({"encryption": {"keyFile": "k", "keyEnv": "K"}}), "audit.encryption.keyFile and audit.encryption.keyEnv")]
#[case(serde_json::json!({"encryption": {"keyEnv": "not a name"}}), "audit.encryption.keyEnv = not a name")]
fn bad_config_names_the_field(#[case] value: serde_json::Value, #[case] expected: &str) {
    let config: AuditConfig = serde_json::from_value(value).expect("parses");
    let err = config.validate().expect_err("invalid");
    assert!(err.to_string().starts_with(expected), "{err}");
}

#[test]
fn unknown_config_field_and_inline_key_are_refused() {
    let err = serde_json::from_value::<AuditConfig>(serde_json::json!({"maxFileByte": 1})).expect_err("unknown");
    assert!(err.to_string().contains("maxFileByte"), "{err}");
    let err = serde_json::from_value::<AuditConfig>(serde_json::json!({"encryption": {"key": "AAAA"}}))
        .expect_err("inline key");
    assert!(err.to_string().contains("unknown field `key`"), "{err}");
    let defaults = serde_json::from_value::<AuditConfig>(serde_json::json!({})).expect("defaults");
    assert_eq!(defaults, AuditConfig::default());
    defaults.validate().expect("defaults are valid");
}
