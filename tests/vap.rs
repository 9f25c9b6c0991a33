//! Kubernetes admission policies run unchanged: the documentation's `ValidatingAdmissionPolicy`
//! examples (and a `MutatingAdmissionPolicy`) against objects with known outcomes, through
//! `celgate check` as a process and through the library; load errors naming file and field.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use rstest::rstest;
use serde_json::{json, Value};

use celgate::engine::{Action, Engine, FindingType, Input, Verdict};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vap")
}

fn engine(pack: &str) -> Engine {
    let found = celgate::packs::from_paths(&[fixtures().join(pack)]).expect("readable");
    Engine::load(&found.packs).unwrap_or_else(|e| panic!("{pack} loads: {e}"))
}

/// Runs `celgate check --format json` and returns (exit code, records).
fn check(args: &[&str]) -> (i32, Vec<Value>) {
    let out = Command::cargo_bin("celgate")
        .expect("binary")
        .current_dir(fixtures())
        .args(["check", "--format", "json", "--color", "never"])
        .args(args)
        .output()
        .expect("runs");
    let records: Vec<Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON output ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), records)
}

/// `name: decision [rules...]` for every non-Namespace record, in input order.
fn outcomes(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r["kind"] != "Namespace")
        .map(|r| {
            let rules: Vec<String> = r["violations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| {
                    format!(
                        "{}:{}",
                        v["rule"].as_str().unwrap_or(""),
                        v["action"].as_str().unwrap_or("")
                    )
                })
                .collect();
            format!(
                "{}: {} {rules:?}",
                r["name"].as_str().unwrap_or(""),
                r["decision"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[rstest]
#[case::replicas_with_namespace_selector(
    &["--packs", "demo", "inputs/demo.yaml"], 1,
    &["too-many: deny [\"demo-policy.example.com[0]:deny\"]", "few: allow []", "many-in-prod: allow []"]
)]
#[case::replicalimit_params_per_binding(
    &["--packs", "replicalimit", "--params", "inputs/replica-limits.yaml", "inputs/demo.yaml"], 1,
    &["too-many: deny [\"replicalimit-policy.example.com[0]:deny\"]", "few: allow []", "many-in-prod: allow []"]
)]
#[case::configmap_params_per_namespace(
    &["--packs", "configmap", "inputs/configmap.yaml"], 1,
    &["api: deny [\"replicalimit-configmap[0]:deny\"]", "api: allow []"]
)]
#[case::match_conditions(
    &["--packs", "conditions", "inputs/conditions.yaml"], 1,
    &["demo-settings: deny [\"demo-conditions.example.com[0]:deny\"]", "demo-settings: allow []", "demo-lease: allow []", "demo-role: allow []"]
)]
#[case::variables_and_namespace_object(
    &["--packs", "variables", "inputs/variables.yaml"], 1,
    &["good: allow []", "bad: deny [\"image-matches-namespace-environment.policy.example.com[0]:deny\"]", "exempt: allow []"]
)]
#[case::warn_and_audit_admit(
    &["--packs", "audit", "inputs/audit.yaml"], 0,
    &["big: allow [\"demo-audit.example.com[0]:warn\", \"demo-audit.example.com[0]:audit\"]"]
)]
#[case::failure_policy_fail_denies(
    &["--packs", "failure", "--framework", "fail-closed", "inputs/audit.yaml"], 1,
    &["big: deny [\"fail-closed[0]:deny\"]"]
)]
#[case::failure_policy_ignore_admits(
    &["--packs", "failure", "--framework", "fail-open", "inputs/audit.yaml"], 0,
    &["big: allow [\"fail-open[0]:audit\"]"]
)]
#[case::param_not_found_allow(
    &["--packs", "params-not-found", "--framework", "needs-limit-allow", "inputs/audit.yaml"], 0,
    &["big: allow []"]
)]
#[case::param_not_found_deny(
    &["--packs", "params-not-found", "--framework", "needs-limit-deny", "inputs/audit.yaml"], 1,
    &["big: deny [\"needs-limit-deny:deny\"]"]
)]
#[case::mutating_json_patch(
    &["--packs", "mutating", "inputs/pod.yaml"], 0,
    &["app: patch [\"sidecar-policy.example.com[0]:patch\", \"sidecar-policy.example.com[1]:patch\"]"]
)]
#[case::policies_bindings_and_params_in_lists(
    &["--packs", "list", "inputs/audit.yaml"], 1,
    &["big: deny [\"list-replica-limit.example.com[0]:deny\", \"list-team-label.example.com[0]:deny\"]"]
)]
#[case::mutating_policy_v1(
    &["--packs", "mutating-v1", "inputs/pod.yaml"], 0,
    &["app: patch [\"team-label.example.com[0]:patch\"]"]
)]
fn documentation_examples_through_check(#[case] args: &[&str], #[case] exit: i32, #[case] expected: &[&str]) {
    let (code, records) = check(args);
    assert_eq!(outcomes(&records), expected, "{records:#?}");
    assert_eq!(code, exit);
}

#[test]
fn deny_explanation_names_policy_binding_and_reason_code() {
    let (_, records) = check(&[
        "--packs",
        "replicalimit",
        "--params",
        "inputs/replica-limits.yaml",
        "inputs/demo.yaml",
    ]);
    let v = &records[2]["violations"][0];
    assert_eq!(v["pack"], "replicalimit-policy.example.com");
    assert_eq!(
        v["title"],
        "ValidatingAdmissionPolicy 'replicalimit-policy.example.com' with binding 'replicalimit-binding-test.example.com'"
    );
    assert_eq!(v["message"], "object.spec.replicas must be no greater than 3");
    assert_eq!(v["statusCode"], 422);
}

#[test]
fn params_are_required_when_the_binding_asks_for_them() {
    // Without --params the test binding finds no ReplicaLimit and says Deny, and what it sought.
    let (code, records) = check(&["--packs", "replicalimit", "inputs/demo.yaml"]);
    assert_eq!(code, 1);
    let few = &records[3];
    assert_eq!(few["decision"], "deny");
    assert_eq!(
        few["violations"][0]["message"],
        "no ReplicaLimit params found for policy binding with `Deny` parameterNotFoundAction: \
         looked for rules.example.com/v1 ReplicaLimit named 'replica-limit-test.example.com' in namespace 'default'; \
         loaded ReplicaLimit objects: none",
        "{few:#}"
    );
}

#[test]
fn params_without_namespace_are_in_default() {
    let (code, records) = check(&[
        "--packs",
        "default-namespace",
        "--params",
        "inputs/limit-without-namespace.yaml",
        "inputs/default-namespace.yaml",
    ]);
    assert_eq!(
        outcomes(&records),
        [
            "in-default: deny [\"configmap-limit.example.com[0]:deny\", \"pinned-limit.example.com[0]:deny\"]",
            // A Deployment without a namespace is in default too.
            "no-namespace: deny [\"pinned-limit.example.com[0]:deny\"]",
            "in-prod: deny [\"configmap-limit.example.com:deny\"]",
        ],
        "{records:#?}"
    );
    assert_eq!(code, 1);
    assert_eq!(
        records[2]["violations"][0]["message"],
        "no ConfigMap params found for policy binding with `Deny` parameterNotFoundAction: \
         looked for v1 ConfigMap named 'replica-limit' in namespace 'prod'; loaded ConfigMap objects: default/replica-limit"
    );
}

#[test]
fn defaults_the_apiserver_fills_in_are_absent_as_documented() {
    let (code, records) = check(&["--packs", "defaults", "inputs/no-replicas.yaml"]);
    assert_eq!(code, 1);
    // Without spec.replicas the plain comparison is an evaluation error (fails closed); the
    // optional one reads the default the apiserver would have set. Both judge 6 replicas.
    assert_eq!(
        outcomes(&records),
        [
            "no-replicas: deny [\"replicas-as-sent[0]:deny\"]",
            "six-replicas: deny [\"replicas-as-sent[0]:deny\", \"replicas-defaulted[0]:deny\"]",
        ],
        "{records:#?}"
    );
    let as_sent = &records[0]["violations"][0];
    assert_eq!(as_sent["type"], "evaluation-error", "{as_sent:#}");
    assert!(
        as_sent["message"]
            .as_str()
            .is_some_and(|m| m.contains("`object.spec.replicas`: no such key: replicas")),
        "{as_sent:#}"
    );
    // docs/vap.md explains this with the same two expressions.
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/vap.md")).expect("docs");
    for expression in ["`object.spec.replicas <= 5`", "`object.spec.?replicas.orValue(1) <= 5`"] {
        assert!(docs.contains(expression), "docs/vap.md does not quote {expression}");
    }
}

#[test]
fn audit_annotations_and_warnings_reach_the_decision() {
    let e = engine("audit");
    let d = e.evaluate(&Input::new(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "big", "namespace": "default"}, "spec": {"replicas": 60}
    })));
    assert_eq!(d.decision, Verdict::Allow);
    assert_eq!(
        d.audit_annotations
            .get("demo-audit.example.com/high-replica-count")
            .map(String::as_str),
        Some("Deployment spec.replicas set to 60")
    );
    assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    assert!(d.warnings[0].contains("Deployment spec.replicas set to 60"));
    let small = e.evaluate(&Input::new(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "small", "namespace": "default"}, "spec": {"replicas": 2}
    })));
    assert!(small.audit_annotations.is_empty() && small.violations.is_empty());
}

#[test]
fn mutation_produces_the_expected_patch_and_converges() {
    let e = engine("mutating");
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {
            "initContainers": [{"name": "setup", "image": "setup:1"}],
            "containers": [{"name": "app", "image": "app:1"}]
        }
    });
    let d = e.evaluate(&Input::new(pod.clone()));
    assert_eq!(d.decision, Verdict::Patch);
    assert_eq!(
        serde_json::to_value(d.json_patch()).expect("a patch serialises"),
        json!([
            {"op": "add", "path": "/spec/initContainers/-",
             "value": {"name": "mesh-proxy", "image": "mesh-proxy/v1.0.0", "restartPolicy": "Always"}},
            {"op": "add", "path": "/metadata/labels", "value": {}},
            {"op": "add", "path": "/metadata/labels/mesh.example.com~1injected", "value": "true"}
        ])
    );
    // The mutated pod is left alone: the match condition no longer holds, the label is there.
    let patched = d.patched_object.expect("patched object");
    let again = e.evaluate(&Input::new(patched));
    assert_eq!(again.decision, Verdict::Allow, "{:?}", again.violations);
    // A pod without initContainers makes the match condition fail: failurePolicy Fail denies. So
    // does `initContainers: []`, which the API server never sends (an empty optional list is
    // omitted), and which celgate therefore judges as absent.
    let mut empty = pod.clone();
    empty["spec"]["initContainers"] = json!([]);
    assert_eq!(e.evaluate(&Input::new(empty)).decision, Verdict::Deny);
    let mut bare = pod;
    bare["spec"].as_object_mut().expect("spec").remove("initContainers");
    let d = e.evaluate(&Input::new(bare));
    assert_eq!(d.decision, Verdict::Deny);
    assert_eq!(d.violations[0].finding, FindingType::EvaluationError);
    assert!(d.violations[0]
        .message
        .contains("matchCondition 'does-not-already-have-sidecar'"));
    // A failure of the policy as a whole is the policy's finding, in the policy's pack.
    assert_eq!(&*d.violations[0].rule, "sidecar-policy.example.com");
    assert_eq!(*d.violations[0].pack, *e.packs()[0].metadata.name);
}

#[test]
fn a_policy_without_binding_does_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(fixtures().join("demo/policy.yaml")).expect("fixture");
    let policy_only = text.split("\n---\n").next().expect("first document");
    std::fs::write(dir.path().join("p.yaml"), policy_only).expect("write");
    let found = celgate::packs::from_paths(&[dir.path().to_path_buf()]).expect("readable");
    let e = Engine::load(&found.packs).expect("loads");
    let mut input = Input::new(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "test"}, "spec": {"replicas": 50}
    }));
    input.namespace_labels = Some([("environment".to_owned(), "test".to_owned())].into());
    assert_eq!(e.evaluate(&input).decision, Verdict::Allow);
}

#[test]
fn params_given_to_the_library() {
    let e = engine("replicalimit")
        .with_param_objects(vec![(
            "inline".to_owned(),
            json!({"apiVersion": "rules.example.com/v1", "kind": "ReplicaLimit",
                   "metadata": {"name": "replica-limit-prod.example.com", "namespace": "default"}, "maxReplicas": 1}),
        )])
        .expect("valid params");
    let mut input = Input::new(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "prod"}, "spec": {"replicas": 2}
    }));
    input.namespace_labels = Some([("environment".to_owned(), "prod".to_owned())].into());
    let d = e.evaluate(&input);
    assert_eq!(d.decision, Verdict::Deny);
    assert_eq!(d.violations[0].action, Action::Deny);
    assert_eq!(
        d.violations[0].message,
        "object.spec.replicas must be no greater than 1"
    );
    assert_eq!(d.violations[0].reason, Some(celgate::engine::StatusReason::Invalid));
    assert_eq!(
        d.violations[0].reason.map(celgate::engine::StatusReason::code),
        Some(422)
    );
    let bad = engine("replicalimit").with_param_objects(vec![("f.yaml#0".to_owned(), json!({"kind": "ReplicaLimit"}))]);
    assert!(bad.is_err());
}

#[rstest]
#[case("unknown-field.yaml", &["unknown-field.yaml:10:", "spec.validations[0].expresion", "unknown field"])]
#[case("bad-cel.yaml", &["bad-cel.yaml:10:", "ValidatingAdmissionPolicy 'bad-cel'", "spec.validations[0].expression", "line 1, column 26"])]
#[case("unknown-policy.yaml", &["unknown-policy.yaml:6:", "'orphan'", "spec.policyName", "no-such-policy"])]
#[case("paramref-without-paramkind.yaml", &["paramref-without-paramkind.yaml:19:", "'plain-binding'", "spec.paramRef", "declares no paramKind"])]
#[case("authorizer.yaml", &["authorizer.yaml:10:", "spec.validations[0].expression", "`authorizer`"])]
#[case("deny-and-warn.yaml", &["deny-and-warn.yaml:18:", "spec.validationActions", "Deny and Warn"])]
#[case("mutating-v1-unknown-field.yaml", &["mutating-v1-unknown-field.yaml:12:", "spec.mutations[0].jsonPatch.expresion", "unknown field"])]
#[case("list-items.yaml", &["list-items.yaml:13:", "spec.validations[0].expresion", "list-items.yaml:14: apiVersion is 'apps/v1'; expected 'celgate.io/v1'"])]
#[case("wrong-version.yaml", &["wrong-version.yaml:1:", "apiVersion", "admissionregistration.k8s.io/v2"])]
fn load_errors_name_file_and_field(#[case] file: &str, #[case] expected: &[&str]) {
    let found = celgate::packs::from_paths(&[fixtures().join("bad").join(file)]).expect("readable");
    let err = Engine::load(&found.packs).expect_err("refused").to_string();
    for part in expected {
        assert!(err.contains(part), "{part:?} not in: {err}");
    }
}

#[test]
fn load_error_exits_2_through_check() {
    let out = Command::cargo_bin("celgate")
        .expect("binary")
        .current_dir(fixtures())
        .args(["check", "--packs", "bad/unknown-policy.yaml", "inputs/pod.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.policyName"));
}

#[test]
fn celgate_test_runs_cases_next_to_a_policy() {
    let out = Command::cargo_bin("celgate")
        .expect("binary")
        .current_dir(fixtures())
        .args(["test", "demo"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("4 passed, 0 failed"), "{stdout}");
    assert_eq!(out.status.code(), Some(0));
}
