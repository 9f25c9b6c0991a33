//! No shipped rule returns an evaluation error on a valid object (#13): a property test that
//! generates objects of every kind the shipped packs match — valid against the Kubernetes schema
//! (`data/kubernetes/builtin-kinds.json`) or, for the custom resources, against
//! `tests/fixtures/crd-kinds/schema.json` — with every optional field randomly absent, `null`,
//! empty (`[]`, `{}`, `""`) or filled, under random classifications (on the object, the pod
//! template and the namespace, with the bare and the prefixed label key), environments and
//! operations, and judges each with the shipped packs.
//!
//! Strings stay short (< 64 bytes) so that the run-time cost estimate, which follows the longest
//! string of a document, never refuses a rule here: this test is about what rules do with the
//! shapes of valid objects.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};

use celgate::engine::facts::builtin::{FieldType, Schema, Struct};
use celgate::engine::{Engine, FindingType, Input, Operation};
use celgate::packs;

/// Seeds per run, and objects generated from each seed (one of every kind).
const CASES: u32 = 400;

/// Built-in kinds by the name the packs' `match.kinds` use, with the version generated.
const BUILTIN: &[(&str, &str)] = &[
    ("Pod", "v1"),
    ("ReplicationController", "v1"),
    ("Namespace", "v1"),
    ("Service", "v1"),
    ("ServiceAccount", "v1"),
    ("ConfigMap", "v1"),
    ("Secret", "v1"),
    ("PersistentVolumeClaim", "v1"),
    ("PersistentVolume", "v1"),
    ("Deployment", "apps/v1"),
    ("DaemonSet", "apps/v1"),
    ("ReplicaSet", "apps/v1"),
    ("StatefulSet", "apps/v1"),
    ("Job", "batch/v1"),
    ("CronJob", "batch/v1"),
    ("StorageClass", "storage.k8s.io/v1"),
    ("Ingress", "networking.k8s.io/v1"),
    ("NetworkPolicy", "networking.k8s.io/v1"),
    ("Role", "rbac.authorization.k8s.io/v1"),
    ("ClusterRole", "rbac.authorization.k8s.io/v1"),
    ("RoleBinding", "rbac.authorization.k8s.io/v1"),
    ("ClusterRoleBinding", "rbac.authorization.k8s.io/v1"),
];

const CLASSIFICATIONS: &[&str] = &["public", "internal", "confidential", "pii", "phi", "PHI", "other", ""];
const CLASSIFICATION_KEYS: &[&str] = &["data-classification", "compliance.celgate.io/data-classification"];
const ENVIRONMENTS: &[&str] = &["production", "prod", "staging", "dev", ""];
const ENVIRONMENT_KEYS: &[&str] = &["environment", "compliance.celgate.io/environment"];
const ANNOTATION_KEYS: &[&str] = &[
    "compliance.celgate.io/change-ref",
    "compliance.celgate.io/disposal-procedure-ref",
    "compliance.celgate.io/exposure",
    "compliance.celgate.io/needs-api-token",
    "compliance.celgate.io/processing-purpose",
    "compliance.celgate.io/ropa-ref",
    "compliance.celgate.io/transfer-mechanism",
    "compliance.celgate.io/transfer-ref",
    "nginx.ingress.kubernetes.io/ssl-redirect",
    "service.beta.kubernetes.io/aws-load-balancer-internal",
    "pod-security.kubernetes.io/enforce",
    "pod-security.kubernetes.io/warn",
    "app",
];

/// Strings any string field may get: values the packs compare with, and plain ones.
const STRINGS: &[&str] = &[
    "",
    "a",
    "web-1",
    "true",
    "false",
    "public",
    "internal",
    "production",
    "phi",
    "pii",
    "nginx",
    "nginx:latest",
    "registry.example.com/app:1.2.3",
    "docker.io/library/redis@sha256:0123456789abcdef",
    "*",
    "0.0.0.0/0",
    "10.0.0.0/8",
    "::/0",
    "cluster-admin",
    "system:masters",
    "system:authenticated",
    "https://example.com/x",
    "http://example.com",
    "example.com",
    "*.example.com",
    "/",
    "/var/run/docker.sock",
    "/etc",
    "ALL",
    "NET_ADMIN",
    "SYS_ADMIN",
    "RuntimeDefault",
    "Unconfined",
    "Localhost",
    "TCP",
    "Always",
    "IfNotPresent",
    "ReadWriteOnce",
    "ReadWriteMany",
    "encrypted-gp3",
    "gp2",
    "30s",
    "1h30m",
    "400d",
    "8d",
    "0",
    "-1",
    "1.2",
    "1.3",
    "@daily",
    "0 3 * * *",
    "eu-west-1",
    "us-east-1",
    "AES-256-GCM",
    "arn:aws:kms:eu-west-1:123456789012:key/abc",
    "hsm:key1",
    "namespace",
    "vpc",
    "oidc",
    "saml",
    "https",
    "http",
    "critical",
    "warning",
    "info",
    "up == 0",
    "rate(http_requests_total[5m]) > 1",
    "sum(",
    "job:up:sum",
    "HighLatency",
    "otlp/tempo",
    "zipkin",
    "collector:4317",
    "$__env{GF_ADMIN}",
    "hunter2",
    "https://hooks.slack.com/services/T0/B0/x",
    "#alerts",
    "tcp",
    "grpc",
    "=~",
    "!=",
    "User",
    "Group",
    "ServiceAccount",
    "rbac.authorization.k8s.io",
    "secrets",
    "pods/exec",
    "get",
    "create",
    "LoadBalancer",
    "NodePort",
    "ClusterIP",
    "ExternalName",
    "Ingress",
    "Egress",
    "Retain",
    "Delete",
    "kube-system",
    "default",
    "DB_PASSWORD",
    "API_TOKEN",
    "password",
    "aws_secret_access_key",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
    "-----BEGIN PRIVATE KEY-----",
];

/// A small deterministic generator (xorshift64*), seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n as u64)).unwrap_or(0)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Generates documents of one schema.
struct Generator<'a> {
    schema: &'a Schema,
    rng: Rng,
    /// Values left to fill optional fields with; required ones are always filled.
    budget: usize,
    /// Whether a list item may be `null` (built-in kinds: the API server decodes it to the zero
    /// value; a custom resource's schema refuses it).
    null_items: bool,
}

impl Generator<'_> {
    fn structure(&mut self, ty: &Struct, depth: usize) -> Value {
        let mut map = Map::new();
        for (name, field) in &ty.fields {
            if field.required {
                map.insert(name.clone(), self.filled(&field.ty, name, depth + 1));
                continue;
            }
            let roll = self.rng.below(100);
            let fill = self.budget > 0 && depth < 14;
            match roll {
                0..=49 => {}
                50..=59 => {
                    map.insert(name.clone(), Value::Null);
                }
                60..=69 => {
                    map.insert(name.clone(), empty(&field.ty));
                }
                _ if fill => {
                    self.budget = self.budget.saturating_sub(1);
                    map.insert(name.clone(), self.filled(&field.ty, name, depth + 1));
                }
                _ => {}
            }
        }
        Value::Object(map)
    }

    fn filled(&mut self, ty: &FieldType, name: &str, depth: usize) -> Value {
        match ty {
            FieldType::String => Value::String(self.string(name)),
            FieldType::Byte => json!("aGVsbG8="),
            FieldType::DateTime => json!("2026-05-01T12:00:00Z"),
            FieldType::Integer => json!(*self
                .rng
                .pick(&[0, 1, 2, 3, 22, 80, 443, 8080, 30, 365, 3650, -1, 100_000])),
            FieldType::Number => json!(*self.rng.pick(&[0.0, 0.5, 1.0, 2.5])),
            FieldType::Boolean => json!(self.rng.chance(50)),
            FieldType::IntOrString => {
                if self.rng.chance(50) {
                    json!(*self.rng.pick(&[0, 1, 80, 8080, 65535]))
                } else {
                    json!(*self.rng.pick(&["http", "metrics", "25%", "8080", "", "up == 0"]))
                }
            }
            FieldType::Quantity => match self.rng.below(4) {
                0 => json!(*self.rng.pick(&[1, 2, 0])),
                1 => json!(0.5),
                _ => json!(*self.rng.pick(&["100m", "1", "512Mi", "1Gi", "0", "2.5"])),
            },
            FieldType::Object => {
                if self.rng.chance(50) {
                    json!({})
                } else {
                    json!({"a": "b", "n": 1})
                }
            }
            FieldType::Any => self
                .rng
                .pick(&[json!("x"), json!(1), json!(true), json!({}), json!(["a"])])
                .clone(),
            FieldType::List(inner) => {
                let n = 1 + self.rng.below(3);
                (0..n)
                    .map(|_| {
                        if self.null_items && self.rng.chance(10) {
                            Value::Null
                        } else {
                            self.filled(inner, name, depth + 1)
                        }
                    })
                    .collect()
            }
            FieldType::Map(inner) => {
                let n = 1 + self.rng.below(3);
                let mut map = Map::new();
                for _ in 0..n {
                    let key = if self.rng.chance(50) {
                        (*self.rng.pick(ANNOTATION_KEYS)).to_owned()
                    } else {
                        self.string("key")
                    };
                    let value = if self.null_items && self.rng.chance(10) {
                        Value::Null
                    } else {
                        self.filled(inner, &key, depth + 1)
                    };
                    map.insert(key, value);
                }
                Value::Object(map)
            }
            FieldType::Struct(i) => self.structure(self.schema.get(*i), depth),
        }
    }

    fn string(&mut self, name: &str) -> String {
        let hinted: &[&str] = match name {
            "environment" => ENVIRONMENTS,
            "dataClassification" | "data-classification" => CLASSIFICATIONS,
            "kind" => &["User", "Group", "ServiceAccount", "Role", "ClusterRole"],
            "type" => &[
                "http",
                "tcp",
                "grpc",
                "LoadBalancer",
                "NodePort",
                "Opaque",
                "RuntimeDefault",
            ],
            _ => &[],
        };
        if !hinted.is_empty() && self.rng.chance(70) {
            return (*self.rng.pick(hinted)).to_owned();
        }
        if self.rng.chance(85) {
            return (*self.rng.pick(STRINGS)).to_owned();
        }
        let len = self.rng.below(20);
        (0..len)
            .map(|_| char::from(*self.rng.pick(b"abcdefghijklmnopqrstuvwxyz0123456789-./:_")))
            .collect()
    }
}

/// The value a field gets when it is "empty": `[]`, `{}`, `""`, `0` or `false`.
fn empty(ty: &FieldType) -> Value {
    match ty {
        FieldType::List(_) | FieldType::Any => json!([]),
        FieldType::Map(_) | FieldType::Struct(_) | FieldType::Object => json!({}),
        FieldType::Integer | FieldType::Number | FieldType::IntOrString => json!(0),
        FieldType::Boolean => json!(false),
        FieldType::String | FieldType::Byte | FieldType::DateTime | FieldType::Quantity => json!(""),
    }
}

/// A random set of labels: classification and environment under either key, and others.
fn labels(rng: &mut Rng) -> Value {
    let mut labels = Map::new();
    if rng.chance(70) {
        labels.insert(
            (*rng.pick(CLASSIFICATION_KEYS)).to_owned(),
            json!(*rng.pick(CLASSIFICATIONS)),
        );
    }
    if rng.chance(20) {
        // Both keys, maybe disagreeing.
        labels.insert(
            (*rng.pick(CLASSIFICATION_KEYS)).to_owned(),
            json!(*rng.pick(CLASSIFICATIONS)),
        );
    }
    if rng.chance(50) {
        labels.insert((*rng.pick(ENVIRONMENT_KEYS)).to_owned(), json!(*rng.pick(ENVIRONMENTS)));
    }
    if rng.chance(30) {
        labels.insert("app".to_owned(), json!("web"));
    }
    Value::Object(labels)
}

/// `metadata` of a generated object: a name, maybe a namespace, random labels and annotations
/// (each maybe `null` or empty).
fn metadata(rng: &mut Rng, generated: &Value, index: usize) -> Value {
    let mut meta = generated.as_object().cloned().unwrap_or_default();
    meta.insert("name".to_owned(), json!(format!("obj-{index}")));
    match rng.below(4) {
        0 => {
            meta.remove("namespace");
        }
        1 => {
            meta.insert("namespace".to_owned(), json!("kube-system"));
        }
        _ => {
            meta.insert("namespace".to_owned(), json!("shop"));
        }
    }
    match rng.below(10) {
        0 => {
            meta.insert("labels".to_owned(), Value::Null);
        }
        1 => {
            meta.insert("labels".to_owned(), json!({}));
        }
        _ => {
            meta.insert("labels".to_owned(), labels(rng));
        }
    }
    match rng.below(10) {
        0 => {
            meta.insert("annotations".to_owned(), Value::Null);
        }
        1..=4 => {
            let mut annotations = Map::new();
            for _ in 0..rng.below(4) {
                let value = *rng.pick(&["true", "false", "public", "CHG-1234", "", "https://wiki/x", "SCC"]);
                annotations.insert((*rng.pick(ANNOTATION_KEYS)).to_owned(), json!(value));
            }
            meta.insert("annotations".to_owned(), Value::Object(annotations));
        }
        _ => {}
    }
    Value::Object(meta)
}

/// One generated document of `kind` (`apps/v1` `Deployment`).
fn document(schema: &Schema, builtin: bool, api_version: &str, kind: &str, rng: &mut Rng, index: usize) -> Value {
    let ty = schema
        .kind(api_version, kind)
        .unwrap_or_else(|| panic!("{api_version} {kind} is in the schema"));
    let mut generator = Generator {
        schema,
        rng: Rng(rng.next() | 1),
        budget: 60 + rng.below(120),
        null_items: builtin,
    };
    let mut doc = generator.structure(ty, 0);
    let generated_meta = doc.get("metadata").cloned().unwrap_or(Value::Null);
    doc["apiVersion"] = json!(api_version);
    doc["kind"] = json!(kind);
    doc["metadata"] = metadata(rng, &generated_meta, index);
    // Helm charts often label the pod template instead of the workload.
    if let Some(template) = doc.pointer_mut("/spec/template").filter(|t| t.is_object()) {
        if rng.chance(50) {
            template["metadata"] = json!({"labels": labels(rng)});
        }
    }
    doc
}

/// Every kind the shipped packs match, as `apiVersion/Kind`, checked against the lists above.
fn kinds_to_generate(engine: &Engine, crds: &Schema) -> Vec<(String, String, bool)> {
    let mut matched = BTreeSet::new();
    for pack in engine.packs() {
        for rule in &pack.rules {
            matched.extend(rule.spec.match_.kinds.iter().cloned());
        }
    }
    let mut out = Vec::new();
    for kind in matched {
        if kind == "*" {
            continue;
        }
        if let Some((api_version, name)) = kind.rsplit_once('/') {
            assert!(crds.kind(api_version, name).is_some(), "no generator schema for {kind}");
            out.push((api_version.to_owned(), name.to_owned(), false));
        } else {
            let (_, api_version) = BUILTIN
                .iter()
                .find(|(k, _)| *k == kind)
                .unwrap_or_else(|| panic!("a shipped pack matches {kind}: add it to BUILTIN"));
            out.push(((*api_version).to_owned(), kind, true));
        }
    }
    out
}

#[test]
fn no_shipped_rule_returns_an_evaluation_error_on_a_valid_object() {
    let engine = Engine::load(&packs::embedded().packs).expect("shipped packs load");
    let builtin = Schema::builtin().expect("the built-in schema parses");
    let crds = Schema::parse(include_str!("fixtures/crd-kinds/schema.json")).expect("the CRD schema parses");
    let kinds = kinds_to_generate(&engine, &crds);
    assert!(kinds.len() >= 25, "{kinds:?}");
    let judged = std::sync::atomic::AtomicUsize::new(0);
    let begun = std::time::Instant::now();
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 0,
        ..Config::default()
    });
    // Every rule that errs, with the first object it erred on (all of them, not just the first).
    let found = std::sync::Mutex::new(BTreeMap::<String, String>::new());
    let result = runner.run(&any::<u64>(), |seed| {
        let mut rng = Rng(seed | 1);
        for (index, (api_version, kind, is_builtin)) in kinds.iter().enumerate() {
            let schema = if *is_builtin { builtin } else { &crds };
            let object = document(schema, *is_builtin, api_version, kind, &mut rng, index);
            let mut input = Input::new(object.clone());
            input.environment = rng
                .pick(&[None, Some("production"), Some("staging"), Some("dev")])
                .map(str::to_owned);
            if rng.chance(50) {
                let mut ns = BTreeMap::new();
                ns.insert(
                    (*rng.pick(CLASSIFICATION_KEYS)).to_owned(),
                    (*rng.pick(CLASSIFICATIONS)).to_owned(),
                );
                if rng.chance(50) {
                    ns.insert(
                        (*rng.pick(ENVIRONMENT_KEYS)).to_owned(),
                        (*rng.pick(ENVIRONMENTS)).to_owned(),
                    );
                }
                input.namespace_labels = Some(ns);
            }
            if rng.chance(25) {
                input.operation = Operation::Update;
                input.old_object = Some(document(schema, *is_builtin, api_version, kind, &mut rng, index));
            }
            let decision = engine.evaluate(&input);
            judged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let errors: Vec<String> = decision
                .violations
                .iter()
                .filter(|v| v.finding == FindingType::EvaluationError)
                .map(|v| format!("{} at {}: {}", v.rule, v.pointer, v.message))
                .collect();
            if !errors.is_empty() {
                let example = format!(
                    "{api_version} {kind}, environment {:?}, namespace labels {:?}:\n{}\n{}",
                    input.environment,
                    input.namespace_labels,
                    errors.join("\n"),
                    serde_json::to_string(&object).unwrap_or_default()
                );
                let mut found = found.lock().map_err(|_| TestCaseError::fail("lock poisoned"))?;
                for v in decision
                    .violations
                    .iter()
                    .filter(|v| v.finding == FindingType::EvaluationError)
                {
                    found.entry(v.rule.to_string()).or_insert_with(|| example.clone());
                }
            }
        }
        Ok(())
    });
    let judged = judged.into_inner();
    eprintln!(
        "judged {judged} objects of {} kinds in {:?}",
        kinds.len(),
        begun.elapsed()
    );
    result.expect("the generator and engine ran");
    let found = found.into_inner().expect("lock");
    assert!(
        found.is_empty(),
        "{} shipped rules returned evaluation errors on valid objects:\n\n{}",
        found.len(),
        found.values().cloned().collect::<Vec<_>>().join("\n\n")
    );
    assert!(judged >= 10_000, "only {judged} objects judged");
}
