//! Size caps on what one decision puts into an answer, a log line and an audit record.
//!
//! A review the API server may legitimately send (3 MiB: 100 000 small containers) can fail
//! one rule once per container. The verdict and the patch are decided on every finding; what is
//! kept for the answer, the audit record and Slack is at most [`PER_RULE`] findings of a rule
//! and [`PER_REQUEST`] in all (the most severe first, the order the engine sorts them in), each
//! message at most [`MESSAGE_BYTES`], and at most [`WARNINGS`] warnings. The last finding kept of
//! a capped rule says how many more there were ("…and N more"), and [`Omitted`] counts them for
//! the JSON answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::engine::{omitted_note, split_omitted_note, Decision};

/// Most findings of one rule kept for an answer.
pub const PER_RULE: usize = 10;
/// Most findings kept for an answer in all.
pub const PER_REQUEST: usize = 100;
/// Longest finding message kept (bytes, cut at a character boundary).
pub const MESSAGE_BYTES: usize = 1024;
/// Most warnings kept for an answer.
pub const WARNINGS: usize = 32;

/// How many findings a decision had beyond the caps.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Omitted {
    /// Findings left out in all.
    pub total: usize,
    /// Findings left out per rule id.
    pub by_rule: BTreeMap<String, usize>,
    /// Warnings left out.
    pub warnings: usize,
}

impl Omitted {
    /// Whether anything was left out.
    pub fn is_empty(&self) -> bool {
        self.total == 0 && self.warnings == 0
    }

    /// One line for a human: "…and N more findings (rule: n, …)".
    pub fn summary(&self) -> String {
        let rules: Vec<String> = self
            .by_rule
            .iter()
            .take(10)
            .map(|(rule, n)| format!("{rule}: {n}"))
            .collect();
        let more_rules = if self.by_rule.len() > 10 { ", …" } else { "" };
        format!(
            "…and {} more findings not shown ({}{more_rules}); answers keep at most {PER_RULE} findings a rule and {PER_REQUEST} in all",
            self.total,
            rules.join(", ")
        )
    }
}

/// Applies the caps to `decision` in place; returns what was left out.
pub fn apply(decision: &mut Decision) -> Omitted {
    let mut omitted = Omitted::default();
    let mut per_rule: BTreeMap<(Arc<str>, Arc<str>), usize> = BTreeMap::new();
    let mut kept = Vec::with_capacity(decision.violations.len().min(PER_REQUEST));
    // Index in `kept` of the last finding kept for each rule, to say how many more it had.
    let mut last_kept: BTreeMap<(Arc<str>, Arc<str>), usize> = BTreeMap::new();
    let mut dropped: BTreeMap<(Arc<str>, Arc<str>), usize> = BTreeMap::new();
    for mut violation in std::mem::take(&mut decision.violations) {
        let key = (violation.pack.clone(), violation.rule.clone());
        // The engine's own count of findings it left out (it keeps 100 a rule).
        let (text, more) = split_omitted_note(&violation.message);
        if more > 0 {
            let len = text.len();
            violation.message.truncate(len);
            *dropped.entry(key.clone()).or_insert(0) += more;
        }
        let seen = per_rule.entry(key.clone()).or_insert(0);
        *seen += 1;
        if *seen > PER_RULE || kept.len() >= PER_REQUEST {
            *dropped.entry(key).or_insert(0) += 1;
            continue;
        }
        if violation.message.len() > MESSAGE_BYTES {
            violation.message = crate::text::truncate(&violation.message, MESSAGE_BYTES);
        }
        last_kept.insert(key, kept.len());
        kept.push(violation);
    }
    for (key, n) in dropped {
        omitted.total += n;
        *omitted.by_rule.entry(key.1.to_string()).or_insert(0) += n;
        if let Some(v) = last_kept.get(&key).and_then(|i| kept.get_mut(*i)) {
            v.message.push_str(&omitted_note(n));
        }
    }
    decision.violations = kept;
    if decision.warnings.len() > WARNINGS {
        omitted.warnings = decision.warnings.len() - WARNINGS;
        decision.warnings.truncate(WARNINGS);
        decision
            .warnings
            .push(format!("…and {} more warnings from celgate", omitted.warnings));
    }
    for warning in decision.warnings.iter_mut().filter(|w| w.len() > MESSAGE_BYTES) {
        *warning = crate::text::truncate(warning, MESSAGE_BYTES);
    }
    omitted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Violation;

    fn finding(rule: &str, n: usize) -> Violation {
        Violation {
            title: "t".into(),
            message: format!("finding {n} {}", "é".repeat(2000)),
            ..Violation::sample("p", rule)
        }
    }

    #[test]
    fn keeps_at_most_the_caps_and_counts_the_rest() {
        let mut decision = Decision::allow();
        decision.violations = (0..5000).map(|n| finding("a", n)).collect();
        decision.violations.extend((0..3).map(|n| finding("b", n)));
        decision.warnings = vec!["w".to_owned(); 100];
        let omitted = apply(&mut decision);
        assert_eq!(decision.violations.len(), PER_RULE + 3);
        assert_eq!(omitted.total, 5000 - PER_RULE);
        assert_eq!(omitted.by_rule.get("a"), Some(&(5000 - PER_RULE)));
        assert_eq!(omitted.by_rule.get("b"), None);
        let last_a = &decision.violations[PER_RULE - 1];
        assert!(
            last_a.message.ends_with("(…and 4990 more findings of this rule)"),
            "{}",
            last_a.message
        );
        assert!(decision
            .violations
            .iter()
            .all(|v| v.message.len() <= MESSAGE_BYTES + 64));
        assert_eq!(decision.warnings.len(), WARNINGS + 1);
        assert_eq!(omitted.warnings, 100 - WARNINGS);
        assert!(omitted
            .summary()
            .starts_with("…and 4990 more findings not shown (a: 4990)"));
    }

    #[test]
    fn the_engines_count_of_left_out_findings_is_added() {
        let mut decision = Decision::allow();
        decision.violations = (0..100).map(|n| finding("a", n)).collect();
        decision.violations[99].message.push_str(&omitted_note(99_900));
        let omitted = apply(&mut decision);
        assert_eq!(omitted.total, 90 + 99_900);
        assert!(decision.violations[PER_RULE - 1]
            .message
            .ends_with("(…and 99990 more findings of this rule)"));
    }

    #[test]
    fn a_small_decision_is_unchanged() {
        let mut decision = Decision::allow();
        decision.violations = vec![finding("a", 1)];
        decision.violations[0].message = "short".to_owned();
        assert!(apply(&mut decision).is_empty());
        assert_eq!(decision.violations[0].message, "short");
    }
}
