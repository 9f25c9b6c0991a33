//! The CEL dialect celgate speaks, with nothing of packs or policies in it: the one environment
//! with the Kubernetes CEL libraries (`k8s`) and celgate's functions (`functions`), compiling
//! and checking one expression ([`compile`], `typecheck`, `macros2`, `opt_chain`), the
//! cost estimate and meter ([`cost`]), and the values expressions read and return ([`json_val`],
//! [`value`], `equality`). Imports nothing of the engine outside `cel/`.

pub(crate) mod ast;
pub mod compile;
pub mod compiled;
pub mod cost;
pub mod environment;
pub(crate) mod equality;
mod error_text;
pub(crate) mod expr_eval;
pub(crate) mod functions;
pub mod json_val;
pub(crate) mod k8s;
pub(crate) mod macros2;
pub(crate) mod opt_chain;
mod scan;
pub(crate) mod typecheck;
pub mod value;
