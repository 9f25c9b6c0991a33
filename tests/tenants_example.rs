//! `examples/celgate.yaml` stays a working configuration: its server settings resolve, its tenancy
//! loads against the shipped packs, the compliant example application is allowed for its tenant,
//! its environments and tenants set the modes its comments promise, and its two exceptions apply
//! until their expiry. The clock is always injected (the example's expiry dates are fixed, the
//! calendar is not).

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use rstest::rstest;
use serde_json::{json, Value};

use celgate::engine::{Action, Decision, Engine, Input, Mode, Overrides, Verdict};
use celgate::tenant::{AccessError, Scope, Tenancy};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/celgate.yaml")
}

fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, second)
        .single()
        .expect("valid instant")
}

/// The day the example was written.
fn written() -> DateTime<Utc> {
    at(2026, 11, 25, 12, 0, 0)
}

fn engine() -> Engine {
    Engine::load(&celgate::packs::embedded().packs).expect("the shipped packs load")
}

fn load(engine: &Engine, now: DateTime<Utc>) -> Result<Tenancy, String> {
    let spec = celgate::config::read_tenancy(&example()).map_err(|e| e.to_string())?;
    Tenancy::build(&spec, engine, now).map_err(|e| e.to_string())
}

fn judge(engine: &Engine, tenancy: &Tenancy, object: Value, now: DateTime<Utc>) -> Decision {
    let mut input = Input::new(object);
    let scope = Scope::of_input(tenancy, &input, now);
    scope.prepare(&mut input);
    engine.evaluate_with(&input, &scope)
}

#[test]
fn the_server_settings_resolve() {
    let flags = celgate::config::FlagOverrides::default();
    let config =
        celgate::config::resolve(Some(&example()), &|_| None, &flags).expect("the example is a valid config file");
    assert_eq!(config.listen.port(), 8443);
    assert_eq!(config.admin_listen.port(), 8080);
    assert_eq!(
        config.client_ca_file.as_deref(),
        Some(Path::new("/etc/celgate/apiserver-ca/ca.crt"))
    );
    assert_eq!(config.limits.max_concurrent_evaluations, 8);
    assert!(config.packs.is_empty(), "the shipped packs");
}

#[test]
fn the_tenancy_loads_against_the_shipped_packs() {
    let tenancy = load(&engine(), written()).expect("the example loads on the day it was written");
    let names: Vec<&str> = tenancy.tenants().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["clinical", "retail", "analytics"]);
    assert!(tenancy.expired_exceptions().is_empty());
    let retail = tenancy.tenant("retail").expect("retail");
    assert_eq!(retail.frameworks(), Some(vec!["gdpr", "soc2"]));
    assert_eq!(retail.params["defaultClassification"], "pii");
    assert_eq!(retail.params["maxPiiRetentionDays"], 730);
    // The tokens are placeholders nobody holds: the check API is closed to everyone.
    assert_eq!(
        tenancy.authorize(Some("cgt_guess"), None).err(),
        Some(AccessError::Unauthenticated)
    );
}

#[test]
fn its_exceptions_respect_the_90_day_limit() {
    // 2027-02-15T12:00Z is more than 90 days after 2026-11-10.
    let err = load(&engine(), at(2026, 11, 10, 0, 0, 0)).expect_err("too far ahead then");
    assert!(
        err.contains("exceptions[1].expires: 2027-02-15T12:00:00Z is 97 days ahead, more than the 90 days"),
        "{err}"
    );
    assert!(!err.contains("exceptions[0]"), "2027-01-31 is within 90 days: {err}");
}

#[test]
fn the_compliant_application_is_allowed_for_its_tenant() {
    let engine = engine();
    let tenancy = load(&engine, written()).expect("loads");
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/compliant");
    let collected = celgate::documents::collect(&[folder], &mut std::io::empty());
    assert!(collected.problems.is_empty(), "{:?}", collected.problems);
    assert_eq!(collected.documents.len(), 6);
    let namespaces = collected.namespace_labels();
    for doc in &collected.documents {
        let mut input = Input::new(doc.value.clone());
        input.namespace_labels = namespaces.get(doc.metadata_str("namespace")).cloned();
        let scope = Scope::of_input(&tenancy, &input, written());
        scope.prepare(&mut input);
        let d = engine.evaluate_with(&input, &scope);
        assert_eq!(d.decision, Verdict::Allow, "{}: {:?}", doc.source, d.violations);
        assert_eq!(d.tenant.as_deref(), Some("clinical"), "{}", doc.source);
        assert_eq!(d.environment.as_deref(), Some("production"), "{}", doc.source);
    }
}

/// What the example's comments promise: environment beats tenant, rule beats pack within a
/// layer, a tenant's own environment mapping beats the environments' namespace lists.
#[rstest]
#[case::production_pins_images("patient-records", "soc2", "soc2-image-digest", Some("clinical"), "production", Some((Mode::Enforce, "environment production (rule soc2-image-digest)")))]
#[case::tenant_rule_in_production("patient-records", "soc2", "soc2-change-ref", Some("clinical"), "production", Some((Mode::Enforce, "tenant clinical (rule soc2-change-ref)")))]
#[case::tenant_mapping_to_staging("clinical-staging", "soc2", "soc2-change-ref", Some("clinical"), "staging", Some((Mode::Audit, "environment staging (rule soc2-change-ref)")))]
#[case::tenant_rule_beats_development_pack("clinical-dev-7", "soc2", "soc2-change-ref", Some("clinical"), "development", Some((Mode::Enforce, "tenant clinical (rule soc2-change-ref)")))]
#[case::tenant_pack_mode("clinical-x", "platform", "platform-tenantconfig-tls", Some("clinical"), "production", Some((Mode::Audit, "tenant clinical (framework platform)")))]
#[case::environment_rule_beats_tenant_pack("analytics-prod", "soc2", "soc2-image-digest", Some("analytics"), "production", Some((Mode::Enforce, "environment production (rule soc2-image-digest)")))]
#[case::tenant_pack_elsewhere("analytics-prod", "soc2", "soc2-image-registry", Some("analytics"), "production", Some((Mode::Warn, "tenant analytics (framework soc2)")))]
#[case::framework_not_applying("shop-web", "hipaa", "hipaa-malware-protection", Some("retail"), "production", Some((Mode::Off, "tenant retail (framework hipaa does not apply to it)")))]
#[case::retail_preview_is_staging("storefront-preview", "soc2", "soc2-image-digest", Some("retail"), "staging", Some((Mode::Warn, "environment staging (rule soc2-image-digest)")))]
#[case::no_tenant_sandbox("sandbox-42", "gdpr", "gdpr-enc-in-transit", None, "development", Some((Mode::Audit, "environment development (framework gdpr)")))]
#[case::no_override("shop-web", "gdpr", "gdpr-enc-in-transit", Some("retail"), "production", None)]
fn modes_follow_the_documented_precedence(
    #[case] namespace: &str,
    #[case] pack: &str,
    #[case] rule: &str,
    #[case] tenant: Option<&str>,
    #[case] environment: &str,
    #[case] expected: Option<(Mode, &str)>,
) {
    let tenancy = load(&engine(), written()).expect("loads");
    let input =
        Input::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": namespace}}));
    let scope = Scope::of_input(&tenancy, &input, written());
    assert_eq!(scope.tenant(), tenant);
    assert_eq!(scope.environment(), Some(environment));
    let mode = scope.mode(pack, rule);
    let shown = mode.as_ref().map(|m| (m.mode, m.source.to_string()));
    assert_eq!(shown.as_ref().map(|(m, s)| (*m, s.as_str())), expected);
}

fn deployment(name: &str, namespace: &str, labels: &Value, container: &Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}
    })
}

fn finding<'a>(d: &'a Decision, rule: &str) -> &'a celgate::engine::Violation {
    d.violations
        .iter()
        .find(|v| *v.rule == *rule)
        .unwrap_or_else(|| panic!("no {rule} finding in {:?}", d.violations))
}

#[test]
fn the_fax_gateway_exception_applies_until_the_end_of_2027_01_31() {
    let engine = engine();
    let tenancy = load(&engine, written()).expect("loads");
    let mut gateway = deployment(
        "fax-gateway",
        "patient-records",
        &json!({"app.kubernetes.io/name": "fax-gateway"}),
        &json!({
            "name": "gateway",
            "image": "vendor.example.net/faxgw:5.2",
            "securityContext": {
                "runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}
            }
        }),
    );
    gateway["metadata"]["annotations"] =
        json!({"compliance.celgate.io/change-ref": "https://git.example.com/ehr/pull/1900"});
    gateway["spec"]["template"]["spec"]["automountServiceAccountToken"] = json!(false);
    let last_second = at(2027, 1, 31, 23, 59, 59);
    let d = judge(&engine, &tenancy, gateway.clone(), last_second);
    let registry = finding(&d, "soc2-image-registry");
    assert_eq!(registry.action, Action::Audit, "excepted: recorded, not blocking");
    let used = registry.exception.as_ref().expect("the exception is named");
    assert_eq!(
        (
            used.id.as_str(),
            used.owner.as_str(),
            used.ticket.as_deref(),
            used.expired
        ),
        ("EXC-2026-014", "clinical-platform@example.com", Some("SEC-1422"), false)
    );
    assert_eq!(
        d.decision,
        Verdict::Allow,
        "every finding is excepted: {:?}",
        d.violations
    );
    assert!(d.violations.iter().all(|v| v.exception.is_some()), "{:?}", d.violations);

    let d = judge(&engine, &tenancy, gateway.clone(), at(2027, 2, 1, 0, 0, 0));
    let registry = finding(&d, "soc2-image-registry");
    assert_eq!(registry.action, Action::Deny, "expired: the rule blocks again");
    assert!(
        registry.exception.as_ref().is_some_and(|x| x.expired),
        "and the expiry is reported"
    );
    assert_eq!(d.decision, Verdict::Deny);

    // The scope is exact: the same image under another name is not covered.
    let mut other = gateway;
    other["metadata"]["name"] = json!("records-api");
    let d = judge(&engine, &tenancy, other, last_second);
    assert!(finding(&d, "soc2-image-registry").exception.is_none());
    assert_eq!(d.decision, Verdict::Deny);
}

#[test]
fn the_payment_agent_exception_covers_objects_by_label() {
    let engine = engine();
    let tenancy = load(&engine, written()).expect("loads");
    let agent = |labels: &Value| {
        deployment(
            "terminal-agent",
            "shop-payments",
            labels,
            &json!({
                "name": "agent",
                "image": "registry.example.com/retail/agent@sha256:".to_owned() + &"ab".repeat(32),
                "securityContext": {
                    "runAsNonRoot": true, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                    "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"}
                }
            }),
        )
    };
    let labelled = json!({"app.kubernetes.io/name": "payment-agent", "data-classification": "pii"});
    let before = at(2027, 2, 15, 11, 59, 59);
    let d = judge(&engine, &tenancy, agent(&labelled), before);
    assert_eq!(d.tenant.as_deref(), Some("retail"));
    let privilege = finding(&d, "soc2-pss-capabilities");
    assert_eq!(privilege.action, Action::Audit, "{:?}", d.violations);
    assert_eq!(
        privilege.exception.as_ref().map(|x| x.id.as_str()),
        Some("EXC-2026-019")
    );
    let restricted = finding(&d, "soc2-pss-capabilities-restricted");
    assert_eq!(restricted.action, Action::Audit, "{:?}", d.violations);

    let d = judge(&engine, &tenancy, agent(&labelled), at(2027, 2, 15, 12, 0, 0));
    let privilege = finding(&d, "soc2-pss-capabilities");
    assert_ne!(privilege.action, Action::Audit, "expired at 12:00 UTC");
    assert!(privilege.exception.as_ref().is_some_and(|x| x.expired));

    let unlabelled = json!({"app.kubernetes.io/name": "checkout", "data-classification": "pii"});
    let d = judge(&engine, &tenancy, agent(&unlabelled), before);
    assert!(finding(&d, "soc2-pss-capabilities").exception.is_none());
}

#[test]
fn after_both_expiries_the_example_still_loads_and_lists_them() {
    let tenancy = load(&engine(), at(2027, 3, 1, 0, 0, 0)).expect("expired exceptions are not load errors");
    assert_eq!(tenancy.expired_exceptions(), ["EXC-2026-014", "EXC-2026-019"]);
}
