//! Loading packs: text -> strict model -> compiled rules, collecting every error with the file,
//! rule, field and position it concerns.

use std::collections::HashMap;
use std::sync::Arc;

use cel::Env;

use super::rule_compile::compile_rule;
use crate::engine::cel::compile::{compile, CompileError, CompiledExpr};
use crate::engine::cel::cost::{check_load, validate_limits, BoundsSite, InputLimits};
use crate::engine::pack::compiled::{CompiledPack, CompiledVariable};
use crate::engine::pack::error::{Location, PackError, PackErrorKind};
use crate::engine::pack::{PackDocument, PackMetadata, RuleSpec, VariableSpec, PACK_API_VERSION, PACK_KIND};
use crate::source::PositionMap;

/// Resolves what reading each variable of `pack` reads of the documents
/// ([`crate::engine::cel::cost::reads::resolve_variables`]).
pub(crate) fn resolve_variable_reads(pack: &mut CompiledPack) {
    let names: Vec<&str> = pack.variables.iter().map(|v| v.name.as_str()).collect();
    let reads: Vec<&crate::engine::cel::cost::reads::ExprReads> =
        pack.variables.iter().map(|v| &v.expr.reads).collect();
    let resolved = crate::engine::cel::cost::reads::resolve_variables(&names, &reads);
    for (var, reads) in pack.variables.iter_mut().zip(resolved) {
        var.reads = reads;
    }
}

/// Indexes of the earlier variables of `pack` that `expr` reads (directly; every one when it
/// reads `variables` by a computed key); an error for any it reads that is
/// not defined before it.
pub(crate) fn variable_dependencies(
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
                PackErrorKind::VariableNotYetDefined { name: name.clone() },
            )),
        }
    }
    deps
}

pub(crate) struct DocContext<'a> {
    pub(crate) file: &'a str,
    pub(crate) positions: &'a PositionMap,
}

/// True when `value` is a celgate rule pack by its header.
pub(crate) fn is_pack_document(value: &serde_json::Value) -> bool {
    value.get("apiVersion").and_then(|v| v.as_str()) == Some(PACK_API_VERSION)
        && value.get("kind").and_then(|v| v.as_str()) == Some(PACK_KIND)
}

impl<'a> DocContext<'a> {
    pub(crate) fn new(file: &'a str, positions: &'a PositionMap) -> Self {
        DocContext { file, positions }
    }

    /// `value` as a `T`, strictly; a schema error (naming the file, line and field path) is
    /// pushed to `errors` instead.
    pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(
        &self,
        value: serde_json::Value,
        errors: &mut Vec<PackError>,
    ) -> Option<T> {
        match serde_path_to_error::deserialize(value) {
            Ok(doc) => Some(doc),
            Err(e) => {
                let path = e.path().to_string();
                let pointer = path_to_pointer(&path);
                errors.push(PackError::new(
                    Location {
                        file: self.file.to_owned(),
                        line: Some(self.line(&pointer)),
                        pointer: Some(pointer),
                        subject: None,
                        field: Some(path),
                    },
                    PackErrorKind::Schema(e.into_inner()),
                ));
                None
            }
        }
    }

    pub(crate) fn line(&self, pointer: &str) -> usize {
        self.positions.locate(pointer).map_or(1, |p| p.line)
    }

    /// Where `pointer` (in this document) is, for the field `field` of `subject`.
    pub(crate) fn at(&self, pointer: &str, subject: Option<String>, field: &str) -> Location {
        Location {
            file: self.file.to_owned(),
            line: Some(self.line(pointer)),
            pointer: Some(pointer.to_owned()),
            subject,
            field: Some(field.to_owned()),
        }
    }

    /// `kind` at `pointer`, the field `field` of `subject` (`rule 'id'`, `pack 'name'`, ...).
    pub(crate) fn invalid(&self, pointer: &str, subject: String, field: &str, kind: PackErrorKind) -> PackError {
        PackError::new(self.at(pointer, Some(subject), field), kind)
    }

    /// An expression at `pointer` that does not compile.
    pub(crate) fn cel(&self, pointer: &str, subject: String, field: &str, source: CompileError) -> PackError {
        self.invalid(pointer, subject, field, PackErrorKind::Cel(source))
    }
}

pub(crate) fn parse_document(
    ctx: &DocContext<'_>,
    value: serde_json::Value,
    errors: &mut Vec<PackError>,
) -> Option<PackDocument> {
    // Check the header first so a wrong file gets the useful message, not "unknown field".
    for (field, expected, pointer) in [
        ("apiVersion", PACK_API_VERSION, "/apiVersion"),
        ("kind", PACK_KIND, "/kind"),
    ] {
        let found = value.get(field).and_then(|v| v.as_str()).unwrap_or("");
        if found != expected {
            errors.push(PackError::new(
                ctx.at(pointer, None, field),
                PackErrorKind::Header {
                    found: found.to_owned(),
                    expected,
                },
            ));
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
            PackErrorKind::NotSemver {
                text: parsed.metadata.version.clone(),
                source: e,
            },
        ));
    }
    if !is_identifier_like(&parsed.metadata.name) {
        errors.push(ctx.invalid("/metadata/name", subject, "metadata.name", PackErrorKind::NotKebabCase));
        return None;
    }
    Some(parsed)
}

/// `spec.rules[2].severity` -> `/spec/rules/2/severity`.
pub(crate) fn path_to_pointer(path: &str) -> String {
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

pub(crate) fn is_identifier_like(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub(crate) fn compile_into(
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
    if let Err(e) = limits.map_or(Ok(()), validate_limits) {
        errors.push(ctx.invalid(
            "/spec/inputLimits",
            format!("pack '{}'", pack.metadata.name),
            "spec.inputLimits",
            PackErrorKind::InputLimits(e),
        ));
    }
    compile_variables(env, ctx, doc.spec.variables, limits, pack, errors);
    compile_rules(env, ctx, doc.spec.rules, limits, pack, rule_origins, errors);
}

/// A document's variables compiled into `pack`, after the ones of its earlier documents (each
/// may read the ones before it).
fn compile_variables(
    env: &Env,
    ctx: &DocContext<'_>,
    variables: Vec<VariableSpec>,
    limits: Option<InputLimits>,
    pack: &mut CompiledPack,
    errors: &mut Vec<PackError>,
) {
    for (i, var) in variables.into_iter().enumerate() {
        let pointer = format!("/spec/variables/{i}/expression");
        let subject = format!("variable '{}'", var.name);
        if !is_cel_identifier(&var.name) {
            errors.push(ctx.invalid(&pointer, subject, "name", PackErrorKind::NotCelIdentifier));
            continue;
        }
        if pack.variables.iter().any(|v| v.name == var.name) {
            errors.push(ctx.invalid(&pointer, subject, "name", PackErrorKind::DefinedTwiceInPack));
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
                    reads: crate::engine::cel::cost::reads::VariableReads::default(),
                });
            }
            Err(e) => errors.push(ctx.cel(&pointer, subject, "expression", e)),
        }
    }
}

/// A document's rules compiled into `pack`; a rule id already defined (in `rule_origins`, which
/// records each one's place) is an error.
fn compile_rules(
    env: &Env,
    ctx: &DocContext<'_>,
    rules: Vec<RuleSpec>,
    limits: Option<InputLimits>,
    pack: &mut CompiledPack,
    rule_origins: &mut HashMap<String, String>,
    errors: &mut Vec<PackError>,
) {
    for (i, rule) in rules.into_iter().enumerate() {
        let base = format!("/spec/rules/{i}");
        if let Some(first) = rule_origins.get(&rule.id) {
            let pointer = format!("{base}/id");
            errors.push(PackError::new(
                Location {
                    file: ctx.file.to_owned(),
                    line: Some(ctx.line(&pointer)),
                    pointer: Some(pointer),
                    subject: None,
                    field: None,
                },
                PackErrorKind::DuplicateRule {
                    rule: rule.id.clone(),
                    first: first.clone(),
                },
            ));
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
            PackErrorKind::NotSemver {
                text: text.clone(),
                source: e,
            },
        )),
        Ok(changed) => {
            if semver::Version::parse(&metadata.version).is_ok_and(|pack| changed > pack) {
                errors.push(ctx.invalid(
                    &pointer,
                    subject,
                    "changedIn",
                    PackErrorKind::ChangedInLater {
                        changed_in: text.clone(),
                        version: metadata.version.clone(),
                    },
                ));
            }
        }
    }
}

pub(crate) fn is_cel_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
