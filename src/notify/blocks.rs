//! Block Kit rendering: a header with the verdict, who and what, one section per violation, a
//! context line and an optional dashboard button, plus a plain `text` fallback for notifications.
//! Slack's limits are respected by truncating, never by failing.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use super::config::LinksConfig;
use super::event::{DecisionEvent, Event, SystemEvent, ViolationSummary};
use crate::engine::{FindingType, Severity};

/// Most blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// Most characters in a header's text.
pub const MAX_HEADER: usize = 150;
/// Most characters in a section's text.
pub const MAX_SECTION: usize = 3000;
/// Most characters in one section field.
pub const MAX_FIELD: usize = 2000;
/// Most characters kept in the fallback `text`.
pub const MAX_FALLBACK: usize = 3000;
/// Blocks besides the violation sections: header, fields, divider, "and N more", context, actions.
const FIXED_BLOCKS: usize = 6;

/// What rendering needs besides the event.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions<'a> {
    /// Rule and dashboard links.
    pub links: &'a LinksConfig,
    /// Violations listed before "and N more".
    pub max_violations: usize,
    /// The group window (shown with a repeat count).
    pub group_window: Duration,
}

/// Renders `event` as a Slack message; `repeat` is the count of a grouped summary.
pub fn render(event: &Event, repeat: Option<u64>, options: &RenderOptions<'_>) -> Value {
    let suffix = repeat.map(|n| format!(" (×{n} in the last {})", window_text(options.group_window)));
    let (title, fallback, mut blocks) = match event {
        Event::Decision(d) => decision_blocks(d, options),
        Event::System(s) => system_blocks(s),
    };
    let suffix = suffix.unwrap_or_default();
    let header = format!(
        "{}{suffix}",
        truncate(&title, MAX_HEADER.saturating_sub(suffix.chars().count()))
    );
    blocks.insert(
        0,
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": true}}),
    );
    if let Some(url) = &options.links.dashboard_url {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": "Open dashboard"},
                "url": url,
            }],
        }));
    }
    blocks.truncate(MAX_BLOCKS);
    json!({
        "text": truncate(&escape(&format!("{fallback}{suffix}")), MAX_FALLBACK),
        "blocks": blocks,
    })
}

fn decision_blocks(d: &DecisionEvent, options: &RenderOptions<'_>) -> (String, String, Vec<Value>) {
    let (emoji, verdict) = if d.is_deny() {
        (":no_entry:", "Denied")
    } else if d.has_evaluation_error() {
        (":warning:", "Evaluation error")
    } else {
        (":large_yellow_circle:", "Admitted with warnings")
    };
    let dry = if d.dry_run { " (dry run)" } else { "" };
    let object = d.object();
    let title = format!("{emoji} {verdict}{dry}: {object}");
    let tenant = d.tenant.as_deref().unwrap_or("none");
    let environment = d.environment.as_deref().unwrap_or("none");

    let mut fallback = format!("{verdict}{dry}: {object} (tenant {tenant}, {environment})");
    let rules: Vec<&str> = d.violations.iter().map(|v| v.rule.as_str()).collect();
    if !rules.is_empty() {
        let _ = write!(fallback, ": {}", rules.join(", "));
    }

    let user = if d.user.is_empty() { "unknown user" } else { &d.user };
    let fields = [
        ("Tenant", escape(tenant)),
        ("Environment", escape(environment)),
        ("Object", format!("`{}`", escape(&object))),
        (
            "Request",
            format!("{} by {} via {}", d.operation, escape(user), d.door.label()),
        ),
    ];
    let mut blocks = vec![fields_section(&fields), json!({"type": "divider"})];
    let room = options.max_violations.min(MAX_BLOCKS - FIXED_BLOCKS);
    for v in d.violations.iter().take(room) {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate(&violation_text(v, options.links), MAX_SECTION)},
        }));
    }
    if d.violations.len() > room {
        let more = d.violations.len() - room;
        let noun = if more == 1 { "finding" } else { "findings" };
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("_…and {more} more {noun}_")},
        }));
    }
    let mut context = format!("celgate {} · {}", env!("CARGO_PKG_VERSION"), d.door.label());
    if let Some(uid) = &d.request_uid {
        let _ = write!(context, " · uid {}", escape(uid));
    }
    let count = d.violations.len();
    let _ = write!(context, " · {count} finding{}", if count == 1 { "" } else { "s" });
    blocks.push(context_block(&context));
    (title, fallback, blocks)
}

fn violation_text(v: &ViolationSummary, links: &LinksConfig) -> String {
    let rule = match &links.rule_url {
        Some(template) => format!("<{}|`{}`>", template.replace("{rule}", &v.rule), v.rule),
        None => format!("`{}`", v.rule),
    };
    let mut text = format!(
        "{} *{}* {rule} {}",
        severity_emoji(v.severity),
        v.severity.as_str().to_uppercase(),
        escape(&v.title)
    );
    if !v.controls.is_empty() {
        let _ = write!(text, "\n*Controls:* {}", escape(&v.controls.join(", ")));
    }
    let label = match v.finding {
        FindingType::Violation => "",
        FindingType::EvaluationError => "*Could not evaluate:* ",
    };
    let _ = write!(text, "\n{label}{}", escape(&v.message));
    if !v.remediation.is_empty() {
        let _ = write!(text, "\n*Fix:* {}", escape(&v.remediation));
    }
    text
}

fn system_blocks(s: &SystemEvent) -> (String, String, Vec<Value>) {
    let version = format!("celgate {}", env!("CARGO_PKG_VERSION"));
    match s {
        SystemEvent::PackReloadFailed { error } => (
            ":rotating_light: Pack reload failed".to_owned(),
            format!("Pack reload failed: {}", first_line(error)),
            vec![
                section("The new rule packs were refused; the last good packs keep serving."),
                section(&code_block(error)),
                context_block(&format!(
                    "{version} · fix the pack and it is reloaded on the next check"
                )),
            ],
        ),
        SystemEvent::CertificateExpiring {
            path,
            subject,
            not_after,
            days_left,
        } => {
            let when = match *days_left {
                d if d < 0 => format!("expired {} day{} ago", -d, if d == -1 { "" } else { "s" }),
                0 => "expires today".to_owned(),
                d => format!("expires in {d} day{}", if d == 1 { "" } else { "s" }),
            };
            let not_after = not_after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let fields = [
                ("Subject", escape(subject)),
                ("File", format!("`{}`", escape(&path.display().to_string()))),
                ("Not after", not_after.clone()),
            ];
            (
                format!(":hourglass_flowing_sand: Serving certificate {when}"),
                format!("Serving certificate {subject} {when} ({not_after})"),
                vec![
                    fields_section(&fields),
                    section(
                        "Renew the certificate (cert-manager, or `celgate certs`); celgate picks up \
                         the new pair without a restart. Once it expires, the API server cannot call \
                         the webhook.",
                    ),
                    context_block(&version),
                ],
            )
        }
        SystemEvent::ConfigReloadRefused { path, reason } => (
            ":no_entry: Config reload refused: it would weaken security".to_owned(),
            format!("Config reload refused ({}): {}", path.display(), first_line(reason)),
            vec![
                fields_section(&[("File", format!("`{}`", escape(&path.display().to_string())))]),
                section(&escape(reason)),
                section(
                    "The last good configuration keeps serving. If the change is intended, restart \
                     celgate with the new file; if not, find out who or what wrote it.",
                ),
                context_block(&version),
            ],
        ),
        SystemEvent::ScanFindings { findings, total } => scan_blocks(findings, *total, &version),
        SystemEvent::AuditWriteFailing { error } => (
            ":rotating_light: Audit log writes are failing".to_owned(),
            format!("Audit log writes are failing: {}", first_line(error)),
            vec![
                section(
                    "Decisions are being made without an audit record (or refused, when \
                     `audit.required` is set). Check the audit volume and its permissions.",
                ),
                section(&code_block(error)),
                context_block(&version),
            ],
        ),
    }
}

fn scan_blocks(findings: &[super::event::ScanFinding], total: usize, version: &str) -> (String, String, Vec<Value>) {
    let noun = if total == 1 { "finding" } else { "findings" };
    let mut lines = String::new();
    for f in findings {
        let _ = writeln!(
            lines,
            "• *{}* `{}` on {}: {}",
            f.severity.as_str(),
            escape(&f.rule),
            escape(&f.object),
            escape(first_line(&f.message))
        );
    }
    if total > findings.len() {
        let _ = writeln!(lines, "…and {} more", total - findings.len());
    }
    (
        format!(":mag: Cluster scan: {total} new high or critical {noun}"),
        format!("Cluster scan: {total} new high or critical {noun}"),
        vec![
            section(
                "Objects already running fail rules that admission would enforce; the previous scan \
                 did not report these. See the policy reports (`kubectl get polr -A`).",
            ),
            section(lines.trim_end()),
            context_block(version),
        ],
    )
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION)}})
}

fn context_block(text: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_SECTION)}]})
}

fn code_block(text: &str) -> String {
    let body = truncate(&escape(&text.replace("```", "'''")), MAX_SECTION - 8);
    format!("```{body}```")
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn severity_emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => ":red_circle:",
        Severity::High => ":large_orange_circle:",
        Severity::Medium => ":large_yellow_circle:",
        Severity::Low => ":white_circle:",
    }
}

fn window_text(window: Duration) -> String {
    let secs = window.as_secs();
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

/// Escapes the three characters Slack's mrkdwn gives meaning to.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// At most `max` characters; a cut text ends with `…`.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A section of `*name*` / value pairs (Slack lays them out in two columns).
fn fields_section(fields: &[(&str, String)]) -> Value {
    json!({
        "type": "section",
        "fields": fields.iter().map(|(name, value)| json!({
            "type": "mrkdwn",
            "text": truncate(&format!("*{name}*\n{value}"), MAX_FIELD),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn escape_and_window_text() {
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(window_text(Duration::from_secs(300)), "5 min");
        assert_eq!(window_text(Duration::from_secs(7200)), "2 h");
        assert_eq!(window_text(Duration::from_secs(90)), "90 s");
    }
}
