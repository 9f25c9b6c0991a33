//! `check --format sarif` on real inputs: the log's shape checked here in Rust (always), and the
//! whole log run through Microsoft's SARIF validator (`@microsoft/sarif-multitool`), which must
//! report no error and no warning.
//!
//! The validator is the npm package `.ci/run` installs into `target/sarif-validator` (pinned by
//! `.ci/sarif-validator/package-lock.json`); `.ci/run` exports its path as
//! `CELGATE_SARIF_MULTITOOL`. With that variable set the validator must run, and a missing or
//! failing validator fails the test. Without it the test looks for the repo-local install, and
//! when there is none it says so on stderr and checks the shape only.
//!
//! The validator's rule SARIF2006 (`UrisShouldBeReachable`, a note) fetches every URI in the log
//! over HTTP; tests stay off the network, so `tests/fixtures/sarif/validator-config.xml` disables
//! it, and the one configuration notice that causes (WRN999 naming SARIF2006) is expected.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One `celgate check --format sarif` run: a name, its arguments and what it reads on stdin.
struct Case {
    name: &'static str,
    args: Vec<String>,
    stdin: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    let owned = |args: &[&str]| args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    let absolute = manifest_dir().join("examples/noncompliant/patient-records.yaml");
    vec![
        // The shipped packs on the examples, one of which is not a Kubernetes object (a
        // notification); relative paths.
        Case {
            name: "examples",
            args: owned(&["examples/"]),
            stdin: None,
        },
        // Real manifests from public projects: many rules, many results.
        Case {
            name: "real",
            args: owned(&["tests/fixtures/real"]),
            stdin: None,
        },
        // An absolute path becomes a file: URI.
        Case {
            name: "absolute",
            args: vec![absolute.to_string_lossy().into_owned()],
            stdin: None,
        },
        // stdin.
        Case {
            name: "stdin",
            args: owned(&["-"]),
            stdin: Some("examples/noncompliant/patient-records.yaml"),
        },
        // Deny, warn, audit and patch findings from the fixture pack.
        Case {
            name: "fixture-pack",
            args: owned(&[
                "--packs",
                "tests/fixtures/packs/basic",
                "tests/fixtures/manifests/deployment.yaml",
            ]),
            stdin: None,
        },
        // An admission policy's evaluation error (rule id `fail-closed[0]`).
        Case {
            name: "policy-error",
            args: owned(&[
                "--packs",
                "tests/fixtures/vap/failure",
                "--framework",
                "fail-closed",
                "tests/fixtures/vap/inputs/audit.yaml",
            ]),
            stdin: None,
        },
    ]
}

/// The SARIF log `celgate check --format sarif` writes for `case`.
fn sarif_of(case: &Case) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_celgate"));
    command
        .current_dir(manifest_dir())
        .args(["check", "--format", "sarif", "--color", "never"])
        .args(&case.args)
        .env_remove("CELGATE_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("celgate runs");
    let input = case
        .stdin
        .map(|path| std::fs::read(manifest_dir().join(path)).expect("stdin fixture"))
        .unwrap_or_default();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("celgate finishes");
    let code = out.status.code();
    assert!(
        matches!(code, Some(0..=2)),
        "{}: exit {code:?}: {}",
        case.name,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: SARIF output is not JSON ({e}): {}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {value}"))
}

fn index(value: &Value, what: &str) -> usize {
    value
        .as_u64()
        .and_then(|i| usize::try_from(i).ok())
        .unwrap_or_else(|| panic!("{what}: not an index: {value}"))
}

fn is_pascal_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase()) && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// What the validator would complain about, and what GitHub needs: checked on every log.
fn assert_shape(name: &str, log: &Value) {
    assert_eq!(log["version"], "2.1.0", "{name}");
    let runs = log["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "{name}");
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "celgate", "{name}");
    let uri = text(&driver["informationUri"], "informationUri");
    assert!(uri.starts_with("https://"), "{name}: informationUri {uri}");

    let rules = driver["rules"].as_array().expect("rules");
    let mut ids = BTreeSet::new();
    let mut names = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let id = text(&rule["id"], "rule id");
        let friendly = text(&rule["name"], "rule name");
        assert!(ids.insert(id), "{name}: rule id {id} listed twice");
        assert!(names.insert(friendly), "{name}: rule name {friendly} listed twice");
        assert_ne!(id, friendly, "{name}: rules[{i}] name equals its id");
        assert!(
            is_pascal_case(friendly),
            "{name}: rules[{i}] name {friendly} is not PascalCase"
        );
        for field in ["shortDescription", "fullDescription", "help"] {
            let t = text(&rule[field]["text"], field);
            assert!(!t.trim().is_empty(), "{name}: rules[{i}].{field} is empty");
        }
        assert!(
            matches!(
                rule["defaultConfiguration"]["level"].as_str(),
                Some("error" | "warning" | "note")
            ),
            "{name}: rules[{i}] level"
        );
    }

    let results = run["results"].as_array().expect("results");
    for (i, result) in results.iter().enumerate() {
        let rule_index = index(&result["ruleIndex"], "ruleIndex");
        let rule = rules
            .get(rule_index)
            .unwrap_or_else(|| panic!("{name}: results[{i}].ruleIndex {rule_index} out of range"));
        assert_eq!(rule["id"], result["ruleId"], "{name}: results[{i}]");
        assert!(
            matches!(result["level"].as_str(), Some("error" | "warning" | "note")),
            "{name}: results[{i}] level"
        );
        let message = text(&result["message"]["text"], "message");
        // The rule's why and fix are in the message as in the rule's help.
        let help = text(&rule["help"]["text"], "help");
        assert!(
            message.ends_with(help),
            "{name}: results[{i}] message {message:?} lacks {help:?}"
        );
        let locations = result["locations"].as_array().expect("locations");
        assert!(!locations.is_empty(), "{name}: results[{i}] has no location");
        for location in locations {
            let physical = &location["physicalLocation"];
            assert!(!text(&physical["artifactLocation"]["uri"], "uri").is_empty());
            let region = &physical["region"];
            assert!(index(&region["startLine"], "startLine") >= 1, "{name}: results[{i}]");
            assert!(
                index(&region["startColumn"], "startColumn") >= 1,
                "{name}: results[{i}]"
            );
        }
    }
}

#[test]
fn sarif_logs_have_the_shape_viewers_need() {
    let mut with_rationale = 0;
    for case in cases() {
        let log = sarif_of(&case);
        assert_shape(case.name, &log);
        let run = &log["runs"][0];
        if case.name != "policy-error" {
            assert!(
                !run["results"].as_array().expect("results").is_empty(),
                "{}: no result",
                case.name
            );
        }
        with_rationale += run["tool"]["driver"]["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .filter(|r| r["help"]["text"].as_str().is_some_and(|t| t.starts_with("Why: ")))
            .count();
    }
    assert!(with_rationale > 0, "no rule shows a rationale");
}

/// The validator's path: `CELGATE_SARIF_MULTITOOL` (then required), else the install `.ci/run`
/// leaves in `target/sarif-validator`, else `None`.
fn validator() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CELGATE_SARIF_MULTITOOL") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "CELGATE_SARIF_MULTITOOL={} is not a file: the SARIF validator is required",
            path.display()
        );
        return Some(path);
    }
    let platform = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    };
    let executable = if cfg!(windows) {
        "Sarif.Multitool.exe"
    } else {
        "Sarif.Multitool"
    };
    let local = manifest_dir()
        .join("target/sarif-validator/node_modules/@microsoft")
        .join(format!("sarif-multitool-{platform}"))
        .join(executable);
    if local.is_file() {
        return Some(local);
    }
    eprintln!(
        "WARNING: skipping Microsoft's SARIF validator: CELGATE_SARIF_MULTITOOL is not set and {} \
         does not exist (.ci/run installs it; setting the variable makes a missing validator a failure)",
        local.display()
    );
    None
}

/// The validator's findings (`ruleId`, file name) at its default levels (error and warning), and
/// the configuration notices of its run.
fn validate(multitool: &Path, files: &[PathBuf], dir: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let output = dir.join("validation.sarif");
    let out = Command::new(multitool)
        .arg("validate")
        .args(files)
        .arg("--config")
        .arg(manifest_dir().join("tests/fixtures/sarif/validator-config.xml"))
        .arg("--output")
        .arg(&output)
        .args(["--log", "ForceOverwrite"])
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
        .output()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", multitool.display()));
    assert!(
        out.status.success(),
        "the SARIF validator failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log: Value =
        serde_json::from_slice(&std::fs::read(&output).expect("validator output")).expect("validator output is JSON");
    let run = &log["runs"][0];
    let invocation = &run["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], true, "{invocation}");
    assert!(
        invocation["toolExecutionNotifications"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{invocation}"
    );
    let notices = invocation["toolConfigurationNotifications"]
        .as_array()
        .map(|n| {
            n.iter()
                .map(|x| format!("{}: {}", x["descriptor"]["id"], x["message"]["text"]))
                .collect()
        })
        .unwrap_or_default();
    let findings = run["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap_or_default();
            let file = uri.rsplit('/').next().unwrap_or_default().to_owned();
            (r["ruleId"].as_str().unwrap_or_default().to_owned(), file)
        })
        .collect();
    (findings, notices)
}

#[test]
fn microsofts_validator_finds_nothing() {
    let Some(multitool) = validator() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    let mut broken = None;
    for case in cases() {
        let log = sarif_of(&case);
        let path = dir.path().join(format!("{}.sarif", case.name));
        std::fs::write(&path, serde_json::to_string_pretty(&log).expect("JSON")).expect("write");
        files.push(path);
        if case.name == "fixture-pack" {
            broken = Some(log);
        }
    }
    // The validator itself at work: the mistakes this test guards against are found.
    let mut broken = broken.expect("fixture-pack log");
    let driver = &mut broken["runs"][0]["tool"]["driver"];
    driver["rules"][0]["name"] = driver["rules"][0]["id"].clone();
    driver.as_object_mut().expect("driver").remove("informationUri");
    let broken_path = dir.path().join("broken.sarif");
    std::fs::write(&broken_path, serde_json::to_string_pretty(&broken).expect("JSON")).expect("write");
    files.push(broken_path);

    let (mut findings, notices) = validate(&multitool, &files, dir.path());
    let on_broken: BTreeSet<String> = findings
        .iter()
        .filter(|(_, file)| file == "broken.sarif")
        .map(|(rule, _)| rule.clone())
        .collect();
    assert_eq!(
        on_broken,
        BTreeSet::from(["SARIF1001".to_owned(), "SARIF2005".to_owned()]),
        "the validator did not find the planted mistakes: {findings:?}"
    );
    findings.retain(|(_, file)| file != "broken.sarif");
    assert!(findings.is_empty(), "the SARIF validator reports: {findings:?}");
    assert!(
        notices.iter().all(|n| n.contains("WRN999") && n.contains("SARIF2006")),
        "unexpected configuration notices: {notices:?}"
    );
}
