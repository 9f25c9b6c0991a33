//! The admission server end to end: `celgate::server::serve` on `127.0.0.1:0` with a development
//! CA in a temporary folder, driven by a real TLS client (tokio-rustls) over HTTP/1.1, and the
//! `celgate serve` binary for the SIGTERM drain.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use celgate::server::tls::{self, TlsVersion};
use celgate::server::PackSourceSpec;
use support::{
    admin_get, basic_pack_dir, client_config, eventually, fixture, fixture_json, fixture_uid, leaf_der, metric_value,
    request_head, write_atomically, Ca, Client, Conn, Options, TestServer, Traffic,
};

/// A review carrying `object` instead of the fixture's, with a new uid.
fn review_with_object(fixture_name: &str, uid: &str, object: &Value) -> Vec<u8> {
    let mut review = fixture_json(fixture_name);
    review["request"]["uid"] = json!(uid);
    review["request"]["object"] = object.clone();
    serde_json::to_vec(&review).expect("serializes")
}

fn response_of(review: &Value) -> &Value {
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1", "{review}");
    assert_eq!(review["kind"], "AdmissionReview", "{review}");
    &review["response"]
}

// ---------------------------------------------------------------------------------------------
// AdmissionReview round trips

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_round_trip_returns_the_uid_and_no_patch() {
    let server = TestServer::start_default().await;
    let client = server.client();
    for path in ["/validate", "/mutate"] {
        let review = client.review(path, &fixture("allow.json")).await;
        let response = response_of(&review);
        assert_eq!(response["uid"], fixture_uid("allow.json"), "{path}");
        assert_eq!(response["allowed"], true, "{path}: {review}");
        for absent in ["patch", "patchType", "warnings", "auditAnnotations"] {
            assert!(response.get(absent).is_none(), "{path}: unexpected {absent}: {review}");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_round_trip_is_a_403_naming_rule_and_control() {
    let server = TestServer::start_default().await;
    let client = server.client();
    for path in ["/validate", "/mutate"] {
        let review = client.review(path, &fixture("deny.json")).await;
        let response = response_of(&review);
        assert_eq!(response["uid"], fixture_uid("deny.json"));
        assert_eq!(response["allowed"], false, "{path}: {review}");
        assert_eq!(response["status"]["code"], 403, "{path}: {review}");
        let message = response["status"]["message"].as_str().expect("a message");
        assert!(message.contains("basic-no-privileged"), "{message}");
        assert!(message.contains("TSC CC6.1"), "{message}");
        assert!(message.contains("container app runs privileged"), "{message}");
        assert!(response.get("patch").is_none(), "{review}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_is_evaluated_the_same() {
    let server = TestServer::start_default().await;
    let client = server.client();
    let review = client.review("/validate", &fixture("dry-run.json")).await;
    let response = response_of(&review);
    assert_eq!(fixture_json("dry-run.json")["request"]["dryRun"], true);
    assert_eq!(response["uid"], fixture_uid("dry-run.json"));
    assert_eq!(response["allowed"], false, "{review}");
    assert_eq!(response["status"]["code"], 403, "{review}");
    let dry = response["status"]["message"].as_str().expect("a message");
    let wet = client.review("/validate", &fixture("deny.json")).await;
    assert_eq!(wet["response"]["status"]["message"].as_str(), Some(dry));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_round_trip_returns_a_json_patch_that_fixes_the_object() {
    let server = TestServer::start_default().await;
    let client = server.client();
    let review = client.review("/mutate", &fixture("patch.json")).await;
    let response = response_of(&review);
    assert_eq!(response["uid"], fixture_uid("patch.json"));
    assert_eq!(response["allowed"], true, "{review}");
    assert_eq!(response["patchType"], "JSONPatch", "{review}");
    let encoded = response["patch"].as_str().expect("patch is a base64 string");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("patch is base64");
    let ops: Value = serde_json::from_slice(&decoded).expect("patch is JSON");
    let container = "/spec/template/spec/containers/0/securityContext";
    assert_eq!(
        ops,
        json!([
            {"op": "add", "path": container, "value": {}},
            {"op": "add", "path": format!("{container}/allowPrivilegeEscalation"), "value": false},
        ])
    );

    // Applied to the object, the patch makes it pass.
    let mut object = fixture_json("patch.json")["request"]["object"].clone();
    let patch: json_patch::Patch = serde_json::from_value(ops).expect("RFC 6902 operations");
    json_patch::patch(&mut object, &patch.0).expect("the patch applies");
    let patched = review_with_object("patch.json", "0b6f3d1e-5a3c-4b8e-9d41-1a2b3c4d5e99", &object);
    for path in ["/validate", "/mutate"] {
        let again = client.review(path, &patched).await;
        assert_eq!(again["response"]["allowed"], true, "{path}: {again}");
        assert!(again["response"].get("patch").is_none(), "{path}: {again}");
        assert!(again["response"].get("warnings").is_none(), "{path}: {again}");
    }

    // The validating webhook admits a patch decision without a patch.
    let validated = client.review("/validate", &fixture("patch.json")).await;
    let response = response_of(&validated);
    assert_eq!(response["allowed"], true, "{validated}");
    assert!(response.get("patch").is_none(), "{validated}");
    assert!(response.get("patchType").is_none(), "{validated}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_rules_become_warnings_and_audit_rules_audit_annotations() {
    let server = TestServer::start_default().await;
    let client = server.client();

    let review = client.review("/validate", &fixture("warn.json")).await;
    let response = response_of(&review);
    assert_eq!(response["uid"], fixture_uid("warn.json"));
    assert_eq!(response["allowed"], true, "{review}");
    assert_eq!(
        response["warnings"],
        json!([r#"[basic-no-latest] Images are pinned: images ["registry.example.com/web:latest"] use :latest"#])
    );
    assert!(response.get("auditAnnotations").is_none(), "{review}");

    let review = client.review("/validate", &fixture("audit.json")).await;
    let response = response_of(&review);
    assert_eq!(response["uid"], fixture_uid("audit.json"));
    assert_eq!(response["allowed"], true, "{review}");
    assert_eq!(
        response["auditAnnotations"],
        json!({"basic-replicas": "replicas 20 exceed 10 (TSC A1.1)"})
    );
    assert!(response.get("warnings").is_none(), "{review}");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Bad requests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_reviews_are_400_with_a_well_formed_review() {
    let server = TestServer::start_default().await;
    let client = server.client();

    let malformed = client
        .post("/validate", b"{\"apiVersion\": \"admission.k8s")
        .await
        .expect("answered");
    assert_eq!(malformed.status, 400, "{}", malformed.text());
    let body = malformed.json();
    let response = response_of(&body);
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 400);
    assert_eq!(response["uid"], "");

    let beta = client
        .post("/validate", &fixture("v1beta1.json"))
        .await
        .expect("answered");
    assert_eq!(beta.status, 400, "{}", beta.text());
    let body = beta.json();
    let response = response_of(&body);
    assert_eq!(response["uid"], fixture_uid("v1beta1.json"), "{body}");
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 400);
    let message = response["status"]["message"].as_str().expect("a message");
    assert!(message.contains("admission.k8s.io/v1beta1"), "{message}");

    let empty = client
        .post("/mutate", &fixture("no-request.json"))
        .await
        .expect("answered");
    assert_eq!(empty.status, 400, "{}", empty.text());
    let body = empty.json();
    let response = response_of(&body);
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 400);
    assert!(
        response["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no request")),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_are_413() {
    let mut options = Options::default();
    options.limits.max_body_bytes = 1024;
    let server = TestServer::start(options).await;
    let client = server.client();

    // Declared too large.
    let big = fixture("allow.json");
    assert!(big.len() > 1024, "the fixture must exceed the limit");
    let response = client.post("/validate", &big).await.expect("answered");
    assert_eq!(response.status, 413, "{}", response.text());

    // Chunked, no length declared: too large once read.
    let mut conn = client.connect().await.expect("connect");
    let chunk = vec![b' '; 2048];
    let mut request = b"POST /v1/check HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
    request.extend_from_slice(&chunk);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    conn.write_raw(&request).await.expect("write");
    let response = conn.read_response().await.expect("answered");
    assert_eq!(response.status, 413, "{}", response.text());

    // Within the limit is served.
    let small = client
        .post("/v1/check", br#"{"object": {"apiVersion": "v1", "kind": "ConfigMap"}}"#)
        .await;
    assert_eq!(small.expect("answered").status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods() {
    let server = TestServer::start_default().await;
    let client = server.client();
    assert_eq!(client.get("/nowhere").await.expect("answered").status, 404);
    assert_eq!(client.get("/validate").await.expect("answered").status, 405);
    assert_eq!(client.post("/v1/packs", b"{}").await.expect("answered").status, 405);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Slow clients

/// Waits until `conn` is closed by the server and returns how long that took.
async fn time_to_close<S>(conn: &mut Conn<S>, since: Instant) -> (Duration, Vec<u8>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let seen = conn
        .wait_closed(Duration::from_secs(3))
        .await
        .unwrap_or_else(|e| panic!("a stalled client is not disconnected: {e}"));
    (since.elapsed(), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_while_normal_requests_succeed() {
    let timeout = Duration::from_millis(300);
    let mut options = Options::default();
    options.limits.header_read_timeout = timeout;
    options.limits.handshake_timeout = timeout;
    let server = TestServer::start(options).await;
    let client = server.client();

    // Each clock starts before the server can start its own, so `took >= timeout` is exact.
    // Half the headers, then silence.
    let mut half_headers = client.connect().await.expect("TLS handshake");
    let headers_since = Instant::now();
    half_headers
        .write_raw(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Ty")
        .await
        .expect("write");
    // Connected but never says hello.
    let silent_since = Instant::now();
    let mut silent = Conn::new(TcpStream::connect(server.addr).await.expect("connect"));
    // Starts a handshake (a TLS record header) and stalls.
    let stalled_since = Instant::now();
    let mut stalled = TcpStream::connect(server.addr).await.expect("connect");
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .expect("write");
    let mut stalled = Conn::new(stalled);

    // Meanwhile a normal request succeeds, well before the timeouts fire.
    let started = Instant::now();
    let review = client.review("/validate", &fixture("allow.json")).await;
    assert_eq!(review["response"]["allowed"], true);
    assert!(
        started.elapsed() < timeout,
        "normal request took {:?}",
        started.elapsed()
    );

    let (headers_closed, seen) = time_to_close(&mut half_headers, headers_since).await;
    let (silent_closed, _) = time_to_close(&mut silent, silent_since).await;
    let (stalled_closed, _) = time_to_close(&mut stalled, stalled_since).await;
    for (what, took) in [
        ("half headers", headers_closed),
        ("no handshake", silent_closed),
        ("stalled handshake", stalled_closed),
    ] {
        assert!(
            took >= timeout && took < timeout * 5,
            "{what}: disconnected after {took:?}, timeout {timeout:?}"
        );
    }
    // hyper may answer 408 before closing; it must not process the request.
    assert!(
        seen.is_empty() || seen.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&seen)
    );

    // And the server still serves.
    let review = client.review("/validate", &fixture("deny.json")).await;
    assert_eq!(review["response"]["allowed"], false);
    server.stop().await;
}

/// A client that completes the TLS handshake and then sends nothing is never disconnected:
/// `hyper_util::server::conn::auto` first waits for bytes to tell HTTP/1 from HTTP/2, with no
/// deadline, and hyper's HTTP/1 header-read timeout only starts after that (src/server/mod.rs,
/// `spawn_connection`: `auto::Builder::serve_connection` right after the handshake).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_client_after_handshake_is_cut_off() {
    let timeout = Duration::from_millis(300);
    let mut options = Options::default();
    options.limits.header_read_timeout = timeout;
    options.limits.handshake_timeout = timeout;
    let server = TestServer::start(options).await;
    let mut idle = server.client().connect().await.expect("TLS handshake");
    let since = Instant::now();
    let (took, _) = time_to_close(&mut idle, since).await;
    assert!(took < timeout * 5, "disconnected after {took:?}");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The check API and the packs listing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_api_answers_json_and_yaml_with_the_design_record() {
    let server = TestServer::start_default().await;
    let client = server.client();

    // JSON: the record, without source positions.
    let object = fixture_json("deny.json")["request"]["object"].clone();
    let body = serde_json::to_vec(&json!({"object": object, "operation": "CREATE"})).expect("json");
    let response = client.post("/v1/check", &body).await.expect("answered");
    assert_eq!(response.status, 200, "{}", response.text());
    let record = response.json();
    assert_eq!(record["source"], "request");
    assert_eq!(record["document"], 0);
    assert_eq!(record["apiVersion"], "apps/v1");
    assert_eq!(record["kind"], "Deployment");
    assert_eq!(record["name"], "web");
    assert_eq!(record["namespace"], "shop");
    assert_eq!(record["decision"], "deny");
    assert_eq!(record["warnings"], json!([]));
    assert_eq!(record["patch"], json!([]));
    let violations = record["violations"].as_array().expect("violations");
    assert_eq!(violations.len(), 1, "{record}");
    let v = &violations[0];
    assert_eq!(v["pack"], "basic");
    assert_eq!(v["rule"], "basic-no-privileged");
    assert_eq!(v["controls"], json!(["TSC CC6.1"]));
    assert_eq!(v["action"], "deny");
    assert_eq!(v["severity"], "critical");
    assert_eq!(
        v["pointer"],
        "/spec/template/spec/containers/0/securityContext/privileged"
    );
    assert_eq!(v["line"], Value::Null);
    assert_eq!(v["column"], Value::Null);

    // YAML, a bare manifest: positions in the body.
    let manifest =
        std::fs::read(support::manifest_dir().join("tests/fixtures/manifests/deployment.yaml")).expect("read");
    let response = client
        .send("POST", "/v1/check", Some("application/yaml"), &manifest)
        .await
        .expect("answered");
    assert_eq!(response.status, 200, "{}", response.text());
    let record = response.json();
    assert_eq!(record["decision"], "deny");
    let at: Vec<(String, Value, Value)> = record["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| {
            (
                v["rule"].as_str().unwrap_or("").to_owned(),
                v["line"].clone(),
                v["column"].clone(),
            )
        })
        .collect();
    assert_eq!(
        at,
        vec![
            ("basic-no-privileged".to_owned(), json!(18), json!(13)),
            ("basic-no-escalation".to_owned(), json!(17), json!(11)),
            ("basic-no-latest".to_owned(), json!(1), json!(1)),
        ]
    );
    assert_eq!(
        record["warnings"],
        json!([r#"[basic-no-latest] Images are pinned: images ["registry.example.com/proxy:latest"] use :latest"#])
    );

    // YAML with the request envelope: positions point into `object`.
    let wrapped = "operation: CREATE\n\
object:\n\
\x20 apiVersion: apps/v1\n\
\x20 kind: Deployment\n\
\x20 metadata: {name: web, namespace: shop}\n\
\x20 spec:\n\
\x20   template:\n\
\x20     spec:\n\
\x20       containers:\n\
\x20         - name: app\n\
\x20           image: registry.example.com/web:1.2.3\n\
\x20           securityContext:\n\
\x20             allowPrivilegeEscalation: false\n\
\x20             privileged: true\n";
    let response = client
        .send(
            "POST",
            "/v1/check",
            Some("application/yaml; charset=utf-8"),
            wrapped.as_bytes(),
        )
        .await
        .expect("answered");
    assert_eq!(response.status, 200, "{}", response.text());
    let record = response.json();
    assert_eq!(record["decision"], "deny", "{record}");
    assert_eq!(record["violations"][0]["rule"], "basic-no-privileged");
    assert_eq!(record["violations"][0]["line"], 14, "{record}");
    assert_eq!(record["violations"][0]["column"], 15, "{record}");

    // Unsupported media type, and garbage.
    let response = client
        .send("POST", "/v1/check", Some("text/plain"), b"kind: Pod")
        .await
        .expect("answered");
    assert_eq!(response.status, 415, "{}", response.text());
    assert_eq!(response.json()["code"], 415);
    for (content_type, garbage) in [
        ("application/json", &b"{\"object\": "[..]),
        ("application/yaml", &b"object: [unclosed"[..]),
        ("application/json", &b"{\"objekt\": {}}"[..]),
    ] {
        let response = client
            .send("POST", "/v1/check", Some(content_type), garbage)
            .await
            .expect("answered");
        assert_eq!(
            response.status,
            400,
            "{content_type} {:?}: {}",
            String::from_utf8_lossy(garbage),
            response.text()
        );
        assert!(response.json()["error"].is_string());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packs_listing_names_packs_and_rules() {
    let server = TestServer::start_default().await;
    let response = server.client().get("/v1/packs").await.expect("answered");
    assert_eq!(response.status, 200, "{}", response.text());
    let listing = response.json();
    let packs = listing["packs"].as_array().expect("packs");
    assert_eq!(packs.len(), 1, "{listing}");
    assert_eq!(packs[0]["name"], "basic");
    assert_eq!(packs[0]["version"], "1.0.0");
    assert_eq!(packs[0]["framework"], "celgate test fixture");
    let rules: Vec<(&str, &str)> = packs[0]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| (r["id"].as_str().unwrap_or(""), r["action"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        rules,
        vec![
            ("basic-no-privileged", "deny"),
            ("basic-no-latest", "warn"),
            ("basic-replicas", "audit"),
            ("basic-no-escalation", "patch"),
        ]
    );
    assert_eq!(packs[0]["rules"][0]["controls"], json!(["TSC CC6.1"]));
    assert_eq!(packs[0]["rules"][0]["title"], "Containers are not privileged");
    server.stop().await;

    // The shipped packs.
    let server = TestServer::start(Options {
        packs: PackSourceSpec::Embedded,
        ..Options::default()
    })
    .await;
    let shipped = celgate::engine::Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let listing = server.client().get("/v1/packs").await.expect("answered").json();
    let names: Vec<&str> = listing["packs"]
        .as_array()
        .expect("packs")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or(""))
        .collect();
    let expected: Vec<&str> = shipped.packs().iter().map(|p| p.metadata.name.as_str()).collect();
    assert!(!expected.is_empty());
    assert_eq!(names, expected);
    let rules: usize = listing["packs"]
        .as_array()
        .expect("packs")
        .iter()
        .map(|p| p["rules"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(rules, shipped.rule_count());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Admin port

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_what_was_sent() {
    let server = TestServer::start_default().await;
    let client = server.client();
    client.review("/validate", &fixture("allow.json")).await;
    client.review("/validate", &fixture("warn.json")).await;
    client.review("/validate", &fixture("deny.json")).await;
    let bad = client.post("/validate", b"not json").await.expect("answered");
    assert_eq!(bad.status, 400);
    client.review("/mutate", &fixture("patch.json")).await;
    assert_eq!(client.get("/v1/packs").await.expect("answered").status, 200);

    let ready = admin_get(server.admin, "/readyz").await.expect("readyz");
    assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
    assert_eq!(admin_get(server.admin, "/livez").await.expect("livez").status, 200);
    assert_eq!(admin_get(server.admin, "/nope").await.expect("admin 404").status, 404);

    let metrics = server.metrics().await;
    assert!(
        metrics.contains("celgate_http_requests_total{route=\"/validate\",code=\"200\"} 3\n"),
        "{metrics}"
    );
    for (series, count) in [
        (r#"celgate_http_requests_total{route="/validate",code="400"}"#, 1),
        (r#"celgate_http_requests_total{route="/mutate",code="200"}"#, 1),
        (r#"celgate_http_requests_total{route="/v1/packs",code="200"}"#, 1),
        (
            r#"celgate_reviews_total{route="/validate",decision="allow",tenant=""}"#,
            2,
        ),
        (
            r#"celgate_reviews_total{route="/validate",decision="deny",tenant=""}"#,
            1,
        ),
        (
            r#"celgate_reviews_total{route="/mutate",decision="patch",tenant=""}"#,
            1,
        ),
        (
            r#"celgate_decisions_total{pack="basic",rule="basic-no-privileged",action="deny",decision="deny",tenant=""}"#,
            1,
        ),
        (
            r#"celgate_decisions_total{pack="basic",rule="basic-no-latest",action="warn",decision="allow",tenant=""}"#,
            1,
        ),
        ("celgate_evaluation_duration_seconds_count", 4),
        ("celgate_in_flight_requests", 0),
    ] {
        assert_eq!(metric_value(&metrics, series), Some(count), "{series} in\n{metrics}");
    }
    for absent in [
        r#"celgate_http_requests_total{route="/v1/check""#,
        r#"celgate_http_requests_total{route="other""#,
        "celgate_reload_failures_total{",
    ] {
        assert!(!metrics.contains(absent), "{absent} in\n{metrics}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_future_stops_serving() {
    let server = TestServer::start_default().await;
    let client = server.client();
    let admin = server.admin;
    client.review("/validate", &fixture("allow.json")).await;
    server.stop().await;
    assert!(client.get("/v1/packs").await.is_err(), "the TLS listener is closed");
    assert!(
        admin_get(admin, "/readyz").await.is_err(),
        "the admin listener is closed"
    );
}

// ---------------------------------------------------------------------------------------------
// TLS

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_guards_the_admission_routes_and_the_check_api_keeps_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client_ca = Ca::new("apiserver client CA");
    let stranger_ca = Ca::new("some other CA");
    let ca_file = dir.path().join("client-ca.crt");
    std::fs::write(&ca_file, client_ca.pem()).expect("write client CA");
    let server = TestServer::start(Options {
        client_ca_file: Some(ca_file),
        ..Options::default()
    })
    .await;
    let body = fixture("allow.json");
    let with = |identity: Option<&support::Identity>| {
        Client::new(
            server.addr,
            client_config(&[&server.ca_pem], rustls::ALL_VERSIONS, identity),
        )
    };

    // Without a certificate the admission routes answer 401 and never evaluate.
    for route in ["/validate", "/mutate"] {
        let anonymous = with(None).post(route, &body).await.expect("answered");
        assert_eq!(anonymous.status, 401, "{route} without a client certificate");
        assert!(anonymous.text().contains("client certificate"), "{}", anonymous.text());
    }
    assert_eq!(
        server
            .metric(r#"celgate_reviews_total{route="/validate",decision="allow",tenant=""}"#)
            .await,
        0
    );
    // The check API and the pack listing do not need one (they use bearer tokens when tenants
    // are configured).
    let check = with(None)
        .post(
            "/v1/check",
            br#"{"object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}}"#,
        )
        .await
        .expect("check answered");
    assert_eq!(check.status, 200, "{}", check.text());
    assert_eq!(with(None).get("/v1/packs").await.expect("packs").status, 200);

    let stranger = stranger_ca.client_identity("stranger");
    let refused = with(Some(&stranger)).post("/validate", &body).await;
    assert!(refused.is_err(), "certificate from another CA: {refused:?}");
    let apiserver = client_ca.client_identity("kube-apiserver");
    for route in ["/validate", "/mutate"] {
        let response = with(Some(&apiserver))
            .post(route, &body)
            .await
            .expect("mTLS client is served");
        assert_eq!(response.status, 200, "{route}");
        assert_eq!(response.json()["response"]["allowed"], true);
    }
    let check = with(Some(&apiserver))
        .post(
            "/v1/check",
            br#"{"object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}}"#,
        )
        .await
        .expect("check answered");
    assert_eq!(check.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_versions_follow_the_minimum() {
    let tls12_only: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    let tls13_only: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

    let default = TestServer::start_default().await;
    let conn = Client::new(default.addr, client_config(&[&default.ca_pem], tls12_only, None))
        .connect()
        .await
        .expect("TLS 1.2 is accepted by default");
    assert_eq!(conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    default.stop().await;

    let strict = TestServer::start(Options {
        min_version: TlsVersion::V1_3,
        ..Options::default()
    })
    .await;
    let refused = Client::new(strict.addr, client_config(&[&strict.ca_pem], tls12_only, None))
        .post("/validate", &fixture("allow.json"))
        .await;
    assert!(refused.is_err(), "a TLS 1.2-only client is refused: {refused:?}");
    let modern = Client::new(strict.addr, client_config(&[&strict.ca_pem], tls13_only, None));
    let mut conn = modern.connect().await.expect("TLS 1.3 handshake");
    assert_eq!(conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    let response = conn
        .request(
            "POST",
            "/validate",
            Some("application/json"),
            &fixture("allow.json"),
            true,
        )
        .await
        .expect("served over TLS 1.3");
    assert_eq!(response.status, 200);
    strict.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Reloads

const RELOAD_INTERVAL: Duration = Duration::from_millis(50);

/// Lays out a certificate folder as a mounted Kubernetes Secret: `tls.crt` and `tls.key` are
/// symlinks through `..data`, which points at a timestamped folder with the files.
#[cfg(unix)]
fn mount_secret(dir: &Path, version: &str) {
    let data = dir.join(version);
    tls::generate_service_pair(&data, &[support::SERVER_NAME.to_owned()]).expect("service pair");
    let link = dir.join("..data_tmp");
    std::os::unix::fs::symlink(version, &link).expect("symlink");
    // rename(2) replaces `..data` atomically: both files change at once.
    std::fs::rename(&link, dir.join("..data")).expect("swap ..data");
    for file in [tls::CERT_FILE, tls::KEY_FILE, tls::CA_CERT_FILE] {
        let path = dir.join(file);
        if std::fs::symlink_metadata(&path).is_err() {
            std::os::unix::fs::symlink(format!("..data/{file}"), &path).expect("symlink");
        }
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_while_requests_flow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = dir.path().join("tls");
    std::fs::create_dir(&served).expect("mkdir");
    mount_secret(&served, "..2025_01_01_00_00_00.000000001");
    let old_ca = std::fs::read(served.join(tls::CA_CERT_FILE)).expect("old CA");
    let old_cert = leaf_der(&served.join(tls::CERT_FILE));
    let server = TestServer::start(Options {
        cert_dir: Some(served.clone()),
        reload_interval: Some(RELOAD_INTERVAL),
        ..Options::default()
    })
    .await;

    // The next pair, from another CA; the client trusts both.
    let next = "..2025_06_01_00_00_00.000000002";
    tls::generate_service_pair(&served.join(next), &[support::SERVER_NAME.to_owned()]).expect("next pair");
    let new_ca = std::fs::read(served.join(next).join(tls::CA_CERT_FILE)).expect("new CA");
    let new_cert = leaf_der(&served.join(next).join(tls::CERT_FILE));
    let client = Client::new(
        server.addr,
        client_config(&[&old_ca, &new_ca], rustls::ALL_VERSIONS, None),
    );

    // A kept-alive connection from before the rotation, and traffic on new connections.
    let mut kept = client.connect().await.expect("connect");
    let before = kept
        .request(
            "POST",
            "/validate",
            Some("application/json"),
            &fixture("allow.json"),
            false,
        )
        .await
        .expect("served");
    assert_eq!(before.status, 200);
    assert_eq!(kept.peer_certificate(), old_cert);
    let traffic = Traffic::start(client.clone(), "/validate", fixture("allow.json"));
    tokio::time::sleep(Duration::from_millis(30)).await;

    let link = served.join("..data_tmp");
    std::os::unix::fs::symlink(next, &link).expect("symlink");
    std::fs::rename(&link, served.join("..data")).expect("swap ..data");

    let rotated = &new_cert;
    let client_ref = &client;
    eventually("new connections to get the new certificate", || async move {
        client_ref
            .get("/v1/packs")
            .await
            .is_ok_and(|r| r.peer_certificate == *rotated)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let samples = traffic.stop().await;

    // The old connection keeps its pair.
    let after = kept
        .request(
            "POST",
            "/validate",
            Some("application/json"),
            &fixture("allow.json"),
            true,
        )
        .await
        .expect("the old connection still works");
    assert_eq!(after.status, 200);
    assert_eq!(kept.peer_certificate(), old_cert);

    let mut seen_new = false;
    let (mut old_count, mut new_count) = (0, 0);
    for (i, sample) in samples.iter().enumerate() {
        let response = sample
            .outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("request {i} of {} failed during rotation: {e}", samples.len()));
        assert_eq!(response.status, 200, "request {i}: {}", response.text());
        assert_eq!(response.json()["response"]["allowed"], true);
        if response.peer_certificate == new_cert {
            seen_new = true;
            new_count += 1;
        } else {
            assert_eq!(
                response.peer_certificate, old_cert,
                "request {i}: an unknown certificate"
            );
            assert!(!seen_new, "request {i}: the old certificate after the new one");
            old_count += 1;
        }
    }
    assert!(old_count > 0 && new_count > 0, "old {old_count}, new {new_count}");
    assert_eq!(server.metric(r#"celgate_reloads_total{kind="certs"}"#).await, 1);
    assert_eq!(server.metric(r#"celgate_reload_failures_total{kind="certs"}"#).await, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_written_pair_is_refused_and_the_old_pair_keeps_serving() {
    let server = TestServer::start(Options {
        reload_interval: Some(RELOAD_INTERVAL),
        ..Options::default()
    })
    .await;
    let old_cert = leaf_der(&server.cert_dir.join(tls::CERT_FILE));
    let other = tempfile::tempdir().expect("tempdir");
    tls::generate_service_pair(other.path(), &[support::SERVER_NAME.to_owned()]).expect("new pair");
    let new_ca = std::fs::read(other.path().join(tls::CA_CERT_FILE)).expect("new CA");
    let new_cert = leaf_der(&other.path().join(tls::CERT_FILE));
    let client = Client::new(
        server.addr,
        client_config(&[&server.ca_pem, &new_ca], rustls::ALL_VERSIONS, None),
    );

    // The new certificate arrives, the key is cut short.
    let cert_path = server.cert_dir.join(tls::CERT_FILE);
    let key_path = server.cert_dir.join(tls::KEY_FILE);
    write_atomically(
        &cert_path,
        &std::fs::read(other.path().join(tls::CERT_FILE)).expect("read"),
    );
    std::fs::File::create(&key_path).expect("truncate tls.key");
    let server_ref = &server;
    eventually("a certificate reload failure", || async move {
        server_ref
            .metric(r#"celgate_reload_failures_total{kind="certs"}"#)
            .await
            >= 1
    })
    .await;
    for _ in 0..3 {
        let response = client
            .post("/validate", &fixture("allow.json"))
            .await
            .expect("still served");
        assert_eq!(response.status, 200);
        assert_eq!(response.peer_certificate, old_cert, "the old pair keeps serving");
    }
    assert_eq!(server.metric(r#"celgate_reloads_total{kind="certs"}"#).await, 0);

    // The key is completed: the new pair is picked up.
    write_atomically(
        &key_path,
        &std::fs::read(other.path().join(tls::KEY_FILE)).expect("read"),
    );
    let rotated = &new_cert;
    let client_ref = &client;
    eventually("the completed pair to be served", || async move {
        client_ref
            .get("/v1/packs")
            .await
            .is_ok_and(|r| r.peer_certificate == *rotated)
    })
    .await;
    assert_eq!(server.metric(r#"celgate_reloads_total{kind="certs"}"#).await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_pack_keeps_the_last_good_engine_until_fixed() {
    let packs = tempfile::tempdir().expect("tempdir");
    let pack_file = packs.path().join("pack.yaml");
    let good = std::fs::read_to_string(basic_pack_dir().join("pack.yaml")).expect("basic pack");
    std::fs::write(&pack_file, &good).expect("write pack");
    let server = TestServer::start(Options {
        packs: PackSourceSpec::Paths(vec![packs.path().to_owned()]),
        reload_interval: Some(RELOAD_INTERVAL),
        ..Options::default()
    })
    .await;
    let client = server.client();
    let traffic = Traffic::start(client.clone(), "/validate", fixture("deny.json"));

    // A rule that does not compile.
    let broken = good.replace(
        "validate: \"object.spec.replicas <= params.maxReplicas\"",
        "validate: \"object.spec.replicas <= \"",
    );
    assert_ne!(broken, good);
    write_atomically(&pack_file, broken.as_bytes());
    let server_ref = &server;
    eventually("a pack reload failure", || async move {
        server_ref
            .metric(r#"celgate_reload_failures_total{kind="packs"}"#)
            .await
            >= 1
    })
    .await;
    let review = client.review("/validate", &fixture("deny.json")).await;
    assert_eq!(review["response"]["allowed"], false, "the last good packs decide");
    assert_eq!(review["response"]["status"]["code"], 403);

    // The fix: a new version where privileged containers only warn.
    let fixed = good
        .replace("version: 1.0.0", "version: 1.0.1")
        .replace("action: deny", "action: warn");
    write_atomically(&pack_file, fixed.as_bytes());
    let client_ref = &client;
    eventually("the fixed pack to be served", || async move {
        client_ref
            .get("/v1/packs")
            .await
            .is_ok_and(|r| r.json()["packs"][0]["version"] == "1.0.1")
    })
    .await;
    let review = client.review("/validate", &fixture("deny.json")).await;
    assert_eq!(review["response"]["allowed"], true, "{review}");
    assert!(
        review["response"]["warnings"][0]
            .as_str()
            .is_some_and(|w| w.starts_with("[basic-no-privileged]")),
        "{review}"
    );
    let samples = traffic.stop().await;

    // Every request got a decision: denials from the good (and kept) engine, then warnings.
    let mut fixed_seen = false;
    for (i, sample) in samples.iter().enumerate() {
        let response = sample
            .outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("request {i} failed during the reload: {e}"));
        assert_eq!(response.status, 200, "request {i}: {}", response.text());
        let review = response.json();
        assert_eq!(review["response"]["uid"], fixture_uid("deny.json"));
        if review["response"]["allowed"] == true {
            fixed_seen = true;
        } else {
            assert!(!fixed_seen, "request {i}: denied after the fixed pack was served");
            assert_eq!(review["response"]["status"]["code"], 403, "request {i}: {review}");
        }
    }
    assert_eq!(server.metric(r#"celgate_reload_failures_total{kind="packs"}"#).await, 1);
    assert_eq!(server.metric(r#"celgate_reloads_total{kind="packs"}"#).await, 1);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The binary: SIGTERM drain

/// Kills the child if the test ends early.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The `fields` of the first JSON log line whose message is `message`.
async fn wait_for_log(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: &mut Vec<String>,
    message: &str,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(remaining, lines.recv())
            .await
            .unwrap_or_else(|_| panic!("no {message:?} log line; stderr so far:\n{}", seen.join("\n")))
            .unwrap_or_else(|| panic!("stderr closed before {message:?}:\n{}", seen.join("\n")));
        seen.push(line.clone());
        if let Ok(event) = serde_json::from_str::<Value>(&line) {
            if event["fields"]["message"] == message {
                return event["fields"].clone();
            }
        }
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_exits_zero() {
    use std::io::BufRead;

    let dir = tempfile::tempdir().expect("tempdir");
    let cert_dir = dir.path().join("certs");
    let grace = Duration::from_secs(5);
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_celgate"));
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--cert-dir")
        .arg(&cert_dir)
        .arg("--packs")
        .arg(basic_pack_dir())
        .env("CELGATE_SHUTDOWN_GRACE", grace.as_secs().to_string())
        .env("CELGATE_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for var in [
        "CELGATE_FRAMEWORKS",
        "CELGATE_MIN_TLS_VERSION",
        "CELGATE_CLIENT_CA",
        "CELGATE_DNS_NAMES",
        "CELGATE_MAX_BODY_BYTES",
        "CELGATE_MAX_CONCURRENT_EVALUATIONS",
        "CELGATE_RELOAD_INTERVAL",
    ] {
        command.env_remove(var);
    }
    let mut child = ChildGuard(command.spawn().expect("celgate serve starts"));
    let pid = child.0.id();
    let stderr = child.0.stderr.take().expect("stderr");
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let serving = wait_for_log(&mut lines, &mut seen, "celgate serving").await;
    let addr: std::net::SocketAddr = serving["listen"].as_str().expect("listen").parse().expect("address");
    let admin: std::net::SocketAddr = serving["admin"].as_str().expect("admin").parse().expect("address");
    assert_ne!(addr.port(), 0);
    let ca = std::fs::read(cert_dir.join(tls::CA_CERT_FILE)).expect("the development CA was written");
    let client = Client::new(addr, client_config(&[&ca], rustls::ALL_VERSIONS, None));
    assert_eq!(admin_get(admin, "/readyz").await.expect("readyz").status, 200);

    // A request in flight: headers and half the body sent.
    let body = fixture("allow.json");
    let (first, rest) = body.split_at(body.len() / 2);
    let mut in_flight = client.connect().await.expect("connect");
    let mut start = request_head("POST", "/validate", Some("application/json"), body.len(), false).into_bytes();
    start.extend_from_slice(first);
    in_flight.write_raw(&start).await.expect("write");
    eventually("the request to be in flight", || async move {
        admin_get(admin, "/metrics")
            .await
            .is_ok_and(|r| metric_value(&r.text(), "celgate_in_flight_requests") == Some(1))
    })
    .await;

    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());

    // Not ready any more (or the admin port is gone); no new connections.
    eventually("/readyz to stop answering 200", || async move {
        admin_get(admin, "/readyz").await.map_or(true, |r| r.status != 200)
    })
    .await;
    eventually("the TLS listener to close", || async move {
        TcpStream::connect(addr).await.is_err()
    })
    .await;

    // The in-flight request completes.
    in_flight.write_raw(rest).await.expect("write the rest");
    let response = match in_flight.read_response().await {
        Ok(response) => response,
        Err(e) => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            while let Ok(line) = lines.try_recv() {
                seen.push(line);
            }
            panic!(
                "the in-flight request is not answered: {e}; stderr:\n{}",
                seen.join("\n")
            );
        }
    };
    assert_eq!(response.status, 200, "{}", response.text());
    let review = response.json();
    assert_eq!(review["response"]["uid"], fixture_uid("allow.json"));
    assert_eq!(review["response"]["allowed"], true);

    // The process exits 0 within the grace period.
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            signalled.elapsed() < grace,
            "still running {:?} after SIGTERM",
            signalled.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    wait_for_log(&mut lines, &mut seen, "celgate stopped").await;
    assert!(
        seen.iter().any(|l| l.contains("SIGTERM received")),
        "{}",
        seen.join("\n")
    );
    // The review's log line: one JSON line whose span carries what was judged and how (written
    // by the background log writer, flushed before exit), never the document's contents.
    let reviews: Vec<Value> = seen
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["fields"]["message"] == "admission review")
        .collect();
    assert_eq!(reviews.len(), 1, "{}", seen.join("\n"));
    let span = &reviews[0]["span"];
    assert_eq!(span["name"], "review");
    assert_eq!(span["route"], "/validate");
    assert_eq!(span["uid"], fixture_uid("allow.json"));
    assert_eq!(span["kind"], "Deployment");
    assert_eq!(span["namespace"], "shop");
    assert_eq!(span["decision"], "allow");
    assert!(span["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{span}");
    assert!(
        reviews[0].get("spans").is_none(),
        "the span is not repeated: {}",
        reviews[0]
    );
    let image = "registry.example.com/web:1.2.3";
    assert!(
        body.windows(image.len()).any(|w| w == image.as_bytes()),
        "the fixture holds the image"
    );
    assert!(
        seen.iter()
            .all(|l| !l.contains(image) && !l.contains("alice@example.com")),
        "document contents or user names were logged:\n{}",
        seen.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_state() {
    let server = TestServer::start_default().await;
    assert!(server.state.is_ready());
    assert_eq!(admin_get(server.admin, "/readyz").await.expect("readyz").status, 200);
    server.state.draining.store(true, std::sync::atomic::Ordering::Release);
    let response = admin_get(server.admin, "/readyz").await.expect("readyz");
    assert_eq!((response.status, response.text().as_str()), (503, "not ready\n"));
    assert_eq!(admin_get(server.admin, "/livez").await.expect("livez").status, 200);
    let state = Arc::clone(&server.state);
    server.stop().await;
    assert!(!state.is_ready());
}
