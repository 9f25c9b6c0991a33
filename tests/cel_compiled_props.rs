//! Property test of the compiled CEL evaluator: random expressions over random JSON documents
//! give what the interpreter gives (the same value, or an error on both sides).
//!
//! Expressions are built from a grammar of the language core (literals of every kind, field
//! and index access, `has`, optional chains, arithmetic, comparison, logic, `in`, conditionals,
//! string functions, conversions, list and map literals, the comprehension macros), so most are
//! well-typed on some documents and ill-typed on others; both paths must agree either way.
//! Failures proptest shrinks are kept in `proptest-regressions/`, and the ones found while
//! building the evaluator in `tests/fixtures/compiled/regressions.txt`, which
//! [`kept_regressions_agree`] replays.

mod cel_compiled_common;

use cel_compiled_common::{agree, canon, context, interpret, run, Docs};
use celgate::engine::cel::compile;
use celgate::engine::cel::compiled::{self, Layout, NoVariables};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

/// Cases per run (CI runs them all).
const CASES: u32 = 10_000;

fn scalar_json() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        prop_oneof![
            Just(0i64),
            Just(1),
            Just(-1),
            Just(2),
            Just(3),
            Just(i64::MAX),
            Just(i64::MIN),
            -100i64..100
        ]
        .prop_map(Json::from),
        Just(json!(u64::MAX)),
        prop_oneof![Just(0.5f64), Just(-1.0), Just(2.0), Just(1e300)].prop_map(Json::from),
        prop_oneof![
            Just(""),
            Just("a"),
            Just("abc"),
            Just("Ab C"),
            Just("nginx:latest"),
            Just("10"),
            Just(" x "),
            Just("é"),
            Just("a,b")
        ]
        .prop_map(Json::from),
    ]
}

const KEYS: [&str; 7] = ["a", "b", "c", "name", "x", "n", "l"];

/// A document: an object with most of [`KEYS`], so paths into it mostly resolve.
fn json_doc() -> impl Strategy<Value = Json> {
    prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), json_value(), 3..6)
        .prop_map(|m| Json::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

fn json_value() -> impl Strategy<Value = Json> {
    scalar_json().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::btree_map(prop::sample::select(KEYS.to_vec()), inner, 0..4)
                .prop_map(|m| { Json::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()) }),
        ]
    })
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![prop::sample::select(vec![
        "0",
        "1",
        "-1",
        "2",
        "3u",
        "0u",
        "1.5",
        "-0.5",
        "2.0",
        "''",
        "'a'",
        "'abc'",
        "'Ab C'",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        "object",
        "object.a",
        "object.b",
        "object.a.b",
        "object.x",
        "object.name",
        "object['c']",
        "object.?a.orValue(7)",
        "object.?a.?b.orValue('d')",
        "e",
        "e",
        "e.a",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615u",
    ])
    .prop_map(str::to_owned),]
}

/// Expressions; `e` is the variable the macros bind (outside a macro it does not compile and the
/// case is skipped).
fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 24, 3, |inner| {
        let two = (inner.clone(), inner.clone());
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec![
                    "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "in"
                ]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("!({a})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
            (
                inner.clone(),
                prop::sample::select(vec![
                    "size",
                    "string",
                    "int",
                    "uint",
                    "double",
                    "type",
                    "has_a",
                    "lowerAscii",
                    "trim",
                    "join",
                    "hasValue"
                ])
            )
                .prop_map(|(a, f)| match f {
                    "has_a" => format!("has({a}.a)"),
                    "lowerAscii" | "trim" | "join" => format!("({a}).{f}()"),
                    "hasValue" => format!("({a}).?a.hasValue()"),
                    f => format!("{f}({a})"),
                }),
            (
                two.clone(),
                prop::sample::select(vec![
                    "startsWith",
                    "endsWith",
                    "contains",
                    "split",
                    "charAt",
                    "substring",
                    "join"
                ])
            )
                .prop_map(|((a, b), f)| format!("({a}).{f}({b})")),
            inner.clone().prop_map(|a| format!("({a}).matches('^a.*')")),
            two.clone().prop_map(|(a, b)| format!("({a})[{b}]")),
            two.clone().prop_map(|(a, b)| format!("[{a}, {b}]")),
            two.clone().prop_map(|(a, b)| format!("{{'k': {a}, 'a': {b}}}")),
            (
                two,
                prop::sample::select(vec!["all", "exists", "exists_one", "map", "filter"])
            )
                .prop_map(|((range, body), m)| format!("({range}).{m}(e, {body})")),
            inner.clone().prop_map(|a| format!("({a}).transformList(i, e, e)")),
        ]
    })
}

/// Typed expressions: mostly well-typed, so they evaluate to values and the comparison covers
/// results, not only errors. `d` is the nesting left.
fn int_e(d: u32) -> BoxedStrategy<String> {
    let leaf = prop::sample::select(vec![
        "0",
        "1",
        "-1",
        "2",
        "7",
        "9223372036854775807",
        "-9223372036854775808",
        "object.?n.orValue(3)",
        "size(object)",
        "size(object.?name.orValue(''))",
    ])
    .prop_map(str::to_owned);
    if d == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        2 => leaf,
        1 => (int_e(d - 1), prop::sample::select(vec!["+", "-", "*", "/", "%"]), int_e(d - 1))
            .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
        1 => str_e(d - 1).prop_map(|s| format!("size({s})")),
        1 => list_e(d - 1).prop_map(|l| format!("{l}.size()")),
        1 => (bool_e(d - 1), int_e(d - 1), int_e(d - 1)).prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
        1 => (str_e(d - 1), str_e(d - 1)).prop_map(|(a, b)| format!("{a}.indexOf({b})")),
    ]
    .boxed()
}

fn str_e(d: u32) -> BoxedStrategy<String> {
    let leaf = prop::sample::select(vec![
        "''",
        "'a'",
        "'abc'",
        "'Ab C'",
        "'nginx:latest'",
        "' x '",
        "'é'",
        "'a,b'",
        "object.?name.orValue('n')",
        "object.?x.?name.orValue('')",
        "object.?x[?'name'].orValue('')",
        "string(object.?l[?0].orValue('none'))",
        "object[?'name'].orValue('m')",
    ])
    .prop_map(str::to_owned);
    if d == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        2 => leaf,
        1 => (str_e(d - 1), str_e(d - 1)).prop_map(|(a, b)| format!("({a} + {b})")),
        1 => (str_e(d - 1), prop::sample::select(vec!["lowerAscii", "upperAscii", "trim"]))
            .prop_map(|(a, f)| format!("{a}.{f}()")),
        1 => int_e(d - 1).prop_map(|i| format!("string({i})")),
        1 => (str_e(d - 1), int_e(d - 1)).prop_map(|(s, i)| format!("{s}.substring({i})")),
        1 => (str_e(d - 1), int_e(d - 1)).prop_map(|(s, i)| format!("{s}.charAt({i})")),
        1 => (str_e(d - 1), str_e(d - 1), str_e(d - 1)).prop_map(|(s, a, b)| format!("{s}.replace({a}, {b})")),
        1 => (list_e(d - 1), str_e(d - 1)).prop_map(|(l, s)| format!("{l}.map(e, string(e)).join({s})")),
        1 => (bool_e(d - 1), str_e(d - 1), str_e(d - 1)).prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
    ]
    .boxed()
}

fn list_e(d: u32) -> BoxedStrategy<String> {
    let leaf = prop::sample::select(vec![
        "[]",
        "[1, 2, 3]",
        "['a', 'b']",
        "object.?l.orValue([1])",
        "[0, -1, 7]",
    ])
    .prop_map(str::to_owned);
    if d == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        2 => leaf,
        1 => (int_e(d - 1), int_e(d - 1)).prop_map(|(a, b)| format!("[{a}, {b}]")),
        1 => (list_e(d - 1), list_e(d - 1)).prop_map(|(a, b)| format!("({a} + {b})")),
        1 => (list_e(d - 1), int_e(d - 1)).prop_map(|(l, i)| format!("{l}.map(e, e + {i})")),
        1 => (list_e(d - 1), bool_e(d - 1)).prop_map(|(l, b)| format!("{l}.filter(e, {b})")),
        1 => (str_e(d - 1), str_e(d - 1)).prop_map(|(s, sep)| format!("{s}.split({sep})")),
        1 => list_e(d - 1).prop_map(|l| format!("[{l}, [1]].flatten()")),
    ]
    .boxed()
}

fn bool_e(d: u32) -> BoxedStrategy<String> {
    let leaf = prop::sample::select(vec![
        "true",
        "false",
        "has(object.a)",
        "has(object.x.name)",
        "object.?b.hasValue()",
        "'a' in object",
        "object.?c.orValue(false) == true",
    ])
    .prop_map(str::to_owned);
    if d == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        2 => leaf,
        1 => (int_e(d - 1), prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">="]), int_e(d - 1))
            .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
        1 => (str_e(d - 1), prop::sample::select(vec!["==", "!=", "<", ">="]), str_e(d - 1))
            .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
        1 => (bool_e(d - 1), prop::sample::select(vec!["&&", "||", "=="]), bool_e(d - 1))
            .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
        1 => bool_e(d - 1).prop_map(|a| format!("!{a}")),
        1 => (str_e(d - 1), prop::sample::select(vec!["startsWith", "endsWith", "contains"]), str_e(d - 1))
            .prop_map(|(a, f, b)| format!("{a}.{f}({b})")),
        1 => str_e(d - 1).prop_map(|s| format!("{s}.matches('^[a-z]+$')")),
        1 => (int_e(d - 1), list_e(d - 1)).prop_map(|(i, l)| format!("({i} in {l})")),
        1 => (list_e(d - 1), prop::sample::select(vec!["all", "exists", "exists_one"]), int_e(d - 1))
            .prop_map(|(l, m, i)| format!("{l}.{m}(e, e > {i})")),
        1 => (list_e(d - 1), list_e(d - 1)).prop_map(|(a, b)| format!("({a} == {b})")),
        1 => list_e(d - 1).prop_map(|l| format!("object.?l.orValue({l}).all(e, type(e) == int)")),
    ]
    .boxed()
}

/// Any expression: typed ones (that mostly evaluate) and untyped ones (that mostly fail).
fn any_expr() -> impl Strategy<Value = String> {
    prop_oneof![bool_e(3), int_e(3), str_e(3), list_e(3), expr()]
}

/// Compares the two paths on one case; `Ok(false)` when the expression does not compile.
fn check(source: &str, doc: &Json) -> Result<bool, String> {
    let env = compile::environment();
    let Ok(expr) = compile::compile_with_roots(&env, source, &[]) else {
        return Ok(false);
    };
    let program =
        compiled::compile(&expr.expr, &Layout::default()).map_err(|e| format!("`{source}` does not compile: {e}"))?;
    let docs = Docs {
        object: Some(doc),
        ..Docs::default()
    };
    let ctx = context(&docs, &[]);
    let (_, interp) = interpret(&expr, &ctx);
    let (_, comp) = run(&program, &docs, &NoVariables);
    // The interpreter iterates a map literal in hash order, which differs from one map to the
    // next: a result built by iterating one is accepted if any run of the interpreter gives it.
    let rerun = || (0..32).any(|_| agree(&interpret(&expr, &ctx).1, &comp));
    if agree(&interp, &comp) || rerun() {
        Ok(true)
    } else {
        Err(format!(
            "`{source}` on {doc}:\n  interpreter: {interp:?}\n  compiled:    {comp:?}"
        ))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn compiled_agrees_with_the_interpreter(source in any_expr(), doc in json_doc()) {
        let outcome = check(&source, &doc);
        prop_assert!(outcome.is_ok(), "{}", outcome.err().unwrap_or_default());
    }
}

/// The cases kept in `tests/fixtures/compiled/regressions.txt` (`expression<TAB>document`).
#[test]
fn kept_regressions_agree() {
    let text = include_str!("fixtures/compiled/regressions.txt");
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let (source, doc) = line.split_once('\t').expect("expression<TAB>document");
        let doc: Json = serde_json::from_str(doc).expect("document is JSON");
        match check(source, &doc) {
            Ok(true) => checked += 1,
            Ok(false) => panic!("`{source}` is refused at load: not a useful regression case"),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(checked > 0);
    // The canonical text tells kinds apart, so `1 == 1u` style mismatches are caught.
    assert_ne!(canon(&cel::Value::Int(1)), canon(&cel::Value::UInt(1)));
}

/// The generator is useful: a good share of its expressions pass celgate's load checks, and of
/// those a good share evaluate to a value (not only errors) on its documents.
#[test]
fn generated_expressions_mostly_compile_and_some_evaluate() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let env = compile::environment();
    let (mut compiled, mut valued) = (0, 0);
    let total = 1000;
    for _ in 0..total {
        let source = any_expr().new_tree(&mut runner).expect("tree").current();
        let doc = json_doc().new_tree(&mut runner).expect("tree").current();
        let Ok(e) = compile::compile_with_roots(&env, &source, &[]) else {
            continue;
        };
        compiled += 1;
        let docs = Docs {
            object: Some(&doc),
            ..Docs::default()
        };
        if interpret(&e, &context(&docs, &[])).1.is_ok() {
            valued += 1;
        }
    }
    eprintln!("generator: {compiled} of {total} expressions compile, {valued} evaluate to a value");
    assert!(compiled * 4 > total * 3, "only {compiled} of {total} compile");
    assert!(valued * 5 > total * 2, "only {valued} of {total} evaluate to a value");
}
