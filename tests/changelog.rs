//! CHANGELOG.md and the packs' `changedIn` fields say the same thing: every rule a version added or
//! tightened names that version, and every such rule is in the changelog under its pack's version.
//! Operators key modes on those versions (`soc2@0.2.0: warn`), so a rule missing from either side
//! would escape the warn-first rollout.

use std::collections::{BTreeMap, BTreeSet};

use celgate::engine::Engine;
use celgate::packs;

/// `(pack, version)` -> rule ids the changelog lists as added or tightened there.
fn changelog_entries(text: &str) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut section: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = heading
                .split_once(' ')
                .map(|(pack, version)| (pack.to_owned(), version.trim().to_owned()));
            if let Some(key) = &section {
                out.entry(key.clone()).or_default();
            }
            continue;
        }
        let Some(key) = &section else { continue };
        for marker in ["- **Added** `", "- **Tightened** `"] {
            if let Some(rest) = line.strip_prefix(marker) {
                let id = rest.split('`').next().unwrap_or_default();
                out.entry(key.clone()).or_default().insert(id.to_owned());
            }
        }
    }
    out
}

/// True when semantic version `a` is older than `b` (an unparsable one counts as older).
fn older(a: &str, b: &str) -> bool {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a < b,
        _ => true,
    }
}

#[test]
fn changed_rules_and_the_changelog_agree() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/CHANGELOG.md")).expect("CHANGELOG.md");
    let entries = changelog_entries(&text);
    let engine = Engine::load(&packs::embedded().packs).expect("shipped packs load");
    let mut problems = Vec::new();
    for pack in engine.packs() {
        let name = &pack.metadata.name;
        let version = &pack.metadata.version;
        if !entries.contains_key(&(name.clone(), version.clone())) {
            problems.push(format!("CHANGELOG.md has no section '## {name} {version}'"));
        }
        for rule in &pack.rules {
            let Some(changed) = &rule.spec.changed_in else { continue };
            let listed = entries
                .get(&(name.clone(), changed.clone()))
                .is_some_and(|ids| ids.contains(&rule.spec.id));
            if !listed {
                problems.push(format!(
                    "{}: changedIn {changed}, but '## {name} {changed}' does not list it as Added or Tightened",
                    rule.spec.id
                ));
            }
        }
    }
    for ((pack_name, version), ids) in &entries {
        let Some(pack) = engine.packs().iter().find(|p| &p.metadata.name == pack_name) else {
            continue;
        };
        for id in ids {
            match pack.rules.iter().find(|r| &r.spec.id == id) {
                None => problems.push(format!("CHANGELOG.md '## {pack_name} {version}' lists {id}, which the pack lacks")),
                Some(rule) if rule.spec.changed_in.as_deref().is_none_or(|c| older(c, version)) => problems.push(
                    format!("{id}: CHANGELOG.md lists it as added or tightened in {pack_name} {version}; set changedIn: {version}"),
                ),
                Some(_) => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
