use serde_json::{json, Value};

use crate::source::parse_documents;
use crate::source::test_support::one;

#[test]
fn quoted_scalars_stay_strings() {
    let doc = one("a: \"1\"\nb: '2'\nc: \"true\"\nd: 'null'\ne: \"\"\nf: |\n  3\ng: >-\n  4\n  5\n");
    assert_eq!(
        doc.value,
        json!({"a": "1", "b": "2", "c": "true", "d": "null", "e": "", "f": "3\n", "g": "4 5"})
    );
}

#[test]
fn plain_scalars_resolve_like_the_core_schema() {
    let doc = one("\
i: 42
neg: -17
plus: +5
hex: 0x1F
oct: 0o17
leading_zero: 0755
big: 9223372036854775808
huge: 123456789012345678901234567890
f: 1.5
exp: 1e3
dot: .5
negf: -2.5E-2
inf: .inf
ninf: -.Inf
nan: .NaN
t: true
T: True
TT: TRUE
fa: false
n: null
tilde: ~
empty:
yes: yes
s: hello world
ver: 1.2.3
hexneg: -0x10
under: 1_000
");
    let v = &doc.value;
    assert_eq!(v["i"], json!(42));
    assert!(v["i"].is_i64());
    assert_eq!(v["neg"], json!(-17));
    assert_eq!(v["plus"], json!(5));
    assert_eq!(v["hex"], json!(31));
    assert_eq!(v["oct"], json!(15));
    assert_eq!(v["leading_zero"], json!(755));
    assert_eq!(v["big"], json!(9_223_372_036_854_775_808_u64));
    assert!(v["big"].is_u64());
    assert!(v["huge"].is_f64());
    assert_eq!(v["f"], json!(1.5));
    assert_eq!(v["exp"], json!(1000.0));
    assert_eq!(v["dot"], json!(0.5));
    assert_eq!(v["negf"], json!(-0.025));
    assert_eq!(v["inf"], json!(".inf"));
    assert_eq!(v["ninf"], json!("-.Inf"));
    assert_eq!(v["nan"], json!(".NaN"));
    assert_eq!(v["t"], json!(true));
    assert_eq!(v["T"], json!(true));
    assert_eq!(v["TT"], json!(true));
    assert_eq!(v["fa"], json!(false));
    assert_eq!(v["n"], Value::Null);
    assert_eq!(v["tilde"], Value::Null);
    assert_eq!(v["empty"], Value::Null);
    assert_eq!(v["yes"], json!("yes"));
    assert_eq!(v["s"], json!("hello world"));
    assert_eq!(v["ver"], json!("1.2.3"));
    assert_eq!(v["hexneg"], json!("-0x10"));
    assert_eq!(v["under"], json!("1_000"));
}

#[test]
fn explicit_tags() {
    let doc = one("\
a: !!str 42
b: !!int \"42\"
c: !!bool 'true'
d: !!float 3
e: !!null ''
f: !!float .inf
g: !custom 7
h: ! 8
i: !!binary aGk=
j: !<tag:yaml.org,2002:int> '9'
");
    assert_eq!(
        doc.value,
        json!({"a": "42", "b": 42, "c": true, "d": 3.0, "e": null, "f": ".inf",
                   "g": "7", "h": "8", "i": "aGk=", "j": 9})
    );
    let err = parse_documents("x: 1\ny: !!int abc\n").expect_err("invalid int");
    assert_eq!(err.to_string(), "line 2, column 10: \"abc\" is not a valid !!int value");
    assert!(parse_documents("y: !!bool yes\n").is_err());
}

#[test]
fn keys_are_strings_as_written() {
    let doc = one("80: http\ntrue: yes\n~: n\n1.0: f\n\"q\": 1\n");
    assert_eq!(
        doc.value,
        json!({"80": "http", "true": "yes", "~": "n", "1.0": "f", "q": 1})
    );
}
