//! Rendering decisions for people and CI systems: text, JSON, SARIF 2.1.0, `JUnit` XML, and
//! Kubernetes policy reports (wgpolicyk8s.io `PolicyReport`, openreports.io `Report`).
//!
//! Every renderer takes the same [`CheckReport`]: one [`DocumentResult`] per checked document,
//! plus the input errors that stopped some documents from being checked.

pub mod json;
pub mod junit;
pub mod policy_report;
pub mod sarif;
pub mod text;

use serde::Serialize;

use crate::engine::{Decision, UnconfiguredParam, Verdict};

/// The result of checking one document.
#[derive(Debug, Clone)]
pub struct DocumentResult {
    /// File path as given on the command line (or `-` for stdin).
    pub source: String,
    /// 0-based index of the document in its file (items of a `kind: List` share their list's
    /// index and are told apart by `item`).
    pub document: usize,
    /// Index inside a `kind: List`, when the document was one of its items.
    pub item: Option<usize>,
    /// `apiVersion` of the document (`""` when absent).
    pub api_version: String,
    /// `kind` of the document.
    pub kind: String,
    /// `metadata.name` (`""` when absent).
    pub name: String,
    /// `metadata.namespace` (`""` when absent).
    pub namespace: String,
    /// `metadata.uid` (`""` when absent, as in most manifests).
    pub uid: String,
    /// 1-based line where the document starts.
    pub line: usize,
    /// The engine's decision.
    pub decision: Decision,
    /// For each violation of `decision.violations` (same order): its line and column.
    pub locations: Vec<Option<Location>>,
}

/// Where a judged document came from: its file (`-` for stdin, `request` for the check API),
/// its place in the file and the line it starts on.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// File path as given (or `-`, or `request`).
    pub source: &'a str,
    /// 0-based index of the document in its file.
    pub document: usize,
    /// Index inside a `kind: List`.
    pub item: Option<usize>,
    /// 1-based line where the document starts.
    pub line: usize,
}

impl DocumentResult {
    /// The result of `decision` on `input` (as judged), from `origin`; `locate` finds a
    /// violation's line and column from its JSON pointer. Every door that reports documents
    /// (`celgate check`, the check API) builds its results here.
    pub fn judged(
        origin: Origin<'_>,
        input: &crate::engine::Input,
        decision: Decision,
        locate: impl Fn(&str) -> Option<Location>,
    ) -> DocumentResult {
        let locations = decision.violations.iter().map(|v| locate(&v.pointer)).collect();
        DocumentResult {
            source: origin.source.to_owned(),
            document: origin.document,
            item: origin.item,
            api_version: input.api_version().to_owned(),
            kind: input.kind().to_owned(),
            name: input.name().to_owned(),
            namespace: input.effective_namespace().unwrap_or("").to_owned(),
            uid: input
                .subject()
                .pointer("/metadata/uid")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_owned(),
            line: origin.line,
            decision,
            locations,
        }
    }
}

/// A line and column in a source file (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// A document or file that could not be checked (bad YAML, no kind, too large, ...).
#[derive(Debug, Clone, Serialize)]
pub struct InputProblem {
    /// File path (or `-`).
    pub source: String,
    /// 0-based document index, when the problem concerns one document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// Line and column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for InputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(loc) = self.location {
            write!(f, ":{}:{}", loc.line, loc.column)?;
        }
        if let Some(doc) = self.document {
            write!(f, " (document {})", doc + 1)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Everything one `celgate check` run produced.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// One entry per checked document, in input order.
    pub results: Vec<DocumentResult>,
    /// Inputs that could not be checked.
    pub problems: Vec<InputProblem>,
    /// Packs used: (name, version, framework).
    pub packs: Vec<PackInfo>,
    /// Params that still held their pack's example value for some checked document, with the
    /// rules that warned instead of denying because of it (said once, at the top).
    pub unconfigured: Vec<UnconfiguredParam>,
}

/// A pack as reports describe it.
#[derive(Debug, Clone, Serialize)]
pub struct PackInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.version`.
    pub version: String,
    /// `metadata.framework`.
    pub framework: Option<String>,
}

impl CheckReport {
    /// Process exit code of design §6: 2 when any input could not be checked, else 1 when any
    /// document is denied, else 0 (warnings allowed).
    pub fn exit_code(&self) -> u8 {
        if self.problems.is_empty() {
            u8::from(self.results.iter().any(|r| r.decision.decision == Verdict::Deny))
        } else {
            2
        }
    }

    /// Counts of (allowed, denied, patched) documents.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.results {
            match r.decision.decision {
                Verdict::Allow => c.0 += 1,
                Verdict::Deny => c.1 += 1,
                Verdict::Patch => c.2 += 1,
            }
        }
        c
    }
}

impl DocumentResult {
    /// `Kind/namespace/name` as people read it (`Deployment/shop/web`).
    pub fn display_name(&self) -> String {
        let mut s = if self.kind.is_empty() {
            "document".to_owned()
        } else {
            self.kind.clone()
        };
        if !self.namespace.is_empty() {
            s.push('/');
            s.push_str(&self.namespace);
        }
        if !self.name.is_empty() {
            s.push('/');
            s.push_str(&self.name);
        }
        s
    }
}

/// The notice about [`CheckReport::unconfigured`], one line per param after a headline, or
/// `None` when every param is configured. Shared by the text report, stderr and SARIF.
pub fn unconfigured_notice(params: &[UnconfiguredParam]) -> Option<Vec<String>> {
    if params.is_empty() {
        return None;
    }
    let n = params.len();
    let headline = if n == 1 {
        "1 param still holds the example value its pack ships, so the rules that read it warn".to_owned()
    } else {
        format!("{n} params still hold the example values their packs ship, so the rules that read them warn")
    };
    let mut lines = vec![format!(
        "{headline} instead of denying until configured (in a tenant's params in celgate.yaml, or in the \
         pack's spec.params):"
    )];
    for p in params {
        lines.push(format!(
            "{} params.{} = {}: {}",
            p.pack,
            p.param,
            p.example,
            p.rules.join(", ")
        ));
    }
    Some(lines)
}

/// Adds `more` to `params`, merging entries of the same pack and param (their rules united).
pub fn merge_unconfigured(params: &mut Vec<UnconfiguredParam>, more: Vec<UnconfiguredParam>) {
    for entry in more {
        match params
            .iter_mut()
            .find(|p| p.pack == entry.pack && p.param == entry.param)
        {
            Some(known) => {
                for rule in entry.rules {
                    if !known.rules.contains(&rule) {
                        known.rules.push(rule);
                    }
                }
            }
            None => params.push(entry),
        }
    }
}

/// One line on an exception: `exception EXC-1 (owner: team-a, ticket: SEC-9) until 2026-12-31: reason`,
/// or that it matched but has expired.
pub fn exception_line(x: &crate::engine::ExceptionUse) -> String {
    let ticket = x.ticket.as_ref().map(|t| format!(", ticket: {t}")).unwrap_or_default();
    if x.expired {
        format!(
            "exception {} (owner: {}{ticket}) expired on {}; it no longer applies",
            x.id, x.owner, x.expires
        )
    } else {
        format!(
            "exception {} (owner: {}{ticket}) until {}: {}",
            x.id, x.owner, x.expires, x.reason
        )
    }
}
