//! The JSON view against the eager conversion: every expression must give the same result, on
//! a realistic Deployment (a table) and on random documents (a property).

use std::sync::{Arc, LazyLock};

use std::collections::HashMap;

use cel::common::types::{CelMap, CelMapKey, CelNull, CelString};
use cel::common::value::{CowVal, Val};
use cel::objects::OptionalValue;
use cel::{Context, Env, ExecutionError, Program, Value};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

use super::{json_stats, json_view, to_value};
use crate::engine::cel::value::{json_to_val, ValueStats};
use crate::engine::CompiledPack;

const DEPLOYMENT: &str = include_str!("../../../../benches/fixtures/deployment.json");
const RULES: &str = include_str!("../../../../benches/fixtures/rules.txt");

/// The bench Deployment, with an `x` member holding the scalars and lists it lacks.
fn deployment() -> Json {
    let mut doc: Json = serde_json::from_str(DEPLOYMENT).expect("fixture is JSON");
    doc["x"] = json!({
        "n": 3, "neg": -5, "big": u64::MAX, "ratio": 0.75, "whole": 2.0, "csv": "a,b,c", "empty": {},
        "none": null, "flag": true, "nums": [3, 1, 2, 1], "strs": ["b", "a", "b"], "nested": [[1, 2], [3]],
        "mixed": [1, "a", null, 1.5], "objs": [{"k": 1}, {"k": 2}]
    });
    doc
}

fn env() -> Arc<Env> {
    crate::engine::cel::compile::environment()
}

fn compile(src: &str) -> Program {
    env().compile(src).unwrap_or_else(|e| panic!("{src}: {e}"))
}

/// Evaluates `program` with `object` bound, converting the result with `convert`.
fn run<'v>(
    program: &Program,
    object: Box<dyn Val + 'v>,
    convert: fn(&dyn Val) -> Result<Value, ExecutionError>,
) -> Result<Value, ExecutionError> {
    let mut ctx = Context::with_env(env());
    ctx.add_variable_as_val("object", object);
    let val = Value::resolve_val(program.expression(), &ctx)?;
    convert(&*val)
}

fn crate_conversion(val: &dyn Val) -> Result<Value, ExecutionError> {
    Value::try_from(val)
}

/// A strict rendering of a result: numbers keep their type, map entries are sorted.
fn canon(value: &Value) -> String {
    match value {
        Value::List(items) => format!("[{}]", items.iter().map(canon).collect::<Vec<_>>().join(", ")),
        Value::Map(map) => {
            let mut entries: Vec<String> = map.map.iter().map(|(k, v)| format!("{k:?}: {}", canon(v))).collect();
            entries.sort();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Opaque(o) => match o.downcast_ref::<OptionalValue>() {
            Some(opt) => format!("optional({})", opt.value().map_or_else(|| "none".to_owned(), canon)),
            None => format!("{value:?}"),
        },
        other => format!("{other:?}"),
    }
}

fn render(result: &Result<Value, ExecutionError>) -> String {
    match result {
        Ok(v) => canon(v),
        Err(e) => format!("error: {e}"),
    }
}

/// Both results of `program` on `doc`: eager (converted by the crate), view (by `to_value`).
fn both(program: &Program, doc: &Json) -> (Result<Value, ExecutionError>, Result<Value, ExecutionError>) {
    let eager = run(program, json_to_val(doc, &mut ValueStats::default()), crate_conversion);
    let view = run(program, json_view(doc), to_value);
    (eager, view)
}

/// Ok values render the same, or both fail.
fn same(eager: &Result<Value, ExecutionError>, view: &Result<Value, ExecutionError>) -> bool {
    match (eager, view) {
        (Ok(a), Ok(b)) => canon(a) == canon(b),
        (Err(_), Err(_)) => true,
        _ => false,
    }
}

/// As [`same`], and errors read the same too (but for the order of a map's entries in them).
fn same_strict(eager: &Result<Value, ExecutionError>, view: &Result<Value, ExecutionError>) -> bool {
    match (eager, view) {
        (Err(a), Err(b)) => {
            let (a, b) = (a.to_string(), b.to_string());
            a == b || (a.contains("Map {") && b.contains("Map {") && a.len() == b.len())
        }
        _ => same(eager, view),
    }
}

const CONTAINERS: &str = "object.spec.template.spec.containers";

const TABLE: &[&str] = &[
    "object.kind",
    "object.spec.replicas >= 2",
    "3 == object.spec.replicas",
    "object.spec.replicas == 3u",
    "3.0 == object.spec.replicas",
    "object.x.big == 18446744073709551615u && object.x.big > object.spec.replicas",
    "object.x.ratio < 1 && object.x.whole == 2",
    "[object.x.neg + 1, -object.x.neg, object.x.n * 2, object.x.n / 2]",
    "object.spec.selector == {'matchLabels': {'app.kubernetes.io/name': 'patient-records-api'}}",
    "object.spec.selector == object.spec.template.spec.affinity.podAntiAffinity\
     .preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.labelSelector",
    "object == object && object.spec != object.status && object.metadata != null",
    "object.spec.template.spec.initContainers[0].command == ['/app/migrate', '--up']",
    "[has(object.metadata.labels), has(object.metadata.labels.team), has(object.metadata.missing)]",
    "has(object.spec.template.spec.containers[0].securityContext.privileged)",
    "has(object.x.none.a)",
    "object.?metadata.?labels.?team.orValue('none')",
    "object.?metadata.?nope.?team.orValue('none')",
    "object.?spec.?template.?spec.?containers[?0].?name",
    "object.metadata.labels[?'team']",
    "object.metadata.labels[?'nope'].hasValue()",
    "['team' in object.metadata.labels, 'nope' in object.metadata.labels, 1 in object.metadata.labels]",
    "[object.metadata.labels] in object.metadata.labels",
    "'--up' in object.spec.template.spec.initContainers[0].command",
    "[2 in object.x.nums, 2u in object.x.nums, 2.0 in object.x.nums, 7 in object.x.nums]",
    "[size(object.spec.template.spec.containers), object.metadata.labels.size(), size(object.x.empty)]",
    "[CONTAINERS[0].name, CONTAINERS[1u].name, CONTAINERS[2.0].name]",
    "CONTAINERS[1.5]",
    "CONTAINERS[3]",
    "CONTAINERS[-1]",
    "CONTAINERS['a']",
    "object.metadata.labels[1]",
    "object.metadata.nope",
    "object.x.nums.a",
    "object.x.nums + [4]",
    "[0] + object.x.nums",
    "object.x.nums + object.x.strs + object.x.empty",
    "object.x.nums + 1",
    "object.metadata.labels.all(k, k.size() > 0 && object.metadata.labels[k] != '')",
    "object.metadata.labels.exists(k, k == 'team')",
    "object.metadata.labels.filter(k, k.startsWith('app')).sort()",
    "object.metadata.labels.map(k, object.metadata.labels[k]).sort()",
    "CONTAINERS.map(c, c.name)",
    "CONTAINERS.filter(c, has(c.ports)).map(c, c.ports.map(p, p.containerPort))",
    "CONTAINERS.exists_one(c, c.name == 'envoy')",
    "CONTAINERS.all(c, c.securityContext.runAsNonRoot)",
    "CONTAINERS.all(c, !has(c.env) || c.env.all(e, has(e.value) || has(e.valueFrom)))",
    "CONTAINERS.map(c, c.resources.limits.memory)",
    "CONTAINERS.all(c, c == c) && CONTAINERS[0] in CONTAINERS",
    "CONTAINERS.sortBy(c, c.name).map(c, c.name)",
    "CONTAINERS.map(c, c).size()",
    "object.metadata.labels.exists(k, k in object.spec.template.metadata.labels)",
    "[type(object.metadata) == map, type(object.x.nums) == list, type(object.spec.replicas) == int]",
    "[type(object.x.big), type(object.x.ratio), type(object.x.csv), type(object.x.none)]",
    "dyn(object.metadata.labels).team",
    "[string(object.spec.replicas), int(object.x.ratio), double(object.spec.replicas), string(object.x.big)]",
    "[object.x.nums.sort(), object.x.nums.distinct(), object.x.nums.reverse(), object.x.nums.slice(1, 3)]",
    "[object.x.strs.join(','), object.x.strs.join(), object.x.csv.split(',')]",
    "object.x.nested.flatten()",
    "object.x.nums.sortBy(n, -n)",
    "object.x.mixed.sort()",
    "object.x.objs.distinct().size()",
    "math.greatest(object.x.nums)",
    "'%s %s'.format([object.x.nums, object.metadata.labels.team])",
    "[object.metadata.labels, 1][0].team",
    "{'x': object.metadata.labels}.x.team",
    "[object.spec.selector] == [object.spec.selector]",
    "{'x': object.x.nums} == {'x': object.x.nums}",
    "[object.x.nums, 1]",
    "{'x': object.spec.selector}",
    "object.metadata",
    "object.x",
    "object.x.empty == {} && object.x.none == null && object.x.flag",
    "[optional.ofNonZeroValue(object.x.empty).hasValue(), optional.ofNonZeroValue(object.x.nums).hasValue()]",
    "object.x.nums[0] < object.x.nums[1]",
    "object.metadata < object.x",
];

/// Expressions where the crate's own containers, on the left, do not recognise a view.
const KNOWN_DIFFERENCES: &[&str] = &[
    "{'matchLabels': {'app.kubernetes.io/name': 'patient-records-api'}} == object.spec.selector",
    "['/app/migrate', '--up'] == object.spec.template.spec.initContainers[0].command",
    "[{'matchLabels': {'app.kubernetes.io/name': 'patient-records-api'}}] == [object.spec.selector]",
    "object.spec.selector in [{'matchLabels': {'app.kubernetes.io/name': 'patient-records-api'}}]",
    "{'x': [3, 1, 2, 1]} != {'x': object.x.nums}",
];

#[test]
fn the_view_matches_the_eager_conversion_on_a_deployment() {
    let doc = deployment();
    let rules = RULES
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(_, r)| r.to_owned());
    let mut failures = Vec::new();
    for src in TABLE.iter().map(|s| s.replace("CONTAINERS", CONTAINERS)).chain(rules) {
        let (eager, view) = both(&compile(&src), &doc);
        if !same_strict(&eager, &view) {
            failures.push(format!(
                "{src}\n  eager: {}\n  view:  {}",
                render(&eager),
                render(&view)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_literal_on_the_left_does_not_recognise_a_view() {
    let doc = deployment();
    for src in KNOWN_DIFFERENCES {
        let (eager, view) = both(&compile(src), &doc);
        let expected = !src.contains("!=");
        assert_eq!(eager, Ok(Value::Bool(expected)), "{src}");
        assert_eq!(
            view,
            Ok(Value::Bool(!expected)),
            "{src}: the crate now recognises views; update the docs"
        );
    }
}

#[test]
fn an_error_shows_a_view_on_the_right_of_arithmetic_as_null() {
    let doc = deployment();
    let (eager, view) = both(&compile("1 + object.x.nums"), &doc);
    assert_eq!(
        render(&eager),
        "error: Unsupported binary operator 'add': Int(1), List([Int(3), Int(1), Int(2), Int(1)])"
    );
    assert_eq!(render(&view), "error: Unsupported binary operator 'add': Int(1), Null");
}

#[test]
fn the_crate_conversion_refuses_a_view_and_to_value_takes_everything() {
    let doc = deployment();
    for src in ["object.metadata", "[object.x.nums]", "{'a': object.x}", "object.?x"] {
        let program = compile(src);
        assert!(run(&program, json_view(&doc), crate_conversion).is_err(), "{src}");
        let (eager, view) = both(&program, &doc);
        assert_eq!(render(&eager), render(&view), "{src}");
        let via_to_value = run(&program, json_to_val(&doc, &mut ValueStats::default()), to_value);
        assert_eq!(render(&eager), render(&via_to_value), "{src}");
    }
}

#[test]
fn views_borrow_the_document_and_clone_without_copying() {
    let doc = deployment();
    let view = json_view(&doc);
    let clone = view.clone_as_boxed();
    let name = clone
        .as_indexer()
        .and_then(|m| m.get(&CelString::from("kind")).ok())
        .expect("kind");
    let name = name.downcast_ref::<CelString>().expect("a string");
    assert!(std::ptr::eq(name.inner(), doc["kind"].as_str().expect("kind")));
    assert_eq!(std::mem::size_of_val(&*clone), std::mem::size_of_val(&*view));
}

fn eager(json: &Json) -> Box<dyn Val + '_> {
    json_to_val(json, &mut ValueStats::default())
}

/// Every variable, condition, check and message expression of `pack`, evaluated in order with
/// `object` and `params` made by `make` (the others null), rendered by source.
fn pack_results(
    pack: &CompiledPack,
    programs: &[(String, Program)],
    doc: &Json,
    make: for<'v> fn(&'v Json) -> Box<dyn Val + 'v>,
    convert: fn(&dyn Val) -> Result<Value, ExecutionError>,
) -> Vec<String> {
    let params = pack.params.clone();
    let mut root = Context::with_env(env());
    root.add_variable_as_val("object", make(doc));
    root.add_variable_as_val("params", make(&params));
    for name in ["oldObject", "request", "namespaceObject"] {
        root.add_variable_as_val(name, Box::new(CelNull));
    }
    let mut variables: HashMap<CelMapKey, Box<dyn Val>> = HashMap::new();
    let mut out = Vec::new();
    for (i, (source, program)) in programs.iter().enumerate() {
        let mut scope = root.new_inner_scope();
        scope.add_variable_as_val("variables", Box::new(CelMap::from(variables.clone())));
        let result = Value::resolve_val(program.expression(), &scope).map(CowVal::into_owned);
        out.push(format!(
            "{source}\n  => {}",
            render(&result.clone().and_then(|v| convert(&*v)))
        ));
        if let (Some(var), Ok(v)) = (pack.variables.get(i), result) {
            variables.insert(CelMapKey::from(var.name.clone()), v);
        }
    }
    out
}

#[test]
fn the_shipped_packs_give_the_same_results_either_way() {
    let engine = crate::engine::Engine::load(&crate::packs::embedded().packs).expect("shipped packs load");
    let doc = deployment();
    let mut evaluated = 0;
    for pack in engine.packs() {
        let sources = pack
            .variables
            .iter()
            .map(|v| &v.expr)
            .chain(pack.rules.iter().flat_map(|r| {
                r.condition
                    .iter()
                    .chain(std::iter::once(&r.validate))
                    .chain(r.message_expression.iter())
            }));
        let programs: Vec<(String, Program)> = sources.map(|e| (e.source.clone(), compile(&e.source))).collect();
        let eager = pack_results(pack, &programs, &doc, eager, crate_conversion);
        let view = pack_results(pack, &programs, &doc, json_view, to_value);
        for (e, v) in eager.iter().zip(&view) {
            // Iterating a map's keys follows its representation (random for the eager HashMap,
            // sorted for a view), so results built that way may differ in order only.
            assert!(e == v || same_up_to_order(e, v), "{e}\n---\n{v}");
        }
        evaluated += programs.len();
    }
    assert!(evaluated > 20, "only {evaluated} expressions in the shipped packs");
}

/// The same rendered result with its characters in another order (a list built from map keys).
fn same_up_to_order(a: &str, b: &str) -> bool {
    let sorted = |s: &str| {
        let mut chars: Vec<char> = s.chars().collect();
        chars.sort_unstable();
        chars
    };
    a.len() == b.len() && sorted(a) == sorted(b)
}

/// Keys of the random documents, so that expressions find members.
const KEYS: &[&str] = &["a", "b", "l", "n", "s"];

fn json_leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        (-3i64..4).prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        ((1u64 << 63)..=u64::MAX).prop_map(Json::from),
        (-1e3f64..1e3).prop_map(Json::from),
        Just(json!(1.0)),
        "[ab,]{0,3}".prop_map(Json::from),
    ]
}

fn json_object(inner: impl Strategy<Value = Json>) -> impl Strategy<Value = Json> {
    prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..5)
        .prop_map(|m| Json::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn json_doc() -> impl Strategy<Value = Json> {
    let value = json_leaf().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            json_object(inner)
        ]
    });
    json_object(value)
}

/// Expressions over any document; those whose result would depend on the order in which a
/// map's keys are iterated (random for the eager maps) sort it away or avoid it.
const GENERIC: &[&str] = &[
    "size(object)",
    "[has(object.a), has(object.l), 'a' in object, 1 in object]",
    "has(object.a.b)",
    "object == object && object.a == object.a && object.l == object.l",
    "[object.a == object.b, object.a != object.l, object.n == object.s]",
    "object",
    "object.a",
    "object.?a.?b",
    "object.?a.?b.orValue('none')",
    "object.?l[?0].orValue(null)",
    "object.all(k, object[k] == object[k])",
    "[object.exists(k, k == 'a'), object.exists_one(k, k == 'b'), object.filter(k, k != 'b').size()]",
    "object.map(k, k).sort()",
    "type(object.l) == list ? object.l.map(x, [x]) : [size(object.l)]",
    "type(object.l) == list ? object.l.filter(x, x == object.a) : []",
    "object.l.exists_one(x, x == object.a)",
    "object.l.all(x, x == x) && object.a.all(x, x in object.a)",
    "[object.n < object.a, object.n > 1, object.n >= 0.5, object.a <= object.b]",
    "object.a in object.l",
    "type(object.b) == map ? 0 : object.a + object.b",
    "[object.l[0], object.l[1u] == object.l[1], object.l[1.0]]",
    "[size(object.l), object.l.size()]",
    "[object.a, object.b] == [object.a, object.b] && {'x': object.a} == {'x': object.a}",
    "[object.a, 1, {'x': object.l}]",
    "[type(object.a), type(object.l), dyn(object.s)]",
    "[string(object.n), int(object.n), double(object.n)]",
    "type(object.l) == list ? [object.l.distinct(), object.l.reverse(), object.l.sort()] : []",
    "object.a.b.l == object.a.b.l",
];

static GENERIC_PROGRAMS: LazyLock<Vec<(&str, Program)>> =
    LazyLock::new(|| GENERIC.iter().map(|src| (*src, compile(src))).collect());

/// `json` written as a CEL literal.
fn literal(json: &Json) -> String {
    match json {
        Json::Null => "null".to_owned(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i64::MIN), _, _) => "(-9223372036854775807 - 1)".to_owned(),
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => format!("{u}u"),
            (_, _, f) => format!("{:?}", f.expect("finite")),
        },
        Json::String(s) => format!("'{s}'"),
        Json::Array(items) => format!("[{}]", items.iter().map(literal).collect::<Vec<_>>().join(", ")),
        Json::Object(map) => {
            let entries: Vec<String> = map.iter().map(|(k, v)| format!("'{k}': {}", literal(v))).collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

proptest! {
    #[test]
    fn the_view_matches_the_eager_conversion_on_random_documents(doc in json_doc()) {
        for (src, program) in GENERIC_PROGRAMS.iter() {
            let (eager, view) = both(program, &doc);
            prop_assert!(same(&eager, &view), "{}\n  eager: {}\n  view:  {}", src, render(&eager), render(&view));
        }
        let mut stats = ValueStats::default();
        let _ = json_to_val(&doc, &mut stats);
        prop_assert_eq!(json_stats(&doc), stats);
    }

    #[test]
    fn a_view_equals_its_literal(doc in json_doc()) {
        let program = compile(&format!("object == {}", literal(&doc)));
        let (eager, view) = both(&program, &doc);
        prop_assert_eq!(eager, Ok(Value::Bool(true)));
        prop_assert_eq!(view, Ok(Value::Bool(true)));
    }
}
