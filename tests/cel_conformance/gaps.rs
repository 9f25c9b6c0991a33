//! `tests/fixtures/cel-spec/known-gaps.yaml`: the conformance cases celgate is known to fail,
//! per section, grouped under a one-line reason:
//!
//! ```yaml
//! basic:
//!   "type names are not identifiers":
//!     - "self_eval_nonzeroish/self_eval_type"
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

/// Reason given to a newly failing case when the list is regenerated.
pub const UNCLASSIFIED: &str = "unclassified";

/// Known failing cases: section → case name → reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KnownGaps(pub BTreeMap<String, BTreeMap<String, String>>);

/// Why the gap list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GapsError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML.
    #[error("{path}: {source}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The scanner's error.
        #[source]
        source: yaml_rust2::ScanError,
    },
    /// The YAML is not section → reason → list of case names.
    #[error("{path}: {what} (expected section -> reason -> [case names])")]
    Shape {
        /// The file.
        path: PathBuf,
        /// What was wrong and where.
        what: String,
    },
}

impl KnownGaps {
    /// The reason recorded for `case` of `section`, if it is listed.
    pub fn reason(&self, section: &str, case: &str) -> Option<&str> {
        self.0.get(section)?.get(case).map(String::as_str)
    }

    /// Reads the list; a missing file is an empty list.
    pub fn load(path: &Path) -> Result<KnownGaps, GapsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KnownGaps::default()),
            Err(source) => {
                return Err(GapsError::Io {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let docs = YamlLoader::load_from_str(&text).map_err(|source| GapsError::Yaml {
            path: path.to_owned(),
            source,
        })?;
        let shape = |what: String| GapsError::Shape {
            path: path.to_owned(),
            what,
        };
        let mut gaps = KnownGaps::default();
        let Some(root) = docs.first() else {
            return Ok(gaps);
        };
        if matches!(root, Yaml::Null) {
            return Ok(gaps);
        }
        let root = root
            .as_hash()
            .ok_or_else(|| shape("the top level is not a mapping".into()))?;
        for (section, reasons) in root {
            let section = section
                .as_str()
                .ok_or_else(|| shape(format!("section key {section:?} is not a string")))?;
            let entry = gaps.0.entry(section.to_owned()).or_default();
            let reasons = reasons
                .as_hash()
                .ok_or_else(|| shape(format!("section '{section}' is not a mapping of reasons")))?;
            for (reason, cases) in reasons {
                let reason = reason
                    .as_str()
                    .ok_or_else(|| shape(format!("a reason in '{section}' is not a string: {reason:?}")))?;
                // A reason whose last case was deleted by hand reads as null: an empty list.
                let cases = match cases {
                    Yaml::Null => &[][..],
                    other => other
                        .as_vec()
                        .ok_or_else(|| shape(format!("'{section}' / '{reason}' is not a list of case names")))?,
                };
                for case in cases {
                    let case = case
                        .as_str()
                        .ok_or_else(|| shape(format!("'{section}' / '{reason}' lists a non-string {case:?}")))?;
                    if entry.insert(case.to_owned(), reason.to_owned()).is_some() {
                        return Err(shape(format!("'{section}' lists '{case}' twice")));
                    }
                }
            }
        }
        Ok(gaps)
    }

    /// The YAML text of the list, sections in `order`, reasons sorted, cases in `case_order`
    /// (the fixture's order) within a reason.
    pub fn render(&self, order: &[&str], case_order: &BTreeMap<String, Vec<String>>) -> String {
        let mut out = String::from(
            "# CEL conformance cases celgate is known to fail: section -> reason -> case names.\n\
             # Checked by tests/cel_conformance.rs: a failing case not listed here, or a listed case\n\
             # that passes, fails the test. Regenerate from the current results (reasons of listed\n\
             # cases are kept, new failures get \"unclassified\"):\n\
             #   CEL_CONFORMANCE_WRITE_GAPS=1 cargo test --test cel_conformance\n",
        );
        for section in order {
            let Some(cases) = self.0.get(*section).filter(|c| !c.is_empty()) else {
                continue;
            };
            let _ = writeln!(out, "{section}:");
            let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            let fixture_order = case_order.get(*section).map_or(&[][..], Vec::as_slice);
            for name in fixture_order {
                if let Some(reason) = cases.get(name) {
                    by_reason.entry(reason).or_default().push(name);
                }
            }
            for (reason, names) in by_reason {
                let _ = writeln!(out, "  {}:", quoted(reason));
                for name in names {
                    let _ = writeln!(out, "    - {}", quoted(name));
                }
            }
        }
        out
    }
}

/// A YAML double-quoted scalar (JSON string escapes are valid there).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}
