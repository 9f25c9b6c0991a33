//! celgate: an admission webhook and compliance policy engine whose rules are CEL expressions.
//!
//! One engine, several doors (see `../shared/design.md`):
//! - [`engine`]: the pure core, in layers that import downward only (map in its docs): the CEL
//!   dialect with the Kubernetes CEL libraries ([`engine::cel`]), the subject of a judgement and
//!   its [`engine::Decision`] ([`engine::facts`], with a tenant's modes and exceptions in
//!   [`engine::facts::overrides`]), rule packs, their compiled form, selection and `JSONPatch`
//!   ([`engine::pack`]), Kubernetes admission policies run as packs ([`engine::vap`]), and one
//!   evaluation kernel judging one [`engine::Input`] into one [`engine::Decision`];
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
pub mod source;
pub mod tenant;
pub mod testing;
pub mod text;
