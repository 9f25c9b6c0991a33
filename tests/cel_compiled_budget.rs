//! The compiled evaluator counts its steps and stops: at the expression's limit, at what the
//! request has left, or at its deadline, at once and with a typed error that `||`, `&&` and
//! comprehensions cannot absorb.

use std::time::{Duration, Instant};

use celgate::engine::cel::compile;
use celgate::engine::cel::compiled::{
    self, EvalError, Layout, Limits, NoVariables, Program, RequestBudget, Roots, Value,
};
use serde_json::json;

fn program(source: &str) -> Program {
    let env = compile::environment();
    let expr = compile::compile_with_roots(&env, source, &[]).expect("compiles");
    compiled::compile(&expr.expr, &Layout::default()).expect("compiled")
}

/// 10 000 × 10 000 iterations: far beyond any budget.
const RUNAWAY: &str = "lists.range(10000).all(i, lists.range(10000).all(j, i + j >= 0))";

#[test]
fn a_runaway_expression_stops_at_its_budget() {
    let p = program(RUNAWAY);
    let started = Instant::now();
    let (result, steps) = p.evaluate_counted(
        &Roots::default(),
        &NoVariables,
        &Limits::steps(100_000),
        &RequestBudget::new(u64::MAX),
    );
    assert_eq!(result.unwrap_err(), EvalError::BudgetExceeded { limit: 100_000 });
    assert!(steps > 100_000 && steps < 110_000, "{steps}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn a_runaway_expression_stops_at_its_deadline() {
    let p = program(RUNAWAY);
    let started = Instant::now();
    let limits = Limits {
        per_expression: u64::MAX,
        deadline: Some(started + Duration::from_millis(50)),
    };
    let result = p.evaluate(&Roots::default(), &NoVariables, &limits, &RequestBudget::new(u64::MAX));
    assert!(matches!(result, Err(EvalError::DeadlineExceeded { .. })), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[test]
fn the_request_budget_is_shared_by_every_evaluation() {
    let p = program("object.items.all(x, x > 0)");
    let doc = json!({"items": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]});
    let roots = Roots {
        object: Some(&doc),
        ..Roots::default()
    };
    let request = RequestBudget::new(100);
    let (first, steps) = p.evaluate_counted(&roots, &NoVariables, &Limits::steps(1_000), &request);
    assert!(matches!(first, Ok(Value::Bool(true))), "{first:?}");
    assert_eq!(request.remaining(), 100 - steps);
    // Evaluations go on until the request's budget is spent, then fail at once.
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        outcomes.push(p.evaluate(&roots, &NoVariables, &Limits::steps(1_000), &request));
    }
    assert!(outcomes
        .iter()
        .any(|o| matches!(o, Err(EvalError::BudgetExceeded { .. }))));
    assert_eq!(request.remaining(), 0);
}

#[test]
fn budget_errors_are_not_absorbed() {
    // `x || true` is true when `x` fails, unless it failed for its budget.
    for source in [
        format!("{RUNAWAY} || true"),
        format!("true && ({RUNAWAY} || true)"),
        format!("[1, 2].exists(x, {RUNAWAY} || x == 1)"),
        format!("[1, 2].all(x, {RUNAWAY} && false)"),
    ] {
        let p = program(&source);
        let result = p.evaluate(
            &Roots::default(),
            &NoVariables,
            &Limits::steps(10_000),
            &RequestBudget::new(u64::MAX),
        );
        assert!(
            matches!(result, Err(EvalError::BudgetExceeded { .. })),
            "{source}: {result:?}"
        );
    }
}

#[test]
fn steps_grow_with_the_input() {
    let p = program("object.items.map(x, x * 2).filter(x, x > 4).size()");
    let count = |n: usize| {
        let doc = json!({ "items": (0..n).collect::<Vec<_>>() });
        let roots = Roots {
            object: Some(&doc),
            ..Roots::default()
        };
        let (_, steps) = p.evaluate_counted(
            &roots,
            &NoVariables,
            &Limits::steps(1_000_000),
            &RequestBudget::new(u64::MAX),
        );
        steps
    };
    let (small, large) = (count(10), count(1000));
    assert!(large > 50 * small, "{small} vs {large}");
}
