//! The upstream test cases vendored under `tests/fixtures/k8s-cel/upstream/` (see its README):
//! kubernetes/apiserver `pkg/cel/library` (IP, CIDR, quantity, semver, format) and cel-go's
//! `ext` strings and `string.format` tests, each run through `Engine::eval_expression` (what
//! `celgate eval` runs) and compared with its typed expectation: an `int` is not a `double` is
//! not a `string`. Cases celgate decides differently are listed in `known-differences.yaml`
//! with the reason; the list must stay exact (a listed case that passes fails the test too).

use std::collections::BTreeMap;
use std::path::PathBuf;

use celgate::engine::{Engine, Input};
use serde::Deserialize;
use serde_json::Value;

/// One vendored case.
#[derive(Debug, Deserialize)]
struct Case {
    source: String,
    expr: String,
    /// Typed expectation: `{"bool": true}`, `{"int": 4}`, `{"double": 1.5}`, `{"string": ".."}`,
    /// `{"optional": null | <typed>}`, `{"list": [<typed>...]}`, `{"opaque": "IP"}` (any value).
    #[serde(default)]
    value: Option<Value>,
    /// An error is expected (upstream's message, Go's wording: not compared).
    #[serde(default)]
    error: Option<String>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/k8s-cel/upstream")
}

/// Whether `got` (celgate's JSON result) is the typed `want`.
fn matches_typed(want: &Value, got: &Value) -> bool {
    let Some((kind, expected)) = want.as_object().and_then(|o| o.iter().next()) else {
        return false;
    };
    match kind.as_str() {
        "bool" | "string" => got == expected,
        "int" => got.is_i64() && !got.is_f64() && got.as_i64() == expected.as_i64(),
        "uint" => got.is_u64() && got.as_u64() == expected.as_u64(),
        "double" => got.is_f64() && got.as_f64() == expected.as_f64(),
        "optional" if expected.is_null() => got.is_null(),
        "optional" => matches_typed(expected, got),
        "list" => match (expected.as_array(), got.as_array()) {
            (Some(e), Some(g)) => e.len() == g.len() && e.iter().zip(g).all(|(e, g)| matches_typed(e, g)),
            _ => false,
        },
        "opaque" => true,
        _ => false,
    }
}

/// `None` when the case passes, else what happened.
fn run(case: &Case) -> Option<String> {
    let got = Engine::eval_expression(&case.expr, &Input::new(Value::Null), &[]);
    match (&case.error, &case.value, got) {
        (Some(_), _, Err(_)) => None,
        (Some(e), _, Ok(v)) => Some(format!("got {v}, expected an error ({e})")),
        (None, Some(want), Ok(v)) if matches_typed(want, &v) => None,
        (None, Some(want), Ok(v)) => Some(format!("got {v}, expected {want}")),
        (None, _, Err(e)) => Some(format!("error: {e}")),
        (None, None, Ok(v)) => Some(format!("case without expectation, got {v}")),
    }
}

/// `known-differences.yaml`: reason -> list of `<source> :: <expr>`.
fn known() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir().join("known-differences.yaml")).expect("known-differences.yaml");
    let by_reason: BTreeMap<String, Vec<String>> = match yaml_to_json(&text) {
        Value::Null => BTreeMap::new(),
        v => serde_json::from_value(v).expect("reason -> list of cases"),
    };
    by_reason
        .into_iter()
        .flat_map(|(reason, cases)| cases.into_iter().map(move |c| (c, reason.clone())))
        .collect()
}

/// The known-differences file (YAML) as JSON, read with the crate's YAML reader.
fn yaml_to_json(text: &str) -> Value {
    let docs = celgate::source::parse_documents(text).expect("valid YAML");
    docs.into_iter().next().map_or(Value::Null, |d| d.value)
}

#[test]
fn upstream_cases_match_kubernetes() {
    let files = ["apiserver-library.json", "cel-go-strings.json", "cel-go-format.json"];
    let known = known();
    let mut total = 0;
    let mut passed = 0;
    let mut unexpected = Vec::new();
    let mut now_passing = Vec::new();
    let mut seen = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(dir().join(file)).expect("fixture");
        let cases: Vec<Case> = serde_json::from_str(&text).expect("cases");
        for case in &cases {
            total += 1;
            let key = format!("{} :: {}", case.source, case.expr);
            seen.push(key.clone());
            match (run(case), known.contains_key(&key)) {
                (None, false) => passed += 1,
                (None, true) => now_passing.push(key),
                (Some(_), true) => {}
                (Some(why), false) => unexpected.push(format!("{key}: {why}")),
            }
        }
    }
    let stale: Vec<&String> = known.keys().filter(|k| !seen.contains(k)).collect();
    let rate = passed * 1000 / total.max(1);
    eprintln!(
        "upstream cases: {passed} of {total} pass ({}.{}%)",
        rate / 10,
        rate % 10
    );
    assert!(
        unexpected.is_empty() && now_passing.is_empty() && stale.is_empty(),
        "failing, not listed:\n  {}\nlisted, but passing:\n  {}\nlisted, no such case:\n  {:?}",
        unexpected.join("\n  "),
        now_passing.join("\n  "),
        stale
    );
    assert!(passed * 100 >= total * 99, "{passed} of {total}: below 99 %");
}
