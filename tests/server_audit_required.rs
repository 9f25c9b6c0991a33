//! Issue 15, item 7, over real TLS: with `audit.required: true` an admission answer leaves only
//! once its record is in the audit file (written and synced, in groups), so a crash right after
//! the answer never loses a decision that was answered.

mod support;

use std::path::{Path, PathBuf};

use serde_json::json;

use celgate::audit::{AuditConfig, FsyncPolicy};
use support::{fixture_json, Options, TestServer};

fn review(uid: &str) -> Vec<u8> {
    let mut review = fixture_json("allow.json");
    review["request"]["uid"] = json!(uid);
    serde_json::to_vec(&review).expect("serializes")
}

/// Every line of every `*.jsonl` file of `dir`, as text (read the moment it is called).
fn audit_text(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("audit dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("audit file"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_audit_required_every_answer_is_already_recorded() {
    // On the real disk (not tmpfs) and syncing every record: the writer falls behind a burst.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let audit_dir = dir.path().join("audit");
    let mut config = AuditConfig::in_dir(&audit_dir);
    config.replica_id = Some("replica-a".to_owned());
    config.required = true;
    config.fsync = FsyncPolicy::Always;
    let server = TestServer::start(Options {
        audit: Some(config),
        ..Options::default()
    })
    .await;
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let client = server.client();
        let audit_dir = audit_dir.clone();
        tasks.push(tokio::spawn(async move {
            let mut unrecorded = Vec::new();
            for i in 0..8 {
                let uid = format!("uid-{worker}-{i}");
                let answer = client.review("/validate", &review(&uid)).await;
                assert_eq!(answer["response"]["allowed"], true, "{answer}");
                if !audit_text(&audit_dir).contains(&format!("\"uid\":\"{uid}\"")) {
                    unrecorded.push(uid);
                }
            }
            unrecorded
        }));
    }
    let mut unrecorded = Vec::new();
    for task in tasks {
        unrecorded.extend(task.await.expect("worker"));
    }
    assert!(
        unrecorded.is_empty(),
        "{} of 128 answers were not yet in the audit file when they arrived: {unrecorded:?}",
        unrecorded.len()
    );
    server.stop().await;
}
