use crate::source::test_support::pos;
use crate::source::{parse_documents, SourceError};

#[test]
fn syntax_error_has_line_and_column() {
    let err = parse_documents("a: b\nc: d: e\n").expect_err("syntax error");
    assert_eq!(
        err.to_string(),
        "line 2, column 5: mapping values are not allowed in this context"
    );
    assert_eq!(err.position(), pos(2, 5));
    let err = parse_documents("{\"a\": [1, 2}\n").expect_err("syntax error");
    assert!(matches!(err, SourceError::Syntax { line: 1, .. }), "{err}");
    // Errors in a later document are still reported.
    assert!(parse_documents("a: 1\n---\n[\n").is_err());
}
