//! Modes keyed on a pack version (`soc2@0.2.0: warn`, `soc2@>0.1.0: warn`): they apply to the
//! rules a pack marks as added or tightened in the matching versions (`changedIn`), so an
//! operator can run what a new pack version adds in `warn` before it blocks.

use std::collections::HashMap;

use semver::{Version, VersionReq};

use crate::engine::{Engine, Mode};

/// Which rules each loaded pack changed in which version.
#[derive(Debug, Default)]
pub(super) struct PackChanges {
    /// Pack name -> (rule id, version the rule was added or tightened in).
    by_pack: HashMap<String, Vec<(String, Version)>>,
}

impl PackChanges {
    /// Reads the `changedIn` of every rule of `engine`'s packs.
    pub(super) fn of(engine: &Engine) -> PackChanges {
        let mut by_pack: HashMap<String, Vec<(String, Version)>> = HashMap::new();
        for pack in engine.packs() {
            let entry = by_pack.entry(pack.metadata.name.clone()).or_default();
            for rule in &pack.rules {
                if let Some(version) = rule.spec.changed_in.as_deref().and_then(|v| Version::parse(v).ok()) {
                    entry.push((rule.spec.id.clone(), version));
                }
            }
        }
        PackChanges { by_pack }
    }
}

/// Why a `pack@version` mode key cannot be used. The message is shown after the key's field
/// path (`tenants.a.modes.soc2@0.9.0: ...`).
#[derive(Debug, thiserror::Error)]
pub(super) enum VersionKeyError {
    /// The part after `@` is neither a version nor a requirement.
    #[error("'{version}' is neither a version (0.2.0) nor a version requirement (>0.1.0): {source}")]
    BadVersion {
        /// The text after `@`, trimmed.
        version: String,
        /// The semver parser's complaint.
        #[source]
        source: semver::Error,
    },
    /// The pack is not loaded.
    #[error("'{pack}' is not a loaded framework")]
    UnknownPack {
        /// The pack named before `@`.
        pack: String,
    },
    /// An exact version in which the pack changed no rule.
    #[error(
        "no rule of {pack} was added or tightened in that version (versions with changes: {})",
        or_none(versions)
    )]
    NoChanges {
        /// The pack.
        pack: String,
        /// The versions in which it did change rules, sorted.
        versions: Vec<String>,
    },
    /// Two keys of the same kind (both exact, or both ranges) give one rule different modes.
    #[error("gives rule {rule} mode {} where '{other_key}' gives it {}", mode.as_str(), other.as_str())]
    Conflict {
        /// The rule.
        rule: String,
        /// The mode this key gives it.
        mode: Mode,
        /// The key that gave it a mode first.
        other_key: String,
        /// The mode that key gives it.
        other: Mode,
    },
}

fn or_none(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// A mode table key of the form `pack@version` or `pack@requirement`, parsed.
#[derive(Debug)]
pub(super) struct VersionKey<'a> {
    /// The pack's name.
    pub(super) pack: &'a str,
    requirement: VersionReq,
    /// True for a bare version (`0.2.0`, an exact match), which beats a range.
    pub(super) exact: bool,
}

/// Splits `soc2@0.2.0` into its pack and version requirement; `None` when `key` has no `@`.
/// A bare version matches exactly (not as Cargo's caret would).
pub(super) fn parse_key(key: &str) -> Option<Result<VersionKey<'_>, VersionKeyError>> {
    let (pack, version) = key.split_once('@')?;
    let version = version.trim();
    let exact = version.starts_with(|c: char| c.is_ascii_digit());
    let text = if exact {
        format!("={version}")
    } else {
        version.to_owned()
    };
    Some(match VersionReq::parse(&text) {
        Ok(requirement) => Ok(VersionKey {
            pack,
            requirement,
            exact,
        }),
        Err(source) => Err(VersionKeyError::BadVersion {
            version: version.to_owned(),
            source,
        }),
    })
}

/// Rules changed in the versions a key names, per rule id: its mode, the key, and whether the
/// key was an exact version.
#[derive(Debug, Default)]
pub(super) struct VersionModes {
    rules: HashMap<String, (Mode, String, bool)>,
}

impl VersionModes {
    /// Adds `key`'s mode to every rule of its pack changed in a version the key matches. Errors
    /// name the problem: an unknown pack, an exact version in which the pack changed no rule, or
    /// two keys of the same kind giving one rule different modes.
    pub(super) fn add(
        &mut self,
        key: &str,
        parsed: &VersionKey<'_>,
        mode: Mode,
        changes: &PackChanges,
    ) -> Result<(), VersionKeyError> {
        let Some(rules) = changes.by_pack.get(parsed.pack) else {
            return Err(VersionKeyError::UnknownPack {
                pack: parsed.pack.to_owned(),
            });
        };
        let matching: Vec<&String> = rules
            .iter()
            .filter(|(_, v)| parsed.requirement.matches(v))
            .map(|(id, _)| id)
            .collect();
        if matching.is_empty() && parsed.exact {
            let mut versions: Vec<String> = rules.iter().map(|(_, v)| v.to_string()).collect();
            versions.sort();
            versions.dedup();
            return Err(VersionKeyError::NoChanges {
                pack: parsed.pack.to_owned(),
                versions,
            });
        }
        for id in matching {
            match self.rules.get(id) {
                Some((_, _, true)) if !parsed.exact => {}
                Some((other, other_key, other_exact)) if *other_exact == parsed.exact && *other != mode => {
                    return Err(VersionKeyError::Conflict {
                        rule: id.clone(),
                        mode,
                        other_key: other_key.clone(),
                        other: *other,
                    });
                }
                _ => {
                    self.rules.insert(id.clone(), (mode, key.to_owned(), parsed.exact));
                }
            }
        }
        Ok(())
    }

    /// The mode for `rule` and the key that set it.
    pub(super) fn get(&self, rule: &str) -> Option<(Mode, &str)> {
        self.rules.get(rule).map(|(m, key, _)| (*m, key.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes() -> PackChanges {
        let v = |s: &str| Version::parse(s).unwrap();
        PackChanges {
            by_pack: HashMap::from([(
                "soc2".to_owned(),
                vec![("soc2-a".to_owned(), v("0.2.0")), ("soc2-b".to_owned(), v("0.3.0"))],
            )]),
        }
    }

    fn add(modes: &mut VersionModes, key: &str, mode: Mode) -> Result<(), VersionKeyError> {
        let parsed = parse_key(key).unwrap()?;
        modes.add(key, &parsed, mode, &changes())
    }

    #[test]
    fn a_bare_version_is_exact_and_a_range_covers_later_versions() {
        let mut modes = VersionModes::default();
        add(&mut modes, "soc2@0.2.0", Mode::Warn).unwrap();
        assert_eq!(modes.get("soc2-a").map(|m| m.0), Some(Mode::Warn));
        assert_eq!(modes.get("soc2-b"), None);
        add(&mut modes, "soc2@>0.1.0", Mode::Audit).unwrap();
        // The exact key keeps its rule; the range takes the rest.
        assert_eq!(modes.get("soc2-a").map(|m| m.0), Some(Mode::Warn));
        assert_eq!(modes.get("soc2-b"), Some((Mode::Audit, "soc2@>0.1.0")));
    }

    #[test]
    fn unknown_packs_versions_and_conflicts_are_named() {
        let mut modes = VersionModes::default();
        let err = add(&mut modes, "sox@0.2.0", Mode::Warn).unwrap_err();
        assert!(
            matches!(&err, VersionKeyError::UnknownPack { pack } if pack == "sox"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "'sox' is not a loaded framework");
        let err = add(&mut modes, "soc2@0.9.0", Mode::Warn).unwrap_err();
        assert!(matches!(&err, VersionKeyError::NoChanges { versions, .. } if versions == &["0.2.0", "0.3.0"]));
        assert!(err.to_string().contains("versions with changes: 0.2.0, 0.3.0"), "{err}");
        assert!(parse_key("soc2").is_none());
        add(&mut modes, "soc2@>0.1.0", Mode::Warn).unwrap();
        let err = add(&mut modes, "soc2@>=0.3.0", Mode::Audit).unwrap_err();
        assert!(
            matches!(&err, VersionKeyError::Conflict { rule, mode: Mode::Audit, other_key, other: Mode::Warn }
                if rule == "soc2-b" && other_key == "soc2@>0.1.0"),
            "{err:?}"
        );
        assert!(err.to_string().contains("'soc2@>0.1.0' gives it warn"), "{err}");
    }

    #[test]
    fn a_bad_version_keeps_the_parsers_cause() {
        let Some(Err(err)) = parse_key("soc2@ next") else {
            panic!("'next' parsed as a version");
        };
        assert!(
            matches!(&err, VersionKeyError::BadVersion { version, .. } if version == "next"),
            "{err:?}"
        );
        let cause = std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(!cause.is_empty() && err.to_string().ends_with(&cause), "{err}");
        assert!(parse_key("soc2@0.2.x.y").unwrap().is_err());
    }
}
