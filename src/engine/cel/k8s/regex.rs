//! The Kubernetes regex library (`find`, `findAll`), and the per-thread cache of compiled
//! regexes it shares with `matches`, so a rule does not recompile its pattern for every value.
//!
//! Patterns are RE2 syntax (the `regex` crate's, as Go's `regexp`); matching is unanchored and,
//! for `findAll`, successive non-overlapping matches where an empty match right after the
//! previous one is skipped, as Go's `FindAllString` does.
//!
//! Every pattern is compiled by [`re2`], which keeps one difference of the two dialects from
//! changing a decision: RE2's Perl classes and word boundaries are ASCII (`\d` is `[0-9]`, `\s`
//! is `[\t\n\f\r ]`, `\w` is `[0-9A-Za-z_]`, `\b` looks at ASCII word characters), where the
//! `regex` crate's are Unicode (`\d` matches `٣`, `\w` matches `é`). The rest (`.`, `(?i)`
//! folding, `\pL`, `[[:alpha:]]`) already means the same in both.

#![allow(clippy::trivially_copy_pass_by_ref)] // the overload macros pass arguments by reference

use std::cell::RefCell;

use cel::common::types::{CelInt, CelList, CelString};
use cel::common::value::Val;
use cel::{DeclarationError, Env, ExecutionError};
use foldhash::HashMap;

/// Regexes kept per thread; the cache is cleared when it grows past this.
const REGEX_CACHE_SIZE: usize = 512;

thread_local! {
    static REGEX_CACHE: RefCell<HashMap<String, regex::Regex>> = RefCell::new(HashMap::default());
}

/// Runs `f` on the compiled `pattern`, compiling and caching it first if needed; a bad pattern
/// is an error naming `function` and the pattern.
pub fn with_regex<R>(function: &str, pattern: &str, f: impl FnOnce(&regex::Regex) -> R) -> Result<R, ExecutionError> {
    REGEX_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            let compiled = re2(pattern).map_err(|e| {
                ExecutionError::function_error(function, format!("'{pattern}' is not a valid regex: {e}"))
            })?;
            if cache.len() >= REGEX_CACHE_SIZE {
                cache.clear();
            }
            cache.insert(pattern.to_owned(), compiled);
        }
        match cache.get(pattern) {
            Some(re) => Ok(f(re)),
            None => Err(ExecutionError::function_error(function, "regex cache lost its entry")),
        }
    })
}

/// Compiles an RE2 `pattern` with RE2's meaning: its Perl classes (`\d \s \w` and their negations,
/// inside or outside brackets) and word boundaries (`\b \B`) are rewritten to their ASCII forms
/// first. A pattern the `regex` crate cannot parse is compiled as written, so its error is the
/// crate's own.
pub fn re2(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&ascii_perl_classes(pattern))
}

/// `pattern` with every Perl class and word boundary spelled as RE2 means it (see [`re2`]);
/// unchanged when it has none or does not parse.
pub(crate) fn ascii_perl_classes(pattern: &str) -> std::borrow::Cow<'_, str> {
    use regex_syntax::ast;
    if !pattern.contains('\\') {
        return std::borrow::Cow::Borrowed(pattern);
    }
    let Ok(tree) = ast::parse::Parser::new().parse(pattern) else {
        return std::borrow::Cow::Borrowed(pattern);
    };
    let Ok(mut edits) = ast::visit(&tree, AsciiEdits::default());
    if edits.is_empty() {
        return std::borrow::Cow::Borrowed(pattern);
    }
    edits.sort_by_key(|(start, _, _)| *start);
    let mut out = String::with_capacity(pattern.len() + 16 * edits.len());
    let mut at = 0;
    for (start, end, text) in edits {
        out.push_str(&pattern[at..start]);
        out.push_str(text);
        at = end;
    }
    out.push_str(&pattern[at..]);
    std::borrow::Cow::Owned(out)
}

/// The byte ranges of a pattern to replace, with their ASCII spelling.
#[derive(Default)]
struct AsciiEdits(Vec<(usize, usize, &'static str)>);

/// The members of RE2's ASCII Perl class `kind`, as written inside brackets.
fn ascii_members(kind: &regex_syntax::ast::ClassPerlKind) -> &'static str {
    use regex_syntax::ast::ClassPerlKind;
    match kind {
        ClassPerlKind::Digit => "0-9",
        ClassPerlKind::Space => "\\t\\n\\x0C\\r\\x20",
        ClassPerlKind::Word => "0-9A-Za-z_",
    }
}

/// RE2's ASCII Perl class as a bracketed class of its own.
fn ascii_class(class: &regex_syntax::ast::ClassPerl) -> &'static str {
    use regex_syntax::ast::ClassPerlKind;
    match (&class.kind, class.negated) {
        (ClassPerlKind::Digit, false) => "[0-9]",
        (ClassPerlKind::Digit, true) => "[^0-9]",
        (ClassPerlKind::Space, false) => "[\\t\\n\\x0C\\r\\x20]",
        (ClassPerlKind::Space, true) => "[^\\t\\n\\x0C\\r\\x20]",
        (ClassPerlKind::Word, false) => "[0-9A-Za-z_]",
        (ClassPerlKind::Word, true) => "[^0-9A-Za-z_]",
    }
}

impl regex_syntax::ast::Visitor for AsciiEdits {
    type Output = Vec<(usize, usize, &'static str)>;
    type Err = std::convert::Infallible;

    fn finish(self) -> Result<Self::Output, Self::Err> {
        Ok(self.0)
    }

    fn visit_pre(&mut self, node: &regex_syntax::ast::Ast) -> Result<(), Self::Err> {
        use regex_syntax::ast::{AssertionKind, Ast};
        let edit = match node {
            Ast::ClassPerl(class) => Some((class.span, ascii_class(class))),
            Ast::Assertion(a) if a.kind == AssertionKind::WordBoundary => Some((a.span, "(?-u:\\b)")),
            Ast::Assertion(a) if a.kind == AssertionKind::NotWordBoundary => Some((a.span, "(?-u:\\B)")),
            _ => None,
        };
        if let Some((span, text)) = edit {
            self.0.push((span.start.offset, span.end.offset, text));
        }
        Ok(())
    }

    fn visit_class_set_item_pre(&mut self, item: &regex_syntax::ast::ClassSetItem) -> Result<(), Self::Err> {
        if let regex_syntax::ast::ClassSetItem::Perl(class) = item {
            // Negated inside brackets: a nested class (`[a\D]` is `[a[^0-9]]`).
            let text = if class.negated {
                ascii_class(class)
            } else {
                ascii_members(&class.kind)
            };
            self.0.push((class.span.start.offset, class.span.end.offset, text));
        }
        Ok(())
    }
}

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    cel::add_member_overload!(env, fn find: (CelString, CelString) -> Result<CelString>)?;
    cel::add_member_overload!(env, fn find_all: (CelString, CelString) -> Result<CelList>)?;
    cel::add_member_overload!(env, fn find_all_limit: (CelString, CelString, CelInt) -> Result<CelList>,
        name = "findAll")?;
    Ok(())
}

fn find(text: &CelString<'_>, pattern: &CelString<'_>) -> Result<CelString<'static>, ExecutionError> {
    with_regex("find", pattern.inner(), |re| {
        re.find(text.inner())
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default()
            .into()
    })
}

fn find_all(text: &CelString<'_>, pattern: &CelString<'_>) -> Result<CelList<'static>, ExecutionError> {
    find_all_n(text.inner(), pattern.inner(), -1)
}

fn find_all_limit(
    text: &CelString<'_>,
    pattern: &CelString<'_>,
    limit: &CelInt,
) -> Result<CelList<'static>, ExecutionError> {
    find_all_n(text.inner(), pattern.inner(), *limit.inner())
}

/// At most `limit` matches (all when negative), Go's `FindAllString` semantics.
fn find_all_n(text: &str, pattern: &str, limit: i64) -> Result<CelList<'static>, ExecutionError> {
    let matches = with_regex("findAll", pattern, |re| go_find_all(re, text, limit))?;
    Ok(matches
        .into_iter()
        .map(|m| Box::new(CelString::from(m)) as Box<dyn Val>)
        .collect::<Vec<_>>()
        .into())
}

/// Non-overlapping matches left to right; an empty match that starts where the previous match
/// ended is skipped.
pub(crate) fn go_find_all(re: &regex::Regex, text: &str, limit: i64) -> Vec<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    let mut previous_end: Option<usize> = None;
    for m in re.find_iter(text) {
        if out.len() >= limit {
            break;
        }
        if m.as_str().is_empty() && previous_end == Some(m.start()) {
            continue;
        }
        previous_end = Some(m.end());
        out.push(m.as_str().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(pattern: &str, text: &str, limit: i64) -> Vec<String> {
        with_regex("findAll", pattern, |re| go_find_all(re, text, limit)).expect("valid")
    }

    #[test]
    fn find_all_follows_go_for_empty_matches_and_limits() {
        assert_eq!(all("[0-9]+", "123 abc 456", -1), ["123", "456"]);
        assert_eq!(all("[0-9]+", "123 abc 456", 1), ["123"]);
        assert_eq!(all("[0-9]+", "123 abc 456", 0), Vec::<String>::new());
        // Go: "a*" on "baaab" finds "", "aaa", "" (the empty match after "aaa" is skipped).
        assert_eq!(all("a*", "baaab", -1), ["", "aaa", ""]);
    }

    #[test]
    fn perl_classes_and_word_boundaries_are_ascii_as_in_re2() {
        let m = |pattern: &str, text: &str| re2(pattern).expect("valid").is_match(text);
        // Go: regexp.MatchString(`^\d$`, "٣") == false, `^\w+$` on "héllo" false, `\s` on a
        // no-break space false, `\bé` on "é" false (é is not an ASCII word character).
        assert!(!m(r"^\d$", "\u{663}"));
        assert!(m(r"^\d$", "7"));
        assert!(!m(r"^\w+$", "h\u{e9}llo"));
        assert!(m(r"^\w+$", "hello_9"));
        assert!(!m(r"\s", "a\u{a0}b"));
        assert!(!m(r"\s", "a\u{b}b"), "RE2's \\s has no vertical tab");
        assert!(m(r"\s", "a\tb"));
        assert!(m(r"^\D$", "\u{663}"));
        assert!(m(r"^\W$", "\u{e9}"));
        assert!(m(r"^\S$", "\u{a0}"));
        assert!(!m(r"^[\w-]+$", "caf\u{e9}-x"));
        assert!(m(r"^[\w-]+$", "cafe-x"));
        assert!(m(r"^[a\D]$", "\u{663}"));
        assert!(!m(r"^[^\d]$", "5"));
        assert!(m(r"^[^\d]$", "\u{663}"));
        assert!(m(r"\bx", "\u{e9}x"), "é is no word character: a boundary before x");
        assert!(!m(r"\Bx", "\u{e9}x"));
        assert!(m(r"a\b", "a b"));
        // What was never a Perl class is left alone.
        assert!(m(r"\\d", "\\d"));
        assert!(m(r"^\pL+$", "h\u{e9}llo"));
        assert!(m(r"^[[:alpha:]]+$", "hello"));
        assert_eq!(ascii_perl_classes(r"^a.c$"), r"^a.c$");
        assert_eq!(ascii_perl_classes(r"x\d{2}[\s,]"), r"x[0-9]{2}[\t\n\x0C\r\x20,]");
    }

    #[test]
    fn a_bad_pattern_names_the_function_and_pattern() {
        let err = with_regex("find", "(", |_| ()).expect_err("bad");
        assert!(
            err.to_string().contains("find") && err.to_string().contains("'('"),
            "{err}"
        );
    }
}
