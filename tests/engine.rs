//! Engine behaviour on the fixture pack `tests/fixtures/packs/basic`: matching, forEach pointers,
//! messages, actions, patches, evaluation errors and bounds.

use celgate::engine::{Action, Engine, FindingType, Input, Operation, PackSource, Verdict};
use rstest::rstest;
use serde_json::{json, Value};

fn fixture_engine() -> Engine {
    let text = std::fs::read_to_string("tests/fixtures/packs/basic/pack.yaml").expect("fixture pack");
    Engine::load(&[PackSource {
        origin: "basic/pack.yaml".into(),
        text,
    }])
    .expect("fixture pack loads")
}

fn engine_from(yaml: &str) -> Result<Engine, String> {
    Engine::load(&[PackSource {
        origin: "inline.yaml".into(),
        text: yaml.to_owned(),
    }])
    .map_err(|e| e.to_string())
}

fn deployment(containers: &Value, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}}
    })
}

fn safe(name: &str) -> Value {
    json!({"name": name, "image": format!("r.example/{name}:1.0"), "securityContext": {"allowPrivilegeEscalation": false}})
}

#[rstest]
#[case::compliant(json!([safe("a")]), 3, Verdict::Allow, &[])]
#[case::privileged(json!([safe("a"), {"name": "b", "image": "r/b:1", "securityContext": {"privileged": true, "allowPrivilegeEscalation": false}}]), 3, Verdict::Deny, &["basic-no-privileged"])]
#[case::latest_warns(json!([{"name": "a", "image": "r/a:latest", "securityContext": {"allowPrivilegeEscalation": false}}]), 3, Verdict::Allow, &["basic-no-latest"])]
#[case::audit_only(json!([safe("a")]), 50, Verdict::Allow, &["basic-replicas"])]
#[case::patched(json!([{"name": "a", "image": "r/a:1"}]), 3, Verdict::Patch, &["basic-no-escalation"])]
fn decisions(#[case] containers: Value, #[case] replicas: i64, #[case] verdict: Verdict, #[case] rules: &[&str]) {
    let decision = fixture_engine().evaluate(&Input::new(deployment(&containers, replicas)));
    assert_eq!(decision.decision, verdict, "{decision:#?}");
    let fired: Vec<&str> = decision.violations.iter().map(|v| v.rule.as_ref()).collect();
    assert_eq!(fired, rules, "{decision:#?}");
}

#[test]
fn for_each_reports_item_pointer_and_message_values() {
    let containers = json!([safe("a"), {"name": "b", "image": "r/b:1", "securityContext": {"privileged": true, "allowPrivilegeEscalation": false}}]);
    let decision = fixture_engine().evaluate(&Input::new(deployment(&containers, 1)));
    let v = &decision.violations[0];
    assert_eq!(v.pointer, "/spec/template/spec/containers/1/securityContext/privileged");
    assert_eq!(v.message, "container b runs privileged");
    assert_eq!(*v.controls, ["TSC CC6.1"]);
}

#[test]
fn warnings_interpolate_lists() {
    let containers =
        json!([{"name": "a", "image": "r/a:latest", "securityContext": {"allowPrivilegeEscalation": false}}]);
    let decision = fixture_engine().evaluate(&Input::new(deployment(&containers, 1)));
    assert_eq!(decision.warnings.len(), 1);
    assert!(
        decision.warnings[0].contains(r#"["r/a:latest"]"#),
        "{:?}",
        decision.warnings
    );
}

#[test]
fn patch_creates_parents_and_records_rule() {
    let doc = deployment(
        &json!([{"name": "a", "image": "r/a:1"}, {"name": "b", "image": "r/b:1"}]),
        1,
    );
    let decision = fixture_engine().evaluate(&Input::new(doc.clone()));
    assert_eq!(decision.decision, Verdict::Patch);
    assert!(decision.violations.iter().all(|v| v.patched));
    assert!(decision.patch.iter().all(|op| op.rule == "basic-no-escalation"));
    let mut patched = doc;
    let ops: json_patch::Patch = decision.json_patch();
    json_patch::patch(&mut patched, &ops).expect("applies to the input");
    assert_eq!(Some(&patched), decision.patched_object.as_ref());
    assert_eq!(
        patched["spec"]["template"]["spec"]["containers"][1]["securityContext"]["allowPrivilegeEscalation"],
        json!(false)
    );
}

#[test]
fn missing_field_is_an_evaluation_error_that_acts_as_its_rule() {
    // basic-replicas (an audit rule) reads object.spec.replicas without a guard: its error is
    // recorded, never more than a violation of it would do.
    let mut doc = deployment(&json!([safe("a")]), 1);
    doc["spec"].as_object_mut().expect("spec").remove("replicas");
    let decision = fixture_engine().evaluate(&Input::new(doc.clone()));
    let err = decision
        .violations
        .iter()
        .find(|v| v.rule.as_ref() == "basic-replicas")
        .expect("error reported");
    assert_eq!(err.finding, FindingType::EvaluationError);
    assert_eq!(err.action, Action::Audit);
    assert!(err.message.contains("object.spec.replicas"), "{}", err.message);
    assert_ne!(decision.decision, Verdict::Deny, "{:?}", decision.violations);

    // A deny rule fails closed; `onError` says otherwise for any rule.
    for (action, on_error, expected) in [
        ("deny", "", Action::Deny),
        ("warn", "", Action::Warn),
        ("audit", "", Action::Audit),
        ("warn", "onError: deny", Action::Deny),
        ("deny", "onError: allow", Action::Audit),
    ] {
        let text = format!(
            "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {{name: t, version: 1.0.0, framework: test}}\nspec:\n  rules:\n    - id: t-replicas\n      title: t\n      controls: [x]\n      severity: low\n      match: {{kinds: [Deployment]}}\n      validate: object.spec.replicas >= 1\n      message: m\n      remediation: r\n      action: {action}\n      {on_error}\n"
        );
        let engine = Engine::load(&[PackSource {
            origin: "inline".to_owned(),
            text,
        }])
        .expect("loads");
        let decision = engine.evaluate(&Input::new(doc.clone()));
        let err = &decision.violations[0];
        assert_eq!(
            (err.finding, err.action),
            (FindingType::EvaluationError, expected),
            "{action} {on_error}"
        );
    }
}

#[test]
fn variables_error_only_affects_rules_that_read_them() {
    // A Deployment without a template: podSpec errors, basic-replicas still runs.
    let doc =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {"replicas": 1}});
    let decision = fixture_engine().evaluate(&Input::new(doc));
    let rules: Vec<(&str, FindingType)> = decision
        .violations
        .iter()
        .map(|v| (v.rule.as_ref(), v.finding))
        .collect();
    assert!(
        rules.contains(&("basic-no-latest", FindingType::EvaluationError)),
        "{rules:?}"
    );
    assert!(!rules.iter().any(|(r, _)| *r == "basic-replicas"), "{rules:?}");
}

#[rstest]
#[case::delete(Operation::Delete, 0)]
#[case::update(Operation::Update, 1)]
fn operations_filter_rules(#[case] op: Operation, #[case] expected: usize) {
    let containers = json!([{"name": "b", "image": "r/b:1", "securityContext": {"privileged": true, "allowPrivilegeEscalation": false}}]);
    let mut input = Input::new(deployment(&containers, 1));
    input.operation = op;
    if op == Operation::Delete {
        input.old_object = Some(input.object.take());
    }
    let decision = fixture_engine().evaluate(&input);
    assert_eq!(decision.violations.len(), expected, "{decision:#?}");
}

const HEADER: &str =
    "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {name: t, version: 1.0.0}\nspec:\n  rules:\n";

fn one_rule(fields: &str) -> String {
    format!(
        "{HEADER}    - id: t-rule\n      title: T\n      controls: [X]\n      severity: low\n      message: m\n      remediation: r\n{fields}"
    )
}

#[rstest]
#[case::bad_cel("      validate: \"object.spec.\"\n", "rule 't-rule': validate: line 1, column")]
#[case::unknown_field("      validate: \"true\"\n      severity2: high\n", "unknown field `severity2`")]
#[case::bad_jsonpath("      validate: \"true\"\n      forEach: \"$[?\"\n", "forEach: bad JSONPath")]
#[case::unknown_variable("      validate: \"objct.x == 1\"\n", "unknown variable 'objct'")]
#[case::undefined_pack_variable("      validate: \"variables.nope == 1\"\n", "reads variables.nope")]
#[case::too_deep_macros(
    "      validate: \"object.a.all(a, a.all(b, b.all(c, c.all(d, d))))\"\n",
    "nest 4 levels"
)]
#[case::patch_without_ops("      validate: \"true\"\n      action: patch\n", "'patch' needs at least one op")]
#[case::bad_operation(
    "      validate: \"true\"\n      match: {operations: [CRATE]}\n",
    "unknown operation 'CRATE'"
)]
fn load_errors_name_file_rule_and_field(#[case] fields: &str, #[case] expected: &str) {
    let err = engine_from(&one_rule(fields)).expect_err("refused");
    assert!(err.contains("inline.yaml:"), "{err}");
    assert!(err.contains(expected), "{err}");
}

#[test]
fn duplicate_ids_across_packs_are_refused() {
    let pack = one_rule("      validate: \"true\"\n");
    let err = Engine::load(&[
        PackSource {
            origin: "a.yaml".into(),
            text: pack.clone(),
        },
        PackSource {
            origin: "b.yaml".into(),
            text: pack,
        },
    ])
    .expect_err("duplicate");
    assert!(
        err.to_string()
            .contains("rule id 't-rule' is already defined in a.yaml"),
        "{err}"
    );
}

#[test]
fn unknown_api_version_is_named() {
    let err = engine_from(&one_rule("      validate: \"true\"\n").replace("celgate.io/v1", "celgate.io/v2"))
        .expect_err("refused");
    assert!(
        err.contains("apiVersion is 'celgate.io/v2'; expected 'celgate.io/v1'"),
        "{err}"
    );
}

#[test]
fn overlong_expression_is_refused() {
    let long = format!("      validate: \"{}true\"\n", "true && ".repeat(700));
    let err = engine_from(&one_rule(&long)).expect_err("refused");
    assert!(err.contains("limit is 5000"), "{err}");
}

#[test]
fn runaway_rule_is_stopped_by_the_cost_bound() {
    let engine = engine_from(&one_rule(
        "      validate: \"object.items.all(a, object.items.all(b, a + b >= 0))\"\n",
    ))
    .expect("loads");
    let items: Vec<i64> = (0..2000).collect();
    let decision = engine.evaluate(&Input::new(json!({"kind": "Thing", "items": items})));
    assert_eq!(decision.decision, Verdict::Deny);
    assert_eq!(decision.violations[0].finding, FindingType::EvaluationError);
    assert!(
        decision.violations[0]
            .message
            .contains("ran past the per-expression limit of 10000000 steps"),
        "{}",
        decision.violations[0].message
    );
}

#[test]
fn on_error_warn_and_allow_never_deny() {
    for (mode, action) in [("warn", Action::Warn), ("allow", Action::Audit)] {
        let engine = engine_from(&one_rule(&format!(
            "      validate: \"object.missing == 1\"\n      onError: {mode}\n"
        )))
        .expect("loads");
        let decision = engine.evaluate(&Input::new(json!({"kind": "X"})));
        assert_eq!(decision.decision, Verdict::Allow);
        assert_eq!(decision.violations[0].action, action);
        assert_eq!(decision.violations[0].finding, FindingType::EvaluationError);
    }
}

#[test]
fn non_bool_validate_is_an_error() {
    let engine = engine_from(&one_rule("      validate: \"'yes'\"\n")).expect("loads");
    let decision = engine.evaluate(&Input::new(json!({"kind": "X"})));
    assert!(
        decision.violations[0]
            .message
            .contains("must return a bool, got string"),
        "{:?}",
        decision.violations
    );
}

#[test]
fn integers_compare_as_int_and_params_override() {
    let engine = engine_from(&one_rule(
        "      validate: \"object.n >= params.min && object.n - 5 < 0\"\n",
    ))
    .expect("loads");
    let mut input = Input::new(json!({"kind": "X", "n": 3}));
    input.params.insert("min".into(), json!(2));
    assert_eq!(engine.evaluate(&input).decision, Verdict::Allow);
    input.params.insert("min".into(), json!(4));
    assert_eq!(engine.evaluate(&input).decision, Verdict::Deny);
}

#[test]
fn message_expression_replaces_message() {
    let engine = engine_from(&one_rule(
        "      validate: \"false\"\n      messageExpression: \"'kind ' + object.kind + ' refused'\"\n",
    ))
    .expect("loads");
    let decision = engine.evaluate(&Input::new(json!({"kind": "X"})));
    assert_eq!(decision.violations[0].message, "kind X refused");
}

/// Equality and membership hold across the document's zero-copy views and the lists and maps
/// expressions build, in either operand order.
#[rstest]
#[case("{'app': 'web'} == object.spec.selector", json!(true))]
#[case("object.spec.selector == {'app': 'web'}", json!(true))]
#[case("['a', 'b'] == object.tags", json!(true))]
#[case("[{'n': 1}] == object.items", json!(true))]
#[case("object.items[0] in [{'n': 1}]", json!(true))]
#[case("{'n': 2} in object.items", json!(false))]
#[case("object.tags.map(t, t) == object.tags", json!(true))]
#[case("object.tags != ['a']", json!(true))]
#[case("'a' in object.tags", json!(true))]
#[case("'app' in object.spec.selector", json!(true))]
#[case("object.n == 3 && 3 == object.n && object.n == 3.0", json!(true))]
#[case("object.spec.selector.app.matches('^w.b$')", json!(true))]
#[case("size(object.tags) + object.tags.size()", json!(4))]
#[case("object.items.map(i, i.n * 2)", json!([2]))]
#[case("object.spec", json!({"selector": {"app": "web"}}))]
fn equality_across_representations(#[case] expr: &str, #[case] expected: Value) {
    let doc =
        json!({"kind": "X", "n": 3, "tags": ["a", "b"], "items": [{"n": 1}], "spec": {"selector": {"app": "web"}}});
    let got = Engine::eval_expression(expr, &Input::new(doc), &[]).expect("evaluates");
    assert_eq!(got, expected, "{expr}");
}

/// A pack `name` whose params set `limit`, with rules that two such packs write alike.
fn twin_pack(name: &str, limit: i64) -> PackSource {
    PackSource {
        origin: format!("{name}.yaml"),
        text: format!(
            r#"apiVersion: celgate.io/v1
kind: RulePack
metadata: {{name: {name}, version: 0.1.0}}
spec:
  params: {{limit: {limit}, registry: r.example/}}
  variables:
    - name: containers
      expression: object.spec.template.spec.containers
    - name: overLimit
      expression: object.spec.replicas > params.limit
  rules:
    - id: {name}-over
      title: Not over the limit
      controls: [c]
      severity: low
      validate: "!variables.overLimit"
      message: "over the limit of {{params.limit}}"
      remediation: r
    - id: {name}-replicas
      title: Replicas within the limit
      controls: [c]
      severity: low
      validate: "object.spec.replicas <= params.limit"
      message: "{{object.spec.replicas}} replicas; the limit is {{params.limit}}"
      remediation: r
    - id: {name}-registry
      title: Images from the registry
      controls: [c]
      severity: low
      forEach: ["$.spec.template.spec.containers[*]"]
      validate: "item.image.startsWith(params.registry)"
      message: "container {{item.name}} runs {{item.image}} ({{size(variables.containers)}} containers)"
      pointer: /image
      remediation: r
"#
        ),
    }
}

/// Two packs whose rules are written alike share their results where the result must be the
/// same (same item, equal params, shared variables), and never where it may differ.
#[test]
fn rules_written_alike_in_two_packs_judge_each_pack_with_its_own_params_and_items() {
    let engine = Engine::load(&[twin_pack("a", 5), twin_pack("b", 2)]).expect("packs load");
    let containers = json!([safe("one"), {"name": "two", "image": "elsewhere/two:1"}, {"name": "three", "image": "elsewhere/three:1"}]);
    let decision = engine.evaluate(&Input::new(deployment(&containers, 3)));
    let mut found: Vec<(&str, &str, &str)> = decision
        .violations
        .iter()
        .map(|v| (v.rule.as_ref(), v.pointer.as_str(), v.message.as_str()))
        .collect();
    found.sort_unstable();
    assert_eq!(
        found,
        [
            (
                "a-registry",
                "/spec/template/spec/containers/1/image",
                "container two runs elsewhere/two:1 (3 containers)"
            ),
            (
                "a-registry",
                "/spec/template/spec/containers/2/image",
                "container three runs elsewhere/three:1 (3 containers)"
            ),
            ("b-over", "", "over the limit of 2"),
            (
                "b-registry",
                "/spec/template/spec/containers/1/image",
                "container two runs elsewhere/two:1 (3 containers)"
            ),
            (
                "b-registry",
                "/spec/template/spec/containers/2/image",
                "container three runs elsewhere/three:1 (3 containers)"
            ),
            ("b-replicas", "", "3 replicas; the limit is 2"),
        ],
        "{decision:#?}"
    );
}

/// A pack variable is computed for a rule however the rule names it: `variables.x`,
/// `variables.?x`, `variables['x']`, or a key known only when the rule runs.
#[rstest]
#[case::optional("variables.?kind.orValue('') == 'Pod'")]
#[case::index("variables['kind'] == 'Pod'")]
#[case::optional_index("variables[?'kind'].orValue('') == 'Pod'")]
#[case::dynamic_key("['kind'].all(k, variables[k] == 'Pod')")]
#[case::through_a_variable("variables.isPod")]
fn pack_variables_are_computed_however_a_rule_reads_them(#[case] validate: &str) {
    let engine = engine_from(&format!(
        r#"apiVersion: celgate.io/v1
kind: RulePack
metadata: {{name: vars, version: 0.1.0}}
spec:
  variables:
    - name: kind
      expression: object.kind
    - name: isPod
      expression: "variables[?'kind'].orValue('') == 'Pod'"
  rules:
    - id: vars-pod
      title: Only pods
      controls: [c]
      severity: low
      validate: "{validate}"
      message: "kind {{variables.?kind.orValue('<none>')}}"
      remediation: r
"#
    ))
    .expect("pack loads");
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}});
    assert_eq!(engine.evaluate(&Input::new(pod)).decision, Verdict::Allow);
    let denied = engine.evaluate(&Input::new(deployment(&json!([safe("a")]), 1)));
    assert_eq!(denied.decision, Verdict::Deny);
    assert_eq!(denied.violations[0].message, "kind Deployment");
}
