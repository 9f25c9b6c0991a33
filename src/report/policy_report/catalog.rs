//! What a report says about each rule (pack, framework, title, severity, controls), looked up by
//! rule id: a rule that passed has no finding to read it from.

use std::collections::HashMap;

use crate::engine::{Engine, PackKind, Severity, Violation};

/// One rule as reports describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// The pack's name; for an admission policy, the policy's name.
    pub pack: String,
    /// The pack's framework (`SOC 2`; `Kubernetes ValidatingAdmissionPolicy` for a policy).
    pub framework: Option<String>,
    /// The rule's title.
    pub title: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The control clauses the rule supports.
    pub controls: Vec<String>,
}

impl RuleInfo {
    /// The rule as one of its findings describes it (framework unknown).
    pub fn of_violation(v: &Violation) -> RuleInfo {
        RuleInfo {
            pack: v.pack.to_string(),
            framework: None,
            title: v.title.to_string(),
            severity: v.severity,
            controls: v.controls.to_vec(),
        }
    }
}

/// Every rule of an engine by id, and every pack's framework by pack name.
///
/// Rule ids are unique across the loaded packs. An admission policy's rules are its
/// validations or mutations, `<policy>[<index>]`; a finding about the whole policy (a failing
/// `matchCondition`, a missing param) has the policy's name as rule id, which the catalog
/// also knows, described by the policy's first rule.
#[derive(Debug, Clone, Default)]
pub struct RuleCatalog {
    rules: HashMap<String, RuleInfo>,
    frameworks: HashMap<String, String>,
}

impl RuleCatalog {
    /// The catalog of every pack `engine` judges with.
    pub fn from_engine(engine: &Engine) -> RuleCatalog {
        let mut catalog = RuleCatalog::default();
        for pack in engine.packs() {
            let name = &pack.metadata.name;
            if let Some(framework) = &pack.metadata.framework {
                catalog.frameworks.insert(name.clone(), framework.clone());
            }
            let info = |rule: &crate::engine::CompiledRule| RuleInfo {
                pack: name.clone(),
                framework: pack.metadata.framework.clone(),
                title: rule.spec.title.clone(),
                severity: rule.spec.severity,
                controls: rule.spec.controls.clone(),
            };
            for rule in &pack.rules {
                catalog.rules.insert(rule.spec.id.clone(), info(rule));
            }
            if let (PackKind::AdmissionPolicies(admission), Some(first)) = (&pack.kind, pack.rules.first()) {
                catalog
                    .rules
                    .entry(admission.policy.clone())
                    .or_insert_with(|| info(first));
            }
        }
        catalog
    }

    /// The rule with id `rule`, if the engine has it.
    pub fn rule(&self, rule: &str) -> Option<&RuleInfo> {
        self.rules.get(rule)
    }

    /// The framework of pack `pack`, if it names one.
    pub fn framework(&self, pack: &str) -> Option<&str> {
        self.frameworks.get(pack).map(String::as_str)
    }

    /// How many rules the catalog knows.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when the catalog knows no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}
