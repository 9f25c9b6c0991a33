//! `celgate test`: running the test cases packs carry (`<pack>/tests/*.yaml`, kind
//! `RulePackTest`) against the pack they belong to.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::engine::{Decision, Engine, Input, Operation, UserInfo, Verdict};
use crate::packs::TestSource;
use crate::source;

/// The test file format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TestFile {
    api_version: String,
    kind: String,
    metadata: TestMetadata,
    spec: TestSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestMetadata {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestSpec {
    cases: Vec<TestCase>,
}

/// One test case: an input and what the pack must decide.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TestCase {
    name: String,
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    namespace_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    params: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    user_info: Option<UserInfo>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    old_object: Option<serde_json::Value>,
    #[serde(default)]
    object: Option<serde_json::Value>,
    #[serde(default)]
    object_file: Option<String>,
    expect: Expectation,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Expectation {
    decision: Verdict,
    #[serde(default)]
    rules: Option<Vec<String>>,
}

/// What happened to one case (or to a test file that could not be run).
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// Test file.
    pub file: String,
    /// Case name (or `<file>` for file-level errors).
    pub case: String,
    /// True when the decision and the fired rules matched.
    pub passed: bool,
    /// Why it failed (empty when it passed).
    pub detail: String,
    /// Rules that were evaluated for the case.
    pub evaluated: BTreeSet<String>,
    /// Rules that produced a finding.
    pub fired: BTreeSet<String>,
}

/// Runs every case of `tests` against the packs of `engine` that live in each test's pack folder.
pub fn run(engine: &Engine, tests: &[TestSource]) -> Vec<CaseOutcome> {
    let mut outcomes = Vec::new();
    for test in tests {
        run_file(engine, test, &mut outcomes);
    }
    outcomes
}

fn file_error(test: &TestSource, detail: String) -> CaseOutcome {
    CaseOutcome {
        file: test.origin.clone(),
        case: "<file>".to_owned(),
        passed: false,
        detail,
        evaluated: BTreeSet::new(),
        fired: BTreeSet::new(),
    }
}

fn run_file(engine: &Engine, test: &TestSource, outcomes: &mut Vec<CaseOutcome>) {
    let prefix = format!("{}/", test.pack_dir);
    let names: Vec<String> = engine
        .packs()
        .iter()
        .filter(|p| p.origins.iter().any(|o| o.replace('\\', "/").starts_with(&prefix)))
        .map(|p| p.metadata.name.clone())
        .collect();
    if names.is_empty() {
        outcomes.push(file_error(
            test,
            format!("no rule pack found in {} for these tests", test.pack_dir),
        ));
        return;
    }
    let engine = match engine.filtered(&names) {
        Ok(e) => e,
        Err(e) => {
            outcomes.push(file_error(test, e.to_string()));
            return;
        }
    };
    let docs = match source::parse_documents(&test.text) {
        Ok(d) => d,
        Err(e) => {
            outcomes.push(file_error(test, e.to_string()));
            return;
        }
    };
    for doc in docs {
        let file: TestFile = match serde_path_to_error::deserialize(doc.value) {
            Ok(f) => f,
            Err(e) => {
                outcomes.push(file_error(test, format!("{}: {}", e.path(), e.inner())));
                continue;
            }
        };
        if file.api_version != crate::engine::pack::PACK_API_VERSION || file.kind != "RulePackTest" {
            outcomes.push(file_error(
                test,
                format!(
                    "expected apiVersion {} and kind RulePackTest, got {} {}",
                    crate::engine::pack::PACK_API_VERSION,
                    file.api_version,
                    file.kind
                ),
            ));
            continue;
        }
        for case in file.spec.cases {
            let mut outcome = run_case(&engine, test, case);
            outcome.case = format!("{} / {}", file.metadata.name, outcome.case);
            outcomes.push(outcome);
        }
    }
}

/// Runs one case: builds its input, judges it and compares the decision with what it expects.
fn run_case(engine: &Engine, test: &TestSource, case: TestCase) -> CaseOutcome {
    let mut outcome = CaseOutcome {
        file: test.origin.clone(),
        case: case.name.clone(),
        passed: false,
        detail: String::new(),
        evaluated: BTreeSet::new(),
        fired: BTreeSet::new(),
    };
    let (input, expect) = match case_input(test, case) {
        Ok(built) => built,
        Err(detail) => {
            outcome.detail = detail;
            return outcome;
        }
    };
    let decision = engine.evaluate(&input);
    outcome.evaluated = decision.evaluated_rules.iter().map(ToString::to_string).collect();
    outcome.fired = decision.violations.iter().map(|v| v.rule.to_string()).collect();
    let problems = differences(&decision, &expect);
    if !problems.is_empty() {
        let findings: Vec<String> = decision
            .violations
            .iter()
            .map(|v| format!("{} ({}): {}", v.rule, v.action.as_str(), v.message))
            .collect();
        outcome.detail = format!("{}; findings: [{}]", problems.join("; "), findings.join(" | "));
        return outcome;
    }
    outcome.passed = true;
    outcome
}

/// The input a case describes, with what it expects; or why the case is malformed.
fn case_input(test: &TestSource, case: TestCase) -> Result<(Input, Expectation), String> {
    let object = match (case.object, &case.object_file) {
        (Some(o), None) => o,
        (None, Some(path)) => load_object_file(test, path).map_err(|e| e.to_string())?,
        (None, None)
            if case
                .operation
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case("DELETE")) =>
        {
            serde_json::Value::Null
        }
        _ => return Err("give exactly one of object and objectFile".to_owned()),
    };
    let operation = match case.operation.as_deref().map(Operation::parse) {
        None => Operation::Create,
        Some(Some(op)) => op,
        Some(None) => {
            return Err(format!("unknown operation {:?}", case.operation.unwrap_or_default()));
        }
    };
    let input = Input {
        object,
        old_object: case.old_object,
        operation,
        namespace: case.namespace,
        namespace_labels: case.namespace_labels,
        user: case.user_info.unwrap_or_default(),
        tenant: case.tenant,
        environment: case.environment,
        params: case.params,
        dry_run: false,
        request: None,
    };
    Ok((input, case.expect))
}

/// How `decision` differs from what the case expects: its verdict and the rules that fired.
fn differences(decision: &Decision, expect: &Expectation) -> Vec<String> {
    let fired: BTreeSet<&str> = decision.violations.iter().map(|v| &*v.rule).collect();
    let mut problems = Vec::new();
    if decision.decision != expect.decision {
        problems.push(format!(
            "expected decision {}, got {}",
            expect.decision.as_str(),
            decision.decision.as_str()
        ));
    }
    if let Some(expected) = &expect.rules {
        let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
        if expected != fired {
            let missing: Vec<_> = expected.difference(&fired).collect();
            let extra: Vec<_> = fired.difference(&expected).collect();
            problems.push(format!("rules fired differ: missing {missing:?}, unexpected {extra:?}"));
        }
    }
    problems
}

/// Why a case's `objectFile` could not be read; shown as the case's failure.
#[derive(Debug, thiserror::Error)]
enum ObjectFileError {
    /// The file could not be read from disk.
    #[error("{source}")]
    Read {
        /// Why (names the path).
        #[source]
        source: crate::packs::PacksError,
    },
    /// A shipped test names a file the binary does not carry.
    #[error("objectFile {path}: {wanted} is not among the shipped files")]
    NotShipped {
        /// The path as the test gives it.
        path: String,
        /// The shipped path it resolves to.
        wanted: String,
    },
    /// The test file has no folder to resolve the path against.
    #[error("objectFile {path}: no folder to resolve it in")]
    NoFolder {
        /// The path as the test gives it.
        path: String,
    },
    /// The file is not YAML or JSON the parser accepts.
    #[error("{shown}: {source}")]
    Parse {
        /// The file.
        shown: String,
        /// The parser's complaint.
        #[source]
        source: source::SourceError,
    },
    /// The file holds no document or several.
    #[error("{shown}: expected one document, found {found}")]
    NotOneDocument {
        /// The file.
        shown: String,
        /// How many documents it holds.
        found: usize,
    },
}

/// Reads `objectFile`, relative to the test file (inside the binary for shipped tests).
fn load_object_file(test: &TestSource, path: &str) -> Result<serde_json::Value, ObjectFileError> {
    let (shown, text) = match (&test.dir, test.origin.strip_prefix("embedded:")) {
        (Some(dir), _) => {
            let full = dir.join(path);
            let text = crate::packs::read_text(&full).map_err(|source| ObjectFileError::Read { source })?;
            (full.display().to_string(), text)
        }
        (None, Some(origin)) => {
            let dir = origin.rsplit_once('/').map_or("", |(d, _)| d);
            let wanted = format!("{dir}/{path}");
            let Some(text) = crate::packs::embedded_file(&wanted) else {
                return Err(ObjectFileError::NotShipped {
                    path: path.to_owned(),
                    wanted,
                });
            };
            (wanted, text.to_owned())
        }
        (None, None) => return Err(ObjectFileError::NoFolder { path: path.to_owned() }),
    };
    let mut docs = match source::parse_documents(&text) {
        Ok(docs) => docs,
        Err(source) => return Err(ObjectFileError::Parse { shown, source }),
    };
    if docs.len() != 1 {
        return Err(ObjectFileError::NotOneDocument {
            shown,
            found: docs.len(),
        });
    }
    Ok(docs.remove(0).value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_in(dir: Option<&std::path::Path>, origin: &str) -> TestSource {
        TestSource {
            origin: origin.to_owned(),
            text: String::new(),
            pack_dir: String::new(),
            dir: dir.map(std::path::Path::to_path_buf),
        }
    }

    #[test]
    fn object_file_errors_name_the_file_and_keep_their_cause() {
        let shipped = test_in(None, "embedded:policies/soc2/tests/x.yaml");
        let err = load_object_file(&shipped, "nope.yaml").unwrap_err();
        assert!(
            matches!(&err, ObjectFileError::NotShipped { path, wanted }
                if path == "nope.yaml" && wanted == "policies/soc2/tests/nope.yaml"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "objectFile nope.yaml: policies/soc2/tests/nope.yaml is not among the shipped files"
        );
        let err = load_object_file(&test_in(None, "stdin"), "o.yaml").unwrap_err();
        assert!(matches!(err, ObjectFileError::NoFolder { .. }), "{err:?}");

        let dir = tempfile::tempdir().unwrap();
        let err = load_object_file(&test_in(Some(dir.path()), "t.yaml"), "missing.yaml").unwrap_err();
        assert!(matches!(err, ObjectFileError::Read { .. }), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
        assert!(err.to_string().contains("missing.yaml"), "{err}");

        std::fs::write(dir.path().join("two.yaml"), "a: 1\n---\nb: 2\n").unwrap();
        let err = load_object_file(&test_in(Some(dir.path()), "t.yaml"), "two.yaml").unwrap_err();
        assert!(
            matches!(err, ObjectFileError::NotOneDocument { found: 2, .. }),
            "{err:?}"
        );

        std::fs::write(dir.path().join("bad.yaml"), "a: [1\n").unwrap();
        let err = load_object_file(&test_in(Some(dir.path()), "t.yaml"), "bad.yaml").unwrap_err();
        assert!(matches!(err, ObjectFileError::Parse { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&dir.path().join("bad.yaml").display().to_string()),
            "{err}"
        );
    }
}
