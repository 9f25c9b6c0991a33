//! Policy reports: `check --format policyreport|openreports` and `celgate scan`.
//!
//! Judged documents become Kubernetes report objects that Policy Reporter, its exporter and
//! `kubectl get polr` read: wgpolicyk8s.io/v1alpha2 `PolicyReport` / `ClusterPolicyReport`
//! (the format Kyverno writes by default) or openreports.io/v1alpha1 `Report` / `ClusterReport`
//! (its successor). Both flavors share every field celgate writes; `OpenReports` adds the
//! report-level `source`.
//!
//! **Reports.** One per namespace (`PolicyReport`/`Report` named `celgate-<namespace>` in that
//! namespace, `scope` = the `Namespace`) and one for objects without a namespace
//! (`ClusterPolicyReport`/`ClusterReport` named `celgate-cluster`): cluster-scoped objects, and
//! manifests that name no namespace, since celgate cannot know where they will be applied.
//! Every report carries the label `app.kubernetes.io/managed-by: celgate`. Reports are ordered
//! by namespace, the cluster report last; results by object (in input order) then rule.
//!
//! **Results.** One per object and evaluated rule: `source: celgate`, `policy` = pack name
//! (an admission policy's name), `rule` = rule id, `category` = the pack's framework,
//! `severity` = the rule's (critical, high, medium, low: the same names; celgate has no
//! `info`), `message` = the findings' messages (the title for a pass), `resources` = the object
//! (apiVersion, kind, name, namespace, uid when known), `timestamp` = when the run judged,
//! `properties` = controls, pointer, exception and more (see [`results`]). The status follows
//! what the finding does at admission ([`results::finding_status`]):
//!
//! | finding | result | scored |
//! | --- | --- | --- |
//! | none (the rule was evaluated) | `pass` | true |
//! | `deny` (an `enforce` mode included) | `fail` | true |
//! | `warn`, `audit`, `patch` | `warn` | false |
//! | evaluation error | `error` | true |
//! | covered by an exception | `skip` | true |
//!
//! `fail` thus counts exactly the objects admission would refuse, and `warn` those a rule
//! flags without refusing: in Kyverno's terms, a failure of a policy that is not scored
//! (`policies.kyverno.io/scored: "false"`), which Kyverno reports as `warn` too. Moving a rule
//! from `warn` or `audit` to `enforce` turns its `warn` results into `fail`. A rule with several
//! findings on one object (one per container, say) gets the worst status of them.
//!
//! The builder: [`ReportSet`] collects results document by document (a scan need not keep
//! every document), [`build_reports`] does it for a slice, [`render_yaml`] writes the
//! multi-document YAML stream `kubectl apply -f` takes.

pub mod catalog;
pub mod results;
pub mod types;

use std::collections::BTreeMap;

pub use catalog::{RuleCatalog, RuleInfo};
pub use types::{
    ObjectReference, Report, ReportMetadata, ReportResult, ReportSeverity, ResultStatus, Summary, Timestamp,
    MANAGED_BY_LABEL, SOURCE,
};

use super::DocumentResult;

/// Which report API to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFlavor {
    /// wgpolicyk8s.io/v1alpha2 `PolicyReport` and `ClusterPolicyReport`.
    PolicyReport,
    /// openreports.io/v1alpha1 `Report` and `ClusterReport`.
    OpenReports,
}

impl ReportFlavor {
    /// The `apiVersion` of its reports.
    pub fn api_version(self) -> &'static str {
        match self {
            ReportFlavor::PolicyReport => "wgpolicyk8s.io/v1alpha2",
            ReportFlavor::OpenReports => "openreports.io/v1alpha1",
        }
    }

    /// The `kind` of its namespaced reports.
    pub fn namespaced_kind(self) -> &'static str {
        match self {
            ReportFlavor::PolicyReport => "PolicyReport",
            ReportFlavor::OpenReports => "Report",
        }
    }

    /// The `kind` of its cluster-scoped report.
    pub fn cluster_kind(self) -> &'static str {
        match self {
            ReportFlavor::PolicyReport => "ClusterPolicyReport",
            ReportFlavor::OpenReports => "ClusterReport",
        }
    }

    /// The resource (lowercase plural) of its namespaced reports, for the API's URLs.
    pub fn namespaced_resource(self) -> &'static str {
        match self {
            ReportFlavor::PolicyReport => "policyreports",
            ReportFlavor::OpenReports => "reports",
        }
    }

    /// The resource (lowercase plural) of its cluster-scoped reports.
    pub fn cluster_resource(self) -> &'static str {
        match self {
            ReportFlavor::PolicyReport => "clusterpolicyreports",
            ReportFlavor::OpenReports => "clusterreports",
        }
    }
}

/// The name of celgate's report for `namespace` (`celgate-<namespace>`), or of its cluster
/// report (`celgate-cluster`) for `None`.
pub fn report_name(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("celgate-{ns}"),
        None => "celgate-cluster".to_owned(),
    }
}

/// Collects results, one report per namespace plus the cluster report, as documents are judged.
#[derive(Debug, Clone)]
pub struct ReportSet {
    flavor: ReportFlavor,
    timestamp: Timestamp,
    /// Results by namespace; `None` is the cluster report.
    reports: BTreeMap<Option<String>, Vec<ReportResult>>,
}

impl ReportSet {
    /// An empty set of `flavor` reports whose results are stamped `now`.
    pub fn new(flavor: ReportFlavor, now: chrono::DateTime<chrono::Utc>) -> ReportSet {
        ReportSet {
            flavor,
            timestamp: Timestamp::from(now),
            reports: BTreeMap::new(),
        }
    }

    /// Adds one result per rule `result` evaluated to the report of its namespace (the cluster
    /// report when it has none).
    pub fn add(&mut self, result: &DocumentResult, catalog: &RuleCatalog) {
        let results = results::document_results(result, catalog, self.timestamp);
        self.push(Self::scope_of(result), results);
    }

    /// Adds a `skip` result of rule `rule` for the object of `result`, with `reason` as its
    /// message (e.g. a rule a scan did not evaluate because it matches other operations only).
    pub fn add_skipped(&mut self, result: &DocumentResult, catalog: &RuleCatalog, rule: &str, reason: &str) {
        let info = catalog.rule(rule);
        let mut properties = BTreeMap::new();
        if let Some(info) = info {
            properties.insert("title".to_owned(), info.title.clone());
            if !info.controls.is_empty() {
                properties.insert("controls".to_owned(), info.controls.join("; "));
            }
        }
        let skipped = ReportResult {
            source: SOURCE,
            policy: info.map(|i| i.pack.clone()).unwrap_or_default(),
            rule: rule.to_owned(),
            category: info.and_then(|i| i.framework.clone()),
            severity: info.map(|i| ReportSeverity::from(i.severity)),
            timestamp: self.timestamp,
            result: ResultStatus::Skip,
            scored: true,
            message: reason.to_owned(),
            resources: vec![results::object_reference(result)],
            properties,
        };
        self.push(Self::scope_of(result), vec![skipped]);
    }

    /// Makes sure a report for `namespace` (`None`: the cluster report) is written even when
    /// no result lands in it, so applying the set empties a previous report there.
    pub fn include(&mut self, namespace: Option<&str>) {
        self.reports.entry(namespace.map(str::to_owned)).or_default();
    }

    /// The reports: by namespace name, the cluster report last; only those with results or
    /// asked for with [`ReportSet::include`].
    pub fn finish(self) -> Vec<Report> {
        let flavor = self.flavor;
        let mut reports: Vec<Report> = Vec::with_capacity(self.reports.len());
        let mut cluster = None;
        for (namespace, results) in self.reports {
            let report = make_report(flavor, namespace, results);
            if report.metadata.namespace.is_none() {
                cluster = Some(report);
            } else {
                reports.push(report);
            }
        }
        reports.extend(cluster);
        reports
    }

    fn scope_of(result: &DocumentResult) -> Option<String> {
        (!result.namespace.is_empty()).then(|| result.namespace.clone())
    }

    fn push(&mut self, scope: Option<String>, results: Vec<ReportResult>) {
        if results.is_empty() {
            return;
        }
        self.reports.entry(scope).or_default().extend(results);
    }
}

/// The reports of `results` (see [`ReportSet`]), every result stamped `now`.
pub fn build_reports(
    flavor: ReportFlavor,
    results: &[DocumentResult],
    catalog: &RuleCatalog,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Report> {
    let mut set = ReportSet::new(flavor, now);
    for result in results {
        set.add(result, catalog);
    }
    set.finish()
}

fn make_report(flavor: ReportFlavor, namespace: Option<String>, results: Vec<ReportResult>) -> Report {
    let labels = BTreeMap::from([(MANAGED_BY_LABEL.to_owned(), SOURCE.to_owned())]);
    let scope = namespace.as_ref().map(|ns| ObjectReference {
        api_version: "v1".to_owned(),
        kind: "Namespace".to_owned(),
        name: ns.clone(),
        namespace: String::new(),
        uid: String::new(),
    });
    Report {
        api_version: flavor.api_version(),
        kind: if namespace.is_some() {
            flavor.namespaced_kind()
        } else {
            flavor.cluster_kind()
        },
        metadata: ReportMetadata {
            name: report_name(namespace.as_deref()),
            namespace,
            labels,
        },
        scope,
        source: (flavor == ReportFlavor::OpenReports).then_some(SOURCE),
        summary: Summary::of(&results),
        results,
    }
}

/// The reports as one multi-document YAML stream (each document starting with `---`), which
/// `kubectl apply -f -` and `kubectl create -f -` take as they are; empty when there are none.
pub fn render_yaml(reports: &[Report]) -> String {
    let mut out = String::new();
    for report in reports {
        out.push_str("---\n");
        out.push_str(&crate::source::to_yaml_string(&report.to_value()));
    }
    out
}
