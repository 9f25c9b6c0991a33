//! A chain of `+` ([`Node::AddChain`]) runs as the nested `_+_` nodes it stands for: the same
//! value or error, the same steps, and the same point at which a budget stops it.

use serde_json::json;

use super::ir::{ArithOp, Node};
use super::{compile, Layout, Limits, NoVariables, Program, RequestBudget, Roots};

/// `node` with every chain of `+` turned back into nested `_+_` nodes.
fn unfused(node: Node) -> Node {
    match node {
        Node::AddChain(first, added) => added.into_iter().map(unfused).fold(unfused(*first), |sum, next| {
            Node::Arith(ArithOp::Add, Box::new(sum), Box::new(next))
        }),
        other => other,
    }
}

fn programs(source: &str) -> (Program, Program) {
    // Parsed by the `cel` crate alone: a sum needs none of celgate's rewrites.
    let env = crate::engine::cel::environment::environment();
    let parsed = env.compile(source).expect("parses");
    let expr = parsed.expression();
    let fused = compile(expr, &Layout::default()).expect("compiled");
    assert!(matches!(fused.root, Node::AddChain(..)), "{source}: {:?}", fused.root);
    let plain = Program {
        root: unfused(compile(expr, &Layout::default()).expect("compiled").root),
        slots: fused.slots,
        bridged: fused.bridged.clone(),
        env: std::sync::Arc::clone(&fused.env),
    };
    (fused, plain)
}

/// What `program` gives within `limit` steps, and the steps it took: a value as its type and
/// JSON (a string borrowed from the document and the same text computed are one value).
fn run(program: &Program, roots: &Roots<'_>, limit: u64) -> (String, u64) {
    let (result, steps) = program.evaluate_counted(
        roots,
        &NoVariables,
        &Limits::steps(limit),
        &RequestBudget::new(u64::MAX),
    );
    let shown = match result {
        Ok(v) => match super::convert::to_cel_value(&v) {
            Ok(cel) => format!("{:?} {}", v.type_name(), crate::engine::cel::value::value_to_json(&cel)),
            Err(e) => format!("unconvertible {e:?}"),
        },
        Err(e) => format!("{e:?}"),
    };
    (shown, steps)
}

#[test]
fn a_chain_of_additions_runs_as_the_nested_additions() {
    let long = "x".repeat(100);
    let doc = json!({"a": "alpha", "b": "beta", "n": 7, "max": i64::MAX, "long": long, "empty": "", "list": [2], "ts": "2024-01-01T00:00:00Z"});
    let roots = Roots {
        object: Some(&doc),
        ..Roots::default()
    };
    for source in [
        "object.a + '/' + object.b + '/' + string(object.n)",
        "object.long + object.long + object.long + object.a",
        "object.empty + object.a + '' + object.empty",
        "1 + object.n + 2 + object.n",
        "[1] + object.list + [3] + object.list",
        "object.a + object.n + 'x'",
        "object.a + 'x' + object.n",
        "object.a + object.missing + object.b",
        "object.max + object.n + 1",
        "1.5 + double(object.n) + 2.0",
        "duration(string(object.n) + 's') + duration('2s') + duration('3s')",
        "timestamp(object.ts) + duration('1h') + duration('1m')",
        "object.a + object.b + (object.a + object.b) + object.a",
    ] {
        let (fused, plain) = programs(source);
        let (value, steps) = run(&plain, &roots, u64::MAX);
        assert_eq!(run(&fused, &roots, u64::MAX), (value.clone(), steps), "{source}");
        // Every budget short of what it takes stops both at the same step with the same error.
        for limit in 0..steps {
            assert_eq!(
                run(&fused, &roots, limit),
                run(&plain, &roots, limit),
                "{source} within {limit} steps"
            );
        }
    }
}
