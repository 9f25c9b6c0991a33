//! What each function adds to the cost of its call, besides the call itself (1) and its
//! arguments, and the shape of what it returns. The factors follow cel-go's checker and
//! Kubernetes' `library/cost.go`: traversing a string costs [`TRAVERSAL`] per byte, applying a
//! regex to a string the traversal times [`REGEX`] per byte of pattern, a list function one step
//! per entry (plus the traversal of the entry when it is a string).

use super::estimate::Shape;
use super::poly::Poly;
use crate::engine::cel::equality;

/// Cost of traversing one byte of a string (cel-go's `StringTraversalCostFactor`).
pub const TRAVERSAL: f64 = 0.1;
/// Cost per byte of a regex pattern applied to a string of unit cost (cel-go's
/// `RegexStringLengthCostFactor`).
pub const REGEX: f64 = 0.25;
/// Regex-sized factor for the named-format validators (`format.dns1123Label().validate(s)`):
/// as a pattern of 40 bytes.
const FORMAT_PATTERN_BYTES: f64 = 40.0;

/// What a call adds.
pub(super) struct CallCost {
    /// Cost beyond the node itself and its operands.
    pub(super) cost: Poly,
    /// The shape of the result.
    pub(super) result: Shape,
    /// Only one of the operands after the first is evaluated (`c ? a : b`).
    pub(super) one_branch: bool,
}

impl CallCost {
    fn new(cost: Poly, result: Shape) -> CallCost {
        CallCost {
            cost,
            result,
            one_branch: false,
        }
    }
}

/// The cost a call to `name` adds. `operands` are the shapes of the receiver (when `method`)
/// followed by the arguments; `literal_args` the size of each argument that is a literal: the
/// bytes of a string, the value of a non-negative int. `namespace` is `Some("sets")` for `sets.contains(a, b)`.
// Long: one match, the cost table of every unnamespaced function, read best whole.
pub(super) fn call_cost(
    name: &str,
    namespace: Option<&str>,
    method: bool,
    operands: &[Shape],
    literal_args: &[Option<usize>],
) -> CallCost {
    let scalar = Shape::scalar;
    let op = |i: usize| operands.get(i).cloned().unwrap_or_else(Shape::input);
    let traverse = |s: &Shape| s.text.scale(TRAVERSAL);
    // One step per entry, plus the traversal of each entry that may be a string.
    let per_entry = |s: &Shape| s.len.mul(&Poly::constant(1.0).add(&traverse(&s.entry())));
    if let Some(ns) = namespace {
        return namespaced(ns, name, operands, literal_args, &per_entry, &traverse);
    }
    match name {
        "_?_:_" => CallCost {
            cost: Poly::default(),
            result: op(1).union(&op(2)),
            one_branch: true,
        },
        "matches" | "__celgate_matches" | "find" | "findAll" => {
            let (text, pattern) = (op(0), op(1));
            let pattern_len = literal_args.get(usize::from(!method)).copied().flatten();
            #[allow(clippy::cast_precision_loss)]
            let pattern_bytes = pattern_len.map_or(pattern.text.clone(), |n| Poly::constant(n as f64));
            let cost = text
                .text
                .add(&Poly::constant(1.0))
                .scale(TRAVERSAL)
                .at_least_one()
                .mul(&pattern_bytes.scale(REGEX).at_least_one());
            let result = match name {
                "find" => Shape::text(text.text.clone()),
                "findAll" => Shape::list(text.text.clone(), Shape::text(text.text.clone())),
                _ => scalar(),
            };
            CallCost::new(cost, result)
        }
        "contains" | "startsWith" | "endsWith" => {
            let cost = traverse(&op(0)).add(&traverse(&op(1)));
            CallCost::new(cost, scalar())
        }
        "lowerAscii" | "upperAscii" | "trim" | "substring" | "charAt" | "quote" => {
            let s = op(0);
            CallCost::new(traverse(&s), Shape::text(s.text))
        }
        "replace" => {
            let (s, with) = (op(0), op(2));
            // Every byte replaced by the replacement, at worst.
            let result = s.text.mul(&with.text.at_least_one());
            let cost = s.text.add(&result).scale(TRAVERSAL);
            CallCost::new(cost, Shape::text(result))
        }
        "split" => {
            let s = op(0);
            let parts = Shape::list(s.text.add(&Poly::constant(1.0)), Shape::text(s.text.clone()));
            // A traversal, and one step per part it produces.
            let cost = s.text.scale(2.0 * TRAVERSAL).add(&parts.len);
            CallCost::new(cost, parts)
        }
        "join" => {
            let list = op(0);
            let separators = list
                .len
                .mul(&operands.get(1).map_or_else(Poly::default, |s| s.text.clone()));
            let text = list.len.mul(&list.entry().text).add(&separators);
            CallCost::new(text.scale(TRAVERSAL), Shape::text(text))
        }
        "format" => {
            let (template, args) = (op(0), op(1));
            let text = template
                .text
                .add(&args.len.mul(&args.entry().text.add(&Poly::constant(20.0))));
            CallCost::new(text.scale(TRAVERSAL), Shape::text(text))
        }
        "string" | "bytes" => {
            let s = op(0);
            CallCost::new(traverse(&s), Shape::text(s.text.add(&Poly::constant(32.0))))
        }
        "int" | "uint" | "double" | "bool" | "timestamp" | "duration" | "url" | "isURL" | "ip" | "isIP" | "cidr"
        | "isCIDR" | "quantity" | "isQuantity" | "semver" | "isSemver" | "getScheme" | "getHost" | "getHostname"
        | "getPort" | "getEscapedPath" | "getQuery" => {
            // Parsing: one traversal of the text (free on an already parsed value).
            CallCost::new(traverse(&op(0)), Shape::input())
        }
        "containsIP" | "containsCIDR" => {
            let cost = Poly::constant(4.0).add(&traverse(&op(1)));
            CallCost::new(cost, scalar())
        }
        "validate" => {
            let s = op(1);
            let cost = s
                .text
                .add(&Poly::constant(1.0))
                .scale(TRAVERSAL)
                .at_least_one()
                .scale(FORMAT_PATTERN_BYTES * REGEX);
            CallCost::new(
                cost,
                Shape::list(Poly::constant(4.0), Shape::text(Poly::constant(200.0))),
            )
        }
        "isSorted" | "sum" | "min" | "max" | "indexOf" | "lastIndexOf" | "includes" => {
            let target = op(0);
            // On a list: per entry; on a string (`indexOf`): a traversal; either may be meant.
            let cost = per_entry(&target).add(&traverse(&target));
            let result = if matches!(name, "min" | "max" | "sum") {
                target.entry()
            } else {
                scalar()
            };
            CallCost::new(cost, result)
        }
        "reverse" | "slice" => {
            let target = op(0);
            CallCost::new(target.len.add(&traverse(&target)), target)
        }
        "distinct" | "sort" | "sortBy" => {
            let target = op(0);
            CallCost::new(per_entry(&target).scale(2.0), target)
        }
        "flatten" => {
            let target = op(0);
            let inner = target.entry();
            let len = target.len.mul(&inner.len.at_least_one());
            CallCost::new(len.clone(), Shape::list(len, inner.entry()))
        }
        "@in" | equality::IN => {
            let (needle, haystack) = (op(0), op(1));
            let cost = haystack
                .len
                .mul(&Poly::constant(1.0).add(&traverse(&needle).max(&traverse(&haystack.entry()))));
            CallCost::new(cost, scalar())
        }
        "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" | equality::EQUALS | equality::NOT_EQUALS => {
            // Comparing strings traverses the shorter one: a literal's length when there is one.
            let (a, b) = (op(0), op(1));
            let shorter = if a.text.is_constant() { &a } else { &b };
            CallCost::new(traverse(shorter), scalar())
        }
        "_+_" => {
            let (a, b) = (op(0), op(1));
            let result = Shape {
                len: a.len.add(&b.len),
                text: a.text.add(&b.text),
                elem: a.union(&b).elem,
            };
            CallCost::new(traverse(&result), result)
        }
        "_[_]" | "_[?_]" => {
            let at = literal_args.get(1).copied().flatten();
            CallCost::new(Poly::default(), op(0).entry_at(at))
        }
        "_?._" => CallCost::new(Poly::default(), op(0).entry()),
        crate::engine::cel::macros2::ENTRIES => {
            // The `[key, value]` pairs of a two-variable macro: one step per entry.
            let target = op(0);
            CallCost::new(target.len.clone(), Shape::pairs(&target))
        }
        "orValue" | "or" | "value" | "of" | "ofNonZeroValue" => {
            let result = operands
                .iter()
                .skip(usize::from(method))
                .fold(op(0), |acc, s| acc.union(s));
            CallCost::new(Poly::default(), result)
        }
        "size"
        | "_&&_"
        | "_||_"
        | "!_"
        | "@not_strictly_false"
        | "hasValue"
        | "isInteger"
        | "sign"
        | "isGreaterThan"
        | "isLessThan"
        | "compareTo" => CallCost::new(Poly::default(), scalar()),
        // Arithmetic, accessors, type conversions on scalars, and functions not listed: the
        // call's own step; the result is treated like a value of the input.
        _ => CallCost::new(Poly::default(), Shape::input()),
    }
}

fn namespaced(
    ns: &str,
    name: &str,
    operands: &[Shape],
    literal_args: &[Option<usize>],
    per_entry: &dyn Fn(&Shape) -> Poly,
    traverse: &dyn Fn(&Shape) -> Poly,
) -> CallCost {
    let op = |i: usize| operands.get(i).cloned().unwrap_or_else(Shape::input);
    match (ns, name) {
        ("lists", "range") => {
            #[allow(clippy::cast_precision_loss)] // at most `MAX_RANGE`, checked at compile
            let len = literal_args
                .first()
                .copied()
                .flatten()
                .map_or_else(Poly::list, |n| Poly::constant(n as f64));
            // Building the list is one step per entry it produces.
            CallCost::new(len.clone(), Shape::list(len, Shape::scalar()))
        }
        ("sets", _) => {
            // Every entry of one list against every entry of the other.
            let (a, b) = (op(0), op(1));
            CallCost::new(per_entry(&a).mul(&b.len.at_least_one()), Shape::scalar())
        }
        ("math", "greatest" | "least") => {
            let cost = operands.iter().fold(Poly::default(), |acc, s| acc.add(&s.len));
            CallCost::new(cost, Shape::scalar())
        }
        ("strings", "quote") | ("base64", _) | ("ip", "isCanonical") => {
            let s = op(0);
            let cost = traverse(&s).scale(2.0);
            CallCost::new(cost, Shape::text(s.text.scale(2.0).add(&Poly::constant(4.0))))
        }
        ("promql", _) => {
            // Parsing PromQL: one step per byte (texts over 10 000 bytes are refused unparsed).
            let s = op(0);
            let result = if name == "metrics" {
                Shape::list(s.text.clone(), Shape::text(s.text.clone()))
            } else {
                Shape::text(s.text.clone())
            };
            CallCost::new(s.text, result)
        }
        ("celgate", _) => CallCost::new(traverse(&op(0)), Shape::scalar()),
        _ => CallCost::new(Poly::default(), Shape::input()),
    }
}
