//! Unit tests of the load-time checks.

use super::re2::re2_check;
use super::*;

#[test]
fn re2_refusals() {
    for bad in ["x++", "x**", "a{2}{3}", "x*??", "a{1001}", "x*+"] {
        assert!(re2_check(bad).is_err(), "{bad}");
    }
    for good in [
        "x+?",
        "a{2,3}?",
        "[+*]+",
        "\\++",
        "(?i)a+",
        "a{,3}",
        "[[:alpha:]]+",
        "\\p{L}+",
    ] {
        assert_eq!(re2_check(good), Ok(()), "{good}");
    }
}

#[test]
fn typo_is_named_with_the_closest_name() {
    let env = super::super::compile::environment();
    let program = env.compile("object.metadata.name.startWith('demo')").expect("parses");
    let findings = check(&env, program.expression(), true);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].message.contains("'startWith'"), "{findings:?}");
    assert!(
        findings[0].message.contains("did you mean 'startsWith'"),
        "{findings:?}"
    );
}

#[test]
fn literal_checks() {
    let env = super::super::compile::environment();
    let refused = |src: &str| {
        let program = env.compile(src).expect("parses");
        !check(&env, program.expression(), true).is_empty()
    };
    for bad in [
        "[1, 'a']",
        "{'a': 1, 'b': 'c'}",
        "[1, 2.0]",
        "'abc'.startsWith(1)",
        "'%d'.format(['a'])",
        "'%s %s'.format(['a', 'b', 'c'])",
        "'%s %s'.format(['a'])",
        "['a', 'b'].sum()",
        "'x'.matches('x++')",
        "duration('1x') > duration('1s')",
        "sets.containz([1], [1])",
    ] {
        assert!(refused(bad), "{bad} should be refused");
    }
    for good in [
        "[1, object.x, 'a']",
        "'%s'.format([[1, 'a']])",
        "'%d %s'.format([1, object.x])",
        "[[], [1]]",
        "sets.contains([1], [1])",
        "object.items.map(x, x.name)",
        "optional.of(1).optMap(optional, optional + 1)",
        "object.x.all(sets, sets > 0)",
        "jsonpatch.escapeKey('a/b')",
    ] {
        assert!(!refused(good), "{good} should be accepted");
    }
}
