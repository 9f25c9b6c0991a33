//! [`SourceError`]: why a source text could not be read.

use yaml_rust2::scanner::ScanError;

use super::{Position, MAX_DEPTH, MAX_NODES};

/// Why a source text could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The text is not well-formed YAML (or JSON).
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// Line of the error (1-based).
        line: usize,
        /// Column of the error (1-based).
        column: usize,
        /// What the parser expected or found.
        message: String,
    },
    /// Sequences and mappings are nested deeper than [`MAX_DEPTH`].
    #[error("line {line}, column {column}: nesting is deeper than the limit of {max} levels")]
    TooDeep {
        /// Line of the node that went past the limit (1-based).
        line: usize,
        /// Column of the node that went past the limit (1-based).
        column: usize,
        /// The limit, [`MAX_DEPTH`].
        max: usize,
    },
    /// The document would produce more than [`MAX_NODES`] nodes, usually because aliases copy
    /// large anchored nodes many times.
    #[error(
        "line {line}, column {column}: the document expands to more than {max} nodes \
         (too many or too large alias copies)"
    )]
    TooManyNodes {
        /// Line of the node that went past the limit (1-based).
        line: usize,
        /// Column of the node that went past the limit (1-based).
        column: usize,
        /// The limit, [`MAX_NODES`].
        max: usize,
    },
    /// Copies of anchored nodes (aliases) would add more than `max` bytes to the stream: an
    /// "alias bomb" whose few bytes of text expand to far more in memory. Refused before the
    /// copies are made.
    #[error(
        "line {line}, column {column}: aliases expand the input by more than {max} bytes \
         ({limit}; a copy counts its text and {node_bytes} bytes a node)",
        node_bytes = super::builder::NODE_BYTES
    )]
    TooLarge {
        /// Line of the alias (or anchor) that went past the limit (1-based).
        line: usize,
        /// Column of the alias (or anchor) that went past the limit (1-based).
        column: usize,
        /// The limit in bytes.
        max: usize,
        /// The setting the limit comes from.
        limit: &'static str,
    },
    /// A mapping has the same key twice.
    #[error(
        "line {line}, column {column}: duplicate key {key:?} in mapping \
         (first defined at line {first_line}, column {first_column})"
    )]
    DuplicateKey {
        /// Line of the second occurrence (1-based).
        line: usize,
        /// Column of the second occurrence (1-based).
        column: usize,
        /// The repeated key.
        key: String,
        /// Line of the first occurrence (1-based).
        first_line: usize,
        /// Column of the first occurrence (1-based).
        first_column: usize,
    },
    /// A scalar with an explicit tag (`!!int`, `!!bool`, …) whose text is not of that type.
    #[error("line {line}, column {column}: {value:?} is not a valid {tag} value")]
    InvalidScalar {
        /// Line of the scalar (1-based).
        line: usize,
        /// Column of the scalar (1-based).
        column: usize,
        /// The tag, e.g. `!!int`.
        tag: String,
        /// The scalar's text.
        value: String,
    },
    /// Valid YAML that has no JSON equivalent or that the loader does not support, such as a
    /// mapping used as a mapping key or an alias to an anchor that is not available.
    #[error("line {line}, column {column}: {message}")]
    Unsupported {
        /// Line of the construct (1-based).
        line: usize,
        /// Column of the construct (1-based).
        column: usize,
        /// What is not supported.
        message: String,
    },
}

impl SourceError {
    /// Where in the text the error was found.
    #[must_use]
    pub fn position(&self) -> Position {
        let (line, column) = match self {
            SourceError::Syntax { line, column, .. }
            | SourceError::TooDeep { line, column, .. }
            | SourceError::TooManyNodes { line, column, .. }
            | SourceError::TooLarge { line, column, .. }
            | SourceError::DuplicateKey { line, column, .. }
            | SourceError::InvalidScalar { line, column, .. }
            | SourceError::Unsupported { line, column, .. } => (*line, *column),
        };
        Position { line, column }
    }

    pub(super) fn from_scan(err: &ScanError) -> Self {
        let at = Position::from_marker(*err.marker());
        // The scanner has its own (larger) limit on flow nesting, and may reach it while
        // looking ahead, before the loader sees the events that would trip MAX_DEPTH.
        match err.info() {
            "recursion limit exceeded" => return SourceError::too_deep(at),
            "while parsing node, found unknown anchor" => {
                return SourceError::unsupported(at, "alias refers to an unknown anchor");
            }
            _ => {}
        }
        SourceError::Syntax {
            line: at.line,
            column: at.column,
            message: err.info().to_owned(),
        }
    }

    pub(super) fn unsupported(at: Position, message: impl Into<String>) -> Self {
        SourceError::Unsupported {
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }

    pub(super) fn too_deep(at: Position) -> Self {
        SourceError::TooDeep {
            line: at.line,
            column: at.column,
            max: MAX_DEPTH,
        }
    }

    pub(super) fn too_many_nodes(at: Position) -> Self {
        SourceError::TooManyNodes {
            line: at.line,
            column: at.column,
            max: MAX_NODES,
        }
    }
}

#[cfg(test)]
#[path = "tests/error.rs"]
mod tests;
