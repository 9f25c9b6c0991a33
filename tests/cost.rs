//! CEL cost limits (`engine::cel::cost`): the load-time estimate against declared or default input
//! bounds, the runtime per-expression limit, declared bounds enforced on the input, and the
//! per-request budget. Fixtures: `tests/fixtures/cost/`.

use celgate::engine::cel::cost::{self, CostLimits, MAX_EXPRESSION_COST};
use celgate::engine::{Engine, FindingType, Input, NoOverrides, PackSource, Verdict, Violation};
use rstest::rstest;
use serde_json::{json, Value};

fn source(name: &str) -> PackSource {
    let origin = format!("tests/fixtures/cost/{name}");
    let text = std::fs::read_to_string(&origin).expect("fixture");
    PackSource { origin, text }
}

fn load(name: &str) -> Result<Engine, String> {
    Engine::load(&[source(name)]).map_err(|e| e.to_string())
}

fn items(n: usize) -> Value {
    let items: Vec<Value> = (0..n).map(|i| json!({"name": format!("i{i}"), "n": 1})).collect();
    json!({"kind": "Thing", "name": "t", "items": items})
}

/// `rule` has exactly one finding in `decision`, an evaluation error whose message holds `text`.
fn assert_one_evaluation_error(decision: &celgate::engine::Decision, rule: &str, text: &str) {
    let found = by_rule(&decision.violations, rule);
    assert_eq!(found.len(), 1, "{decision:#?}");
    assert_eq!(found[0].finding, FindingType::EvaluationError);
    assert!(found[0].message.contains(text), "{}", found[0].message);
}

fn by_rule<'d>(violations: &'d [Violation], rule: &str) -> Vec<&'d Violation> {
    violations.iter().filter(|v| v.rule.as_ref() == rule).collect()
}

#[rstest]
#[case::triple_nested_unbounded(
    "triple-nested.yaml",
    &["tests/fixtures/cost/triple-nested.yaml:", "rule 'costly-triple'", "validate:", "exceeds the per-expression limit of 10000000", "lists of up to 128 entries (default)", "grows as L^3", "inputLimits"]
)]
#[case::nested_over_declared_huge_bound(
    "huge-bound.yaml",
    &["rule 'huge-unique'", "validate:", "lists of up to 100000 entries (declared)", "grows as L^2", "restructure"]
)]
#[case::regex_over_declared_long_strings(
    "long-strings.yaml",
    &["rule 'regex-names'", "validate:", "strings of up to 1000000 bytes (declared)", "L·S·P", "P = length of a params string (estimated at 256 bytes)"]
)]
#[case::admission_policy(
    "vap-too-costly.yaml",
    &["ValidatingAdmissionPolicy 'triple-ports'", "spec.validations[0].expression", "exceeds the per-expression limit", "admission policies are estimated at the default bounds"]
)]
fn too_costly_rules_are_load_errors(#[case] fixture: &str, #[case] expected: &[&str]) {
    let err = load(fixture).expect_err("refused at load");
    let estimate = err
        .split("estimated cost ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u128>().ok())
        .expect("the message gives the estimate");
    assert!(estimate > MAX_EXPRESSION_COST, "{err}");
    for part in expected {
        assert!(err.contains(part), "missing {part:?} in:\n{err}");
    }
}

#[test]
fn load_error_text() {
    insta::assert_snapshot!(load("triple-nested.yaml").expect_err("refused"));
}

#[test]
fn declared_bounds_make_rules_acceptable() {
    let engine = load("declared.yaml").expect("loads with declared bounds");
    let rules = &engine.packs()[0].rules;
    assert_eq!(
        rules[0].input_limits.max_list_length,
        Some(20),
        "rule overrides the pack"
    );
    assert_eq!(rules[0].input_limits.max_string_length, Some(64), "pack value kept");
    assert_eq!(rules[1].input_limits.max_list_length, Some(50));
    // Within the bounds the rules run as usual.
    let decision = engine.evaluate(&Input::new(items(5)));
    assert_eq!(decision.decision, Verdict::Allow, "{decision:#?}");
    assert!(decision.violations.is_empty(), "{decision:#?}");
}

/// A declared bound also holds for what a rule reads through a computed pack variable, whose
/// value is measured (the one case that needs the variables computed before the rule runs).
#[test]
fn a_declared_bound_holds_for_a_computed_variable() {
    let engine = Engine::load(&[PackSource {
        origin: "variable-bound.yaml".into(),
        text: r#"apiVersion: celgate.io/v1
kind: RulePack
metadata: {name: varbound, version: 1.0.0}
spec:
  variables:
    - name: names
      expression: "object.items.map(i, i.name)"
  rules:
    - id: varbound-unique
      title: Names are unique
      controls: ["test"]
      severity: medium
      inputLimits: {maxListLength: 10}
      validate: "variables.names.all(a, variables.names.exists_one(b, b == a))"
      message: "names repeat"
      remediation: "Rename."
"#
        .into(),
    }])
    .expect("loads");
    assert_eq!(engine.evaluate(&Input::new(items(5))).decision, Verdict::Allow);
    let decision = engine.evaluate(&Input::new(items(12)));
    assert_one_evaluation_error(
        &decision,
        "varbound-unique",
        "rule varbound-unique is declared for at most 10",
    );
}

#[test]
fn an_input_over_a_declared_bound_is_an_evaluation_error() {
    let engine = load("declared.yaml").expect("loads");
    let decision = engine.evaluate(&Input::new(items(30)));
    assert_eq!(decision.decision, Verdict::Deny, "{decision:#?}");
    assert_one_evaluation_error(
        &decision,
        "bounded-triple",
        "the input has a list or map of 30 entries; rule bounded-triple is declared for at most 20",
    );
    // The same input is within the pack's bound of 50 for the rule that does not override it.
    assert!(
        by_rule(&decision.violations, "bounded-unique").is_empty(),
        "{decision:#?}"
    );
    // `onError: warn` turns the bound error into a warning.
    let lenient = by_rule(&decision.violations, "bounded-lenient");
    assert_eq!(lenient[0].action, celgate::engine::Action::Warn);

    let long_name = json!({"kind": "Thing", "items": [{"name": "x".repeat(100), "n": 1}]});
    let decision = engine.evaluate(&Input::new(long_name));
    let triple = by_rule(&decision.violations, "bounded-triple");
    assert!(
        triple[0]
            .message
            .contains("the input has a string of 100 bytes; rule bounded-triple is declared for at most 64"),
        "{}",
        triple[0].message
    );
}

#[test]
fn a_pathological_expression_is_stopped_at_the_per_expression_limit() {
    let engine = load("pathological.yaml").expect("loads at the default bounds");
    // 5 000 × 5 000 pairs: the compiled evaluator counts its steps and stops at the limit.
    let (decision, spent) = engine.evaluate_with_cost(&Input::new(items(5_000)), &NoOverrides);
    assert_eq!(decision.decision, Verdict::Deny);
    let v = &decision.violations[0];
    assert_eq!(
        (v.rule.as_ref(), v.finding),
        ("patho-pairs", FindingType::EvaluationError)
    );
    assert!(v.message.starts_with("rule patho-pairs: validate `"), "{}", v.message);
    assert!(
        v.message
            .contains("was stopped: it ran past the per-expression limit of 10000000 steps"),
        "{}",
        v.message
    );
    assert_eq!(spent, 10_000_000, "a stopped expression is charged the steps it took");
    // The same rule on a small list runs.
    assert_eq!(engine.evaluate(&Input::new(items(50))).decision, Verdict::Allow);
}

#[test]
fn the_request_budget_runs_out_part_way() {
    let engine = load("budget.yaml").expect("loads");
    let input = Input::new(items(100));
    let (unlimited, spent) = engine.evaluate_with_cost(&input, &NoOverrides);
    assert_eq!(unlimited.decision, Verdict::Allow, "{unlimited:#?}");
    assert!(spent > 0);

    // Half the budget the forEach needs: its first items run, the rest and the later rules
    // become evaluation errors naming the rule and the budget.
    let limited = engine.with_cost_limits(CostLimits {
        per_request: spent / 2,
        ..CostLimits::default()
    });
    assert_eq!(limited.cost_limits().per_request, spent / 2);
    let (decision, limited_spent) = limited.evaluate_with_cost(&input, &NoOverrides);
    assert!(limited_spent <= spent / 2);
    assert_eq!(decision.decision, Verdict::Deny, "{decision:#?}");
    let items_failed = by_rule(&decision.violations, "budget-a-items-positive");
    assert!(
        !items_failed.is_empty() && items_failed.len() < 100,
        "some items ran: {}",
        items_failed.len()
    );
    let budget = format!("the CEL cost budget of this request ({} steps) is exhausted", spent / 2);
    for v in &decision.violations {
        assert_eq!(v.finding, FindingType::EvaluationError, "{v:#?}");
        assert!(v.message.contains(&budget), "{}", v.message);
        assert!(v.message.contains(&format!("rule {}", v.rule)), "{}", v.message);
    }
    let later = by_rule(&decision.violations, "budget-b-has-name");
    assert!(
        later[0].message.starts_with("rule budget-b-has-name not evaluated"),
        "{}",
        later[0].message
    );
    // `onError: allow` still decides what the error does.
    let lenient = by_rule(&decision.violations, "budget-c-lenient");
    assert_eq!(lenient[0].action, celgate::engine::Action::Audit);
}

#[test]
fn a_lower_per_expression_limit_applies_at_run_time() {
    let engine = load("declared.yaml").expect("loads");
    let strict = engine.with_cost_limits(CostLimits {
        per_expression: 10,
        ..CostLimits::default()
    });
    let decision = strict.evaluate(&Input::new(items(5)));
    assert_eq!(decision.decision, Verdict::Deny);
    assert!(decision
        .violations
        .iter()
        .all(|v| v.message.contains("ran past the per-expression limit of 10 steps")));
}

#[test]
fn the_second_pass_after_a_patch_is_charged_too() {
    let text = std::fs::read_to_string("tests/fixtures/packs/basic/pack.yaml").expect("fixture");
    let engine = Engine::load(&[PackSource {
        origin: "basic/pack.yaml".into(),
        text,
    }])
    .expect("loads");
    let deployment = |context: Value| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "a", "image": "r/a:1", "securityContext": context}
            ]}}}
        })
    };
    let compliant = Input::new(deployment(json!({"allowPrivilegeEscalation": false})));
    let patched = Input::new(deployment(json!({})));
    let (d1, one_pass) = engine.evaluate_with_cost(&compliant, &NoOverrides);
    let (d2, two_passes) = engine.evaluate_with_cost(&patched, &NoOverrides);
    assert_eq!((d1.decision, d2.decision), (Verdict::Allow, Verdict::Patch));
    assert!(two_passes > one_pass, "{two_passes} <= {one_pass}");
}

#[rstest]
#[case::zero("bad-limits.yaml", &["spec.inputLimits: maxListLength must be at least 1", "rule 'badlimits-rule': inputLimits: maxStringLength must be at least 1"])]
fn bad_bounds_are_refused(#[case] fixture: &str, #[case] expected: &[&str]) {
    let err = load(fixture).expect_err("refused");
    for part in expected {
        assert!(err.contains(part), "missing {part:?} in:\n{err}");
    }
}

#[test]
fn unknown_bound_fields_are_refused() {
    let text = std::fs::read_to_string("tests/fixtures/cost/declared.yaml")
        .expect("fixture")
        .replace("maxListLength: 50", "maxItems: 50");
    let err = Engine::load(&[PackSource {
        origin: "declared.yaml".into(),
        text,
    }])
    .expect_err("refused")
    .to_string();
    assert!(
        err.contains("spec.inputLimits") && err.contains("unknown field `maxItems`"),
        "{err}"
    );
}

/// The shipped packs and the admission-policy fixtures load at the default bounds; prints the
/// dearest expressions so a change that makes one costlier shows up in review.
#[test]
fn shipped_packs_stay_under_the_limit() {
    let mut sources = celgate::packs::embedded().packs;
    for dir in [
        "demo",
        "replicalimit",
        "variables",
        "conditions",
        "configmap",
        "mutating",
        "audit",
    ] {
        for entry in std::fs::read_dir(format!("tests/fixtures/vap/{dir}")).expect("fixture dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).expect("fixture");
                sources.push(PackSource {
                    origin: path.display().to_string(),
                    text,
                });
            }
        }
    }
    let engine = Engine::load(&sources).expect("shipped packs and VAP fixtures load");
    let report = celgate::engine::pack::cost_report::report(engine.packs());
    for e in report.iter().take(5) {
        println!(
            "{:>10} ({:.0}% of the limit) {} {} {} at L={} S={}, grows as {}",
            e.estimate,
            percent(e.estimate),
            e.pack,
            e.subject,
            e.field,
            e.sizes.list,
            e.sizes.string,
            e.growth
        );
    }
    let worst = &report[0];
    assert!(worst.estimate <= MAX_EXPRESSION_COST, "{worst:?}");
    // Headroom: a shipped rule within half of the limit can grow without tripping it.
    assert!(percent(worst.estimate) < 60.0, "{worst:?}");
}

fn percent(estimate: u128) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ratio = estimate as f64 / MAX_EXPRESSION_COST as f64;
    ratio * 100.0
}

/// A document whose `text` is a string of `bytes` bytes next to two short `items`.
fn thing_with_text(bytes: usize, extra_items: usize) -> Value {
    let mut items: Vec<Value> = vec![json!({"name": "a"}), json!({"name": "b"})];
    let notes: Vec<Value> = (0..extra_items).map(|i| json!(format!("n{i}"))).collect();
    items.truncate(2);
    json!({
        "kind": "Thing",
        "metadata": {"name": "t", "annotations": {"note": "x".repeat(bytes)}},
        "notes": notes,
        "spec": {"items": items},
    })
}

#[test]
fn an_expression_is_charged_on_what_it_reads_not_on_the_rest_of_the_document() {
    let engine = load("reads-what-it-reads.yaml").expect("loads");
    // A 1 MiB string and a list of 100 000 entries elsewhere in the document change nothing.
    for (bytes, extra) in [(0, 0), (2_600, 0), (1 << 20, 0), (0, 100_000), (256 << 10, 50_000)] {
        let (decision, spent) = engine.evaluate_with_cost(&Input::new(thing_with_text(bytes, extra)), &NoOverrides);
        assert_eq!(
            decision.decision,
            Verdict::Allow,
            "{bytes} bytes, {extra} items: {:?}",
            decision.violations
        );
        assert!(
            spent < 10_000,
            "charged {spent} steps for two short names ({bytes} bytes, {extra} items)"
        );
    }
    // What it does read still counts: 5 000 items stop the quadratic rule at its limit.
    let items: Vec<Value> = (0..5_000).map(|i| json!({"name": format!("n{i}")})).collect();
    let decision = engine.evaluate(&Input::new(json!({"kind": "Thing", "spec": {"items": items}})));
    let v = &decision.violations[0];
    assert_eq!(v.finding, FindingType::EvaluationError, "{v:?}");
    assert!(v.message.contains("ran past the per-expression limit"), "{}", v.message);
}

#[test]
fn functions_that_build_collections_are_charged_by_what_they_build() {
    let err = load("range-growth.yaml").expect_err("refused at load");
    for part in [
        "rule 'growth-nested-ranges'",
        "validate:",
        "exceeds the per-expression limit of 10000000",
    ] {
        assert!(err.contains(part), "missing {part:?} in:\n{err}");
    }
    let estimate = celgate::engine::cel::compile::compile(
        &celgate::engine::cel::compile::environment(),
        "object.s.split(',').size() == 2",
    )
    .expect("compiles")
    .estimated_cost(cost::Sizes::new(1, 1000));
    assert!(estimate > 1000, "split is charged per part it may produce: {estimate}");
}

/// The documents under `dir`, each as JSON.
fn documents_under(dir: &str) -> Vec<(String, Value)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let collected = celgate::documents::collect(std::slice::from_ref(&root), &mut std::io::empty());
    assert!(collected.problems.is_empty(), "{dir} must parse");
    collected
        .documents
        .iter()
        .map(|d| (format!("{}#{}", d.source, d.index), d.value.clone()))
        .collect()
}

/// `doc` as `kubectl apply` leaves it: its own JSON as the last-applied annotation, padded to
/// `annotation_bytes`, and a `managedFields` entry of `managed_entries` fields.
fn as_applied(doc: &Value, annotation_bytes: usize, managed_entries: usize) -> Value {
    let mut out = doc.clone();
    let mut applied = serde_json::to_string(doc).expect("serialises");
    if applied.len() < annotation_bytes {
        applied.push_str(&" ".repeat(annotation_bytes - applied.len()));
    }
    let fields: serde_json::Map<String, Value> = (0..managed_entries)
        .map(|i| (format!("f:field{i}"), json!({".": {}, "f:value": {}})))
        .collect();
    let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) else {
        return out;
    };
    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
    if let Some(map) = annotations.as_object_mut() {
        map.insert(
            "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
            json!(applied),
        );
    }
    meta.insert(
        "managedFields".to_owned(),
        json!([{"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
                "time": "2026-12-07T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields}]),
    );
    out
}

/// What a person reads of a decision, minus the annotation itself (a rule may quote it).
fn outcome(decision: &celgate::engine::Decision) -> Vec<(String, String, String, String)> {
    decision
        .violations
        .iter()
        .filter(|v| !v.pointer.contains("last-applied-configuration"))
        .map(|v| {
            (
                v.rule.to_string(),
                v.pointer.clone(),
                format!("{:?}", v.finding),
                format!("{:?}", v.action),
            )
        })
        .collect()
}

#[test]
fn kubectl_annotations_and_managed_fields_change_no_finding() {
    let engine = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let mut docs = documents_under("examples/compliant");
    docs.extend(documents_under("tests/fixtures/real"));
    docs.extend(documents_under("tests/fixtures/manifests"));
    assert!(docs.len() > 20, "{} documents", docs.len());
    for (at, doc) in &docs {
        let plain = engine.evaluate(&Input::new(doc.clone()));
        for (bytes, managed) in [(2_600, 10), (256 << 10, 2_000)] {
            let applied = engine.evaluate(&Input::new(as_applied(doc, bytes, managed)));
            assert_eq!(
                outcome(&applied),
                outcome(&plain),
                "{at} with a {bytes}-byte last-applied-configuration and {managed} managed fields:\n{:#?}",
                applied.violations
            );
        }
    }
    // The compliant examples stay allowed.
    for (at, doc) in documents_under("examples/compliant") {
        let applied = engine.evaluate(&Input::new(as_applied(&doc, 256 << 10, 2_000)));
        assert_ne!(applied.decision, Verdict::Deny, "{at}: {:#?}", applied.violations);
    }
}

#[test]
fn a_configmap_of_one_mebibyte_is_judged_in_full() {
    let engine = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let mut data = serde_json::Map::new();
    // 1 000 keys of 1 KiB, and one value of 24 KiB holding a credential near its end.
    for i in 0..1_000 {
        data.insert(
            format!("rule-{i}.yaml"),
            json!(format!("# rule {i}\n{}", "x".repeat(1_000))),
        );
    }
    let big = format!("{}\ndb.password=hunter2hunter2\n", "settings.line=1\n".repeat(1_500));
    data.insert("application.properties".to_owned(), json!(big));
    let config_map = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "big", "namespace": "apps"},
        "data": data,
    });
    let decision = engine.evaluate(&Input::new(config_map));
    let errors: Vec<_> = decision
        .violations
        .iter()
        .filter(|v| v.finding == FindingType::EvaluationError)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}
