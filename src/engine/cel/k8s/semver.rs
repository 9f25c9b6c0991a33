//! The Kubernetes semver library (`semverlib.go`): strict `SemVer` 2.0 parsing (as
//! `blang/semver` `Parse`), the optional normalization (`v` prefix, missing minor/patch,
//! leading zeros), and precedence comparison that ignores build metadata.

#![allow(clippy::trivially_copy_pass_by_ref)] // the overload macros pass arguments by reference

use std::cmp::Ordering;
use std::fmt;

use cel::common::types::{CelBool, CelInt, CelString};
use cel::{DeclarationError, Env, ExecutionError};

use super::types::{opaque_val, SEMVER_TYPE};

/// A semantic version value (`kubernetes.Semver`).
#[derive(Debug, Clone)]
pub struct Semver(pub semver::Version);

/// Versions are equal when their precedence is: build metadata does not count.
impl PartialEq for Semver {
    fn eq(&self, other: &Self) -> bool {
        self.0.cmp_precedence(&other.0) == Ordering::Equal
    }
}

opaque_val!(Semver, SEMVER_TYPE);

impl fmt::Display for Semver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Parses `text` as a version; with `normalize`, first drops one leading `v`, strips leading
/// zeros of each component and fills in a missing minor or patch with `0`.
pub fn parse_semver(text: &str, normalize: bool) -> Result<semver::Version, String> {
    let source = if normalize { normalized(text)? } else { text.to_owned() };
    semver::Version::parse(&source).map_err(|e| format!("'{text}' is not a semantic version: {e}"))
}

fn normalized(text: &str) -> Result<String, String> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let mut parts: Vec<String> = text
        .splitn(3, '.')
        .map(|p| {
            if p.len() > 1 {
                let trimmed = p.trim_start_matches('0');
                if trimmed.is_empty() || !trimmed.starts_with(|c: char| c.is_ascii_digit()) {
                    return format!("0{trimmed}");
                }
                return trimmed.to_owned();
            }
            p.to_owned()
        })
        .collect();
    if parts.len() < 3 {
        if parts.last().is_some_and(|p| p.contains(['+', '-'])) {
            return Err(format!(
                "'{text}' is not a semantic version: a short version cannot have pre-release or build metadata"
            ));
        }
        parts.resize(3, "0".to_owned());
    }
    Ok(parts.join("."))
}

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    cel::add_overload!(env, fn to_semver: (CelString) -> Result<Semver>, name = "semver")?;
    cel::add_overload!(env, fn to_semver_normalized: (CelString, CelBool) -> Result<Semver>, name = "semver")?;
    cel::add_overload!(env, fn is_semver: (CelString) -> CelBool)?;
    cel::add_overload!(env, fn is_semver_normalized: (CelString, CelBool) -> CelBool, name = "isSemver")?;
    cel::add_member_overload!(env, fn major: (Semver) -> CelInt)?;
    cel::add_member_overload!(env, fn minor: (Semver) -> CelInt)?;
    cel::add_member_overload!(env, fn patch: (Semver) -> CelInt)?;
    cel::add_member_overload!(env, fn semver_compare_to: (Semver, Semver) -> CelInt, name = "compareTo")?;
    cel::add_member_overload!(env, fn semver_is_greater_than: (Semver, Semver) -> CelBool, name = "isGreaterThan")?;
    cel::add_member_overload!(env, fn semver_is_less_than: (Semver, Semver) -> CelBool, name = "isLessThan")?;
    Ok(())
}

fn to_semver(text: &CelString<'_>) -> Result<Semver, ExecutionError> {
    to_semver_normalized(text, &CelBool::from(false))
}

fn to_semver_normalized(text: &CelString<'_>, normalize: &CelBool) -> Result<Semver, ExecutionError> {
    parse_semver(text.inner(), *normalize.inner())
        .map(Semver)
        .map_err(|e| ExecutionError::function_error("semver", e))
}

fn is_semver(text: &CelString<'_>) -> CelBool {
    CelBool::from(parse_semver(text.inner(), false).is_ok())
}

fn is_semver_normalized(text: &CelString<'_>, normalize: &CelBool) -> CelBool {
    CelBool::from(parse_semver(text.inner(), *normalize.inner()).is_ok())
}

fn component(n: u64) -> CelInt {
    CelInt::from(i64::try_from(n).unwrap_or(i64::MAX))
}

fn major(v: &Semver) -> CelInt {
    component(v.0.major)
}

fn minor(v: &Semver) -> CelInt {
    component(v.0.minor)
}

fn patch(v: &Semver) -> CelInt {
    component(v.0.patch)
}

fn semver_compare_to(v: &Semver, other: &Semver) -> CelInt {
    CelInt::from(match v.0.cmp_precedence(&other.0) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    })
}

fn semver_is_greater_than(v: &Semver, other: &Semver) -> CelBool {
    CelBool::from(v.0.cmp_precedence(&other.0) == Ordering::Greater)
}

fn semver_is_less_than(v: &Semver, other: &Semver) -> CelBool {
    CelBool::from(v.0.cmp_precedence(&other.0) == Ordering::Less)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> semver::Version {
        parse_semver(text, false).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn pre_release_ordering_follows_semver_2() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(v(pair[0]).cmp_precedence(&v(pair[1])), Ordering::Less, "{pair:?}");
        }
        assert_eq!(v("1.0.0+build.1").cmp_precedence(&v("1.0.0+build.2")), Ordering::Equal);
    }

    #[test]
    fn normalization() {
        assert_eq!(
            parse_semver("v1.0.0", true).map(|v| v.to_string()),
            Ok("1.0.0".to_owned())
        );
        assert_eq!(parse_semver("1.0", true).map(|v| v.to_string()), Ok("1.0.0".to_owned()));
        assert_eq!(
            parse_semver("01.01.01", true).map(|v| v.to_string()),
            Ok("1.1.1".to_owned())
        );
        assert_eq!(parse_semver("1", true).map(|v| v.to_string()), Ok("1.0.0".to_owned()));
        assert!(parse_semver("1.0-alpha", true).is_err());
        for bad in ["v1.0.0", "1.0", "01.1.1", "1.0.0-01", "200K", "1.0.0.0", ""] {
            assert!(parse_semver(bad, false).is_err(), "{bad}");
        }
    }
}
