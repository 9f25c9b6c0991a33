//! celgate: an admission webhook and compliance policy engine whose rules are CEL expressions.
//!
//! One engine, several doors (see `../shared/design.md`):
//! - [`engine`]: the pure core, in layers that import downward only (map in its docs): the CEL
//!   dialect with the Kubernetes CEL libraries ([`engine::cel`]), the subject of a judgement and
//!   its [`engine::Decision`] ([`engine::facts`], with a tenant's modes and exceptions in
//!   [`engine::facts::overrides`]), rule packs, their compiled form, selection and `JSONPatch`
//!   ([`engine::pack`]), Kubernetes admission policies run as packs ([`engine::vap`]), and one
//!   evaluation kernel judging one [`engine::Input`] into one [`engine::Decision`];
//! - [`service`]: the one service behind every door — `judge(door, input, caller)` resolves the
//!   tenant and environment, evaluates, and returns the decision with its audit record and alert;
//! - [`tenant`]: tenants, environments, modes, params, exceptions and check-API tokens;
//! - [`source`]: reading YAML/JSON documents with their line and column;
//! - [`packs`]: finding pack files on disk or embedded in the binary;
//! - [`documents`]: turning files, folders and stdin into documents to check;
//! - [`fix`]: writing patched documents back into their text, changing only what the patch changes;
//! - `files` (internal): finding files in folders and working on them on every core, in order;
//! - [`report`]: rendering decisions as text, JSON, SARIF and `JUnit`;
//! - [`testing`]: running packs' own test cases;
//! - `text` (internal): reading JSON bodies, cutting texts to a byte budget;
//! - [`scan`]: judging what already runs in a cluster (`celgate scan`, `serve`'s periodic scan):
//!   listing through the Kubernetes API, policy reports printed or applied, one replica via a `Lease`;
//! - [`review`]: the only module that knows the `AdmissionReview` v1 wire format;
//! - [`server`]: TLS, routes, reloads, graceful shutdown; [`config`] and [`metrics`] for it;
//! - [`audit`]: the hash-chained, optionally encrypted decision log, its verification and reading;
//! - [`notify`]: Slack alerts on denials and on celgate's own trouble (Block Kit, queue, retries);
//! - [`cli`] and [`commands`]: the command line (`check`, `eval`, `test`, `serve`, `certs`,
//!   `docs`, `audit`, `token`).
//!
//! # Judging a document
//!
//! Load the packs shipped in the binary, judge a document through the [`service`] as
//! `celgate check` does, and read the decision:
//!
//! ```
//! use celgate::engine::{Action, Door, Engine, Input, Verdict};
//! use celgate::service::{Caller, Outputs, Service};
//!
//! let engine = Engine::load(&celgate::packs::embedded().packs).expect("the shipped packs load");
//! let deployment = serde_json::json!({
//!     "apiVersion": "apps/v1",
//!     "kind": "Deployment",
//!     "metadata": {"name": "web", "namespace": "shop"},
//!     "spec": {"template": {"spec": {"containers": [{
//!         "name": "app",
//!         "image": "registry.example/web:1.4.2",
//!         "securityContext": {"privileged": true}
//!     }]}}}
//! });
//! // No tenancy configured: every rule acts as its pack wrote it.
//! let service = Service::new(&engine, None, chrono::Utc::now(), Outputs::default());
//! let judged = service
//!     .judge(Door::Ci, Input::new(deployment), &Caller::default())
//!     .expect("without a tenancy no caller is refused");
//!
//! let decision = judged.decision;
//! assert_eq!(decision.decision, Verdict::Deny);
//! let privileged = decision
//!     .violations
//!     .iter()
//!     .find(|v| v.action == Action::Deny && v.pointer.ends_with("/securityContext/privileged"))
//!     .expect("a finding on the privileged flag");
//! // Each finding names its rule, its controls, the field, why it matters and how to fix it.
//! assert!(!privileged.controls.is_empty());
//! assert!(!privileged.remediation.is_empty());
//! ```
//!
//! # Loading a pack of your own, for a tenant
//!
//! A pack is YAML text with an origin for its errors; a tenancy (the `tenants:`, `environments:`
//! and `exceptions:` of `celgate.yaml`) decides modes per tenant, and the judgment carries the
//! audit record, with the request id and the versions of the packs that judged:
//!
//! ```
//! use celgate::engine::{Action, Door, Engine, Input, PackSource};
//! use celgate::service::{Caller, Outputs, Service, TenantChoice};
//!
//! let pack = r#"
//! apiVersion: celgate.io/v1
//! kind: RulePack
//! metadata: {name: shop, version: 1.0.0}
//! spec:
//!   rules:
//!     - id: shop-replicas
//!       title: Deployments run at least two replicas
//!       controls: ["TSC A1.2"]
//!       severity: medium
//!       match: {kinds: [Deployment]}
//!       validate: "object.spec.replicas >= 2"
//!       message: "{object.metadata.name} runs {object.spec.replicas} replica(s)"
//!       remediation: Set spec.replicas to 2 or more.
//!       action: deny
//! "#;
//! let engine = Engine::load(&[PackSource { origin: "shop.yaml".into(), text: pack.into() }])
//!     .expect("the pack loads");
//!
//! let config = "tenants: [{name: shop, namespaces: ['shop-*'], modes: {shop-replicas: warn}}]";
//! let spec = celgate::config::parse_tenancy(std::path::Path::new("celgate.yaml"), config)
//!     .expect("the config parses");
//! let now = chrono::Utc::now();
//! let tenancy = celgate::tenant::Tenancy::build(&spec, &engine, now).expect("the config fits the packs");
//!
//! let outputs = Outputs { audit: true, ..Outputs::default() };
//! let service = Service::new(&engine, Some(&tenancy), now, outputs);
//! let caller = Caller { request_id: Some("ci-42".into()), ..Caller::default() };
//! let object = serde_json::json!({
//!     "apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "cart", "namespace": "shop-prod"},
//!     "spec": {"replicas": 1}
//! });
//! let judged = service.judge(Door::CheckApi, Input::new(object), &caller).expect("judged");
//!
//! assert_eq!(judged.decision.tenant.as_deref(), Some("shop"));
//! let finding = &judged.decision.violations[0];
//! assert_eq!((finding.rule.as_ref(), finding.action), ("shop-replicas", Action::Warn));
//! assert_eq!(finding.message, "cart runs 1 replica(s)");
//! let record = judged.record.expect("an audit record was asked for");
//! assert_eq!(record.uid.as_deref(), Some("ci-42"));
//! assert_eq!(record.packs, ["shop@1.0.0"]);
//! # let _ = TenantChoice::Unnamed;
//! ```

pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub(crate) mod docs;
pub mod documents;
pub mod engine;
pub(crate) mod files;
pub mod fix;
pub mod metrics;
pub mod notify;
pub mod packs;
pub mod report;
pub mod review;
pub mod scan;
pub mod server;
pub mod service;
pub mod source;
pub mod tenant;
pub mod testing;
pub(crate) mod text;
