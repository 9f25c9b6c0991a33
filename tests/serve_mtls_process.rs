//! Issue 15, item 9, through the binary: `celgate serve --client-ca FILE` requires the API
//! server's client certificate on `/validate` and `/mutate` only; the check API keeps working
//! without one (bearer tokens when tenants are configured).

#[allow(dead_code)]
#[path = "support/serve_process.rs"]
mod serve_process;
mod support;

use std::time::Duration;

use celgate::server::tls;
use serve_process::{serve_command, ServeProcess};
use support::{basic_pack_dir, client_config, fixture, Ca, Client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_client_ca_guards_only_the_admission_routes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert_dir = dir.path().join("certs");
    let client_ca = Ca::new("apiserver client CA");
    let ca_file = dir.path().join("client-ca.crt");
    std::fs::write(&ca_file, client_ca.pem()).expect("write client CA");
    let mut command = serve_command(&cert_dir, &basic_pack_dir());
    command.arg("--client-ca").arg(&ca_file).env_remove("CELGATE_CLIENT_CA");
    let serve = ServeProcess::spawn(command);
    let serving = serve.wait_for_event("celgate serving", Duration::from_secs(20));
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
