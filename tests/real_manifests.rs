//! The shipped packs against real manifests (`tests/fixtures/real/`): objects shaped like what
//! popular Helm charts render, and, under `upstream/`, objects vendored unchanged from public
//! projects (sources in `tests/fixtures/real/README.md`). A snapshot of every decision and
//! finding, plus invariants that must hold whatever the packs become: each object is judged as
//! is, with the annotation `kubectl apply` adds, and with every data classification.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use celgate::documents::{self, Collected, Document};
use celgate::engine::{Decision, Engine, FindingType, Input, Violation};

/// One judged document.
struct Judged {
    /// `file#index`, with the file relative to the fixture folder.
    at: String,
    kind: String,
    namespace: String,
    name: String,
    /// Effective classification: the strictest label of the object, its pod template and its
    /// namespace, else `None`.
    classification: Option<String>,
    decision: Decision,
}

impl Judged {
    fn title(&self) -> String {
        let namespace = if self.namespace.is_empty() {
            "-"
        } else {
            &self.namespace
        };
        format!("{} {}/{}/{}", self.at, self.kind, namespace, self.name)
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real")
}

/// The classification labels (`compliance.celgate.io/data-classification` and its bare alias)
/// of a label map.
fn classification_labels(labels: Option<&serde_json::Value>) -> impl Iterator<Item = String> + '_ {
    ["compliance.celgate.io/data-classification", "data-classification"]
        .into_iter()
        .filter_map(move |key| labels?.get(key)?.as_str())
        .map(|c| c.trim().to_ascii_lowercase())
}

/// Effective classification as the packs define it: the strictest of the object's labels, its pod
/// template's and its namespace's (the default left out: `None` when nothing is labelled).
fn effective_classification(value: &serde_json::Value, ns_labels: Option<&BTreeMap<String, String>>) -> Option<String> {
    let own = value.pointer("/metadata/labels");
    let template = value
        .pointer("/spec/template/metadata/labels")
        .or_else(|| value.pointer("/spec/jobTemplate/spec/template/metadata/labels"));
    let namespace = ns_labels.map(|l| serde_json::json!(l));
    let found: Vec<String> = classification_labels(own)
        .chain(classification_labels(template))
        .chain(classification_labels(namespace.as_ref()).collect::<Vec<_>>())
        .collect();
    ["phi", "pii", "confidential", "internal", "public"]
        .into_iter()
        .find(|c| found.iter().any(|f| f == c))
        .map(str::to_owned)
        .or_else(|| found.into_iter().next())
}

/// Every document of the corpus, judged after `variant` rewrote it.
fn judge_all_as(variant: impl Fn(&serde_json::Value) -> serde_json::Value) -> Vec<Judged> {
    let root = fixtures();
    let collected: Collected = documents::collect(std::slice::from_ref(&root), &mut std::io::empty());
    assert!(
        collected.problems.is_empty(),
        "fixtures must parse: {:?}",
        collected.problems.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    assert!(!collected.documents.is_empty(), "no documents under {}", root.display());
    let namespaces = collected.namespace_labels();
    let engine = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    collected
        .documents
        .iter()
        .map(|doc| judge(&engine, &root, doc, &variant(&doc.value), &namespaces))
        .collect()
}

/// Every document of the corpus, judged as is.
fn judge_all() -> Vec<Judged> {
    judge_all_as(Clone::clone)
}

fn judge(
    engine: &Engine,
    root: &Path,
    doc: &Document,
    value: &serde_json::Value,
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
) -> Judged {
    let namespace = doc.metadata_str("namespace").to_owned();
    let mut input = Input::new(value.clone());
    let ns_labels = if namespace.is_empty() {
        None
    } else {
        namespaces.get(&namespace).cloned()
    };
    input.namespace_labels.clone_from(&ns_labels);
    let decision = engine.evaluate(&input);
    let file = Path::new(&doc.source)
        .strip_prefix(root)
        .map_or_else(|_| doc.source.clone(), |p| p.display().to_string());
    let mut at = format!("{file}#{}", doc.index);
    if let Some(item) = doc.item {
        write!(at, "[{item}]").unwrap();
    }
    let classification = effective_classification(value, ns_labels.as_ref());
    Judged {
        at,
        kind: input.kind().to_owned(),
        namespace,
        name: input.name().to_owned(),
        classification,
        decision,
    }
}

fn finding_line(v: &Violation) -> String {
    let pointer = if v.pointer.is_empty() { "(document)" } else { &v.pointer };
    format!("  [{}] {} @ {}", v.action.as_str(), v.rule, pointer)
}

fn summary(judged: &[Judged]) -> String {
    let mut out = String::new();
    for j in judged {
        writeln!(
            out,
            "{}: {}",
            j.title(),
            j.decision.decision.as_str().to_ascii_uppercase()
        )
        .unwrap();
        let mut lines: Vec<String> = j.decision.violations.iter().map(finding_line).collect();
        lines.sort();
        for line in lines {
            writeln!(out, "{line}").unwrap();
        }
    }
    out
}

#[test]
fn snapshot_of_shipped_packs_on_real_manifests() {
    insta::assert_snapshot!("real_manifests", summary(&judge_all()));
}

/// The annotation `kubectl apply` adds to every object it creates or updates.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The values of the `data-classification` label the packs know.
const CLASSIFICATIONS: [&str; 5] = ["public", "internal", "confidential", "pii", "phi"];

/// `value` with `metadata.<map>.<key>` set to `entry`, creating (or replacing a null)
/// `metadata` and `metadata.<map>` as needed.
fn with_metadata_entry(value: &serde_json::Value, map: &str, key: &str, entry: String) -> serde_json::Value {
    let mut out = value.clone();
    let Some(object) = out.as_object_mut() else {
        return out;
    };
    let metadata = object.entry("metadata").or_insert(serde_json::Value::Null);
    if !metadata.is_object() {
        *metadata = serde_json::Value::Object(serde_json::Map::new());
    }
    if let Some(metadata) = metadata.as_object_mut() {
        let inner = metadata.entry(map).or_insert(serde_json::Value::Null);
        if !inner.is_object() {
            *inner = serde_json::Value::Object(serde_json::Map::new());
        }
        if let Some(inner) = inner.as_object_mut() {
            inner.insert(key.to_owned(), serde_json::Value::String(entry));
        }
    }
    out
}

/// The object as `kubectl apply` sends it: its own JSON, compact and newline-terminated, in the
/// last-applied-configuration annotation.
fn with_last_applied(value: &serde_json::Value) -> serde_json::Value {
    with_metadata_entry(value, "annotations", LAST_APPLIED, format!("{value}\n"))
}

/// The object labelled with a data classification of its own.
fn with_classification(value: &serde_json::Value, classification: &str) -> serde_json::Value {
    with_metadata_entry(
        value,
        "labels",
        "compliance.celgate.io/data-classification",
        classification.to_owned(),
    )
}

fn evaluation_errors(variant: &str, judged: &[Judged]) -> Vec<String> {
    judged
        .iter()
        .flat_map(|j| {
            j.decision
                .violations
                .iter()
                .filter(|v| v.finding == FindingType::EvaluationError)
                .map(move |v| format!("[{variant}] {}: {} @ {}: {}", j.title(), v.rule, v.pointer, v.message))
        })
        .collect()
}

/// An evaluation error on a real manifest means a rule does not guard a field that charts
/// legitimately leave out (or render as null), or is charged for what it does not read. Every
/// object is judged as is, with kubectl's last-applied-configuration annotation, and with each
/// data classification.
#[test]
fn no_evaluation_errors_on_real_manifests() {
    let mut errors = evaluation_errors("as is", &judge_all());
    errors.extend(evaluation_errors("last-applied", &judge_all_as(with_last_applied)));
    for classification in CLASSIFICATIONS {
        let judged = judge_all_as(|v| with_classification(v, classification));
        errors.extend(evaluation_errors(classification, &judged));
    }
    assert!(
        errors.is_empty(),
        "{} evaluation error(s) on real manifests:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

/// kubectl's last-applied-configuration annotation holds the whole object again; no shipped
/// rule reads it, so it must change no decision and no finding.
#[test]
fn last_applied_configuration_changes_no_finding() {
    let plain = judge_all();
    let annotated = judge_all_as(with_last_applied);
    assert_eq!(plain.len(), annotated.len());
    let mut changed = Vec::new();
    for (p, a) in plain.iter().zip(&annotated) {
        let mut before: Vec<String> = p.decision.violations.iter().map(finding_key).collect();
        let mut after: Vec<String> = a.decision.violations.iter().map(finding_key).collect();
        before.sort();
        after.sort();
        if p.decision.decision != a.decision.decision || before != after {
            let added: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
            let lost: Vec<&String> = before.iter().filter(|f| !after.contains(f)).collect();
            changed.push(format!(
                "{}: {} -> {}; added {added:?}; lost {lost:?}",
                p.title(),
                p.decision.decision.as_str(),
                a.decision.decision.as_str()
            ));
        }
    }
    assert!(
        changed.is_empty(),
        "{} object(s) judged differently with {LAST_APPLIED}:\n{}",
        changed.len(),
        changed.join("\n")
    );
}

/// GDPR and HIPAA rules are scoped to objects whose effective classification is pii or phi.
#[test]
fn no_privacy_findings_outside_pii_and_phi() {
    let stray: Vec<String> = judge_all()
        .iter()
        .filter(|j| {
            matches!(
                j.classification.as_deref(),
                None | Some("public" | "internal" | "confidential")
            )
        })
        .flat_map(|j| {
            j.decision
                .violations
                .iter()
                .filter(|v| matches!(v.pack.as_ref(), "gdpr" | "hipaa"))
                .map(move |v| {
                    format!(
                        "{} (classification {}): {} @ {}",
                        j.title(),
                        j.classification.as_deref().unwrap_or("unlabelled"),
                        v.rule,
                        v.pointer
                    )
                })
        })
        .collect();
    assert!(
        stray.is_empty(),
        "{} GDPR/HIPAA finding(s) on objects that are not pii/phi:\n{}",
        stray.len(),
        stray.join("\n")
    );
}

/// What a decision says about one finding, for comparing decisions.
fn finding_key(v: &Violation) -> String {
    format!(
        "{} {} [{}/{:?}] @ {}: {}",
        v.pack,
        v.rule,
        v.action.as_str(),
        v.finding,
        v.pointer,
        v.message
    )
}

/// Every rule in `audit` mode: findings are recorded only, so no answer is a patch and each
/// pack's findings come from one pass over the document as sent.
struct AuditEverything;

impl celgate::engine::Overrides for AuditEverything {
    fn mode(&self, pack: &str, _rule: &str) -> Option<celgate::engine::AppliedMode> {
        Some(celgate::engine::AppliedMode {
            mode: celgate::engine::Mode::Audit,
            source: celgate::engine::ModeSource::Framework {
                layer: celgate::engine::Layer::Environment("test".to_owned()),
                pack: pack.to_owned(),
            },
        })
    }

    fn exception(&self, _rule: &str, _input: &Input) -> Option<celgate::engine::ExceptionUse> {
        None
    }
}

/// Packs evaluated together share the results of the rule expressions they have in common
/// (soc2 and hipaa check containers with the same `validate`, and word messages from the same
/// pieces). Whatever was shared, each pack must find exactly what it finds alone, and the steps
/// counted together are at most the sum of the packs' alone (shared work is counted once). Every rule is audited, so a patch rule's findings are compared too
/// (a patch answer's second pass would depend on which packs' patches were applied).
#[test]
fn packs_judged_together_find_what_they_do_alone_and_cost_no_more() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let roots = [
        fixtures(),
        root.join("examples/noncompliant"),
        root.join("examples/compliant"),
        root.join("benches/fixtures/deployment.json"),
    ];
    let collected: Collected = documents::collect(&roots, &mut std::io::empty());
    let namespaces = collected.namespace_labels();
    let engine = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let alone: Vec<Engine> = engine
        .packs()
        .iter()
        .map(|p| {
            engine
                .filtered(std::slice::from_ref(&p.metadata.name))
                .expect("a loaded pack")
        })
        .collect();
    let mut with_both = 0;
    for doc in &collected.documents {
        let mut input = Input::new(doc.value.clone());
        input.namespace = Some(doc.metadata_str("namespace").to_owned()).filter(|n| !n.is_empty());
        input.namespace_labels = input.namespace.as_ref().and_then(|n| namespaces.get(n).cloned());
        let (together, cost) = engine.evaluate_with_cost(&input, &AuditEverything);
        let each: Vec<(Decision, u128)> = alone
            .iter()
            .map(|e| e.evaluate_with_cost(&input, &AuditEverything))
            .collect();
        let mut expected: Vec<String> = each
            .iter()
            .flat_map(|(d, _)| d.violations.iter().map(finding_key))
            .collect();
        let mut found: Vec<String> = together.violations.iter().map(finding_key).collect();
        expected.sort();
        found.sort();
        let at = format!("{}#{}", doc.source, doc.index);
        assert_eq!(found, expected, "{at}: findings differ");
        // What one pack computed and another reuses is counted once.
        let alone_cost = each.iter().map(|(_, c)| c).sum::<u128>();
        assert!(cost <= alone_cost, "{at}: together {cost} > alone {alone_cost}");
        let packs: std::collections::BTreeSet<&str> = together.violations.iter().map(|v| v.pack.as_ref()).collect();
        if packs.contains("soc2") && packs.contains("hipaa") {
            with_both += 1;
        }
    }
    assert!(
        collected.documents.len() >= 20,
        "only {} documents",
        collected.documents.len()
    );
    // Sharing must be exercised: documents where soc2 and hipaa both find something.
    assert!(
        with_both >= 2,
        "only {with_both} documents with soc2 and hipaa findings"
    );
}
