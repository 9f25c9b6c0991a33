//! Reading config documents from text with their source positions.
//!
//! [`parse_documents`] turns YAML (or JSON, which YAML 1.2 reads as a subset) into
//! [`serde_json::Value`] documents, each with a [`PositionMap`] that maps JSON pointers to the
//! line and column where that node was written, so findings can be reported as
//! `file:line:column`. [`lists`] splits a `kind: List` document into its items.
//! [`emit::to_yaml_string`] goes the other way, rendering a value as a block-style YAML document.

mod builder;
pub mod emit;
mod error;
pub mod lists;
mod positions;
mod scalar;
pub mod yaml;

#[cfg(test)]
#[path = "tests/support.rs"]
mod test_support;

pub use emit::to_yaml_string;
pub use lists::{is_list_kind, list_items};
pub use yaml::{
    escape_segment, parse_documents, parse_documents_within, ParseLimits, Position, PositionMap, SourceDoc,
    SourceError, DEFAULT_EXPANSION_BYTES, MAX_DEPTH, MAX_NODES,
};
