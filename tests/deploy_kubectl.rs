//! `kubectl apply --dry-run=client --validate=strict` over the shipped manifests (`deploy/`,
//! `deploy/cert-manager/`, `deploy/grafana/`, `deploy/scan/`), offline: kubectl talks to a loopback stand-in for
//! the API server (`support/kube_api.rs`) that serves discovery and the official 1.32 API schemas.
//! kubectl then checks every object the way it does against a real cluster before sending it:
//! known kind and version, namespaced or not, every field known (strict), types and required
//! fields. cert-manager publishes no schema here, so its objects are only checked for kind,
//! version and scope (kubectl skips schema validation for kinds without one, as it does for CRDs
//! without a published schema).
//!
//! Prerequisites: `kubectl` on PATH and the definitions from the Python package
//! `kubernetes-validate` (`CELGATE_K8S_DEFINITIONS`, else found through `python3`). Without them the
//! tests say why and pass, unless `CELGATE_REQUIRE_KUBECTL=1` (CI), then they fail.

#[path = "support/kube_api.rs"]
mod kube_api;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use celgate::documents::{self, Collected};
use kube_api::{ApiResource, ApiServer};
use serde_json::{json, Value};

/// The API version whose definitions are served: kubectl's own minor version.
const KUBERNETES_VERSION: &str = "v1.32.0";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct StandIn {
    kubectl: PathBuf,
    server: ApiServer,
}

/// The stand-in, started once for every test of this file; `None` when a prerequisite is missing
/// (and not required).
fn stand_in() -> Option<&'static StandIn> {
    static STAND_IN: OnceLock<Option<StandIn>> = OnceLock::new();
    STAND_IN.get_or_init(start_stand_in).as_ref()
}

fn start_stand_in() -> Option<StandIn> {
    let required = std::env::var("CELGATE_REQUIRE_KUBECTL").is_ok_and(|v| v == "1");
    let prerequisites = find_on_path("kubectl")
        .ok_or_else(|| "kubectl is not on PATH".to_owned())
        .and_then(|kubectl| Ok((kubectl, definitions_path()?)));
    let (kubectl, definitions) = match prerequisites {
        Ok(found) => found,
        Err(why) if required => panic!("CELGATE_REQUIRE_KUBECTL=1, but {why}"),
        Err(why) => {
            eprintln!("skipping the kubectl dry run: {why} (CELGATE_REQUIRE_KUBECTL=1 makes this a failure)");
            return None;
        }
    };
    let text = std::fs::read_to_string(&definitions).unwrap_or_else(|e| panic!("{}: {e}", definitions.display()));
    let definitions: Value = serde_json::from_str(&text).expect("the definitions are JSON");
    let mut resources = kube_api::builtin_resources(&definitions);
    resources
        .extend(["Certificate", "Issuer", "ClusterIssuer"].map(|kind| ApiResource::new("cert-manager.io", "v1", kind)));
    let server = ApiServer::start(&definitions, &resources).expect("start the API stand-in");
    Some(StandIn { kubectl, server })
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `CELGATE_K8S_DEFINITIONS`, else `_definitions.json` of the `kubernetes_validate` package
/// `python3` imports.
fn definitions_path() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CELGATE_K8S_DEFINITIONS") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("CELGATE_K8S_DEFINITIONS={} is not a file", path.display()))
        };
    }
    let output = Command::new("python3")
        .args([
            "-c",
            "import kubernetes_validate,os;print(os.path.dirname(kubernetes_validate.__file__))",
        ])
        .output()
        .map_err(|e| format!("python3 cannot be run ({e}) and CELGATE_K8S_DEFINITIONS is not set"))?;
    if !output.status.success() {
        return Err(
            "python3 cannot import kubernetes_validate (pip install kubernetes-validate==1.37.0) \
                    and CELGATE_K8S_DEFINITIONS is not set"
                .to_owned(),
        );
    }
    let package = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let path = Path::new(&package)
        .join("kubernetes-json-schema")
        .join(format!("{KUBERNETES_VERSION}-local"))
        .join("_definitions.json");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} does not exist (kubernetes-validate too old?)",
            path.display()
        ))
    }
}

/// Runs `kubectl apply --dry-run=client --validate=strict -f <target>` against the stand-in, with
/// a kubeconfig, cache and HOME of its own: nothing under `~/.kube` is read or written.
fn kubectl_dry_run(stand_in: &StandIn, target: &Path) -> Output {
    let home = tempfile::tempdir().expect("temporary HOME");
    let kubeconfig = home.path().join("kubeconfig");
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "stand-in", "cluster": {"server": stand_in.server.url()}}],
        "users": [{"name": "nobody", "user": {}}],
        "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "nobody", "namespace": "default"}}],
        "current-context": "stand-in",
    });
    std::fs::write(&kubeconfig, config.to_string()).expect("write the kubeconfig");
    Command::new(&stand_in.kubectl)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--cache-dir={}", home.path().join("cache").display()))
        .arg("--request-timeout=30s")
        .args(["apply", "--dry-run=client", "--validate=strict", "-f"])
        .arg(target)
        .env("HOME", home.path())
        .env_remove("KUBECONFIG")
        .current_dir(manifest_dir())
        .output()
        .expect("run kubectl")
}

/// What kubectl prints for each object of the manifests kubectl reads from `dir` (`.yaml`, `.yml`,
/// `.json`, in name order; no recursion): `<kind>[.<group>]/<name> created (dry run)`.
fn expected_lines(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json"))
        .collect();
    files.sort();
    let mut lines = Vec::new();
    for file in files {
        let mut collected = Collected::default();
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        documents::parse_bytes(&file.display().to_string(), &bytes, &mut collected);
        assert!(
            collected.problems.is_empty(),
            "{}: {:?}",
            file.display(),
            collected.problems
        );
        for doc in &collected.documents {
            let kind = doc.value["kind"]
                .as_str()
                .expect("every object has a kind")
                .to_ascii_lowercase();
            let api_version = doc.value["apiVersion"]
                .as_str()
                .expect("every object has an apiVersion");
            let group_kind = match api_version.split_once('/') {
                Some((group, _)) => format!("{kind}.{group}"),
                None => kind,
            };
            lines.push(format!("{group_kind}/{} created (dry run)", doc.metadata_str("name")));
        }
    }
    lines
}

fn describe(output: &Output, stand_in: &StandIn) -> String {
    format!(
        "exit: {}\nstdout:\n{}\nstderr:\n{}\nrequests:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        stand_in.server.requests().join("\n")
    )
}

#[test]
fn deploy_manifests_pass_kubectl_client_dry_run_with_strict_validation() {
    let Some(stand_in) = stand_in() else { return };
    for dir in ["deploy", "deploy/cert-manager", "deploy/grafana", "deploy/scan"] {
        let expected = expected_lines(&manifest_dir().join(dir));
        assert!(!expected.is_empty(), "{dir}: no objects");
        let output = kubectl_dry_run(stand_in, Path::new(dir));
        assert!(
            output.status.success(),
            "kubectl failed on {dir}/\n{}",
            describe(&output, stand_in)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        println!("$ kubectl apply --dry-run=client --validate=strict -f {dir}/\n{stdout}");
        let printed: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            printed,
            expected,
            "{dir}/: one `(dry run)` line per object\n{}",
            describe(&output, stand_in)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.trim().is_empty(),
            "{dir}/: kubectl warned\n{}",
            describe(&output, stand_in)
        );
    }
    // A dry run: kubectl only read (discovery, schemas, one GET per object).
    let writes: Vec<String> = stand_in
        .server
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET "))
        .collect();
    assert!(writes.is_empty(), "kubectl sent more than GETs: {writes:?}");
    println!("requests:\n{}", stand_in.server.requests().join("\n"));
}

#[test]
fn strict_validation_rejects_unknown_fields_kinds_missing_fields_and_wrong_types() {
    let Some(stand_in) = stand_in() else { return };
    let original = std::fs::read_to_string(manifest_dir().join("deploy/30-deployment.yaml")).expect("deployment");
    let dir = tempfile::tempdir().expect("temporary folder");
    // (what, text in deploy/30-deployment.yaml, replaced by, in kubectl's error)
    let cases = [
        (
            "a misspelt field",
            "\n  replicas: 2\n",
            "\n  replicaz: 2\n",
            r#"unknown field "replicaz""#,
        ),
        (
            "an unknown kind",
            "kind: Deployment",
            "kind: Deploymnet",
            r#"no matches for kind "Deploymnet""#,
        ),
        (
            "a missing required field",
            "        - name: celgate\n",
            "        - \n",
            r#"missing required field "name""#,
        ),
        (
            "a string for an integer",
            "containerPort: 8443",
            "containerPort: https",
            r#"got "string", expected "integer""#,
        ),
    ];
    for (index, (what, from, to, error)) in cases.into_iter().enumerate() {
        let broken = original.replacen(from, to, 1);
        assert_ne!(broken, original, "deploy/30-deployment.yaml no longer has {from:?}");
        let file = dir.path().join(format!("broken-{index}.yaml"));
        std::fs::write(&file, broken).expect("write the copy");
        let output = kubectl_dry_run(stand_in, &file);
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!("{what}: {stderr}");
        assert!(
            !output.status.success() && stderr.contains(error),
            "{what} must fail with {error:?}\n{}",
            describe(&output, stand_in)
        );
    }
}

#[test]
fn resource_names_and_scopes_follow_the_api() {
    let names = [
        "Ingress",
        "NetworkPolicy",
        "Endpoints",
        "ComponentStatus",
        "CSIStorageCapacity",
        "Gateway",
    ];
    assert_eq!(
        names.map(kube_api::plural),
        [
            "ingresses",
            "networkpolicies",
            "endpoints",
            "componentstatuses",
            "csistoragecapacities",
            "gateways"
        ]
    );
    assert!(!ApiResource::new("", "v1", "Namespace").namespaced);
    assert!(!ApiResource::new("cert-manager.io", "v1", "ClusterIssuer").namespaced);
    assert!(ApiResource::new("cert-manager.io", "v1", "Issuer").namespaced);
}

#[test]
fn schemas_convert_to_what_the_upstream_swagger_has() {
    let int_or_string = json!({"oneOf": [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]});
    assert_eq!(
        kube_api::to_swagger(&int_or_string),
        json!({"type": "string", "format": "int-or-string"})
    );
    let quantity = json!({"oneOf": [{"type": ["string", "null"]}, {"type": ["number", "null"]}]});
    assert_eq!(kube_api::to_swagger(&quantity), json!({"type": "string"}));
    let object = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": ["object", "null"],
        "properties": {
            "allOf": {"type": ["array", "null"], "items": {"$ref": "#/$defs/a.B"}},
            "spec": {"allOf": [{"$ref": "#/$defs/a.Spec"}], "description": "d"},
            "any": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "B", "version": "v1"}],
    });
    assert_eq!(
        kube_api::to_swagger(&object),
        json!({
            "type": "object",
            "properties": {
                "allOf": {"type": "array", "items": {"$ref": "#/definitions/a.B"}},
                "spec": {"$ref": "#/definitions/a.Spec", "description": "d"},
                "any": {},
            },
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "B", "version": "v1"}],
        })
    );
}
