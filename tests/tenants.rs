//! Tenants, environments, modes and exceptions: loading `celgate.yaml`'s tenancy sections, the
//! modes each layer sets, exceptions applying and expiring (clock injected), params per tenant,
//! check-API access, and `celgate check --config` / `celgate token new` as processes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rstest::rstest;
use serde_json::{json, Value};

use celgate::engine::{Action, Engine, Input, Layer, Mode, ModeSource, PackSource, Verdict};
use celgate::tenant::{token, AccessError, Scope, Tenancy};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn basic_engine() -> Engine {
    let path = manifest_dir().join("tests/fixtures/packs/basic/pack.yaml");
    let text = std::fs::read_to_string(&path).expect("basic pack");
    Engine::load(&[PackSource {
        origin: path.display().to_string(),
        text,
    }])
    .expect("basic pack loads")
}

/// A fixed "now" so expiry tests never depend on the calendar.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .expect("valid date")
}

fn tenancy(yaml: &str, at: DateTime<Utc>) -> Result<Tenancy, String> {
    let spec = celgate::config::parse_tenancy(Path::new("celgate.yaml"), yaml).map_err(|e| e.to_string())?;
    Tenancy::build(&spec, &basic_engine(), at).map_err(|e| e.to_string())
}

const TOKEN_A: &str = "cgt_tenant-a-test-token";
const TOKEN_B: &str = "cgt_tenant-b-test-token";

fn config() -> String {
    format!(
        r"
environment: production
tenants:
  - name: acme
    namespaces: [acme-prod, acme-stg, 'acme-dev-*']
    environments:
      staging: [acme-stg]
    dataClassification: phi
    modes:
      basic-no-latest: enforce
    params:
      maxReplicas: 50
    tokens:
      - name: ci
        sha256: {a}
  - name: beta
    namespaces: ['beta-*']
    frameworks: [basic]
    modes:
      basic: audit
    params:
      maxReplicas: 2
    tokens:
      - sha256: {b}
environments:
  - name: production
  - name: staging
    modes:
      basic: warn
exceptions:
  - id: EXC-1
    rules: [basic-no-privileged]
    scope:
      tenants: [acme]
      names: ['legacy-*']
    reason: vendor agent needs host access until replaced
    owner: platform@acme.example
    ticket: SEC-42
    expires: 2026-12-20
",
        a = token::to_hex(&token::hash(TOKEN_A)),
        b = token::to_hex(&token::hash(TOKEN_B)),
    )
}

/// A Deployment with one privileged container on `:latest` and `replicas`.
fn deployment(name: &str, namespace: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{
                "name": "app",
                "image": "nginx:latest",
                "securityContext": {"privileged": true, "allowPrivilegeEscalation": false}
            }]}}
        }
    })
}

fn judge(t: &Tenancy, object: Value, at: DateTime<Utc>) -> celgate::engine::Decision {
    let mut input = Input::new(object);
    let scope = Scope::of_input(t, &input, at);
    scope.prepare(&mut input);
    basic_engine().evaluate_with(&input, &scope)
}

fn finding<'a>(d: &'a celgate::engine::Decision, rule: &str) -> &'a celgate::engine::Violation {
    d.violations
        .iter()
        .find(|v| v.rule.as_ref() == rule)
        .unwrap_or_else(|| panic!("no {rule} finding in {:?}", d.violations))
}

#[rstest]
#[case::unknown_rule_in_exception(
    "exceptions: [{id: X, rules: [basic-nope], reason: r, owner: o, expires: 2026-12-01}]",
    "exceptions[0].rules[0]: unknown rule 'basic-nope'"
)]
#[case::two_tenants_one_namespace(
    "tenants: [{name: a, namespaces: [shop]}, {name: b, namespaces: [shop]}]",
    "tenants[1].namespaces[0]: namespace 'shop' overlaps 'shop' owned by tenant 'a'"
)]
#[case::overlapping_globs(
    "tenants: [{name: a, namespaces: ['team-*']}, {name: b, namespaces: ['*-prod']}]",
    "tenants[1].namespaces[0]: namespace '*-prod' overlaps 'team-*' owned by tenant 'a'"
)]
#[case::unknown_framework(
    "tenants: [{name: a, frameworks: [pci]}]",
    "tenants[0].frameworks[0]: unknown framework 'pci' (loaded packs: basic)"
)]
#[case::unknown_mode_key(
    "tenants: [{name: a, modes: {sox: warn}}]",
    "tenants[0].modes.sox: 'sox' is neither a loaded framework (basic) nor a rule id"
)]
#[case::bad_mode(
    "tenants: [{name: a, modes: {basic: block}}]",
    "tenants[0].modes.basic: unknown variant `block`"
)]
#[case::exception_without_expiry(
    "exceptions: [{id: X, rules: [basic-replicas], reason: r, owner: o}]",
    "exceptions[0].expires: every exception needs an expiry date, at most 90 days ahead"
)]
#[case::exception_too_long(
    "exceptions: [{id: X, rules: [basic-replicas], reason: r, owner: o, expires: 2027-06-01}]",
    "exceptions[0].expires: 2027-06-01 is 188 days ahead, more than the 90 days exceptionPolicy.maxDays allows"
)]
#[case::exception_bad_date(
    "exceptions: [{id: X, rules: [basic-replicas], reason: r, owner: o, expires: soon}]",
    "exceptions[0].expires: 'soon' is not a date"
)]
#[case::exception_unknown_tenant(
    "exceptions: [{id: X, rules: [basic-replicas], scope: {tenants: [zeta]}, reason: r, owner: o, expires: 2026-12-01}]",
    "exceptions[0].scope.tenants[0]: unknown tenant 'zeta'"
)]
#[case::unknown_environment(
    "environments: [{name: production}]\ntenants: [{name: a, environments: {prod: [a-1]}}]",
    "tenants[0].environments.prod: unknown environment 'prod'"
)]
#[case::bad_token_hash(
    "tenants: [{name: a, tokens: [{sha256: abc}]}]",
    "tenants[0].tokens[0].sha256: must be 64 hex digits"
)]
#[case::unknown_field(
    "tenants: [{name: a, namespace: [x]}]",
    "tenants[0].namespace: unknown field `namespace`"
)]
fn load_errors_name_the_field(#[case] yaml: &str, #[case] expected: &str) {
    let err = tenancy(yaml, now()).expect_err("must not load");
    assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
}

#[test]
fn a_longer_exception_limit_is_configurable() {
    let yaml = "exceptionPolicy: {maxDays: 365}\nexceptions: [{id: X, rules: [basic-replicas], reason: r, owner: o, expires: 2027-06-01}]";
    tenancy(yaml, now()).expect("365 days allowed");
}

#[test]
fn without_tenancy_the_rules_act_as_written() {
    let t = tenancy("{}", now()).expect("empty config");
    let d = judge(&t, deployment("web", "shop", 3), now());
    assert_eq!(d.decision, Verdict::Deny);
    assert_eq!(finding(&d, "basic-no-latest").action, Action::Warn);
    assert!(finding(&d, "basic-no-privileged").mode.is_none());
    assert_eq!(d.tenant, None);
}

#[test]
fn environment_overrides_the_same_rule_per_environment() {
    let t = tenancy(&config(), now()).expect("config loads");
    let prod = judge(&t, deployment("web", "acme-prod", 3), now());
    assert_eq!(prod.decision, Verdict::Deny);
    assert_eq!(prod.tenant.as_deref(), Some("acme"));
    assert_eq!(
        prod.environment.as_deref(),
        Some("production"),
        "the default environment"
    );
    let privileged = finding(&prod, "basic-no-privileged");
    assert_eq!(privileged.action, Action::Deny);
    let mode = privileged.mode.as_ref().expect("mode explained");
    assert_eq!((mode.mode, &mode.source), (Mode::Enforce, &ModeSource::RuleDefault));
    assert_eq!(mode.source.to_string(), "rule default");

    let staging = judge(&t, deployment("web", "acme-stg", 3), now());
    assert_eq!(
        staging.environment.as_deref(),
        Some("staging"),
        "the tenant's namespace mapping"
    );
    assert_eq!(
        staging.decision,
        Verdict::Deny,
        "acme still enforces basic-no-latest: {:?}",
        staging.violations
    );
    let privileged = finding(&staging, "basic-no-privileged");
    assert_eq!(privileged.action, Action::Warn);
    let mode = privileged.mode.as_ref().expect("mode explained");
    assert_eq!(
        mode.source,
        ModeSource::Framework {
            layer: Layer::Environment("staging".to_owned()),
            pack: "basic".to_owned()
        }
    );
    assert_eq!(mode.source.to_string(), "environment staging (framework basic)");
    assert!(staging.warnings.iter().any(|w| w.contains("basic-no-privileged")));
    // A rule id beats a pack name at any layer: acme's own mode for basic-no-latest wins over
    // staging's mode for the whole pack.
    let latest = finding(&staging, "basic-no-latest");
    assert_eq!(latest.action, Action::Deny);
    assert_eq!(
        latest.mode.as_ref().map(|m| m.source.to_string()).as_deref(),
        Some("tenant acme (rule basic-no-latest)")
    );
}

#[test]
fn an_expiry_date_may_be_exactly_the_maximum_ahead() {
    // now() is 2026-11-25; 90 days later is 2027-02-23.
    let exception =
        |date: &str| format!("exceptions: [{{id: X, rules: [basic-replicas], reason: r, owner: o, expires: {date}}}]");
    tenancy(&exception("2027-02-23"), now()).expect("the 90th day is allowed");
    let err = tenancy(&exception("2027-02-24"), now()).expect_err("the 91st is not");
    assert!(err.contains("exceptions[0].expires"), "{err}");
}

#[test]
fn a_tenants_environment_mapping_must_name_its_own_namespaces() {
    let yaml =
        "environments: [{name: staging}]\ntenants: [{name: a, namespaces: ['a-*'], environments: {staging: [b-stg]}}]";
    let err = tenancy(yaml, now()).expect_err("b-stg is not a's");
    assert!(
        err.contains("tenants[0].environments.staging[0]: namespace 'b-stg' is not among tenant 'a''s namespaces"),
        "{err}"
    );
}

#[test]
fn exceptions_never_apply_to_another_tenants_object() {
    let yaml = "tenants: [{name: a, namespaces: ['a-*']}, {name: b, namespaces: ['b-*']}]\n\
                exceptions: [{id: NS, rules: [basic-no-privileged], scope: {namespaces: ['a-prod']}, reason: r, owner: o, expires: 2026-12-01}]";
    let t = tenancy(yaml, now()).expect("loads");
    let mut input = Input::new(deployment("web", "a-prod", 1));
    let as_a = Scope::new(&t, t.tenant("a").ok(), None, now());
    as_a.prepare(&mut input);
    assert!(
        finding(&basic_engine().evaluate_with(&input, &as_a), "basic-no-privileged")
            .exception
            .is_some()
    );
    // Tenant b's caller submitting a's object: a's exception neither applies nor shows.
    let as_b = Scope::new(&t, t.tenant("b").ok(), None, now());
    let d = basic_engine().evaluate_with(&Input::new(deployment("web", "a-prod", 1)), &as_b);
    assert!(finding(&d, "basic-no-privileged").exception.is_none());
}

#[test]
fn exception_scopes_take_single_values_and_a_labels_shorthand() {
    let yaml = "tenants: [{name: a, namespaces: ['a-*']}]\n\
                exceptions: [{id: ONE, rule: basic-no-privileged, scope: {tenant: a, namespace: a-prod, kind: Deployment, labels: {app: legacy}}, reason: r, owner: o, expires: 2026-12-01}]";
    let t = tenancy(yaml, now()).expect("singular forms load");
    let mut labelled = deployment("web", "a-prod", 1);
    labelled["metadata"]["labels"] = json!({"app": "legacy"});
    let d = judge(&t, labelled, now());
    assert_eq!(
        finding(&d, "basic-no-privileged")
            .exception
            .as_ref()
            .map(|x| x.id.as_str()),
        Some("ONE")
    );
    let d = judge(&t, deployment("web", "a-prod", 1), now());
    assert!(
        finding(&d, "basic-no-privileged").exception.is_none(),
        "the label must match"
    );
}

#[test]
fn a_namespace_object_is_placed_by_its_own_labels() {
    let yaml = "tenants: [{name: gamma, namespaceSelector: {matchLabels: {team: gamma}}}]";
    let t = tenancy(yaml, now()).expect("loads");
    let namespace =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "anything", "labels": {"team": "gamma"}}});
    assert_eq!(judge(&t, namespace, now()).tenant.as_deref(), Some("gamma"));
}

#[test]
fn callers_may_only_pick_their_own_environments() {
    let t = tenancy(&config(), now()).expect("config loads");
    let acme = t.tenant("acme").expect("acme");
    assert!(acme.may_use_environment("staging", t.default_environment()), "mapped");
    assert!(
        acme.may_use_environment("production", t.default_environment()),
        "the default"
    );
    let beta = t.tenant("beta").expect("beta");
    assert!(
        beta.may_use_environment("staging", t.default_environment()),
        "beta maps none"
    );
}

#[test]
fn tenant_modes_raise_and_lower_rules_and_frameworks_switch_packs_off() {
    let t = tenancy(&config(), now()).expect("config loads");
    let acme = judge(&t, deployment("web", "acme-dev-1", 3), now());
    let latest = finding(&acme, "basic-no-latest");
    assert_eq!(latest.action, Action::Deny, "acme enforces a warn rule");
    assert_eq!(
        latest.mode.as_ref().map(|m| m.source.to_string()).as_deref(),
        Some("tenant acme (rule basic-no-latest)")
    );

    let beta = judge(&t, deployment("web", "beta-shop", 3), now());
    assert_eq!(beta.decision, Verdict::Allow, "beta audits the whole pack");
    assert!(beta.violations.iter().all(|v| v.action == Action::Audit));
    assert_eq!(
        finding(&beta, "basic-no-privileged")
            .mode
            .as_ref()
            .map(|m| m.source.to_string())
            .as_deref(),
        Some("tenant beta (framework basic)")
    );
}

#[test]
fn pack_version_modes_cover_the_rules_changed_in_that_version() {
    let yaml = "
tenants:
  - name: gamma
    namespaces: ['gamma-*']
    modes:
      basic@1.0.0: warn
      basic: audit
  - name: delta
    namespaces: ['delta-*']
    modes:
      basic@>0.5.0: warn
      basic-no-escalation: enforce
";
    let t = tenancy(yaml, now()).expect("config loads");
    let mut object = deployment("web", "gamma-1", 3);
    object["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    let gamma = judge(&t, object.clone(), now());
    let privileged = finding(&gamma, "basic-no-privileged");
    assert_eq!(privileged.action, Action::Warn, "changed in 1.0.0: warn first");
    assert_eq!(
        privileged.mode.as_ref().map(|m| m.source.to_string()).as_deref(),
        Some("tenant gamma (basic@1.0.0: rule basic-no-privileged changed in that version)")
    );
    assert_eq!(
        finding(&gamma, "basic-no-escalation").action,
        Action::Audit,
        "changed in 0.9.0: the pack's mode"
    );

    object["metadata"]["namespace"] = json!("delta-1");
    let delta = judge(&t, object, now());
    assert_eq!(
        finding(&delta, "basic-no-privileged").action,
        Action::Warn,
        "a range covers 1.0.0"
    );
    assert_eq!(
        finding(&delta, "basic-no-escalation").action,
        Action::Patch,
        "a rule id beats a version"
    );
}

#[test]
fn a_retired_rule_id_names_what_replaced_it() {
    let text = "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {name: basic, version: 1.1.0}\n\
                spec:\n  retiredRules:\n    basic-old: replaced by basic-no-privileged\n";
    let mut sources = vec![PackSource {
        origin: "retired.yaml".to_owned(),
        text: text.to_owned(),
    }];
    let path = manifest_dir().join("tests/fixtures/packs/basic/pack.yaml");
    let basic = std::fs::read_to_string(&path)
        .expect("basic pack")
        .replace("version: 1.0.0", "version: 1.1.0");
    sources.push(PackSource {
        origin: path.display().to_string(),
        text: basic,
    });
    let engine = Engine::load(&sources).expect("packs load");
    for (yaml, field) in [
        (
            "tenants: [{name: a, modes: {basic-old: warn}}]",
            "tenants[0].modes.basic-old",
        ),
        (
            "exceptions: [{id: X, rules: [basic-old], reason: r, owner: o, expires: 2026-12-01}]",
            "exceptions[0].rules[0]",
        ),
    ] {
        let spec = celgate::config::parse_tenancy(Path::new("celgate.yaml"), yaml).expect("parses");
        let err = Tenancy::build(&spec, &engine, now()).expect_err("refused").to_string();
        assert!(
            err.contains(&format!(
                "{field}: rule 'basic-old' was retired by basic 1.1.0: replaced by basic-no-privileged (see CHANGELOG.md)"
            )),
            "{err}"
        );
    }
    // A pack cannot retire a rule it still has.
    let still = text.replace("basic-old", "basic-no-latest");
    sources[0].text = still;
    let err = Engine::load(&sources).expect_err("refused").to_string();
    assert!(
        err.contains("'basic-no-latest' is retired but still a rule of the pack"),
        "{err}"
    );
}

#[rstest]
#[case::version_without_changes(
    "tenants: [{name: a, modes: {basic@2.0.0: warn}}]",
    "tenants[0].modes.basic@2.0.0: no rule of basic was added or tightened in that version (versions with changes: 0.9.0, 1.0.0)"
)]
#[case::not_a_version(
    "environments: [{name: e, modes: {basic@latest: warn}}]",
    "environments[0].modes.basic@latest: 'latest' is neither a version"
)]
#[case::unknown_pack(
    "tenants: [{name: a, modes: {sox@1.0.0: warn}}]",
    "tenants[0].modes.sox@1.0.0: 'sox' is not a loaded framework"
)]
fn pack_version_mode_errors_name_the_key(#[case] yaml: &str, #[case] expected: &str) {
    let err = tenancy(yaml, now()).expect_err("refused");
    assert!(err.contains(expected), "{err}");
}

#[test]
fn tenant_params_reach_the_rules() {
    let t = tenancy(&config(), now()).expect("config loads");
    let acme = judge(&t, deployment("web", "acme-prod", 20), now());
    assert!(
        acme.violations.iter().all(|v| v.rule.as_ref() != "basic-replicas"),
        "acme allows 50 replicas"
    );
    let beta = judge(&t, deployment("web", "beta-shop", 3), now());
    assert_eq!(finding(&beta, "basic-replicas").message, "replicas 3 exceed 2");
    let nobody = judge(&t, deployment("web", "shop", 20), now());
    assert_eq!(
        finding(&nobody, "basic-replicas").message,
        "replicas 20 exceed 10",
        "pack default"
    );
}

#[test]
fn exceptions_apply_until_they_expire() {
    let t = tenancy(&config(), now()).expect("config loads");
    let covered = deployment("legacy-agent", "acme-prod", 1);

    let before = Utc.with_ymd_and_hms(2026, 12, 20, 23, 59, 59).single().expect("date");
    let d = judge(&t, covered.clone(), before);
    let v = finding(&d, "basic-no-privileged");
    assert_eq!(v.action, Action::Audit, "excepted findings are recorded, not blocking");
    let x = v.exception.as_ref().expect("exception named");
    assert_eq!(
        (x.id.as_str(), x.owner.as_str(), x.expires.as_str()),
        ("EXC-1", "platform@acme.example", "2026-12-20")
    );
    assert!(!x.expired);
    assert!(
        d.violations
            .iter()
            .filter(|v| v.action == Action::Deny)
            .all(|v| v.rule.as_ref() == "basic-no-latest"),
        "only acme's enforced rule still blocks: {:?}",
        d.violations
    );

    let after = before + Duration::seconds(1);
    let d = judge(&t, covered, after);
    let v = finding(&d, "basic-no-privileged");
    assert_eq!(v.action, Action::Deny, "an expired exception stops applying");
    assert!(v.exception.as_ref().is_some_and(|x| x.expired), "and is reported");
    assert!(
        v.message.contains("exception EXC-1 expired on 2026-12-20"),
        "{}",
        v.message
    );
    assert_eq!(d.decision, Verdict::Deny);

    // Out of scope: another name, and the same name in another tenant.
    let d = judge(&t, deployment("web", "acme-prod", 1), before);
    assert!(finding(&d, "basic-no-privileged").exception.is_none());
    let d = judge(&t, deployment("legacy-agent", "beta-x", 1), before);
    assert!(finding(&d, "basic-no-privileged").exception.is_none());
}

#[test]
fn an_expired_exception_loads_and_is_listed() {
    let later = Utc.with_ymd_and_hms(2027, 1, 5, 0, 0, 0).single().expect("date");
    let t = tenancy(&config(), later).expect("expired exceptions are not load errors");
    assert_eq!(t.expired_exceptions(), ["EXC-1"]);
}

#[test]
fn tokens_authorize_their_own_tenant_only() {
    let t = tenancy(&config(), now()).expect("config loads");
    assert_eq!(t.authorize(None, None).err(), Some(AccessError::Unauthenticated));
    assert_eq!(
        t.authorize(Some("cgt_wrong"), None).err(),
        Some(AccessError::Unauthenticated)
    );
    let acme = t.authorize(Some(TOKEN_A), None).expect("valid").expect("a tenant");
    assert_eq!(acme.name, "acme");
    assert_eq!(
        t.authorize(Some(TOKEN_A), Some("beta")).err(),
        Some(AccessError::OtherTenant {
            own: "acme".into(),
            asked: "beta".into()
        })
    );
    assert_eq!(
        t.authorize(Some(TOKEN_B), Some("beta"))
            .expect("own")
            .map(|t| t.name.as_str()),
        Some("beta")
    );
    let open = tenancy("{}", now()).expect("empty");
    assert!(open
        .authorize(None, Some("anyone"))
        .expect("open without tenants")
        .is_none());
}

#[test]
fn ten_thousand_tenants_load_and_resolve_by_namespace() {
    let mut yaml = String::from("tenants:\n");
    for i in 0..10_000 {
        let _ = writeln!(
            yaml,
            "  - {{name: t{i}, namespaces: ['t{i}-*'], params: {{maxReplicas: {i}}}}}"
        );
    }
    let t = tenancy(&yaml, now()).expect("1000 tenants load");
    let d = judge(&t, deployment("web", "t737-prod", 800), now());
    assert_eq!(d.tenant.as_deref(), Some("t737"));
    assert_eq!(finding(&d, "basic-replicas").message, "replicas 800 exceed 737");
}

// ---------------------------------------------------------------------------------------------
// The CLI

fn celgate() -> Command {
    Command::cargo_bin("celgate").expect("binary built")
}

fn write_config(dir: &Path, expires: &str) -> PathBuf {
    let path = dir.join("celgate.yaml");
    std::fs::write(&path, config().replace("2026-12-20", expires)).expect("write config");
    path
}

fn write_manifest(dir: &Path, name: &str, namespace: &str) -> PathBuf {
    let path = dir.join(format!("{name}-{namespace}.json"));
    std::fs::write(&path, deployment(name, namespace, 1).to_string()).expect("write manifest");
    path
}

fn basic_pack() -> PathBuf {
    manifest_dir().join("tests/fixtures/packs/basic")
}

/// `celgate check ARGS... --packs <basic> --config CONFIG MANIFEST`, run to completion.
fn check_with_config(args: &[&str], config: &Path, manifest: &Path) -> std::process::Output {
    celgate()
        .arg("check")
        .args(args)
        .arg("--packs")
        .arg(basic_pack())
        .arg("--config")
        .arg(config)
        .arg(manifest)
        .output()
        .expect("runs")
}

fn days_from_today(days: i64) -> String {
    (Utc::now() + Duration::days(days)).format("%Y-%m-%d").to_string()
}

#[test]
fn check_with_config_applies_environment_modes_and_explains_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &days_from_today(10));
    let manifest = dir.path().join("pinned.json");
    let mut pinned = deployment("web", "acme-stg", 1);
    pinned["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27");
    std::fs::write(&manifest, pinned.to_string()).expect("write manifest");
    let run = |env: &str| {
        check_with_config(
            &["--format", "json", "--tenant", "acme", "--environment", env],
            &config,
            &manifest,
        )
    };
    let staging = run("staging");
    assert_eq!(
        staging.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&staging.stderr)
    );
    let records: Value = serde_json::from_slice(&staging.stdout).expect("json");
    assert_eq!(records[0]["tenant"], "acme");
    assert_eq!(records[0]["environment"], "staging");
    let privileged = records[0]["violations"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["rule"] == "basic-no-privileged"))
        .expect("finding");
    assert_eq!(privileged["action"], "warn");
    assert_eq!(
        privileged["mode"],
        json!({"mode": "warn", "source": "environment staging (framework basic)"})
    );

    let production = run("production");
    assert_eq!(production.status.code(), Some(1), "production denies");

    let text = check_with_config(&["--color", "never", "--environment", "staging"], &config, &manifest);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("[tenant acme, environment staging]"), "{text}");
    assert!(
        text.contains("mode: warn (set by environment staging (framework basic))"),
        "{text}"
    );
}

#[test]
fn check_reports_exceptions_in_text_json_and_sarif() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expires = days_from_today(5);
    let config = write_config(dir.path(), &expires);
    let manifest = write_manifest(dir.path(), "legacy-agent", "acme-prod");
    let output = |format: &str| {
        let out = check_with_config(&["--color", "never", "--format", format], &config, &manifest);
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, text) = output("text");
    assert!(
        text.contains(&format!(
            "exception EXC-1 (owner: platform@acme.example, ticket: SEC-42) until {expires}"
        )),
        "{text}"
    );
    // basic-no-latest is enforced for acme, so the run still denies for that rule alone.
    assert_eq!(code, Some(1), "{text}");
    let (_, json_out) = output("json");
    let records: Value = serde_json::from_str(&json_out).expect("json");
    let excepted = records[0]["violations"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["rule"] == "basic-no-privileged"))
        .expect("finding");
    assert_eq!(excepted["exception"]["id"], "EXC-1", "{json_out}");
    assert_eq!(excepted["exception"]["owner"], "platform@acme.example");
    assert_eq!(excepted["action"], "audit");
    let (_, sarif) = output("sarif");
    let sarif: Value = serde_json::from_str(&sarif).expect("sarif json");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    let excepted = results
        .iter()
        .find(|r| r["ruleId"] == "basic-no-privileged")
        .expect("result");
    assert_eq!(excepted["properties"]["exception"]["id"], "EXC-1");
    assert_eq!(excepted["properties"]["tenant"], "acme");
    assert_eq!(excepted["level"], "note");
}

#[test]
fn check_config_errors_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("celgate.yaml");
    std::fs::write(
        &config,
        "exceptions: [{id: X, rules: [basic-nope], reason: r, owner: o, expires: 2026-12-01}]\n",
    )
    .expect("write");
    let manifest = write_manifest(dir.path(), "web", "shop");
    let out = check_with_config(&[], &config, &manifest);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("exceptions[0].rules[0]: unknown rule 'basic-nope'"),
        "{stderr}"
    );
    assert!(stderr.contains(&config.display().to_string()), "{stderr}");

    let good = write_config(dir.path(), &days_from_today(3));
    let out = check_with_config(&["--tenant", "zeta"], &good, &manifest);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown tenant 'zeta' (configured: acme, beta)"));
}

#[test]
fn token_new_prints_a_token_and_its_config_line() {
    let out = celgate()
        .args(["token", "new", "--tenant", "acme"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token_line = stdout
        .lines()
        .find(|l| l.starts_with(token::TOKEN_PREFIX))
        .expect("the token on a line of its own");
    let hash = token::to_hex(&token::hash(token_line.trim()));
    assert!(stdout.contains(&format!("sha256: {hash}")), "{stdout}");
    assert!(stdout.contains("acme"), "{stdout}");
}
