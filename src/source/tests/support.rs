//! Helpers shared by the tests of the `source` modules.

use super::{parse_documents, Position, SourceDoc};

pub(super) fn one(text: &str) -> SourceDoc {
    let mut docs = parse_documents(text).expect("parses");
    assert_eq!(docs.len(), 1, "expected one document in {text:?}");
    docs.remove(0)
}

pub(super) fn pos(line: usize, column: usize) -> Position {
    Position { line, column }
}
