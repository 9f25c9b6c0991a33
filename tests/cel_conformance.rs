//! The official CEL conformance data (cel-spec `tests/simple`, vendored and converted under
//! `tests/fixtures/cel-spec/`, see its README) run through celgate's own CEL environment: the
//! same `compile::environment()` and `compile::compile_with_roots` the packs use (with celgate's
//! rewrites of `==`, `!=`, `in` and `matches`), with each case's bindings as extra roots.
//!
//! A case passes when the typed result equals the expected one (an `int` 1 is not a `uint` 1),
//! or when an error is expected and compiling or evaluating fails. The test fails when:
//! - a section has fewer passing cases than its minimum in [`SECTIONS`];
//! - a case fails that is not listed in `known-gaps.yaml`, or a listed case passes;
//! - the fixtures or the gap list name cases that do not exist.
//!
//! `CEL_CONFORMANCE_WRITE_GAPS=1` rewrites `known-gaps.yaml` from the current results instead
//! (keeping the reasons of cases already listed, "unclassified" for new ones) and prints every
//! failure and the per-section table to paste into [`SECTIONS`].

#[path = "cel_conformance/gaps.rs"]
mod gaps;
#[path = "cel_conformance/run.rs"]
mod run;
#[path = "cel_conformance/typed.rs"]
mod typed;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use celgate::engine::cel::compile;
use gaps::{KnownGaps, UNCLASSIFIED};
use rstest::rstest;
use run::{fixture_dir, run_all, run_case, Case, Expected, Outcome};
use typed::{render, Typed};

/// Section, cases in its fixture, minimum passing cases (the rate measured when the gap list
/// was last regenerated; raise it when gaps close, never lower it to hide a regression). Where
/// Kubernetes' CEL environment and cel-spec differ (cel-go's `string.format`, undeclared
/// functions refused), celgate follows Kubernetes and the cel-spec cases are listed as gaps.
/// (Heterogeneous literals, which Kubernetes refuses in policies, are refused where policies
/// and packs load; this test compiles as `celgate eval` does.)
const SECTIONS: &[(&str, usize, usize)] = &[
    ("basic", 43, 41),
    ("comparisons", 406, 334),
    ("logic", 30, 30),
    ("macros", 44, 44),
    ("macros2", 46, 46),
    ("string", 51, 51),
    ("string_ext", 209, 190),
    ("lists", 39, 39),
    ("fields", 60, 50),
    ("optionals", 70, 59),
    ("conversions", 109, 109),
    ("integer_math", 64, 64),
    ("fp_math", 30, 30),
    ("math_ext", 199, 199),
    ("encoders_ext", 4, 4),
    ("parse", 219, 176),
    ("namespace", 3, 0),
    ("plumbing", 5, 5),
    ("timestamps", 76, 75),
];

/// Failures printed per kind of problem before "... and N more".
const SHOWN_FAILURES: usize = 25;

fn capped(title: &str, lines: &[String]) -> String {
    let mut out = format!("{title} ({}):\n", lines.len());
    for line in lines.iter().take(SHOWN_FAILURES) {
        let _ = writeln!(out, "  {line}");
    }
    if lines.len() > SHOWN_FAILURES {
        let _ = writeln!(out, "  ... and {} more", lines.len() - SHOWN_FAILURES);
    }
    out
}

#[test]
fn cel_spec_conformance() {
    let gaps_path = fixture_dir().join("known-gaps.yaml");
    let known = KnownGaps::load(&gaps_path).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = SECTIONS.iter().map(|(n, _, _)| *n).collect();
    let results = run_all(&names);
    let write_mode = std::env::var_os("CEL_CONFORMANCE_WRITE_GAPS").is_some_and(|v| v == "1");

    let mut table = String::from("section        cases  pass (errors)  fail  skip  (min pass)\n");
    let mut problems: Vec<String> = Vec::new();
    let (mut unexpected, mut fixed, mut all_failures) = (Vec::new(), Vec::new(), Vec::new());
    let mut error_passes = Vec::new();
    let mut regenerated = KnownGaps::default();
    let mut case_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut measured = String::new();
    for ((section, total, min_pass), (name, outcomes)) in SECTIONS.iter().zip(&results) {
        assert_eq!(section, name);
        let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|(_, _, o)| f(o)).count();
        let pass = count(Outcome::passed);
        let by_error = count(|o| matches!(o, Outcome::PassOnError(_)));
        let skip = count(|o| matches!(o, Outcome::Skip(_)));
        let fail = outcomes.len() - pass - skip;
        let _ = writeln!(
            table,
            "{section:<14} {:>5} {pass:>5} {:>8} {fail:>5} {skip:>5}  ({min_pass})",
            outcomes.len(),
            format!("({by_error})")
        );
        let _ = writeln!(measured, "    (\"{section}\", {}, {pass}),", outcomes.len());
        if outcomes.len() != *total {
            problems.push(format!(
                "{section}: the fixture has {} cases, the table says {total}: update SECTIONS",
                outcomes.len()
            ));
        }
        if pass < *min_pass {
            problems.push(format!("{section}: {pass} cases pass, below the minimum of {min_pass}"));
        }
        case_order.insert(
            (*section).to_owned(),
            outcomes.iter().map(|(n, _, _)| n.clone()).collect(),
        );
        for (case, expr, outcome) in outcomes {
            let listed = known.reason(section, case);
            match (outcome, listed) {
                (Outcome::Fail(why), None) => unexpected.push(format!("{section}/{case}: {expr:?}: {why}")),
                (o, Some(reason)) if o.passed() => fixed.push(format!("{section}/{case} (listed as: {reason})")),
                _ => {}
            }
            if let Outcome::PassOnError(why) = outcome {
                error_passes.push(format!("{section}/{case}: {expr:?}: {why}"));
            }
            if let Outcome::Fail(why) = outcome {
                all_failures.push(format!("{section}/{case}: {expr:?}: {why}"));
                regenerated
                    .0
                    .entry((*section).to_owned())
                    .or_default()
                    .insert(case.clone(), listed.unwrap_or(UNCLASSIFIED).to_owned());
            }
        }
    }
    for (section, cases) in &known.0 {
        let Some(order) = case_order.get(section) else {
            problems.push(format!("known-gaps.yaml names section '{section}', which is not run"));
            continue;
        };
        for case in cases.keys().filter(|c| !order.contains(c)) {
            problems.push(format!("known-gaps.yaml: {section} has no case '{case}'"));
        }
    }
    if write_mode {
        println!("{table}");
        std::fs::write(&gaps_path, regenerated.render(&names, &case_order))
            .unwrap_or_else(|e| panic!("{}: {e}", gaps_path.display()));
        println!("passed on an expected error:\n{}\n", error_passes.join("\n"));
        println!("failed:\n{}", all_failures.join("\n"));
        println!(
            "wrote {}; measured (section, cases, passing):\n{measured}",
            gaps_path.display()
        );
        return;
    }
    let mut report = String::new();
    if !unexpected.is_empty() {
        report.push_str(&capped("failing cases not listed in known-gaps.yaml", &unexpected));
    }
    if !fixed.is_empty() {
        report.push_str(&capped(
            "cases listed in known-gaps.yaml that now pass (remove them, raise the minimum)",
            &fixed,
        ));
    }
    if !problems.is_empty() {
        report.push_str(&capped("problems", &problems));
    }
    assert!(
        report.is_empty(),
        "{table}\n{report}\nTo accept the current results: CEL_CONFORMANCE_WRITE_GAPS=1 cargo test --test cel_conformance"
    );
}

/// The comparison is strict about types, so the suite can tell `1` from `1u` and `1.0`.
#[rstest]
#[case::int_is_int(r#"{"int": "1"}"#, "1", true)]
#[case::uint_is_not_int(r#"{"uint": "1"}"#, "1", false)]
#[case::double_is_not_int(r#"{"double": "1.0"}"#, "1", false)]
#[case::uint_is_uint(r#"{"uint": "18446744073709551615"}"#, "18446744073709551615u", true)]
#[case::negative_zero(r#"{"double": "-0"}"#, "-0.0", true)]
#[case::negative_zero_is_not_zero(r#"{"double": "-0"}"#, "0.0", false)]
#[case::nan_matches_nan(r#"{"double": "NaN"}"#, "0.0 / 0.0", true)]
#[case::string_is_not_bytes(r#"{"string": "abc"}"#, "b'abc'", false)]
#[case::bytes_base64(r#"{"bytes": "AP8="}"#, "b'\\x00\\xff'", true)]
#[case::list_order_matters(r#"{"list": [{"int": "2"}, {"int": "1"}]}"#, "[1, 2]", false)]
#[case::list_element_types(r#"{"list": [{"int": "1"}, {"uint": "2"}]}"#, "[1, 2u]", true)]
#[case::map_key_type_matters(r#"{"map": [{"key": {"uint": "1"}, "value": {"bool": true}}]}"#, "{1: true}", false)]
#[case::map_unordered(
    r#"{"map": [{"key": {"string": "b"}, "value": {"null": null}}, {"key": {"string": "a"}, "value": {"int": "1"}}]}"#,
    "{'a': 1, 'b': null}",
    true
)]
#[case::duration(r#"{"duration": "-1.5s"}"#, "duration('-1500ms')", true)]
#[case::timestamp(
    r#"{"timestamp": "2009-02-13T23:31:30Z"}"#,
    "timestamp('2009-02-13T23:31:30Z')",
    true
)]
#[case::optional_of(r#"{"optional": {"int": "1"}}"#, "{'a': 1}[?'a']", true)]
#[case::optional_none(r#"{"optional": null}"#, "{'a': 1}[?'b']", true)]
#[case::optional_is_not_its_value(r#"{"int": "1"}"#, "{'a': 1}[?'a']", false)]
#[case::type_value(r#"{"type": "int"}"#, "type(1)", true)]
fn typed_comparison_is_strict(#[case] expected: &str, #[case] expr: &str, #[case] same: bool) {
    let want: Typed = serde_json::from_str(expected).expect("typed fixture value");
    let env = compile::environment();
    let compiled = compile::compile_with_roots(&env, expr, &["int"]).expect("compiles");
    let ctx = cel::Context::with_env(Arc::clone(&env));
    let got = cel::Value::resolve_val(&compiled.expr, &ctx).expect("evaluates");
    assert_eq!(want.matches(&*got).expect("comparable"), same, "{expr} vs {expected}");
}

/// Bindings round-trip: a typed value bound as a variable reads back as the same typed value.
#[rstest]
#[case(r#"{"int": "-9223372036854775808"}"#)]
#[case(r#"{"uint": "0"}"#)]
#[case(r#"{"double": "-Infinity"}"#)]
#[case(r#"{"list": [{"string": "a"}, {"null": null}, {"bool": false}]}"#)]
#[case(r#"{"map": [{"key": {"int": "1"}, "value": {"list": []}}]}"#)]
#[case(r#"{"optional": {"string": "x"}}"#)]
#[case(r#"{"optional": null}"#)]
fn bindings_round_trip(#[case] value: &str) {
    let typed: Typed = serde_json::from_str(value).expect("typed fixture value");
    let env = compile::environment();
    let compiled = compile::compile_with_roots(&env, "x", &["x"]).expect("compiles");
    let mut ctx = cel::Context::with_env(Arc::clone(&env));
    ctx.add_variable_as_val("x", typed.to_val().expect("representable"));
    let got = cel::Value::resolve_val(&compiled.expr, &ctx).expect("evaluates");
    assert!(
        typed.matches(&*got).expect("comparable"),
        "{value} read back as {}",
        render(&*got)
    );
}

/// A case the fixture marks as expecting an error passes on an error and fails on a value.
#[test]
fn expected_errors_need_an_error() {
    let env = compile::environment();
    let case = |expr: &str| Case {
        name: "t".into(),
        expr: expr.into(),
        disable_check: false,
        disable_macros: false,
        container: None,
        description: None,
        declarations: Vec::new(),
        bindings: BTreeMap::new(),
        expected: Some(Expected::Error("no such overload".into())),
        skip: None,
    };
    assert!(matches!(run_case(&env, &case("1 / 0")), Outcome::PassOnError(e) if e.starts_with("evaluation error")));
    assert!(matches!(run_case(&env, &case("1 +")), Outcome::PassOnError(e) if e.starts_with("compile error")));
    assert!(matches!(run_case(&env, &case("1 + 1")), Outcome::Fail(_)));
}

/// The gap list reads back as written, whatever the names and reasons hold (quotes, colons,
/// `#`), and a hand-edited reason emptied of its cases is simply empty.
#[test]
fn gap_list_round_trips() {
    let mut gaps = KnownGaps::default();
    let section = gaps.0.entry("basic".to_owned()).or_default();
    section.insert("g/a: \"quoted\" # not a comment".to_owned(), "reason: one".to_owned());
    section.insert("g/b".to_owned(), UNCLASSIFIED.to_owned());
    let order = BTreeMap::from([(
        "basic".to_owned(),
        vec!["g/b".to_owned(), "g/a: \"quoted\" # not a comment".to_owned()],
    )]);
    let text = gaps.render(&["basic", "lists"], &order);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("known-gaps.yaml");
    std::fs::write(&path, &text).expect("write");
    assert_eq!(KnownGaps::load(&path).expect("reads back"), gaps, "{text}");

    std::fs::write(&path, "basic:\n  \"gone\":\n").expect("write");
    assert_eq!(KnownGaps::load(&path).expect("empty reason").reason("basic", "x"), None);
    std::fs::write(&path, "basic: [a]\n").expect("write");
    let err = KnownGaps::load(&path).expect_err("wrong shape").to_string();
    assert!(err.contains("known-gaps.yaml") && err.contains("'basic'"), "{err}");
}
