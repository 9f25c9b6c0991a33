//! The one service behind every door (`celgate::service`): the same input and caller judged
//! the same way whichever door asks, tenants and environments resolved once, and the audit
//! record and alert event built from the engine that judged.

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use celgate::engine::{Action, Door, Engine, Input, PackSource, Verdict};
use celgate::service::{Caller, CallerError, Outputs, Service, TenantChoice};
use celgate::tenant::Tenancy;

fn engine() -> Engine {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/packs/basic/pack.yaml");
    let text = std::fs::read_to_string(&path).expect("basic pack");
    Engine::load(&[PackSource {
        origin: path.display().to_string(),
        text,
    }])
    .expect("basic pack loads")
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .expect("valid date")
}

const CONFIG: &str = r"
environment: production
tenants:
  - name: acme
    namespaces: [acme-prod, acme-stg]
    environments:
      staging: [acme-stg]
    modes:
      basic-no-latest: audit
  - name: beta
    namespaces: ['beta-*']
environments:
  - name: production
  - name: staging
    modes:
      basic: warn
  - name: qa
";

fn tenancy(engine: &Engine) -> Tenancy {
    let spec = celgate::config::parse_tenancy(Path::new("celgate.yaml"), CONFIG).expect("config parses");
    Tenancy::build(&spec, engine, now()).expect("config builds")
}

/// A Deployment on `:latest` (a `basic-no-latest` finding) in `namespace`.
fn deployment(namespace: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:latest"}]}}}
    })
}

fn caller(tenant: TenantChoice, environment: Option<&str>) -> Caller {
    Caller {
        tenant,
        environment: environment.map(str::to_owned),
        request_id: Some("req-1".to_owned()),
    }
}

const ALL: Outputs = Outputs {
    audit: true,
    alerts: true,
    caps: true,
    unconfigured: true,
};

#[test]
fn every_door_resolves_the_same_caller_the_same_way() {
    let engine = engine();
    let tenancy = tenancy(&engine);
    let service = Service::new(&engine, Some(&tenancy), now(), ALL);
    let by_namespace = caller(TenantChoice::OwnerOfNamespace, None);
    let named = caller(TenantChoice::Named("acme".to_owned()), None);
    let decisions: Vec<_> = [
        (Door::Admission, &by_namespace),
        (Door::Ci, &by_namespace),
        (Door::CheckApi, &named),
        (Door::Ci, &named),
    ]
    .into_iter()
    .map(|(door, caller)| {
        let judged = service
            .judge(door, Input::new(deployment("acme-prod")), caller)
            .expect("judged");
        assert_eq!(judged.input.tenant.as_deref(), Some("acme"), "{door:?}");
        judged.decision
    })
    .collect();
    for d in &decisions {
        assert_eq!(d.tenant.as_deref(), Some("acme"));
        assert_eq!(d.environment.as_deref(), Some("production"));
        let summary = |d: &celgate::engine::Decision| {
            d.violations
                .iter()
                .map(|v| (v.rule.clone(), v.action, v.pointer.clone(), v.message.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(d), summary(&decisions[0]));
        assert_eq!(d.decision, decisions[0].decision);
    }
    // acme audits basic-no-latest (written as warn): the finding is kept, only recorded.
    assert_eq!(latest_action(&decisions[0]), Some(Action::Audit));
}

#[test]
fn the_environment_comes_from_the_caller_or_else_the_namespace() {
    let engine = engine();
    let tenancy = tenancy(&engine);
    let service = Service::new(&engine, Some(&tenancy), now(), ALL);
    let staging = service
        .judge(
            Door::Admission,
            Input::new(deployment("acme-stg")),
            &caller(TenantChoice::OwnerOfNamespace, None),
        )
        .expect("judged");
    assert_eq!(staging.decision.environment.as_deref(), Some("staging"));
    let named = service
        .judge(
            Door::Ci,
            Input::new(deployment("acme-prod")),
            &caller(TenantChoice::OwnerOfNamespace, Some("staging")),
        )
        .expect("judged");
    assert_eq!(named.decision.environment.as_deref(), Some("staging"));
    // Without a tenant the check API judges with no tenant's configuration.
    let unnamed = service
        .judge(
            Door::CheckApi,
            Input::new(deployment("acme-prod")),
            &caller(TenantChoice::Unnamed, None),
        )
        .expect("judged");
    assert_eq!(unnamed.decision.tenant, None);
    assert_eq!(
        latest_action(&unnamed.decision),
        Some(Action::Warn),
        "basic-no-latest as written"
    );
}

#[test]
fn callers_are_refused_unknown_or_foreign_environments() {
    let engine = engine();
    let tenancy = tenancy(&engine);
    let service = Service::new(&engine, Some(&tenancy), now(), ALL);
    let unknown = service.judge(
        Door::Ci,
        Input::new(deployment("acme-prod")),
        &caller(TenantChoice::OwnerOfNamespace, Some("moon")),
    );
    let Err(CallerError::UnknownEnvironment(e)) = unknown else {
        panic!("expected an unknown environment, got {unknown:?}");
    };
    assert!(e.to_string().contains("moon"), "{e}");
    // acme maps namespaces to staging only (and production is the default): not to qa.
    let acme_qa = caller(TenantChoice::Named("acme".to_owned()), Some("qa"));
    let refused = service
        .judge(Door::CheckApi, Input::new(deployment("acme-prod")), &acme_qa)
        .expect_err("refused");
    assert_eq!(
        refused.to_string(),
        "tenant 'acme' has no namespaces in environment 'qa'"
    );
    // `celgate check --tenant acme --environment qa` is the operator's own choice.
    assert!(service
        .judge(Door::Ci, Input::new(deployment("acme-prod")), &acme_qa)
        .is_ok());
}

#[test]
fn the_record_and_event_carry_the_request_id_and_the_judging_packs() {
    let engine = engine();
    let tenancy = tenancy(&engine);
    let service = Service::new(&engine, Some(&tenancy), now(), ALL);
    let judged = service
        .judge(
            Door::CheckApi,
            Input::new(deployment("beta-1")),
            &caller(TenantChoice::Named("beta".to_owned()), None),
        )
        .expect("judged");
    let record = judged.record.expect("a record");
    assert_eq!(record.uid.as_deref(), Some("req-1"));
    // One set of request facts, derived once from the kind, is what the record shows too.
    let facts = judged
        .input
        .request
        .as_ref()
        .expect("the service fills the request facts");
    assert_eq!(facts.resource.resource, "deployments");
    assert_eq!(
        (record.resource.as_str(), record.sub_resource.as_str()),
        ("deployments", "")
    );
    let packs: Vec<String> = engine
        .packs()
        .iter()
        .map(|p| format!("{}@{}", p.metadata.name, p.metadata.version))
        .collect();
    assert_eq!(record.packs, packs);
    let event = judged.event.expect("findings raise an event");
    assert_eq!(event.request_uid.as_deref(), Some("req-1"));

    // Nothing asked for, nothing built.
    let quiet = Service::new(&engine, Some(&tenancy), now(), Outputs::default())
        .judge(
            Door::CheckApi,
            Input::new(deployment("beta-1")),
            &caller(TenantChoice::Named("beta".to_owned()), None),
        )
        .expect("judged");
    assert!(quiet.record.is_none() && quiet.event.is_none());
}

#[test]
fn without_a_tenancy_the_named_tenant_is_shown_and_the_rules_act_as_written() {
    let engine = engine();
    let service = Service::new(&engine, None, now(), ALL);
    let judged = service
        .judge(
            Door::Ci,
            Input::new(deployment("acme-prod")),
            &caller(TenantChoice::Named("acme".to_owned()), Some("staging")),
        )
        .expect("judged");
    assert_eq!(judged.decision.tenant.as_deref(), Some("acme"));
    assert_eq!(judged.decision.environment.as_deref(), Some("staging"));
    assert_eq!(latest_action(&judged.decision), Some(Action::Warn), "as written");
    assert_ne!(judged.decision.decision, Verdict::Allow);
}

/// What became of the `:latest` finding.
fn latest_action(decision: &celgate::engine::Decision) -> Option<Action> {
    decision
        .violations
        .iter()
        .find(|v| v.rule.as_ref() == "basic-no-latest")
        .map(|v| v.action)
}
