//! Evaluation errors in words a rule author or a user can act on.
//!
//! The `cel` crate describes what went wrong in its own terms: type names such as `null_type`,
//! operator functions such as `_[_]` or celgate's rewritten `__celgate_matches`, and values in
//! Rust's debug form (`String("5")`). [`execution`] says the same with CEL's words (`null`, a
//! list, `"5"`), names what was expected, and names the field: the path in the expression's
//! source that the failing call, iteration or key belongs to, when the source shows it
//! unambiguously.

use cel::{ExecutionError, Value};

/// The longest rendering of a value inside a message; longer ones are cut with `…`.
const MAX_VALUE_CHARS: usize = 40;

/// The macros (and celgate's comprehension functions) that iterate over their receiver.
const ITERATING: &[&str] = &[
    "all",
    "exists",
    "exists_one",
    "existsOne",
    "map",
    "filter",
    "sortBy",
    "transformList",
    "transformMap",
    "transformMapEntry",
];

/// `error`, raised while evaluating `source`, as a sentence without internal names.
pub(crate) fn execution(error: &ExecutionError, source: &str) -> String {
    #[allow(deprecated)]
    match error {
        ExecutionError::UnexpectedType { got, want } if want == "iterable" => {
            let what = format!("expected a list or map to iterate over, got {}", type_phrase(got));
            match receiver_of_any(source, ITERATING) {
                Some(path) => format!("`{path}`: {what}"),
                None => what,
            }
        }
        ExecutionError::UnexpectedType { got, want } => {
            format!("expected {}, got {}", type_phrase(want), type_phrase(got))
        }
        ExecutionError::NoSuchKey(key) => match path_to_key(source, key) {
            Some(path) => format!("`{path}`: no such key: {key}"),
            None => format!("no such key: {key}"),
        },
        ExecutionError::NoSuchOverload(overload) => no_overload(
            overload.function(),
            overload.argument_types(),
            overload.is_member_function(),
            source,
        ),
        ExecutionError::UnsupportedBinaryOperator(op, left, right) => format!(
            "`{}` cannot be applied to {} and {}",
            operator_symbol(op),
            value_phrase(left),
            value_phrase(right)
        ),
        ExecutionError::Overflow(op, left, right) => format!(
            "integer overflow: {} {} {}",
            value_text(left),
            operator_symbol(op),
            value_text(right)
        ),
        ExecutionError::DivisionByZero(value) => format!("division by zero: {} / 0", value_text(value)),
        ExecutionError::RemainderByZero(value) => format!("remainder by zero: {} % 0", value_text(value)),
        ExecutionError::IndexOutOfBounds(index) => format!("index {} is out of range", value_text(index)),
        ExecutionError::UnsupportedIndex(index, target) => {
            format!(
                "{} cannot be indexed with {}",
                value_phrase(target),
                value_phrase(index)
            )
        }
        ExecutionError::UnsupportedListIndex(index) => format!("a list cannot be indexed with {}", value_phrase(index)),
        ExecutionError::UnsupportedMapIndex(index) => format!("a map cannot be indexed with {}", value_phrase(index)),
        ExecutionError::UnsupportedKeyType(key) => format!("{} cannot be a map key", value_phrase(key)),
        ExecutionError::DuplicateKey(key) => format!("a map literal repeats the key {}", value_text(key)),
        ExecutionError::ValuesNotComparable(left, right) => {
            format!("{} cannot be compared with {}", value_phrase(left), value_phrase(right))
        }
        ExecutionError::UnsupportedUnaryOperator(op, value) => {
            format!("`{}` cannot be applied to {}", operator_symbol(op), value_phrase(value))
        }
        ExecutionError::FunctionError { function, message } => {
            format!("{}: {message}", function_name(function))
        }
        ExecutionError::UndeclaredReference(name) => format!("unknown name `{name}`"),
        ExecutionError::InvalidArgumentCount { expected, actual } => {
            format!(
                "expected {expected} argument{}, got {actual}",
                if *expected == 1 { "" } else { "s" }
            )
        }
        ExecutionError::UnsupportedTargetType { target } => {
            format!("no method can be called on {}", value_phrase(target))
        }
        ExecutionError::NotSupportedAsMethod { method, target } => format!(
            "{}() cannot be called as a method of {}",
            function_name(method),
            value_phrase(target)
        ),
        ExecutionError::MissingArgumentOrTarget => "a function call is missing its argument or receiver".to_owned(),
        other => other.to_string(),
    }
}

/// No overload of `function` takes `types`.
fn no_overload(function: &str, types: &[String], member: bool, source: &str) -> String {
    let phrases: Vec<String> = types.iter().map(|t| type_phrase(t)).collect();
    match (function, phrases.as_slice()) {
        // Reading a field (`a.b`, `a.?b`) of something that is not a map.
        ("_._" | "_?._", [target, ..]) => {
            let what = format!("cannot read a field of {target} (expected a map)");
            match sole_path(source) {
                Some(path) => format!("`{path}`: {what}"),
                None => what,
            }
        }
        ("_[_]" | "_[?_]", [target, index]) => format!("{target} cannot be indexed with {index}"),
        _ if member && !phrases.is_empty() => {
            let name = function_name(function);
            let args = if phrases.len() > 1 {
                format!(" with {}", phrases[1..].join(", "))
            } else {
                String::new()
            };
            let what = format!("{name}() cannot be called on {}{args}", phrases[0]);
            match receiver_of_any(source, &[function]) {
                Some(path) => format!("`{path}` is {}: {what}", phrases[0]),
                None => what,
            }
        }
        _ => {
            let symbol = operator_symbol(function);
            if symbol == function {
                format!(
                    "{}() cannot be applied to {}",
                    function_name(function),
                    join_and(&phrases)
                )
            } else {
                format!("`{symbol}` cannot be applied to {}", join_and(&phrases))
            }
        }
    }
}

/// A CEL type name as words: `null_type` is `null`, `list` is `a list`, `int` is `an integer`.
fn type_phrase(name: &str) -> String {
    let name = name.trim();
    match name {
        "null_type" | "null" => "null".to_owned(),
        "list" => "a list".to_owned(),
        "map" => "a map".to_owned(),
        "string" => "a string".to_owned(),
        "int" => "an integer".to_owned(),
        "uint" => "an unsigned integer".to_owned(),
        "double" | "float" => "a number".to_owned(),
        "bool" => "a bool".to_owned(),
        "bytes" => "bytes".to_owned(),
        "type" => "a type".to_owned(),
        "iterable" => "a list or map".to_owned(),
        "google.protobuf.Timestamp" | "timestamp" => "a timestamp".to_owned(),
        "google.protobuf.Duration" | "duration" => "a duration".to_owned(),
        "optional_type" | "optional" => "an optional".to_owned(),
        "function" => "a function".to_owned(),
        _ => {
            if let Some(inner) = name.strip_prefix("list(").and_then(|n| n.strip_suffix(')')) {
                return format!("a list of {}", plural_type(inner));
            }
            if let Some(inner) = name.strip_prefix("map(").and_then(|n| n.strip_suffix(')')) {
                return format!("a map ({inner})");
            }
            let short = name.rsplit('.').next().unwrap_or(name);
            if short.is_empty() || !short.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                // Not a type name (`a type representable as ...`): already words.
                return name.to_owned();
            }
            let article = if short.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) {
                "an"
            } else {
                "a"
            };
            format!("{article} {short}")
        }
    }
}

/// `list(int)`'s element type in the plural (`integers`).
fn plural_type(name: &str) -> String {
    let phrase = type_phrase(name);
    match phrase.split_once(' ') {
        Some(("a" | "an", rest)) => format!("{rest}s"),
        _ => phrase,
    }
}

/// A value with its kind: `a string ("5")`, `an integer (1)`, `null`, `a list of 2 items`.
fn value_phrase(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::List(items) => format!(
            "a list of {} item{}",
            items.len(),
            if items.len() == 1 { "" } else { "s" }
        ),
        Value::Map(map) => {
            let n = map.map.len();
            format!("a map of {n} entr{}", if n == 1 { "y" } else { "ies" })
        }
        Value::String(_) => format!("a string ({})", value_text(value)),
        Value::Int(_) => format!("an integer ({})", value_text(value)),
        Value::UInt(_) => format!("an unsigned integer ({})", value_text(value)),
        Value::Float(_) => format!("a number ({})", value_text(value)),
        Value::Bool(_) => format!("a bool ({})", value_text(value)),
        Value::Bytes(_) => format!("bytes ({})", value_text(value)),
        other => type_phrase(&other.type_of().to_string()),
    }
}

/// A value as CEL writes it (`"abc"`, `5`, `5u`, `true`, `null`), cut to [`MAX_VALUE_CHARS`].
fn value_text(value: &Value) -> String {
    let text = match value {
        Value::Null => "null".to_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => format!("{u}u"),
        Value::Float(f) => format!("{f:?}"),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => format!("{:?}", s.as_str()),
        Value::Bytes(b) => format!("b{:?}", String::from_utf8_lossy(b)),
        Value::List(items) => {
            let inner: Vec<String> = items.iter().map(value_text).collect();
            format!("[{}]", inner.join(", "))
        }
        other => value_phrase(other),
    };
    if text.chars().count() > MAX_VALUE_CHARS {
        let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// The symbol of an operator function (`_+_` is `+`, `add` is `+`); other names unchanged.
fn operator_symbol(function: &str) -> &str {
    match function {
        "_+_" | "add" => "+",
        "_-_" | "sub" | "-_" | "negate" => "-",
        "_*_" | "mul" => "*",
        "_/_" | "div" => "/",
        "_%_" | "rem" => "%",
        "_<_" => "<",
        "_<=_" => "<=",
        "_>_" => ">",
        "_>=_" => ">=",
        "_==_" | "__celgate_equals" => "==",
        "_!=_" | "__celgate_not_equals" => "!=",
        "_&&_" => "&&",
        "_||_" => "||",
        "!_" => "!",
        "@in" | "__celgate_in" => "in",
        "_?_:_" => "?:",
        other => other,
    }
}

/// A function's name as the rule wrote it (celgate's rewrites renamed some).
fn function_name(function: &str) -> &str {
    match function {
        "__celgate_matches" => "matches",
        "__celgate_opt_or" => "or",
        other => other.strip_prefix("__celgate_").unwrap_or(other),
    }
}

/// `a, b and c`.
fn join_and(items: &[String]) -> String {
    match items {
        [] => "no arguments".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The one receiver path written before `.name(` for any of `names` in `source`, when all such
/// calls share it.
fn receiver_of_any(source: &str, names: &[&str]) -> Option<String> {
    let mut found: Vec<String> = Vec::new();
    for name in names {
        let needle = format!(".{name}(");
        let mut from = 0;
        while let Some(at) = source[from..].find(&needle) {
            let start = from + at;
            if let Some(path) = path_ending_at(source, start) {
                if !found.contains(&path) {
                    found.push(path);
                }
            }
            from = start + needle.len();
        }
    }
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// The one path in `source` that reads `key` (`a.b.key`, `a.b["key"]`, `a.b['key']`), when there
/// is exactly one.
fn path_to_key(source: &str, key: &str) -> Option<String> {
    let mut found: Vec<String> = Vec::new();
    for needle in [format!(".{key}"), format!("[\"{key}\"]"), format!("['{key}']")] {
        let mut from = 0;
        while let Some(at) = source[from..].find(&needle) {
            let start = from + at;
            let end = start + needle.len();
            let whole_word =
                needle.starts_with('[') || !source[end..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            if whole_word {
                if let Some(path) = path_ending_at(source, start) {
                    let full = format!("{path}{}", &source[start..end]);
                    if !found.contains(&full) {
                        found.push(full);
                    }
                }
            }
            from = end;
        }
    }
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// The only field path (`object.spec.x`, two segments or more) written in `source`, ignoring paths
/// that are prefixes of it.
fn sole_path(source: &str) -> Option<String> {
    let mut paths: Vec<String> = Vec::new();
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_')
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b'.' | b'?')));
        if !starts_word {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b'_' | b'.' | b'?')) {
            end += 1;
        }
        let path = source[i..end].trim_end_matches(['.', '?']);
        // A method call's name is not a field.
        let path = if source[end..].starts_with('(') {
            path.rsplit_once('.').map_or("", |(head, _)| head)
        } else {
            path
        };
        if path.contains('.') && !paths.iter().any(|p| p == path) {
            paths.push(path.to_owned());
        }
        i = end.max(i + 1);
    }
    let longest: Vec<&String> = paths
        .iter()
        .filter(|p| !paths.iter().any(|q| q.len() > p.len() && q.starts_with(p.as_str())))
        .collect();
    match longest.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// The path (`object.spec.containers`, `item.?ports`, `a["b"].c`) that ends just before byte
/// `end` of `source`, when one does; `None` for a call result, a literal or a parenthesis.
fn path_ending_at(source: &str, end: usize) -> Option<String> {
    let bytes = source.as_bytes();
    let mut start = end;
    let mut depth = 0usize;
    while start > 0 {
        let c = bytes[start - 1];
        if depth > 0 {
            match c {
                b']' => depth += 1,
                b'[' => depth -= 1,
                _ => {}
            }
            start -= 1;
            continue;
        }
        match c {
            b']' => {
                depth = 1;
                start -= 1;
            }
            // `x.?a.orValue([])`: the default of an optional field is part of its path.
            b')' => match defaulted_call_start(source, start - 1) {
                Some(open) => start = open,
                None => break,
            },
            c if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'?') => start -= 1,
            _ => break,
        }
    }
    let path = source[start..end].trim_start_matches(['.', '?']);
    let starts_with_name = path.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    (depth == 0 && starts_with_name).then(|| path.to_owned())
}

/// Where `.orValue(...)`, `.or(...)` or `.value()` starts, when the `)` at byte `close` ends one.
fn defaulted_call_start(source: &str, close: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut open = close + 1;
    while open > 0 {
        open -= 1;
        match bytes[open] {
            b')' => depth += 1,
            b'(' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return None;
    }
    ["orValue", "or", "value"].iter().find_map(|name| {
        let head = &source[..open];
        head.strip_suffix(name)
            .filter(|h| h.ends_with('.'))
            .map(|h| h.len() - 1)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn overload(function: &str, types: &[&str]) -> ExecutionError {
        ExecutionError::no_such_overload(function, types.iter().map(|t| (*t).to_owned()).collect())
    }

    fn member(function: &str, types: &[&str]) -> ExecutionError {
        ExecutionError::no_such_member_overload(function, types.iter().map(|t| (*t).to_owned()).collect())
    }

    fn unexpected(got: &str, want: &str) -> ExecutionError {
        ExecutionError::UnexpectedType {
            got: got.to_owned(),
            want: want.to_owned(),
        }
    }

    fn string(s: &str) -> Value {
        Value::String(Arc::new(s.to_owned()))
    }

    #[test]
    fn iterating_over_null_names_the_field() {
        let e = unexpected("null_type", "iterable");
        assert_eq!(
            execution(&e, "object.spec.ingress.all(r, r.from.size() > 0)"),
            "`object.spec.ingress`: expected a list or map to iterate over, got null"
        );
        assert_eq!(
            execution(&e, "has(item.hosts) && item.hosts.exists(h, h == '*')"),
            "`item.hosts`: expected a list or map to iterate over, got null"
        );
        assert_eq!(
            execution(
                &e,
                "object.?spec.?ingress.orValue([]).all(r, r.?from.orValue([]).size() > 0)"
            ),
            "`object.?spec.?ingress.orValue([])`: expected a list or map to iterate over, got null"
        );
        // Two candidates: no guess.
        assert_eq!(
            execution(&e, "a.b.all(x, x) && a.c.exists(y, y)"),
            "expected a list or map to iterate over, got null"
        );
    }

    #[test]
    fn unexpected_type_in_words() {
        assert_eq!(
            execution(&unexpected("null_type", "bool"), "x"),
            "expected a bool, got null"
        );
        assert_eq!(
            execution(&unexpected("string", "int"), "x"),
            "expected an integer, got a string"
        );
        assert_eq!(
            execution(
                &unexpected("google.protobuf.Timestamp", "google.protobuf.Duration"),
                "x"
            ),
            "expected a duration, got a timestamp"
        );
        assert_eq!(
            execution(&unexpected("list(int)", "map"), "x"),
            "expected a map, got a list of integers"
        );
    }

    #[test]
    fn no_such_key_names_the_path() {
        let e = ExecutionError::NoSuchKey(Arc::new("team".to_owned()));
        assert_eq!(
            execution(&e, "object.metadata.labels.team == 'a'"),
            "`object.metadata.labels.team`: no such key: team"
        );
        assert_eq!(
            execution(&e, "object.metadata.labels['team'] == 'a'"),
            "`object.metadata.labels['team']`: no such key: team"
        );
        // `.teams` is another key; the key in a variable is not in the source.
        assert_eq!(execution(&e, "object.spec.teams.size() > 0"), "no such key: team");
        assert_eq!(execution(&e, "a.team == b.team"), "no such key: team");
    }

    #[test]
    fn method_on_the_wrong_type_names_the_receiver() {
        assert_eq!(
            execution(&member("size", &["null_type"]), "object.data.size() > 0"),
            "`object.data` is null: size() cannot be called on null"
        );
        assert_eq!(
            execution(&member("startsWith", &["string", "int"]), "item.image.startsWith(1)"),
            "`item.image` is a string: startsWith() cannot be called on a string with an integer"
        );
        assert_eq!(
            execution(&member("size", &["null_type"]), "a.size() > 0 && b.size() > 0"),
            "size() cannot be called on null"
        );
    }

    #[test]
    fn operators_and_internal_functions_by_their_symbols() {
        assert_eq!(
            execution(&overload("_<_", &["string", "int"]), "object.spec.s < 1"),
            "`<` cannot be applied to a string and an integer"
        );
        assert_eq!(
            execution(&overload("__celgate_matches", &["string", "null_type"]), "a.matches(b)"),
            "matches() cannot be applied to a string and null"
        );
        assert_eq!(
            execution(&overload("__celgate_in", &["string", "int"]), "'a' in 1"),
            "`in` cannot be applied to a string and an integer"
        );
        assert_eq!(
            execution(&overload("_[_]", &["null_type", "string"]), "object.data['k']"),
            "null cannot be indexed with a string"
        );
    }

    #[test]
    fn reading_a_field_of_null() {
        let e = overload("_._", &["null_type", "string"]);
        assert_eq!(
            execution(&e, "object.spec.from.foo == 1"),
            "`object.spec.from.foo`: cannot read a field of null (expected a map)"
        );
        assert_eq!(
            execution(&e, "has(object.spec.a.x) || object.spec.b.size() > 0"),
            "cannot read a field of null (expected a map)"
        );
    }

    #[test]
    fn values_as_cel_writes_them() {
        assert_eq!(
            execution(
                &ExecutionError::UnsupportedBinaryOperator("add", string("5"), Value::Int(1)),
                "x"
            ),
            "`+` cannot be applied to a string (\"5\") and an integer (1)"
        );
        assert_eq!(
            execution(&ExecutionError::IndexOutOfBounds(Value::Int(5)), "x"),
            "index 5 is out of range"
        );
        assert_eq!(
            execution(&ExecutionError::DivisionByZero(Value::Int(3)), "x"),
            "division by zero: 3 / 0"
        );
        assert_eq!(
            execution(&ExecutionError::RemainderByZero(Value::UInt(3)), "x"),
            "remainder by zero: 3u % 0"
        );
        assert_eq!(
            execution(
                &ExecutionError::Overflow("mul", Value::Int(i64::MAX), Value::Int(2)),
                "x"
            ),
            format!("integer overflow: {} * 2", i64::MAX)
        );
        assert_eq!(
            execution(&ExecutionError::DuplicateKey(string("a")), "x"),
            "a map literal repeats the key \"a\""
        );
        assert_eq!(
            execution(
                &ExecutionError::ValuesNotComparable(Value::Bool(true), Value::Null),
                "x"
            ),
            "a bool (true) cannot be compared with null"
        );
        assert_eq!(
            execution(
                &ExecutionError::UnsupportedIndex(Value::Float(1.5), Value::List(Arc::new(vec![Value::Int(1)]))),
                "x"
            ),
            "a list of 1 item cannot be indexed with a number (1.5)"
        );
        assert_eq!(
            execution(&ExecutionError::UnsupportedKeyType(Value::Null), "x"),
            "null cannot be a map key"
        );
        let long = "x".repeat(100);
        assert_eq!(
            execution(&ExecutionError::DuplicateKey(string(&long)), "x"),
            format!("a map literal repeats the key \"{}…", "x".repeat(39))
        );
    }

    #[test]
    fn other_errors() {
        assert_eq!(
            execution(&ExecutionError::function_error("int", "string parse error"), "x"),
            "int: string parse error"
        );
        assert_eq!(
            execution(&ExecutionError::UndeclaredReference(Arc::new("foo".to_owned())), "x"),
            "unknown name `foo`"
        );
        assert_eq!(
            execution(&ExecutionError::InvalidArgumentCount { expected: 1, actual: 2 }, "x"),
            "expected 1 argument, got 2"
        );
        assert_eq!(
            execution(
                &ExecutionError::NotSupportedAsMethod {
                    method: "__celgate_matches".to_owned(),
                    target: Value::Int(1)
                },
                "x"
            ),
            "matches() cannot be called as a method of an integer (1)"
        );
        assert_eq!(
            execution(&ExecutionError::UnsupportedTargetType { target: Value::Null }, "x"),
            "no method can be called on null"
        );
    }

    #[test]
    fn no_internal_names_leak() {
        let errors = [
            unexpected("null_type", "iterable"),
            unexpected("null_type", "bool"),
            overload("_._", &["null_type", "string"]),
            overload("_[_]", &["null_type", "string"]),
            member("size", &["null_type"]),
            ExecutionError::UnsupportedBinaryOperator("add", Value::List(Arc::new(vec![])), string("a")),
            ExecutionError::IndexOutOfBounds(Value::Int(5)),
        ];
        for e in errors {
            let text = execution(&e, "object.spec.a.b");
            for internal in [
                "null_type",
                "_._",
                "_[_]",
                "String(",
                "Int(",
                "List(",
                "Unexpected type",
                "__celgate",
            ] {
                assert!(!text.contains(internal), "{text}");
            }
        }
    }
}
