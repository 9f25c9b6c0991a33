//! Tenancy over real TLS: bearer tokens on the check API (no token 401, another tenant 403, never
//! another tenant's params or exceptions), admission resolving the tenant from the namespace, and
//! config reloads that swap the tenancy whole or keep the last good one.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use celgate::tenant::token;
use support::{eventually, fixture_json, write_atomically, Options, TestServer};

const TOKEN_A: &str = "cgt_server-test-token-tenant-a";
const TOKEN_B: &str = "cgt_server-test-token-tenant-b";
const RELOAD_INTERVAL: Duration = Duration::from_millis(50);

fn config(beta_mode: &str) -> String {
    format!(
        r"
environments: [{{name: production}}, {{name: staging}}]
tenants:
  - name: acme
    namespaces: ['acme-*']
    environments: {{production: ['acme-*']}}
    params: {{maxReplicas: 50, costCenter: acme-cc-1}}
    tokens: [{{name: ci, sha256: {a}}}]
  - name: beta
    namespaces: ['beta-*']
    modes: {{basic: {beta_mode}}}
    params: {{maxReplicas: 2, costCenter: beta-secret-cc}}
    tokens: [{{sha256: {b}}}]
exceptions:
  - id: EXC-BETA
    rules: [basic-replicas]
    scope: {{tenants: [beta]}}
    reason: beta-only migration
    owner: beta-owner@example.com
    expires: {expires}
",
        a = token::to_hex(&token::hash(TOKEN_A)),
        b = token::to_hex(&token::hash(TOKEN_B)),
        expires = (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%d"),
    )
}

async fn start(dir: &Path, beta_mode: &str) -> TestServer {
    let path = dir.join("celgate.yaml");
    std::fs::write(&path, config(beta_mode)).expect("write config");
    TestServer::start(Options {
        config_file: Some(path),
        reload_interval: Some(RELOAD_INTERVAL),
        ..Options::default()
    })
    .await
}

fn deployment(namespace: &str, replicas: i64, privileged: bool) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{
            "name": "app", "image": "nginx:1.27",
            "securityContext": {"privileged": privileged, "allowPrivilegeEscalation": false}
        }]}}}
    })
}

async fn check(server: &TestServer, bearer: Option<&str>, body: &Value) -> support::Response {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    server
        .client()
        .send_with_headers("POST", "/v1/check", &headers, body.to_string().as_bytes())
        .await
        .expect("request answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_api_tokens_isolate_tenants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "enforce").await;
    let body = json!({"object": deployment("acme-shop", 20, false)});

    let none = check(&server, None, &body).await;
    assert_eq!(none.status, 401, "{}", none.text());
    assert_eq!(none.header("www-authenticate"), Some("Bearer realm=\"celgate\""));
    let wrong = check(&server, Some("cgt_not-a-token"), &body).await;
    assert_eq!(wrong.status, 401);

    let mut as_beta = body.clone();
    as_beta["tenant"] = json!("beta");
    let other = check(&server, Some(TOKEN_A), &as_beta).await;
    assert_eq!(other.status, 403, "{}", other.text());
    assert!(other.text().contains("cannot act as tenant 'beta'"), "{}", other.text());

    // A caller cannot pick an environment its tenant has no namespaces in (a laxer one).
    let mut in_staging = body.clone();
    in_staging["environment"] = json!("staging");
    let laxer = check(&server, Some(TOKEN_A), &in_staging).await;
    assert_eq!(laxer.status, 403, "{}", laxer.text());

    let own = check(&server, Some(TOKEN_A), &body).await;
    assert_eq!(own.status, 200, "{}", own.text());
    let record = own.json();
    assert_eq!(record["tenant"], "acme");
    assert_eq!(record["decision"], "allow", "acme's maxReplicas is 50: {record}");

    // The same object judged as beta (its token, its params: maxReplicas 2, excepted).
    let replicas_finding = |record: &Value| {
        record["violations"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["rule"] == "basic-replicas"))
            .cloned()
            .expect("beta's limit applies")
    };
    let beta = check(&server, Some(TOKEN_B), &body).await.json();
    assert_eq!(beta["tenant"], "beta");
    let replicas = replicas_finding(&beta);
    assert_eq!(replicas["message"], "replicas 20 exceed 2");
    assert_eq!(
        replicas["exception"],
        Value::Null,
        "acme's object: beta's exception does not apply there"
    );
    let in_own_namespace = json!({"object": deployment("beta-shop", 20, false)});
    let beta_own = check(&server, Some(TOKEN_B), &in_own_namespace).await.json();
    assert_eq!(replicas_finding(&beta_own)["exception"]["id"], "EXC-BETA");
    assert!(
        !own.text().contains("beta"),
        "acme's answer mentions beta: {}",
        own.text()
    );

    // Packs listing: only the caller's own params and exceptions.
    let packs = server
        .client()
        .send_with_headers(
            "GET",
            "/v1/packs",
            &[("Authorization", &format!("Bearer {TOKEN_A}"))],
            b"",
        )
        .await
        .expect("answered");
    assert_eq!(packs.status, 200);
    let text = packs.text();
    assert!(text.contains("acme-cc-1"), "{text}");
    assert!(!text.contains("beta"), "another tenant's data leaked: {text}");
    let unauthenticated = server.client().get("/v1/packs").await.expect("answered");
    assert_eq!(unauthenticated.status, 401);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_takes_the_tenant_from_the_namespace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "warn").await;
    let review = |namespace: &str, uid: &str| {
        let mut review = fixture_json("allow.json");
        review["request"]["uid"] = json!(uid);
        review["request"]["namespace"] = json!(namespace);
        review["request"]["object"] = deployment(namespace, 1, true);
        serde_json::to_vec(&review).expect("serializes")
    };
    let acme = server
        .client()
        .review("/validate", &review("acme-shop", "u-acme"))
        .await;
    assert_eq!(acme["response"]["allowed"], false, "acme enforces: {acme}");
    let message = acme["response"]["status"]["message"].as_str().unwrap_or("");
    assert!(message.contains("(tenant acme, environment production)"), "{message}");

    let beta = server
        .client()
        .review("/validate", &review("beta-shop", "u-beta"))
        .await;
    let response = &beta["response"];
    assert_eq!(response["allowed"], true, "beta runs basic in warn mode: {beta}");
    assert_eq!(response["auditAnnotations"]["tenant"], "beta");
    assert!(
        response["warnings"].as_array().is_some_and(|w| w
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("basic-no-privileged")))),
        "{beta}"
    );
    let metrics = server.metrics().await;
    assert!(metrics.contains(r#"tenant="beta""#), "{metrics}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_reload_swaps_tenancy_and_keeps_the_last_good_on_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path(), "enforce").await;
    let path = dir.path().join("celgate.yaml");
    let body = json!({"object": deployment("beta-shop", 1, true)});
    assert_eq!(check(&server, Some(TOKEN_B), &body).await.json()["decision"], "deny");

    // A broken config: an exception for a rule that does not exist.
    let broken = config("enforce").replace("rules: [basic-replicas]", "rules: [basic-gone]");
    write_atomically(&path, broken.as_bytes());
    let s = &server;
    eventually("a config reload failure", || async move {
        s.metric(r#"celgate_reload_failures_total{kind="config"}"#).await >= 1
    })
    .await;
    assert_eq!(
        check(&server, Some(TOKEN_B), &body).await.json()["decision"],
        "deny",
        "the last good tenancy keeps serving"
    );

    // A good change takes effect whole: beta now audits the pack.
    write_atomically(&path, config("audit").as_bytes());
    eventually("beta in audit mode", || async move {
        check(s, Some(TOKEN_B), &json!({"object": deployment("beta-shop", 1, true)}))
            .await
            .json()["decision"]
            == "allow"
    })
    .await;
    assert_eq!(server.metric(r#"celgate_reloads_total{kind="config"}"#).await, 1);
    server.stop().await;
}
