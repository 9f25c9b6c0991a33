//! The red team's attacks on `celgate serve` (issue 15), each over real TLS with a real client:
//! YAML alias bombs, bodies that stall, more bodies than the memory budget, more connections
//! than the cap, reviews with thousands of findings, a `?timeout=` that overflowed, probes while
//! the workers are busy, and early answers received whole by curl over HTTP/2 and HTTP/1.1 (curl is required where
//! `CELGATE_REQUIRE_CLIENTS=1`, as in `.ci/run`).
//! Memory and time figures are measured by `scripts/redteam-soak.sh`, not asserted here.

mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use celgate::config::ServeConfig;
use support::{admin_get, fixture_json, request_head, Options, TestServer};

/// A Deployment with `containers` privileged containers (each fails `basic-no-privileged`).
fn deployment(containers: usize) -> Value {
    let list: Vec<Value> = (0..containers)
        .map(|i| json!({"name": format!("c{i}"), "image": "nginx:1.27", "securityContext": {"privileged": true}}))
        .collect();
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "template": {"spec": {"containers": list}}}
    })
}

/// A YAML body of about 100 KB whose aliases to one long string expand to about 100 MB.
fn alias_bomb() -> String {
    let mut text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: bomb}}\nanchor: &s \"{}\"\ndata:\n",
        "x".repeat(100_000)
    );
    for i in 0..1000 {
        let _ = writeln!(text, "  k{i}: *s");
    }
    text
}

fn limits() -> celgate::config::Limits {
    ServeConfig::default().limits
}

// ---------------------------------------------------------------------------------------------
// Item 1: bounded by bytes, not nodes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yaml_alias_bomb_is_a_400_naming_the_limit() {
    let server = TestServer::start_default().await;
    let response = server
        .client()
        .send("POST", "/v1/check", Some("application/yaml"), alias_bomb().as_bytes())
        .await
        .expect("answered");
    assert_eq!(response.status, 400, "{}", response.text());
    let message = response.json()["error"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("limits.maxBodyBytes"), "{message}");
    assert!(message.contains("aliases expand"), "{message}");
    // The server still answers.
    let ok = server.client().get("/v1/packs").await.expect("answered");
    assert_eq!(ok.status, 200);
    server.stop().await;
}

#[test]
fn celgate_check_refuses_an_alias_bomb_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bomb.yaml");
    std::fs::write(&file, alias_bomb()).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_celgate"))
        .args(["check", "--packs"])
        .arg(support::basic_pack_dir())
        .arg(&file)
        .output()
        .expect("celgate runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(2), "{all}");
    assert!(all.contains("the expansion limit"), "{all}");
}

// ---------------------------------------------------------------------------------------------
// Item 3: a deadline on bodies, a memory budget, a connection cap

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_a_408_within_the_deadline() {
    let mut limits = limits();
    limits.body_read_timeout = Duration::from_millis(500);
    let server = TestServer::start(Options {
        limits,
        ..Options::default()
    })
    .await;
    let mut conn = server.client().connect().await.expect("connect");
    let head = request_head("POST", "/validate", Some("application/json"), 100_000, true);
    conn.write_raw(head.as_bytes()).await.expect("head");
    conn.write_raw(&[b' '; 1000]).await.expect("part of the body");
    let started = Instant::now();
    let response = conn.read_response().await.expect("an answer");
    assert_eq!(response.status, 408, "{}", response.text());
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(
        response.text().contains("limits.bodyReadTimeoutMs"),
        "{}",
        response.text()
    );
    assert_eq!(server.metric("celgate_in_flight_requests").await, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_beyond_the_memory_budget_wait_then_get_503() {
    let mut limits = limits();
    limits.max_body_bytes = 600_000;
    limits.max_buffered_bytes = 1_000_000;
    limits.body_read_timeout = Duration::from_millis(800);
    let server = TestServer::start(Options {
        limits,
        ..Options::default()
    })
    .await;
    // One stalled body holds 600 KB of the 1 MB budget until its deadline.
    let mut stalled = server.client().connect().await.expect("connect");
    let head = request_head("POST", "/validate", Some("application/json"), 600_000, true);
    stalled.write_raw(head.as_bytes()).await.expect("head");
    stalled.write_raw(b"{").await.expect("a byte");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        server.state.bodies.available(),
        1_000_000usize.div_ceil(1024) * 1024 - 600_000usize.div_ceil(1024) * 1024
    );
    // A second one of the same size does not fit: it waits (here within the 450 ms its
    // webhook timeout leaves, less than the stalled body's deadline), then is refused with 503.
    let mut second = server.client().connect().await.expect("connect");
    let head_short = request_head(
        "POST",
        "/validate?timeout=500ms",
        Some("application/json"),
        600_000,
        true,
    );
    second.write_raw(head_short.as_bytes()).await.expect("head");
    let response = second.read_response().await.expect("an answer");
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(response.header("retry-after"), Some("1"));
    assert!(
        response.text().contains("limits.maxBufferedBytes"),
        "{}",
        response.text()
    );
    // After the stalled body's deadline, the budget is whole again and a review fits.
    let first = stalled.read_response().await.expect("the stalled body's answer");
    assert_eq!(first.status, 408);
    let review = server
        .client()
        .review("/validate", &support::fixture("allow.json"))
        .await;
    assert_eq!(review["response"]["allowed"], true);
    assert_eq!(server.state.bodies.available(), server.state.bodies.total());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let mut limits = limits();
    limits.max_connections = 2;
    let server = TestServer::start(Options {
        limits,
        ..Options::default()
    })
    .await;
    let client = server.client();
    let first = client.connect().await.expect("first");
    let _second = client.connect().await.expect("second");
    let third = tokio::time::timeout(Duration::from_millis(500), client.connect()).await;
    assert!(third.is_err(), "a third connection was served beyond the cap of 2");
    drop(first);
    let third = tokio::time::timeout(Duration::from_secs(3), client.connect()).await;
    assert!(
        matches!(third, Ok(Ok(_))),
        "the third connection is served once one closes"
    );
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Item 4: large valid reviews are bounded

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_findings_are_capped_with_counts() {
    let server = TestServer::start_default().await;
    let mut review = fixture_json("allow.json");
    review["request"]["object"] = deployment(3000);
    let body = serde_json::to_vec(&review).expect("serializes");
    let answer = server.client().review("/validate", &body).await;
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    let message = answer["response"]["status"]["message"].as_str().expect("a message");
    assert!(message.contains("more findings not shown"), "{message}");
    assert!(message.len() < 16_384, "{} bytes", message.len());

    let check = server
        .client()
        .post("/v1/check", &serde_json::to_vec(&deployment(3000)).expect("serializes"))
        .await
        .expect("answered");
    assert_eq!(check.status, 200, "{}", check.text());
    let record = check.json();
    let findings = record["findings"]
        .as_array()
        .or_else(|| record["violations"].as_array());
    let kept = findings.map_or(0, Vec::len);
    assert!(kept <= celgate::service::caps::PER_REQUEST, "{kept} findings kept");
    let omitted = &record["findingsOmitted"];
    assert_eq!(
        omitted["byRule"]["basic-no-privileged"],
        3000 - celgate::service::caps::PER_RULE,
        "{omitted}"
    );
    assert!(check.body.len() < 512 * 1024, "{} bytes", check.body.len());
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Item 5: no panic from any input

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowing_webhook_timeout_is_answered_and_leaves_no_request_in_flight() {
    let server = TestServer::start_default().await;
    let path = "/validate?timeout=10000000000000000000s10000000000000000000s";
    let review = server.client().review(path, &support::fixture("allow.json")).await;
    assert_eq!(review["response"]["allowed"], true, "{review}");
    assert_eq!(server.metric("celgate_in_flight_requests").await, 0);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Item 6: probes are never starved

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn probes_answer_while_large_yaml_bodies_are_judged() {
    let mut limits = limits();
    limits.max_concurrent_evaluations = 1;
    let server = TestServer::start(Options {
        limits,
        ..Options::default()
    })
    .await;
    // About 400 KB of YAML: a Deployment with 8 000 containers.
    let yaml = celgate::source::to_yaml_string(&deployment(8_000));
    let client = server.client();
    let mut load = Vec::new();
    for _ in 0..3 {
        let client = client.clone();
        let yaml = yaml.clone();
        load.push(tokio::spawn(async move {
            client
                .send("POST", "/v1/check", Some("application/yaml"), yaml.as_bytes())
                .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut slowest = Duration::ZERO;
    for path in ["/livez", "/readyz", "/livez", "/readyz"] {
        let started = Instant::now();
        let response = admin_get(server.admin, path).await.expect("probe answered");
        assert_eq!(response.status, 200, "{path}");
        slowest = slowest.max(started.elapsed());
    }
    // 100 ms is the target (measured by scripts/redteam-soak.sh); a debug build on a shared
    // machine gets slack, but not the seconds a blocked worker took.
    assert!(slowest < Duration::from_millis(750), "a probe took {slowest:?}");
    // The load's own answers may take longer than the test client waits on a busy machine;
    // what matters here is the probes.
    for task in load {
        task.abort();
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Item 8: early answers reach curl over HTTP/2 and HTTP/1.1

const TOKEN: &str = "cgt_hostile-test-token";

/// curl (the test checks [`support::client_available`] first).
fn curl() -> Command {
    Command::new("curl")
}

/// curl posting `body` (a file) to `path`, over `http` (`--http2` or `--http1.1`); returns
/// curl's exit code, the status and the answer body.
fn curl_post(
    server: &TestServer,
    http: &str,
    path: &str,
    headers: &[&str],
    body: &Path,
) -> (Option<i32>, u16, String, String) {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let mut command = curl();
    command
        .args(["-sS", http, "--max-time", "20", "-o"])
        .arg(out.path())
        .args(["-w", "%{http_code} %{http_version}", "--cacert"])
        .arg(server.cert_dir.join("ca.crt"))
        .arg("--data-binary")
        .arg(format!("@{}", body.display()));
    for header in headers {
        command.args(["-H", header]);
    }
    command.arg(format!("https://127.0.0.1:{}{path}", server.addr.port()));
    let output = command.output().expect("curl runs");
    let written = String::from_utf8_lossy(&output.stdout).to_string();
    let status = written
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let answer = std::fs::read_to_string(out.path()).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (output.status.code(), status, answer, format!("{written} {stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_answers_reach_curl_whole_over_http2_and_http1() {
    if !support::client_available("curl") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::one_tenant_config(dir.path(), TOKEN);
    let server = TestServer::start(Options {
        config_file: Some(config),
        ..Options::default()
    })
    .await;
    let small = dir.path().join("small.json");
    std::fs::write(&small, serde_json::to_vec(&deployment(1)).expect("json")).expect("write");
    let large = dir.path().join("large.json");
    std::fs::write(&large, vec![b' '; 20 * 1024 * 1024]).expect("write");
    let auth = format!("Authorization: Bearer {TOKEN}");
    let cases: [(&str, Vec<&str>, &Path, u16); 5] = [
        ("no token", vec![], &small, 401),
        ("no token, 20 MB", vec![], &large, 401),
        (
            "20 MB body",
            vec![auth.as_str(), "Content-Type: application/json"],
            &large,
            413,
        ),
        (
            "unsupported type",
            vec![auth.as_str(), "Content-Type: text/plain"],
            &large,
            415,
        ),
        (
            "unsupported type, small",
            vec![auth.as_str(), "Content-Type: text/plain"],
            &small,
            415,
        ),
    ];
    for http in ["--http2", "--http1.1"] {
        for (what, headers, body, expected) in &cases {
            for attempt in 0..3 {
                let server_ref = &server;
                let (headers, body) = (headers.clone(), body.to_path_buf());
                let http = http.to_owned();
                let (code, status, answer, said) =
                    tokio::task::block_in_place(|| curl_post(server_ref, &http, "/v1/check", &headers, &body));
                assert_eq!(code, Some(0), "{http} {what} (try {attempt}): curl failed: {said}");
                assert_eq!(status, *expected, "{http} {what} (try {attempt}): {said} {answer}");
                let json: Value = serde_json::from_str(&answer)
                    .unwrap_or_else(|e| panic!("{http} {what}: the answer is not whole JSON ({e}): {answer}"));
                assert_eq!(json["code"], *expected, "{answer}");
            }
        }
    }
    // 413 on the admission route too, which needs no token.
    for http in ["--http2", "--http1.1"] {
        let (code, status, _, said) =
            tokio::task::block_in_place(|| curl_post(&server, http, "/validate", &[], &large));
        assert_eq!((code, status), (Some(0), 413), "{http}: {said}");
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// A stalled client holds nothing past its deadline, and the budget comes back whole

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_stalled_bodies_are_refused_or_timed_out_and_release_the_budget() {
    let mut limits = limits();
    limits.body_read_timeout = Duration::from_millis(600);
    let server = TestServer::start(Options {
        limits,
        ..Options::default()
    })
    .await;
    let mut conns = Vec::new();
    for _ in 0..12 {
        let mut conn = server.client().connect().await.expect("connect");
        let head = request_head("POST", "/validate", Some("application/json"), 3 * 1024 * 1024 - 1, true);
        conn.write_raw(head.as_bytes()).await.expect("head");
        conn.write_raw(&vec![b' '; 64 * 1024]).await.expect("part");
        conns.push(conn);
    }
    let mut statuses = Vec::new();
    for mut conn in conns {
        let response = conn.read_response().await.expect("answered");
        statuses.push(response.status);
    }
    // 16 MiB hold five 3 MiB bodies: the others waited for the budget (and then for their
    // bodies) within the same deadline, or were refused.
    assert!(statuses.iter().all(|s| matches!(s, 408 | 503)), "{statuses:?}");
    support::eventually("the budget is whole again", || async {
        server.state.bodies.available() == server.state.bodies.total()
    })
    .await;
    // And nobody else was kept out for good.
    let review = server
        .client()
        .review("/validate", &support::fixture("allow.json"))
        .await;
    assert_eq!(review["response"]["allowed"], true);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Item 4 in the engine: a rule keeps at most MAX_FINDINGS_PER_RULE findings, same verdict, whole
// patch

fn basic_engine() -> celgate::engine::Engine {
    let text = std::fs::read_to_string("tests/fixtures/packs/basic/pack.yaml").expect("fixture pack");
    celgate::engine::Engine::load(&[celgate::engine::PackSource {
        origin: "basic/pack.yaml".into(),
        text,
    }])
    .expect("fixture pack loads")
}

#[test]
fn a_rule_failing_on_thousands_of_items_keeps_a_hundred_findings_and_the_verdict() {
    use celgate::engine::{omitted_note, split_omitted_note, Input, Verdict};
    let input = Input {
        object: deployment(2000),
        ..Input::default()
    };
    let decision = basic_engine().evaluate(&input);
    assert_eq!(decision.decision, Verdict::Deny);
    let privileged: Vec<_> = decision
        .violations
        .iter()
        .filter(|v| v.rule.as_ref() == "basic-no-privileged")
        .collect();
    assert_eq!(privileged.len(), 100);
    let noted: Vec<usize> = privileged
        .iter()
        .map(|v| split_omitted_note(&v.message).1)
        .filter(|n| *n > 0)
        .collect();
    assert_eq!(noted, vec![1900], "{:?}", privileged.last().map(|v| &v.message));
    assert!(privileged.iter().any(|v| v.message.ends_with(&omitted_note(1900))));
}

#[test]
fn a_patching_rule_past_the_cap_still_patches_every_item() {
    use celgate::engine::{Input, Verdict};
    let containers: Vec<Value> = (0..300)
        .map(|i| json!({"name": format!("c{i}"), "image": "registry.example/app:1.0", "securityContext": {}}))
        .collect();
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "template": {"spec": {"containers": containers}}}
    });
    let decision = basic_engine().evaluate(&Input {
        object,
        ..Input::default()
    });
    assert_eq!(decision.decision, Verdict::Patch, "{:?}", decision.violations.first());
    assert_eq!(decision.violations.iter().filter(|v| v.patched).count(), 100);
    let patched = decision.patched_object.expect("the patched object");
    let all = patched["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .all(|c| c["securityContext"]["allowPrivilegeEscalation"] == false);
    assert!(all, "every container is patched, not only the first hundred");
}

// ---------------------------------------------------------------------------------------------
// Item 5: no input makes a handler panic (property test over the HTTP surface)

/// One raw HTTP/1.1 request from generated parts.
fn raw_request(method: &str, path: &str, query: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path}{query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn surface() -> impl proptest::strategy::Strategy<Value = (String, String, String, Vec<(String, String)>, Vec<u8>)> {
    use proptest::prelude::*;
    let method = prop_oneof![
        3 => Just("POST"),
        1 => prop::sample::select(vec!["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    ];
    let path = prop_oneof![
        4 => prop::sample::select(vec!["/validate", "/mutate", "/v1/check"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["/v1/packs", "/", "/livez", "//validate"]).prop_map(str::to_owned),
        1 => "/[a-zA-Z0-9%._~/-]{0,40}",
    ];
    let query = prop_oneof![
        Just(String::new()),
        "\\?timeout=[0-9]{0,25}(ms|s|m|h|us|ns|x)?([0-9]{0,25}(s|m))?",
        // Parts that each fit a Duration (up to about 1.8e19 s) and whose sum may not.
        "\\?(a=b&)?timeout=1[0-7][0-9]{17,18}s(1[0-7][0-9]{18}s|[0-9]{14,15}(h|m))",
        "\\?[a-z=&%0-9.]{0,30}",
    ];
    let header = (
        prop::sample::select(vec![
            "Content-Type",
            "Authorization",
            "Accept",
            "Transfer-Encoding-X",
            "X-Any",
        ]),
        prop_oneof![
            prop::sample::select(vec![
                "application/json",
                "application/yaml",
                "text/yaml; charset=utf-8",
                "Bearer ",
                "Bearer cgt_x",
                "bearer",
                "application/merge-patch+json",
            ])
            .prop_map(str::to_owned),
            "[ -~]{0,40}",
        ],
    )
        .prop_map(|(n, v)| (n.to_owned(), v.trim().to_owned()));
    let review = String::from_utf8(support::fixture("allow.json")).expect("UTF-8");
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        // A real review with a slice cut out, or a byte changed: nearly valid JSON.
        (0..review.len(), 0..review.len(), any::<u8>()).prop_map(move |(a, b, byte)| {
            let (a, b) = (a.min(b), a.max(b));
            let mut bytes = review.as_bytes().to_vec();
            if b - a > 40 {
                bytes.drain(a..b);
            } else if let Some(slot) = bytes.get_mut(a) {
                *slot = byte;
            }
            bytes
        }),
        "[a-z:{}\\[\\], \\n&*!|>-]{0,200}".prop_map(String::into_bytes),
    ];
    (
        method.prop_map(str::to_owned),
        path,
        query,
        prop::collection::vec(header, 0..4),
        body,
    )
}

#[test]
fn no_generated_request_makes_the_server_panic_or_lose_count() {
    use proptest::test_runner::{Config, TestRunner};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut limits = limits();
    limits.body_read_timeout = Duration::from_millis(300);
    let server = runtime.block_on(TestServer::start(Options {
        limits,
        ..Options::default()
    }));
    let client = server.client();
    let mut runner = TestRunner::new(Config {
        cases: 160,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&surface(), |(method, path, query, headers, body)| {
        let request = raw_request(&method, &path, &query, &headers, &body);
        let answered = runtime.block_on(async {
            let mut conn = client.connect().await.expect("connect");
            conn.write_raw(&request).await.ok();
            conn.read_response().await
        });
        // Malformed HTTP may be refused by closing; any answer must not be the caught-panic 500.
        if let Ok(response) = answered {
            let text = response.text();
            proptest::prop_assert!(
                !(response.status == 500 && text.contains("internal error while handling")),
                "{method} {path}{query} {headers:?}: a handler panicked"
            );
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    runtime.block_on(async {
        support::eventually("no request left in flight", || async {
            server.metric("celgate_in_flight_requests").await == 0
        })
        .await;
        let review = server
            .client()
            .review("/validate", &support::fixture("allow.json"))
            .await;
        assert_eq!(review["response"]["allowed"], true);
        server.stop().await;
    });
}
