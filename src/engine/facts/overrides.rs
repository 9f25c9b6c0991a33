//! How a rule's outcome is changed for one input: the **mode** a tenant or environment set for
//! the rule (`enforce | warn | audit | off`) and the **exception** that covers the object.
//!
//! The engine stays tenant-agnostic: it asks an [`Overrides`] for each rule it would run and each
//! finding it made. The tenant layer (`crate::tenant`) implements it; [`NoOverrides`] keeps every
//! rule as its pack wrote it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::decision::FindingType;
use super::input::Input;
use crate::engine::facts::decision::Action;

/// What a tenant or environment makes of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Block on a violation: `deny` (a `patch` rule still patches; `warn`/`audit` rules deny).
    Enforce,
    /// Report as a warning; never block or patch.
    Warn,
    /// Record only (audit annotations, reports); never block, patch or warn.
    Audit,
    /// Do not evaluate the rule at all.
    Off,
}

impl Mode {
    /// Lowercase name as the config file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
            Mode::Off => "off",
        }
    }

    /// The mode a rule's own action amounts to (`deny`/`patch` enforce).
    pub fn of_action(action: Action) -> Mode {
        match action {
            Action::Deny | Action::Patch => Mode::Enforce,
            Action::Warn => Mode::Warn,
            Action::Audit => Mode::Audit,
        }
    }

    /// The action a finding takes under this mode. Evaluation errors are only ever lowered
    /// (their `onError` outcome is the author's fail-closed choice, not raised by `enforce`).
    pub fn apply(self, action: Action, finding: FindingType) -> Action {
        match (self, finding) {
            (Mode::Enforce, FindingType::Violation) => match action {
                Action::Patch => Action::Patch,
                _ => Action::Deny,
            },
            (Mode::Enforce | Mode::Off, _) => action,
            (Mode::Warn, _) => match action {
                Action::Audit => Action::Audit,
                _ => Action::Warn,
            },
            (Mode::Audit, _) => Action::Audit,
        }
    }
}

/// The mode that applied to a finding and why (which layer of the configuration set it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedMode {
    /// The mode.
    pub mode: Mode,
    /// Where it came from; written as text, e.g. `tenant acme (framework soc2)` or
    /// `environment staging (rule soc2-x)`.
    #[serde(serialize_with = "serialize_display")]
    pub source: ModeSource,
}

/// A configuration layer that sets modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// A tenant, by name.
    Tenant(String),
    /// An environment, by name.
    Environment(String),
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Tenant(name) => write!(f, "tenant {name}"),
            Layer::Environment(name) => write!(f, "environment {name}"),
        }
    }
}

/// Which part of the configuration chose a finding's mode (its provenance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSource {
    /// Nothing overrode it: the rule acts as its pack wrote it (`rule default`).
    RuleDefault,
    /// The tenant's `frameworks` leave the rule's pack out, so the rule is off.
    FrameworkNotApplied {
        /// The tenant.
        tenant: String,
        /// The pack it does not take.
        pack: String,
    },
    /// A mode keyed by the rule's id.
    Rule {
        /// Who set it.
        layer: Layer,
        /// The rule id.
        rule: String,
    },
    /// A mode keyed by a pack version (`soc2@0.2.0`) the rule changed in.
    Version {
        /// Who set it.
        layer: Layer,
        /// The key as written.
        key: String,
        /// The rule id.
        rule: String,
    },
    /// A mode keyed by the pack's name.
    Framework {
        /// Who set it.
        layer: Layer,
        /// The pack name.
        pack: String,
    },
    /// The rule warns because params it reads still hold their pack's example values.
    Unconfigured {
        /// The params, as the message names them.
        params: String,
        /// The mode this replaced, if one was set.
        over: Option<Box<AppliedMode>>,
    },
}

impl fmt::Display for ModeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModeSource::RuleDefault => f.write_str("rule default"),
            ModeSource::FrameworkNotApplied { tenant, pack } => {
                write!(f, "tenant {tenant} (framework {pack} does not apply to it)")
            }
            ModeSource::Rule { layer, rule } => write!(f, "{layer} (rule {rule})"),
            ModeSource::Version { layer, key, rule } => {
                write!(f, "{layer} ({key}: rule {rule} changed in that version)")
            }
            ModeSource::Framework { layer, pack } => write!(f, "{layer} (framework {pack})"),
            ModeSource::Unconfigured { params, over: None } => write!(f, "unconfigured {params}"),
            ModeSource::Unconfigured { params, over: Some(m) } => {
                write!(f, "unconfigured {params}, over {} set by {}", m.mode.as_str(), m.source)
            }
        }
    }
}

fn serialize_display<S: serde::Serializer>(value: &ModeSource, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// An exception that covers a finding: the rule still ran, but its finding does not block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExceptionUse {
    /// The exception's id in the configuration.
    pub id: String,
    /// Who owns it (accountable person or team).
    pub owner: String,
    /// Why it was granted.
    pub reason: String,
    /// Tracking ticket, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Expiry (RFC 3339 date or date-time, as configured).
    pub expires: String,
    /// True when the exception matched but has expired: it no longer applies and the finding keeps
    /// its action; reported so the owner renews or fixes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub expired: bool,
}

/// Decides modes and exceptions for one input. Implementations must be cheap: `mode` is asked
/// once per matching rule and `exception` once per finding.
pub trait Overrides {
    /// The mode for `rule` of `pack`, or `None` to keep the rule's own action.
    fn mode(&self, pack: &str, rule: &str) -> Option<AppliedMode>;
    /// The exception covering `rule` for `input`, if any (expired ones included, marked).
    fn exception(&self, rule: &str, input: &Input) -> Option<ExceptionUse>;
    /// The tenant the input was judged for, shown in explanations.
    fn tenant(&self) -> Option<&str> {
        None
    }
    /// The environment the input was judged for, shown in explanations.
    fn environment(&self) -> Option<&str> {
        None
    }
}

/// Every rule as its pack wrote it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOverrides;

impl Overrides for NoOverrides {
    fn mode(&self, _pack: &str, _rule: &str) -> Option<AppliedMode> {
        None
    }

    fn exception(&self, _rule: &str, _input: &Input) -> Option<ExceptionUse> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_raise_and_lower_actions() {
        use Action::{Audit, Deny, Patch, Warn};
        let v = FindingType::Violation;
        let e = FindingType::EvaluationError;
        assert_eq!(Mode::Enforce.apply(Warn, v), Deny);
        assert_eq!(Mode::Enforce.apply(Audit, v), Deny);
        assert_eq!(Mode::Enforce.apply(Patch, v), Patch);
        assert_eq!(Mode::Enforce.apply(Audit, e), Audit, "errors are not raised");
        assert_eq!(Mode::Warn.apply(Deny, v), Warn);
        assert_eq!(Mode::Warn.apply(Patch, v), Warn);
        assert_eq!(Mode::Warn.apply(Audit, v), Audit);
        assert_eq!(Mode::Warn.apply(Deny, e), Warn);
        assert_eq!(Mode::Audit.apply(Deny, v), Audit);
        assert_eq!(Mode::Audit.apply(Deny, e), Audit);
    }
}
