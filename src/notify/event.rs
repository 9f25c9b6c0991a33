//! What can be alerted on: a [`DecisionEvent`] (built from the engine's `Input` and `Decision`)
//! or a [`SystemEvent`] (celgate's own trouble). Events carry only what a person needs to act:
//! kind, namespace and name, rule ids, controls, messages and remediation — never the document.

use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::vocab::{DecisionClass, Severity, SystemClass};
pub use crate::engine::Door;
use crate::engine::{Action, Decision, FindingType, Input, Verdict};

/// One finding as a message shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViolationSummary {
    /// Rule id.
    pub rule: String,
    /// Rule title.
    pub title: String,
    /// Rule severity.
    pub severity: Severity,
    /// Control clauses.
    pub controls: Vec<String>,
    /// What the finding did (deny, warn, patch, audit).
    pub action: Action,
    /// Failed check or evaluation error.
    pub finding: FindingType,
    /// The rendered message.
    pub message: String,
    /// How to fix it.
    pub remediation: String,
}

/// A decision worth telling people about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionEvent {
    /// Where the request came in.
    pub door: Door,
    /// Tenant, when known.
    pub tenant: Option<String>,
    /// Environment, when known.
    pub environment: Option<String>,
    /// The engine's verdict.
    pub verdict: Verdict,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: String,
    /// Kind of the object.
    pub kind: String,
    /// Namespace, when namespaced.
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
    /// The subresource requested (`exec`, `scale`), `""` for the resource itself; from the
    /// request facts the rules were judged with.
    pub sub_resource: String,
    /// The `AdmissionReview` uid (or a check API request id).
    pub request_uid: Option<String>,
    /// Requesting user name.
    pub user: String,
    /// True for a dry run.
    pub dry_run: bool,
    /// Findings, most severe first (`audit` findings are left out: they are for auditors).
    pub violations: Vec<ViolationSummary>,
}

impl DecisionEvent {
    /// Builds the event from what a door already has; `audit`-action findings are left out.
    pub fn new(
        door: Door,
        tenant: Option<&str>,
        environment: Option<&str>,
        input: &Input,
        decision: &Decision,
    ) -> DecisionEvent {
        let violations = decision
            .violations
            .iter()
            .filter(|v| v.action != Action::Audit)
            .map(|v| ViolationSummary {
                rule: v.rule.to_string(),
                title: v.title.to_string(),
                severity: v.severity,
                controls: v.controls.to_vec(),
                action: v.action,
                finding: v.finding,
                message: v.message.clone(),
                remediation: v.remediation.to_string(),
            })
            .collect();
        DecisionEvent {
            door,
            tenant: tenant.filter(|t| !t.is_empty()).map(str::to_owned),
            environment: environment.filter(|e| !e.is_empty()).map(str::to_owned),
            verdict: decision.decision,
            operation: input.operation.as_str().to_owned(),
            kind: input.kind().to_owned(),
            namespace: input.effective_namespace().map(str::to_owned),
            name: input.name().to_owned(),
            sub_resource: input.request_facts().sub_resource.clone(),
            request_uid: None,
            user: input.user.username.clone(),
            dry_run: input.dry_run,
            violations,
        }
    }

    /// Adds the request uid.
    #[must_use]
    pub fn with_request_uid(mut self, uid: impl Into<String>) -> DecisionEvent {
        self.request_uid = Some(uid.into());
        self
    }

    /// `Kind namespace/name` (or `Kind name`), with ` (subresource)` for a subresource request.
    pub fn object(&self) -> String {
        let kind = if self.kind.is_empty() { "object" } else { &self.kind };
        let name = if self.name.is_empty() { "(unnamed)" } else { &self.name };
        let object = match &self.namespace {
            Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
            _ => format!("{kind} {name}"),
        };
        if self.sub_resource.is_empty() {
            object
        } else {
            format!("{object} ({})", self.sub_resource)
        }
    }

    /// The most severe finding's severity, `None` without findings.
    pub fn severity(&self) -> Option<Severity> {
        self.violations.iter().map(|v| v.severity).max()
    }

    /// True when the request was denied.
    pub fn is_deny(&self) -> bool {
        self.verdict == Verdict::Deny
    }

    /// True when a rule could not be evaluated.
    pub fn has_evaluation_error(&self) -> bool {
        self.violations
            .iter()
            .any(|v| v.finding == FindingType::EvaluationError)
    }

    /// True when the request was admitted with warnings.
    pub fn has_warning(&self) -> bool {
        !self.is_deny() && self.violations.iter().any(|v| v.action == Action::Warn)
    }

    /// True when the decision is of `class` (one decision can be of several).
    pub fn is_of(&self, class: DecisionClass) -> bool {
        match class {
            DecisionClass::Deny => self.is_deny(),
            DecisionClass::EvaluationError => self.has_evaluation_error(),
            DecisionClass::Warn => self.has_warning(),
        }
    }
}

/// celgate's own trouble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemEvent {
    /// A pack reload was refused; the last good packs keep serving.
    PackReloadFailed {
        /// The loader's error text (file, rule, expression).
        error: String,
    },
    /// The serving certificate expires soon (or has expired).
    CertificateExpiring {
        /// Certificate file.
        path: PathBuf,
        /// Its subject.
        subject: String,
        /// Its `notAfter`.
        not_after: DateTime<Utc>,
        /// Whole days left (negative once expired).
        days_left: i64,
    },
    /// A config reload was refused because it would weaken security (remove every tenant, every
    /// token or the client CA); the last good configuration keeps serving.
    ConfigReloadRefused {
        /// The config file.
        path: PathBuf,
        /// What the new file would have removed.
        reason: String,
    },
    /// Audit records cannot be written.
    AuditWriteFailing {
        /// The writer's error text.
        error: String,
    },
    /// A periodic scan found `fail` results of `high` or `critical` rules that the previous
    /// scan did not have.
    ScanFindings {
        /// The new findings (at most [`SCAN_FINDINGS_SHOWN`] of them).
        findings: Vec<ScanFinding>,
        /// How many new findings there were in all.
        total: usize,
    },
}

/// Most new scan findings one event lists.
pub const SCAN_FINDINGS_SHOWN: usize = 20;

/// A new `fail` result of a periodic scan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScanFinding {
    /// `high` or `critical`.
    pub severity: Severity,
    /// The object: `kind namespace/name`.
    pub object: String,
    /// Pack name.
    pub pack: String,
    /// Rule id.
    pub rule: String,
    /// The finding's message.
    pub message: String,
}

impl SystemEvent {
    /// A certificate-expiry event when `not_after` is within `warning_days` of `now`, else `None`.
    pub fn certificate_expiring(
        path: impl Into<PathBuf>,
        subject: impl Into<String>,
        not_after: DateTime<Utc>,
        now: DateTime<Utc>,
        warning_days: u32,
    ) -> Option<SystemEvent> {
        let left = not_after - now;
        if left > chrono::Duration::days(i64::from(warning_days)) {
            return None;
        }
        Some(SystemEvent::CertificateExpiring {
            path: path.into(),
            subject: subject.into(),
            not_after,
            days_left: left.num_days(),
        })
    }

    /// The kind of trouble, as routes name it.
    pub fn class(&self) -> SystemClass {
        match self {
            SystemEvent::PackReloadFailed { .. } => SystemClass::PackReloadFailed,
            SystemEvent::CertificateExpiring { .. } => SystemClass::CertificateExpiring,
            SystemEvent::AuditWriteFailing { .. } => SystemClass::AuditWriteFailing,
            SystemEvent::ConfigReloadRefused { .. } => SystemClass::ConfigReloadRefused,
            SystemEvent::ScanFindings { .. } => SystemClass::ScanFindings,
        }
    }

    /// Fixed severity of each kind of trouble.
    pub fn severity(&self) -> Severity {
        match self {
            SystemEvent::CertificateExpiring { days_left, .. } if *days_left <= 2 => Severity::Critical,
            SystemEvent::PackReloadFailed { .. } | SystemEvent::CertificateExpiring { .. } => Severity::High,
            SystemEvent::AuditWriteFailing { .. } | SystemEvent::ConfigReloadRefused { .. } => Severity::Critical,
            SystemEvent::ScanFindings { findings, .. } => findings
                .iter()
                .map(|f| f.severity)
                .max()
                .unwrap_or(Severity::High)
                .max(Severity::High),
        }
    }
}

/// Anything the notifier can be told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A decision.
    Decision(Box<DecisionEvent>),
    /// celgate's own trouble.
    System(SystemEvent),
}

impl From<DecisionEvent> for Event {
    fn from(event: DecisionEvent) -> Self {
        Event::Decision(Box::new(event))
    }
}

impl From<SystemEvent> for Event {
    fn from(event: SystemEvent) -> Self {
        Event::System(event)
    }
}

impl Event {
    /// How severe the event is (`None`: a decision without findings, never posted).
    pub fn severity(&self) -> Option<Severity> {
        match self {
            Event::Decision(d) => d.severity(),
            Event::System(s) => Some(s.severity()),
        }
    }

    /// What makes two events "the same" for grouping: tenant, object, rule set and verdict; for
    /// system events their kind and subject.
    pub fn group_key(&self) -> String {
        let mut key = String::new();
        match self {
            Event::Decision(d) => {
                let mut rules: Vec<&str> = d.violations.iter().map(|v| v.rule.as_str()).collect();
                rules.sort_unstable();
                rules.dedup();
                let _ = write!(
                    key,
                    "decision\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
                    d.tenant.as_deref().unwrap_or(""),
                    d.environment.as_deref().unwrap_or(""),
                    d.kind,
                    d.namespace.as_deref().unwrap_or(""),
                    d.name,
                    d.verdict.as_str(),
                    rules.join(",")
                );
            }
            Event::System(SystemEvent::PackReloadFailed { error }) => {
                let _ = write!(key, "reload\u{1f}{error}");
            }
            Event::System(SystemEvent::CertificateExpiring { path, not_after, .. }) => {
                let _ = write!(key, "cert\u{1f}{}\u{1f}{not_after}", path.display());
            }
            Event::System(SystemEvent::ConfigReloadRefused { path, reason }) => {
                let _ = write!(key, "weakening\u{1f}{}\u{1f}{reason}", path.display());
            }
            Event::System(SystemEvent::AuditWriteFailing { error }) => {
                let _ = write!(key, "audit\u{1f}{error}");
            }
            Event::System(SystemEvent::ScanFindings { findings, total }) => {
                let _ = write!(key, "scan\u{1f}{total}");
                for f in findings {
                    let _ = write!(key, "\u{1f}{}\u{1f}{}", f.object, f.rule);
                }
            }
        }
        key
    }
}
