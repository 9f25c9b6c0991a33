//! How the estimate grows with the input for each kind of expression: degrees in `L` (list
//! length) and `S` (string length), and a few exact values.

use rstest::rstest;

use super::{check_load, BoundsSite, Poly, DEFAULT_MAX_LIST_LENGTH};
use crate::engine::cel::compile::{compile, environment};
use crate::engine::cel::cost::InputLimits;

fn cost(src: &str) -> Poly {
    compile(&environment(), src).expect("compiles").cost
}

#[rstest]
#[case::scalar("object.spec.replicas >= 2", (0, 0))]
#[case::literal_equality("object.kind == 'Pod'", (0, 0))]
#[case::string_equality("object.a == object.b", (0, 1))]
#[case::one_loop("object.items.all(i, i.n > 0)", (1, 0))]
#[case::nested_loops("object.a.all(x, x.b.exists(y, y.n > 0))", (2, 0))]
#[case::loop_over_literal("['a', 'b'].all(k, k != object.kind)", (0, 0))]
#[case::membership_in_loop_over_literal("['a', 'b'].all(k, k in object.metadata.labels)", (1, 1))]
#[case::loop_over_range("lists.range(10).all(i, i >= 0)", (0, 0))]
#[case::loop_over_split("object.s.split(',').all(p, p.size() > 0)", (0, 1))]
#[case::regex_literal_pattern("object.s.matches('^[a-z]+$')", (0, 1))]
#[case::regex_dynamic_pattern("object.s.matches(params.pattern)", (0, 1))]
#[case::regex_pattern_from_the_input("object.s.matches(object.pattern)", (0, 2))]
#[case::find_all("object.s.findAll('[0-9]+').size() > 0", (0, 1))]
#[case::contains("object.s.contains('x')", (0, 1))]
#[case::regex_in_loop("object.items.all(i, i.name.matches('^a'))", (1, 1))]
#[case::membership("object.kind in params.kinds", (1, 1))]
#[case::sets("sets.contains(object.a, object.b)", (2, 1))]
#[case::list_sum("object.a.sum() > 0", (1, 1))]
#[case::quantity("quantity(object.m).isLessThan(quantity('1Gi'))", (0, 1))]
#[case::ip("isCIDR(object.c) && cidr(object.c).containsIP(object.ip)", (0, 1))]
#[case::join_in_loop("object.a.all(x, object.b.join(',') != x)", (2, 1))]
#[case::named_format("format.dns1123Label().validate(object.name).hasValue()", (0, 1))]
fn growth(#[case] src: &str, #[case] degrees: (u16, u16)) {
    let c = cost(src);
    assert_eq!(c.degrees(), degrees, "{src}: {c:?}");
}

#[test]
fn a_ternary_costs_its_dearer_branch() {
    let both = cost("object.a.all(x, x > 0) || object.b.all(y, y > 0)");
    let one = cost("object.c ? object.a.all(x, x > 0) : object.b.all(y, y > 0)");
    assert!(one.at(100, 10) < both.at(100, 10), "{one:?} vs {both:?}");
}

#[test]
fn regex_cost_follows_the_pattern_length() {
    let short = cost("object.s.matches('a')").at(1, 1000);
    let long = cost(&format!("object.s.matches('{}')", "a".repeat(400))).at(1, 1000);
    // 0.1 per byte of text times 0.25 per byte of pattern (each at least 1).
    assert!(long > short * 50, "{short} {long}");
}

#[test]
fn load_check_names_the_bounds() {
    let nested = cost("object.a.all(x, object.a.all(y, object.a.all(z, x == y && y == z)))");
    let err = check_load(&nested, InputLimits::default(), BoundsSite::Pack).expect_err("too costly");
    assert_eq!((err.list, err.list_origin), (DEFAULT_MAX_LIST_LENGTH, "default"));
    assert!(err.estimate > err.limit);
    let small = InputLimits {
        max_list_length: Some(10),
        max_string_length: Some(10),
    };
    assert!(check_load(&nested, small, BoundsSite::Pack).is_ok());
}
