//! The notify vocabulary: the names the `slack:` config, the events and the routes share — how
//! severe an event is, which kinds of decision and of celgate's own trouble a route can carry, and
//! how those kinds match. [`super::config`] parses into these types, [`super::event`] classifies
//! events with them and `route` matches with them; this module imports none of those.

use serde::Deserialize;

pub use crate::engine::Severity;

/// Kinds of decisions a route can carry (`decisions:` in a route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionClass {
    /// The request was denied.
    Deny,
    /// A rule could not be evaluated (whatever the verdict).
    EvaluationError,
    /// The request was admitted with warnings.
    Warn,
}

impl DecisionClass {
    /// What a route carries when it names no `decisions`: denials and evaluation errors.
    pub const DEFAULT: [DecisionClass; 2] = [DecisionClass::Deny, DecisionClass::EvaluationError];
}

/// Kinds of celgate's own trouble a route can carry (`system:` in a route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SystemClass {
    /// A pack reload was refused.
    PackReloadFailed,
    /// A certificate expires within `certificateWarningDays`.
    CertificateExpiring,
    /// Audit records cannot be written.
    AuditWriteFailing,
    /// A config reload that would weaken security was refused (also posted to routes carrying
    /// `pack-reload-failed`).
    ConfigReloadRefused,
    /// A periodic scan found new `fail` results of `high` or `critical` rules.
    ScanFindings,
}

impl SystemClass {
    /// True when a route carrying `carried` takes events of this kind: a route takes its own
    /// kinds, and a refused config reload also goes to routes carrying `pack-reload-failed`.
    pub fn is_carried_by(self, carried: &[SystemClass]) -> bool {
        carried.contains(&self)
            || (self == SystemClass::ConfigReloadRefused && carried.contains(&SystemClass::PackReloadFailed))
    }

    /// A few words for logs ("pack reload failed").
    pub fn about(self) -> &'static str {
        match self {
            SystemClass::PackReloadFailed => "pack reload failed",
            SystemClass::CertificateExpiring => "certificate expiring",
            SystemClass::AuditWriteFailing => "audit writes failing",
            SystemClass::ConfigReloadRefused => "config reload refused",
            SystemClass::ScanFindings => "new scan findings",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_parse_into_the_vocabulary() {
        let decisions: Vec<DecisionClass> =
            serde_json::from_value(serde_json::json!(["deny", "evaluation-error", "warn"])).unwrap();
        assert_eq!(
            decisions,
            [DecisionClass::Deny, DecisionClass::EvaluationError, DecisionClass::Warn]
        );
        let system: Vec<SystemClass> = serde_json::from_value(serde_json::json!([
            "pack-reload-failed",
            "certificate-expiring",
            "audit-write-failing",
            "config-reload-refused"
        ]))
        .unwrap();
        assert_eq!(system.len(), 4);
        assert!(serde_json::from_value::<SystemClass>(serde_json::json!("reload")).is_err());
    }

    #[test]
    fn refused_config_reloads_also_ride_pack_reload_routes() {
        let refused = SystemClass::ConfigReloadRefused;
        assert!(refused.is_carried_by(&[SystemClass::PackReloadFailed]));
        assert!(refused.is_carried_by(&[SystemClass::ConfigReloadRefused]));
        assert!(!refused.is_carried_by(&[SystemClass::AuditWriteFailing]));
        assert!(!SystemClass::PackReloadFailed.is_carried_by(&[SystemClass::ConfigReloadRefused]));
    }
}
