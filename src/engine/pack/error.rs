//! Load-time errors: each says where it is ([`Location`]: file, line, rule or variable, field)
//! and what is wrong ([`PackErrorKind`]), keeping the error it comes from as its source.

use std::fmt;

use crate::engine::cel::compile::CompileError;
use crate::engine::cel::cost::ZeroBound;
use crate::engine::pack::admission::matching::MatchResourcesError;
use crate::engine::pack::admission::params::ParamError;
use crate::engine::pack::select::MatchError;
use crate::source::SourceError;

/// Where in the packs being loaded an error is, as far as the loader knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// Pack file (several, comma-separated, for an error about a pack read from several files).
    pub file: String,
    /// 1-based line of the field in the file; `None` when the cause carries its own position (a
    /// YAML syntax error) or no line applies (a pack as a whole).
    pub line: Option<usize>,
    /// JSON pointer of the field inside its document, when known.
    pub pointer: Option<String>,
    /// What the field belongs to: `rule 'id'`, `variable 'name'`, `pack 'name'`, ...
    pub subject: Option<String>,
    /// The field: `validate`, `metadata.version`, or the serde path `spec.rules[2].severity`.
    pub field: Option<String>,
}

impl Location {
    /// The whole of `file`.
    pub fn file(file: impl Into<String>) -> Location {
        Location {
            file: file.into(),
            ..Location::default()
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        for part in [&self.subject, &self.field].into_iter().flatten() {
            write!(f, ": {part}")?;
        }
        Ok(())
    }
}

/// One thing wrong with the packs being loaded: where it is and what it is.
#[derive(Debug)]
pub struct PackError {
    /// Where.
    pub location: Location,
    /// What.
    pub kind: PackErrorKind,
}

impl PackError {
    /// An error of `kind` at `location`.
    pub fn new(location: Location, kind: PackErrorKind) -> PackError {
        PackError { location, kind }
    }
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PackErrorKind::NoPacks => write!(f, "{} in {}", self.kind, self.location.file),
            // `file:line: apiVersion is 'x'; expected 'y'`.
            PackErrorKind::Header { .. } => write!(f, "{} {}", self.location, self.kind),
            _ => write!(f, "{}: {}", self.location, self.kind),
        }
    }
}

impl std::error::Error for PackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// What is wrong, with the error it comes from as its source.
#[derive(Debug, thiserror::Error)]
pub enum PackErrorKind {
    /// The YAML itself does not parse.
    #[error("{0}")]
    Syntax(#[source] SourceError),
    /// A field is unknown, missing or of the wrong type.
    #[error("{0}")]
    Schema(#[source] serde_json::Error),
    /// A document of another `apiVersion`/`kind` (the field is the location's).
    #[error("is '{found}'; expected '{expected}'")]
    Header {
        /// What the file says.
        found: String,
        /// What this build reads.
        expected: &'static str,
    },
    /// CEL that does not compile or breaks a limit.
    #[error("{0}")]
    Cel(#[source] CompileError),
    /// The same rule id twice.
    #[error("rule id '{rule}' is already defined in {first}")]
    DuplicateRule {
        /// The id.
        rule: String,
        /// Where it was first defined.
        first: String,
    },
    /// Nothing to load (the location's file is where celgate looked).
    #[error("no rule packs found")]
    NoPacks,

    // Rule packs.
    /// A declared input bound of 0.
    #[error("{0}")]
    InputLimits(#[source] ZeroBound),
    /// A pack name or rule id that is not kebab-case.
    #[error("must be lowercase letters, digits and '-'")]
    NotKebabCase,
    /// A rule id without its pack's name in front.
    #[error("must start with the pack name '{pack}-'")]
    MissingPackPrefix {
        /// The pack name.
        pack: String,
    },
    /// A required text left empty.
    #[error("must not be empty")]
    Empty,
    /// A rule without controls.
    #[error("must list at least one control clause, none empty")]
    NoControls,
    /// A `match` block that does not compile.
    #[error("{0}")]
    Match(#[source] MatchError),
    /// A message or pointer template with a lone brace.
    #[error("unbalanced '{{' or '}}' at byte {offset} (write '{{{{' or '}}}}' for a literal brace)")]
    UnbalancedBrace {
        /// Byte offset in the template.
        offset: usize,
    },
    /// An expression inside a template that does not compile.
    #[error("in {{{expression}}}: {source}")]
    TemplateCel {
        /// The expression text.
        expression: String,
        /// Why it failed.
        #[source]
        source: CompileError,
    },
    /// A patch op with both `value` and `valueExpression`.
    #[error("give value or valueExpression, not both")]
    ValueAndValueExpression,
    /// An `add`, `replace` or `test` op without a value.
    #[error("'{op}' needs a value or valueExpression")]
    ValueMissing {
        /// The op.
        op: &'static str,
    },
    /// A `remove`, `move` or `copy` op with a value.
    #[error("'{op}' takes no value")]
    ValueNotTaken {
        /// The op.
        op: &'static str,
    },
    /// `from` missing on `move`/`copy`, or given on another op.
    #[error("'from' is {} for '{op}'", if *.required { "required" } else { "not allowed" })]
    From {
        /// The op.
        op: &'static str,
        /// True when missing, false when not allowed.
        required: bool,
    },
    /// A patching rule without ops.
    #[error("'patch' needs at least one op in 'patch'")]
    PatchWithoutOps,
    /// A `forEach` with no paths.
    #[error("lists no JSONPath")]
    NoJsonPath,
    /// A `forEach` path that does not parse.
    #[error("bad JSONPath '{path}': {source}")]
    BadJsonPath {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: jsonpath_rust::parser::errors::JsonPathError,
    },
    /// A rule reading a variable its pack does not define.
    #[error("reads variables.{name}, which the pack does not define (defined: {defined})")]
    UnknownVariable {
        /// The variable.
        name: String,
        /// The pack's variables, comma-separated.
        defined: String,
    },
    /// A variable reading one not defined before it.
    #[error("reads variables.{name}, which is not defined before it")]
    VariableNotYetDefined {
        /// The variable read.
        name: String,
    },
    /// `spec.paramsToConfigure` naming a param the pack does not have.
    #[error("names '{name}', which is not a param of the pack (its params: {known})")]
    UnknownParam {
        /// The name.
        name: String,
        /// The pack's params, comma-separated.
        known: String,
    },
    /// A version (`metadata.version`, `changedIn`) that is not semver.
    #[error("'{text}' is not a semantic version: {source}")]
    NotSemver {
        /// The text.
        text: String,
        /// Why.
        #[source]
        source: semver::Error,
    },
    /// A rule's `changedIn` later than its pack's version.
    #[error("'{changed_in}' is later than the pack's version '{version}'")]
    ChangedInLater {
        /// The rule's `changedIn`.
        changed_in: String,
        /// The pack's version.
        version: String,
    },
    /// Two documents of one pack with different versions.
    #[error("'{found}' differs from version '{version}' in {origins}")]
    VersionDiffers {
        /// This document's version.
        found: String,
        /// The version read first.
        version: String,
        /// Where that was read.
        origins: String,
    },
    /// A pack variable named other than a CEL identifier.
    #[error("must be a CEL identifier")]
    NotCelIdentifier,
    /// A pack variable defined twice.
    #[error("is defined twice in this pack")]
    DefinedTwiceInPack,
    /// A retired rule id still used by a rule.
    #[error("'{id}' is retired but still a rule of the pack")]
    RetiredStillARule {
        /// The id.
        id: String,
    },

    // Admission policies, bindings and param objects.
    /// A policy or binding name used twice.
    #[error("is already defined in {first}")]
    AlreadyDefined {
        /// Where it was first defined.
        first: String,
    },
    /// A binding naming a policy that is not loaded.
    #[error("no {kind} named '{name}' is loaded (loaded: {loaded})")]
    NoSuchPolicy {
        /// `ValidatingAdmissionPolicy` or `MutatingAdmissionPolicy`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The loaded ones, comma-separated, or `none`.
        loaded: String,
    },
    /// A document that cannot be a param object.
    #[error("{0}")]
    ParamObject(#[source] ParamError),
    /// An `admissionregistration.k8s.io` document of another kind.
    #[error(
        "'{kind}' is not ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding, MutatingAdmissionPolicy or MutatingAdmissionPolicyBinding"
    )]
    UnknownAdmissionKind {
        /// The kind written.
        kind: String,
    },
    /// An admission kind in a version Kubernetes does not publish.
    #[error("'{api_version}' is not a published version of {kind} (expected one of {expected})")]
    UnpublishedVersion {
        /// The `apiVersion` written.
        api_version: String,
        /// The kind.
        kind: &'static str,
        /// The published versions, comma-separated.
        expected: String,
    },
    /// `jsonpatch.escapeKey` outside a mutation.
    #[error(
        "undeclared reference to 'jsonpatch.escapeKey': Kubernetes declares it only in MutatingAdmissionPolicy mutations"
    )]
    EscapeKeyOutsideMutation,
    /// An expression using `authorizer`.
    #[error(
        "uses `authorizer`, which celgate cannot offer: authorization checks need the cluster's authorizer, and celgate judges offline; keep this policy for the apiserver, or drop the authorizer check"
    )]
    Authorizer,
    /// A policy named like a rule pack.
    #[error("is also the name of the rule pack from {origins}")]
    NameOfRulePack {
        /// The pack's files.
        origins: String,
    },
    /// Two policies of one name.
    #[error("a policy of this name is already defined in {origins}")]
    PolicyDefinedTwice {
        /// The first one's files.
        origins: String,
    },
    /// A policy without `matchConstraints`.
    #[error("is required (with resourceRules): without it the policy matches nothing")]
    NoMatchConstraints,
    /// `matchConstraints` without resource rules.
    #[error("must list at least one rule: without one the policy matches nothing")]
    NoResourceRules,
    /// A `matchConstraints` or `matchResources` block that is refused.
    #[error("{0}")]
    MatchResources(#[source] MatchResourcesError),
    /// A severity annotation with another value.
    #[error("'{value}' is not low, medium, high or critical")]
    BadSeverity {
        /// The value.
        value: String,
    },
    /// A policy variable named other than a CEL identifier.
    #[error("name '{name}' is not a CEL identifier")]
    VariableName {
        /// The name.
        name: String,
    },
    /// A policy variable defined twice.
    #[error("'{name}' is defined twice")]
    VariableTwice {
        /// The name.
        name: String,
    },
    /// A match condition with an empty or repeated name.
    #[error("name '{name}' must be non-empty and unique")]
    ConditionName {
        /// The name.
        name: String,
    },
    /// A validating policy with nothing to check.
    #[error("a policy needs at least one validation or auditAnnotation")]
    NoValidations,
    /// An audit annotation key Kubernetes refuses.
    #[error("'{key}' must be a unique name of letters, digits, '-', '_' and '.', at most 63 long")]
    AnnotationKey {
        /// The key.
        key: String,
    },
    /// A `reinvocationPolicy` of another value.
    #[error("'{value}' is not Never or IfNeeded")]
    Reinvocation {
        /// The value.
        value: String,
    },
    /// A mutating policy without mutations.
    #[error("a policy needs at least one mutation")]
    NoMutations,
    /// `patchType: ApplyConfiguration` without its expression.
    #[error("patchType ApplyConfiguration needs applyConfiguration.expression (and no jsonPatch)")]
    ApplyConfigurationMissing,
    /// `patchType: JSONPatch` without its expression.
    #[error("patchType JSONPatch needs jsonPatch.expression (and no applyConfiguration)")]
    JsonPatchMissing,
    /// A `patchType` of another value.
    #[error("'{value}' is not JSONPatch or ApplyConfiguration")]
    PatchType {
        /// The value.
        value: String,
    },
    /// A binding without validation actions.
    #[error("must list at least one of Deny, Warn, Audit")]
    NoValidationActions,
    /// A validation action listed twice.
    #[error("lists an action twice")]
    ActionTwice,
    /// `Deny` with `Warn`.
    #[error("Deny and Warn may not be used together (the failure would be reported twice)")]
    DenyAndWarn,
    /// `validationActions` on a mutating binding.
    #[error("is not a field of a MutatingAdmissionPolicyBinding")]
    ActionsOnMutatingBinding,
    /// A `paramRef` for a policy without `paramKind`.
    #[error("policy '{policy}' declares no paramKind, so there is nothing to reference")]
    ParamRefWithoutParamKind {
        /// The policy.
        policy: String,
    },
    /// No `paramRef` for a policy with `paramKind`.
    #[error("policy '{policy}' declares paramKind {api_version} {kind}, so the binding must say which params to use")]
    ParamRefMissing {
        /// The policy.
        policy: String,
        /// Its param kind's `apiVersion`.
        api_version: String,
        /// Its param kind's `kind`.
        kind: String,
    },
    /// A `paramRef` with both or neither of name and selector.
    #[error("give exactly one of name and selector")]
    ParamRefNameOrSelector,
}

/// Every error found while loading; never partial: a pack set with any error is refused whole.
#[derive(Debug, thiserror::Error)]
#[error("{}", render_errors(.0))]
pub struct LoadErrors(pub Vec<PackError>);

fn render_errors(errors: &[PackError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}
