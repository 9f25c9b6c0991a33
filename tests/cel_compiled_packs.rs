//! Differential test of the compiled CEL evaluator: every expression of the shipped packs
//! (variables, conditions, validations, message expressions, patch values), over every real
//! manifest under `tests/fixtures/real` and the benchmark Deployment, must give what the
//! interpreter gives (the same value, or an error on both sides). Also reports how many of the
//! shipped expressions compile, how many without handing any call to the interpreter, and which
//! functions are handed over.

mod cel_compiled_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cel_compiled_common::{agree, context, interpret, run, Computed, Docs, Outcome};
use celgate::engine::cel::compile::CompiledExpr;
use celgate::engine::cel::compiled::{self, Layout, Program, Unsupported};
use celgate::engine::{CompiledPack, Engine, Input};
use serde_json::Value as Json;

/// Most `forEach` items checked per rule and document.
const MAX_ITEMS: usize = 8;

/// One compiled expression of a pack.
struct Compiled<'p> {
    what: String,
    expr: &'p CompiledExpr,
    program: Result<Program, Unsupported>,
}

fn compile_one<'p>(what: String, expr: &'p CompiledExpr, layout: &Layout) -> Compiled<'p> {
    Compiled {
        what,
        program: compiled::compile(&expr.expr, layout),
        expr,
    }
}

/// Every rule expression of a pack: `(compiled, forEach queries)`.
fn rule_exprs<'p>(pack: &'p CompiledPack, layout: &Layout) -> Vec<(Compiled<'p>, bool)> {
    let mut out = Vec::new();
    for rule in &pack.rules {
        let id = &rule.spec.id;
        let for_each = rule.for_each.is_some();
        if let Some(c) = &rule.condition {
            out.push((compile_one(format!("{id} condition"), c, layout), false));
        }
        out.push((compile_one(format!("{id} validate"), &rule.validate, layout), for_each));
        if let Some(m) = &rule.message_expression {
            out.push((compile_one(format!("{id} messageExpression"), m, layout), for_each));
        }
        for (i, op) in rule.patch.iter().enumerate() {
            if let Some(v) = &op.value_expression {
                out.push((compile_one(format!("{id} patch[{i}]"), v, layout), for_each));
            }
        }
    }
    out
}

fn documents() -> Vec<Json> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let inputs: Vec<PathBuf> = vec![root.join("tests/fixtures/real"), root.join("tests/fixtures/manifests")];
    let collected = celgate::documents::collect(&inputs, &mut std::io::empty());
    let mut docs: Vec<Json> = collected.documents.into_iter().map(|d| d.value).collect();
    let bench = std::fs::read_to_string(root.join("benches/fixtures/deployment.json")).expect("bench fixture");
    docs.push(serde_json::from_str(&bench).expect("bench fixture is JSON"));
    docs
}

#[derive(Default)]
struct Report {
    total: usize,
    compiled: usize,
    native: usize,
    unsupported: BTreeMap<String, usize>,
    bridged: BTreeMap<String, usize>,
    runs: usize,
    mismatches: Vec<String>,
}

impl Report {
    fn count(&mut self, c: &Compiled<'_>) {
        self.total += 1;
        match &c.program {
            Ok(p) => {
                self.compiled += 1;
                if p.is_native() {
                    self.native += 1;
                }
                for f in p.bridged() {
                    *self.bridged.entry(f.clone()).or_default() += 1;
                }
            }
            Err(e) => *self.unsupported.entry(e.what.clone()).or_default() += 1,
        }
    }

    fn compare(&mut self, what: &str, doc: usize, interp: &Outcome, comp: &Outcome) {
        self.runs += 1;
        if !agree(interp, comp) && self.mismatches.len() < 40 {
            self.mismatches.push(format!(
                "{what} on document {doc}:\n  interpreter: {interp:?}\n  compiled:    {comp:?}"
            ));
        }
    }
}

#[test]
fn shipped_pack_expressions_agree_with_the_interpreter() {
    let engine = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let docs = documents();
    assert!(docs.len() > 100, "only {} documents", docs.len());
    let mut report = Report::default();
    let packs: Vec<_> = engine
        .packs()
        .iter()
        .map(|pack| {
            let layout = Layout {
                variables: pack.variables.iter().map(|v| v.name.clone()).collect(),
                ..Layout::default()
            };
            let vars: Vec<Compiled<'_>> = pack
                .variables
                .iter()
                .map(|v| compile_one(format!("variable {}", v.name), &v.expr, &layout))
                .collect();
            let rules = rule_exprs(pack, &layout);
            for c in vars.iter().chain(rules.iter().map(|(c, _)| c)) {
                report.count(c);
            }
            (pack, vars, rules)
        })
        .collect();

    for (index, doc) in docs.iter().enumerate() {
        let input = Input::new(doc.clone());
        let request = input.request_json();
        let namespace_object = input.namespace_object_json();
        let null = Json::Null;
        for (pack, vars, rules) in &packs {
            let base = Docs {
                object: Some(doc),
                old_object: Some(&null),
                request: Some(&request),
                params: Some(&pack.params),
                namespace_object: Some(&namespace_object),
                ..Docs::default()
            };
            let mut interp_vars = Vec::new();
            let mut computed = Computed(Vec::new());
            for (var, c) in pack.variables.iter().zip(vars) {
                let ctx = context(&base, &interp_vars);
                let (value, interp) = interpret(c.expr, &ctx);
                let compiled_value = match &c.program {
                    Ok(p) => {
                        let (value, text) = run(p, &base, &computed);
                        report.compare(&format!("{} {}", pack.metadata.name, c.what), index, &interp, &text);
                        value
                    }
                    // Not compiled: later expressions read the interpreter's value.
                    Err(_) => match value.as_deref().map(compiled::convert::from_val) {
                        Some(Ok(v)) => Ok(v),
                        _ => Err(compiled::EvalError::Variable(var.name.as_str().into())),
                    },
                };
                interp_vars.push((var.name.clone(), value));
                computed.0.push(compiled_value);
            }
            for (rule, (c, for_each)) in rules.iter().map(|r| (r.0.what.as_str(), r)) {
                let Ok(program) = &c.program else { continue };
                let items = if *for_each {
                    items_of(pack, rule, doc)
                } else {
                    vec![(None, None)]
                };
                for (item, pointer) in &items {
                    let docs = Docs {
                        item: *item,
                        item_pointer: pointer.as_deref().map(std::sync::Arc::from),
                        ..base.clone()
                    };
                    let ctx = context(&docs, &interp_vars);
                    let (_, interp) = interpret(c.expr, &ctx);
                    let (_, comp) = run(program, &docs, &computed);
                    report.compare(&format!("{} {}", pack.metadata.name, c.what), index, &interp, &comp);
                }
            }
        }
    }
    eprintln!(
        "compiled evaluator, shipped packs: {} expressions, {} compile ({} with no interpreter call), \
         {} unsupported; {} comparisons over {} documents",
        report.total,
        report.compiled,
        report.native,
        report.total - report.compiled,
        report.runs,
        docs.len()
    );
    eprintln!("unsupported: {:?}", report.unsupported);
    eprintln!(
        "handed to the interpreter (function: expressions): {:?}",
        report.bridged
    );
    assert!(
        report.mismatches.is_empty(),
        "{} mismatches, first ones:\n{}",
        report.mismatches.len(),
        report.mismatches.join("\n")
    );
    assert_eq!(
        report.compiled, report.total,
        "every shipped expression compiles: {:?}",
        report.unsupported
    );
    // No shipped expression calls the interpreter.
    assert_eq!(
        report.native, report.total,
        "shipped expressions calling the interpreter: {:?}",
        report.bridged
    );
}

/// The `forEach` items of the rule named by `what` (`<id> validate`) in `doc`, with their paths.
fn items_of<'d>(pack: &CompiledPack, what: &str, doc: &'d Json) -> Vec<(Option<&'d Json>, Option<String>)> {
    let id = what.split(' ').next().unwrap_or_default();
    let Some(rule) = pack.rules.iter().find(|r| r.spec.id == id) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (_, query) in rule.for_each.iter().flatten() {
        if let Ok(found) = jsonpath_rust::query::js_path_process(query, doc) {
            out.extend(found.into_iter().take(MAX_ITEMS).map(|m| (Some(m.val), Some(m.path))));
        }
    }
    out
}
