//! The human-readable report (`check --format text`) for people reading a terminal or a CI log.
//!
//! Each document gets a verdict-first header line (`DENY  deploy/app.yaml:12
//! Deployment/shop/web`), then one block per finding in the engine's order (most severe first):
//!
//! ```text
//! DENY  deploy/app.yaml:12 Deployment/shop/web
//!   deploy/app.yaml:20:20  [high] soc2-pod-no-host-escape: Pods must not share host namespaces
//!       hostNetwork is true
//!       controls: TSC CC6.1, TSC CC6.8
//!       field: /spec/template/spec/hostNetwork
//!       why: sharing the node's network lets the pod reach what only the node should
//!       fix: remove hostNetwork or set it to false
//! ```
//!
//! A document allowed without findings takes one line. The report ends with a summary line. It
//! starts, when some params still hold their packs' example values, with a `NOTE` naming them and
//! the rules that warn instead of denying because of them.
//! Input problems are not part of this text: they go to stderr.
//!
//! Everything that comes from the checked documents or the packs is printed with its control
//! characters escaped (`\u{1b}`), so a document cannot inject terminal escape sequences or fake
//! log lines; with `color == false` the output contains no escape sequence at all.

use std::borrow::Cow;
use std::fmt::Write as _;

use anstyle::{AnsiColor, Color, Style};

use super::{CheckReport, DocumentResult, Location};
use crate::engine::{Action, FindingType, Severity, Verdict, Violation};

/// Indentation of a finding's header line.
const FINDING_INDENT: &str = "  ";
/// Indentation of the lines under a finding's header.
const DETAIL_INDENT: &str = "      ";

const fn fg(color: AnsiColor) -> Style {
    Style::new().fg_color(Some(Color::Ansi(color)))
}

const DENY_STYLE: Style = fg(AnsiColor::Red).bold();
const ALLOW_STYLE: Style = fg(AnsiColor::Green).bold();
const PATCH_STYLE: Style = fg(AnsiColor::Cyan).bold();
const CRITICAL_STYLE: Style = fg(AnsiColor::Red).bold();
const HIGH_STYLE: Style = fg(AnsiColor::Red);
const MEDIUM_STYLE: Style = fg(AnsiColor::Yellow);
const LOW_STYLE: Style = Style::new();
const ERROR_STYLE: Style = fg(AnsiColor::Magenta).bold();
const WARN_STYLE: Style = fg(AnsiColor::Yellow);
const PATCHED_STYLE: Style = fg(AnsiColor::Cyan);
const RULE_STYLE: Style = Style::new().bold();
const DIM_STYLE: Style = Style::new().dimmed();

/// Renders the whole run for people: one section per document, then a summary line.
///
/// With `color`, verdicts, severities and actions are coloured with ANSI escape sequences (red
/// for deny and critical, yellow for warnings, green for allow, cyan for patch, dim for secondary
/// lines); without it the text contains no escape sequence at all.
pub fn render(report: &CheckReport, color: bool) -> String {
    let painter = Painter { color };
    let mut out = String::new();
    // True when the previous section was a multi-line block that wants a blank line after it.
    let mut gap = render_unconfigured(&mut out, &painter, report);
    for result in &report.results {
        let has_findings = !result.decision.violations.is_empty();
        if (has_findings || gap) && !out.is_empty() {
            out.push('\n');
        }
        render_document(&mut out, &painter, result);
        gap = has_findings;
    }
    if !out.is_empty() {
        out.push('\n');
    }
    render_summary(&mut out, &painter, report);
    out
}

/// The params that still hold their packs' examples, once, above the documents:
///
/// ```text
/// NOTE  1 param still holds the example value its pack ships, so the rules that read it warn ...
///   soc2 params.allowedRegistries = ["registry.example.com/"]: soc2-image-registry
/// ```
/// Returns true when it wrote the notice.
fn render_unconfigured(out: &mut String, painter: &Painter, report: &CheckReport) -> bool {
    let Some(lines) = super::unconfigured_notice(&report.unconfigured) else {
        return false;
    };
    let mut lines = lines.iter();
    if let Some(headline) = lines.next() {
        out.push_str(&painter.paint(WARN_STYLE, "NOTE"));
        out.push_str("  ");
        out.push_str(&clean(headline));
        out.push('\n');
    }
    for line in lines {
        out.push_str(FINDING_INDENT);
        out.push_str(&clean(line));
        out.push('\n');
    }
    true
}

/// Adds colour when enabled.
struct Painter {
    color: bool,
}

impl Painter {
    /// `text` wrapped in `style`, or as is when colour is off or the style is plain.
    fn paint<'a>(&self, style: Style, text: &'a str) -> Cow<'a, str> {
        if self.color && !style.is_plain() {
            Cow::Owned(format!("{}{text}{}", style.render(), style.render_reset()))
        } else {
            Cow::Borrowed(text)
        }
    }
}

fn render_document(out: &mut String, painter: &Painter, result: &DocumentResult) {
    let (label, style) = match result.decision.decision {
        Verdict::Allow => ("ALLOW", ALLOW_STYLE),
        Verdict::Deny => ("DENY", DENY_STYLE),
        Verdict::Patch => ("PATCH", PATCH_STYLE),
    };
    out.push_str(&painter.paint(style, label));
    // Pad outside the escape sequences so the columns line up with and without colour.
    out.push_str(&" ".repeat(6 - label.len()));
    out.push_str(&clean(&source_name(&result.source)));
    out.push(':');
    out.push_str(&result.line.to_string());
    out.push(' ');
    out.push_str(&clean(&result.display_name()));
    if let Some(item) = result.item {
        let _ = write!(out, " (list item {})", item + 1);
    }
    let scope: Vec<String> = [
        ("tenant", &result.decision.tenant),
        ("environment", &result.decision.environment),
    ]
    .into_iter()
    .filter_map(|(what, name)| name.as_ref().map(|n| format!("{what} {}", clean(n))))
    .collect();
    if !scope.is_empty() {
        let text = format!(" [{}]", scope.join(", "));
        out.push_str(&painter.paint(DIM_STYLE, &text));
    }
    if result.decision.decision == Verdict::Patch && !result.decision.patch.is_empty() {
        let n = result.decision.patch.len();
        let text = format!(" ({n} patch operation{})", plural(n));
        out.push_str(&painter.paint(DIM_STYLE, &text));
    }
    out.push('\n');
    let locations = result.locations.iter().copied().chain(std::iter::repeat(None));
    for (violation, location) in result.decision.violations.iter().zip(locations) {
        render_violation(out, painter, result, violation, location);
    }
}

fn render_violation(
    out: &mut String,
    painter: &Painter,
    result: &DocumentResult,
    violation: &Violation,
    location: Option<Location>,
) {
    out.push_str(FINDING_INDENT);
    out.push_str(&clean(&source_name(&result.source)));
    match location {
        Some(loc) => {
            let _ = write!(out, ":{}:{}", loc.line, loc.column);
        }
        None => {
            let _ = write!(out, ":{}", result.line);
        }
    }
    out.push_str("  ");
    let severity = violation.severity;
    out.push_str(&painter.paint(severity_style(severity), &format!("[{}]", severity.as_str())));
    out.push(' ');
    if violation.finding == FindingType::EvaluationError {
        out.push_str(&painter.paint(ERROR_STYLE, "ERROR"));
        out.push(' ');
    }
    out.push_str(&painter.paint(RULE_STYLE, &clean(&violation.rule)));
    out.push_str(": ");
    out.push_str(&clean(&violation.title));
    out.push('\n');

    for line in violation.message.lines() {
        detail(out, &clean(line));
    }
    if !violation.controls.is_empty() {
        let controls: Vec<Cow<'_, str>> = violation.controls.iter().map(|c| clean(c)).collect();
        let text = format!("controls: {}", controls.join(", "));
        detail(out, &painter.paint(DIM_STYLE, &text));
    }
    let field = if violation.pointer.is_empty() {
        "field: (the whole document)".to_owned()
    } else {
        format!("field: {}", clean(&violation.pointer))
    };
    detail(out, &painter.paint(DIM_STYLE, &field));
    labelled(out, painter, "why", &violation.rationale);
    labelled(out, painter, "fix", &violation.remediation);
    let action = match (violation.action, violation.patched) {
        (_, true) => Some(("action: patched", PATCHED_STYLE)),
        (Action::Deny, false) => None,
        (Action::Warn, false) => Some(("action: warn (admitted with a warning)", WARN_STYLE)),
        (Action::Audit, false) => Some(("action: audit (recorded only)", DIM_STYLE)),
        (Action::Patch, false) => Some(("action: patch (not applied)", DENY_STYLE)),
    };
    if let Some((text, style)) = action {
        detail(out, &painter.paint(style, text));
    }
    if let Some(mode) = &violation.mode {
        let text = format!(
            "mode: {} (set by {})",
            mode.mode.as_str(),
            clean(&mode.source.to_string())
        );
        detail(out, &painter.paint(DIM_STYLE, &text));
    }
    if let Some(x) = &violation.exception {
        detail(out, &painter.paint(DIM_STYLE, &clean(&super::exception_line(x))));
    }
}

/// `label: text` as detail lines, continuation lines aligned under the text; nothing when `text`
/// is blank.
fn labelled(out: &mut String, painter: &Painter, label: &str, text: &str) {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    if let Some(first) = lines.next() {
        detail(out, &painter.paint(DIM_STYLE, &format!("{label}: {}", clean(first))));
        let indent = " ".repeat(label.len() + 2);
        for more in lines {
            detail(out, &painter.paint(DIM_STYLE, &format!("{indent}{}", clean(more))));
        }
    }
}

fn detail(out: &mut String, text: &str) {
    out.push_str(DETAIL_INDENT);
    out.push_str(text);
    out.push('\n');
}

fn render_summary(out: &mut String, painter: &Painter, report: &CheckReport) {
    let (allowed, denied, patched) = report.counts();
    let documents = report.results.len();
    let problems = report.problems.len();
    let counted = |n: usize, text: &str, style: Style| -> String {
        let text = format!("{n} {text}");
        if n == 0 {
            text
        } else {
            painter.paint(style, &text).into_owned()
        }
    };
    let mut line = format!("{documents} document{}: ", plural(documents));
    line.push_str(&counted(allowed, "allowed", ALLOW_STYLE));
    line.push_str(", ");
    line.push_str(&counted(denied, "denied", DENY_STYLE));
    line.push_str(", ");
    line.push_str(&counted(patched, "patched", PATCH_STYLE));
    line.push_str("; ");
    line.push_str(&counted(
        problems,
        &format!("input error{}", plural(problems)),
        DENY_STYLE,
    ));
    line.push_str("; ");

    let violations: Vec<&Violation> = report.results.iter().flat_map(|r| &r.decision.violations).collect();
    let _ = write!(line, "{} violation{}", violations.len(), plural(violations.len()));
    let mut parts: Vec<String> = Vec::new();
    for severity in [Severity::Critical, Severity::High, Severity::Medium, Severity::Low] {
        let n = violations.iter().filter(|v| v.severity == severity).count();
        if n > 0 {
            parts.push(counted(n, severity.as_str(), severity_style(severity)));
        }
    }
    let errors = violations
        .iter()
        .filter(|v| v.finding == FindingType::EvaluationError)
        .count();
    if errors > 0 {
        let errors = counted(errors, &format!("evaluation error{}", plural(errors)), ERROR_STYLE);
        if parts.is_empty() {
            parts.push(errors);
        } else {
            let last = parts.len() - 1;
            parts[last] = format!("{}; {errors}", parts[last]);
        }
    }
    if !parts.is_empty() {
        let _ = write!(line, " ({})", parts.join(", "));
    }
    out.push_str(&line);
    out.push('\n');
}

fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Critical => CRITICAL_STYLE,
        Severity::High => HIGH_STYLE,
        Severity::Medium => MEDIUM_STYLE,
        Severity::Low => LOW_STYLE,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The file name people see: `<stdin>` for `-`.
fn source_name(source: &str) -> Cow<'_, str> {
    if source == "-" {
        Cow::Borrowed("<stdin>")
    } else {
        Cow::Borrowed(source)
    }
}

/// `text` with every control character except tab escaped (`\u{1b}`, `\n`), so values taken
/// from documents cannot move the cursor, change colours or start a new log line.
fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_has_no_escape_codes_and_puts_the_verdict_first() {
        let text = render(&fixture::report(), false);
        assert!(!text.contains('\u{1b}'), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let expected = [
            "DENY  deploy/app.yaml:12 Deployment/shop/web",
            "  deploy/app.yaml:20:7  [high] soc2-pod-no-host-escape: title of soc2-pod-no-host-escape",
            "      message of soc2-pod-no-host-escape <&>",
            "      controls: TSC CC6.1, TSC CC6.8",
            "      field: /spec/template/spec/hostNetwork",
            "      why: why soc2-pod-no-host-escape",
            "      fix: fix soc2-pod-no-host-escape",
            // No known location: the document's line.
            "  deploy/app.yaml:12  [medium] ERROR soc2-image-digest: title of soc2-image-digest",
        ];
        assert_eq!(lines[..expected.len()], expected);
        assert!(text.contains("      action: warn (admitted with a warning)\n"));
        // A rule without a rationale has no `why` line.
        assert!(!text.contains("why: why soc2-labels"));
        assert!(text.contains("      field: /spec/template/spec/hostNetwork\n      fix: fix soc2-labels\n"));
        // Allowed documents without findings take exactly one line each.
        assert!(text.contains(
            "\n\nALLOW deploy/app.yaml:40 Deployment/shop/api\nALLOW deploy/app.yaml:60 ConfigMap/shop/settings\n\n\
             PATCH <stdin>:1 Deployment/shop/db (1 patch operation)\n"
        ));
        assert!(text.contains("      action: patched\n"));
        // Input problems are not in the text.
        assert!(!text.contains("bad.yaml"));
        assert_eq!(
            lines.last().copied(),
            Some(
                "4 documents: 2 allowed, 1 denied, 1 patched; 1 input error; \
                 4 violations (1 critical, 1 high, 1 medium, 1 low; 1 evaluation error)"
            )
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn colour_adds_escape_codes_around_the_same_words() {
        let text = render(&fixture::report(), true);
        let painted = |style: Style, word: &str| format!("{}{word}{}", style.render(), style.render_reset());
        assert!(text.starts_with(&painted(DENY_STYLE, "DENY")), "{text}");
        assert!(text.contains(&painted(ALLOW_STYLE, "ALLOW")));
        assert!(text.contains(&painted(PATCH_STYLE, "PATCH")));
        assert!(text.contains(&painted(ERROR_STYLE, "ERROR")));
        assert!(text.contains(&painted(CRITICAL_STYLE, "[critical]")));
        assert!(text.contains(&painted(WARN_STYLE, "action: warn (admitted with a warning)")));
        assert!(text.contains(&painted(DIM_STYLE, "fix: fix soc2-labels")));
        assert!(text.contains(&painted(DIM_STYLE, "why: why soc2-image-digest")));
        // Same content once the escape sequences are removed.
        assert_eq!(strip_ansi(&text), render(&fixture::report(), false));
    }

    #[test]
    fn document_values_cannot_inject_escape_sequences() {
        let mut report = fixture::report();
        report.results[0].decision.violations[0].message = "bad \u{1b}[2J value\nsecond line\r".to_owned();
        report.results[0].name = "we\u{1b}b".to_owned();
        let text = render(&report, false);
        assert!(!text.contains('\u{1b}'));
        assert!(!text.contains('\r'));
        assert!(text.starts_with("DENY  deploy/app.yaml:12 Deployment/shop/we\\u{1b}b\n"));
        assert!(text.contains("      bad \\u{1b}[2J value\n      second line\\r\n"));
    }

    #[test]
    fn empty_report() {
        assert_eq!(
            render(&CheckReport::default(), true),
            "0 documents: 0 allowed, 0 denied, 0 patched; 0 input errors; 0 violations\n"
        );
    }

    /// Removes CSI sequences (`ESC [ ... letter`).
    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(char::is_ascii_alphabetic);
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// The report the tests of the text, SARIF and `JUnit` renderers share.
#[cfg(test)]
pub(crate) mod fixture {
    use super::super::{CheckReport, DocumentResult, InputProblem, Location};
    use crate::engine::{Action, Decision, FindingType, PatchOp, Severity, Verdict, Violation};

    fn finding(rule: &str, severity: Severity, action: Action, finding: FindingType) -> Violation {
        Violation {
            pack: "soc2".into(),
            rule: rule.into(),
            title: format!("title of {rule}").into(),
            controls: ["TSC CC6.1".to_owned(), "TSC CC6.8".to_owned()].into(),
            severity,
            action,
            finding,
            message: format!("message of {rule} <&>"),
            pointer: "/spec/template/spec/hostNetwork".to_owned(),
            rationale: format!("why {rule}").into(),
            remediation: format!("fix {rule}").into(),
            patched: false,
            mode: None,
            exception: None,
            reason: None,
        }
    }

    fn decision(verdict: Verdict, violations: Vec<Violation>, evaluated: &[&str]) -> Decision {
        let mut decision = Decision::allow();
        decision.decision = verdict;
        decision.violations = violations;
        decision.evaluated_rules = evaluated.iter().map(|s| std::sync::Arc::from(*s)).collect();
        decision
    }

    fn document(source: &str, line: usize, kind: &str, name: &str, decision: Decision) -> DocumentResult {
        DocumentResult {
            source: source.to_owned(),
            document: 0,
            item: None,
            api_version: "apps/v1".to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: "shop".to_owned(),
            uid: String::new(),
            line,
            decision,
            locations: Vec::new(),
        }
    }

    /// - `deploy/app.yaml` line 12, `Deployment/shop/web`: denied by `soc2-pod-no-host-escape`
    ///   (high, at 20:7), an evaluation error of `soc2-image-digest` (medium, deny, location
    ///   unknown) and a warning from `soc2-labels` (low); `soc2-limits` passed.
    /// - `deploy/app.yaml` line 40, `Deployment/shop/api`: allowed, two rules passed.
    /// - `deploy/app.yaml` line 60, `ConfigMap/shop/settings`: allowed, no rule applies.
    /// - stdin, `Deployment/shop/db`: patched by `soc2-run-as-non-root` (critical).
    /// - `bad.yaml`: one input problem whose message needs escaping.
    pub(crate) fn report() -> CheckReport {
        let evaluated = [
            "soc2-pod-no-host-escape",
            "soc2-image-digest",
            "soc2-labels",
            "soc2-limits",
        ];
        let denied = decision(
            Verdict::Deny,
            vec![
                finding(
                    "soc2-pod-no-host-escape",
                    Severity::High,
                    Action::Deny,
                    FindingType::Violation,
                ),
                finding(
                    "soc2-image-digest",
                    Severity::Medium,
                    Action::Deny,
                    FindingType::EvaluationError,
                ),
                // A rule without a rationale.
                Violation {
                    rationale: "".into(),
                    ..finding("soc2-labels", Severity::Low, Action::Warn, FindingType::Violation)
                },
            ],
            &evaluated,
        );
        let mut web = document("deploy/app.yaml", 12, "Deployment", "web", denied);
        // Shorter than the violations: the others have no known location.
        web.locations = vec![Some(Location { line: 20, column: 7 })];
        let allowed = decision(Verdict::Allow, vec![], &["soc2-pod-no-host-escape", "soc2-labels"]);
        let mut fixed = finding(
            "soc2-run-as-non-root",
            Severity::Critical,
            Action::Patch,
            FindingType::Violation,
        );
        fixed.patched = true;
        let mut patched = decision(Verdict::Patch, vec![fixed], &["soc2-run-as-non-root", "soc2-labels"]);
        patched.patch = vec![PatchOp {
            op: serde_json::from_value(
                serde_json::json!({"op": "add", "path": "/spec/securityContext/runAsNonRoot", "value": true}),
            )
            .expect("an RFC 6902 operation"),
            rule: "soc2-run-as-non-root".to_owned(),
        }];
        let mut db = document("-", 1, "Deployment", "db", patched);
        db.locations = vec![None];
        CheckReport {
            results: vec![
                web,
                document("deploy/app.yaml", 40, "Deployment", "api", allowed),
                document("deploy/app.yaml", 60, "ConfigMap", "settings", Decision::allow()),
                db,
            ],
            problems: vec![InputProblem {
                source: "bad.yaml".to_owned(),
                document: Some(1),
                location: Some(Location { line: 3, column: 1 }),
                message: "bad <&> \"value\"\u{1}".to_owned(),
            }],
            packs: Vec::new(),
            unconfigured: Vec::new(),
        }
    }
}
