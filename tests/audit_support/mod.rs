//! Shared by the audit tests: records, configurations, writing and verifying a folder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use celgate::audit::verify::{self, VerifyReport};
use celgate::audit::{AuditConfig, AuditRecord, AuditWriter, Door, FsyncPolicy};
use celgate::engine::{Action, Decision, FindingType, Input, Severity, Verdict, Violation};

/// A decision record for document `i` of `tenant`; every third one is a deny.
pub fn record(i: u64, tenant: &str) -> AuditRecord {
    let object = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("pod-{i}"), "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "env": [{"name": "NOTE", "value": "SECRET-PHI-value"}]}]},
    });
    let mut input = Input::new(object);
    input.tenant = Some(tenant.to_owned());
    let mut decision = Decision::allow();
    if i.is_multiple_of(3) {
        decision.decision = Verdict::Deny;
        decision.violations.push(Violation {
            pack: "hipaa".into(),
            rule: "hipaa-no-privileged".into(),
            title: "t".into(),
            controls: ["45 CFR 164.312(a)(1)".to_owned()].into(),
            severity: Severity::High,
            action: Action::Deny,
            finding: FindingType::Violation,
            message: "SECRET-PHI-in-message".into(),
            pointer: "/spec".into(),
            rationale: "w".into(),
            remediation: "r".into(),
            patched: false,
            mode: None,
            exception: None,
            reason: None,
        });
    }
    AuditRecord::new(Door::Admission, &input, &decision)
        .with_uid(format!("uid-{i}"))
        .at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000 + i))
}

pub fn config(dir: &Path, replica: &str) -> AuditConfig {
    AuditConfig {
        replica_id: Some(replica.to_owned()),
        max_file_bytes: 4096,
        fsync: FsyncPolicy::Never,
        ..AuditConfig::in_dir(dir)
    }
}

pub fn write(config: &AuditConfig, from: u64, to: u64) {
    let mut writer = AuditWriter::open(config).expect("opens");
    for i in from..=to {
        writer.append(&record(i, "acme")).expect("appends");
    }
    writer.sync().expect("syncs");
}

pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

pub fn verify_dir(dir: &Path) -> VerifyReport {
    verify::verify(&[dir.to_owned()]).expect("verifies")
}
