//! Reading config documents from text with their source positions.
//!
//! [`parse_documents`] turns YAML (or JSON, which YAML 1.2 reads as a subset) into
//! [`serde_json::Value`] documents, each with a [`PositionMap`] that maps JSON pointers to the
//! line and column where that node was written, so findings can be reported as
//! `file:line:column`. [`emit::to_yaml_string`] goes the other way, rendering a value as a
//! block-style YAML document.

pub mod emit;
pub mod yaml;

pub use emit::to_yaml_string;
pub use yaml::{escape_segment, parse_documents, Position, PositionMap, SourceDoc, SourceError, MAX_DEPTH, MAX_NODES};
