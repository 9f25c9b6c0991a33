//! YAML / JSON loading into [`serde_json::Value`] with the source position of every node.
//!
//! The loader drives `yaml-rust2`'s event parser directly (pulling events with
//! [`Parser::next_token`] rather than using its recursive `load`), and builds each document with
//! an explicit stack, so input nesting never turns into native recursion. Nesting is capped at
//! [`MAX_DEPTH`], which also bounds the recursion of anything that later clones, drops or
//! serializes the values built here.
//!
//! # Resolution rules
//!
//! * Plain (unquoted) scalars follow the YAML 1.2 core schema: `null`, `Null`, `NULL`, `~` and
//!   the empty scalar are null; `true`/`True`/`TRUE` and the `false` forms are booleans;
//!   decimal (`[-+]?[0-9]+`), hexadecimal (`0x…`) and octal (`0o…`) integers become JSON
//!   integers (i64, else u64, else a float); decimal floats become JSON floats. Note that a
//!   leading zero does not mean octal in YAML 1.2: `0755` is 755.
//! * `.inf`, `-.inf` and `.nan` (and any float too large for `f64`) cannot be represented in
//!   JSON; they are kept as the string the user wrote.
//! * Quoted, literal (`|`) and folded (`>`) scalars are always strings.
//! * The explicit tags `!!str`, `!!int`, `!!float`, `!!bool` and `!!null` force that type (an
//!   invalid value, such as `!!int abc`, is an error). The non-specific tag `!` and every other
//!   tag (`!!binary`, `!custom`, …) keep the scalar as a string. Tags on collections are ignored.
//! * Mapping keys must be scalars and are used as written (`80: x` gives the key `"80"`,
//!   `true: x` gives `"true"`, an empty key gives `""`). Duplicate keys are an error.
//! * Anchors and aliases are supported: an alias is a copy of the anchored node. Copies count
//!   against a per-document budget of [`MAX_NODES`] nodes, and against a per-stream budget of
//!   bytes ([`ParseLimits::expansion_bytes`], by default [`DEFAULT_EXPANSION_BYTES`], or the
//!   text's own length when larger): "billion laughs" protection decided before a copy is made,
//!   so a few kilobytes of aliases cannot grow into gigabytes. An alias may not push nesting
//!   past [`MAX_DEPTH`]. An alias must refer to an anchor defined
//!   earlier in the same document, outside the node that contains the alias.
//! * Merge keys are supported: a plain (unquoted) `<<` key whose value is a mapping, or a
//!   sequence of mappings, merges those entries into the enclosing mapping. Keys written in the
//!   mapping itself win over merged ones, and within a merge the earlier mapping wins. Merged
//!   entries are located at the `<<` key. A quoted `"<<"` is an ordinary key.
//!
//! # Positions
//!
//! Lines and columns are 1-based; a column counts Unicode scalar values (characters) from the
//! start of the line. The position of a mapping value is the position of its key; the position of
//! a sequence item or of a document root is that of the node itself (for a block mapping, its
//! first key). Nodes inside an alias copy have no positions of their own: [`PositionMap::locate`]
//! reports the alias for them.

use serde_json::Value;
use yaml_rust2::parser::{Event, Parser};

use super::builder::{DocBuilder, Expansion};
pub use super::error::SourceError;
pub use super::positions::{escape_segment, Position, PositionMap};

/// Deepest nesting of sequences and mappings accepted in a document.
pub const MAX_DEPTH: usize = 128;

/// Most nodes one document may produce, counting the copies made for anchors and aliases.
pub const MAX_NODES: usize = 1_000_000;

/// The default of [`ParseLimits::expansion_bytes`]: the server's default body limit
/// (`limits.maxBodyBytes`, 3 MiB).
pub const DEFAULT_EXPANSION_BYTES: usize = 3 * 1024 * 1024;

/// Bounds on what a text may expand to beyond its own size.
#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    /// Most bytes that copies made for aliases (and kept for anchors) may add to the whole
    /// stream; a text longer than this may add its own length. Each copy counts its text plus
    /// 48 bytes a node, about what it takes in memory.
    pub expansion_bytes: usize,
    /// The setting `expansion_bytes` comes from, named in the error.
    pub limit_name: &'static str,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            expansion_bytes: DEFAULT_EXPANSION_BYTES,
            limit_name: "the expansion limit",
        }
    }
}

/// One document of a (possibly multi-document) source.
#[derive(Debug, Clone)]
pub struct SourceDoc {
    /// 0-based index of the document in the stream, counting empty documents that were skipped.
    pub index: usize,
    /// The document's content.
    pub value: Value,
    /// Where each node of `value` was written.
    pub positions: PositionMap,
    /// Line where the document starts (1-based): its `---` marker, or its first content line.
    /// For an item of a list, the line of the item.
    pub line: usize,
    /// For an item of a list split by [`SourceDoc::split_list`], its index in `items`.
    pub item: Option<usize>,
}

/// Parses every document in `text` (YAML 1.2; JSON is accepted as the YAML subset it is).
///
/// Empty documents (e.g. a stream that is only comments, or `---` followed by nothing) are
/// skipped (no [`SourceDoc`] for them), but indexes count them so `index` matches what the user
/// sees. See the [module documentation](self) for how scalars, keys, anchors and merge keys are
/// read.
///
/// # Errors
///
/// Any [`SourceError`]: malformed text, nesting deeper than [`MAX_DEPTH`], more than
/// [`MAX_NODES`] nodes in a document, aliases expanding past the default [`ParseLimits`],
/// duplicate keys, invalid tagged scalars, or constructs with no JSON equivalent. The first
/// error in the stream stops parsing.
pub fn parse_documents(text: &str) -> Result<Vec<SourceDoc>, SourceError> {
    parse_documents_within(text, ParseLimits::default())
}

/// [`parse_documents`] with the expansion bounded by `limits` (the server ties it to its body
/// limit).
///
/// # Errors
///
/// As [`parse_documents`].
pub fn parse_documents_within(text: &str, limits: ParseLimits) -> Result<Vec<SourceDoc>, SourceError> {
    let mut expansion = Expansion {
        max: limits.expansion_bytes.max(text.len()),
        used: 0,
        limit: limits.limit_name,
    };
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut index = 0;
    let mut current: Option<(DocBuilder, usize)> = None;
    loop {
        let (event, mark) = parser.next_token().map_err(|err| SourceError::from_scan(&err))?;
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart => {
                current = Some((DocBuilder::new(expansion), mark.line().max(1)));
            }
            Event::DocumentEnd => {
                if let Some((builder, line)) = current.take() {
                    expansion = builder.expansion();
                    if let Some((value, positions)) = builder.finish() {
                        docs.push(SourceDoc {
                            index,
                            value,
                            positions,
                            line,
                            item: None,
                        });
                    }
                }
                index += 1;
            }
            other => match current.as_mut() {
                Some((builder, _)) => builder.on_event(other, mark)?,
                None => {
                    return Err(SourceError::Syntax {
                        line: mark.line().max(1),
                        column: mark.col() + 1,
                        message: "node outside of a document".to_owned(),
                    })
                }
            },
        }
    }
    Ok(docs)
}

#[cfg(test)]
#[path = "tests/yaml.rs"]
mod tests;
