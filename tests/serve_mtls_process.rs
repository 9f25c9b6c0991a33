//! Issue 15, item 9, through the binary: `celgate serve --client-ca FILE` requires the API
//! server's client certificate on `/validate` and `/mutate` only; the check API keeps working
//! without one (bearer tokens when tenants are configured).

mod support;

use std::io::BufRead as _;
use std::time::{Duration, Instant};

use serde_json::Value;

use celgate::server::tls;
use support::{basic_pack_dir, client_config, fixture, Ca, Client};

/// Kills the child when the test ends.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_client_ca_guards_only_the_admission_routes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert_dir = dir.path().join("certs");
    let client_ca = Ca::new("apiserver client CA");
    let ca_file = dir.path().join("client-ca.crt");
    std::fs::write(&ca_file, client_ca.pem()).expect("write client CA");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_celgate"));
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--cert-dir")
        .arg(&cert_dir)
        .arg("--packs")
        .arg(basic_pack_dir())
        .arg("--client-ca")
        .arg(&ca_file)
        .env("CELGATE_LOG", "info")
        .env_remove("CELGATE_CLIENT_CA")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = ChildGuard(command.spawn().expect("celgate serve starts"));
    let stderr = child.0.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let serving = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("a 'celgate serving' log line");
        let event: Value = serde_json::from_str(&line).unwrap_or_default();
        if event["fields"]["message"] == "celgate serving" {
            break event["fields"].clone();
        }
    };
    let addr: std::net::SocketAddr = serving["listen"].as_str().expect("listen").parse().expect("address");
    let server_ca = std::fs::read(cert_dir.join(tls::CA_CERT_FILE)).expect("development CA");
    let anonymous = Client::new(addr, client_config(&[&server_ca], rustls::ALL_VERSIONS, None));
    let apiserver_identity = client_ca.client_identity("kube-apiserver");
    let apiserver = Client::new(
        addr,
        client_config(&[&server_ca], rustls::ALL_VERSIONS, Some(&apiserver_identity)),
    );
    let review = fixture("allow.json");
    for route in ["/validate", "/mutate"] {
        let refused = anonymous.post(route, &review).await.expect("answered");
        assert_eq!(refused.status, 401, "{route}: {}", refused.text());
        let served = apiserver.post(route, &review).await.expect("answered");
        assert_eq!(served.status, 200, "{route}: {}", served.text());
    }
    let check = anonymous
        .post(
            "/v1/check",
            br#"{"object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}}"#,
        )
        .await
        .expect("check answered");
    assert_eq!(check.status, 200, "{}", check.text());
}
