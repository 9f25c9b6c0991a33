//! celgate: an admission webhook and compliance policy engine whose rules are CEL expressions.
//!
//! One engine, several doors (see `../shared/design.md`):
//! - [`engine`]: the pure core — rule packs ([`engine::pack`]), compiling CEL
//!   ([`engine::compile`]), selecting rules ([`engine::select`]), evaluating one
//!   [`engine::Input`] into one [`engine::Decision`], and `JSONPatch` ([`engine::patch`]);
//! - [`source`]: reading YAML/JSON documents with their line and column;
//! - [`packs`]: finding pack files on disk or embedded in the binary;
//! - [`documents`]: turning files, folders and stdin into documents to check;
//! - [`files`]: finding files in folders and working on them on every core, in order;
//! - [`report`]: rendering decisions as text, JSON, SARIF and `JUnit`;
//! - [`testing`]: running packs' own test cases;
//! - [`notify`]: Slack alerts on denials and on celgate's own trouble (Block Kit, queue, retries);
//! - [`cli`] and [`commands`]: the command line (`check`, `eval`, `test`).
//! - [`audit`]: the hash-chained, optionally encrypted decision log, its verification and reading;
//! - [`cli`] and [`commands`]: the command line (`check`, `eval`, `test`, `audit`).

pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod docs;
pub mod documents;
pub mod engine;
pub mod files;
pub mod metrics;
pub mod notify;
pub mod packs;
pub mod report;
pub mod review;
pub mod server;
pub mod source;
pub mod tenant;
pub mod testing;
