//! Running one converted cel-spec case through celgate's CEL environment, and every section
//! on a thread of its own.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use celgate::engine::cel::compile;
use serde::Deserialize;

use crate::typed::{render, Typed};

/// What a case expects.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expected {
    /// This typed value.
    Value(Typed),
    /// Any error; the text is upstream's message, for reading only.
    Error(String),
}

/// One converted cel-spec `SimpleTest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// `<group>/<test>`, unique in its section.
    pub name: String,
    /// The CEL source.
    pub expr: String,
    /// celgate never type-checks, so this changes nothing; kept for reading.
    #[allow(dead_code)]
    pub disable_check: bool,
    /// No converted case sets it; celgate always expands macros.
    pub disable_macros: bool,
    /// Upstream's container (name resolution scope); celgate has none.
    #[allow(dead_code)]
    pub container: Option<String>,
    /// Upstream's explanation, when it gives one.
    #[allow(dead_code)]
    pub description: Option<String>,
    /// Identifiers the upstream environment declares: accepted as roots like the bindings.
    pub declarations: Vec<String>,
    /// Variables and their typed values.
    pub bindings: BTreeMap<String, Typed>,
    /// The expected result; absent when the case is skipped.
    pub expected: Option<Expected>,
    /// Why the converter could not express the case (never evaluated).
    pub skip: Option<String>,
}

/// One section's fixture file.
#[derive(Debug, Deserialize)]
struct SectionFile {
    section: String,
    #[allow(dead_code)]
    source: serde_json::Value,
    cases: Vec<Case>,
}

/// How one case went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The expected value.
    Pass,
    /// An error was expected and compiling or evaluating failed (with this error).
    PassOnError(String),
    /// Not evaluated (the converter could not express the case).
    Skip(String),
    /// Anything else, with what happened.
    Fail(String),
}

impl Outcome {
    /// The expected value, or an error where one was expected.
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Pass | Outcome::PassOnError(_))
    }
}

/// `tests/fixtures/cel-spec`.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cel-spec")
}

fn load_section(name: &str) -> SectionFile {
    let path = fixture_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: SectionFile = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(file.section, name, "{}: names another section", path.display());
    file
}

/// Compiles and evaluates one case in celgate's environment and judges the result.
fn evaluate(env: &Arc<cel::Env>, case: &Case) -> Outcome {
    let Some(expected) = &case.expected else {
        return Outcome::Skip(case.skip.clone().unwrap_or_else(|| "no expected result".into()));
    };
    if case.disable_macros {
        return Outcome::Skip("disable_macros: celgate always expands macros".into());
    }
    let judge_error = |what: String| match expected {
        Expected::Error(_) => Outcome::PassOnError(what),
        Expected::Value(want) => Outcome::Fail(format!("{what}; expected {want}")),
    };
    let roots: Vec<&str> = case
        .bindings
        .keys()
        .chain(&case.declarations)
        .map(String::as_str)
        .collect();
    let compiled = match compile::compile_with_roots(env, &case.expr, &roots) {
        Ok(c) => c,
        Err(e) => return judge_error(format!("compile error: {e}")),
    };
    let mut ctx = cel::Context::with_env(Arc::clone(env));
    for (name, value) in &case.bindings {
        match value.to_val() {
            Ok(v) => ctx.add_variable_as_val(name.clone(), v),
            Err(e) => return Outcome::Fail(format!("binding '{name}': {e}")),
        }
    }
    match cel::Value::resolve_val(&compiled.expr, &ctx) {
        Err(e) => judge_error(format!("evaluation error: {e}")),
        Ok(got) => match expected {
            Expected::Error(message) => Outcome::Fail(format!("got {}; expected an error ({message})", render(&*got))),
            Expected::Value(want) => match want.matches(&*got) {
                Ok(true) => Outcome::Pass,
                Ok(false) => Outcome::Fail(format!("got {}; expected {want}", render(&*got))),
                Err(e) => Outcome::Fail(format!("got {}; expected value unusable: {e}", render(&*got))),
            },
        },
    }
}

/// [`evaluate`], with a panic inside `cel` or celgate turned into a failure.
pub fn run_case(env: &Arc<cel::Env>, case: &Case) -> Outcome {
    catch_unwind(AssertUnwindSafe(|| evaluate(env, case))).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        Outcome::Fail(format!("panicked: {message}"))
    })
}

/// Results of every section, in the order asked for: (section, [(case name, expr, outcome)]).
pub type Results = Vec<(String, Vec<(String, String, Outcome)>)>;

/// Name of the thread that runs the cases; panics on it are expected and not printed.
const RUNNER: &str = "cel-conformance-runner";

/// Installs, once per test binary, a panic hook that stays silent on the [`RUNNER`] thread
/// (its panics become failures with their message) and defers to the default hook elsewhere.
fn quiet_runner_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(RUNNER) {
                default(info);
            }
        }));
    });
}

/// Runs every case of `sections` (fixture names), in order, on a thread with a large stack.
pub fn run_all(sections: &[&str]) -> Results {
    quiet_runner_panics();
    let sections: Vec<String> = sections.iter().map(|s| (*s).to_owned()).collect();
    // Deeply nested parse cases recurse deeply in the parser: give it room.
    let results = std::thread::Builder::new()
        .name(RUNNER.into())
        .stack_size(256 << 20)
        .spawn(move || {
            let env = compile::environment();
            sections
                .into_iter()
                .map(|name| {
                    let file = load_section(&name);
                    let outcomes = file
                        .cases
                        .iter()
                        .map(|case| (case.name.clone(), case.expr.clone(), run_case(&env, case)))
                        .collect();
                    (name, outcomes)
                })
                .collect()
        })
        .expect("spawn the runner thread")
        .join();
    match results {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e),
    }
}
