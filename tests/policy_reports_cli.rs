//! `celgate check --format policyreport|openreports` as a process: one small report per flavor
//! snapshotted (the clock fixed with the hidden `--now`), exit codes as for every format, the
//! stream's shape for `kubectl apply -f -`, and `--now` kept out of the help.

mod policy_reports_support;

use policy_reports_support::{check, documents, NOW};

/// The small pack, its tenancy and the objects that give every status.
const SMALL: &[&str] = &[
    "--packs",
    "tests/fixtures/policy-reports/pack",
    "--config",
    "tests/fixtures/policy-reports/celgate.yaml",
    "--now",
    NOW,
    "tests/fixtures/policy-reports/small.yaml",
];

fn small(format: &str) -> policy_reports_support::Run {
    let mut args = vec!["--format", format];
    args.extend(SMALL);
    check(&args)
}

#[test]
fn policyreport_snapshot() {
    let out = small("policyreport");
    assert_eq!(out.code, 1, "a deny finding: {}", out.stderr);
    insta::assert_snapshot!("policyreport_small", out.stdout);
}

#[test]
fn openreports_snapshot() {
    let out = small("openreports");
    assert_eq!(out.code, 1, "a deny finding: {}", out.stderr);
    insta::assert_snapshot!("openreports_small", out.stdout);
}

#[test]
fn the_flavors_differ_only_in_api_kind_and_source() {
    let policy = documents(&small("policyreport").stdout);
    let open = documents(&small("openreports").stdout);
    assert_eq!(policy.len(), 2, "the shop namespace and the cluster");
    let kinds: Vec<(&str, &str)> = policy
        .iter()
        .zip(&open)
        .map(|(p, o)| (p["kind"].as_str().unwrap_or(""), o["kind"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        kinds,
        [("PolicyReport", "Report"), ("ClusterPolicyReport", "ClusterReport")]
    );
    for (p, o) in policy.iter().zip(&open) {
        let mut o = o.clone();
        let map = o.as_object_mut().expect("an object");
        assert_eq!(map.remove("source"), Some("celgate".into()));
        map.insert("apiVersion".to_owned(), p["apiVersion"].clone());
        map.insert("kind".to_owned(), p["kind"].clone());
        assert_eq!(&o, p);
    }
}

#[test]
fn exit_codes_are_those_of_every_format() {
    let base = ["--packs", "tests/fixtures/policy-reports/pack", "--now", NOW];
    for format in ["policyreport", "openreports"] {
        let compliant = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok, labels: {owner: a, environment: dev}}\n";
        let mut args = vec!["--format", format];
        args.extend(base);
        let out = check_stdin(&args, compliant);
        assert_eq!(out.code, 0, "{format}: allowed: {}", out.stderr);
        assert!(out.stdout.contains("result: pass"), "{}", out.stdout);

        let mut denied = args.clone();
        denied.push("tests/fixtures/policy-reports/small.yaml");
        assert_eq!(check(&denied).code, 1, "{format}: denied");

        let mut missing = args.clone();
        missing.push("tests/fixtures/policy-reports/no-such-file.yaml");
        let out = check(&missing);
        assert_eq!(out.code, 2, "{format}: unreadable input");
        assert!(out.stderr.contains("no-such-file.yaml"), "{}", out.stderr);
    }
}

#[test]
fn no_result_no_report() {
    // A ConfigMap no rule of the pack applies to.
    let out = check_stdin(
        &[
            "--format",
            "policyreport",
            "--packs",
            "tests/fixtures/policy-reports/pack",
        ],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
}

#[test]
fn the_stream_is_what_kubectl_apply_takes() {
    let out = small("policyreport");
    assert!(out.stdout.starts_with("---\napiVersion: "), "{}", out.stdout);
    for report in documents(&out.stdout) {
        for field in ["apiVersion", "kind"] {
            assert!(report[field].is_string(), "{field}");
        }
        assert!(report["metadata"]["name"].is_string());
    }
}

#[test]
fn date_times_are_quoted_for_yaml_1_1_readers() {
    // PyYAML and other YAML 1.1 readers turn a plain 2027-02-15T12:00:00Z into a date-time,
    // which the CRDs' `type: string` properties then refuse.
    let out = check(&[
        "--format",
        "policyreport",
        "--config",
        "examples/celgate.yaml",
        "--now",
        "2026-11-25T12:00:00Z",
        "tests/fixtures/policy-reports/tenants.yaml",
    ]);
    assert!(
        out.stdout.contains("exceptionExpires: \"2027-02-15T12:00:00Z\"\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("exceptionExpires: \"2027-01-31\"\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn now_is_hidden_and_checked() {
    let help = check(&["--help"]);
    assert!(help.stdout.contains("policyreport"), "{}", help.stdout);
    assert!(help.stdout.contains("openreports"), "{}", help.stdout);
    assert!(!help.stdout.contains("--now"), "{}", help.stdout);
    let bad = check(&["--now", "yesterday", "--format", "policyreport", "-"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("RFC 3339"), "{}", bad.stderr);
}

fn check_stdin(args: &[&str], stdin: &str) -> policy_reports_support::Run {
    let mut all = args.to_vec();
    all.push("-");
    policy_reports_support::check_with_stdin(&all, stdin)
}
