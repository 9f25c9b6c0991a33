//! Early answers reach Go's `net/http` whole (issue 15, item 8): the Kubernetes API server calls
//! webhooks with Go's client, so a 401, 413 or 415 decided before the body is read must arrive as
//! an answer over HTTP/2 and HTTP/1.1, not as a client error. The client is
//! `tests/fixtures/go/earlyclient`, built here with the `go` on PATH (`.ci/run` installs Debian's
//! golang-go when it is missing and sets `CELGATE_REQUIRE_CLIENTS=1`, so a missing `go` fails
//! there; elsewhere the tests say why and pass).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Value};

use support::{Ca, Options, TestServer};

const TOKEN: &str = "cgt_go-client-test-token";

/// The Go client, built once per test binary into the target's temporary folder (offline: the
/// module has no dependencies, and `GOTOOLCHAIN=local` keeps Go from fetching a toolchain).
fn go_client() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-earlyclient");
        let binary = work.join("earlyclient");
        let output = Command::new("go")
            .args(["build", "-o"])
            .arg(&binary)
            .arg(".")
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/go/earlyclient"))
            .env("GOTOOLCHAIN", "local")
            .env("GOFLAGS", "-mod=mod")
            .env("GOPROXY", "off")
            .env("GOCACHE", work.join("cache"))
            .env("GOPATH", work.join("path"))
            .output()
            .expect("go build runs");
        assert!(
            output.status.success(),
            "go build failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        binary
    })
}

/// Posts `body` to `path` with Go's client; returns its exit code, the status, the protocol and
/// the answer (or Go's error).
fn go_post(server: &TestServer, http1: bool, path: &str, headers: &[&str], body: &Path) -> (i32, u16, String, String) {
    let mut command = Command::new(go_client());
    command
        .arg("-url")
        .arg(format!("https://127.0.0.1:{}{path}", server.addr.port()))
        .arg("-ca")
        .arg(server.cert_dir.join("ca.crt"))
        .arg("-body")
        .arg(body);
    if http1 {
        command.arg("-http1");
    }
    for header in headers {
        command.args(["-header", header]);
    }
    let output = command.output().expect("the Go client runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let (first, answer) = stdout.split_once('\n').unwrap_or((stdout.as_str(), ""));
    let mut parts = first.split_whitespace();
    let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let protocol = parts.next().unwrap_or_default().to_owned();
    let answer = if output.status.success() {
        answer.to_owned()
    } else {
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    (output.status.code().unwrap_or(-1), status, protocol, answer)
}

fn small_review(dir: &Path) -> PathBuf {
    let path = dir.join("small.json");
    let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "acme-a"}});
    std::fs::write(&path, serde_json::to_vec(&object).expect("json")).expect("write");
    path
}

fn large_body(dir: &Path) -> PathBuf {
    let path = dir.join("large.json");
    std::fs::write(&path, vec![b' '; 20 * 1024 * 1024]).expect("write");
    path
}

/// Asserts that every case is answered whole with its status, over HTTP/2 and HTTP/1.1, three
/// times each (an early answer lost to a reset is intermittent).
fn assert_answers(server: &TestServer, cases: &[(&str, &str, Vec<&str>, &Path, u16)]) {
    for http1 in [false, true] {
        let expected_protocol = if http1 { "HTTP/1.1" } else { "HTTP/2.0" };
        for (what, path, headers, body, expected) in cases {
            for attempt in 0..3 {
                let (code, status, protocol, answer) = go_post(server, http1, path, headers, body);
                assert_eq!(
                    code, 0,
                    "{expected_protocol} {what} (try {attempt}): Go's client failed: {answer}"
                );
                assert_eq!(
                    status, *expected,
                    "{expected_protocol} {what} (try {attempt}): {answer}"
                );
                assert_eq!(protocol, expected_protocol, "{what}");
                let json: Value = serde_json::from_str(&answer).unwrap_or_else(|e| {
                    panic!("{expected_protocol} {what}: the answer is not whole JSON ({e}): {answer}")
                });
                assert!(json.is_object(), "{answer}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_answers_reach_gos_client_over_http2_and_http1() {
    if !support::client_available("go") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = support::one_tenant_config(dir.path(), TOKEN);
    let server = TestServer::start(Options {
        config_file: Some(config),
        ..Options::default()
    })
    .await;
    let small = small_review(dir.path());
    let large = large_body(dir.path());
    let auth = format!("Authorization: Bearer {TOKEN}");
    let cases = [
        ("no token", "/v1/check", vec![], small.as_path(), 401),
        ("no token, 20 MB", "/v1/check", vec![], large.as_path(), 401),
        (
            "20 MB body",
            "/v1/check",
            vec![auth.as_str(), "Content-Type: application/json"],
            large.as_path(),
            413,
        ),
        (
            "unsupported type",
            "/v1/check",
            vec![auth.as_str(), "Content-Type: text/plain"],
            large.as_path(),
            415,
        ),
        (
            "20 MB admission review",
            "/validate",
            vec!["Content-Type: application/json"],
            large.as_path(),
            413,
        ),
    ];
    tokio::task::block_in_place(|| assert_answers(&server, &cases));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admission_caller_without_a_client_certificate_gets_its_401_through_go() {
    if !support::client_available("go") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("client-ca.crt");
    std::fs::write(&ca_file, Ca::new("apiserver client CA").pem()).expect("write client CA");
    let server = TestServer::start(Options {
        client_ca_file: Some(ca_file),
        ..Options::default()
    })
    .await;
    let large = large_body(dir.path());
    let cases = [(
        "no client certificate, 20 MB",
        "/validate",
        vec!["Content-Type: application/json"],
        large.as_path(),
        401,
    )];
    tokio::task::block_in_place(|| assert_answers(&server, &cases));
    server.stop().await;
}
