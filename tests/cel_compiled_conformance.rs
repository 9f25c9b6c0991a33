//! The cel-spec conformance expressions (`tests/fixtures/cel-spec`, see `tests/cel_conformance.rs`)
//! through the compiled evaluator: every case without bindings that celgate's environment
//! compiles must give what the interpreter gives (the same value, or an error on both sides),
//! so the compiled path passes at least the cases the interpreter passes.

mod cel_compiled_common;

use std::path::Path;

use cel_compiled_common::{agree, context, interpret, run, Docs};
use celgate::engine::cel::compile;
use celgate::engine::cel::compiled::{self, Layout, NoVariables};

/// Sections of the conformance data (the fixtures' file names).
const SECTIONS: &[&str] = &[
    "basic",
    "comparisons",
    "logic",
    "macros",
    "macros2",
    "string",
    "string_ext",
    "lists",
    "fields",
    "optionals",
    "conversions",
    "integer_math",
    "fp_math",
    "math_ext",
    "encoders_ext",
    "parse",
    "namespace",
    "plumbing",
    "timestamps",
];

#[derive(Default)]
struct Tally {
    compared: usize,
    unsupported: Vec<String>,
    mismatches: Vec<String>,
}

/// The section's cases that run without bindings, macros on and not skipped: (name, expression).
fn unbound_cases(section: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/cel-spec/{section}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let mut cases = Vec::new();
    for case in file["cases"].as_array().into_iter().flatten() {
        let unbound = case["bindings"].as_object().is_none_or(serde_json::Map::is_empty)
            && case["declarations"].as_array().is_none_or(Vec::is_empty);
        let runnable = case["skip"].is_null() && case["disable_macros"] != true && unbound;
        if let Some(source) = case["expr"].as_str().filter(|_| runnable) {
            cases.push((case["name"].as_str().unwrap_or("?").to_owned(), source.to_owned()));
        }
    }
    cases
}

fn check_section(name: &str, tally: &mut Tally) {
    let env = compile::environment();
    for (case, source) in unbound_cases(name) {
        let source = source.as_str();
        let Ok(expr) = compile::compile_with_roots(&env, source, &[]) else {
            continue;
        };
        let label = format!("{name}/{case}: {source}");
        let program = match compiled::compile(&expr.expr, &Layout::default()) {
            Ok(p) => p,
            Err(e) => {
                tally.unsupported.push(format!("{label}: {e}"));
                continue;
            }
        };
        let docs = Docs::default();
        let ctx = context(&docs, &[]);
        let (_, interp) = interpret(&expr, &ctx);
        let (_, comp) = run(&program, &docs, &NoVariables);
        tally.compared += 1;
        // A result built by iterating a map literal follows the interpreter's hash order.
        let rerun = || (0..32).any(|_| agree(&interpret(&expr, &ctx).1, &comp));
        if !agree(&interp, &comp) && !rerun() {
            tally
                .mismatches
                .push(format!("{label}\n  interpreter: {interp:?}\n  compiled:    {comp:?}"));
        }
    }
}

#[test]
fn conformance_expressions_agree_with_the_interpreter() {
    // Deeply nested parse cases recurse deeply: run on a thread with room.
    let tally = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            let mut tally = Tally::default();
            for section in SECTIONS {
                check_section(section, &mut tally);
            }
            tally
        })
        .expect("spawn")
        .join()
        .expect("runner");
    eprintln!(
        "conformance through the compiled evaluator: {} compared, {} unsupported, {} disagree",
        tally.compared,
        tally.unsupported.len(),
        tally.mismatches.len()
    );
    assert!(tally.compared > 1000, "only {} cases compared", tally.compared);
    assert!(
        tally.unsupported.is_empty(),
        "unsupported:\n{}",
        tally.unsupported.join("\n")
    );
    assert!(
        tally.mismatches.is_empty(),
        "{} disagree:\n{}",
        tally.mismatches.len(),
        tally.mismatches.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// `celgate eval`'s two evaluators (`Engine::eval_expression_on`) print the same JSON for every
/// conformance expression without bindings, or both fail; the compiled one is the default.
#[test]
fn celgate_eval_prints_the_same_on_both_evaluators() {
    use celgate::engine::{Engine, Evaluator, Input};
    let outcome = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            let input = Input::default();
            let (mut compared, mut disagree) = (0usize, Vec::new());
            for section in SECTIONS {
                for (_, source) in unbound_cases(section) {
                    let source = source.as_str();
                    let compiled = Engine::eval_expression_on(Evaluator::Compiled, source, &input, &[]);
                    let interpreted = || Engine::eval_expression_on(Evaluator::Interpreter, source, &input, &[]);
                    compared += 1;
                    let same = |i: &Result<serde_json::Value, celgate::engine::EvalError>| match (&compiled, i) {
                        (Ok(a), Ok(b)) => a == b,
                        (Err(a), Err(b)) => a.to_string() == b.to_string(),
                        _ => false,
                    };
                    // A result built by iterating a map literal follows the interpreter's hash order.
                    if !(0..32).any(|_| same(&interpreted())) {
                        disagree.push(format!(
                            "{section}: {source}\n  compiled:    {compiled:?}\n  interpreter: {:?}",
                            interpreted()
                        ));
                    }
                }
            }
            (compared, disagree)
        })
        .expect("spawn")
        .join()
        .expect("runner");
    let (compared, disagree) = outcome;
    assert!(compared > 1000, "only {compared} cases compared");
    assert!(
        disagree.is_empty(),
        "{} of {compared} disagree:\n{}",
        disagree.len(),
        disagree.iter().take(30).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// `celgate eval --var NAME=JSON` binds extra roots; the compiled evaluator reads them as the
/// interpreter does, a `--var` named like a root (`object`, `item`) or `variables` shadowing it.
#[test]
fn extra_roots_read_the_same_on_both_evaluators() {
    use celgate::engine::{Engine, Evaluator, Input};
    let vars = |pairs: &[(&str, serde_json::Value)]| -> Vec<(String, serde_json::Value)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect()
    };
    let cases: Vec<(&str, Vec<(String, serde_json::Value)>)> = vec![
        ("x + 1", vars(&[("x", serde_json::json!(41))])),
        (
            "x.a.b.exists(e, e > 2)",
            vars(&[("x", serde_json::json!({"a": {"b": [1, 3]}}))]),
        ),
        ("has(x.a) && !has(x.z)", vars(&[("x", serde_json::json!({"a": 1}))])),
        ("x.?z.orValue('d')", vars(&[("x", serde_json::json!({"a": 1}))])),
        ("object.a", vars(&[("object", serde_json::json!({"a": "shadowed"}))])),
        ("item.name + '!'", vars(&[("item", serde_json::json!({"name": "a"}))])),
        ("variables.x * 2", vars(&[("variables", serde_json::json!({"x": 4}))])),
        (
            "x.map(e, e + y)",
            vars(&[("x", serde_json::json!([1, 2])), ("y", serde_json::json!(10))]),
        ),
        ("x.missing", vars(&[("x", serde_json::json!({}))])),
        ("x / 0", vars(&[("x", serde_json::json!(1))])),
        ("[x].all(x, x > 0)", vars(&[("x", serde_json::json!(-1))])),
    ];
    let input = Input::default();
    for (source, vars) in &cases {
        let compiled = Engine::eval_expression_on(Evaluator::Compiled, source, &input, vars);
        let interpreted = Engine::eval_expression_on(Evaluator::Interpreter, source, &input, vars);
        match (&compiled, &interpreted) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{source}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{source}"),
            _ => panic!("{source}: compiled {compiled:?}, interpreter {interpreted:?}"),
        }
    }
    // Compiled, a branch never reached costs nothing; the interpreter refuses by its estimate.
    let unreached = "x == 1 || lists.range(10000).all(i, lists.range(10000).all(j, lists.range(10000).all(k, true)))";
    let one = vars(&[("x", serde_json::json!(1))]);
    assert_eq!(
        Engine::eval_expression_on(Evaluator::Compiled, unreached, &input, &one).expect("runs"),
        serde_json::json!(true)
    );
    assert!(Engine::eval_expression_on(Evaluator::Interpreter, unreached, &input, &one).is_err());
}
