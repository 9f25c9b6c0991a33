//! Issue 15, item 2, over real TLS: no config reload may weaken the server. A config file cut
//! short (before `tenants:`), stripped of every token, or of `tls.clientCaFile` is refused,
//! logged, counted and alerted in Slack, and the last good configuration keeps serving.

mod support;

#[allow(dead_code)]
#[path = "notify/stub.rs"]
mod stub;

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use celgate::notify::SlackConfig;
use celgate::tenant::token;
use support::{eventually, write_atomically, Options, TestServer};

const TOKEN: &str = "cgt_reload-guard-test-token";

/// A config with a `tls:` section, one environment and (when `tenants`) one tenant with a token.
fn config(tokens: bool, client_ca: bool) -> String {
    let tls = if client_ca {
        "tls: {clientCaFile: /etc/celgate/client-ca/ca.crt}\n"
    } else {
        ""
    };
    let tokens = if tokens {
        format!("[{{name: ci, sha256: {}}}]", token::to_hex(&token::hash(TOKEN)))
    } else {
        "[]".to_owned()
    };
    format!(
        "{tls}environments: [{{name: production}}]\ntenants:\n  - name: acme\n    namespaces: ['acme-*']\n    tokens: {tokens}\n"
    )
}

fn slack_config(dir: &Path, url: &str) -> SlackConfig {
    let url_file = dir.join("slack-url");
    std::fs::write(&url_file, url).expect("url file");
    serde_json::from_value(json!({
        "webhooks": {"security": {"urlFile": url_file}},
        "routes": [{"webhook": "security", "system": ["config-reload-refused"]}],
        "rateLimit": {"intervalMs": 10, "burst": 10}
    }))
    .expect("slack config")
}

async fn status_of_check(server: &TestServer, bearer: Option<&str>) -> u16 {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let body =
        json!({"object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "acme-a"}}});
    server
        .client()
        .send_with_headers("POST", "/v1/check", &headers, body.to_string().as_bytes())
        .await
        .expect("request answered")
        .status
}

async fn refused(server: &TestServer, reason: &str) -> u64 {
    server
        .metric(&format!(
            r#"celgate_config_reloads_refused_weakening_total{{reason="{reason}"}}"#
        ))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_that_weaken_security_are_refused_and_the_last_good_config_serves() {
    let slack = stub::Stub::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("celgate.yaml");
    let good = config(true, true);
    std::fs::write(&path, &good).expect("write config");
    let server = TestServer::start(Options {
        config_file: Some(path.clone()),
        reload_interval: Some(Duration::from_millis(50)),
        slack: Some(slack_config(dir.path(), &slack.url("/hook"))),
        ..Options::default()
    })
    .await;
    assert_eq!(status_of_check(&server, None).await, 401);
    assert_eq!(status_of_check(&server, Some(TOKEN)).await, 200);

    // A file cut short before `tenants:` (a careless copy, a full disk): every tenant gone.
    let cut = &good[..good.find("tenants:").expect("tenants in the config")];
    write_atomically(&path, cut.as_bytes());
    let s = &server;
    eventually(
        "the cut file refused",
        || async move { refused(s, "tenants").await == 1 },
    )
    .await;
    assert_eq!(
        status_of_check(&server, None).await,
        401,
        "the check API still needs a token"
    );
    assert_eq!(status_of_check(&server, Some(TOKEN)).await, 200);

    // Every token removed.
    write_atomically(&path, config(false, true).as_bytes());
    eventually("the tokenless file refused", || async move {
        refused(s, "tokens").await == 1
    })
    .await;
    assert_eq!(
        status_of_check(&server, Some(TOKEN)).await,
        200,
        "the token still works"
    );

    // The client-CA requirement removed.
    write_atomically(&path, config(true, false).as_bytes());
    eventually("the file without a client CA refused", || async move {
        refused(s, "client-ca").await == 1
    })
    .await;

    // Each bad state is counted once, not on every poll.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(refused(&server, "tenants").await, 1);
    assert_eq!(refused(&server, "tokens").await, 1);
    assert_eq!(refused(&server, "client-ca").await, 1);
    assert_eq!(
        server.metric(r#"celgate_reload_failures_total{kind="config"}"#).await,
        3
    );
    assert_eq!(server.metric(r#"celgate_reloads_total{kind="config"}"#).await, 0);

    let slack_ref = &slack;
    eventually("three refusals in Slack", || async move {
        slack_ref
            .requests("/hook")
            .iter()
            .filter(|r| r.body.to_string().contains("Config reload refused"))
            .count()
            >= 3
    })
    .await;
    let bodies: Vec<String> = slack.requests("/hook").iter().map(|r| r.body.to_string()).collect();
    for wanted in ["every tenant", "every check-API token", "tls.clientCaFile"] {
        assert!(bodies.iter().any(|b| b.contains(wanted)), "{wanted} in {bodies:?}");
    }

    // A change that keeps the protections is taken.
    let more = good.replace("namespaces: ['acme-*']", "namespaces: ['acme-*', 'acme']");
    write_atomically(&path, more.as_bytes());
    eventually("the good change reloaded", || async move {
        s.metric(r#"celgate_reloads_total{kind="config"}"#).await == 1
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_being_written_is_not_taken_until_it_is_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("celgate.yaml");
    std::fs::write(&path, config(true, false)).expect("write config");
    let server = TestServer::start(Options {
        config_file: Some(path.clone()),
        reload_interval: Some(Duration::from_millis(20)),
        ..Options::default()
    })
    .await;
    // Written in place, a few bytes at a time (as `cat > celgate.yaml` or an editor might):
    // no half of it may be taken, and none counted as a failure.
    let second_tenant = format!(
        "  - name: beta\n    namespaces: ['beta-*']\n    tokens: [{{sha256: {}}}]\n",
        token::to_hex(&token::hash("cgt_beta"))
    );
    let full = config(true, false) + &second_tenant;
    let writing = {
        let path = path.clone();
        let full = full.clone();
        tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let mut file = std::fs::File::create(&path).expect("truncate");
            for chunk in full.as_bytes().chunks(4) {
                file.write_all(chunk).expect("write");
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    writing.await.expect("writer");
    let s = &server;
    eventually("the complete file reloaded", || async move {
        s.metric(r#"celgate_reloads_total{kind="config"}"#).await >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        server.metric(r#"celgate_reload_failures_total{kind="config"}"#).await,
        0,
        "no partial file was read"
    );
    assert_eq!(server.metric(r#"celgate_reloads_total{kind="config"}"#).await, 1);
    assert_eq!(status_of_check(&server, Some("cgt_beta")).await, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_certificate_state_is_counted_once_not_on_every_poll() {
    let server = TestServer::start(Options {
        reload_interval: Some(Duration::from_millis(20)),
        ..Options::default()
    })
    .await;
    let failures = || async { server.metric(r#"celgate_reload_failures_total{kind="certs"}"#).await };
    let key_path = server.cert_dir.join(celgate::server::tls::KEY_FILE);
    let key = std::fs::read(&key_path).expect("key");

    // Bad state 1: the key is empty.
    std::fs::File::create(&key_path).expect("truncate tls.key");
    let s = &server;
    eventually("the first failure", || async move {
        s.metric(r#"celgate_reload_failures_total{kind="certs"}"#).await >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(failures().await, 1, "15 polls of one bad state count once");

    // Bad state 2: the key is gone.
    std::fs::remove_file(&key_path).expect("remove tls.key");
    eventually("the second failure", || async move {
        s.metric(r#"celgate_reload_failures_total{kind="certs"}"#).await >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(failures().await, 2);

    // Back to the pair in force, then broken again the same way: a new bad state, counted.
    write_atomically(&key_path, &key);
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::fs::remove_file(&key_path).expect("remove tls.key");
    eventually("the third failure", || async move {
        s.metric(r#"celgate_reload_failures_total{kind="certs"}"#).await >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(failures().await, 3);
    assert_eq!(server.metric(r#"celgate_reloads_total{kind="certs"}"#).await, 0);
    server.stop().await;
}
