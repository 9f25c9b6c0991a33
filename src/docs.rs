//! The generated rule reference (`celgate docs`; `docs/policies.md` is its checked-in output):
//! Markdown rendered from compiled packs, deterministic so a stale file can be detected.
//!
//! Packs are sorted by name, rules keep pack order, and the clause index is sorted naturally
//! (`Art. 5` before `Art. 25`). No timestamps or paths end up in the output.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::engine::{Action, CompiledPack, Severity};

/// The command that regenerates the checked-in reference.
pub const REGENERATE: &str = "celgate docs --out docs/policies.md";

/// Renders the Markdown reference for `packs` (in any order; they are sorted by name).
pub fn render<'a>(packs: impl IntoIterator<Item = &'a CompiledPack>) -> String {
    let mut packs: Vec<&CompiledPack> = packs.into_iter().collect();
    packs.sort_by(|a, b| {
        a.metadata
            .name
            .cmp(&b.metadata.name)
            .then_with(|| natural_cmp(&a.metadata.version, &b.metadata.version))
    });

    let mut out = String::new();
    out.push_str("# Rule reference\n\n");
    let _ = writeln!(
        out,
        "This reference is generated from the rule packs by `celgate docs`; do not edit it by hand. \
         Regenerate it with `{REGENERATE}`; CI runs `celgate docs --check docs/policies.md` and \
         fails when it is stale. Each pack lists its rules in pack order, with the control clauses \
         they support, the kinds they match, what a violation does, and how to fix one; the \
         [clause index](#clause--rules) at the end maps every clause to its rules.\n"
    );

    for pack in &packs {
        render_pack(&mut out, pack);
    }
    render_index(&mut out, &packs);
    out
}

fn render_pack(out: &mut String, pack: &CompiledPack) {
    let meta = &pack.metadata;
    let _ = writeln!(out, "## {} {}\n", one_line(&meta.name), one_line(&meta.version));
    if let Some(framework) = meta.framework.as_deref().filter(|f| !f.trim().is_empty()) {
        let _ = writeln!(out, "**Framework:** {}\n", one_line(framework));
    }
    if let Some(description) = meta.description.as_deref().filter(|d| !d.trim().is_empty()) {
        let _ = writeln!(out, "{}\n", description.trim());
    }
    let _ = writeln!(out, "{}\n", count_line(pack));
    if let Some(line) = params_to_configure_line(pack) {
        let _ = writeln!(out, "{line}\n");
    }
    if pack.rules.is_empty() {
        return;
    }
    out.push_str("| Rule | Clauses | Kinds | Severity | Action | What is checked | Why | How to fix |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for rule in &pack.rules {
        let spec = &rule.spec;
        let kinds = if spec.match_.kinds.is_empty() {
            "any".to_owned()
        } else {
            cell(&spec.match_.kinds.join(", "))
        };
        let changed = spec
            .changed_in
            .as_deref()
            .map_or_else(String::new, |v| format!("<br>changed in {}", cell(v)));
        let _ = writeln!(
            out,
            "| <a id=\"{}\"></a>`{}`{} | {} | {} | {} | {} | {} | {} | {} |",
            anchor(&spec.id),
            cell(&spec.id),
            changed,
            or_dash(&cell(&spec.controls.join("\n"))),
            kinds,
            spec.severity.as_str(),
            spec.action.as_str(),
            or_dash(&cell(&spec.title)),
            or_dash(&cell(spec.rationale.as_deref().unwrap_or(""))),
            or_dash(&cell(&spec.remediation)),
        );
    }
    out.push('\n');
}

/// The line naming the pack's params to configure, each with its shipped example and the rules
/// that warn instead of denying until it is set; `None` when the pack marks none.
fn params_to_configure_line(pack: &CompiledPack) -> Option<String> {
    let marked = &pack.params_to_configure;
    if marked.is_empty() {
        return None;
    }
    let entries: Vec<String> = marked
        .examples()
        .iter()
        .map(|(name, example)| {
            let rules: Vec<String> = pack
                .rules
                .iter()
                .filter(|r| matches!(r.spec.action, Action::Deny | Action::Patch))
                .filter(|r| marked.read_by(&r.spec.id).contains(name))
                .map(|r| format!("[`{}`](#{})", cell(&r.spec.id), anchor(&r.spec.id)))
                .collect();
            let softened = if rules.is_empty() {
                String::new()
            } else {
                let verb = if rules.len() == 1 { "warns" } else { "warn" };
                format!("; until it is set, {} {verb} instead of denying", rules.join(", "))
            };
            format!("`{}` (ships `{}`{softened})", cell(name), cell(&example.to_string()))
        })
        .collect();
    Some(format!(
        "**Params to configure** (their shipped values are examples; set them in a tenant's `params` \
         in celgate.yaml or in the pack's `spec.params`): {}.",
        entries.join(", ")
    ))
}

/// `18 rules — by severity: 2 critical, 9 high; by action: 16 deny, 2 warn.`
fn count_line(pack: &CompiledPack) -> String {
    let n = pack.rules.len();
    let mut line = format!("{n} {}", if n == 1 { "rule" } else { "rules" });
    if n == 0 {
        line.push('.');
        return line;
    }
    let severities = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low]
        .into_iter()
        .filter_map(|s| {
            let c = pack.rules.iter().filter(|r| r.spec.severity == s).count();
            (c > 0).then(|| format!("{c} {}", s.as_str()))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let actions = [Action::Deny, Action::Warn, Action::Audit, Action::Patch]
        .into_iter()
        .filter_map(|a| {
            let c = pack.rules.iter().filter(|r| r.spec.action == a).count();
            (c > 0).then(|| format!("{c} {}", a.as_str()))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(line, " — by severity: {severities}; by action: {actions}.");
    line
}

fn render_index(out: &mut String, packs: &[&CompiledPack]) {
    out.push_str("## Clause → rules\n\n");
    let mut index: BTreeMap<NaturalKey, Vec<&str>> = BTreeMap::new();
    for pack in packs {
        for rule in &pack.rules {
            for clause in &rule.spec.controls {
                let ids = index.entry(NaturalKey(clause.clone())).or_default();
                if !ids.contains(&rule.spec.id.as_str()) {
                    ids.push(&rule.spec.id);
                }
            }
        }
    }
    if index.is_empty() {
        out.push_str("No rule names a control clause.\n");
        return;
    }
    out.push_str("| Clause | Rules |\n|---|---|\n");
    for (clause, ids) in &index {
        let links = ids
            .iter()
            .map(|id| format!("[`{}`](#{})", cell(id), anchor(id)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "| {} | {links} |", cell(&clause.0));
    }
}

/// Escapes text for a Markdown table cell: `|` becomes `\|`, line breaks become `<br>`.
pub fn cell(text: &str) -> String {
    text.trim()
        .replace("\r\n", "\n")
        .replace('|', "\\|")
        .split('\n')
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("<br>")
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "—".to_owned()
    } else {
        text.to_owned()
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The HTML id of a rule's row: `rule-` and the id, with anything but `[a-z0-9_-]` as `-`.
pub fn anchor(rule_id: &str) -> String {
    let safe: String = rule_id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("rule-{safe}")
}

/// A string ordered naturally (see [`natural_cmp`]).
#[derive(Debug, PartialEq, Eq)]
struct NaturalKey(String);

impl Ord for NaturalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        natural_cmp(&self.0, &other.0)
    }
}

impl PartialOrd for NaturalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Natural order: runs of digits compare as numbers (`Art. 5` < `Art. 25`, `CC6.8` < `CC6.10`),
/// everything else as text; ties fall back to plain string order so the order is total.
pub fn natural_cmp(left: &str, right: &str) -> Ordering {
    let mut lhs = chunks(left);
    let mut rhs = chunks(right);
    loop {
        match (lhs.next(), rhs.next()) {
            (None, None) => return left.cmp(right),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(l), Some(r)) => {
                let ord = if is_digits(l) && is_digits(r) {
                    let (l, r) = (l.trim_start_matches('0'), r.trim_start_matches('0'));
                    l.len().cmp(&r.len()).then_with(|| l.cmp(r))
                } else {
                    l.cmp(r)
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

fn is_digits(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit())
}

/// Splits into maximal runs of ASCII digits and of everything else.
fn chunks(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let digit = first.is_ascii_digit();
        let end = rest.find(|c: char| c.is_ascii_digit() != digit).unwrap_or(rest.len());
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_compares_numbers_as_numbers() {
        let mut clauses = vec![
            "GDPR Art. 32(1)(a)",
            "GDPR Art. 5(1)(f)",
            "GDPR Art. 25(2)",
            "TSC CC6.10",
            "TSC CC6.8",
            "TSC C1.1",
            "GDPR Art. 25(1)",
        ];
        clauses.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            clauses,
            [
                "GDPR Art. 5(1)(f)",
                "GDPR Art. 25(1)",
                "GDPR Art. 25(2)",
                "GDPR Art. 32(1)(a)",
                "TSC C1.1",
                "TSC CC6.8",
                "TSC CC6.10",
            ]
        );
        assert_eq!(natural_cmp("a01", "a1"), "a01".cmp("a1"));
    }

    #[test]
    fn cells_escape_pipes_and_newlines() {
        assert_eq!(cell(" a | b\nc \r\nd\n"), "a \\| b<br>c<br>d");
        assert_eq!(or_dash(&cell("  ")), "—");
    }

    #[test]
    fn anchors_are_html_ids() {
        assert_eq!(anchor("soc2-Pod.x"), "rule-soc2-pod-x");
    }
}
