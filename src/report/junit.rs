//! `JUnit` XML (`check --format junit`), for the test tabs of CI systems.
//!
//! One `<testsuite>` per source file; inside it one `<testcase>` per document and evaluated rule
//! (`classname` = `source:Kind/namespace/name`, `name` = rule id):
//!
//! - a deny finding (or a patch finding that was not applied) is a `<failure type="deny">`;
//! - an evaluation error that denies is an `<error type="evaluation-error">`;
//! - warn and audit findings, and findings fixed by a patch, pass and are described in
//!   `<system-out>`;
//! - a document no rule applies to gets one passing testcase named `no rules apply`;
//! - every input problem is a testcase with an `<error type="input">` in its file's suite.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::{CheckReport, DocumentResult, InputProblem, Location};
use crate::engine::{Action, FindingType, Violation};

/// Name of the testcase of a document that no rule applies to.
pub const NO_RULES_APPLY: &str = "no rules apply";

/// Renders the whole run as a `JUnit` XML document (UTF-8, with a trailing newline).
pub fn render(report: &CheckReport) -> String {
    let mut suites = Suites::default();
    for result in &report.results {
        suites.get(&result.source).cases.extend(document_cases(result));
    }
    for problem in &report.problems {
        suites.get(&problem.source).cases.push(problem_case(problem));
    }
    let suites = suites.list;

    let (tests, failures, errors) = suites.iter().fold((0, 0, 0), |acc, suite| {
        let (t, f, e) = suite.counts();
        (acc.0 + t, acc.1 + f, acc.2 + e)
    });
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"celgate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">"
    );
    for suite in &suites {
        suite.write(&mut out);
    }
    out.push_str("</testsuites>\n");
    out
}

/// The suites in order of first appearance, one per source.
#[derive(Default)]
struct Suites<'a> {
    list: Vec<Suite<'a>>,
    by_source: HashMap<&'a str, usize>,
}

impl<'a> Suites<'a> {
    /// The suite of `source`, created (at the end) when new.
    fn get(&mut self, source: &'a str) -> &mut Suite<'a> {
        let list = &mut self.list;
        let index = *self.by_source.entry(source).or_insert_with(|| {
            list.push(Suite {
                name: source_name(source),
                cases: Vec::new(),
            });
            list.len() - 1
        });
        &mut self.list[index]
    }
}

/// The testcases of one source file.
struct Suite<'a> {
    name: &'a str,
    cases: Vec<Case>,
}

impl Suite<'_> {
    /// (tests, failures, errors)
    fn counts(&self) -> (usize, usize, usize) {
        let failures = self
            .cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failure { .. }))
            .count();
        let errors = self
            .cases
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Error { .. }))
            .count();
        (self.cases.len(), failures, errors)
    }

    fn write(&self, out: &mut String) {
        let (tests, failures, errors) = self.counts();
        out.push_str("  <testsuite name=\"");
        escape_into(out, self.name, true);
        let _ = writeln!(
            out,
            "\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">"
        );
        for case in &self.cases {
            case.write(out);
        }
        out.push_str("  </testsuite>\n");
    }
}

/// One `<testcase>`.
struct Case {
    classname: String,
    name: String,
    outcome: Outcome,
    /// Lines for `<system-out>` (findings that did not fail the case).
    system_out: Vec<String>,
}

enum Outcome {
    Pass,
    Failure {
        message: String,
        kind: &'static str,
        body: String,
    },
    Error {
        message: String,
        kind: &'static str,
        body: String,
    },
}

impl Case {
    fn write(&self, out: &mut String) {
        out.push_str("    <testcase classname=\"");
        escape_into(out, &self.classname, true);
        out.push_str("\" name=\"");
        escape_into(out, &self.name, true);
        out.push('"');
        if matches!(self.outcome, Outcome::Pass) && self.system_out.is_empty() {
            out.push_str("/>\n");
            return;
        }
        out.push_str(">\n");
        let (element, message, kind, body) = match &self.outcome {
            Outcome::Pass => ("", "", "", ""),
            Outcome::Failure { message, kind, body } => ("failure", message.as_str(), *kind, body.as_str()),
            Outcome::Error { message, kind, body } => ("error", message.as_str(), *kind, body.as_str()),
        };
        if !element.is_empty() {
            let _ = write!(out, "      <{element} message=\"");
            escape_into(out, message, true);
            out.push_str("\" type=\"");
            escape_into(out, kind, true);
            out.push_str("\">");
            escape_into(out, body, false);
            let _ = writeln!(out, "</{element}>");
        }
        if !self.system_out.is_empty() {
            out.push_str("      <system-out>");
            escape_into(out, &self.system_out.join("\n\n"), false);
            out.push_str("</system-out>\n");
        }
        out.push_str("    </testcase>\n");
    }
}

/// What one finding does to its testcase.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Fails the case (a deny, or a patch that was not applied).
    Failure,
    /// Errors the case (an evaluation error that denies).
    Error,
    /// Passes, with a note in `<system-out>`.
    Note(&'static str),
}

fn effect(v: &Violation) -> Effect {
    match (v.finding, v.action) {
        (FindingType::Violation, Action::Warn) => Effect::Note("warn"),
        (FindingType::Violation, Action::Audit) => Effect::Note("audit"),
        (FindingType::EvaluationError, Action::Warn) => Effect::Note("warn (evaluation error)"),
        (FindingType::EvaluationError, Action::Audit) => Effect::Note("audit (evaluation error)"),
        _ if v.patched => Effect::Note("patched"),
        (FindingType::EvaluationError, _) => Effect::Error,
        (FindingType::Violation, Action::Deny | Action::Patch) => Effect::Failure,
    }
}

/// The testcases of one document: one per evaluated rule (plus any rule with a finding that is
/// missing from `evaluated_rules`), or one `no rules apply`.
fn document_cases(result: &DocumentResult) -> Vec<Case> {
    let classname = format!("{}:{}", source_name(&result.source), result.display_name());
    let findings: Vec<(&Violation, Option<Location>)> = result
        .decision
        .violations
        .iter()
        .zip(result.locations.iter().copied().chain(std::iter::repeat(None)))
        .collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let rules: Vec<&str> = result
        .decision
        .evaluated_rules
        .iter()
        .map(AsRef::as_ref)
        .chain(result.decision.violations.iter().map(|v| &*v.rule))
        .filter(|id| seen.insert(id))
        .collect();
    if rules.is_empty() {
        return vec![Case {
            classname,
            name: NO_RULES_APPLY.to_owned(),
            outcome: Outcome::Pass,
            system_out: Vec::new(),
        }];
    }
    rules
        .into_iter()
        .map(|rule| {
            let mine: Vec<(&Violation, Option<Location>)> =
                findings.iter().filter(|(v, _)| *v.rule == *rule).copied().collect();
            rule_case(result, classname.clone(), rule, &mine)
        })
        .collect()
}

fn rule_case(
    result: &DocumentResult,
    classname: String,
    rule: &str,
    findings: &[(&Violation, Option<Location>)],
) -> Case {
    let failures: Vec<_> = findings.iter().filter(|(v, _)| effect(v) == Effect::Failure).collect();
    let errors: Vec<_> = findings.iter().filter(|(v, _)| effect(v) == Effect::Error).collect();
    let system_out: Vec<String> = findings
        .iter()
        .filter_map(|(v, loc)| match effect(v) {
            Effect::Note(label) => Some(format!("{label}: {}", describe(result, v, *loc))),
            Effect::Failure | Effect::Error => None,
        })
        .collect();
    // A definite violation outranks an evaluation error of the same rule (a `forEach` rule can
    // have both); the errors are then listed in the failure's text.
    let outcome = if let Some((first, _)) = failures.first() {
        let body: Vec<String> = failures
            .iter()
            .chain(errors.iter())
            .map(|(v, loc)| describe(result, v, *loc))
            .collect();
        Outcome::Failure {
            message: summary(&first.message, failures.len() + errors.len()),
            kind: first.action.as_str(),
            body: body.join("\n\n"),
        }
    } else if let Some((first, _)) = errors.first() {
        let body: Vec<String> = errors.iter().map(|(v, loc)| describe(result, v, *loc)).collect();
        Outcome::Error {
            message: summary(&first.message, errors.len()),
            kind: "evaluation-error",
            body: body.join("\n\n"),
        }
    } else {
        Outcome::Pass
    };
    Case {
        classname,
        name: rule.to_owned(),
        outcome,
        system_out,
    }
}

/// The `message` attribute: the first finding's message, and how many more there are.
fn summary(first: &str, count: usize) -> String {
    if count > 1 {
        format!("{first} (and {} more)", count - 1)
    } else {
        first.to_owned()
    }
}

/// A finding as people read it in a CI test tab.
fn describe(result: &DocumentResult, v: &Violation, location: Option<Location>) -> String {
    let mut text = String::new();
    if v.finding == FindingType::EvaluationError {
        text.push_str("evaluation error: ");
    }
    text.push_str(&v.message);
    let _ = write!(text, "\n  rule: {} [{}] {}", v.rule, v.severity.as_str(), v.title);
    if !v.controls.is_empty() {
        let _ = write!(text, "\n  controls: {}", v.controls.join(", "));
    }
    let field = if v.pointer.is_empty() {
        "(the whole document)"
    } else {
        v.pointer.as_str()
    };
    let _ = write!(text, "\n  field: {field} at {}", source_name(&result.source));
    match location {
        Some(loc) => {
            let _ = write!(text, ":{}:{}", loc.line, loc.column);
        }
        None => {
            let _ = write!(text, ":{}", result.line);
        }
    }
    if !v.rationale.trim().is_empty() {
        let _ = write!(text, "\n  why: {}", v.rationale.trim_end());
    }
    if !v.remediation.trim().is_empty() {
        let _ = write!(text, "\n  fix: {}", v.remediation.trim_end());
    }
    text
}

fn problem_case(problem: &InputProblem) -> Case {
    let name = match problem.document {
        Some(document) => format!("input (document {})", document + 1),
        None => "input".to_owned(),
    };
    Case {
        classname: source_name(&problem.source).to_owned(),
        name,
        outcome: Outcome::Error {
            message: problem.message.clone(),
            kind: "input",
            body: problem.to_string(),
        },
        system_out: Vec::new(),
    }
}

/// The file name shown: `stdin` for `-`.
fn source_name(source: &str) -> &str {
    if source == "-" {
        "stdin"
    } else {
        source
    }
}

/// True for the characters XML 1.0 allows in a document.
fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Appends `text` escaped for XML character data (`attribute == false`) or a double-quoted
/// attribute value (`attribute == true`, where tabs and line breaks become character references
/// so parsers keep them). Characters that XML 1.0 does not allow are dropped.
fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            c if allowed_in_xml(c) => out.push(c),
            _ => {}
        }
    }
}

/// `text` escaped for XML character data or attribute values (see `escape_into`).
pub fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text, attribute);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::text::fixture;

    /// A minimal well-formedness check: one root element, balanced and properly nested tags,
    /// balanced attribute quotes, no raw `<` or bare `&` in text, only XML 1.0 characters.
    fn assert_well_formed(xml: &str) {
        let mut rest = xml
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .expect("XML declaration");
        let mut stack: Vec<&str> = Vec::new();
        let mut roots = 0;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('<') {
                let end = after.find('>').expect("unterminated tag");
                let tag = &after[..end];
                assert!(
                    !tag.contains('<') && tag.matches('"').count() % 2 == 0,
                    "bad tag {tag:?}"
                );
                if let Some(name) = tag.strip_prefix('/') {
                    assert_eq!(stack.pop(), Some(name), "mismatched </{name}>");
                } else {
                    let name = tag.split([' ', '/']).next().unwrap_or_default();
                    assert!(!name.is_empty(), "empty tag name");
                    roots += usize::from(stack.is_empty());
                    if !tag.ends_with('/') {
                        stack.push(name);
                    }
                }
                rest = &after[end + 1..];
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                let text = &rest[..end];
                assert!(
                    !stack.is_empty() || text.trim().is_empty(),
                    "text outside the root: {text:?}"
                );
                for (i, _) in text.match_indices('&') {
                    let entity = text[i..].split_inclusive(';').next().unwrap_or_default();
                    let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#13;"];
                    assert!(known.contains(&entity), "bare & in {text:?}");
                }
                rest = &rest[end..];
            }
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
        assert_eq!(roots, 1);
        assert!(xml.chars().all(allowed_in_xml));
    }

    #[test]
    fn well_formed_with_correct_counts() {
        let xml = render(&fixture::report());
        assert_well_formed(&xml);
        assert!(xml.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <testsuites name=\"celgate\" tests=\"10\" failures=\"1\" errors=\"2\">\n  \
             <testsuite name=\"deploy/app.yaml\" tests=\"7\" failures=\"1\" errors=\"1\" skipped=\"0\">\n"
        ));
        assert!(xml.contains("<testsuite name=\"stdin\" tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"0\">"));
        assert!(xml.contains("<testsuite name=\"bad.yaml\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">"));
        assert_eq!(xml.matches("<testcase ").count(), 10);
        assert!(xml.ends_with("</testsuites>\n"));
    }

    #[test]
    fn failures_errors_and_notes() {
        let xml = render(&fixture::report());
        let failure =
            "    <testcase classname=\"deploy/app.yaml:Deployment/shop/web\" name=\"soc2-pod-no-host-escape\">\n      \
            <failure message=\"message of soc2-pod-no-host-escape &lt;&amp;&gt;\" type=\"deny\">\
            message of soc2-pod-no-host-escape &lt;&amp;&gt;\n  \
            rule: soc2-pod-no-host-escape [high] title of soc2-pod-no-host-escape\n  \
            controls: TSC CC6.1, TSC CC6.8\n  \
            field: /spec/template/spec/hostNetwork at deploy/app.yaml:20:7\n  \
            why: why soc2-pod-no-host-escape\n  \
            fix: fix soc2-pod-no-host-escape</failure>\n    </testcase>\n";
        assert!(xml.contains(failure), "{xml}");
        // The evaluation error has no location: the document's line.
        assert!(xml.contains(
            "<error message=\"message of soc2-image-digest &lt;&amp;&gt;\" type=\"evaluation-error\">\
             evaluation error: message of soc2-image-digest &lt;&amp;&gt;\n"
        ));
        assert!(xml.contains("field: /spec/template/spec/hostNetwork at deploy/app.yaml:12\n"));
        // A warning passes with a note; a rule without findings passes silently.
        assert!(xml.contains("name=\"soc2-labels\">\n      <system-out>warn: message of soc2-labels &lt;&amp;&gt;\n"));
        let web = "classname=\"deploy/app.yaml:Deployment/shop/web\"";
        assert!(xml.contains(&format!("<testcase {web} name=\"soc2-limits\"/>\n")));
        let api = "classname=\"deploy/app.yaml:Deployment/shop/api\"";
        assert!(xml.contains(&format!("<testcase {api} name=\"soc2-pod-no-host-escape\"/>\n")));
        assert!(
            xml.contains("<testcase classname=\"deploy/app.yaml:ConfigMap/shop/settings\" name=\"no rules apply\"/>\n")
        );
        assert!(xml.contains(
            "<testcase classname=\"stdin:Deployment/shop/db\" name=\"soc2-run-as-non-root\">\n      \
             <system-out>patched: message of soc2-run-as-non-root"
        ));
        // The input problem: escaped, its control character dropped.
        assert!(xml.contains(
            "<testcase classname=\"bad.yaml\" name=\"input (document 2)\">\n      \
             <error message=\"bad &lt;&amp;&gt; &quot;value&quot;\" type=\"input\">\
             bad.yaml:3:1 (document 2): bad &lt;&amp;&gt; &quot;value&quot;</error>"
        ));
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("a<b>&\"c'\u{0}\u{1b}\u{FFFE}é😀", false),
            "a&lt;b&gt;&amp;&quot;c&apos;é😀"
        );
        assert_eq!(escape("l1\nl2\tx\r", true), "l1&#10;l2&#9;x&#13;");
        assert_eq!(escape("l1\nl2\tx\r", false), "l1\nl2\tx&#13;");
    }

    #[test]
    fn empty_report() {
        let xml = render(&CheckReport::default());
        assert_well_formed(&xml);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <testsuites name=\"celgate\" tests=\"0\" failures=\"0\" errors=\"0\">\n</testsuites>\n"
        );
    }
}
