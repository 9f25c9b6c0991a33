//! Where celgate's time goes on one `Engine::evaluate` of the fixture.
//!
//! ```sh
//! cargo build --release --bin profile
//! target/release/profile split                 # stage-by-stage timing, 5 rules of fixture/rules.txt
//! target/release/profile loop 2000 [--shipped] # just evaluate N times (for perf / callgrind)
//! valgrind --tool=callgrind target/release/profile loop 2000
//! ```
//!
//! `split` rebuilds the steps of `Engine::evaluate` that celgate's public API reaches (rule
//! matching, the derived `request` / `namespaceObject` / `params` documents, the roots bound as
//! borrowed CEL views, each rule's `validate` run by the `cel` interpreter) and times cumulative
//! prefixes of them, next to the compiled evaluator (`celgate::engine::cel::compiled`) on the same
//! expressions and the real `Engine::evaluate`. What the engine does beyond those steps (the
//! run-time cost meter, which measures what each expression reads; findings; the decision) is
//! internal: it is the gap between row 4 and the last row. Each figure is the median of five
//! 0.5 s batches on one pinned core.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cel::common::types::{CelBool, CelMap, CelMapKey};
use cel::common::value::Val;
use cel::{Context, Value};
use celgate::engine::cel::compile;
use celgate::engine::cel::compiled::{self, Layout, Limits, NoVariables, RequestBudget, Roots};
use celgate::engine::cel::json_val::{json_stats, json_view};
use celgate::engine::{Engine, Input, PackSource};

const RULES: &str = include_str!("../../fixture/rules.txt");
const DEPLOYMENT: &str = include_str!("../../fixture/deployment.json");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shipped = args.iter().any(|a| a == "--shipped");
    let engine = if shipped {
        Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load")
    } else {
        Engine::load(&[fixture_pack()]).expect("fixture pack loads")
    };
    let object: serde_json::Value = serde_json::from_str(DEPLOYMENT).expect("JSON");
    let input = Input::new(object);
    match args.first().map(String::as_str) {
        Some("loop") => {
            let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
            let mut denied = 0usize;
            for _ in 0..n {
                denied += black_box(engine.evaluate(black_box(&input))).violations.len();
            }
            println!("{n} evaluations, {denied} violations in all");
        }
        Some("split") => split(&engine, &input),
        _ => eprintln!("usage: profile (split | loop N) [--shipped]"),
    }
}

fn fixture_pack() -> PackSource {
    let mut yaml = String::from(
        "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata:\n  name: bench\n  version: 0.1.0\nspec:\n  rules:\n",
    );
    for line in RULES.lines().filter(|l| !l.trim().is_empty()) {
        let (id, expr) = line.split_once('\t').expect("id<TAB>expression");
        let expr = serde_json::to_string(expr).expect("string");
        yaml.push_str(&format!(
            "    - id: bench-{id}\n      title: rule {id}\n      controls: [fixture]\n      severity: high\n      \
             validate: {expr}\n      message: rule {id} failed\n      remediation: none\n"
        ));
    }
    PackSource {
        origin: "fixture/rules.txt".to_owned(),
        text: yaml,
    }
}

fn split(engine: &Engine, input: &Input) {
    assert!(
        engine
            .packs()
            .iter()
            .all(|p| p.variables.is_empty() && p.rules.iter().all(|r| r.condition.is_none() && r.for_each.is_none())),
        "split mirrors packs without variables, conditions or forEach (the fixture pack)"
    );
    pin_thread();
    let env = compile::environment();
    let packs = engine.packs();
    let object = &input.object;
    let null = serde_json::Value::Null;

    // The steps of one evaluation, cumulatively.
    let matching = || {
        let mut n = 0;
        for p in packs {
            n += p.rules.iter().filter(|r| r.matcher.matches(input)).count();
        }
        n
    };
    let json_side = || {
        let request = input.request_json();
        let ns = input.namespace_object_json();
        let params: Vec<serde_json::Value> = packs
            .iter()
            .map(|p| {
                let mut m = p.params.as_object().cloned().unwrap_or_default();
                for (k, v) in &input.params {
                    m.insert(k.clone(), v.clone());
                }
                serde_json::Value::Object(m)
            })
            .collect();
        (request, ns, params)
    };
    // Binds the roots and the per-pack scopes, then (with `eval_rules`) runs every validate.
    let with_scopes = |eval_rules: bool| -> usize {
        let n = matching();
        let (request, ns, params) = json_side();
        let mut root = Context::with_env(Arc::clone(&env));
        root.add_variable_as_val("object", json_view(object));
        root.add_variable_as_val("oldObject", json_view(&null));
        root.add_variable_as_val("request", json_view(&request));
        root.add_variable_as_val("namespaceObject", json_view(&ns));
        let mut passed = n;
        for (pack, params) in packs.iter().zip(&params) {
            let mut scope = root.new_inner_scope();
            scope.add_variable_as_val("params", json_view(params));
            let vars: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = HashMap::new();
            scope.add_variable_as_val("variables", Box::new(CelMap::from(vars)));
            if eval_rules {
                for rule in pack.rules.iter().filter(|r| r.matcher.matches(input)) {
                    let v = Value::resolve_val(&rule.validate.expr, &scope).expect("evaluates");
                    passed += usize::from(v.downcast_ref::<CelBool>().is_some_and(|b| *b.inner()));
                }
            }
        }
        passed
    };

    // The interpreter alone: scopes built once, outside the timing.
    let (request, ns, params) = json_side();
    let mut root = Context::with_env(Arc::clone(&env));
    root.add_variable_as_val("object", json_view(object));
    root.add_variable_as_val("oldObject", json_view(&null));
    root.add_variable_as_val("request", json_view(&request));
    root.add_variable_as_val("namespaceObject", json_view(&ns));
    let scopes: Vec<Context<'_, '_>> = params
        .iter()
        .map(|p| {
            let mut scope = root.new_inner_scope();
            scope.add_variable_as_val("params", json_view(p));
            let vars: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = HashMap::new();
            scope.add_variable_as_val("variables", Box::new(CelMap::from(vars)));
            scope
        })
        .collect();
    let interpreter_only = || {
        let mut passed = 0usize;
        for (pack, scope) in packs.iter().zip(&scopes) {
            for rule in pack.rules.iter().filter(|r| r.matcher.matches(input)) {
                let v = Value::resolve_val(&rule.validate.expr, scope).expect("evaluates");
                passed += usize::from(v.downcast_ref::<CelBool>().is_some_and(|b| *b.inner()));
            }
        }
        passed
    };

    // The compiled evaluator on the same expressions: programs compiled once, outside the timing.
    let programs: Vec<Vec<compiled::Program>> = packs
        .iter()
        .map(|p| {
            p.rules
                .iter()
                .filter(|r| r.matcher.matches(input))
                .map(|r| compiled::compile(&r.validate.expr, &Layout::default()).expect("compiles"))
                .collect()
        })
        .collect();
    let compiled_only = || {
        let mut passed = 0usize;
        let budget = RequestBudget::new(u64::MAX);
        let limits = Limits::steps(u64::MAX);
        for (programs, params) in programs.iter().zip(&params) {
            let roots = Roots {
                object: Some(object),
                old_object: Some(&null),
                request: Some(&request),
                namespace_object: Some(&ns),
                params: Some(params),
                ..Roots::default()
            };
            for program in programs {
                let v = program
                    .evaluate(&roots, &NoVariables, &limits, &budget)
                    .expect("evaluates");
                passed += usize::from(matches!(v, compiled::Value::Bool(true)));
            }
        }
        passed
    };
    assert_eq!(
        interpreter_only(),
        compiled_only(),
        "the interpreter and the compiled evaluator agree"
    );

    let rows: Vec<(&str, f64)> = vec![
        (
            "1 rule matching (kinds, ops, namespaces, selectors)",
            time(|| black_box(matching())),
        ),
        (
            "2 = 1 + request/namespaceObject/params JSON built",
            time(|| black_box((matching(), json_side())).0),
        ),
        (
            "3 = 2 + roots bound (json_view) + Context/scopes",
            time(|| black_box(with_scopes(false))),
        ),
        (
            "4 = 3 + every validate expression (interpreter)",
            time(|| black_box(with_scopes(true))),
        ),
        (
            "interpreter alone (scopes prebuilt, validate only)",
            time(|| black_box(interpreter_only())),
        ),
        (
            "compiled evaluator alone (programs prebuilt, validate only)",
            time(|| black_box(compiled_only())),
        ),
        (
            "json_stats(object): size facts of the whole document",
            time(|| black_box(json_stats(black_box(object)))),
        ),
        (
            "Engine::evaluate (real)",
            time(|| black_box(engine.evaluate(black_box(input))).violations.len()),
        ),
    ];
    println!("| step | µs per document |");
    println!("|---|---:|");
    for (name, us) in rows {
        println!("| {name} | {us:.2} |");
    }
}

/// Median of five 0.5 s batches, in µs per call.
fn time<R>(mut f: impl FnMut() -> R) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(200) {
        black_box(f());
        n += 1;
    }
    let chunk = (n / 40).max(1);
    let mut per = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_millis(500) {
            for _ in 0..chunk {
                black_box(f());
            }
            n += chunk;
        }
        per.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    per.sort_by(f64::total_cmp);
    per[2]
}

fn pin_thread() {
    // SAFETY: plain libc calls on a zeroed cpu_set_t owned by this frame.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed);
        let cpu = (0..libc::CPU_SETSIZE as usize)
            .rev()
            .find(|&c| libc::CPU_ISSET(c, &allowed))
            .unwrap_or(0);
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
