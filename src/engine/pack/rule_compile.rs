//! Compiling one rule of a pack: its match spec, CEL fields, templates, JSONPath and patch ops,
//! with every problem collected as a [`PackError`].

use std::collections::BTreeSet;

use cel::Env;
use jsonpath_rust::parser::model::JpQuery;

use super::load::{is_identifier_like, DocContext};
use super::patch::CompiledPatchOp;
use super::select::{MatchError, Matcher};
use super::template::{Template, TemplateError};
use crate::engine::cel::compile::compile_within;
use crate::engine::cel::compile::{CompileError, CompiledExpr};
use crate::engine::cel::cost::InputLimits;
use crate::engine::cel::cost::{validate_limits, BoundsSite};
use crate::engine::facts::decision::Action;
use crate::engine::pack::compiled::{CompiledPack, CompiledRule, RuleLabels};
use crate::engine::pack::error::{PackError, PackErrorKind};
use crate::engine::pack::{PatchOpKind, PatchOpSpec, RuleSpec};

/// Where a rule is compiled: the place its problems are reported at and the limits its CEL is
/// compiled under.
struct RuleSite<'a> {
    env: &'a Env,
    ctx: &'a DocContext<'a>,
    /// JSON pointer of the rule in its document.
    base: &'a str,
    /// `rule '<id>'`, the subject of every error.
    subject: String,
    limits: InputLimits,
}

impl RuleSite<'_> {
    /// The pointer of `field` of the rule.
    fn at(&self, field: &str) -> String {
        format!("{}/{field}", self.base)
    }

    /// A problem of `field` at `pointer`.
    fn invalid(&self, pointer: &str, field: &str, kind: PackErrorKind) -> PackError {
        self.ctx.invalid(pointer, self.subject.clone(), field, kind)
    }

    /// `source` compiled under the rule's input limits.
    fn compile(&self, source: &str) -> Result<CompiledExpr, CompileError> {
        compile_within(self.env, source, self.limits, BoundsSite::Pack)
    }

    /// The CEL expression of `field`, or its error recorded.
    fn cel(&self, field: &str, pointer: &str, source: &str, errors: &mut Vec<PackError>) -> Option<CompiledExpr> {
        match self.compile(source) {
            Ok(expr) => Some(expr),
            Err(e) => {
                errors.push(self.ctx.cel(pointer, self.subject.clone(), field, e));
                None
            }
        }
    }

    /// The `{{ }}` template of `field`, or its error recorded.
    fn template(&self, field: &str, pointer: &str, text: &str, errors: &mut Vec<PackError>) -> Option<Template> {
        let kind = match Template::parse(text, |source| self.compile(source)) {
            Ok(t) => return Some(t),
            Err(TemplateError::Unbalanced { offset }) => PackErrorKind::UnbalancedBrace { offset },
            Err(TemplateError::Cel { expression, source }) => PackErrorKind::TemplateCel { expression, source },
        };
        errors.push(self.invalid(pointer, field, kind));
        None
    }
}

pub(crate) fn compile_rule(
    env: &Env,
    ctx: &DocContext<'_>,
    base: &str,
    rule: RuleSpec,
    pack: &CompiledPack,
    pack_limits: Option<InputLimits>,
    errors: &mut Vec<PackError>,
) -> Option<CompiledRule> {
    let before = errors.len();
    let site = RuleSite {
        env,
        ctx,
        base,
        subject: format!("rule '{}'", rule.id),
        limits: rule.input_limits.unwrap_or_default().or(pack_limits),
    };
    if let Err(e) = rule.input_limits.map_or(Ok(()), validate_limits) {
        errors.push(site.invalid(&site.at("inputLimits"), "inputLimits", PackErrorKind::InputLimits(e)));
    }
    check_texts(&site, &rule, &pack.metadata.name, errors);
    let matcher = Matcher::new(&rule.match_).map_err(|e: MatchError| {
        errors.push(site.invalid(&site.at("match"), "match", PackErrorKind::Match(e)));
    });
    let condition = rule
        .condition
        .as_ref()
        .and_then(|c| site.cel("condition", &site.at("condition"), c, errors));
    let validate = site.cel("validate", &site.at("validate"), &rule.validate, errors);
    let message_expression = rule
        .message_expression
        .as_ref()
        .and_then(|m| site.cel("messageExpression", &site.at("messageExpression"), m, errors));
    let message = site.template("message", &site.at("message"), &rule.message, errors);
    let pointer = rule
        .pointer
        .as_ref()
        .and_then(|p| site.template("pointer", &site.at("pointer"), p, errors));
    let patch = compile_patch(&site, &rule, errors);
    let for_each = compile_for_each(&site, &rule, errors);
    let mut used = UsedVariables::default();
    for expr in [&condition, &validate, &message_expression].into_iter().flatten() {
        used.add_expr(expr);
    }
    for t in [&message, &pointer].into_iter().flatten() {
        used.add_template(t);
    }
    for op in &patch {
        used.add_template(&op.path);
        if let Some(e) = &op.value_expression {
            used.add_expr(e);
        }
    }
    let variables = resolve_variables(&site, pack, &used, errors);
    if errors.len() != before {
        return None;
    }
    Some(CompiledRule {
        labels: RuleLabels::new(&pack.metadata.name, &rule),
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
        input_limits: site.limits,
        spec: rule,
    })
}

/// The rule's id (kebab case, prefixed by its pack's name), its texts and its controls.
fn check_texts(site: &RuleSite<'_>, rule: &RuleSpec, pack_name: &str, errors: &mut Vec<PackError>) {
    if !is_identifier_like(&rule.id) {
        errors.push(site.invalid(&site.at("id"), "id", PackErrorKind::NotKebabCase));
    } else if !rule.id.starts_with(&format!("{pack_name}-")) {
        errors.push(site.invalid(
            &site.at("id"),
            "id",
            PackErrorKind::MissingPackPrefix {
                pack: pack_name.to_owned(),
            },
        ));
    }
    for (field, value) in [
        ("title", &rule.title),
        ("remediation", &rule.remediation),
        ("message", &rule.message),
    ] {
        if value.trim().is_empty() {
            errors.push(site.invalid(&site.at(field), field, PackErrorKind::Empty));
        }
    }
    if rule.controls.is_empty() || rule.controls.iter().any(|c| c.trim().is_empty()) {
        errors.push(site.invalid(&site.at("controls"), "controls", PackErrorKind::NoControls));
    }
}

/// The rule's patch operations, each checked for the fields its kind takes; and a patch rule
/// without any.
fn compile_patch(site: &RuleSite<'_>, rule: &RuleSpec, errors: &mut Vec<PackError>) -> Vec<CompiledPatchOp> {
    let mut patch = Vec::new();
    for (i, op) in rule.patch.iter().enumerate() {
        let op_base = format!("{}/patch/{i}", site.base);
        let field = format!("patch[{i}]");
        check_patch_op_fields(site, op, &op_base, &field, errors);
        let path = site.template(&format!("{field}.path"), &format!("{op_base}/path"), &op.path, errors);
        let value_expression = op.value_expression.as_ref().and_then(|v| {
            site.cel(
                &format!("{field}.valueExpression"),
                &format!("{op_base}/valueExpression"),
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
        errors.push(site.invalid(&site.at("action"), "action", PackErrorKind::PatchWithoutOps));
    }
    patch
}

/// `value`/`valueExpression` and `from` given exactly when the operation takes them.
fn check_patch_op_fields(
    site: &RuleSite<'_>,
    op: &PatchOpSpec,
    op_base: &str,
    field: &str,
    errors: &mut Vec<PackError>,
) {
    let needs_value = matches!(op.op, PatchOpKind::Add | PatchOpKind::Replace | PatchOpKind::Test);
    let needs_from = matches!(op.op, PatchOpKind::Move | PatchOpKind::Copy);
    let has_value = op.value.is_some() || op.value_expression.is_some();
    if op.value.is_some() && op.value_expression.is_some() {
        errors.push(site.invalid(op_base, field, PackErrorKind::ValueAndValueExpression));
    } else if needs_value != has_value {
        let kind = if needs_value {
            PackErrorKind::ValueMissing { op: op.op.as_str() }
        } else {
            PackErrorKind::ValueNotTaken { op: op.op.as_str() }
        };
        errors.push(site.invalid(op_base, field, kind));
    }
    if needs_from != op.from.is_some() {
        errors.push(site.invalid(
            op_base,
            field,
            PackErrorKind::From {
                op: op.op.as_str(),
                required: needs_from,
            },
        ));
    }
}

/// The rule's `forEach` `JSONPath`s, parsed.
fn compile_for_each(
    site: &RuleSite<'_>,
    rule: &RuleSpec,
    errors: &mut Vec<PackError>,
) -> Option<Vec<(String, JpQuery)>> {
    let paths = rule.for_each.as_ref()?.paths();
    if paths.is_empty() {
        errors.push(site.invalid(&site.at("forEach"), "forEach", PackErrorKind::NoJsonPath));
    }
    let parsed = paths
        .iter()
        .filter_map(|path| match jsonpath_rust::parser::parse_json_path(path) {
            Ok(q) => Some((path.clone(), q)),
            Err(e) => {
                errors.push(site.invalid(
                    &site.at("forEach"),
                    "forEach",
                    PackErrorKind::BadJsonPath {
                        path: path.clone(),
                        source: e,
                    },
                ));
                None
            }
        })
        .collect();
    Some(parsed)
}

/// The pack variables a rule's expressions name, and whether one reads them all.
#[derive(Default)]
struct UsedVariables {
    names: BTreeSet<String>,
    reads_all: bool,
}

impl UsedVariables {
    fn add_expr(&mut self, expr: &CompiledExpr) {
        self.names.extend(expr.pack_variables.iter().cloned());
        self.reads_all |= expr.reads_all_variables();
    }

    fn add_template(&mut self, template: &Template) {
        self.names.extend(template.pack_variables());
        self.reads_all |= template.reads_all_variables();
    }
}

/// The indices of the pack variables the rule needs, with what they depend on; a name the pack
/// does not define is an error.
fn resolve_variables(
    site: &RuleSite<'_>,
    pack: &CompiledPack,
    used: &UsedVariables,
    errors: &mut Vec<PackError>,
) -> BTreeSet<usize> {
    let mut variables = BTreeSet::new();
    if used.reads_all {
        // `variables[k]` or the whole map: which ones it reads is only known when it runs.
        for idx in 0..pack.variables.len() {
            collect_deps(pack, idx, &mut variables);
        }
    }
    for name in &used.names {
        match pack.variables.iter().position(|v| &v.name == name) {
            Some(idx) => collect_deps(pack, idx, &mut variables),
            None => errors.push(
                site.invalid(
                    site.base,
                    "variables",
                    PackErrorKind::UnknownVariable {
                        name: name.clone(),
                        defined: pack
                            .variables
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                ),
            ),
        }
    }
    variables
}

fn collect_deps(pack: &CompiledPack, idx: usize, out: &mut BTreeSet<usize>) {
    if out.insert(idx) {
        for &dep in &pack.variables[idx].deps {
            collect_deps(pack, dep, out);
        }
    }
}
