//! `celgate scan` as a process, through the real `kube` client, against a loopback stand-in of
//! the API server (`support/kube_scan_api.rs`) serving the objects of
//! `tests/fixtures/scan/cluster.yaml`: pagination, audit-mode judging (operation-only rules and
//! exceptions as `skip`), agreement with `celgate check` on the same objects, and `--apply`
//! (server-side apply per namespace, stale reports deleted).

#[allow(dead_code)]
#[path = "support/kube_api.rs"]
mod kube_api;
#[allow(dead_code)]
#[path = "support/kube_scan_api.rs"]
mod kube_scan_api;
#[path = "policy_reports_support/mod.rs"]
mod policy_reports_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use kube_scan_api::{default_resources, ScanApi};
use serde_json::{json, Value};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scan")
        .join(name)
}

/// The fixture cluster's objects.
fn cluster_objects() -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("cluster.yaml")).expect("cluster fixture");
    let collected = celgate::documents::collect(&[fixture("cluster.yaml")], &mut std::io::empty());
    assert!(collected.problems.is_empty(), "{:?}", collected.problems);
    assert!(!text.is_empty());
    collected.documents.into_iter().map(|d| d.value).collect()
}

fn start(extra: &[Value]) -> (ScanApi, tempfile::TempDir, PathBuf) {
    let mut objects = cluster_objects();
    objects.extend_from_slice(extra);
    let api = ScanApi::start(default_resources(), &objects).expect("stand-in starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = api.kubeconfig(dir.path());
    (api, dir, kubeconfig)
}

fn celgate(args: &[&str]) -> Output {
    Command::cargo_bin("celgate")
        .expect("binary")
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("celgate runs")
}

fn scan(kubeconfig: &Path, extra: &[&str]) -> Output {
    let pack = fixture("pack");
    let config = fixture("celgate.yaml");
    let mut args = vec![
        "scan",
        "--kubeconfig",
        kubeconfig.to_str().expect("utf-8 path"),
        "--packs",
        pack.to_str().expect("utf-8 path"),
        "--config",
        config.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    celgate(&args)
}

/// `celgate check` of the stand-in's objects, with the scan's pack and config.
fn check_cluster(format: &str) -> Output {
    let pack = fixture("pack");
    let config = fixture("celgate.yaml");
    let cluster = fixture("cluster.yaml");
    celgate(&[
        "check",
        "--format",
        format,
        "--packs",
        pack.to_str().expect("utf-8 path"),
        "--config",
        config.to_str().expect("utf-8 path"),
        cluster.to_str().expect("utf-8 path"),
    ])
}

/// Asserts the scan ended with `code`, showing its stderr when not.
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn yaml_documents(output: &Output) -> Vec<Value> {
    let text = String::from_utf8(output.stdout.clone()).expect("utf-8");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("reports.yaml");
    std::fs::write(&file, &text).expect("write");
    let collected = celgate::documents::collect(&[file], &mut std::io::empty());
    assert!(collected.problems.is_empty(), "{:?}\n{text}", collected.problems);
    collected.documents.into_iter().map(|d| d.value).collect()
}

/// `check --format json` records or scan's, by (kind, namespace, name): decision and findings.
fn by_object(records: &Value) -> BTreeMap<(String, String, String), Value> {
    records
        .as_array()
        .expect("an array of records")
        .iter()
        .map(|r| {
            let key = (
                r["kind"].as_str().unwrap_or("").to_owned(),
                r["namespace"].as_str().unwrap_or("").to_owned(),
                r["name"].as_str().unwrap_or("").to_owned(),
            );
            let mut findings: Vec<Value> = r["violations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| json!([v["rule"], v["action"], v["message"], v["pointer"]]))
                .collect();
            findings.sort_by_key(ToString::to_string);
            (key, json!({"decision": r["decision"], "findings": findings}))
        })
        .collect()
}

/// Report results as (namespace, kind/name, rule) -> status.
fn report_results(reports: &[Value]) -> BTreeMap<(String, String, String), String> {
    let mut out = BTreeMap::new();
    for report in reports {
        let namespace = report["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
        for result in report["results"].as_array().into_iter().flatten() {
            let resource = &result["resources"][0];
            let object = format!(
                "{}/{}",
                resource["kind"].as_str().unwrap_or(""),
                resource["name"].as_str().unwrap_or("")
            );
            let rule = result["rule"].as_str().unwrap_or("").to_owned();
            let previous = out.insert(
                (namespace.clone(), object, rule),
                result["result"].as_str().unwrap_or("").to_owned(),
            );
            assert!(previous.is_none(), "one result per object and rule: {result}");
        }
    }
    out
}

#[test]
fn objects_are_listed_page_by_page() {
    let bulk: Vec<Value> = (0..23)
        .map(|i| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("bulk-{i:02}"), "namespace": "shop", "labels": {"owner": "bulk"}}}))
        .collect();
    let (api, _dir, kubeconfig) = start(&bulk);
    let output = scan(&kubeconfig, &["--format", "json", "--page-size", "5"]);
    assert_exit(&output, 1);
    let records = stdout_json(&output);
    let configmaps = records
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["kind"] == "ConfigMap")
        .count();
    assert_eq!(configmaps, 25);
    let lists: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/namespaces/shop/configmaps")
        .collect();
    assert_eq!(lists.len(), 5, "24 objects in shop, 5 a page: {lists:?}");
    assert!(lists
        .iter()
        .all(|r| r.query.get("limit").map(String::as_str) == Some("5")));
    let continued: Vec<&str> = lists
        .iter()
        .filter_map(|r| r.query.get("continue").map(String::as_str))
        .collect();
    assert_eq!(continued, ["5", "10", "15", "20"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("scanned 29 objects of 3 resources"), "{stderr}");
}

#[test]
fn scan_and_check_agree_on_the_same_objects() {
    let (_api, _dir, kubeconfig) = start(&[]);
    let scanned = scan(&kubeconfig, &["--format", "json"]);
    assert_exit(&scanned, 1);
    let checked = check_cluster("json");
    assert_eq!(checked.status.code(), Some(1));
    let scanned = by_object(&stdout_json(&scanned));
    let mut checked = by_object(&stdout_json(&checked));
    // No rule names Namespace: the scan does not list them (it reads their labels only).
    checked.retain(|(kind, _, _), _| kind != "Namespace");
    assert_eq!(scanned, checked);
    let invoices = &scanned[&("Deployment".into(), "billing".into(), "invoices".into())];
    assert_eq!(invoices["decision"], "deny");
}

#[test]
fn reports_agree_with_check_and_skip_operation_only_rules_and_exceptions() {
    let (_api, _dir, kubeconfig) = start(&[]);
    let scanned = scan(&kubeconfig, &["--format", "policyreport"]);
    assert_exit(&scanned, 1);
    let reports = yaml_documents(&scanned);
    let kinds: Vec<&str> = reports.iter().map(|r| r["kind"].as_str().unwrap_or("")).collect();
    assert_eq!(kinds, ["PolicyReport", "PolicyReport"]);
    let mut scan_results = report_results(&reports);

    // The UPDATE-only rule is reported as skipped for every Deployment, saying why.
    let skipped: Vec<_> = scan_results
        .iter()
        .filter(|((_, _, rule), _)| rule == "scan-no-replica-drop")
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped.iter().all(|(_, status)| *status == "skip"));
    let message = reports
        .iter()
        .flat_map(|r| r["results"].as_array().cloned().unwrap_or_default())
        .find(|r| r["rule"] == "scan-no-replica-drop")
        .expect("a skip result")["message"]
        .clone();
    assert!(message.as_str().unwrap_or("").contains("UPDATE"), "{message}");
    // The exception of the shop tenant makes its privileged deployment a skip.
    let key = |ns: &str, object: &str, rule: &str| (ns.to_owned(), object.to_owned(), rule.to_owned());
    assert_eq!(
        scan_results[&key("shop", "Deployment/legacy", "scan-no-privileged")],
        "skip"
    );
    assert_eq!(
        scan_results[&key("billing", "Deployment/invoices", "scan-no-privileged")],
        "fail"
    );
    assert_eq!(
        scan_results[&key("billing", "ConfigMap/orphan", "scan-owner-label")],
        "warn"
    );
    assert_eq!(scan_results[&key("shop", "Deployment/web", "scan-no-latest")], "pass");

    // Everything else is what `check --format policyreport` says of the same objects.
    scan_results.retain(|(_, _, rule), _| rule != "scan-no-replica-drop");
    let checked = check_cluster("policyreport");
    let mut check_results = report_results(&yaml_documents(&checked));
    check_results.retain(|(_, object, _), _| !object.starts_with("Namespace/"));
    assert_eq!(scan_results, check_results);
}

#[test]
fn apply_writes_one_report_per_namespace_and_deletes_stale_ones() {
    let stale = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": "celgate-gone", "namespace": "gone", "labels": {"app.kubernetes.io/managed-by": "celgate"}},
        "results": []});
    let foreign = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": "kyverno-shop", "namespace": "shop", "labels": {"app.kubernetes.io/managed-by": "kyverno"}},
        "results": []});
    let (api, _dir, kubeconfig) = start(&[stale, foreign]);
    let output = scan(&kubeconfig, &["--apply"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("applied PolicyReport shop/celgate-shop"), "{stdout}");
    assert!(stdout.contains("deleted PolicyReport gone/celgate-gone"), "{stdout}");

    let requests = api.requests();
    let patches: Vec<_> = requests.iter().filter(|r| r.method == "PATCH").collect();
    let paths: Vec<&str> = patches.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/apis/wgpolicyk8s.io/v1alpha2/namespaces/billing/policyreports/celgate-billing",
            "/apis/wgpolicyk8s.io/v1alpha2/namespaces/shop/policyreports/celgate-shop",
        ]
    );
    for patch in &patches {
        assert_eq!(patch.content_type, "application/apply-patch+yaml");
        assert_eq!(patch.query.get("fieldManager").map(String::as_str), Some("celgate"));
        assert_eq!(patch.query.get("force").map(String::as_str), Some("true"));
        assert_eq!(
            patch.body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "celgate"
        );
    }
    let deletes: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        deletes,
        ["/apis/wgpolicyk8s.io/v1alpha2/namespaces/gone/policyreports/celgate-gone"]
    );
    let stored = api.objects("wgpolicyk8s.io", "policyreports");
    let names: Vec<String> = stored.keys().map(|(ns, name)| format!("{ns}/{name}")).collect();
    assert_eq!(
        names,
        ["billing/celgate-billing", "shop/celgate-shop", "shop/kyverno-shop"]
    );
    let billing = &stored[&("billing".to_owned(), "celgate-billing".to_owned())];
    assert_eq!(billing["summary"]["fail"], 2, "{billing}");

    // The billing objects go away: the next scan removes billing's report.
    for (plural, name) in [("deployments", "invoices"), ("pods", "debug"), ("configmaps", "orphan")] {
        let group = if plural == "deployments" { "apps" } else { "" };
        api.remove(group, plural, "billing", name);
    }
    api.clear_requests();
    let output = scan(&kubeconfig, &["--apply"]);
    assert_exit(&output, 0);
    let deletes: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        deletes,
        ["/apis/wgpolicyk8s.io/v1alpha2/namespaces/billing/policyreports/celgate-billing"]
    );
}

#[test]
fn apply_writes_openreports_when_asked() {
    let (api, _dir, kubeconfig) = start(&[]);
    let output = scan(&kubeconfig, &["--apply", "--format", "openreports"]);
    assert_exit(&output, 1);
    let reports = api.objects("openreports.io", "reports");
    assert_eq!(reports.len(), 2);
    let shop = &reports[&("shop".to_owned(), "celgate-shop".to_owned())];
    assert_eq!(shop["source"], "celgate");
    assert!(api.objects("wgpolicyk8s.io", "policyreports").is_empty());
}

#[test]
fn kinds_the_cluster_does_not_serve_are_noted_and_skipped() {
    let (_api, _dir, kubeconfig) = start(&[]);
    let output = scan(
        &kubeconfig,
        &[
            "--format",
            "json",
            "--kind",
            "example.io/v1/Widget",
            "--kind",
            "ConfigMap",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("note: kind example.io/v1/Widget: not served by the cluster, skipped"),
        "{stderr}"
    );
    let records = stdout_json(&output);
    assert!(records
        .as_array()
        .expect("records")
        .iter()
        .all(|r| r["kind"] == "ConfigMap"));
}

#[test]
fn an_unreachable_cluster_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n",
    )
    .expect("write");
    let output = scan(&kubeconfig, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("discovery"));
}

#[test]
fn a_forbidden_resource_is_noted_and_the_rest_scanned() {
    let (api, _dir, kubeconfig) = start(&[]);
    api.forbid("", "pods");
    let output = scan(&kubeconfig, &["--format", "json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("note: pods: listing is forbidden"), "{stderr}");
    let records = stdout_json(&output);
    let kinds: std::collections::BTreeSet<&str> = records
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["ConfigMap", "Deployment"].into_iter().collect());
}

#[test]
fn apply_without_the_report_crds_says_how_to_install_them() {
    let resources: Vec<_> = default_resources()
        .into_iter()
        .filter(|r| r.group != "wgpolicyk8s.io" && r.group != "openreports.io")
        .collect();
    let api = ScanApi::start(resources, &cluster_objects()).expect("stand-in starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let output = scan(&api.kubeconfig(dir.path()), &["--apply"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the cluster does not serve policyreports.wgpolicyk8s.io: install the report CRDs"),
        "{stderr}"
    );
}

/// Not a check: measures a scan of many objects with the shipped packs (run with
/// `cargo test --test scan measure -- --ignored --nocapture`; `SCAN_MEASURE_OBJECTS`, default
/// 5000 Deployments, `SCAN_MEASURE_FORMAT`, default policyreport). Prints wall time and the
/// process's peak memory (`/usr/bin/time -v` when present).
#[test]
#[ignore = "a measurement, not a check"]
fn measure_a_large_scan() {
    let count: usize = std::env::var("SCAN_MEASURE_OBJECTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5000);
    let format = std::env::var("SCAN_MEASURE_FORMAT").unwrap_or_else(|_| "policyreport".to_owned());
    let template = cluster_objects()
        .into_iter()
        .find(|o| o["metadata"]["name"] == "invoices")
        .expect("a deployment");
    let objects: Vec<Value> = (0..count)
        .map(|i| {
            let mut o = template.clone();
            o["metadata"]["name"] = json!(format!("invoices-{i}"));
            o["metadata"]["namespace"] = json!(format!("team-{}", i % 50));
            o
        })
        .collect();
    let api = ScanApi::start(default_resources(), &objects).expect("stand-in starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = api.kubeconfig(dir.path());
    let time = Path::new("/usr/bin/time");
    let mut command = if time.exists() {
        let mut c = std::process::Command::new(time);
        c.arg("-v").arg(env!("CARGO_BIN_EXE_celgate"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_celgate"))
    };
    let started = std::time::Instant::now();
    let output = command
        .args(["scan", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--format", &format])
        .env_remove("KUBECONFIG")
        .output()
        .expect("celgate runs");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let peak = stderr
        .lines()
        .find(|l| l.contains("Maximum resident set size"))
        .unwrap_or("(no /usr/bin/time)");
    println!(
        "{count} Deployments, --format {format}: exit {:?}, {:.2}s wall, {} bytes of output, {peak}",
        output.status.code(),
        elapsed.as_secs_f64(),
        output.stdout.len()
    );
    println!("{}", stderr.lines().find(|l| l.starts_with("scanned")).unwrap_or(""));
}

#[test]
fn a_namespace_too_large_for_one_report_gets_several_and_leftover_parts_are_deleted() {
    let template = cluster_objects()
        .into_iter()
        .find(|o| o["metadata"]["name"] == "invoices")
        .expect("a deployment");
    let many: Vec<Value> = (0..100)
        .map(|i| {
            let mut o = template.clone();
            o["metadata"]["name"] = json!(format!("batch-{i:03}"));
            o["metadata"]["namespace"] = json!("batch");
            o
        })
        .collect();
    let api = ScanApi::start(default_resources(), &many).expect("stand-in starts");
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = api.kubeconfig(dir.path());
    // The shipped packs: some 40 results per Deployment, about 2 MB of results for the namespace.
    let apply = || {
        celgate(&[
            "scan",
            "--kubeconfig",
            kubeconfig.to_str().expect("utf-8"),
            "--kind",
            "Deployment",
            "--apply",
        ])
    };
    let output = apply();
    assert_exit(&output, 1);
    let stored = api.objects("wgpolicyk8s.io", "policyreports");
    assert!(stored.len() >= 2, "{:?}", stored.keys());
    let mut seen = BTreeMap::new();
    for ((_, name), report) in &stored {
        // Results up to the limit, plus the report's metadata and summary: far under etcd's 1.5 MiB.
        let limit = celgate::report::policy_report::DEFAULT_MAX_REPORT_BYTES + 16 * 1024;
        assert!(report.to_string().len() <= limit, "{name} is too large");
        for result in report["results"].as_array().expect("results") {
            let object = result["resources"][0]["name"].as_str().expect("name").to_owned();
            let previous = seen.insert(object.clone(), name.clone());
            assert!(
                previous.as_ref().is_none_or(|p| p == name),
                "{object} split over {previous:?} and {name}"
            );
        }
    }
    assert_eq!(seen.len(), 100);

    for i in 10..100 {
        api.remove("apps", "deployments", "batch", &format!("batch-{i:03}"));
    }
    api.clear_requests();
    let output = apply();
    assert_exit(&output, 1);
    let names: Vec<String> = api
        .objects("wgpolicyk8s.io", "policyreports")
        .into_keys()
        .map(|(_, name)| name)
        .collect();
    assert_eq!(names, ["celgate-batch"]);
    let deleted = api.requests().into_iter().filter(|r| r.method == "DELETE").count();
    assert_eq!(deleted, stored.len() - 1);
}

#[test]
fn a_group_version_that_does_not_answer_discovery_is_noted_and_the_rest_scanned() {
    let (api, _dir, kubeconfig) = start(&[]);
    api.make_unavailable("/apis/networking.k8s.io/v1");
    let output = scan(&kubeconfig, &["--format", "json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("note: discovery of networking.k8s.io/v1: ")
            && stderr.contains("its resources are not scanned"),
        "{stderr}"
    );
    assert!(stderr.contains("scanned 6 objects of 3 resources"), "{stderr}");
    // Asked four times (three retries of a 503), not the `kube` default of fifteen.
    let asked = api
        .requests()
        .iter()
        .filter(|r| r.path == "/apis/networking.k8s.io/v1")
        .count();
    assert_eq!(asked, 4);
}

#[test]
fn every_report_the_scan_writes_is_valid_against_the_upstream_crds() {
    let kinds = policy_reports_support::report_kinds();
    let (_api, _dir, kubeconfig) = start(&[]);
    for format in ["policyreport", "openreports"] {
        let output = scan(&kubeconfig, &["--format", format]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let reports = policy_reports_support::documents(&stdout);
        assert!(reports.len() >= 2, "{format}: {stdout}");
        let mut skipped = 0;
        for report in &reports {
            let problems = policy_reports_support::problems(&kinds, report);
            assert!(problems.is_empty(), "{format}: {problems:#?}\n{report}");
            skipped += report["summary"]["skip"].as_u64().unwrap_or(0);
        }
        // Skip results (operation-only rules, exceptions) are part of what is validated.
        assert!(skipped > 0, "{format}: no skip result in {stdout}");
    }
}
