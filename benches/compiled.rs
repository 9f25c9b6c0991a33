//! The compiled CEL evaluator against the interpreter, in the same run (divan):
//!
//! * `regorus5_*`: the five rules of `benches/regorus-compare` on its 6.8 KB Deployment, the
//!   document already parsed: compiled, interpreter (as celgate binds documents: zero-copy
//!   views), and `serde_json` parsing the document (the floor every request pays);
//! * `shipped_*`: every expression of the shipped packs that a pass over the Deployment
//!   evaluates (each pack's variables, then each rule's condition and validation, a `forEach`
//!   rule's validation once per item), compiled and interpreted, next to the same parse.
//!
//! ```sh
//! cargo bench --bench compiled
//! ```

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use cel::common::types::{CelMap, CelMapKey};
use cel::common::value::Val;
use cel::Context;
use celgate::engine::cel::compile::{self, CompiledExpr};
use celgate::engine::cel::compiled::{self, Layout, Limits, Program, RequestBudget, Roots, Value, Variables};
use celgate::engine::cel::json_val::json_view;
use celgate::engine::{CompiledPack, Engine, Input};
use serde_json::Value as Json;

const DEPLOYMENT: &str = include_str!("regorus-compare/fixture/deployment.json");
const RULES: &str = include_str!("regorus-compare/fixture/rules.txt");

fn main() {
    let f = &*FIXTURE;
    eprintln!(
        "compiled bench: {} regorus rules; shipped: {} variables and {} rule expressions ({} forEach items)",
        f.five.len(),
        f.shipped.iter().map(|p| p.variables.len()).sum::<usize>(),
        f.shipped.iter().map(|p| p.exprs.len()).sum::<usize>(),
        f.shipped
            .iter()
            .map(|p| p.exprs.iter().map(|e| e.items.len()).sum::<usize>())
            .sum::<usize>(),
    );
    divan::Divan::default()
        .sample_count(200)
        .min_time(Duration::from_secs(1))
        .max_time(Duration::from_secs(3))
        .config_with_args()
        .main();
}

/// One pack's expressions that a pass over the Deployment evaluates.
struct PackBench {
    pack: Arc<CompiledPack>,
    variables: Vec<Program>,
    exprs: Vec<RuleBench>,
}

/// A rule that matches the Deployment: its condition and validation, and its `forEach` items.
struct RuleBench {
    rule: usize,
    condition: Option<Program>,
    validate: Program,
    /// `None` for a rule without `forEach`: one evaluation on the document.
    items: Vec<Option<(Json, String)>>,
}

struct Fixture {
    doc: Json,
    request: Json,
    namespace_object: Json,
    null: Json,
    five: Vec<(CompiledExpr, Program)>,
    shipped: Vec<PackBench>,
    engine: Engine,
    input: Input,
}

fn program(expr: &CompiledExpr, layout: &Layout) -> Program {
    compiled::compile(&expr.expr, layout).expect("every benchmarked expression compiles")
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let env = compile::environment();
    let doc: Json = serde_json::from_str(DEPLOYMENT).expect("fixture is JSON");
    let five = RULES
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(_, src)| {
            let expr = compile::compile(&env, src).expect("rule compiles");
            let program = program(&expr, &Layout::default());
            (expr, program)
        })
        .collect();
    let engine = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let mut input = Input::new(doc.clone());
    input.operation = celgate::engine::Operation::Create;
    let shipped = engine
        .packs()
        .iter()
        .map(|pack| {
            let layout = Layout {
                variables: pack.variables.iter().map(|v| v.name.clone()).collect(),
                ..Layout::default()
            };
            let variables = pack.variables.iter().map(|v| program(&v.expr, &layout)).collect();
            let exprs = pack
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.matcher.matches(&input))
                .map(|(i, r)| RuleBench {
                    rule: i,
                    condition: r.condition.as_ref().map(|c| program(c, &layout)),
                    validate: program(&r.validate, &layout),
                    items: match &r.for_each {
                        None => vec![None],
                        Some(queries) => queries
                            .iter()
                            .flat_map(|(_, q)| jsonpath_rust::query::js_path_process(q, &doc).unwrap_or_default())
                            .map(|m| Some((m.val.clone(), m.path.clone())))
                            .collect(),
                    },
                })
                .collect();
            PackBench {
                pack: pack.clone(),
                variables,
                exprs,
            }
        })
        .collect();
    Fixture {
        request: input.request_json(),
        namespace_object: input.namespace_object_json(),
        null: Json::Null,
        doc,
        five,
        shipped,
        engine,
        input,
    }
});

fn limits() -> Limits {
    Limits::steps(10_000_000)
}

fn roots(f: &Fixture) -> Roots<'_> {
    Roots {
        object: Some(&f.doc),
        old_object: Some(&f.null),
        request: Some(&f.request),
        namespace_object: Some(&f.namespace_object),
        ..Roots::default()
    }
}

fn interp_scope(f: &Fixture) -> Context<'_, '_> {
    let mut ctx = Context::with_env(compile::environment());
    ctx.add_variable_as_val("object", json_view(&f.doc));
    ctx.add_variable_as_val("oldObject", json_view(&f.null));
    ctx.add_variable_as_val("request", json_view(&f.request));
    ctx.add_variable_as_val("namespaceObject", json_view(&f.namespace_object));
    ctx
}

fn interp_bool(expr: &CompiledExpr, ctx: &Context<'_, '_>) -> bool {
    cel::Value::resolve_val(&expr.expr, ctx)
        .ok()
        .and_then(|v| v.downcast_ref::<cel::common::types::CelBool>().map(|b| *b.inner()))
        .unwrap_or(false)
}

#[divan::bench]
fn regorus5_compiled() -> usize {
    let f = &*FIXTURE;
    let request = RequestBudget::new(u64::MAX);
    let roots = roots(f);
    f.five
        .iter()
        .filter(|(_, p)| {
            matches!(
                p.evaluate(&roots, &compiled::NoVariables, &limits(), &request),
                Ok(Value::Bool(true))
            )
        })
        .count()
}

#[divan::bench]
fn regorus5_interpreter() -> usize {
    let f = &*FIXTURE;
    let ctx = interp_scope(f);
    f.five.iter().filter(|(e, _)| interp_bool(e, &ctx)).count()
}

#[divan::bench]
fn regorus5_parse_and_compiled() -> usize {
    let f = &*FIXTURE;
    let doc: Json = serde_json::from_str(black_box(DEPLOYMENT)).expect("JSON");
    let request = RequestBudget::new(u64::MAX);
    let roots = Roots {
        object: Some(&doc),
        ..Roots::default()
    };
    f.five
        .iter()
        .filter(|(_, p)| {
            matches!(
                p.evaluate(&roots, &compiled::NoVariables, &limits(), &request),
                Ok(Value::Bool(true))
            )
        })
        .count()
}

#[divan::bench]
fn baseline_serde_parse() -> Json {
    serde_json::from_str(black_box(DEPLOYMENT)).expect("JSON")
}

/// Variables computed by the compiled evaluator so far.
struct Computed<'a, 'v>(&'a [Result<Value<'v>, compiled::EvalError>]);

impl<'v> Variables<'v> for Computed<'_, 'v> {
    fn get(&self, index: usize) -> Result<Value<'v>, compiled::EvalError> {
        self.0
            .get(index)
            .cloned()
            .unwrap_or(Err(compiled::EvalError::Variable(Arc::from("?"))))
    }
}

#[divan::bench]
fn shipped_compiled() -> usize {
    let f = &*FIXTURE;
    let request = RequestBudget::new(u64::MAX);
    let mut passed = 0;
    for p in &f.shipped {
        let base = Roots {
            params: Some(&p.pack.params),
            ..roots(f)
        };
        let mut values = Vec::with_capacity(p.variables.len());
        for v in &p.variables {
            let value = v.evaluate(&base, &Computed(&values), &limits(), &request);
            values.push(value);
        }
        let vars = Computed(&values);
        for r in &p.exprs {
            if let Some(c) = &r.condition {
                if !matches!(c.evaluate(&base, &vars, &limits(), &request), Ok(Value::Bool(true))) {
                    continue;
                }
            }
            for item in &r.items {
                let roots = match item {
                    Some((json, pointer)) => Roots {
                        item: Some(json),
                        item_pointer: Some(std::sync::Arc::from(pointer.as_str())),
                        ..base.clone()
                    },
                    None => base.clone(),
                };
                if matches!(
                    r.validate.evaluate(&roots, &vars, &limits(), &request),
                    Ok(Value::Bool(true))
                ) {
                    passed += 1;
                }
            }
        }
    }
    passed
}

#[divan::bench]
fn shipped_interpreter() -> usize {
    let f = &*FIXTURE;
    let root = interp_scope(f);
    let mut passed = 0;
    for p in &f.shipped {
        let mut scope = root.new_inner_scope();
        scope.add_variable_as_val("params", json_view(&p.pack.params));
        let mut values: Vec<Option<Box<dyn Val + '_>>> = Vec::with_capacity(p.pack.variables.len());
        for var in &p.pack.variables {
            let mut inner = scope.new_inner_scope();
            if !var.deps.is_empty() {
                let deps: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = var
                    .deps
                    .iter()
                    .filter_map(|d| {
                        values[*d]
                            .as_ref()
                            .map(|v| (CelMapKey::from(p.pack.variables[*d].name.clone()), v.clone_as_boxed()))
                    })
                    .collect();
                inner.add_variable_as_val("variables", Box::new(CelMap::from(deps)));
            }
            values.push(
                cel::Value::resolve_val(&var.expr.expr, &inner)
                    .ok()
                    .map(cel::common::value::CowVal::into_owned),
            );
        }
        let all: HashMap<CelMapKey<'_>, Box<dyn Val + '_>> = values
            .iter()
            .zip(&p.pack.variables)
            .filter_map(|(v, var)| {
                v.as_ref()
                    .map(|v| (CelMapKey::from(var.name.clone()), v.clone_as_boxed()))
            })
            .collect();
        scope.add_variable_as_val("variables", Box::new(CelMap::from(all)));
        for r in &p.exprs {
            let rule = &p.pack.rules[r.rule];
            if let Some(c) = &rule.condition {
                if !interp_bool(c, &scope) {
                    continue;
                }
            }
            for item in &r.items {
                let passed_now = match item {
                    Some((json, pointer)) => {
                        let mut inner = scope.new_inner_scope();
                        inner.add_variable_as_val("item", json_view(json));
                        inner.add_variable_as_val(
                            "itemPointer",
                            Box::new(cel::common::types::CelString::from(pointer.clone())),
                        );
                        interp_bool(&rule.validate, &inner)
                    }
                    None => interp_bool(&rule.validate, &scope),
                };
                if passed_now {
                    passed += 1;
                }
            }
        }
    }
    passed
}

/// The whole engine (matching, lazy variables, findings, messages) on the same document, for
/// reference: what `cargo bench --bench engine` measures as `evaluate`.
#[divan::bench]
fn shipped_engine_evaluate() -> usize {
    let f = &*FIXTURE;
    f.engine.evaluate(black_box(&f.input)).violations.len()
}
