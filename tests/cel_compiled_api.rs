//! The compiled evaluator's interface: what compiles (and what is refused as unsupported), pack
//! variables by index, results that borrow the document, constants folded at compile time.

use std::sync::Arc;

use celgate::engine::cel::compiled::value::Str;
use celgate::engine::cel::compiled::{
    self, EvalError, Layout, Limits, NoVariables, Program, RequestBudget, Roots, Value, Variables,
};
use celgate::engine::cel::{compile, json_val, value};
use serde_json::json;

fn parsed(source: &str) -> compile::CompiledExpr {
    compile::compile_with_roots(&compile::environment(), source, &[]).expect("compiles")
}

fn program(source: &str, layout: &Layout) -> Program {
    compiled::compile(&parsed(source).expr, layout).expect("compiled")
}

fn limits() -> Limits {
    Limits::steps(1_000_000)
}

#[test]
fn functions_it_does_not_implement_are_refused_by_compile_native_and_bridged_by_compile() {
    let source = "url(object.u).getHost() == 'example.com'";
    let err = compiled::compile_native(&parsed(source).expr, &Layout::default()).expect_err("refused");
    assert!(err.to_string().starts_with("unsupported: function"), "{err}");
    let p = program(source, &Layout::default());
    assert!(!p.is_native());
    assert_eq!(p.bridged(), ["getHost", "url"]);
    let doc = json!({"u": "https://example.com/x"});
    let roots = Roots {
        object: Some(&doc),
        ..Roots::default()
    };
    let v = p.evaluate(&roots, &NoVariables, &limits(), &RequestBudget::new(u64::MAX));
    assert!(matches!(v, Ok(Value::Bool(true))), "{v:?}");
}

#[test]
fn reading_the_whole_variables_map_is_unsupported() {
    let expr = compile::compile_with_roots(&compile::environment(), "size(variables) > 0", &[]).expect("compiles");
    let err = compiled::compile(&expr.expr, &Layout::default()).expect_err("unsupported");
    assert_eq!(err.what, "the whole `variables` map");
}

struct Two;

impl<'v> Variables<'v> for Two {
    fn get(&self, index: usize) -> Result<Value<'v>, EvalError> {
        match index {
            0 => Ok(Value::Int(40)),
            _ => Err(EvalError::Variable(Arc::from("broken"))),
        }
    }
}

#[test]
fn pack_variables_are_read_by_index() {
    let layout = Layout {
        variables: vec!["answer".to_owned(), "broken".to_owned()],
        ..Layout::default()
    };
    let request = RequestBudget::new(u64::MAX);
    let ok = program("variables.answer + 2", &layout).evaluate(&Roots::default(), &Two, &limits(), &request);
    assert!(matches!(ok, Ok(Value::Int(42))), "{ok:?}");
    let failed =
        program("variables.broken == 1 || true", &layout).evaluate(&Roots::default(), &Two, &limits(), &request);
    assert!(
        matches!(failed, Ok(Value::Bool(true))),
        "an error absorbed by ||: {failed:?}"
    );
    let unknown = program("variables.nope", &layout).evaluate(&Roots::default(), &Two, &limits(), &request);
    assert!(matches!(unknown, Err(EvalError::NoSuchKey(_))), "{unknown:?}");
}

#[test]
fn results_borrow_the_document() {
    let doc = json!({"spec": {"containers": [{"image": "nginx:1.27"}]}});
    let roots = Roots {
        object: Some(&doc),
        ..Roots::default()
    };
    let p = program("object.spec.containers[0].image", &Layout::default());
    let v = p
        .evaluate(&roots, &NoVariables, &limits(), &RequestBudget::new(u64::MAX))
        .expect("evaluates");
    let Value::Str(Str::Json(text)) = v else {
        panic!("expected a borrowed string, got {v:?}");
    };
    let in_doc = doc["spec"]["containers"][0]["image"].as_str().expect("string");
    assert!(std::ptr::eq(text, in_doc));
}

#[test]
fn constant_subtrees_are_folded() {
    let p = program(
        "[1, 2, 3].map(x, x * 2).size() + 1 == 4 && 'a'.matches('^a$')",
        &Layout::default(),
    );
    let (v, steps) = p.evaluate_counted(
        &Roots::default(),
        &NoVariables,
        &limits(),
        &RequestBudget::new(u64::MAX),
    );
    assert!(matches!(v, Ok(Value::Bool(true))), "{v:?}");
    // `map` iterates at run time (its body has a loop variable); everything around it folds.
    assert!(steps < 30, "{steps}");
    let (v, steps) = program("1 + 2 * 3 == 7", &Layout::default()).evaluate_counted(
        &Roots::default(),
        &NoVariables,
        &limits(),
        &RequestBudget::new(u64::MAX),
    );
    assert!(matches!(v, Ok(Value::Bool(true))));
    assert_eq!(steps, 1);
}

#[test]
fn a_bad_literal_regex_fails_when_it_runs() {
    // celgate's own compile refuses it at load; the compiled evaluator on its own keeps the
    // interpreter's behaviour for a tree that holds one: an error when the call runs.
    let mut expr = parsed("object.s.matches('a')");
    if let cel::common::ast::Expr::Call(call) = &mut expr.expr.expr {
        if let Some(cel::common::ast::Expr::Literal(cel::common::ast::LiteralValue::String(p))) =
            call.args.get_mut(1).map(|a| &mut a.expr)
        {
            *p = "(".to_owned().into();
        }
    }
    let p = compiled::compile(&expr.expr, &Layout::default()).expect("compiles");
    let doc = json!({"s": "x"});
    let roots = Roots {
        object: Some(&doc),
        ..Roots::default()
    };
    let v = p.evaluate(&roots, &NoVariables, &limits(), &RequestBudget::new(u64::MAX));
    assert!(matches!(v, Err(EvalError::Regex(_))), "{v:?}");
}

/// Runs each `(source, value, steps)` case over `doc` as `object` and checks the value (as JSON)
/// and the steps counted.
fn assert_values_and_steps(doc: &serde_json::Value, cases: &[(&str, serde_json::Value, u64)]) {
    let roots = Roots {
        object: Some(doc),
        ..Roots::default()
    };
    for (source, expected, expected_steps) in cases {
        let (v, steps) = program(source, &Layout::default()).evaluate_counted(
            &roots,
            &NoVariables,
            &limits(),
            &RequestBudget::new(u64::MAX),
        );
        let v = v.unwrap_or_else(|e| panic!("{source}: {e}"));
        let val = compiled::convert::to_val(&v);
        let json = json_val::to_value(&*val).map(|v| value::value_to_json(&v));
        assert_eq!(json.ok().as_ref(), Some(expected), "{source}");
        assert_eq!(steps, *expected_steps, "{source}");
    }
}

/// Optional chains (`x[?k].?f`, ending in `.orValue(d)` or not) run as one node, and count the
/// steps the nodes they stand for counted: a step limit stops them where it stopped those.
#[test]
fn optional_chains_give_the_same_values_and_steps_as_their_steps_one_by_one() {
    let doc = json!({"a": {"b": {"c": 5}, "l": [1, 2]}, "k": "b"});
    assert_values_and_steps(
        &doc,
        &[
            ("object[?'a'][?object.k].?c.orValue(0)", json!(5), 8),
            ("object[?'x'][?object.k].?c.orValue(0)", json!(0), 8),
            ("object[?'a'].?b.hasValue()", json!(true), 5),
            ("object[?'a'].?nothing.hasValue()", json!(false), 5),
            ("object.?a[?'b'].orValue({}).c", json!(5), 7),
            ("object.?a.?l[?1].orValue(0)", json!(2), 7),
            ("object.?a.?l[?7].orValue(0)", json!(0), 7),
            ("object.?k[?0].orValue('none')", json!("none"), 6),
            ("object.?a.?b.?c.orValue(0)", json!(5), 3),
            ("object.?a.?x.?c.orValue(0)", json!(0), 3),
        ],
    );
}

/// `x == 'c'` and `'c' != x` compare with the constant in place, counting the steps the
/// comparison and its constant operand counted.
#[test]
fn comparisons_with_a_constant_give_the_same_values_and_steps() {
    let doc = json!({"k": "b", "n": 2});
    assert_values_and_steps(
        &doc,
        &[
            ("object.k == 'b'", json!(true), 4),
            ("'b' != object.k", json!(false), 4),
            ("object.n == 2.0", json!(true), 4),
            ("object.n != 2u", json!(false), 4),
            ("[object.k] == ['b']", json!(true), 5),
            ("object.k == object.k", json!(true), 5),
        ],
    );
}
