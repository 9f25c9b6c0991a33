//! Engine invariants under `proptest`: evaluation never panics on any JSON, and every patch the
//! engine emits applies to the very document it was made for and yields `patched_object`.

use celgate::engine::{Engine, Input, PackSource, Verdict};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn engines() -> &'static [Engine] {
    static ENGINES: std::sync::OnceLock<Vec<Engine>> = std::sync::OnceLock::new();
    ENGINES.get_or_init(load_engines)
}

fn load_engines() -> Vec<Engine> {
    let fixture = PackSource {
        origin: "basic/pack.yaml".into(),
        text: std::fs::read_to_string("tests/fixtures/packs/basic/pack.yaml").expect("fixture"),
    };
    let mut engines = vec![Engine::load(&[fixture]).expect("fixture loads")];
    engines.push(Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load"));
    engines
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z:/.-]{0,12}".prop_map(Value::String),
        prop_oneof![Just("true"), Just("phi"), Just("latest"), Just("r/a:latest")]
            .prop_map(|s| Value::String(s.into())),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}",
        prop_oneof![
            Just("spec"),
            Just("template"),
            Just("containers"),
            Just("securityContext"),
            Just("privileged"),
            Just("allowPrivilegeEscalation"),
            Just("image"),
            Just("name"),
            Just("metadata"),
            Just("labels"),
            Just("replicas"),
            Just("volumes"),
            Just("hostPath"),
            Just("data-classification"),
        ]
        .prop_map(str::to_owned),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn document() -> impl Strategy<Value = Value> {
    let kinds = prop_oneof![
        Just("Deployment"),
        Just("Pod"),
        Just("CronJob"),
        Just("Service"),
        Just("Ingress"),
        Just("PersistentVolumeClaim"),
        Just("ServiceAccount"),
        Just("StatefulSet"),
        Just("Thing"),
    ];
    (kinds, any_json(), any_json(), prop::collection::vec(any_json(), 0..3)).prop_map(
        |(kind, spec, meta, containers)| {
            let mut doc = json!({"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec});
            if let Some(spec) = doc["spec"].as_object_mut() {
                spec.insert("template".into(), json!({"spec": {"containers": containers}}));
            }
            doc
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_patches_apply(doc in prop_oneof![document(), any_json()]) {
        for engine in engines() {
            let decision = engine.evaluate(&Input::new(doc.clone()));
            if decision.decision == Verdict::Patch {
                let ops: json_patch::Patch = decision.json_patch();
                // The patch applies to the object as the API server holds it: a built-in kind
                // decoded into its typed object (null fields absent, engine::builtin).
                let mut patched = doc.clone();
                celgate::engine::facts::builtin::normalize_document(&mut patched);
                json_patch::patch(&mut patched, &ops).expect("patch applies to its input");
                prop_assert_eq!(Some(&patched), decision.patched_object.as_ref());
            } else {
                prop_assert!(decision.patch.is_empty());
            }
        }
    }
}
