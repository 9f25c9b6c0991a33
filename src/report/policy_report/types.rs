//! The report objects as their CRDs define them: wgpolicyk8s.io/v1alpha2 `PolicyReport` and
//! `ClusterPolicyReport`, openreports.io/v1alpha1 `Report` and `ClusterReport`. Both APIs share
//! every field celgate writes, except the report-level `source` only `OpenReports` has.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::Severity;

/// The label every report celgate writes carries, so a scan finds (and replaces) its own reports.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// The value of [`MANAGED_BY_LABEL`], and the `source` of every result.
pub const SOURCE: &str = "celgate";

/// One report: all results of one namespace, or of the cluster-scoped objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `wgpolicyk8s.io/v1alpha2` or `openreports.io/v1alpha1`.
    pub api_version: &'static str,
    /// `PolicyReport`, `ClusterPolicyReport`, `Report` or `ClusterReport`.
    pub kind: &'static str,
    /// Name, namespace (namespaced reports only) and labels.
    pub metadata: ReportMetadata,
    /// What the report covers: the `Namespace` of a namespaced report; `None` for a cluster report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<ObjectReference>,
    /// `celgate`: the engine that manages the report (`OpenReports` only; the wgpolicyk8s.io
    /// schema has no such field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
    /// Counts of the results by status.
    pub summary: Summary,
    /// One result per object and evaluated rule, ordered by object then rule.
    pub results: Vec<ReportResult>,
}

impl Report {
    /// The report as a JSON value (its fields in the API's spelling).
    pub fn to_value(&self) -> serde_json::Value {
        // Strings, numbers, and maps with string keys: serializing cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The namespace the report lives in (`None`: a cluster-scoped report).
    pub fn namespace(&self) -> Option<&str> {
        self.metadata.namespace.as_deref()
    }
}

/// `metadata` of a report: what server-side apply needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportMetadata {
    /// `celgate-<namespace>`, or `celgate-cluster` (see [`report_name`](super::report_name)).
    pub name: String,
    /// The namespace of a namespaced report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `app.kubernetes.io/managed-by: celgate`.
    pub labels: BTreeMap<String, String>,
}

/// A reference to a Kubernetes object (`corev1.ObjectReference`, the fields celgate knows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// `apiVersion` of the object (left out when the document has none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Its `kind`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Its `metadata.name`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Its `metadata.uid` (objects read from a cluster have one; manifests usually not).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// One rule's outcome on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportResult {
    /// `celgate`.
    pub source: &'static str,
    /// The pack's name (for an admission policy: the policy's name).
    pub policy: String,
    /// The rule id.
    pub rule: String,
    /// The pack's framework (`SOC 2`), when the pack names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The rule's severity, as the API spells it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<ReportSeverity>,
    /// When the object was judged.
    pub timestamp: Timestamp,
    /// pass, fail, warn, error or skip.
    pub result: ResultStatus,
    /// False for `warn` results (the API's "non-scored" failures), true otherwise.
    pub scored: bool,
    /// The finding's message (several findings of the rule joined by `; `), or the rule's title
    /// for a pass.
    pub message: String,
    /// The object judged.
    pub resources: Vec<ObjectReference>,
    /// String details: `controls`, `pointer`, `exception`, `action`, ... (see the module docs).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

/// The outcome of a rule on an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    /// The rule was evaluated and found nothing.
    Pass,
    /// A finding covered by an exception (or, from a scan, a rule that was not evaluated).
    Skip,
    /// A finding that does not block: `warn`, `audit` or `patch` action.
    Warn,
    /// The rule could not be evaluated.
    Error,
    /// A finding that blocks: `deny` action.
    Fail,
}

impl ResultStatus {
    /// Lowercase name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultStatus::Pass => "pass",
            ResultStatus::Skip => "skip",
            ResultStatus::Warn => "warn",
            ResultStatus::Error => "error",
            ResultStatus::Fail => "fail",
        }
    }
}

/// The API's severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportSeverity {
    /// `critical`.
    Critical,
    /// `high`.
    High,
    /// `medium`.
    Medium,
    /// `low`.
    Low,
    /// `info` (celgate has no rule of this severity; part of the API's enum).
    Info,
}

impl From<Severity> for ReportSeverity {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Critical => ReportSeverity::Critical,
            Severity::High => ReportSeverity::High,
            Severity::Medium => ReportSeverity::Medium,
            Severity::Low => ReportSeverity::Low,
        }
    }
}

/// A point in time as the API writes it (`google.protobuf.Timestamp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Nanoseconds within the second (0 to 999,999,999).
    pub nanos: i32,
}

impl From<chrono::DateTime<chrono::Utc>> for Timestamp {
    fn from(time: chrono::DateTime<chrono::Utc>) -> Self {
        Timestamp {
            seconds: time.timestamp(),
            // During a leap second chrono counts nanos past 1e9; the API allows 999,999,999 at most.
            nanos: i32::try_from(time.timestamp_subsec_nanos().min(999_999_999)).unwrap_or(0),
        }
    }
}

/// Counts of a report's results by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Rules that found nothing.
    pub pass: usize,
    /// Blocking findings.
    pub fail: usize,
    /// Non-blocking findings.
    pub warn: usize,
    /// Rules that could not be evaluated.
    pub error: usize,
    /// Findings covered by exceptions, and rules a scan did not evaluate.
    pub skip: usize,
}

impl Summary {
    /// The counts of `results`.
    pub fn of(results: &[ReportResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.result {
                ResultStatus::Pass => s.pass += 1,
                ResultStatus::Fail => s.fail += 1,
                ResultStatus::Warn => s.warn += 1,
                ResultStatus::Error => s.error += 1,
                ResultStatus::Skip => s.skip += 1,
            }
        }
        s
    }
}
