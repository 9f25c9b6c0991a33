//! The periodic scan of `celgate serve` (`scan:`), as a process, against the loopback stand-in of
//! the API server (`support/kube_scan_api.rs`, reached through `KUBECONFIG`) and the Slack
//! stand-in (`notify/stub.rs`): no scan while another replica holds the `Lease`, the lease taken
//! once it expires, reports applied, `celgate_scan_*` metrics on the admin port, and one Slack
//! event per new set of high/critical failures (none when a scan finds nothing new).

#[allow(dead_code)]
#[path = "support/kube_api.rs"]
mod kube_api;
#[allow(dead_code)]
#[path = "support/kube_scan_api.rs"]
mod kube_scan_api;
#[allow(dead_code)]
#[path = "support/serve_process.rs"]
mod serve_process;
#[allow(dead_code)]
#[path = "notify/stub.rs"]
mod stub;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube_scan_api::{default_resources, ScanApi};
use serde_json::{json, Value};
use serve_process::{serve_command, ServeProcess};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scan")
        .join(name)
}

fn cluster_objects() -> Vec<Value> {
    let collected = celgate::documents::collect(&[fixture("cluster.yaml")], &mut std::io::empty());
    collected.documents.into_iter().map(|d| d.value).collect()
}

/// A lease held by another replica, renewed `age_seconds` ago, for `duration` seconds.
fn foreign_lease(age_seconds: i64, duration: i64) -> Value {
    let renewed = chrono::Utc::now() - chrono::Duration::seconds(age_seconds);
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "celgate-scan", "namespace": "celgate-system"},
        "spec": {"holderIdentity": "celgate-other-replica", "leaseDurationSeconds": duration,
                 "renewTime": renewed.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}})
}

/// Polls `probe` every 100 ms until it returns `Some`, for at most `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn get_metrics(admin: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(admin).expect("admin port");
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("request");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("response");
    text
}

fn metric(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn serve_scans_on_one_replica_reports_metrics_and_alerts_on_new_failures() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let slack = stub::Stub::start();
    let mut objects = cluster_objects();
    objects.push(foreign_lease(0, 3600));
    let api = ScanApi::start(default_resources(), &objects).expect("stand-in");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.kubeconfig(dir.path());
    let url_file = dir.path().join("slack-url");
    std::fs::write(&url_file, slack.url("/hook")).expect("url file");
    let tenancy = std::fs::read_to_string(fixture("celgate.yaml")).expect("tenancy");
    let config = dir.path().join("celgate.yaml");
    std::fs::write(
        &config,
        format!(
            "{tenancy}\nscan:\n  intervalSeconds: 1\n  lease: {{namespace: celgate-system, durationSeconds: 30}}\n\
             slack:\n  webhooks: {{security: {{urlFile: '{}'}}}}\n  routes: [{{webhook: security, system: [scan-findings]}}]\n  \
             rateLimit: {{intervalMs: 10, burst: 10}}\n",
            url_file.display()
        ),
    )
    .expect("config");

    let mut command = serve_command(&dir.path().join("certs"), &fixture("pack"));
    command
        .arg("--config")
        .arg(&config)
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAME", "celgate-0");
    let serve = ServeProcess::spawn(command);
    let serving = serve.wait_for_event("celgate serving", Duration::from_secs(30));
    let admin = serving["admin"].as_str().expect("admin address").to_owned();

    // Another replica holds the lease: no scan, counted as such.
    wait_for("a not-leader attempt", Duration::from_secs(20), || {
        metric(&get_metrics(&admin), "celgate_scan_runs_total{outcome=\"not-leader\"}").filter(|n| *n >= 2.0)
    });
    assert!(
        api.requests().iter().all(|r| r.method != "PATCH"),
        "no reports while another replica scans"
    );

    // Its lease expires: this replica takes it and scans.
    api.put(foreign_lease(120, 30));
    let lease = wait_for("the lease taken over", Duration::from_secs(20), || {
        let lease = api.objects("coordination.k8s.io", "leases")
            [&("celgate-system".to_owned(), "celgate-scan".to_owned())]
            .clone();
        (lease["spec"]["holderIdentity"] == "celgate-0").then_some(lease)
    });
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
    let reports = wait_for("reports applied", Duration::from_secs(20), || {
        let reports = api.objects("wgpolicyk8s.io", "policyreports");
        (reports.len() == 2).then_some(reports)
    });
    assert!(reports.contains_key(&("billing".to_owned(), "celgate-billing".to_owned())));

    let exposition = wait_for("scan metrics", Duration::from_secs(20), || {
        let text = get_metrics(&admin);
        metric(&text, "celgate_scan_runs_total{outcome=\"ok\"}").filter(|n| *n >= 2.0)?;
        Some(text)
    });
    assert!(
        metric(&exposition, "celgate_scan_objects_total").is_some_and(|n| n >= 12.0),
        "{exposition}"
    );
    assert_eq!(
        metric(
            &exposition,
            "celgate_scan_findings{pack=\"scan\",rule=\"scan-no-privileged\",result=\"fail\"}"
        ),
        Some(1.0),
        "{exposition}"
    );
    assert_eq!(
        metric(
            &exposition,
            "celgate_scan_findings{pack=\"scan\",rule=\"scan-no-privileged\",result=\"skip\"}"
        ),
        Some(1.0),
        "{exposition}"
    );
    assert!(
        exposition.contains("celgate_scan_duration_seconds_count"),
        "{exposition}"
    );

    // The first scan found two high/critical failures (invoices: privileged, :latest): one event.
    runtime.block_on(slack.wait_for_total(1, Duration::from_secs(10)));
    let first = slack.requests("/hook");
    let text = first[0].body.to_string();
    assert!(text.contains("Cluster scan: 2 new high or critical findings"), "{text}");
    assert!(
        text.contains("scan-no-latest") && text.contains("Deployment billing/invoices"),
        "{text}"
    );
    // Later scans find nothing new: no more events.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(slack.requests("/hook").len(), 1);

    // A new privileged deployment: one more event, naming only it.
    api.put(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "miner", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "x/m:1", "securityContext": {"privileged": true}}]}}}}));
    runtime.block_on(slack.wait_for_total(2, Duration::from_secs(20)));
    let second = slack.requests("/hook")[1].body.to_string();
    assert!(
        second.contains("Cluster scan: 1 new high or critical finding"),
        "{second}"
    );
    assert!(
        second.contains("Deployment shop/miner") && !second.contains("invoices"),
        "{second}"
    );
}
