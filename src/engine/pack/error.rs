//! Load-time errors: each names the pack file, the line, the rule or variable and the field.

use crate::engine::cel::compile::CompileError;
use crate::source::SourceError;

/// One thing wrong with the packs being loaded.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The YAML itself does not parse.
    #[error("{file}: {source}")]
    Syntax {
        /// Pack file.
        file: String,
        /// Parser error with line and column.
        #[source]
        source: SourceError,
    },
    /// A field is unknown, missing or of the wrong type.
    #[error("{file}:{line}: {path}: {message}")]
    Schema {
        /// Pack file.
        file: String,
        /// Line of the offending field.
        line: usize,
        /// Dotted path of the field (`spec.rules[2].severity`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A document of another `apiVersion`/`kind`.
    #[error("{file}:{line}: {field} is '{found}'; expected '{expected}'")]
    Header {
        /// Pack file.
        file: String,
        /// Line of the field.
        line: usize,
        /// `apiVersion` or `kind`.
        field: &'static str,
        /// What the file says.
        found: String,
        /// What this build reads.
        expected: &'static str,
    },
    /// A rule-level or pack-level field with an invalid value.
    #[error("{file}:{line}: {subject}: {field}: {message}")]
    Invalid {
        /// Pack file.
        file: String,
        /// Line of the field.
        line: usize,
        /// `rule 'id'`, `variable 'name'` or `pack 'name'`.
        subject: String,
        /// Field name (`validate`, `forEach`, `metadata.version`, ...).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// CEL that does not compile or breaks a limit.
    #[error("{file}:{line}: {subject}: {field}: {source}")]
    Cel {
        /// Pack file.
        file: String,
        /// Line of the field in the file.
        line: usize,
        /// `rule 'id'` or `variable 'name'`.
        subject: String,
        /// Field holding the expression.
        field: String,
        /// The compile error (with line/column inside the expression for syntax errors).
        #[source]
        source: CompileError,
    },
    /// The same rule id twice.
    #[error("{file}:{line}: rule id '{rule}' is already defined in {first}")]
    DuplicateRule {
        /// Pack file of the second definition.
        file: String,
        /// Its line.
        line: usize,
        /// The id.
        rule: String,
        /// Where it was first defined.
        first: String,
    },
    /// Nothing to load.
    #[error("no rule packs found in {0}")]
    Empty(String),
}

/// Every error found while loading; never partial: a pack set with any error is refused whole.
#[derive(Debug, thiserror::Error)]
#[error("{}", render_errors(.0))]
pub struct LoadErrors(pub Vec<PackError>);

fn render_errors(errors: &[PackError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}
