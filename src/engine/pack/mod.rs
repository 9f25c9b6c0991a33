//! Packs: the strict serde model of a rule pack ([`model`], re-exported here), the compiled model
//! every pack becomes ([`compiled`], a rule pack or an admission policy, whose admission part is
//! in `admission`), loading rule packs (`load`, `rule_compile`, with their errors in
//! [`error`]), selecting rules (`select`), message templates (`template`), patches
//! (`patch`), example params (`placeholders`), sharing work across packs (`share`), compiled
//! programs ([`programs`]) and the cost report ([`cost_report`]). Imports `cel/` and `facts/`, never `vap/` or `eval/`.

pub(crate) mod admission;
pub mod compiled;
pub mod cost_report;
pub mod error;
pub(crate) mod load;
pub mod model;
pub(crate) mod patch;
pub(crate) mod placeholders;
pub mod programs;
pub(crate) mod rule_compile;
pub(crate) mod select;
pub(crate) mod share;
pub(crate) mod template;

pub use model::*;
