//! Params that ship example values (`spec.paramsToConfigure`): with the shipped packs, a public
//! image only warns (soc2 ships `allowedRegistries: [registry.example.com/]` as an example), and
//! `check` names the unconfigured params once, at the top; once a tenant's params or the pack's
//! own params set the list, the same image is denied. The admission doors answer the same.

mod support;

use std::path::Path;

use assert_cmd::Command;
use serde_json::{json, Value};

use celgate::server::PackSourceSpec;
use support::{fixture_json, manifest_dir, Options, TestServer};

const MANIFEST: &str = "tests/fixtures/placeholders/public-image.yaml";
const CONFIG: &str = "tests/fixtures/placeholders/celgate.yaml";
const CONFIGURE: &str = "configure params.allowedRegistries";

fn check(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("celgate")
        .expect("binary built")
        .env_remove("NO_COLOR")
        .env_remove("CELGATE_LOG")
        .args(["check", "--color", "never"])
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn registry_findings(record: &Value) -> Vec<&Value> {
    record["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .filter(|v| v["rule"] == "soc2-image-registry")
        .collect()
}

#[test]
fn a_public_image_only_warns_while_the_registries_are_the_shipped_example() {
    let (code, stdout, stderr) = check(&[MANIFEST]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // Said once, at the top, before the documents.
    assert!(stdout.starts_with("NOTE  "), "{stdout}");
    assert_eq!(stdout.matches("NOTE").count(), 1, "{stdout}");
    let note_line = r#"  soc2 params.allowedRegistries = ["registry.example.com/"]: soc2-image-registry"#;
    assert!(stdout.lines().any(|l| l == note_line), "{stdout}");
    assert!(
        stdout.contains("ALLOW tests/fixtures/placeholders/public-image.yaml:4"),
        "{stdout}"
    );
    assert!(!stdout.contains("DENY"), "{stdout}");
    assert!(stdout.contains("[high] soc2-image-registry"), "{stdout}");
    assert!(stdout.contains(CONFIGURE), "{stdout}");
    assert!(stdout.contains("action: warn"), "{stdout}");
    assert!(
        stdout.contains("mode: warn (set by unconfigured params.allowedRegistries)"),
        "{stdout}"
    );
}

#[test]
fn json_stays_a_list_of_records_and_the_notice_goes_to_stderr() {
    let (code, stdout, stderr) = check(&["--format", "json", MANIFEST]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let records: Value = serde_json::from_str(&stdout).expect("stdout is JSON only");
    let record = &records[0];
    assert_eq!(record["decision"], "allow", "{record}");
    let findings = registry_findings(record);
    assert_eq!(findings.len(), 1, "{record}");
    assert_eq!(findings[0]["action"], "warn");
    assert_eq!(findings[0]["mode"]["mode"], "warn");
    assert!(
        findings[0]["message"].as_str().unwrap_or("").contains(CONFIGURE),
        "{record}"
    );
    let warnings = record["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w.as_str().unwrap_or("").contains(CONFIGURE)),
        "{record}"
    );
    assert!(
        stderr.contains(r#"warning: soc2 params.allowedRegistries = ["registry.example.com/"]: soc2-image-registry"#),
        "{stderr}"
    );
}

#[test]
fn sarif_carries_the_notice_as_a_configuration_notification() {
    let (code, stdout, stderr) = check(&["--format", "sarif", MANIFEST]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(!stderr.contains("params.allowedRegistries"), "{stderr}");
    let log: Value = serde_json::from_str(&stdout).expect("SARIF is JSON");
    let run = &log["runs"][0];
    let notes = run["invocations"][0]["toolConfigurationNotifications"]
        .as_array()
        .expect("configuration notifications");
    let note = notes
        .iter()
        .find(|n| n["properties"]["pack"] == "soc2" && n["properties"]["param"] == "allowedRegistries")
        .expect("soc2 allowedRegistries is named");
    assert_eq!(note["level"], "warning");
    assert_eq!(note["descriptor"]["id"], "unconfigured-param");
    assert_eq!(note["properties"]["rules"], json!(["soc2-image-registry"]));
    assert_eq!(note["properties"]["example"], json!(["registry.example.com/"]));
    let results = run["results"].as_array().expect("results");
    let registry = results
        .iter()
        .find(|r| r["ruleId"] == "soc2-image-registry")
        .expect("a registry result");
    assert_eq!(registry["level"], "warning", "{registry}");
}

#[test]
fn a_tenant_that_configures_the_registries_gets_the_deny() {
    for tenant in [None, Some("shop")] {
        let mut args = vec!["--config", CONFIG];
        if let Some(name) = tenant {
            args.extend(["--tenant", name]);
        }
        args.extend(["--format", "json", MANIFEST]);
        let (code, stdout, stderr) = check(&args);
        assert_eq!(code, 1, "{tenant:?}: {stdout}\n{stderr}");
        let records: Value = serde_json::from_str(&stdout).expect("json");
        let record = &records[0];
        assert_eq!(record["decision"], "deny", "{record}");
        let findings = registry_findings(record);
        assert_eq!(findings.len(), 1, "{record}");
        assert_eq!(findings[0]["action"], "deny");
        let message = findings[0]["message"].as_str().unwrap_or("");
        assert!(message.contains("ghcr.io/acme/"), "{message}");
        assert!(!message.contains(CONFIGURE), "{message}");
        // The tenant's params configure the key for every pack that reads it.
        assert!(!stderr.contains("params.allowedRegistries"), "{stderr}");
        assert!(stderr.contains("soc2 params.encryptedStorageClasses"), "{stderr}");
    }
}

/// A copy of the shipped soc2 pack in `dir/soc2/`, plus `extra` files next to it.
fn soc2_pack_dir(dir: &Path, pack_text: &str, extra: &[(&str, &str)]) -> String {
    let folder = dir.join("soc2");
    std::fs::create_dir_all(&folder).expect("mkdir");
    std::fs::write(folder.join("pack.yaml"), pack_text).expect("write pack");
    for (name, text) in extra {
        std::fs::write(folder.join(name), text).expect("write");
    }
    folder.display().to_string()
}

fn shipped_soc2() -> String {
    std::fs::read_to_string(manifest_dir().join("policies/soc2/pack.yaml")).expect("shipped soc2 pack")
}

#[test]
fn a_pack_whose_params_are_edited_or_overridden_denies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = shipped_soc2();
    let example = "    allowedRegistries: [registry.example.com/]\n";
    assert!(shipped.contains(example), "the shipped soc2 pack sets the example");

    // The pack file edited in place (spec.params; paramsToConfigure, further down, keeps the example).
    let edited = shipped.replacen(example, "    allowedRegistries: [ghcr.io/acme/]\n", 1);
    let edited_dir = soc2_pack_dir(&dir.path().join("edited"), &edited, &[]);
    // The pack file as shipped, with a document of the same pack that sets the param.
    let version = shipped
        .lines()
        .find_map(|l| l.strip_prefix("  version: "))
        .expect("the shipped soc2 pack has a version");
    let site = format!(
        "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {{name: soc2, version: {version}}}\n\
         spec:\n  params:\n    allowedRegistries: [ghcr.io/acme/]\n"
    );
    let override_dir = soc2_pack_dir(&dir.path().join("override"), &shipped, &[("site.yaml", &site)]);
    // The pack as shipped: still the example.
    let shipped_dir = soc2_pack_dir(&dir.path().join("shipped"), &shipped, &[]);

    for (packs, denied) in [(&edited_dir, true), (&override_dir, true), (&shipped_dir, false)] {
        let (code, stdout, stderr) = check(&["--packs", packs, "--format", "json", MANIFEST]);
        assert_eq!(code, i32::from(denied), "{packs}: {stdout}\n{stderr}");
        let records: Value = serde_json::from_str(&stdout).expect("json");
        let findings = registry_findings(&records[0]);
        assert_eq!(findings.len(), 1, "{packs}: {stdout}");
        assert_eq!(findings[0]["action"], if denied { "deny" } else { "warn" }, "{packs}");
        assert_eq!(
            stderr.contains("params.allowedRegistries"),
            !denied,
            "{packs}: {stderr}"
        );
    }
}

#[test]
fn an_unknown_param_in_params_to_configure_is_a_pack_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marked = "  paramsToConfigure:\n    allowedRegistries: [registry.example.com/]\n";
    let shipped = shipped_soc2();
    assert!(
        shipped.contains(marked),
        "the shipped soc2 pack marks allowedRegistries"
    );
    let broken = shipped.replace(
        marked,
        "  paramsToConfigure:\n    allowedRegistry: [registry.example.com/]\n",
    );
    let packs = soc2_pack_dir(dir.path(), &broken, &[]);
    let (code, stdout, stderr) = check(&["--packs", &packs, MANIFEST]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("spec.paramsToConfigure"), "{stderr}");
    assert!(
        stderr.contains("names 'allowedRegistry', which is not a param of the pack (its params: "),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// The admission doors

/// The public-image Deployment as JSON.
fn manifest_json() -> Value {
    let text = std::fs::read_to_string(manifest_dir().join(MANIFEST)).expect("manifest");
    let docs = celgate::source::parse_documents(&text).expect("the fixture parses");
    docs.into_iter().next().expect("one document").value
}

/// An AdmissionReview (the warn fixture's request) carrying the public-image Deployment.
fn review_of_manifest(uid: &str) -> Vec<u8> {
    let object = manifest_json();
    let mut review = fixture_json("warn.json");
    review["request"]["uid"] = json!(uid);
    review["request"]["name"] = object["metadata"]["name"].clone();
    review["request"]["namespace"] = json!("shop");
    review["request"]["object"] = object;
    serde_json::to_vec(&review).expect("serializes")
}

async fn shipped_server(config: Option<&str>) -> TestServer {
    TestServer::start(Options {
        packs: PackSourceSpec::Embedded,
        config_file: config.map(|c| manifest_dir().join(c)),
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doors_warn_until_configured_and_deny_after() {
    let server = shipped_server(None).await;
    let client = server.client();
    let review = client
        .review("/validate", &review_of_manifest("11111111-0000-4000-8000-000000000001"))
        .await;
    let response = &review["response"];
    assert_eq!(response["allowed"], true, "{review}");
    let warnings = response["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| {
            let w = w.as_str().unwrap_or("");
            w.contains("soc2-image-registry") && w.contains(CONFIGURE)
        }),
        "{review}"
    );

    let manifest = std::fs::read(manifest_dir().join(MANIFEST)).expect("manifest");
    let answer = client
        .send("POST", "/v1/check", Some("application/yaml"), &manifest)
        .await
        .expect("answered");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let record = answer.json();
    assert_eq!(record["decision"], "allow", "{record}");
    assert_eq!(registry_findings(&record)[0]["action"], "warn", "{record}");
    server.stop().await;

    let server = shipped_server(Some(CONFIG)).await;
    let client = server.client();
    let review = client
        .review("/validate", &review_of_manifest("11111111-0000-4000-8000-000000000002"))
        .await;
    let response = &review["response"];
    assert_eq!(response["allowed"], false, "{review}");
    let message = response["status"]["message"].as_str().expect("a message");
    assert!(message.contains("soc2-image-registry"), "{message}");
    assert!(!message.contains(CONFIGURE), "{message}");
    server.stop().await;
}
