//! The run-time half of example params (`spec.paramsToConfigure`, see
//! [`crate::engine::pack::placeholders`]): a finding whose rule reads a param that still holds
//! its pack's example warns instead of denying.

use std::sync::Arc;

use super::Finding;
use crate::engine::facts::decision::{Action, FindingType};
use crate::engine::facts::input::Input;
use crate::engine::facts::overrides::{AppliedMode, Mode, ModeSource};
use crate::engine::pack::compiled::CompiledPack;

/// Turns `finding` into a warning when it would deny or patch and its rule reads a param of its
/// pack that still holds its example for `input`; the message says which param to configure.
/// Evaluation errors keep their outcome: the rule could not run, whatever its params.
pub(crate) fn soften(finding: &mut Finding, packs: &[Arc<CompiledPack>], input: &Input) {
    let violation = &mut finding.violation;
    if violation.finding != FindingType::Violation || !matches!(violation.action, Action::Deny | Action::Patch) {
        return;
    }
    let Some(pack) = packs.iter().find(|p| *p.metadata.name == *violation.pack) else {
        return;
    };
    let marked = &pack.params_to_configure;
    let unconfigured: Vec<&str> = marked
        .read_by(&violation.rule)
        .iter()
        .filter(|name| marked.is_unconfigured(name, &pack.params, &input.params))
        .map(String::as_str)
        .collect();
    if unconfigured.is_empty() {
        return;
    }
    let names = unconfigured
        .iter()
        .map(|n| format!("params.{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (holds, value) = if unconfigured.len() == 1 {
        ("holds", "value")
    } else {
        ("hold", "values")
    };
    violation.message = format!(
        "{} (a warning until configured: configure {names}, which still {holds} the {} pack's example \
         {value}, in a tenant's params in celgate.yaml or in the pack's spec.params; then this rule {})",
        violation.message,
        pack.metadata.name,
        if violation.action == Action::Patch {
            "patches"
        } else {
            "denies"
        },
    );
    let over = violation.mode.take().map(Box::new);
    violation.mode = Some(AppliedMode {
        mode: Mode::Warn,
        source: ModeSource::Unconfigured {
            params: names.clone(),
            over,
        },
    });
    violation.action = Action::Warn;
    finding.ops.clear();
}
