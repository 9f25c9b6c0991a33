use std::fmt::Write as _;

use serde_json::json;

use crate::source::test_support::{one, pos};
use crate::source::{
    parse_documents, parse_documents_within, ParseLimits, SourceError, DEFAULT_EXPANSION_BYTES, MAX_DEPTH, MAX_NODES,
};

#[test]
fn duplicate_key_is_an_error() {
    let err = parse_documents("metadata:\n  name: a\n  labels: {}\n  name: b\n").expect_err("duplicate");
    assert!(matches!(
        err,
        SourceError::DuplicateKey { ref key, line: 4, column: 3, first_line: 2, first_column: 3 }
            if key == "name"
    ));
    assert_eq!(
        err.to_string(),
        "line 4, column 3: duplicate key \"name\" in mapping (first defined at line 2, column 3)"
    );
    // JSON too, and keys that only look different as YAML.
    assert!(parse_documents("{\"a\": 1, \"a\": 2}").is_err());
    assert!(parse_documents("1: a\n\"1\": b\n").is_err());
    // The same key in different mappings is fine.
    assert!(parse_documents("a: {x: 1}\nb: {x: 2}\n").is_ok());
}

/// Runs `f` on a thread with a small stack, so that recursion over input depth would fail.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic or overflow");
}

#[test]
fn very_deep_json_is_refused_without_overflow() {
    on_small_stack(|| {
        let start = std::time::Instant::now();
        for text in [
            "[".repeat(100_000),
            "[".repeat(200),
            "{\"a\":".repeat(100_000),
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        ] {
            let err = parse_documents(&text).expect_err("too deep");
            assert!(matches!(err, SourceError::TooDeep { max: MAX_DEPTH, .. }), "{err}");
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    });
}

#[test]
fn very_deep_yaml_is_refused_without_overflow() {
    on_small_stack(very_deep_yaml_checks);
}

fn very_deep_yaml_checks() {
    let flow = format!("key: {}\n", "{a: [".repeat(50_000));
    let err = parse_documents(&flow).expect_err("too deep");
    assert!(matches!(err, SourceError::TooDeep { .. }), "{err}");

    let block = "- ".repeat(100_000) + "x\n";
    let err = parse_documents(&block).expect_err("too deep");
    assert!(matches!(err, SourceError::TooDeep { line: 1, .. }), "{err}");
    assert!(err.to_string().contains("nesting is deeper than the limit of 128"));

    let mut nested = String::new();
    for depth in 0..1000 {
        nested.push_str(&"  ".repeat(depth));
        nested.push_str("k:\n");
    }
    let err = parse_documents(&nested).expect_err("too deep");
    assert!(
        matches!(
            err,
            SourceError::TooDeep {
                line: 128,
                column: 255,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn nesting_up_to_the_limit_is_accepted() {
    on_small_stack(nesting_up_to_the_limit_checks);
}

fn nesting_up_to_the_limit_checks() {
    let text = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    let doc = one(&text);
    let mut v = &doc.value;
    let mut depth = 0;
    while let Some(inner) = v.get(0) {
        v = inner;
        depth += 1;
    }
    assert_eq!(depth, MAX_DEPTH - 1);
    let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert!(parse_documents(&too_deep).is_err());
}

#[test]
fn anchors_and_aliases_are_copied() {
    let doc = one("base: &b {cpu: 1, mem: 2}\nname: &n web\nx: *b\ny: [*n, *n]\n*n : key\n");
    assert_eq!(
        doc.value,
        json!({"base": {"cpu": 1, "mem": 2}, "name": "web", "x": {"cpu": 1, "mem": 2},
                   "y": ["web", "web"], "web": "key"})
    );
    // Inside an alias copy, positions fall back to the alias.
    assert_eq!(doc.positions.get("/x"), Some(pos(3, 1)));
    assert_eq!(doc.positions.get("/x/cpu"), None);
    assert_eq!(doc.positions.locate("/x/cpu"), Some(pos(3, 1)));
    assert_eq!(doc.positions.get("/y/1"), Some(pos(4, 9)));
}

#[test]
fn bad_aliases_are_errors() {
    // Unknown anchor.
    let err = parse_documents("a: 1\nb: *nope\n").expect_err("unknown anchor");
    assert_eq!(err.to_string(), "line 2, column 4: alias refers to an unknown anchor");
    // Anchor from another document.
    let err = parse_documents("a: &x 1\n---\nb: *x\n").expect_err("other document");
    assert!(
        matches!(err, SourceError::Unsupported { line: 3, column: 4, .. }),
        "{err}"
    );
    // An alias inside the node it refers to.
    let err = parse_documents("a: &x [1, *x]\n").expect_err("recursive");
    assert!(matches!(err, SourceError::Unsupported { .. }), "{err}");
    // A collection as a key.
    let err = parse_documents("? [a, b]\n: c\n").expect_err("complex key");
    assert!(
        matches!(err, SourceError::Unsupported { line: 1, column: 3, .. }),
        "{err}"
    );
    let err = parse_documents("a: &x [1]\n*x : c\n").expect_err("alias key");
    assert!(matches!(err, SourceError::Unsupported { .. }), "{err}");
}

#[test]
fn alias_bomb_is_capped() {
    let mut text = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
    let mut prev = "a";
    for name in names {
        let refs = vec![format!("*{prev}"); 9].join(",");
        writeln!(text, "{name}: &{name} [{refs}]").expect("writing to a String");
        prev = name;
    }
    let start = std::time::Instant::now();
    let err = parse_documents(&text).expect_err("bomb");
    // The bytes of the copies reach the expansion limit before their nodes reach MAX_NODES.
    assert!(
        matches!(
            err,
            SourceError::TooLarge {
                max: DEFAULT_EXPANSION_BYTES,
                ..
            }
        ),
        "{err}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn the_node_budget_still_holds_with_a_large_expansion_budget() {
    let mut text = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let mut prev = "a".to_owned();
    for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
        let refs = vec![format!("*{prev}"); 9].join(",");
        writeln!(text, "{name}: &{name} [{refs}]").expect("writing to a String");
        prev = name.to_owned();
    }
    let limits = ParseLimits {
        expansion_bytes: usize::MAX,
        limit_name: "test",
    };
    let err = parse_documents_within(&text, limits).expect_err("bomb");
    assert!(matches!(err, SourceError::TooManyNodes { max: MAX_NODES, .. }), "{err}");
}

/// Aliases to one long string: each alias is a single node, so only the bytes stop it (the
/// red team's 100 KB file that expanded to 100 MB).
fn long_string_bomb(copies: usize) -> String {
    let mut text = format!("s: &s \"{}\"\nl:\n", "x".repeat(100_000));
    for _ in 0..copies {
        text.push_str("- *s\n");
    }
    text
}

#[test]
fn aliases_to_a_long_string_are_bounded_by_bytes_and_the_error_names_the_limit() {
    let text = long_string_bomb(1000);
    assert!(text.len() < 110_000);
    let limits = ParseLimits {
        expansion_bytes: 1_000_000,
        limit_name: "limits.maxBodyBytes",
    };
    let err = parse_documents_within(&text, limits).expect_err("bomb");
    assert!(
        matches!(
            err,
            SourceError::TooLarge {
                line: 11,
                max: 1_000_000,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("limits.maxBodyBytes"), "{message}");
    assert!(message.contains("1000000 bytes"), "{message}");
    // Within the budget, the copies are made.
    let docs = parse_documents_within(&long_string_bomb(5), limits).expect("five copies fit");
    assert_eq!(docs[0].value["l"].as_array().map(Vec::len), Some(5));
}

#[test]
fn the_expansion_budget_is_shared_by_the_documents_of_a_stream() {
    let doc = format!("s: &s \"{}\"\nl: [*s, *s, *s]\n", "x".repeat(100_000));
    let limits = ParseLimits {
        expansion_bytes: 1_000_000,
        limit_name: "test",
    };
    // Each document copies 400 KB (the anchor kept and three aliases): two fit, three do not.
    assert!(parse_documents_within(&format!("{doc}---\n{doc}"), limits).is_ok());
    let err = parse_documents_within(&format!("{doc}---\n{doc}---\n{doc}"), limits).expect_err("third");
    assert!(matches!(err, SourceError::TooLarge { .. }), "{err}");
}

#[test]
fn a_text_without_aliases_is_never_refused_for_its_size() {
    let mut text = String::from("items:\n");
    for i in 0..100_000 {
        writeln!(text, "- name: item-{i}").expect("writing to a String");
    }
    let limits = ParseLimits {
        expansion_bytes: 10,
        limit_name: "test",
    };
    let docs = parse_documents_within(&text, limits).expect("no copies at all");
    assert_eq!(docs[0].value["items"].as_array().map(Vec::len), Some(100_000));
}

#[test]
fn aliases_cannot_exceed_the_depth_limit() {
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let text = format!("a: &a {deep}\nb: {}*a{}\n", "[".repeat(40), "]".repeat(40));
    let err = parse_documents(&text).expect_err("too deep through alias");
    assert!(matches!(err, SourceError::TooDeep { line: 2, .. }), "{err}");
}

#[test]
fn merge_keys() {
    let text = "\
defaults: &d
  cpu: 1
  mem: 2
extra: &e {gpu: 0, mem: 9}
one:
  <<: *d
  mem: 4
two:
  name: x
  <<: [*e, *d]
quoted:
  \"<<\": 1
";
    let doc = one(text);
    assert_eq!(doc.value["one"], json!({"cpu": 1, "mem": 4}));
    assert_eq!(doc.value["two"], json!({"name": "x", "gpu": 0, "mem": 9, "cpu": 1}));
    assert_eq!(doc.value["quoted"], json!({"<<": 1}));
    let p = &doc.positions;
    assert_eq!(p.get("/one/mem"), Some(pos(7, 3)));
    assert_eq!(p.get("/one/cpu"), Some(pos(6, 3)));
    assert_eq!(p.get("/two/gpu"), Some(pos(10, 3)));
    assert_eq!(p.get("/one/<<"), None);
    assert!(parse_documents("a:\n  <<: 1\n").is_err());
    // A merge never counts as a duplicate of an explicit key.
    assert!(parse_documents("b: &b {x: 1}\na:\n  x: 2\n  <<: *b\n").is_ok());
}
