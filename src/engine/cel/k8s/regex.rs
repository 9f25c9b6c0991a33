//! The Kubernetes regex library (`find`, `findAll`), and the per-thread cache of compiled
//! regexes it shares with `matches`, so a rule does not recompile its pattern for every value.
//!
//! Patterns are RE2 syntax (the `regex` crate's, as Go's `regexp`); matching is unanchored and,
//! for `findAll`, successive non-overlapping matches where an empty match right after the
//! previous one is skipped, as Go's `FindAllString` does.

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
            let compiled = regex::Regex::new(pattern).map_err(|e| {
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
    fn a_bad_pattern_names_the_function_and_pattern() {
        let err = with_regex("find", "(", |_| ()).expect_err("bad");
        assert!(
            err.to_string().contains("find") && err.to_string().contains("'('"),
            "{err}"
        );
    }
}
