//! Unit tests of the report builder: statuses, folding of several findings, catalog fallback,
//! scopes, names and the splitting of large reports.

use chrono::TimeZone;

use super::results::{document_results, finding_status, rule_status};
use super::*;
use crate::engine::{Action, Decision, ExceptionUse, FindingType, Verdict, Violation};

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 12, 7, 10, 0, 0)
        .single()
        .expect("valid instant")
}

fn violation(rule: &str, action: Action) -> Violation {
    let mut v = Violation::sample("pack", rule);
    v.action = action;
    v.message = format!("{rule} found something");
    v.pointer = "/spec".to_owned();
    v
}

fn exception(expired: bool) -> ExceptionUse {
    ExceptionUse {
        id: "EXC-1".to_owned(),
        owner: "team".to_owned(),
        reason: "vendor image".to_owned(),
        ticket: Some("SEC-1".to_owned()),
        expires: "2027-01-31".to_owned(),
        expired,
    }
}

fn document(namespace: &str, name: &str, evaluated: &[&str], violations: Vec<Violation>) -> DocumentResult {
    let mut decision = Decision::allow();
    if violations.iter().any(|v| v.action == Action::Deny) {
        decision.decision = Verdict::Deny;
    }
    decision.evaluated_rules = evaluated.iter().map(|r| std::sync::Arc::from(*r)).collect();
    decision.violations = violations;
    DocumentResult {
        source: "in.yaml".to_owned(),
        document: 0,
        item: None,
        api_version: "apps/v1".to_owned(),
        kind: "Deployment".to_owned(),
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        uid: String::new(),
        line: 1,
        decision,
        locations: Vec::new(),
    }
}

#[test]
fn statuses_follow_what_admission_does() {
    assert_eq!(finding_status(&violation("r", Action::Deny)), ResultStatus::Fail);
    assert_eq!(finding_status(&violation("r", Action::Warn)), ResultStatus::Warn);
    assert_eq!(finding_status(&violation("r", Action::Audit)), ResultStatus::Warn);
    assert_eq!(finding_status(&violation("r", Action::Patch)), ResultStatus::Warn);
    let mut error = violation("r", Action::Deny);
    error.finding = FindingType::EvaluationError;
    assert_eq!(finding_status(&error), ResultStatus::Error);
    let mut covered = violation("r", Action::Audit);
    covered.exception = Some(exception(false));
    assert_eq!(finding_status(&covered), ResultStatus::Skip);
    let mut expired = violation("r", Action::Deny);
    expired.exception = Some(exception(true));
    assert_eq!(finding_status(&expired), ResultStatus::Fail);
    assert_eq!(rule_status([]), ResultStatus::Pass);
    assert_eq!(
        rule_status([&violation("r", Action::Warn), &error, &violation("r", Action::Deny)]),
        ResultStatus::Fail
    );
    assert_eq!(
        rule_status([&violation("r", Action::Warn), &error]),
        ResultStatus::Error
    );
}

#[test]
fn one_result_per_evaluated_rule_findings_folded() {
    let mut second = violation("pack-deny", Action::Deny);
    second.pointer = "/spec/template".to_owned();
    second.message = "another".to_owned();
    let mut covered = violation("pack-excepted", Action::Audit);
    covered.exception = Some(exception(false));
    let doc = document(
        "shop",
        "web",
        &["pack-deny", "pack-pass", "pack-deny", "pack-excepted"],
        vec![
            violation("pack-deny", Action::Deny),
            second,
            covered,
            violation("pack-policy", Action::Deny),
        ],
    );
    let results = document_results(&doc, &RuleCatalog::default(), Timestamp::from(now()));
    let summary: Vec<(&str, ResultStatus)> = results.iter().map(|r| (r.rule.as_str(), r.result)).collect();
    assert_eq!(
        summary,
        [
            ("pack-deny", ResultStatus::Fail),
            ("pack-pass", ResultStatus::Pass),
            ("pack-excepted", ResultStatus::Skip),
            // A finding of a rule not listed as evaluated (a whole admission policy) still counts.
            ("pack-policy", ResultStatus::Fail),
        ]
    );
    let deny = &results[0];
    assert_eq!(deny.message, "pack-deny found something; another");
    assert_eq!(deny.properties["findings"], "2");
    assert_eq!(deny.properties["pointers"], r#"["/spec","/spec/template"]"#);
    assert_eq!(deny.properties["pointer"], "/spec");
    assert_eq!(
        deny.policy, "pack",
        "without a catalog entry, the finding names the pack"
    );
    assert!(deny.scored);
    let excepted = &results[2];
    assert_eq!(excepted.properties["exception"], "EXC-1");
    assert_eq!(excepted.properties["exceptionTicket"], "SEC-1");
    assert!(!excepted.properties.contains_key("exceptionExpired"));
    // A rule with no finding and no catalog entry: its id stands for the title.
    assert_eq!(results[1].message, "pack-pass");
    assert!(!results[1].properties.contains_key("pointer"));
}

#[test]
fn reports_per_namespace_cluster_last_with_names_and_labels() {
    let docs = [
        document("shop", "web", &["pack-a"], Vec::new()),
        document("", "ns", &["pack-a"], vec![violation("pack-a", Action::Warn)]),
        document("bank", "api", &["pack-a"], Vec::new()),
        document("quiet", "none", &[], Vec::new()),
        document("{{ .Release.Namespace }}", "templated", &["pack-a"], Vec::new()),
    ];
    for flavor in [ReportFlavor::PolicyReport, ReportFlavor::OpenReports] {
        let reports = build_reports(flavor, &docs, &RuleCatalog::default(), now());
        let names: Vec<(&str, Option<&str>, &str)> = reports
            .iter()
            .map(|r| (r.kind, r.namespace(), r.metadata.name.as_str()))
            .collect();
        let (ns_kind, cluster_kind) = (flavor.namespaced_kind(), flavor.cluster_kind());
        assert_eq!(
            names,
            [
                (ns_kind, Some("bank"), "celgate-bank"),
                (ns_kind, Some("shop"), "celgate-shop"),
                (cluster_kind, None, "celgate-cluster"),
            ]
        );
        for report in &reports {
            assert_eq!(report.metadata.labels[MANAGED_BY_LABEL], "celgate");
            assert_eq!(report.source.is_some(), flavor == ReportFlavor::OpenReports);
            assert_eq!(report.scope.is_some(), report.namespace().is_some());
        }
        assert_eq!(
            reports[2].summary,
            Summary {
                warn: 1,
                pass: 1,
                ..Summary::default()
            }
        );
        assert!(!reports[2].results[0].scored);
        // A namespace no namespace can be named is kept on the object, in the cluster report.
        assert_eq!(reports[2].results[1].resources[0].namespace, "{{ .Release.Namespace }}");
    }
}

#[test]
fn large_reports_split_between_objects() {
    let docs: Vec<DocumentResult> = (0..10)
        .map(|i| document("shop", &format!("web-{i}"), &["pack-a", "pack-b"], Vec::new()))
        .collect();
    let catalog = RuleCatalog::default();
    let mut one = ReportSet::new(ReportFlavor::PolicyReport, now()).with_max_bytes(1);
    let mut all = ReportSet::new(ReportFlavor::PolicyReport, now());
    for doc in &docs {
        one.add(doc, &catalog);
        all.add(doc, &catalog);
    }
    let parts = one.finish();
    assert_eq!(parts.len(), 10, "each object alone: it never splits");
    assert_eq!(parts[0].metadata.name, "celgate-shop");
    assert_eq!(parts[1].metadata.name, "celgate-shop-2");
    assert_eq!(parts[9].metadata.name, "celgate-shop-10");
    assert!(parts.iter().all(|p| p.results.len() == 2 && p.summary.pass == 2));
    assert_eq!(all.finish().len(), 1);
}

#[test]
fn included_scopes_give_empty_reports_and_skips_are_results() {
    let mut set = ReportSet::new(ReportFlavor::OpenReports, now());
    set.include(Some("gone"));
    let doc = document("shop", "web", &[], Vec::new());
    set.add_skipped(&doc, &RuleCatalog::default(), "pack-update-only", "matches UPDATE only");
    let reports = set.finish();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].metadata.name, "celgate-gone");
    assert!(reports[0].results.is_empty());
    assert_eq!(reports[0].summary, Summary::default());
    assert_eq!(reports[1].summary.skip, 1);
    assert_eq!(reports[1].results[0].message, "matches UPDATE only");
}

#[test]
fn yaml_stream_reads_back() {
    let docs = [document(
        "shop",
        "web",
        &["pack-a"],
        vec![violation("pack-a", Action::Deny)],
    )];
    let reports = build_reports(ReportFlavor::PolicyReport, &docs, &RuleCatalog::default(), now());
    let text = render_yaml(&reports);
    assert!(text.starts_with("---\napiVersion: wgpolicyk8s.io/v1alpha2\n"));
    let read = crate::source::parse_documents(&text).expect("YAML");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].value, reports[0].to_value());
    assert_eq!(read[0].value["results"][0]["timestamp"]["seconds"], 1_796_637_600);
    assert_eq!(render_yaml(&[]), "");
}

#[test]
fn flavors_by_name() {
    for flavor in [ReportFlavor::PolicyReport, ReportFlavor::OpenReports] {
        assert_eq!(flavor.as_str().parse::<ReportFlavor>(), Ok(flavor));
        let quoted = serde_json::to_string(&flavor).expect("serializes");
        assert_eq!(quoted, format!("\"{}\"", flavor.as_str()));
        assert_eq!(
            serde_json::from_str::<ReportFlavor>(&quoted).expect("reads back"),
            flavor
        );
    }
    assert!("sarif".parse::<ReportFlavor>().is_err());
}
