//! The benchmark Deployment (`benches/fixtures/deployment.json`) fixed so the shipped packs allow
//! it, shared by the engine and tenancy benchmarks.

use serde_json::Value;

/// The fixture as the shipped packs want it (the admission hot path: nothing to report): images
/// from `registry.example.com/` pinned by digest, read-only root filesystems, a change reference.
/// `as-is` is the file unchanged: denied by the shipped packs with a dozen rendered findings.
pub fn compliant(object: &Value) -> Value {
    let mut object = object.clone();
    object["metadata"]["annotations"]["compliance.celgate.io/change-ref"] =
        "https://git.example.com/ehr/records/pull/1842".into();
    let pod = &mut object["spec"]["template"]["spec"];
    for list in ["initContainers", "containers"] {
        let Some(containers) = pod.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let image = c["image"].as_str().expect("image");
            let name = image.rsplit('/').next().expect("name");
            c["image"] = format!("registry.example.com/{name}@sha256:{}", "ab".repeat(32)).into();
            c["securityContext"]["readOnlyRootFilesystem"] = true.into();
        }
    }
    object
}
