//! The compiled evaluator judges (issue 18, design §1): the shipped packs run entirely as
//! compiled programs; a user pack the compiler does not fully cover still works and is named
//! (in `Engine::packs()` and `GET /v1/packs`); a runaway rule stops at the request's deadline on
//! the thread that runs it, so other requests keep being answered.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use celgate::engine::{CostLimits, Engine, FindingType, Input, NoOverrides, PackKind, PackSource, Verdict};
use celgate::server::PackSourceSpec;
use support::{Options, TestServer};

fn engine_from(yaml: &str) -> Engine {
    Engine::load(&[PackSource {
        origin: "inline.yaml".into(),
        text: yaml.to_owned(),
    }])
    .unwrap_or_else(|e| panic!("loads: {e}"))
}

const FALLBACK_PACK: &str = r#"apiVersion: celgate.io/v1
kind: RulePack
metadata: {name: fb, version: 1.0.0}
spec:
  variables:
    - name: replicas
      expression: "has(object.spec.replicas) ? object.spec.replicas : 1"
  rules:
    - id: fb-replicas
      title: At least two replicas
      controls: [X]
      severity: low
      match: {kinds: [Deployment]}
      validate: "has(variables.replicas) && variables.replicas >= 2"
      message: "{variables.replicas} replicas"
      remediation: r
    - id: fb-name
      title: Named
      controls: [X]
      severity: low
      match: {kinds: [Deployment]}
      validate: "object.metadata.name.startsWith('web')"
      message: m
      remediation: r
"#;

/// A quadratic rule over `object.items` (the per-expression limit is raised in the tests that
/// use it, so only the deadline stops it), and a quick one on `ConfigMap`s.
const RUNAWAY_PACK: &str = r#"apiVersion: celgate.io/v1
kind: RulePack
metadata: {name: rw, version: 1.0.0}
spec:
  rules:
    - id: rw-pairs
      title: Pairs
      controls: [X]
      severity: low
      match: {kinds: [Loop]}
      validate: "object.items.all(a, object.items.all(b, a + b >= 0))"
      message: m
      remediation: r
    - id: rw-quick
      title: Quick
      controls: [X]
      severity: low
      match: {kinds: [ConfigMap]}
      validate: "has(object.data)"
      message: no data
      remediation: r
"#;

fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"replicas": replicas}
    })
}

fn looping(items: usize) -> Value {
    let items: Vec<usize> = (0..items).collect();
    json!({"apiVersion": "example.com/v1", "kind": "Loop", "metadata": {"name": "l"}, "items": items})
}

#[test]
fn every_shipped_rule_pack_runs_entirely_compiled() {
    let engine = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let mut rule_packs = 0;
    for pack in engine.packs() {
        if !matches!(pack.kind, PackKind::Rules) {
            continue;
        }
        rule_packs += 1;
        let coverage = &pack.coverage;
        assert!(
            coverage.is_complete(),
            "{}: {:#?}",
            pack.metadata.name,
            coverage.interpreted
        );
        assert!(
            coverage.compiled >= pack.rules.len(),
            "{}: {coverage:?}",
            pack.metadata.name
        );
    }
    assert!(rule_packs >= 3, "soc2, gdpr, hipaa at least");
}

/// Everything a decision says, as JSON: verdict, findings with their messages and pointers,
/// warnings, patch, the patched document and the rules evaluated.
fn decision_text(decision: &celgate::engine::Decision) -> String {
    format!(
        "{}\n{:?}\n{:?}",
        serde_json::to_string_pretty(decision).expect("serialises"),
        decision.patched_object,
        decision.evaluated_rules
    )
}

#[test]
fn compiled_programs_decide_exactly_as_the_interpreter_on_real_manifests() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let roots = [
        root.join("tests/fixtures/real"),
        root.join("examples"),
        root.join("benches/fixtures/deployment.json"),
    ];
    let collected = celgate::documents::collect(&roots, &mut std::io::empty());
    let namespaces = collected.namespace_labels();
    let compiled = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let reference = compiled.with_interpreter_only();
    let mut judged = 0;
    for doc in &collected.documents {
        let mut input = Input::new(doc.value.clone());
        input.namespace = Some(doc.metadata_str("namespace").to_owned()).filter(|n| !n.is_empty());
        input.namespace_labels = input.namespace.as_ref().and_then(|n| namespaces.get(n).cloned());
        let fast = decision_text(&compiled.evaluate(&input));
        let slow = decision_text(&reference.evaluate(&input));
        assert_eq!(fast, slow, "{}#{}", doc.source, doc.index);
        judged += 1;
    }
    assert!(judged >= 300, "{judged} documents");
}

/// Kubernetes admission policies run on compiled programs too: every expression of every policy
/// fixture that loads (the documentation's examples among them) compiles, and each policy judges
/// every input fixture, as a CREATE and as an UPDATE, exactly as the interpreter does.
#[test]
fn admission_policies_run_compiled_and_decide_exactly_as_the_interpreter() {
    use celgate::engine::Operation;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vap");
    let inputs = celgate::documents::collect(&[dir.join("inputs")], &mut std::io::empty());
    let namespaces = inputs.namespace_labels();
    let mut folders: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.ends_with("inputs") && !p.ends_with("bad"))
        .collect();
    folders.sort();
    let (mut policies, mut compiled_exprs, mut judged, mut fallbacks) = (0, 0, 0, Vec::new());
    for folder in folders {
        let Ok(found) = celgate::packs::from_paths(std::slice::from_ref(&folder)) else {
            continue;
        };
        let Ok(engine) = Engine::load(&found.packs) else {
            continue;
        };
        for pack in engine.packs() {
            if matches!(pack.kind, PackKind::AdmissionPolicies(_)) {
                policies += 1;
                compiled_exprs += pack.coverage.compiled;
                fallbacks.extend(
                    pack.coverage
                        .interpreted
                        .iter()
                        .map(|f| format!("{}: {}", folder.display(), f.source)),
                );
            }
        }
        let reference = engine.with_interpreter_only();
        for doc in &inputs.documents {
            for operation in [Operation::Create, Operation::Update] {
                let mut input = Input::new(doc.value.clone());
                input.operation = operation;
                if operation == Operation::Update {
                    input.old_object = Some(doc.value.clone());
                }
                input.namespace = Some(doc.metadata_str("namespace").to_owned()).filter(|n| !n.is_empty());
                input.namespace_labels = input.namespace.as_ref().and_then(|n| namespaces.get(n).cloned());
                let fast = decision_text(&engine.evaluate(&input));
                let slow = decision_text(&reference.evaluate(&input));
                assert_eq!(
                    fast,
                    slow,
                    "{} on {}#{} ({operation:?})",
                    folder.display(),
                    doc.source,
                    doc.index
                );
                judged += 1;
            }
        }
    }
    eprintln!("{policies} policy packs, {compiled_exprs} compiled expressions, {judged} judgements");
    assert!(fallbacks.is_empty(), "on the interpreter: {fallbacks:#?}");
    assert!(policies >= 10, "{policies} policy packs");
    assert!(compiled_exprs >= 20, "{compiled_exprs} compiled expressions");
    assert!(judged >= 100, "{judged} judgements");
}

#[test]
fn an_expression_the_compiler_does_not_cover_runs_on_the_interpreter_and_is_named() {
    let engine = engine_from(FALLBACK_PACK);
    let coverage = &engine.packs()[0].coverage;
    assert!(!coverage.is_complete());
    let names: Vec<(&str, &str)> = coverage
        .interpreted
        .iter()
        .map(|i| (i.subject.as_str(), i.reason.as_str()))
        .collect();
    assert_eq!(names, [("rule 'fb-replicas'", "has(variables.x)")], "{coverage:#?}");
    // The variable, the message's expression and the other rule are compiled.
    assert_eq!(coverage.compiled, 3, "{coverage:#?}");

    let denied = engine.evaluate(&Input::new(deployment("web", 1)));
    assert_eq!(denied.decision, Verdict::Deny, "{denied:#?}");
    assert_eq!(denied.violations.len(), 1);
    assert_eq!(denied.violations[0].rule.as_ref(), "fb-replicas");
    assert_eq!(denied.violations[0].message, "1 replicas");
    let allowed = engine.evaluate(&Input::new(deployment("web", 3)));
    assert_eq!(allowed.decision, Verdict::Allow, "{allowed:#?}");
    let misnamed = engine.evaluate(&Input::new(deployment("api", 3)));
    assert_eq!(misnamed.violations[0].rule.as_ref(), "fb-name", "{misnamed:#?}");
}

#[test]
fn a_failing_expression_keeps_the_interpreters_words() {
    // The compiled evaluator fails too; the message is the one the interpreter gives.
    let engine = engine_from(
        "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {name: t, version: 1.0.0}\nspec:\n  rules:\n    - id: t-rule\n      title: T\n      controls: [X]\n      severity: low\n      message: m\n      remediation: r\n      validate: \"object.spec.missing == 1\"\n",
    );
    let decision = engine.evaluate(&Input::new(deployment("web", 1)));
    let v = &decision.violations[0];
    assert_eq!(v.finding, FindingType::EvaluationError);
    assert_eq!(
        v.message,
        "validate `object.spec.missing == 1` failed: `object.spec.missing`: no such key: missing"
    );
}

fn unbounded(engine: &Engine) -> Engine {
    engine.with_cost_limits(CostLimits {
        per_expression: 1 << 60,
        per_request: 1 << 62,
    })
}

#[test]
fn a_runaway_rule_stops_at_the_deadline_as_an_evaluation_error() {
    let engine = unbounded(&engine_from(RUNAWAY_PACK));
    // 20 000² pairs: minutes of work; the deadline stops it.
    let started = Instant::now();
    let (decision, _) = engine.evaluate_until(
        &Input::new(looping(20_000)),
        &NoOverrides,
        Some(Instant::now() + Duration::from_millis(50)),
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "stopped after {took:?}");
    let v = &decision.violations[0];
    assert_eq!((&*v.rule, v.finding), ("rw-pairs", FindingType::EvaluationError));
    assert!(
        v.message
            .contains("was stopped: the evaluation deadline of this request passed"),
        "{}",
        v.message
    );
    assert_eq!(decision.decision, Verdict::Deny, "onError: deny by default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_requests_fail_alone_and_free_their_threads() {
    let packs = tempfile::tempdir().expect("tempdir");
    std::fs::write(packs.path().join("pack.yaml"), RUNAWAY_PACK).expect("write pack");
    let mut limits = celgate::config::ServeConfig::default().limits;
    limits.request_timeout = Duration::from_millis(1_500);
    limits.max_concurrent_evaluations = 2;
    limits.cel_cost = CostLimits {
        per_expression: 1 << 60,
        per_request: 1 << 62,
    };
    let server = TestServer::start(Options {
        packs: PackSourceSpec::Paths(vec![packs.path().to_owned()]),
        limits,
        ..Options::default()
    })
    .await;
    // More runaway requests than evaluation threads, all at once.
    let body = serde_json::to_vec(&json!({"object": looping(20_000)})).expect("json");
    let runaway: Vec<_> = (0..4)
        .map(|_| {
            let client = server.client();
            let body = body.clone();
            tokio::spawn(async move { client.post("/v1/check", &body).await })
        })
        .collect();
    for handle in runaway {
        let response = handle.await.expect("joined").expect("answered");
        // Answered: refused for time (503), or judged with the rule's evaluation error.
        assert!(
            matches!(response.status, 200 | 503),
            "{}: {}",
            response.status,
            response.text()
        );
    }
    // Every other request is answered at once: no thread is still held by a runaway rule.
    let quick = serde_json::to_vec(
        &json!({"object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}}),
    )
    .expect("json");
    for _ in 0..10 {
        let response = server.client().post("/v1/check", &quick).await.expect("answered");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json()["decision"], "allow", "{}", response.text());
    }
    // And /v1/packs names how the pack runs.
    let packs_answer = server.client().get("/v1/packs").await.expect("answered").json();
    assert_eq!(
        packs_answer["packs"][0]["evaluator"]["mode"], "compiled",
        "{packs_answer}"
    );
    server.stop().await;
}
