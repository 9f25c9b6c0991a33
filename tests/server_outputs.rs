//! The server's outputs over real TLS: every decision of every door in the hash-chained audit
//! trail (never the document), `audit.required` refusing to decide unrecorded, and Slack
//! alerts for denials, refused reloads and an expiring certificate, posted to a loopback stand-in.

mod support;

#[allow(dead_code)]
#[path = "notify/stub.rs"]
mod stub;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use celgate::audit::AuditConfig;
use celgate::notify::SlackConfig;
use celgate::server::PackSourceSpec;
use support::{basic_pack_dir, eventually, fixture_json, write_atomically, Options, TestServer};

const SECRET: &str = "patient-4711-ssn-078-05-1120";

/// A review of a privileged (denied) or clean (allowed) Deployment whose env carries `SECRET`.
fn review(uid: &str, privileged: bool) -> Vec<u8> {
    let mut review = fixture_json("allow.json");
    review["request"]["uid"] = json!(uid);
    review["request"]["object"] = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{
            "name": "app", "image": "nginx:1.27",
            "env": [{"name": "PATIENT", "value": SECRET}],
            "securityContext": {"privileged": privileged, "allowPrivilegeEscalation": false}
        }]}}}
    });
    serde_json::to_vec(&review).expect("serializes")
}

fn audit_config(dir: &Path) -> AuditConfig {
    let mut config = AuditConfig::in_dir(dir);
    config.replica_id = Some("replica-a".to_owned());
    config
}

fn audit_lines(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("audit dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("audit file");
            assert!(!text.contains(SECRET), "the document leaked into {}", f.display());
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_is_in_the_audit_trail_without_the_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit_dir = dir.path().join("audit");
    let server = TestServer::start(Options {
        audit: Some(audit_config(&audit_dir)),
        ..Options::default()
    })
    .await;
    let client = server.client();
    let denied = client.review("/validate", &review("uid-deny", true)).await;
    assert_eq!(denied["response"]["allowed"], false);
    let allowed = client.review("/validate", &review("uid-allow", false)).await;
    assert_eq!(allowed["response"]["allowed"], true);
    let checked = client
        .post(
            "/v1/check",
            json!({"object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}})
                .to_string()
                .as_bytes(),
        )
        .await
        .expect("check answered");
    assert_eq!(checked.status, 200);
    // The check API's request id: generated, or the caller's when it is a plausible id; in the
    // answer (header and body) and, below, in the audit record.
    let generated = checked.header("x-request-id").expect("a request id").to_owned();
    assert_eq!(checked.json()["requestId"], generated.as_str());
    assert_eq!(generated.len(), 36, "UUID form: {generated}");
    let config_map =
        json!({"object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}}}).to_string();
    let given = client
        .send_with_headers(
            "POST",
            "/v1/check",
            &[("X-Request-Id", "ci-run-42.job:7")],
            config_map.as_bytes(),
        )
        .await
        .expect("check answered");
    assert_eq!(given.header("x-request-id"), Some("ci-run-42.job:7"));
    let refused_id = client
        .send_with_headers(
            "POST",
            "/v1/check",
            &[("X-Request-Id", "no spaces or <tags>")],
            config_map.as_bytes(),
        )
        .await
        .expect("check answered");
    let replaced = refused_id.header("x-request-id").expect("a request id").to_owned();
    assert_ne!(replaced, "no spaces or <tags>");
    let state = std::sync::Arc::clone(&server.state);
    server.stop().await;
    state.outputs.close(Duration::from_secs(2)).await;

    let records = audit_lines(&audit_dir);
    assert_eq!(records.len(), 5, "{records:#?}");
    let by_uid = |uid: &str| {
        records
            .iter()
            .find(|r| r["uid"] == uid)
            .unwrap_or_else(|| panic!("no record {uid}"))
    };
    let deny = by_uid("uid-deny");
    assert_eq!(deny["decision"], "deny");
    assert_eq!(deny["door"], "admission");
    assert_eq!(deny["replica"], "replica-a");
    assert!(deny["rules"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["rule"] == "basic-no-privileged")));
    assert_eq!(deny["documentSha256"].as_str().map(str::len), Some(64));
    assert_eq!(by_uid("uid-allow")["decision"], "allow");
    for id in [generated.as_str(), "ci-run-42.job:7", replaced.as_str()] {
        let record = by_uid(id);
        assert_eq!(record["door"], "check-api");
        // The packs that judged it, by name and version.
        assert!(
            record["packs"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p == "basic@1.0.0")),
            "{record}"
        );
    }

    let verify = assert_cmd::Command::cargo_bin("celgate")
        .expect("binary")
        .args(["audit", "verify"])
        .arg(&audit_dir)
        .output()
        .expect("runs");
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_required_refuses_to_decide_unrecorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit_dir = dir.path().join("audit");
    let mut config = audit_config(&audit_dir);
    config.required = true;
    config.max_file_bytes = celgate::audit::config::MIN_FILE_BYTES;
    config.retry_interval_ms = 60_000;
    let server = TestServer::start(Options {
        audit: Some(config),
        ..Options::default()
    })
    .await;
    // Every file the writer would rotate to is a directory: once the first file is full, writes fail.
    for index in 2..50 {
        std::fs::create_dir_all(audit_dir.join(celgate::audit::layout::rotated_name(
            "celgate-audit",
            "replica-a",
            index,
        )))
        .expect("blocking dir");
    }
    let client = server.client();
    let mut refused = None;
    for i in 0..200 {
        let answer = client.review("/validate", &review(&format!("uid-{i}"), false)).await;
        if answer["response"]["allowed"] == false {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("a review is refused once the trail cannot write");
    let status = &refused["response"]["status"];
    assert_eq!(status["code"], 500, "{refused}");
    assert!(
        status["message"].as_str().is_some_and(|m| m.contains("audit.required")),
        "{refused}"
    );
    let metrics = server.metrics().await;
    assert!(metrics.contains("celgate_audit_write_failures_total"), "{metrics}");
    server.stop().await;
}

fn slack_config(dir: &Path, url: &str) -> SlackConfig {
    let url_file = dir.join("slack-url");
    std::fs::write(&url_file, url).expect("url file");
    let yaml = json!({
        "webhooks": {"security": {"urlFile": url_file}},
        "routes": [{
            "webhook": "security",
            "minSeverity": "low",
            "decisions": ["deny"],
            "system": ["pack-reload-failed", "certificate-expiring"]
        }],
        "minSeverity": "low",
        "certificateWarningDays": 100_000,
        "rateLimit": {"intervalMs": 10, "burst": 10}
    });
    serde_json::from_value(yaml).expect("slack config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_hears_denials_refused_reloads_and_certificate_expiry() {
    let slack = stub::Stub::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let packs = dir.path().join("packs");
    std::fs::create_dir_all(&packs).expect("packs dir");
    let pack_file = packs.join("pack.yaml");
    let good = std::fs::read_to_string(basic_pack_dir().join("pack.yaml")).expect("basic pack");
    std::fs::write(&pack_file, &good).expect("write pack");
    let server = TestServer::start(Options {
        packs: PackSourceSpec::Paths(vec![packs.clone()]),
        reload_interval: Some(Duration::from_millis(50)),
        slack: Some(slack_config(dir.path(), &slack.url("/hook"))),
        ..Options::default()
    })
    .await;

    let denied = server.client().review("/validate", &review("uid-slack", true)).await;
    assert_eq!(denied["response"]["allowed"], false);
    write_atomically(
        &pack_file,
        good.replace(
            "validate: \"object.spec.replicas <= params.maxReplicas\"",
            "validate: \"object.spec.replicas <= \"",
        )
        .as_bytes(),
    );

    let wanted = ["basic-no-privileged", "reload", "expir"];
    let slack_ref = &slack;
    eventually(
        "a denial, a reload failure and a certificate alert in Slack",
        || async move {
            let bodies: Vec<String> = slack_ref.requests("/hook").iter().map(|r| r.body.to_string()).collect();
            wanted
                .iter()
                .all(|w| bodies.iter().any(|b| b.to_lowercase().contains(w)))
        },
    )
    .await;
    for request in slack.requests("/hook") {
        let body = request.body.to_string();
        assert!(!body.contains(SECRET), "the document reached Slack: {body}");
    }
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("celgate_certificate_expiry_timestamp_seconds"),
        "{metrics}"
    );
    assert!(metrics.contains("celgate_slack_messages_sent_total"), "{metrics}");
    server.stop().await;
}
