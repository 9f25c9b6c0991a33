//! Loading packs: text -> strict model -> compiled rules, collecting every error with the file,
//! rule, field and position it concerns.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use cel::Env;

use super::compile::{compile, CompileError, CompiledExpr};
use super::cost::{check_load, validate_limits, BoundsSite};
use super::pack::{PackDocument, PackMetadata, RuleSpec, PACK_API_VERSION, PACK_KIND};
pub use super::pack_error::{LoadErrors, PackError};
use super::patch::CompiledPatchOp;
use super::rule_compile::compile_rule;
use super::select::Matcher;
use super::template::Template;
use super::vap;
use crate::source::{self, PositionMap};

/// Pack text and where it came from (a path, or `embedded:policies/soc2/pack.yaml`).
#[derive(Debug, Clone)]
pub struct PackSource {
    /// Shown in every error about this text.
    pub origin: String,
    /// The YAML.
    pub text: String,
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
    /// Set when the pack is a Kubernetes admission policy (`engine::vap`): its bindings,
    /// constraints and conditions, applied around the rules.
    pub admission: Option<Box<super::vap::CompiledAdmission>>,
    /// The params whose shipped values are examples (`spec.paramsToConfigure`) and the rules
    /// that read them.
    pub params_to_configure: super::placeholders::ParamsToConfigure,
    /// Rule ids earlier versions had, with what replaced each (`spec.retiredRules`).
    pub retired_rules: std::collections::BTreeMap<String, String>,
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
    pub input_limits: super::pack::InputLimits,
    /// Equal for the variables of the packs loaded together that always compute the same value
    /// (see [`assign_share_ids`]), which an evaluation then computes once; `None` when the
    /// variable reads another unshared variable or `params` its pack sets differently (a
    /// variable of another pack with the same source then computes its own), or belongs to an
    /// admission policy.
    pub share_id: Option<usize>,
    /// How a read of `variables.<name>` is charged (resolved once every variable of the pack
    /// is compiled, see [`resolve_variable_reads`]).
    pub reads: crate::engine::cost::reads::VariableReads,
}

/// A compiled rule: the pack text plus everything compiled from it.
#[derive(Debug)]
pub struct CompiledRule {
    /// The rule as written (id, title, controls, severity, action, ...).
    pub spec: RuleSpec,
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
    pub input_limits: super::pack::InputLimits,
}

/// Parses and compiles `sources` into packs (documents with the same `metadata.name` merge). A
/// list document (`kind: List`, `ValidatingAdmissionPolicyList`, ...) is split into its items.
pub fn load_packs(env: &Env, sources: &[PackSource]) -> Result<Vec<CompiledPack>, LoadErrors> {
    let mut errors = Vec::new();
    let mut packs: Vec<CompiledPack> = Vec::new();
    let mut rule_origins: HashMap<String, String> = HashMap::new();
    // Admission policies and the documents that may be their params are compiled once every
    // file is read: a binding may come before its policy.
    let (mut admission, mut others) = (Vec::new(), Vec::new());
    for src in sources {
        let docs = match source::parse_documents(&src.text) {
            Ok(docs) => docs,
            Err(e) => {
                errors.push(PackError::Syntax {
                    file: src.origin.clone(),
                    source: e,
                });
                continue;
            }
        };
        // A `kind: List` (or `ValidatingAdmissionPolicyList`, ...) is read item by item, each
        // as if it were a document of its own.
        for doc in docs.into_iter().flat_map(source::SourceDoc::split_list) {
            if vap::convert::is_admission_document(&doc.value) || !is_pack_document(&doc.value) {
                let pending = vap::convert::PendingDoc {
                    origin: src.origin.clone(),
                    doc,
                };
                if vap::convert::is_admission_document(&pending.doc.value) {
                    admission.push(pending);
                } else {
                    others.push(pending);
                }
                continue;
            }
            let ctx = DocContext {
                file: &src.origin,
                positions: &doc.positions,
            };
            let Some(parsed) = parse_document(&ctx, doc.value, &mut errors) else {
                continue;
            };
            let index = if let Some(i) = packs.iter().position(|p| p.metadata.name == parsed.metadata.name) {
                if packs[i].metadata.version != parsed.metadata.version {
                    errors.push(ctx.invalid(
                        "/metadata/version",
                        format!("pack '{}'", parsed.metadata.name),
                        "metadata.version",
                        format!(
                            "'{}' differs from version '{}' in {}",
                            parsed.metadata.version,
                            packs[i].metadata.version,
                            packs[i].origins.join(", ")
                        ),
                    ));
                    continue;
                }
                i
            } else {
                packs.push(CompiledPack {
                    metadata: parsed.metadata.clone(),
                    origins: Vec::new(),
                    params: serde_json::Value::Object(serde_json::Map::new()),
                    variables: Vec::new(),
                    rules: Vec::new(),
                    admission: None,
                    params_to_configure: super::placeholders::ParamsToConfigure::default(),
                    retired_rules: std::collections::BTreeMap::new(),
                });
                packs.len() - 1
            };
            compile_into(env, &ctx, parsed, &mut packs[index], &mut rule_origins, &mut errors);
        }
    }
    for pending in vap::convert::convert(env, admission, others, &mut packs, &mut errors) {
        // Neither a pack, a policy nor a param object: report it as before.
        let ctx = DocContext::new(&pending.origin, &pending.doc.positions);
        parse_document(&ctx, pending.doc.value, &mut errors);
    }
    for pack in &packs {
        for retired in pack.retired_rules.keys() {
            if pack.rules.iter().any(|r| &r.spec.id == retired) {
                errors.push(PackError::Invalid {
                    file: pack.origins.join(", "),
                    line: 0,
                    subject: format!("pack '{}'", pack.metadata.name),
                    field: "spec.retiredRules".to_owned(),
                    message: format!("'{retired}' is retired but still a rule of the pack"),
                });
            }
        }
    }
    if errors.is_empty() {
        packs.iter_mut().for_each(resolve_variable_reads);
        assign_share_ids(&mut packs);
        assign_result_share_ids(&mut packs);
        super::placeholders::assign_readers(&mut packs);
        Ok(packs)
    } else {
        Err(LoadErrors(errors))
    }
}

/// Resolves what reading each variable of `pack` reads of the documents
/// ([`crate::engine::cost::reads::resolve_variables`]).
fn resolve_variable_reads(pack: &mut CompiledPack) {
    let names: Vec<&str> = pack.variables.iter().map(|v| v.name.as_str()).collect();
    let reads: Vec<&crate::engine::cost::reads::ExprReads> = pack.variables.iter().map(|v| &v.expr.reads).collect();
    let resolved = crate::engine::cost::reads::resolve_variables(&names, &reads);
    for (var, reads) in pack.variables.iter_mut().zip(resolved) {
        var.reads = reads;
    }
}

impl crate::engine::cost::sizes::VariableTable for CompiledPack {
    fn reads_of(&self, name: &str) -> Option<&crate::engine::cost::reads::VariableReads> {
        self.variables.iter().find(|v| v.name == name).map(|v| &v.reads)
    }
}

/// Indexes of the earlier variables of `pack` that `expr` reads (directly; every one when it
/// reads `variables` by a computed key); an error for any it reads that is
/// not defined before it.
pub(super) fn variable_dependencies(
    ctx: &DocContext<'_>,
    pointer: &str,
    subject: &str,
    field: &str,
    expr: &CompiledExpr,
    pack: &CompiledPack,
    errors: &mut Vec<PackError>,
) -> Vec<usize> {
    // `variables[k]` or the whole map: every variable before it.
    let mut deps: Vec<usize> = if expr.reads_all_variables() {
        (0..pack.variables.len()).collect()
    } else {
        Vec::new()
    };
    for name in &expr.pack_variables {
        match pack.variables.iter().position(|v| &v.name == name) {
            Some(idx) if !deps.contains(&idx) => deps.push(idx),
            Some(_) => {}
            None => errors.push(ctx.invalid(
                pointer,
                subject.to_owned(),
                field,
                format!("reads variables.{name}, which is not defined before it"),
            )),
        }
    }
    deps
}

/// The root variables a rule pack's variable may read and still be shared across packs: those
/// bound once per pass for every pack, and the pack-bound `params` and `variables` when what it
/// reads of them is equal in both packs (see [`share_key`]).
const SHARED_ROOTS: [&str; 6] = [
    "object",
    "oldObject",
    "request",
    "namespaceObject",
    "params",
    "variables",
];

/// Sets [`CompiledVariable::share_id`]: rule-pack variables with the same [`share_key`] (same
/// source, dependencies of the same names sharing ids, equal pack defaults for the params they
/// read) get the same id; they evaluate to equal values in every pack (soc2, gdpr and hipaa
/// define the same `podSpec`, `containers`, `cls`, ...).
fn assign_share_ids(packs: &mut [CompiledPack]) {
    let mut ids: HashMap<String, usize> = HashMap::new();
    for pack in packs.iter_mut().filter(|p| p.admission.is_none()) {
        for i in 0..pack.variables.len() {
            let var = &pack.variables[i];
            let deps = var.deps.iter().map(|&d| {
                let dep = &pack.variables[d];
                dep.share_id.map(|id| (dep.name.as_str(), id))
            });
            let Some(key) = share_key(&var.expr, &[], deps, &pack.params) else {
                continue;
            };
            let next = ids.len();
            pack.variables[i].share_id = Some(*ids.entry(key).or_insert(next));
        }
    }
}

/// The roots a rule expression may read besides [`SHARED_ROOTS`] and still be shared across
/// packs: results are kept by `forEach` item.
const ITEM_ROOTS: [&str; 2] = ["item", "itemPointer"];

/// Sets [`CompiledExpr::share_id`] on the expressions of rule-pack rules (condition, validate,
/// message and pointer templates, patch paths and values): those with the same [`share_key`] get
/// the same id. They compute the same result for the same `item` in every pack (soc2 and hipaa
/// check containers the same way and word their messages from the same pieces), so a pass
/// evaluates each once per item.
fn assign_result_share_ids(packs: &mut [CompiledPack]) {
    let mut ids: HashMap<String, usize> = HashMap::new();
    for pack in packs.iter_mut().filter(|p| p.admission.is_none()) {
        let (variables, params) = (&pack.variables, &pack.params);
        for rule in &mut pack.rules {
            // Nothing else holds a rule at load; one that is held keeps its expressions unshared.
            let Some(rule) = Arc::get_mut(rule) else {
                continue;
            };
            for expr in rule_expressions_mut(rule) {
                // The `variables` map a rule sees holds what its pack's matching rules need, which
                // differs between packs: a read by a computed key is not shared.
                if expr.reads_all_variables() {
                    continue;
                }
                let deps = expr.pack_variables.iter().map(|name| {
                    let var = variables.iter().find(|v| &v.name == name)?;
                    var.share_id.map(|id| (name.as_str(), id))
                });
                expr.share_id = share_key(expr, &ITEM_ROOTS, deps, params).map(|key| {
                    let next = ids.len();
                    *ids.entry(key).or_insert(next)
                });
            }
        }
    }
}

/// What makes an expression's value the same in every pack that holds it: its source, the share
/// ids of the pack variables it reads (`deps`, as `(name, share id)`, `None` for one that is not
/// shared), and its pack's defaults for the params it reads (the whole map when it reads one by
/// a computed key). An input's params are merged over every pack's the same way, key by key, so
/// equal defaults (or a key absent from both) stay equal. `None` when a dependency is not shared
/// or it reads a root outside [`SHARED_ROOTS`] and `more_roots`.
fn share_key<'a>(
    expr: &CompiledExpr,
    more_roots: &[&str],
    deps: impl Iterator<Item = Option<(&'a str, usize)>>,
    params: &serde_json::Value,
) -> Option<String> {
    let shared = |root: &String| SHARED_ROOTS.contains(&root.as_str()) || more_roots.contains(&root.as_str());
    if !expr.free_variables.iter().all(shared) {
        return None;
    }
    let mut key = format!("{}\0", expr.source);
    for dep in deps {
        let (name, id) = dep?;
        let _ = write!(key, "{name}={id},");
    }
    key.push('\0');
    if expr.whole_roots.contains("params") {
        key.push_str(&params.to_string());
    } else {
        for name in &expr.param_keys {
            let value = params
                .get(name)
                .map_or_else(|| "<absent>".to_owned(), serde_json::Value::to_string);
            let _ = write!(key, "{name}={value},");
        }
    }
    Some(key)
}

/// Every expression a rule evaluates in its own scope.
fn rule_expressions_mut(rule: &mut CompiledRule) -> Vec<&mut CompiledExpr> {
    fn template_exprs(template: &mut Template) -> impl Iterator<Item = &mut CompiledExpr> {
        template.segments.iter_mut().filter_map(|segment| match segment {
            super::template::Segment::Expr(expr) => Some(expr.as_mut()),
            super::template::Segment::Literal(_) => None,
        })
    }
    let mut exprs: Vec<&mut CompiledExpr> = Vec::new();
    exprs.extend(rule.condition.as_mut());
    exprs.push(&mut rule.validate);
    exprs.extend(rule.message_expression.as_mut());
    exprs.extend(template_exprs(&mut rule.message));
    if let Some(pointer) = rule.pointer.as_mut() {
        exprs.extend(template_exprs(pointer));
    }
    for op in &mut rule.patch {
        exprs.extend(template_exprs(&mut op.path));
        exprs.extend(op.value_expression.as_mut());
    }
    exprs
}

pub(super) struct DocContext<'a> {
    pub(super) file: &'a str,
    positions: &'a PositionMap,
}

/// True when `value` is a celgate rule pack by its header.
fn is_pack_document(value: &serde_json::Value) -> bool {
    value.get("apiVersion").and_then(|v| v.as_str()) == Some(PACK_API_VERSION)
        && value.get("kind").and_then(|v| v.as_str()) == Some(PACK_KIND)
}

impl<'a> DocContext<'a> {
    pub(super) fn new(file: &'a str, positions: &'a PositionMap) -> Self {
        DocContext { file, positions }
    }

    /// `value` as a `T`, strictly; a schema error (naming the file, line and field path) is
    /// pushed to `errors` instead.
    pub(super) fn deserialize<T: serde::de::DeserializeOwned>(
        &self,
        value: serde_json::Value,
        errors: &mut Vec<PackError>,
    ) -> Option<T> {
        match serde_path_to_error::deserialize(value) {
            Ok(doc) => Some(doc),
            Err(e) => {
                let path = e.path().to_string();
                errors.push(PackError::Schema {
                    file: self.file.to_owned(),
                    line: self.line(&path_to_pointer(&path)),
                    path,
                    message: e.into_inner().to_string(),
                });
                None
            }
        }
    }

    pub(super) fn line(&self, pointer: &str) -> usize {
        self.positions.locate(pointer).map_or(1, |p| p.line)
    }

    pub(super) fn invalid(&self, pointer: &str, subject: String, field: &str, message: String) -> PackError {
        PackError::Invalid {
            file: self.file.to_owned(),
            line: self.line(pointer),
            subject,
            field: field.to_owned(),
            message,
        }
    }

    pub(super) fn cel(&self, pointer: &str, subject: String, field: &str, source: CompileError) -> PackError {
        PackError::Cel {
            file: self.file.to_owned(),
            line: self.line(pointer),
            subject,
            field: field.to_owned(),
            source,
        }
    }
}

fn parse_document(ctx: &DocContext<'_>, value: serde_json::Value, errors: &mut Vec<PackError>) -> Option<PackDocument> {
    // Check the header first so a wrong file gets the useful message, not "unknown field".
    for (field, expected, pointer) in [
        ("apiVersion", PACK_API_VERSION, "/apiVersion"),
        ("kind", PACK_KIND, "/kind"),
    ] {
        let found = value.get(field).and_then(|v| v.as_str()).unwrap_or("");
        if found != expected {
            errors.push(PackError::Header {
                file: ctx.file.to_owned(),
                line: ctx.line(pointer),
                field,
                found: found.to_owned(),
                expected,
            });
            return None;
        }
    }
    let parsed: PackDocument = ctx.deserialize(value, errors)?;
    let subject = format!("pack '{}'", parsed.metadata.name);
    if let Err(e) = semver::Version::parse(&parsed.metadata.version) {
        errors.push(ctx.invalid(
            "/metadata/version",
            subject.clone(),
            "metadata.version",
            format!("'{}' is not a semantic version: {e}", parsed.metadata.version),
        ));
    }
    if !is_identifier_like(&parsed.metadata.name) {
        errors.push(ctx.invalid(
            "/metadata/name",
            subject,
            "metadata.name",
            "must be lowercase letters, digits and '-'".to_owned(),
        ));
        return None;
    }
    Some(parsed)
}

/// `spec.rules[2].severity` -> `/spec/rules/2/severity`.
pub(super) fn path_to_pointer(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(idx) = rest.find('[') {
            out.push('/');
            out.push_str(&rest[..idx]);
            rest = &rest[idx..];
            while let Some(end) = rest.find(']') {
                out.push('/');
                out.push_str(&rest[1..end]);
                rest = &rest[end + 1..];
            }
        } else if !rest.is_empty() && rest != "?" {
            out.push('/');
            out.push_str(rest);
        }
    }
    out
}

pub(super) fn is_identifier_like(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn compile_into(
    env: &Env,
    ctx: &DocContext<'_>,
    doc: PackDocument,
    pack: &mut CompiledPack,
    rule_origins: &mut HashMap<String, String>,
    errors: &mut Vec<PackError>,
) {
    if !pack.origins.iter().any(|o| o == ctx.file) {
        pack.origins.push(ctx.file.to_owned());
    }
    super::placeholders::record(
        ctx,
        &pack.metadata.name,
        &pack.params,
        &doc.spec.params,
        &doc.spec.params_to_configure,
        &mut pack.params_to_configure,
        errors,
    );
    if let serde_json::Value::Object(params) = &mut pack.params {
        params.extend(doc.spec.params);
    }
    pack.retired_rules.extend(doc.spec.retired_rules);
    let limits = doc.spec.input_limits;
    if let Err(message) = limits.map_or(Ok(()), validate_limits) {
        errors.push(ctx.invalid(
            "/spec/inputLimits",
            format!("pack '{}'", pack.metadata.name),
            "spec.inputLimits",
            message,
        ));
    }
    for (i, var) in doc.spec.variables.into_iter().enumerate() {
        let pointer = format!("/spec/variables/{i}/expression");
        let subject = format!("variable '{}'", var.name);
        if !is_cel_identifier(&var.name) {
            errors.push(ctx.invalid(&pointer, subject, "name", "must be a CEL identifier".to_owned()));
            continue;
        }
        if pack.variables.iter().any(|v| v.name == var.name) {
            errors.push(ctx.invalid(&pointer, subject, "name", "is defined twice in this pack".to_owned()));
            continue;
        }
        match compile(env, &var.expression) {
            Ok(expr) => {
                // Too costly is reported, but the variable is kept so its readers are not
                // reported as reading an undefined one.
                if let Err(e) = check_load(&expr.cost, limits.unwrap_or_default(), BoundsSite::Pack) {
                    errors.push(ctx.cel(&pointer, subject.clone(), "expression", CompileError::TooCostly(e)));
                }
                let deps = variable_dependencies(ctx, &pointer, &subject, "expression", &expr, pack, errors);
                pack.variables.push(CompiledVariable {
                    name: var.name,
                    expr,
                    deps,
                    input_limits: limits.unwrap_or_default(),
                    share_id: None,
                    reads: crate::engine::cost::reads::VariableReads::default(),
                });
            }
            Err(e) => errors.push(ctx.cel(&pointer, subject, "expression", e)),
        }
    }
    for (i, rule) in doc.spec.rules.into_iter().enumerate() {
        let base = format!("/spec/rules/{i}");
        if let Some(first) = rule_origins.get(&rule.id) {
            errors.push(PackError::DuplicateRule {
                file: ctx.file.to_owned(),
                line: ctx.line(&format!("{base}/id")),
                rule: rule.id.clone(),
                first: first.clone(),
            });
            continue;
        }
        rule_origins.insert(
            rule.id.clone(),
            format!("{}:{}", ctx.file, ctx.line(&format!("{base}/id"))),
        );
        check_changed_in(ctx, &base, &rule, &pack.metadata, errors);
        if let Some(compiled) = compile_rule(env, ctx, &base, rule, pack, limits, errors) {
            pack.rules.push(Arc::new(compiled));
        }
    }
}

/// A rule's `changedIn` is a semantic version no later than its pack's own version.
fn check_changed_in(
    ctx: &DocContext<'_>,
    base: &str,
    rule: &RuleSpec,
    metadata: &PackMetadata,
    errors: &mut Vec<PackError>,
) {
    let Some(text) = &rule.changed_in else {
        return;
    };
    let subject = format!("rule '{}'", rule.id);
    let pointer = format!("{base}/changedIn");
    match semver::Version::parse(text) {
        Err(e) => errors.push(ctx.invalid(
            &pointer,
            subject,
            "changedIn",
            format!("'{text}' is not a semantic version: {e}"),
        )),
        Ok(changed) => {
            if semver::Version::parse(&metadata.version).is_ok_and(|pack| changed > pack) {
                errors.push(ctx.invalid(
                    &pointer,
                    subject,
                    "changedIn",
                    format!("'{text}' is later than the pack's version '{}'", metadata.version),
                ));
            }
        }
    }
}

pub(super) fn is_cel_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_paths_become_pointers() {
        assert_eq!(path_to_pointer("spec.rules[2].severity"), "/spec/rules/2/severity");
        assert_eq!(path_to_pointer("metadata"), "/metadata");
        assert_eq!(path_to_pointer("."), "");
    }

    #[test]
    fn equal_variables_share_ids_across_packs() {
        let env = super::super::compile::environment();
        let packs = load_packs(&env, &crate::packs::embedded().packs).unwrap();
        let id = |pack: &str, name: &str| {
            let pack = packs.iter().find(|p| p.metadata.name == pack).unwrap();
            pack.variables.iter().find(|v| v.name == name).unwrap().share_id
        };
        assert!(id("soc2", "pssHostPath").is_some());
        assert_eq!(id("soc2", "pssHostPath"), id("hipaa", "pssHostPath"));
        assert_eq!(id("soc2", "ownLabels"), id("gdpr", "ownLabels"));
        assert_ne!(id("soc2", "ownLabels"), id("soc2", "nsLabels"));
        // Reads params.defaultClassification, which each pack sets to the same default.
        assert!(id("soc2", "cls").is_some());
        assert_eq!(id("soc2", "cls"), id("gdpr", "cls"));
    }

    fn rule<'p>(packs: &'p [CompiledPack], pack: &str, id: &str) -> &'p CompiledRule {
        let pack = packs.iter().find(|p| p.metadata.name == pack).unwrap();
        pack.rules.iter().find(|r| r.spec.id == id).unwrap()
    }

    #[test]
    fn equal_rule_expressions_share_ids_across_the_shipped_packs() {
        let env = super::super::compile::environment();
        let packs = load_packs(&env, &crate::packs::embedded().packs).unwrap();
        // Same validate, reading params.podSecurityExemptNamespaces (equal in all three) and the
        // Pod Security variables every pack carries.
        let gdpr = rule(&packs, "gdpr", "gdpr-pod-security-restricted");
        let hipaa = rule(&packs, "hipaa", "hipaa-workload-isolation-container");
        assert!(gdpr.validate.share_id.is_some());
        assert_eq!(gdpr.validate.share_id, hipaa.validate.share_id);
        let host = rule(&packs, "gdpr", "gdpr-pod-security-baseline");
        let phi_host = rule(&packs, "hipaa", "hipaa-workload-isolation");
        assert_eq!(host.validate.share_id, phi_host.validate.share_id);
        assert_ne!(host.validate.share_id, gdpr.validate.share_id);
        let exempted = |pack: &str| rule(&packs, pack, &format!("{pack}-pss-exempted")).validate.share_id;
        assert!(exempted("soc2").is_some());
        assert_eq!(exempted("soc2"), exempted("hipaa"));
        assert_eq!(exempted("soc2"), exempted("gdpr"));
        // `variables.personalData && ...` and `variables.phi && ...`: both shared, not alike.
        let condition = |r: &CompiledRule| r.condition.as_ref().and_then(|c| c.share_id);
        assert!(condition(host).is_some() && condition(phi_host).is_some());
        assert_ne!(condition(host), condition(phi_host));
    }

    #[test]
    fn rule_expressions_reading_unequal_params_or_unshared_variables_are_not_shared() {
        let rules = [
            ("x", "params.x == 1"),
            ("x-by-index", "params['x'] == 1"),
            ("y", "params.y == 1"),
            ("whole", "params[['x'][0]] == 1"),
            ("kind", "variables.kind == 'Pod'"),
            ("kind-optional", "variables.?kind.orValue('') == 'Pod'"),
            ("kind-dynamic", "['kind'].all(k, variables[k] == 'Pod')"),
            ("limit", "variables.limit > 1"),
            ("base", "variables.base > 1"),
        ];
        let pack = |name: &str, y: i64| {
            let mut text = format!(
                "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {{name: {name}, version: 0.1.0}}\n\
                 spec:\n  params: {{x: 1, y: {y}}}\n  variables:\n\
                 \x20   - {{name: kind, expression: object.kind}}\n\
                 \x20   - {{name: limit, expression: params.y + 1}}\n\
                 \x20   - {{name: base, expression: params.x + 1}}\n  rules:\n"
            );
            for (id, validate) in rules {
                let _ = writeln!(
                    text,
                    "    - {{id: {name}-{id}, title: t, controls: [c], severity: low, validate: \"{validate}\", \
                     message: m, remediation: r}}"
                );
            }
            PackSource {
                origin: format!("test:{name}.yaml"),
                text,
            }
        };
        let env = super::super::compile::environment();
        let packs = load_packs(&env, &[pack("a", 1), pack("b", 2)]).unwrap();
        let id = |pack: &str, rule_id: &str| rule(&packs, pack, &format!("{pack}-{rule_id}")).validate.share_id;
        // params.x is 1 in both, however it is named; the variable reads only object.
        for shared in ["x", "x-by-index", "kind", "kind-optional", "base"] {
            assert!(id("a", shared).is_some(), "{shared}");
            assert_eq!(id("a", shared), id("b", shared), "{shared}");
        }
        // params.y differs, and so does the whole params map (read by a computed key).
        assert_ne!(id("a", "y"), id("b", "y"));
        assert!(id("a", "whole").is_some());
        assert_ne!(id("a", "whole"), id("b", "whole"));
        // A variable that reads params.y differs between the packs, and so do its readers.
        assert!(id("a", "limit").is_some());
        assert_ne!(id("a", "limit"), id("b", "limit"));
        // `variables` read by a computed key: the map a rule sees differs between packs.
        assert_eq!(id("a", "kind-dynamic"), None);
    }

    #[test]
    fn changed_in_is_a_version_no_later_than_the_pack() {
        let pack = |changed: &str| PackSource {
            origin: "test:v.yaml".to_owned(),
            text: format!(
                "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {{name: v, version: 0.2.0}}\n\
                 spec:\n  rules:\n    - {{id: v-a, title: t, controls: [c], severity: low, validate: 'true', \
                 message: m, remediation: r, changedIn: '{changed}'}}\n"
            ),
        };
        let env = super::super::compile::environment();
        assert!(load_packs(&env, &[pack("0.2.0")]).is_ok());
        let later = load_packs(&env, &[pack("0.3.0")]).unwrap_err().to_string();
        assert!(
            later.contains("test:v.yaml:6: rule 'v-a': changedIn: '0.3.0' is later than the pack's version '0.2.0'"),
            "{later}"
        );
        let bad = load_packs(&env, &[pack("next")]).unwrap_err().to_string();
        assert!(bad.contains("changedIn: 'next' is not a semantic version"), "{bad}");
    }
}
