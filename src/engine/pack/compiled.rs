//! The compiled model: what loading makes of a rule pack or an admission policy, and what the
//! evaluation reads.

use std::sync::Arc;

use crate::engine::cel::compile::CompiledExpr;
use crate::engine::pack::admission::CompiledAdmission;
use crate::engine::pack::patch::CompiledPatchOp;
use crate::engine::pack::select::Matcher;
use crate::engine::pack::template::Template;
use crate::engine::pack::{PackMetadata, RuleSpec};

/// Pack text and where it came from (a path, or `embedded:policies/soc2/pack.yaml`).
#[derive(Debug, Clone)]
pub struct PackSource {
    /// Shown in every error about this text.
    pub origin: String,
    /// The YAML.
    pub text: String,
}

/// What a compiled pack is.
#[derive(Debug)]
pub enum PackKind {
    /// A celgate rule pack (`RulePack` documents).
    Rules,
    /// A `ValidatingAdmissionPolicy` or `MutatingAdmissionPolicy` with its bindings (`engine::vap`).
    AdmissionPolicies(Box<CompiledAdmission>),
}

/// A compiled pack.
#[derive(Debug)]
pub struct CompiledPack {
    /// Name, version, framework.
    pub metadata: PackMetadata,
    /// Files it was read from.
    pub origins: Vec<String>,
    /// Default params as a JSON object (shared by every evaluation that overrides nothing).
    pub params: serde_json::Value,
    /// Variables in declaration order.
    pub variables: Vec<CompiledVariable>,
    /// Rules in declaration order.
    pub rules: Vec<Arc<CompiledRule>>,
    /// A rule pack, or a Kubernetes admission policy with the bindings, constraints and
    /// conditions applied around its rules.
    pub kind: PackKind,
    /// The params whose shipped values are examples (`spec.paramsToConfigure`) and the rules
    /// that read them.
    pub params_to_configure: super::placeholders::ParamsToConfigure,
    /// Rule ids earlier versions had, with what replaced each (`spec.retiredRules`).
    pub retired_rules: std::collections::BTreeMap<String, String>,
    /// What of it the compiled evaluator runs (set at load, [`super::programs`]).
    pub coverage: super::programs::Coverage,
    /// Which derived documents its expressions read (set at load, [`super::programs`]): a pass
    /// builds `request` and `namespaceObject` only for the packs that read them.
    pub reads: RootReads,
}

/// Which of the documents derived from an input (`request`, `namespaceObject`) a pack's
/// expressions read. The default is both: what is not known to be unread is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootReads {
    /// `request`.
    pub request: bool,
    /// `namespaceObject`.
    pub namespace_object: bool,
}

impl RootReads {
    /// Neither.
    pub const NONE: RootReads = RootReads {
        request: false,
        namespace_object: false,
    };

    /// What either reads.
    #[must_use]
    pub fn and(self, other: RootReads) -> RootReads {
        RootReads {
            request: self.request || other.request,
            namespace_object: self.namespace_object || other.namespace_object,
        }
    }

    /// What any of `packs` reads.
    pub fn of_packs<'a>(packs: impl IntoIterator<Item = &'a CompiledPack>) -> RootReads {
        packs
            .into_iter()
            .fold(RootReads::NONE, |reads, pack| reads.and(pack.reads))
    }

    /// What `expr` reads.
    pub fn of(expr: &crate::engine::cel::compile::CompiledExpr) -> RootReads {
        RootReads {
            request: expr.free_variables.contains("request"),
            namespace_object: expr.free_variables.contains("namespaceObject"),
        }
    }
}

impl Default for RootReads {
    fn default() -> Self {
        RootReads {
            request: true,
            namespace_object: true,
        }
    }
}

impl CompiledPack {
    /// The admission policy this pack was made from, if it was made from one.
    pub fn admission(&self) -> Option<&CompiledAdmission> {
        match &self.kind {
            PackKind::Rules => None,
            PackKind::AdmissionPolicies(admission) => Some(admission),
        }
    }
}

/// A compiled pack variable.
#[derive(Debug)]
pub struct CompiledVariable {
    /// `variables.<name>`.
    pub name: String,
    /// Its expression.
    pub expr: CompiledExpr,
    /// Indexes of the earlier variables it reads.
    pub deps: Vec<usize>,
    /// The pack's input bounds it was estimated at (`spec.inputLimits` of its document).
    pub input_limits: crate::engine::cel::cost::InputLimits,
    /// Equal for the variables of the packs loaded together that always compute the same value
    /// (see `pack::share::assign_share_ids`), which an evaluation then computes once; `None` when the
    /// variable reads another unshared variable or `params` its pack sets differently (a
    /// variable of another pack with the same source then computes its own), or belongs to an
    /// admission policy.
    pub share_id: Option<usize>,
    /// How a read of `variables.<name>` is charged (resolved once every variable of the pack
    /// is compiled, see `pack::load::resolve_variable_reads`).
    pub reads: crate::engine::cel::cost::reads::VariableReads,
}

/// A compiled rule: the pack text plus everything compiled from it.
#[derive(Debug)]
pub struct CompiledRule {
    /// The rule as written (id, title, controls, severity, action, ...).
    pub spec: RuleSpec,
    /// The texts each of its findings carries, shared by them.
    pub labels: RuleLabels,
    /// Pack file it came from.
    pub origin: String,
    /// Kinds, operations, namespaces, selectors.
    pub matcher: Matcher,
    /// Optional CEL precondition.
    pub condition: Option<CompiledExpr>,
    /// Optional `JSONPath`.
    pub for_each: Option<Vec<(String, jsonpath_rust::parser::model::JpQuery)>>,
    /// The check.
    pub validate: CompiledExpr,
    /// The message template.
    pub message: Template,
    /// Optional whole-message expression.
    pub message_expression: Option<CompiledExpr>,
    /// Optional pointer template.
    pub pointer: Option<Template>,
    /// Patch operations.
    pub patch: Vec<CompiledPatchOp>,
    /// Indexes of every pack variable any of its expressions reads (transitively), ascending.
    pub variables: Vec<usize>,
    /// The input bounds its expressions are written for (its own over its pack's); a declared
    /// bound the input exceeds makes the rule an evaluation error.
    pub input_limits: crate::engine::cel::cost::InputLimits,
}

/// What every finding of a rule says about the rule: its pack, id, title, controls, rationale
/// and remediation, made once at load and shared by the findings (a finding clones pointers,
/// not texts).
#[derive(Debug, Clone)]
pub struct RuleLabels {
    /// The pack's name.
    pub pack: Arc<str>,
    /// The rule's id.
    pub rule: Arc<str>,
    /// The rule's title.
    pub title: Arc<str>,
    /// The control clauses it supports.
    pub controls: Arc<[String]>,
    /// Why it matters (`""` when the rule gives no rationale).
    pub rationale: Arc<str>,
    /// How to fix what it finds.
    pub remediation: Arc<str>,
}

impl RuleLabels {
    /// The labels of rule `spec` of the pack named `pack`.
    pub fn new(pack: &str, spec: &RuleSpec) -> RuleLabels {
        RuleLabels {
            pack: pack.into(),
            rule: spec.id.as_str().into(),
            title: spec.title.as_str().into(),
            controls: spec.controls.as_slice().into(),
            rationale: spec.rationale.as_deref().unwrap_or_default().into(),
            remediation: spec.remediation.as_str().into(),
        }
    }
}

impl crate::engine::cel::cost::sizes::VariableTable for CompiledPack {
    fn reads_of(&self, name: &str) -> Option<&crate::engine::cel::cost::reads::VariableReads> {
        self.variables.iter().find(|v| v.name == name).map(|v| &v.reads)
    }
}
