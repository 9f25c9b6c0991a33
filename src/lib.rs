//! celgate: an admission webhook and compliance policy engine whose rules are CEL expressions.
//!
//! One engine, several doors (see `../shared/design.md`):
//! - [`engine`]: the pure core — rule packs ([`engine::pack`]), compiling CEL
//!   ([`engine::compile`]) with the Kubernetes CEL libraries ([`engine::k8s`]), Kubernetes
//!   admission policies run as packs ([`engine::vap`]), selecting rules ([`engine::select`]),
//!   evaluating one [`engine::Input`] into one [`engine::Decision`] under a tenant's modes and
//!   exceptions ([`engine::overrides`]), and `JSONPatch` ([`engine::patch`]);
//! - [`service`]: the one service behind every door — `judge(door, input, caller)` resolves the
//!   tenant and environment, evaluates, and returns the decision with its audit record and alert;
//! - [`tenant`]: tenants, environments, modes, params, exceptions and check-API tokens;
//! - [`source`]: reading YAML/JSON documents with their line and column;
//! - [`packs`]: finding pack files on disk or embedded in the binary;
//! - [`documents`]: turning files, folders and stdin into documents to check;
//! - [`fix`]: writing patched documents back into their text, changing only what the patch changes;
//! - [`files`]: finding files in folders and working on them on every core, in order;
//! - [`report`]: rendering decisions as text, JSON, SARIF and `JUnit`;
//! - [`testing`]: running packs' own test cases;
//! - [`text`]: cutting texts to a byte budget;
//! - [`review`]: the only module that knows the `AdmissionReview` v1 wire format;
//! - [`server`]: TLS, routes, reloads, graceful shutdown; [`config`] and [`metrics`] for it;
//! - [`audit`]: the hash-chained, optionally encrypted decision log, its verification and reading;
//! - [`notify`]: Slack alerts on denials and on celgate's own trouble (Block Kit, queue, retries);
//! - [`cli`] and [`commands`]: the command line (`check`, `eval`, `test`, `serve`, `certs`,
//!   `docs`, `audit`, `token`).

pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod docs;
pub mod documents;
pub mod engine;
pub mod files;
pub mod fix;
pub mod metrics;
pub mod notify;
pub mod packs;
pub mod report;
pub mod review;
pub mod server;
pub mod service;
pub mod source;
pub mod tenant;
pub mod testing;
pub mod text;
