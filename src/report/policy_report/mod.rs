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
//! manifests that name no namespace, since celgate cannot know where they will be applied, or
//! one no namespace can be named, such as a template placeholder.
//! Every report carries the label `app.kubernetes.io/managed-by: celgate`. Reports are ordered
//! by namespace, the cluster report last; results by object (in input order) then rule. A
//! report whose results pass [`DEFAULT_MAX_REPORT_BYTES`] (1 MB of JSON; etcd stores at most
//! 1.5 MiB per object) continues in `celgate-<namespace>-2`, `-3`, ..., an object's results
//! never split.
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
mod set;
#[cfg(test)]
mod tests;
pub mod types;

pub use catalog::{RuleCatalog, RuleInfo};
pub use set::{ReportSet, DEFAULT_MAX_REPORT_BYTES};
pub use types::{
    ObjectReference, Report, ReportMetadata, ReportResult, ReportSeverity, ResultStatus, Summary, Timestamp,
    MANAGED_BY_LABEL, SOURCE,
};

use super::DocumentResult;

/// Which report API to write; named `policyreport` and `openreports` (as `--format` takes
/// them) in text and configuration files. The default is what Kyverno writes by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFlavor {
    /// wgpolicyk8s.io/v1alpha2 `PolicyReport` and `ClusterPolicyReport`.
    #[default]
    PolicyReport,
    /// openreports.io/v1alpha1 `Report` and `ClusterReport`.
    OpenReports,
}

impl ReportFlavor {
    /// The flavor's name: `policyreport` or `openreports`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFlavor::PolicyReport => "policyreport",
            ReportFlavor::OpenReports => "openreports",
        }
    }

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

/// A name other than `policyreport` or `openreports`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report format '{0}' (expected policyreport or openreports)")]
pub struct UnknownFlavor(pub String);

impl std::str::FromStr for ReportFlavor {
    type Err = UnknownFlavor;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "policyreport" => Ok(ReportFlavor::PolicyReport),
            "openreports" => Ok(ReportFlavor::OpenReports),
            other => Err(UnknownFlavor(other.to_owned())),
        }
    }
}

/// The name of celgate's report for `namespace` (`celgate-<namespace>`), or of its cluster
/// report (`celgate-cluster`) for `None`: the name of its first part.
pub fn report_name(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("celgate-{ns}"),
        None => "celgate-cluster".to_owned(),
    }
}

/// The name of part `index` (0-based) of celgate's report for `namespace`: the first part is
/// [`report_name`], the next ones add `-2`, `-3`, ...
pub fn report_part_name(namespace: Option<&str>, index: usize) -> String {
    let name = report_name(namespace);
    if index == 0 {
        name
    } else {
        format!("{name}-{}", index + 1)
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
