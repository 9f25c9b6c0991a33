//! The shipped packs against the reference implementation's own fixtures for the Kubernetes Pod
//! Security Standards (`tests/fixtures/pss/`, vendored from kubernetes/pod-security-admission,
//! `test/testdata`, version folder v1.37; see its README).
//!
//! Every pod the reference fails at a level must be denied, when labelled for that level, by the
//! celgate rule of that control: `soc2-pss-*` (one rule per control), and the combined gdpr and
//! hipaa rules (their message names the control). Every pod the reference passes must not be
//! denied by any Pod Security rule. A level is labelled the ways an operator labels it: the
//! namespace's `pod-security.kubernetes.io/enforce` label, and for restricted also the data
//! classifications `confidential`, `pii` and `phi`; and each pod is judged as a Pod and inside
//! the pod templates of a `Deployment` and a `CronJob`. Deliberate differences are listed in
//! [`DIFFERENCES`]; a listed case that agrees with the reference fails the test, so the list
//! stays exact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use celgate::documents;
use celgate::engine::{Action, Decision, Engine, Input};
use serde_json::{json, Value};

/// Namespace the fixtures are judged in (not exempt).
const NAMESPACE: &str = "pss-fixtures";

/// Cases where celgate deliberately differs from the reference, as `level/pass|fail/file`.
/// Empty: celgate agrees with the reference on every fixture of v1.37.
const DIFFERENCES: &[&str] = &[];

/// The reference's check id (the fixture file name without its number) and the soc2 rule and
/// the control name (as gdpr and hipaa messages give it) that judge it.
const CHECKS: &[(&str, &str, &str)] = &[
    (
        "allowprivilegeescalation",
        "soc2-pss-privilege-escalation",
        "privilege escalation",
    ),
    ("apparmorprofile", "soc2-pss-apparmor", "AppArmor"),
    ("capabilities_baseline", "soc2-pss-capabilities", "capabilities"),
    (
        "capabilities_restricted",
        "soc2-pss-capabilities-restricted",
        "capabilities (restricted)",
    ),
    ("hostnamespaces", "soc2-pss-host-namespaces", "host namespaces"),
    ("hostpathvolumes", "soc2-pss-host-path", "hostPath volumes"),
    ("hostports", "soc2-pss-host-ports", "host ports"),
    (
        "hostprobesandhostlifecycle",
        "soc2-pss-probe-hosts",
        "probe and lifecycle hosts",
    ),
    ("privileged", "soc2-pss-privileged", "privileged containers"),
    ("procmount", "soc2-pss-proc-mount", "/proc mount type"),
    ("procmount_restricted", "soc2-pss-proc-mount", "/proc mount type"),
    ("restrictedvolumes", "soc2-pss-volume-types", "volume types"),
    ("runasnonroot", "soc2-pss-run-as-non-root", "running as non-root"),
    ("runasuser", "soc2-pss-run-as-user", "running as non-root user"),
    ("seccompprofile_baseline", "soc2-pss-seccomp", "seccomp"),
    (
        "seccompprofile_restricted",
        "soc2-pss-seccomp-restricted",
        "seccomp (restricted)",
    ),
    ("selinuxoptions", "soc2-pss-selinux", "SELinux"),
    ("sysctls", "soc2-pss-sysctls", "sysctls"),
    ("windowshostprocess", "soc2-pss-host-process", "HostProcess"),
];

/// The gdpr and hipaa rules that combine every control of a level.
const COMBINED: &[&str] = &[
    "gdpr-pod-security-baseline",
    "gdpr-pod-security-restricted",
    "hipaa-workload-isolation",
    "hipaa-workload-isolation-container",
];

/// One fixture: its level, whether the reference passes it, its file name and the pod.
struct Fixture {
    level: &'static str,
    passes: bool,
    file: String,
    pod: Value,
}

impl Fixture {
    fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.level,
            if self.passes { "pass" } else { "fail" },
            self.file
        )
    }

    /// The reference's check id: the file name without `.yaml` and its trailing number.
    fn check(&self) -> &str {
        self.file
            .trim_end_matches(".yaml")
            .trim_end_matches(|c: char| c.is_ascii_digit())
    }
}

fn fixtures() -> Vec<Fixture> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pss");
    let mut out = Vec::new();
    for level in ["baseline", "restricted"] {
        for (folder, passes) in [("pass", true), ("fail", false)] {
            let dir: PathBuf = root.join(level).join("v1.37").join(folder);
            let collected = documents::collect(std::slice::from_ref(&dir), &mut std::io::empty());
            assert!(collected.problems.is_empty(), "{}: fixtures must parse", dir.display());
            for doc in collected.documents {
                let file = Path::new(&doc.source)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_owned();
                out.push(Fixture {
                    level,
                    passes,
                    file,
                    pod: doc.value,
                });
            }
        }
    }
    assert!(out.len() > 140, "only {} fixtures", out.len());
    out
}

/// The pod as the `kind` carries it: itself, or its metadata and spec as a pod template.
fn as_kind(pod: &Value, kind: &str, labels: &Value) -> Value {
    let mut meta = pod["metadata"].clone();
    let name = meta["name"].as_str().unwrap_or("pod").replace('_', "-");
    let template = json!({"metadata": {"annotations": meta.get("annotations").cloned().unwrap_or(json!({}))}, "spec": pod["spec"]});
    let metadata = json!({"name": name, "namespace": NAMESPACE, "labels": labels});
    match kind {
        "Pod" => {
            meta["name"] = json!(name);
            meta["namespace"] = json!(NAMESPACE);
            meta["labels"] = labels.clone();
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod["spec"]})
        }
        "Deployment" => json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": template}}),
        _ => json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata,
            "spec": {"schedule": "0 1 * * *", "jobTemplate": {"spec": {"template": template}}}}),
    }
}

/// How a level is labelled: (description, pack, the object's labels, the namespace's labels).
fn labellings(level: &str) -> Vec<(String, &'static str, Value, BTreeMap<String, String>)> {
    let enforce = |l: &str| BTreeMap::from([("pod-security.kubernetes.io/enforce".to_owned(), l.to_owned())]);
    let mut out = vec![(format!("namespace enforce {level}"), "soc2", json!({}), enforce(level))];
    if level == "baseline" {
        out.push((
            "no label (every workload)".to_owned(),
            "soc2",
            json!({}),
            BTreeMap::new(),
        ));
    } else {
        for (pack, cls) in [
            ("soc2", "confidential"),
            ("soc2", "pii"),
            ("gdpr", "pii"),
            ("hipaa", "phi"),
        ] {
            let labels = json!({"compliance.celgate.io/data-classification": cls});
            out.push((format!("{pack}, classification {cls}"), pack, labels, BTreeMap::new()));
        }
    }
    out
}

fn judge(engine: &Engine, object: Value, namespace_labels: BTreeMap<String, String>) -> Decision {
    let mut input = Input::new(object);
    input.namespace = Some(NAMESPACE.to_owned());
    input.namespace_labels = Some(namespace_labels);
    engine.evaluate(&input)
}

fn is_pss_rule(rule: &str) -> bool {
    (rule.contains("-pss-") && !rule.ends_with("-pss-exempted")) || COMBINED.contains(&rule)
}

/// Whether the decision denies the fixture's control: its soc2 rule, or a combined rule whose
/// message names the control.
fn denies_control(decision: &Decision, rule: &str, control: &str) -> bool {
    decision.violations.iter().any(|v| {
        v.action == Action::Deny
            && (v.rule.as_ref() == rule
                || (COMBINED.contains(&v.rule.as_ref()) && v.message.contains(&format!("{control}: "))))
    })
}

#[test]
fn celgate_agrees_with_the_reference_fixtures_per_control() {
    let all = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let engines: BTreeMap<&str, Engine> = ["soc2", "gdpr", "hipaa"]
        .into_iter()
        .map(|p| (p, all.filtered(&[p.to_owned()]).expect("a shipped pack")))
        .collect();
    let mut disagreements: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut judged = 0;
    for fixture in fixtures() {
        let check = fixture.check();
        let known = CHECKS.iter().find(|(id, _, _)| *id == check);
        assert!(
            known.is_some() || (fixture.passes && check.starts_with("base")),
            "{}: no celgate rule for the reference's check {check}",
            fixture.key()
        );
        for (how, pack, labels, namespace_labels) in labellings(fixture.level) {
            for kind in ["Pod", "Deployment", "CronJob"] {
                let object = as_kind(&fixture.pod, kind, &labels);
                let decision = judge(&engines[pack], object, namespace_labels.clone());
                judged += 1;
                let wrong = if fixture.passes {
                    let denied: Vec<String> = decision
                        .violations
                        .iter()
                        .filter(|v| v.action == Action::Deny && is_pss_rule(&v.rule))
                        .map(|v| format!("{}: {}", v.rule, v.message))
                        .collect();
                    (!denied.is_empty()).then(|| format!("denied ({denied:?})"))
                } else {
                    let (_, rule, control) = known.expect("checked above");
                    (!denies_control(&decision, rule, control)).then(|| format!("not denied by {rule} / \"{control}\""))
                };
                if let Some(wrong) = wrong {
                    disagreements
                        .entry(fixture.key())
                        .or_default()
                        .push(format!("{kind}, {how}: {wrong}"));
                }
            }
        }
    }
    assert!(judged > 1000, "only {judged} judgements");
    let unlisted: Vec<String> = disagreements
        .iter()
        .filter(|(key, _)| !DIFFERENCES.contains(&key.as_str()))
        .map(|(key, why)| format!("{key}:\n    {}", why.join("\n    ")))
        .collect();
    assert!(
        unlisted.is_empty(),
        "{} fixture(s) judged unlike the reference:\n{}",
        unlisted.len(),
        unlisted.join("\n")
    );
    let agreeing: Vec<&&str> = DIFFERENCES
        .iter()
        .filter(|d| !disagreements.contains_key(**d))
        .collect();
    assert!(agreeing.is_empty(), "listed differences that now agree: {agreeing:?}");
}

/// The Pod Security variables (`pss*`), as written in one pack.
fn pss_block(pack: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("policies/{pack}/pack.yaml"));
    let text = std::fs::read_to_string(&path).expect("a readable pack");
    let start = text
        .find("    # ---------------------------------------------------------------- Pod Security Standards")
        .unwrap_or_else(|| panic!("{pack}: no Pod Security block"));
    let rest = &text[start..];
    let end = rest
        .find("    - name: pssExemptedBy")
        .and_then(|at| {
            let after = &rest[at + 1..];
            ["\n    - name: ", "\n    # ", "\n  rules:"]
                .iter()
                .filter_map(|m| after.find(m))
                .min()
                .map(|e| at + 1 + e)
        })
        .unwrap_or_else(|| panic!("{pack}: the block does not end"));
    rest[..end].to_owned()
}

#[test]
fn the_pod_security_variables_are_the_same_in_every_pack() {
    let soc2 = pss_block("soc2");
    assert!(soc2.contains("name: pssFindings"));
    for pack in ["gdpr", "hipaa"] {
        assert_eq!(
            pss_block(pack),
            soc2,
            "{pack}'s Pod Security variables differ from soc2's"
        );
    }
}

/// A node agent in `kube-system` (params.podSecurityExemptNamespaces) or in a namespace labelled
/// `privileged`: each pack admits it and records what the exemption let through, at audit,
/// naming the exemption, the control and the field; the controls no node agent needs still deny.
#[test]
fn exemptions_are_reported_at_audit_and_cover_only_node_access() {
    let all = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let agent = |namespace: &str, sysctl: bool| {
        let mut spec = json!({"hostNetwork": true, "containers": [{"name": "agent", "image": "registry.example.com/a:1",
            "securityContext": {"privileged": true}}]});
        if sysctl {
            spec["securityContext"] = json!({"sysctls": [{"name": "kernel.msgmax", "value": "1"}]});
        }
        json!({"apiVersion": "v1", "kind": "Pod", "spec": spec, "metadata": {"name": "agent", "namespace": namespace,
            "labels": {"compliance.celgate.io/data-classification": "phi"}}})
    };
    let cases = [
        (
            "kube-system",
            BTreeMap::new(),
            "namespace kube-system is in params.podSecurityExemptNamespaces",
        ),
        (
            "logging",
            BTreeMap::from([("pod-security.kubernetes.io/enforce".to_owned(), "privileged".to_owned())]),
            "namespace logging is labelled pod-security.kubernetes.io/enforce: privileged",
        ),
    ];
    for pack in ["soc2", "gdpr", "hipaa"] {
        let engine = all.filtered(&[pack.to_owned()]).expect("a shipped pack");
        for (namespace, labels, why) in &cases {
            let mut input = Input::new(agent(namespace, false));
            input.namespace = Some((*namespace).to_owned());
            input.namespace_labels = Some(labels.clone());
            let decision = engine.evaluate(&input);
            let exempted: Vec<_> = decision
                .violations
                .iter()
                .filter(|v| v.rule.as_ref() == format!("{pack}-pss-exempted"))
                .collect();
            assert_eq!(exempted.len(), 1, "{pack} {namespace}: {:?}", decision.violations);
            let v = exempted[0];
            assert_eq!(v.action, Action::Audit);
            assert_eq!(v.pointer, "/spec/hostNetwork");
            for part in [
                format!("exempted: {why}: "),
                "host namespaces: hostNetwork: true at /spec/hostNetwork".to_owned(),
                "privileged containers: container agent sets privileged: true at /spec/containers/0/securityContext/privileged"
                    .to_owned(),
            ] {
                assert!(v.message.contains(&part), "{pack} {namespace}: {}", v.message);
            }
            let denied: Vec<&str> = decision
                .violations
                .iter()
                .filter(|v| v.action == Action::Deny && is_pss_rule(&v.rule) && v.message.contains("privileged: true"))
                .map(|v| v.rule.as_ref())
                .collect();
            assert!(denied.is_empty(), "{pack} {namespace}: denied by {denied:?}");
        }
        // In kube-system an unsafe sysctl is still denied: no node agent needs it.
        let mut input = Input::new(agent("kube-system", true));
        input.namespace = Some("kube-system".to_owned());
        let decision = engine.evaluate(&input);
        assert!(
            decision
                .violations
                .iter()
                .any(|v| v.action == Action::Deny && is_pss_rule(&v.rule) && v.message.contains("kernel.msgmax")),
            "{pack}: {:?}",
            decision.violations
        );
    }
}
