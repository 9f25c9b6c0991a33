//! Engine benchmarks (divan): evaluating the shipped rules on a realistic Deployment, the same
//! from JSON text, pack load + compile, and in the same run the baseline that every admission
//! request pays anyway: `serde_json` parse + serialise of the `AdmissionReview`.
//!
//! ```sh
//! cargo bench --bench engine                 # everything, ~1–3 s per benchmark
//! cargo bench --bench engine -- evaluate     # a subset (divan name filter)
//! ```
//!
//! Two documents: `as-is` is `benches/fixtures/deployment.json` unchanged (denied by the shipped
//! packs with about a dozen rendered findings); `compliant` is the same Deployment fixed so the
//! shipped packs allow it (the common admission case). The figures to compare are `evaluate` and
//! `parse_and_evaluate` against `baseline_serde_parse_serialise` for the same document.
//!
//! If the shipped packs are missing or do not load, a fallback pack built from the five rules in
//! `benches/fixtures/rules.txt` is used instead and a line on stderr says so
//! (`CELGATE_BENCH_FALLBACK=1` forces it).

/// The same allocator as the `celgate` binary, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use celgate::engine::{Engine, Input, PackSource, UserInfo, Verdict};
use serde_json::Value;

#[path = "common/compliant.rs"]
mod compliant;
use compliant::compliant;

/// A 6.8 KB Deployment with three containers and one init container; every shipped rule that
/// reads containers walks all of them.
const DEPLOYMENT: &str = include_str!("fixtures/deployment.json");

/// Fallback rules: `id<TAB>CEL` per line.
const FALLBACK_RULES: &str = include_str!("fixtures/rules.txt");

fn main() {
    // Force the fixtures (and report which packs are used) before any timing starts.
    let fixture = &*FIXTURE;
    eprintln!(
        "engine bench: packs = {}; {} rules loaded",
        fixture.packs_label,
        fixture.engine.rule_count()
    );
    for doc in &fixture.docs {
        eprintln!(
            "engine bench: document '{}': {} rules evaluated, decision {:?}, {} violations; \
             AdmissionReview text {} bytes",
            doc.name,
            doc.evaluated_rules,
            doc.verdict,
            doc.violations,
            doc.review_text.len()
        );
    }
    divan::Divan::default()
        .sample_count(200)
        .min_time(Duration::from_secs(1))
        .max_time(Duration::from_secs(3))
        .config_with_args()
        .main();
}

struct Fixture {
    /// What the sources are (shipped packs, or the fallback).
    packs_label: &'static str,
    sources: Vec<PackSource>,
    engine: Engine,
    docs: Vec<Doc>,
}

/// One benchmarked document.
struct Doc {
    name: &'static str,
    /// The Deployment, parsed.
    object: Value,
    /// The Deployment wrapped as an `admission.k8s.io/v1` `AdmissionReview`, as JSON text.
    review_text: String,
    evaluated_rules: usize,
    verdict: Verdict,
    violations: usize,
}

/// The documents, by the name used as the divan argument.
const DOCS: &[&str] = &["compliant", "as-is"];

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let object: Value = serde_json::from_str(DEPLOYMENT).expect("fixture deployment.json is JSON");
    let shipped = celgate::packs::embedded().packs;
    let (packs_label, sources, engine) = if std::env::var_os("CELGATE_BENCH_FALLBACK").is_some() {
        eprintln!("engine bench: CELGATE_BENCH_FALLBACK is set; using the fallback pack");
        fallback()
    } else if shipped.is_empty() {
        eprintln!("engine bench: no shipped packs embedded; using the fallback pack (benches/fixtures/rules.txt)");
        fallback()
    } else {
        match Engine::load(&shipped) {
            Ok(engine) if engine.rule_count() > 0 => ("shipped (embedded policies/)", shipped, engine),
            Ok(_) => {
                eprintln!("engine bench: shipped packs hold no rules; using the fallback pack");
                fallback()
            }
            Err(e) => {
                eprintln!("engine bench: shipped packs fail to load ({e}); using the fallback pack");
                fallback()
            }
        }
    };
    let docs = DOCS
        .iter()
        .map(|&name| {
            let object = if name == "compliant" {
                compliant(&object)
            } else {
                object.clone()
            };
            let decision = engine.evaluate(&admission_input(object.clone()));
            Doc {
                name,
                review_text: admission_review(&object),
                object,
                evaluated_rules: decision.evaluated_rules.len(),
                verdict: decision.decision,
                violations: decision.violations.len(),
            }
        })
        .collect();
    Fixture {
        packs_label,
        sources,
        engine,
        docs,
    }
});

fn doc(name: &str) -> &'static Doc {
    FIXTURE.docs.iter().find(|d| d.name == name).expect("known document")
}

/// A pack with one rule per line of `rules.txt`, matching every kind.
fn fallback_source() -> PackSource {
    let mut yaml = String::from(
        "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata:\n  name: bench\n  version: 0.1.0\nspec:\n  rules:\n",
    );
    for line in FALLBACK_RULES.lines().filter(|l| !l.trim().is_empty()) {
        let (id, expr) = line.split_once('\t').expect("rules.txt: id<TAB>expression");
        let expr = serde_json::to_string(expr).expect("a string serialises");
        write!(
            yaml,
            "    - id: bench-{id}\n      title: bench rule {id}\n      controls: [fixture]\n      severity: high\n      \
             validate: {expr}\n      message: rule {id} failed\n      remediation: none\n"
        )
        .expect("writing to a String cannot fail");
    }
    PackSource {
        origin: "bench:fallback.yaml".to_owned(),
        text: yaml,
    }
}

fn fallback() -> (&'static str, Vec<PackSource>, Engine) {
    let sources = vec![fallback_source()];
    let engine = Engine::load(&sources).expect("fallback pack loads");
    ("FALLBACK (benches/fixtures/rules.txt)", sources, engine)
}

/// What the admission door would build for this request.
fn admission_input(object: Value) -> Input {
    let mut input = Input::new(object);
    input.namespace = Some("clinical".to_owned());
    input.user = UserInfo {
        username: "system:serviceaccount:ci:deployer".to_owned(),
        uid: "7d1a6f1e-2b9c-4e1f-8a3d-5c6b7e8f9a0b".to_owned(),
        groups: vec![
            "system:serviceaccounts".to_owned(),
            "system:serviceaccounts:ci".to_owned(),
            "system:authenticated".to_owned(),
        ],
        ..UserInfo::default()
    };
    input
}

/// `object` wrapped as an `admission.k8s.io/v1` `AdmissionReview` request, as JSON text.
fn admission_review(object: &Value) -> String {
    let name = object["metadata"]["name"].clone();
    let namespace = object["metadata"]["namespace"].clone();
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0e9a3c4f-7b21-4d6e-9f8a-1c2b3d4e5f60",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": name,
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {
                "username": "system:serviceaccount:ci:deployer",
                "uid": "7d1a6f1e-2b9c-4e1f-8a3d-5c6b7e8f9a0b",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"]
            },
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions", "fieldManager": "kubectl-client-side-apply"}
        }
    });
    serde_json::to_string(&review).expect("a Value serialises")
}

/// Baseline: what any webhook pays per request — parse the `AdmissionReview` text into a
/// `serde_json::Value` and serialise it back (the response is smaller, so this is generous).
#[divan::bench(args = DOCS)]
fn baseline_serde_parse_serialise(bencher: divan::Bencher, name: &str) {
    let text = doc(name).review_text.as_str();
    bencher.bench(|| {
        let value: Value = serde_json::from_str(black_box(text)).expect("valid JSON");
        serde_json::to_string(&value).expect("serialises")
    });
}

/// Every loaded rule that applies to the Deployment, on the already-parsed document.
#[divan::bench(args = DOCS)]
fn evaluate(bencher: divan::Bencher, name: &str) {
    let input = admission_input(doc(name).object.clone());
    let engine = &FIXTURE.engine;
    bencher.bench(|| engine.evaluate(black_box(&input)));
}

/// The same on the interpreter only (`Engine::with_interpreter_only`, the reference the compiled
/// programs are tested against): what the compiled evaluator gains, in the same run.
#[divan::bench(args = DOCS)]
fn evaluate_interpreter(bencher: divan::Bencher, name: &str) {
    let input = admission_input(doc(name).object.clone());
    let engine = FIXTURE.engine.with_interpreter_only();
    bencher.bench(|| engine.evaluate(black_box(&input)));
}

/// The full engine path from text: parse the `AdmissionReview`, take `request.object`, build the
/// `Input`, evaluate.
#[divan::bench(args = DOCS)]
fn parse_and_evaluate(bencher: divan::Bencher, name: &str) {
    let text = doc(name).review_text.as_str();
    let engine = &FIXTURE.engine;
    bencher.bench(|| {
        let mut review: Value = serde_json::from_str(black_box(text)).expect("valid JSON");
        let object = review
            .pointer_mut("/request/object")
            .map(Value::take)
            .expect("request.object");
        engine.evaluate(&admission_input(object))
    });
}

/// Pack load + compile: `Engine::load` of the packs used above (the embedded shipped packs).
#[divan::bench]
fn load_packs(bencher: divan::Bencher) {
    let sources = FIXTURE.sources.as_slice();
    bencher.bench(|| Engine::load(black_box(sources)).expect("packs load"));
}
