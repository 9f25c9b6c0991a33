//! The expansion's shape and load-time facts; behaviour on values is in `tests/macros2.rs`.

use cel::common::ast::Expr;
use cel::{Context, Env, Value};

use super::{register, ENTRIES};
use crate::engine::cel::compile::{self, CompileError};

fn env() -> std::sync::Arc<Env> {
    compile::environment()
}

fn run(src: &str) -> Value {
    let env = env();
    let compiled = compile::compile(&env, src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let ctx = Context::with_env(env);
    let v = Value::resolve_val(&compiled.expr, &ctx).unwrap_or_else(|e| panic!("{src}: {e}"));
    crate::engine::cel::json_val::to_value(&*v).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn registers_on_a_fresh_environment_without_clashes() {
    // The macros and functions are new names: registering twice is the only way to clash.
    let mut env = Env::stdlib();
    register(&mut env);
    let program = env.compile("[1].all(i, v, i == 0 && v == 1)").expect("parses");
    assert!(matches!(program.expression().expr, Expr::Comprehension(_)));
}

#[test]
fn expands_into_one_comprehension_over_the_entries() {
    let env = env();
    let e = compile::compile(&env, "object.m.all(k, v, k != '' && v > 0)").expect("compiles");
    let Expr::Comprehension(c) = &e.expr.expr else {
        panic!("not a comprehension: {:?}", e.expr.expr)
    };
    assert!(matches!(&c.iter_range.expr, Expr::Call(call) if call.func_name == ENTRIES));
    assert!(c.iter_var.starts_with("@e"), "{}", c.iter_var);
    // The loop variables are bound: only `object` is free.
    assert_eq!(e.free_variables.iter().collect::<Vec<_>>(), ["object"]);
    assert_eq!(e.comprehension_depth, 1);
    // The cost counts the loop: linear, not constant and not quadratic.
    assert_eq!(e.cost.degrees().0, 1, "{:?}", e.cost);
}

#[test]
fn nesting_counts_against_the_macro_limit() {
    let env = env();
    let nested = compile::compile(&env, "object.a.all(i, x, x.all(j, y, y.exists(z, z > i + j)))").expect("compiles");
    assert_eq!(nested.comprehension_depth, 3);
    assert_eq!(nested.cost.degrees().0, 3, "{:?}", nested.cost);
    let too_deep = "object.a.all(i, a, a.all(j, b, b.all(k, c, c.all(l, d, d))))";
    assert!(matches!(
        compile::compile(&env, too_deep),
        Err(CompileError::TooManyNestedMacros { depth: 4 })
    ));
}

#[test]
fn unknown_names_in_the_body_are_still_reported() {
    let env = env();
    let err = compile::compile(&env, "object.a.all(i, v, w > i)").expect_err("w is unknown");
    assert!(
        matches!(err, CompileError::UnknownVariable { ref name, .. } if name == "w"),
        "{err}"
    );
}

#[test]
fn inner_comprehensions_shadow_the_loop_variables() {
    // The inner `v` is the inner element, not the outer value; the outer `i` stays visible.
    assert_eq!(run("[[5, 6]].all(i, v, v.all(v, v > 4) && i == 0)"), Value::Bool(true));
    assert_eq!(run("[[5, 6]].exists(i, v, v.exists(i, i == 6))"), Value::Bool(true));
    // An inner two-variable comprehension with the same names, and the outer pair inside it.
    assert_eq!(
        run("{'a': [1, 2]}.all(k, v, v.all(k, v, k < 2 && v > 0) && k == 'a')"),
        Value::Bool(true)
    );
    assert_eq!(run("[10, 20].all(i, v, [1].all(j, w, v + w > i))"), Value::Bool(true));
    // `map` rebinding a loop variable, with the outer one used again after it.
    assert_eq!(
        run("[3].all(i, v, [4].map(v, v + i)[0] == 4 && v == 3)"),
        Value::Bool(true)
    );
}

#[test]
fn user_names_that_look_internal_are_not_captured() {
    // A user variable named like the reserved pair cannot be written in CEL; a user variable
    // named `e0` stays the user's.
    assert_eq!(
        run("[7].map(e0, [1].all(i, v, e0 == 7 && v == 1))"),
        Value::List(vec![Value::Bool(true)].into())
    );
}

#[test]
fn bad_loop_variables_name_the_macro() {
    let env = env();
    for (src, needle) in [
        ("[1].all(1, v, true)", "all: the loop variables must be simple names"),
        (
            "[1].exists(i, v.x, true)",
            "exists: the loop variables must be simple names",
        ),
        (
            "[1].transformList(i, i, i)",
            "transformList: the two loop variables are both named 'i'",
        ),
        ("[1].transformMap(i, v, true, v, v)", "transformMap takes"),
        ("[1].transformMapEntry(i)", "transformMapEntry takes"),
        ("[1].existsOne(i, v, w, true)", "existsOne takes"),
        ("[1].all()", "all takes"),
    ] {
        match compile::compile(&env, src) {
            Err(CompileError::Syntax { message, .. }) => assert!(message.contains(needle), "{src}: {message}"),
            other => panic!("{src}: {other:?}"),
        }
    }
}
