//! Two-variable comprehensions (cel-go's `TwoVarComprehensions`, as Kubernetes 1.33+ offers them)
//! through the public API: `Engine::eval_expression` on literals and on the document of
//! `tests/fixtures/macros2/object.json` (as `celgate eval --object` binds it), and a pack that
//! uses them in rules and messages.
//!
//! Expected values follow cel-go's `ext` documentation: on a list the first variable is the
//! index and the second the element; on a map the key and its value.

use celgate::engine::{Engine, Input, PackSource, Verdict};
use rstest::rstest;
use serde_json::{json, Value};

fn object() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/macros2/object.json"
    ))
    .expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn eval(src: &str) -> Result<Value, String> {
    Engine::eval_expression(src, &Input::new(object()), &[]).map_err(|e| e.to_string())
}

/// Every form on list and map literals, with and without a filter, and on empty targets.
#[rstest]
#[case("[1, 2, 3].all(i, v, v == i + 1)", json!(true))]
#[case("[1, 2, 3].all(i, v, i < 2)", json!(false))]
#[case("[].all(i, v, false)", json!(true))]
#[case("{'a': 1, 'b': 2}.all(k, v, k.size() == 1 && v > 0)", json!(true))]
#[case("{}.all(k, v, false)", json!(true))]
#[case("[5, 6].exists(i, v, i == 1 && v == 6)", json!(true))]
#[case("[5, 6].exists(i, v, i == v)", json!(false))]
#[case("[].exists(i, v, true)", json!(false))]
#[case("{'a': 1, 'b': 2}.exists(k, v, k == 'b' && v == 2)", json!(true))]
#[case("{}.exists(k, v, true)", json!(false))]
#[case("[7, 7, 8].existsOne(i, v, v == 7)", json!(false))]
#[case("[7, 7, 8].existsOne(i, v, v == 7 && i == 1)", json!(true))]
#[case("[7, 7, 8].exists_one(i, v, v == 8)", json!(true))]
#[case("[].existsOne(i, v, true)", json!(false))]
#[case("{'a': 1, 'b': 2}.existsOne(k, v, v > 1)", json!(true))]
#[case("[10, 20, 30].transformList(i, v, i * v)", json!([0, 20, 60]))]
#[case("[10, 20, 30].transformList(i, v, i != 1, v + i)", json!([10, 32]))]
#[case("[].transformList(i, v, v)", json!([]))]
#[case("{'a': 1, 'b': 2}.transformList(k, v, k + string(v)).sort()", json!(["a1", "b2"]))]
#[case("{'a': 1, 'b': 2}.transformList(k, v, v > 1, k)", json!(["b"]))]
#[case("[10, 20].transformMap(i, v, v / 10)", json!({"0": 1, "1": 2}))]
#[case("[10, 20].transformMap(i, v, i > 0, v)", json!({"1": 20}))]
#[case("[10, 20].transformMap(i, v, v)[1]", json!(20))]
#[case("{'a': 1, 'b': 2}.transformMap(k, v, v * 2)", json!({"a": 2, "b": 4}))]
#[case("{'a': 1, 'b': 2}.transformMap(k, v, k != 'a', k + k)", json!({"b": "bb"}))]
#[case("{}.transformMap(k, v, v)", json!({}))]
#[case("{'a': 'x', 'b': 'y'}.transformMapEntry(k, v, {v: k})", json!({"x": "a", "y": "b"}))]
#[case("{'a': 'x', 'b': 'y'}.transformMapEntry(k, v, k == 'a', {v: k})", json!({"x": "a"}))]
#[case("['p', 'q'].transformMapEntry(i, v, {v: i, v + v: i * 10})", json!({"p": 0, "pp": 0, "q": 1, "qq": 10}))]
#[case("[].transformMapEntry(i, v, {v: i})", json!({}))]
#[case("[1, 2].transformMapEntry(i, v, {})", json!({}))]
fn literals(#[case] src: &str, #[case] expected: Value) {
    assert_eq!(eval(src), Ok(expected), "{src}");
}

/// The same forms over the document: lists of objects, maps of scalars and of lists, empty ones.
#[rstest]
#[case(
    "object.spec.template.spec.containers.all(i, c, c.name != '' && i < 3)",
    json!(true)
)]
#[case(
    "object.spec.template.spec.containers.exists(i, c, i > 0 && c.image.endsWith(':latest'))",
    json!(true)
)]
#[case(
    "object.spec.template.spec.containers.existsOne(i, c, c.ports.size() == 0)",
    json!(true)
)]
#[case(
    "object.spec.template.spec.containers.transformList(i, c, c.image.endsWith(':latest'), i)",
    json!([1])
)]
#[case(
    "object.spec.template.spec.containers.transformMapEntry(i, c, {c.name: i})",
    json!({"web": 0, "sidecar": 1, "metrics": 2})
)]
#[case(
    "object.spec.template.spec.containers.transformMap(i, c, c.ports.size())",
    json!({"0": 2, "1": 0, "2": 1})
)]
#[case("object.metadata.labels.all(k, v, v == v.lowerAscii() && k.size() < 10)", json!(true))]
#[case("object.metadata.labels.exists(k, v, k == 'team' && v == 'payments')", json!(true))]
#[case("object.metadata.labels.transformMap(k, v, v.size())", json!({"app": 4, "team": 8, "tier": 8}))]
#[case("object.metadata.labels.transformMapEntry(k, v, {v: k})", json!({"shop": "app", "payments": "team", "frontend": "tier"}))]
#[case("object.metadata.labels.transformList(k, v, k.startsWith('t'), v).sort()", json!(["frontend", "payments"]))]
#[case("object.metadata.annotations.all(k, v, false)", json!(true))]
#[case("object.spec.template.spec.initContainers.exists(i, c, true)", json!(false))]
#[case("object.spec.limits.transformMap(k, v, v > 100, v * 2)", json!({"web": 1024, "sidecar": 256}))]
fn document(#[case] src: &str, #[case] expected: Value) {
    assert_eq!(eval(src), Ok(expected), "{src}");
}

/// Nesting: inside one-variable macros, around them, in each other, and shadowing.
#[rstest]
// A two-variable form inside a one-variable one, reading the outer variable.
#[case(
    "object.spec.template.spec.containers.all(c, c.ports.all(i, p, p.containerPort > 1000 + i))",
    json!(true)
)]
// One-variable macros inside a two-variable body (cel-go's own example).
#[case("{'h': ['hello', 'hi'], 'j': ['joke', 'jog']}.all(k, vals, vals.all(v, v.startsWith(k)))", json!(true))]
#[case(
    "object.spec.owners.all(who, names, names.all(n, object.spec.template.spec.containers.exists(c, c.name == n)))",
    json!(true)
)]
// Two-variable in two-variable, the inner reading the outer pair.
#[case(
    "object.spec.owners.transformMap(who, names, names.transformList(i, n, object.spec.limits[n] + i))",
    json!({"alice": [512, 65], "bob": [128]})
)]
// Both variables of both levels in the inner body: each pair stays its own.
#[case("[10].all(i, v, [1].all(j, w, v == 10 && w == 1 && i == 0 && j == 0))", json!(true))]
#[case("[10, 20].transformList(i, v, [1, 2].transformList(j, w, v * w + i))", json!([[10, 20], [21, 41]]))]
#[case(
    "{'a': {'x': 1}}.transformMap(k, m, m.transformMap(k2, v, k + k2 + string(v)))",
    json!({"a": {"x": "ax1"}})
)]
// The inner form rebinds the outer names: the inner ones win inside, the outer ones after.
#[case("[[1, 2], [3]].transformList(i, v, v.transformList(i, v, i * 10 + v))", json!([[1, 12], [3]]))]
#[case("[[1, 2]].all(i, v, v.exists(v, v == 2) && v.size() == 2 && i == 0)", json!(true))]
// `map` and `filter` rebinding the value variable.
#[case("[[4, 5]].transformList(i, v, v.map(v, v + i))", json!([[4, 5]]))]
#[case("{'a': [1, 2, 3]}.transformMap(k, v, v.filter(v, v > 1))", json!({"a": [2, 3]}))]
// Macros in the target and in the filter.
#[case("[1, 2, 3].map(x, x * 2).transformList(i, v, v > 2, [i, v])", json!([[1, 4], [2, 6]]))]
// `has()` on the value variable.
#[case(
    "object.spec.template.spec.containers.transformList(i, c, has(c.ports) && c.ports.size() > 0, c.name)",
    json!(["web", "metrics"])
)]
fn nesting_and_shadowing(#[case] src: &str, #[case] expected: Value) {
    assert_eq!(eval(src), Ok(expected), "{src}");
}

/// Load errors name the macro; evaluation errors say what was wrong.
#[rstest]
#[case::index_not_a_name("[1].all(0, v, true)", "all: the loop variables must be simple names")]
#[case::value_not_a_name(
    "[1].transformList(i, v.x, v)",
    "transformList: the loop variables must be simple names"
)]
#[case::same_names(
    "{}.transformMap(k, k, k)",
    "transformMap: the two loop variables are both named 'k'"
)]
#[case::too_many(
    "[1].transformMapEntry(i, v, true, {}, {})",
    "transformMapEntry takes (index, value, transform) or (index, value, filter, transform), not 5 argument(s)"
)]
#[case::too_few("[1].transformList(i, v)", "transformList takes")]
#[case::quantifier_arity(
    "[1].exists(i, v, w, true)",
    "exists takes (x, predicate) or (index, value, predicate), not 4 argument(s)"
)]
#[case::unknown_name("[1].all(i, v, x > 0)", "unknown variable 'x'")]
#[case::body_syntax_position("[1].all(i, v,\n  v >)", "line 2")]
fn load_errors(#[case] src: &str, #[case] needle: &str) {
    match eval(src) {
        Ok(v) => panic!("{src}: expected a load error, got {v}"),
        Err(e) => {
            assert!(e.contains(needle), "{src}: {e:?} lacks {needle:?}");
            assert!(!e.starts_with("evaluation failed"), "{src}: not a load error: {e}");
        }
    }
}

#[rstest]
#[case::duplicate_key("{'a': 'x', 'b': 'x'}.transformMapEntry(k, v, {v: k})", "transformMapEntry")]
#[case::duplicate_key_named("[1, 1].transformMapEntry(i, v, {v: i})", "key 1 more than once")]
#[case::not_a_map("[1].transformMapEntry(i, v, [v])", "the transform must return a map, not a list")]
#[case::not_iterable("'abc'.all(i, v, true)", "list or map")]
#[case::null_target("object.spec.missing.all(i, v, true)", "evaluation failed")]
#[case::division("[2, 0].transformList(i, v, 4 / v)", "evaluation failed")]
fn evaluation_errors(#[case] src: &str, #[case] needle: &str) {
    match eval(src) {
        Ok(v) => panic!("{src}: expected an error, got {v}"),
        Err(e) => assert!(e.contains(needle), "{src}: {e:?} lacks {needle:?}"),
    }
}

/// A pack using the forms in `validate` and in a message template loads (past the nesting,
/// cost and name checks) and decides as expected.
#[test]
fn pack_rules_use_two_variable_forms() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/macros2/pack.yaml"))
        .expect("fixture pack");
    let engine = Engine::load(&[PackSource {
        origin: "macros2/pack.yaml".into(),
        text,
    }])
    .unwrap_or_else(|e| panic!("{e}"));
    let decision = engine.evaluate(&Input::new(object()));
    assert_eq!(decision.decision, Verdict::Allow, "{decision:#?}");
    let fired: Vec<&str> = decision.violations.iter().map(|v| v.rule.as_ref()).collect();
    assert_eq!(fired, ["macros2-no-latest"], "{decision:#?}");
    assert!(
        decision
            .warnings
            .iter()
            .any(|w| w.contains("containers on :latest: [1]")),
        "{:?}",
        decision.warnings
    );

    let mut upper = object();
    upper["metadata"]["labels"]["tier"] = json!("Frontend");
    upper["spec"]["template"]["spec"]["containers"][0]["image"] = json!("r.example/web:latest");
    let decision = engine.evaluate(&Input::new(upper));
    assert_eq!(decision.decision, Verdict::Deny, "{decision:#?}");
    let mut fired: Vec<&str> = decision.violations.iter().map(|v| v.rule.as_ref()).collect();
    fired.sort_unstable();
    assert_eq!(
        fired,
        [
            "macros2-first-container-pinned",
            "macros2-label-values-lowercase",
            "macros2-no-latest"
        ],
        "{decision:#?}"
    );
}
