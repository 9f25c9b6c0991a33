//! Loading packs: text -> strict model -> compiled rules, collecting every error with the file,
//! rule, field and position it concerns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use cel::Env;

use super::compile::{compile, CompileError, CompiledExpr};
use super::pack::{Action, PackDocument, PackMetadata, PatchOpKind, RuleSpec, PACK_API_VERSION, PACK_KIND};
use super::patch::CompiledPatchOp;
use super::select::{MatchError, Matcher};
use super::template::{Template, TemplateError};
use crate::source::{self, PositionMap, SourceError};

/// Pack text and where it came from (a path, or `embedded:policies/soc2/pack.yaml`).
#[derive(Debug, Clone)]
pub struct PackSource {
    /// Shown in every error about this text.
    pub origin: String,
    /// The YAML.
    pub text: String,
}

/// One thing wrong with the packs being loaded.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The YAML itself does not parse.
    #[error("{file}: {source}")]
    Syntax {
        /// Pack file.
        file: String,
        /// Parser error with line and column.
        #[source]
        source: SourceError,
    },
    /// A field is unknown, missing or of the wrong type.
    #[error("{file}:{line}: {path}: {message}")]
    Schema {
        /// Pack file.
        file: String,
        /// Line of the offending field.
        line: usize,
        /// Dotted path of the field (`spec.rules[2].severity`).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A document of another `apiVersion`/`kind`.
    #[error("{file}:{line}: {field} is '{found}'; expected '{expected}'")]
    Header {
        /// Pack file.
        file: String,
        /// Line of the field.
        line: usize,
        /// `apiVersion` or `kind`.
        field: &'static str,
        /// What the file says.
        found: String,
        /// What this build reads.
        expected: &'static str,
    },
    /// A rule-level or pack-level field with an invalid value.
    #[error("{file}:{line}: {subject}: {field}: {message}")]
    Invalid {
        /// Pack file.
        file: String,
        /// Line of the field.
        line: usize,
        /// `rule 'id'`, `variable 'name'` or `pack 'name'`.
        subject: String,
        /// Field name (`validate`, `forEach`, `metadata.version`, ...).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// CEL that does not compile or breaks a limit.
    #[error("{file}:{line}: {subject}: {field}: {source}")]
    Cel {
        /// Pack file.
        file: String,
        /// Line of the field in the file.
        line: usize,
        /// `rule 'id'` or `variable 'name'`.
        subject: String,
        /// Field holding the expression.
        field: String,
        /// The compile error (with line/column inside the expression for syntax errors).
        #[source]
        source: CompileError,
    },
    /// The same rule id twice.
    #[error("{file}:{line}: rule id '{rule}' is already defined in {first}")]
    DuplicateRule {
        /// Pack file of the second definition.
        file: String,
        /// Its line.
        line: usize,
        /// The id.
        rule: String,
        /// Where it was first defined.
        first: String,
    },
    /// Nothing to load.
    #[error("no rule packs found in {0}")]
    Empty(String),
}

/// Every error found while loading; never partial: a pack set with any error is refused whole.
#[derive(Debug, thiserror::Error)]
#[error("{}", render_errors(.0))]
pub struct LoadErrors(pub Vec<PackError>);

fn render_errors(errors: &[PackError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// A compiled pack.
#[derive(Debug)]
pub struct CompiledPack {
    /// Name, version, framework.
    pub metadata: PackMetadata,
    /// Files it was read from.
    pub origins: Vec<String>,
    /// Default params.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Variables in declaration order.
    pub variables: Vec<CompiledVariable>,
    /// Rules in declaration order.
    pub rules: Vec<Arc<CompiledRule>>,
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
    pub for_each: Option<jsonpath_rust::parser::model::JpQuery>,
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
}

/// Parses and compiles `sources` into packs (documents with the same `metadata.name` merge).
pub fn load_packs(env: &Env, sources: &[PackSource]) -> Result<Vec<CompiledPack>, LoadErrors> {
    let mut errors = Vec::new();
    let mut packs: Vec<CompiledPack> = Vec::new();
    let mut rule_origins: HashMap<String, String> = HashMap::new();
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
        for doc in docs {
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
                    params: serde_json::Map::new(),
                    variables: Vec::new(),
                    rules: Vec::new(),
                });
                packs.len() - 1
            };
            compile_into(env, &ctx, parsed, &mut packs[index], &mut rule_origins, &mut errors);
        }
    }
    if errors.is_empty() {
        Ok(packs)
    } else {
        Err(LoadErrors(errors))
    }
}

struct DocContext<'a> {
    file: &'a str,
    positions: &'a PositionMap,
}

impl DocContext<'_> {
    fn line(&self, pointer: &str) -> usize {
        self.positions.locate(pointer).map_or(1, |p| p.line)
    }

    fn invalid(&self, pointer: &str, subject: String, field: &str, message: String) -> PackError {
        PackError::Invalid {
            file: self.file.to_owned(),
            line: self.line(pointer),
            subject,
            field: field.to_owned(),
            message,
        }
    }

    fn cel(&self, pointer: &str, subject: String, field: &str, source: CompileError) -> PackError {
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
    let parsed: PackDocument = match serde_path_to_error::deserialize(value) {
        Ok(p) => p,
        Err(e) => {
            let path = e.path().to_string();
            errors.push(PackError::Schema {
                file: ctx.file.to_owned(),
                line: ctx.line(&path_to_pointer(&path)),
                path,
                message: e.into_inner().to_string(),
            });
            return None;
        }
    };
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
fn path_to_pointer(path: &str) -> String {
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

fn is_identifier_like(name: &str) -> bool {
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
    for (k, v) in doc.spec.params {
        pack.params.insert(k, v);
    }
    let first_new_variable = pack.variables.len();
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
                let mut deps = Vec::new();
                for name in &expr.pack_variables {
                    match pack.variables.iter().position(|v| &v.name == name) {
                        Some(idx) => deps.push(idx),
                        None => errors.push(ctx.invalid(
                            &pointer,
                            subject.clone(),
                            "expression",
                            format!("reads variables.{name}, which is not defined before it"),
                        )),
                    }
                }
                pack.variables.push(CompiledVariable {
                    name: var.name,
                    expr,
                    deps,
                });
            }
            Err(e) => errors.push(ctx.cel(&pointer, subject, "expression", e)),
        }
    }
    let _ = first_new_variable;
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
        if let Some(compiled) = compile_rule(env, ctx, &base, rule, pack, errors) {
            pack.rules.push(Arc::new(compiled));
        }
    }
}

fn is_cel_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn compile_rule(
    env: &Env,
    ctx: &DocContext<'_>,
    base: &str,
    rule: RuleSpec,
    pack: &CompiledPack,
    errors: &mut Vec<PackError>,
) -> Option<CompiledRule> {
    let before = errors.len();
    let subject = format!("rule '{}'", rule.id);
    let at = |field: &str| format!("{base}/{field}");
    if !is_identifier_like(&rule.id) {
        errors.push(ctx.invalid(
            &at("id"),
            subject.clone(),
            "id",
            "must be lowercase letters, digits and '-'".to_owned(),
        ));
    } else if !rule.id.starts_with(&format!("{}-", pack.metadata.name)) {
        errors.push(ctx.invalid(
            &at("id"),
            subject.clone(),
            "id",
            format!("must start with the pack name '{}-'", pack.metadata.name),
        ));
    }
    for (field, value) in [
        ("title", &rule.title),
        ("remediation", &rule.remediation),
        ("message", &rule.message),
    ] {
        if value.trim().is_empty() {
            errors.push(ctx.invalid(&at(field), subject.clone(), field, "must not be empty".to_owned()));
        }
    }
    if rule.controls.is_empty() || rule.controls.iter().any(|c| c.trim().is_empty()) {
        errors.push(ctx.invalid(
            &at("controls"),
            subject.clone(),
            "controls",
            "must list at least one control clause, none empty".to_owned(),
        ));
    }
    let matcher = Matcher::new(&rule.match_).map_err(|e: MatchError| {
        errors.push(ctx.invalid(&at("match"), subject.clone(), "match", e.to_string()));
    });
    let cel = |field: &str, pointer: String, source: &str, errors: &mut Vec<PackError>| -> Option<CompiledExpr> {
        match compile(env, source) {
            Ok(expr) => Some(expr),
            Err(e) => {
                errors.push(ctx.cel(&pointer, subject.clone(), field, e));
                None
            }
        }
    };
    let condition = rule
        .condition
        .as_ref()
        .and_then(|c| cel("condition", at("condition"), c, errors));
    let validate = cel("validate", at("validate"), &rule.validate, errors);
    let message_expression = rule
        .message_expression
        .as_ref()
        .and_then(|m| cel("messageExpression", at("messageExpression"), m, errors));
    let template = |field: &str, pointer: String, text: &str, errors: &mut Vec<PackError>| -> Option<Template> {
        match Template::parse(text, |src| compile(env, src)) {
            Ok(t) => Some(t),
            Err(TemplateError::Unbalanced { offset }) => {
                errors.push(ctx.invalid(
                    &pointer,
                    subject.clone(),
                    field,
                    format!("unbalanced '{{' or '}}' at byte {offset} (write '{{{{' or '}}}}' for a literal brace)"),
                ));
                None
            }
            Err(TemplateError::Cel { expression, source }) => {
                errors.push(ctx.invalid(
                    &pointer,
                    subject.clone(),
                    field,
                    format!("in {{{expression}}}: {source}"),
                ));
                None
            }
        }
    };
    let message = template("message", at("message"), &rule.message, errors);
    let pointer = rule
        .pointer
        .as_ref()
        .and_then(|p| template("pointer", at("pointer"), p, errors));
    let mut patch = Vec::new();
    for (i, op) in rule.patch.iter().enumerate() {
        let op_base = format!("{base}/patch/{i}");
        let field = format!("patch[{i}]");
        let needs_value = matches!(op.op, PatchOpKind::Add | PatchOpKind::Replace | PatchOpKind::Test);
        let needs_from = matches!(op.op, PatchOpKind::Move | PatchOpKind::Copy);
        let has_value = op.value.is_some() || op.value_expression.is_some();
        if op.value.is_some() && op.value_expression.is_some() {
            errors.push(ctx.invalid(
                &op_base,
                subject.clone(),
                &field,
                "give value or valueExpression, not both".to_owned(),
            ));
        } else if needs_value != has_value {
            let msg = if needs_value {
                format!("'{}' needs a value or valueExpression", op.op.as_str())
            } else {
                format!("'{}' takes no value", op.op.as_str())
            };
            errors.push(ctx.invalid(&op_base, subject.clone(), &field, msg));
        }
        if needs_from != op.from.is_some() {
            errors.push(ctx.invalid(
                &op_base,
                subject.clone(),
                &field,
                format!(
                    "'from' is {} for '{}'",
                    if needs_from { "required" } else { "not allowed" },
                    op.op.as_str()
                ),
            ));
        }
        let path = template(&format!("{field}.path"), format!("{op_base}/path"), &op.path, errors);
        let value_expression = op.value_expression.as_ref().and_then(|v| {
            cel(
                &format!("{field}.valueExpression"),
                format!("{op_base}/valueExpression"),
                v,
                errors,
            )
        });
        if let Some(path) = path {
            patch.push(CompiledPatchOp {
                op: op.op,
                path,
                from: op.from.clone(),
                value: op.value.clone(),
                value_expression,
            });
        }
    }
    if rule.action == Action::Patch && rule.patch.is_empty() {
        errors.push(ctx.invalid(
            &at("action"),
            subject.clone(),
            "action",
            "'patch' needs at least one op in 'patch'".to_owned(),
        ));
    }
    let for_each = rule
        .for_each
        .as_ref()
        .and_then(|path| match jsonpath_rust::parser::parse_json_path(path) {
            Ok(q) => Some(q),
            Err(e) => {
                errors.push(ctx.invalid(
                    &at("forEach"),
                    subject.clone(),
                    "forEach",
                    format!("bad JSONPath '{path}': {e}"),
                ));
                None
            }
        });
    let mut used_variables: BTreeSet<String> = BTreeSet::new();
    for expr in [&condition, &validate, &message_expression].into_iter().flatten() {
        used_variables.extend(expr.pack_variables.iter().cloned());
    }
    for t in [&message, &pointer].into_iter().flatten() {
        used_variables.extend(t.pack_variables());
    }
    for op in &patch {
        used_variables.extend(op.path.pack_variables());
        if let Some(e) = &op.value_expression {
            used_variables.extend(e.pack_variables.iter().cloned());
        }
    }
    let mut variables = BTreeSet::new();
    for name in &used_variables {
        match pack.variables.iter().position(|v| &v.name == name) {
            Some(idx) => collect_deps(pack, idx, &mut variables),
            None => errors.push(ctx.invalid(
                base,
                subject.clone(),
                "variables",
                format!(
                    "reads variables.{name}, which the pack does not define (defined: {})",
                    pack.variables.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
    if errors.len() != before {
        return None;
    }
    Some(CompiledRule {
        origin: ctx.file.to_owned(),
        matcher: matcher.ok()?,
        condition,
        for_each,
        validate: validate?,
        message: message?,
        message_expression,
        pointer,
        patch,
        variables: variables.into_iter().collect(),
        spec: rule,
    })
}

fn collect_deps(pack: &CompiledPack, idx: usize, out: &mut BTreeSet<usize>) {
    if out.insert(idx) {
        for &dep in &pack.variables[idx].deps {
            collect_deps(pack, dep, out);
        }
    }
}

/// Pack names in load order, for `--framework` validation messages.
pub fn pack_names(packs: &[CompiledPack]) -> BTreeMap<&str, &str> {
    packs
        .iter()
        .map(|p| (p.metadata.name.as_str(), p.metadata.version.as_str()))
        .collect()
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
}
