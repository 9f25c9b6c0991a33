//! The shipped packs: they load, their test cases pass, and every rule is complete — controls,
//! remediation, a rationale, and at least one case where it passes and one where it fires.

use std::collections::BTreeSet;

use celgate::engine::Engine;
use celgate::packs;

#[test]
fn shipped_packs_are_complete_and_tested() {
    let found = packs::embedded();
    let engine = Engine::load(&found.packs).expect("shipped packs load");
    let names: BTreeSet<&str> = engine.packs().iter().map(|p| p.metadata.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["gdpr", "hipaa", "platform", "soc2"]));

    let outcomes = celgate::testing::run(&engine, &found.tests);
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| format!("{} :: {}: {}", o.file, o.case, o.detail))
        .collect();
    assert!(failures.is_empty(), "failing pack tests:\n{}", failures.join("\n"));

    let mut problems = Vec::new();
    for pack in engine.packs() {
        assert!(
            pack.rules.len() >= 5,
            "pack {} has only {} rules",
            pack.metadata.name,
            pack.rules.len()
        );
        for rule in &pack.rules {
            let id = &rule.spec.id;
            if rule.spec.controls.iter().any(|c| c.trim().is_empty()) || rule.spec.controls.is_empty() {
                problems.push(format!("{id}: no control clause"));
            }
            if rule.spec.remediation.trim().len() < 10 {
                problems.push(format!("{id}: remediation too short"));
            }
            // Text, JSON and SARIF show the rationale as the finding's "why".
            if rule.spec.rationale.as_deref().is_none_or(|r| r.trim().len() < 20) {
                problems.push(format!("{id}: rationale missing or too short"));
            }
            if !outcomes.iter().any(|o| o.fired.contains(id)) {
                problems.push(format!("{id}: no test case where it fires"));
            }
            if !outcomes
                .iter()
                .any(|o| o.evaluated.contains(id) && !o.fired.contains(id))
            {
                problems.push(format!("{id}: no test case where it is evaluated and passes"));
            }
        }
    }
    assert!(problems.is_empty(), "incomplete rules:\n{}", problems.join("\n"));
}

#[test]
fn shipped_examples_decide_as_documented() {
    let engine = Engine::load(&packs::embedded().packs).expect("shipped packs load");
    for (dir, denied_expected) in [("examples/compliant", false), ("examples/noncompliant", true)] {
        let collected = celgate::documents::collect(&[dir.into()], &mut std::io::empty());
        assert!(collected.problems.is_empty(), "{:?}", collected.problems);
        let any_denied = collected.documents.iter().any(|d| {
            engine
                .evaluate(&celgate::engine::Input::new(d.value.clone()))
                .is_denied()
        });
        assert_eq!(any_denied, denied_expected, "{dir}");
    }
}
