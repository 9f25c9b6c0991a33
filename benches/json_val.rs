//! The lazy JSON view (`engine::json_val`) against the eager conversion (`engine::value`)
//! (divan): the five rules of `benches/fixtures/rules.txt` on `benches/fixtures/deployment.json`.
//!
//! ```sh
//! cargo bench --bench json_val
//! ```
//!
//! `*_convert_and_rules` is what one evaluation pays: bind the document, run the five rules.
//! `*_convert` and `*_rules` split that into binding alone and the rules on a document bound
//! beforehand.

use std::hint::black_box;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use cel::common::types::CelBool;
use cel::common::value::Val;
use cel::{Context, Env, Program, Value};
use celgate::engine::cel::json_val::json_view;
use celgate::engine::cel::value::{json_to_val, ValueStats};

const DEPLOYMENT: &str = include_str!("fixtures/deployment.json");
const RULES: &str = include_str!("fixtures/rules.txt");

struct Fixture {
    env: Arc<Env>,
    doc: serde_json::Value,
    rules: Vec<Program>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let env = celgate::engine::cel::compile::environment();
    let rules = RULES
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(id, src)| env.compile(src).unwrap_or_else(|e| panic!("rule {id}: {e}")))
        .collect();
    Fixture {
        env,
        doc: serde_json::from_str(DEPLOYMENT).expect("fixture deployment.json is JSON"),
        rules,
    }
});

fn main() {
    let fixture = &*FIXTURE;
    let eager = passing(&bind(json_to_val(&fixture.doc, &mut ValueStats::default())));
    let view = passing(&bind(json_view(&fixture.doc)));
    assert_eq!(eager, view, "the two representations disagree");
    eprintln!(
        "json_val bench: {} rules, {eager} pass with either representation",
        fixture.rules.len()
    );
    divan::Divan::default()
        .sample_count(200)
        .min_time(Duration::from_secs(1))
        .max_time(Duration::from_secs(3))
        .config_with_args()
        .main();
}

/// A context with `object` bound to `object`.
fn bind<'v>(object: Box<dyn Val + 'v>) -> Context<'static, 'v> {
    let mut ctx = Context::with_env(Arc::clone(&FIXTURE.env));
    ctx.add_variable_as_val("object", object);
    ctx
}

/// How many of the rules hold.
fn passing(ctx: &Context<'_, '_>) -> usize {
    FIXTURE
        .rules
        .iter()
        .filter(|rule| {
            let result = Value::resolve_val(rule.expression(), ctx).expect("rule runs");
            result.downcast_ref::<CelBool>().is_some_and(|b| *b.inner())
        })
        .count()
}

/// Eager conversion of the document, then the five rules.
#[divan::bench]
fn eager_convert_and_rules(bencher: divan::Bencher) {
    let doc = &FIXTURE.doc;
    bencher.bench(|| passing(&bind(json_to_val(black_box(doc), &mut ValueStats::default()))));
}

/// The view of the document, then the five rules.
#[divan::bench]
fn view_convert_and_rules(bencher: divan::Bencher) {
    let doc = &FIXTURE.doc;
    bencher.bench(|| passing(&bind(json_view(black_box(doc)))));
}

/// Eager conversion alone.
#[divan::bench]
fn eager_convert(bencher: divan::Bencher) {
    let doc = &FIXTURE.doc;
    bencher.bench(|| json_to_val(black_box(doc), &mut ValueStats::default()));
}

/// The view alone.
#[divan::bench]
fn view_convert(bencher: divan::Bencher) {
    let doc = &FIXTURE.doc;
    bencher.bench(|| json_view(black_box(doc)));
}

/// The five rules on an eagerly converted document bound beforehand.
#[divan::bench]
fn eager_rules(bencher: divan::Bencher) {
    let ctx = bind(json_to_val(&FIXTURE.doc, &mut ValueStats::default()));
    bencher.bench(|| passing(black_box(&ctx)));
}

/// The five rules on a view bound beforehand.
#[divan::bench]
fn view_rules(bencher: divan::Bencher) {
    let ctx = bind(json_view(&FIXTURE.doc));
    bencher.bench(|| passing(black_box(&ctx)));
}
