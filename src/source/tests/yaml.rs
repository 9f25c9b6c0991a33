use serde_json::{json, Value};

use super::parse_documents;
use crate::source::test_support::{one, pos};

#[test]
fn multi_document_stream_skips_empty_documents_but_counts_them() {
    let text = "# leading comment\n---\n# only a comment\n---\nkind: A\n---\n---\nkind: B\n...\n---\n";
    let docs = parse_documents(text).expect("parses");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].index, 1);
    assert_eq!(docs[0].value, json!({"kind": "A"}));
    assert_eq!(docs[0].line, 4);
    assert_eq!(docs[1].index, 3);
    assert_eq!(docs[1].value, json!({"kind": "B"}));
    assert_eq!(docs[1].line, 7);
    assert_eq!(docs[1].positions.locate("/kind"), Some(pos(8, 1)));
}

#[test]
fn implicit_document_and_comment_only_stream() {
    assert!(parse_documents("").expect("parses").is_empty());
    assert!(parse_documents("# nothing here\n\n# at all\n")
        .expect("parses")
        .is_empty());
    let doc = one("# header\n\nkind: Pod\n");
    assert_eq!(doc.index, 0);
    assert_eq!(doc.line, 3);
    assert_eq!(doc.positions.get(""), Some(pos(3, 1)));
    // An explicit null is a document, not an empty one.
    let docs = parse_documents("--- null\n--- ~\n").expect("parses");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].value, Value::Null);
}
