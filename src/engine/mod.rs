//! The pure core (design §1–4): compiled rule packs and the evaluation of one [`Input`] into one
//! [`Decision`]. No I/O, no async: everything here is testable with nothing running.
//!
//! Layers, lowest first; each imports only the layers before it (`tests/layering.rs` keeps it so,
//! with no import cycle between folders):
//! - [`cel`]: the CEL dialect: the environment, the Kubernetes CEL libraries, macros, compiling
//!   and type-checking one expression, value views, cost estimates and the cost meter;
//! - [`facts`]: the subject of a judgement and its outcome: [`Input`], [`RequestFacts`], the
//!   built-in kinds' schemas and normalization, [`Decision`], a tenant's [`Overrides`];
//! - [`pack`]: the pack model, the compiled model ([`CompiledPack`], a [`PackKind`]: rules or an
//!   admission policy), loading rule packs, selecting rules, templates, patches, example params;
//! - [`vap`]: reading Kubernetes admission policies, bindings and param objects into packs;
//! - `eval`: the one evaluation kernel of rule packs and admission policies;
//! - this module: [`Engine`] (load, filter, evaluate) and `loader`, which sends each source
//!   document to the rule-pack loader or to [`vap`].

pub mod cel;
mod eval;
pub mod facts;
mod loader;
pub mod pack;
pub mod vap;

use std::sync::Arc;

use ::cel::{Context, Env};

pub use self::cel::cost::CostLimits;
pub use facts::decision::{
    omitted_note, split_omitted_note, Action, Decision, FindingType, PatchOp, Severity, StatusReason, Verdict,
    Violation,
};
pub use facts::input::{Door, Input, Operation, UserInfo};
pub use facts::overrides::{AppliedMode, ExceptionUse, Layer, Mode, ModeSource, NoOverrides, Overrides};
pub use facts::request::{GroupVersionKind, GroupVersionResource, RequestFacts};
pub use pack::compiled::{CompiledPack, CompiledRule, PackKind, PackSource, RootReads};
pub use pack::error::{LoadErrors, PackError, PackErrorKind};
pub use pack::placeholders::UnconfiguredParam;
pub use pack::programs::{Coverage, Interpreted};
pub use pack::OnError;

use self::cel::{compile, cost, json_val, value};
use eval::{run_rules, Finding};
use facts::{builtin, decision};
use pack::patch::PatchBuilder;

/// Compiled, immutable rule packs. Cheap to clone (shared), safe to share across threads.
#[derive(Clone)]
pub struct Engine {
    env: Arc<Env>,
    packs: Vec<Arc<CompiledPack>>,
    /// Param objects for admission policies, besides those loaded with them.
    param_objects: Arc<vap::ParamStore>,
    /// Runtime cost limits per expression and per input.
    cost_limits: CostLimits,
    /// `celgate check --bind-all`: admission policies without a binding run as if bound.
    bind_all: bool,
    /// `name@version` of each pack, in load order (what every audit record names).
    pack_versions: Arc<[String]>,
    /// Run every expression on the interpreter, the reference ([`Engine::with_interpreter_only`]).
    interpreter_only: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("packs", &self.packs)
            .finish_non_exhaustive()
    }
}

/// `--framework` named a pack that is not loaded.
#[derive(Debug, thiserror::Error)]
#[error("unknown framework '{name}' (loaded packs: {known})")]
pub struct UnknownPack {
    /// The name asked for.
    pub name: String,
    /// The names that exist.
    pub known: String,
}

/// Why `celgate eval` could not evaluate an expression.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// It does not compile.
    #[error("{0}")]
    Compile(#[from] compile::CompileError),
    /// It failed at run time.
    #[error("evaluation failed: {0}")]
    Execution(#[from] ::cel::ExecutionError),
    /// Its estimated cost on this input is over the per-expression limit.
    #[error("not evaluated: {0}")]
    Cost(#[from] cost::CostFailure),
}

impl Engine {
    /// Parses and compiles every source; all errors are reported, and none is partial.
    pub fn load(sources: &[PackSource]) -> Result<Engine, LoadErrors> {
        let env = compile::environment();
        let packs = loader::load_packs(&env, sources)?;
        let packs: Vec<Arc<CompiledPack>> = packs.into_iter().map(Arc::new).collect();
        Ok(Engine {
            env,
            pack_versions: versions_of(&packs),
            packs,
            param_objects: Arc::new(vap::ParamStore::default()),
            cost_limits: CostLimits::default(),
            bind_all: false,
            interpreter_only: false,
        })
    }

    /// The same engine with other runtime cost limits (server config). The load-time check
    /// always uses [`cost::MAX_EXPRESSION_COST`]: a `per_expression` below it may refuse at run
    /// time expressions that loaded.
    #[must_use]
    pub fn with_cost_limits(&self, limits: CostLimits) -> Engine {
        Engine {
            cost_limits: limits,
            ..self.clone()
        }
    }

    /// The runtime cost limits in force.
    pub fn cost_limits(&self) -> CostLimits {
        self.cost_limits
    }

    /// The same engine applying every admission policy that has no binding as if bound to every
    /// namespace with `validationActions: [Deny]` (`celgate check --bind-all`).
    #[must_use]
    pub fn with_bind_all(&self) -> Engine {
        Engine {
            bind_all: true,
            ..self.clone()
        }
    }

    /// The same engine running every expression on the `cel` crate's interpreter instead of
    /// compiled programs: the reference the compiled evaluator is tested against (decisions are
    /// the same, only slower, with costs estimated before each expression runs rather than
    /// counted as it runs), for differential tests and benchmarks.
    #[must_use]
    pub fn with_interpreter_only(&self) -> Engine {
        Engine {
            interpreter_only: true,
            ..self.clone()
        }
    }

    /// The loaded admission policies no binding binds (a policy without one does nothing in a
    /// cluster); with [`Engine::with_bind_all`], each says it is applied anyway.
    pub fn unbound_policies(&self) -> Vec<vap::UnboundPolicy> {
        vap::unbound(self.packs.iter().map(AsRef::as_ref), self.bind_all)
    }

    /// The type-checking warnings the API server would give the loaded admission policies
    /// (`status.typeChecking.expressionWarnings`), as far as the built-in kinds' schemas tell.
    pub fn type_warnings(&self) -> Vec<String> {
        self.packs.iter().flat_map(|p| vap::schema_check::warnings(p)).collect()
    }

    /// The loaded packs in load order.
    pub fn packs(&self) -> &[Arc<CompiledPack>] {
        &self.packs
    }

    /// The params of the loaded packs that still hold the example values their packs ship
    /// (`spec.paramsToConfigure`) when an input's params are `params` (a tenant's), with the
    /// rules (not switched off by `overrides`) that therefore warn instead of denying.
    pub fn unconfigured_params(
        &self,
        params: &serde_json::Map<String, serde_json::Value>,
        overrides: &dyn Overrides,
    ) -> Vec<UnconfiguredParam> {
        pack::placeholders::unconfigured(self.packs.iter().map(AsRef::as_ref), params, overrides)
    }

    /// The loaded packs as `name@version`, in load order (computed once, at load).
    pub fn pack_versions(&self) -> &[String] {
        &self.pack_versions
    }

    /// Number of rules across all packs.
    pub fn rule_count(&self) -> usize {
        self.packs.iter().map(|p| p.rules.len()).sum()
    }

    /// An engine with only the packs named in `names` (pack `metadata.name`); all when empty.
    pub fn filtered(&self, names: &[String]) -> Result<Engine, UnknownPack> {
        if names.is_empty() {
            return Ok(self.clone());
        }
        for name in names {
            if !self.packs.iter().any(|p| &p.metadata.name == name) {
                return Err(UnknownPack {
                    name: name.clone(),
                    known: self
                        .packs
                        .iter()
                        .map(|p| p.metadata.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let packs: Vec<Arc<CompiledPack>> = self
            .packs
            .iter()
            .filter(|p| names.contains(&p.metadata.name))
            .cloned()
            .collect();
        Ok(Engine {
            pack_versions: versions_of(&packs),
            packs,
            ..self.clone()
        })
    }

    /// The same engine with `objects` (each with its origin, e.g. `file#2`) as param objects of
    /// admission policies (`celgate check --params`, or the server's config), in addition to
    /// those loaded with the policies. Every object needs apiVersion, kind and metadata.name.
    pub fn with_param_objects(
        &self,
        objects: Vec<(String, serde_json::Value)>,
    ) -> Result<Engine, Vec<vap::ParamError>> {
        let mut store = vap::ParamStore::new(objects)?;
        // The bundled params of the policies are looked up separately; check duplicates here.
        if let Some(admission) = self.packs.iter().find_map(|p| p.admission()) {
            let mut probe = (*admission.params).clone();
            probe.merge(&store)?;
        }
        store.merge(&self.param_objects)?;
        Ok(Engine {
            param_objects: Arc::new(store),
            ..self.clone()
        })
    }

    /// Judges one input with every rule as its pack wrote it.
    pub fn evaluate(&self, input: &Input) -> Decision {
        self.evaluate_with(input, &NoOverrides)
    }

    /// Judges one input with the modes and exceptions `overrides` decides (a tenant's view).
    pub fn evaluate_with(&self, input: &Input, overrides: &dyn Overrides) -> Decision {
        self.evaluate_with_cost(input, overrides).0
    }

    /// Like [`Engine::evaluate_with`], also returning the CEL cost spent on the input: the steps
    /// compiled programs counted plus the estimates of what ran on the interpreter (the sum the
    /// per-request budget is checked against; for metrics).
    ///
    /// A document of a built-in kind is judged as the API server would send it to a webhook
    /// ([`builtin::normalized_input`]: `null` fields absent, empty optional lists and maps omitted).
    pub fn evaluate_with_cost(&self, input: &Input, overrides: &dyn Overrides) -> (Decision, u128) {
        self.evaluate_until(input, overrides, None)
    }

    /// Like [`Engine::evaluate_with_cost`], stopping at `deadline`: an expression still running
    /// then stops (the compiled evaluator looks at the clock as it counts its steps), and the
    /// rules not yet evaluated become evaluation errors, each as its `onError` says.
    pub fn evaluate_until(
        &self,
        input: &Input,
        overrides: &dyn Overrides,
        deadline: Option<std::time::Instant>,
    ) -> (Decision, u128) {
        let normalized = builtin::normalized_input(input);
        let input = normalized.as_ref().unwrap_or(input);
        // One budget for everything run for this input, the second pass after a patch included.
        let meter = cost::CostMeter::new(self.cost_limits).with_deadline(deadline);
        let mut decision = self.judge(input, overrides, &meter);
        decision.tenant = overrides.tenant().or(input.tenant.as_deref()).map(str::to_owned);
        decision.environment = overrides
            .environment()
            .or(input.environment.as_deref())
            .map(str::to_owned);
        (decision, meter.spent())
    }

    /// Judges `input`: one pass of every rule; when findings patch and none denies, the patches
    /// are applied and the patched document is judged again.
    fn judge(&self, input: &Input, overrides: &dyn Overrides, meter: &cost::CostMeter) -> Decision {
        let subject = eval::Subject::new(input);
        let book = eval::Rulebook {
            env: &self.env,
            packs: &self.packs,
            admission: vap::AdmissionOptions {
                params: &self.param_objects,
                bind_all: self.bind_all,
            },
            compiled: !self.interpreter_only,
        };
        let pass = |object: &serde_json::Value| {
            let mut pass = run_rules(&book, &subject, object, overrides, meter);
            for finding in &mut pass.findings {
                apply_overrides(finding, input, overrides);
                eval::soften::soften(finding, &self.packs, input);
            }
            pass
        };
        let mut first = pass(&input.object);
        let mut decision = Decision::allow();
        decision.evaluated_rules = std::mem::take(&mut first.evaluated);
        decision.audit_annotations = std::mem::take(&mut first.annotations);
        let patches = first.findings.iter().any(|f| f.violation.action == Action::Patch);
        if first.findings.iter().any(blocks) || !patches {
            let verdict = if first.findings.iter().any(blocks) {
                Verdict::Deny
            } else {
                Verdict::Allow
            };
            return finish(decision, first.findings, verdict);
        }
        let mut findings = first.findings;
        let builder = apply_patches(&input.object, &mut findings);
        if findings.iter().any(blocks) {
            return finish(decision, findings, Verdict::Deny);
        }
        let (patched, ops) = builder.finish();
        let second = pass(&patched);
        if second
            .findings
            .iter()
            .any(|f| matches!(f.violation.action, Action::Deny | Action::Patch))
        {
            add_unfixed(&mut findings, second.findings);
            return finish(decision, findings, Verdict::Deny);
        }
        let mut final_findings: Vec<Finding> = findings
            .into_iter()
            .filter(|f| f.violation.action == Action::Patch)
            .map(|mut f| {
                f.violation.patched = true;
                f
            })
            .collect();
        final_findings.extend(second.findings);
        decision.patch = ops;
        decision.patched_object = Some(patched);
        finish(decision, final_findings, Verdict::Patch)
    }

    /// Compiles and evaluates one expression with the same environment and variables the packs
    /// see (`celgate eval`), on the compiled evaluator. `variables` are extra root variables
    /// (`--var NAME=JSON`).
    pub fn eval_expression(
        source: &str,
        input: &Input,
        variables: &[(String, serde_json::Value)],
    ) -> Result<serde_json::Value, EvalError> {
        Self::eval_expression_on(Evaluator::Compiled, source, input, variables)
    }

    /// [`Engine::eval_expression`] on the chosen evaluator. On [`Evaluator::Compiled`] the
    /// expression runs as the packs' expressions do: compiled (the extra root variables bound as
    /// roots), its steps counted against the per-expression limit, and on the interpreter where
    /// the compiler does not cover it or to word an error the compiled run met. On
    /// [`Evaluator::Interpreter`] it runs on the `cel` crate's interpreter, the reference, after
    /// its estimated cost is checked.
    pub fn eval_expression_on(
        evaluator: Evaluator,
        source: &str,
        input: &Input,
        variables: &[(String, serde_json::Value)],
    ) -> Result<serde_json::Value, EvalError> {
        let env = compile::environment();
        let extra: Vec<&str> = variables.iter().map(|(name, _)| name.as_str()).collect();
        let expr = compile::compile_with_roots(&env, source, &extra)?;
        let subject = eval::Subject::new(input);
        let params = serde_json::Value::Object(input.params.clone());
        let mut ctx = Context::with_env(env);
        let mut roots = eval::bind_roots(
            &mut ctx,
            input,
            &input.object,
            subject.derived(eval::RootReads::default()),
        )
        .with_params(&params);
        roots.extra = variables;
        ctx.add_variable_as_val("params", json_val::json_view(&params));
        for (name, json) in variables {
            ctx.add_variable_as_val(name.clone(), json_val::json_view(json));
        }
        let layout = self::cel::compiled::Layout {
            extra_roots: variables.iter().map(|(name, _)| name.clone()).collect(),
            ..self::cel::compiled::Layout::default()
        };
        let program = (evaluator == Evaluator::Compiled)
            .then(|| self::cel::compiled::compile(&expr.expr, &layout).ok())
            .flatten();
        if let Some(program) = program {
            let meter = cost::CostMeter::new(CostLimits::default());
            let ran = program.evaluate(
                &eval::program_roots(&roots),
                &self::cel::compiled::NoVariables,
                &meter.step_limits(),
                meter.step_budget(),
            );
            match ran {
                Ok(value) => {
                    let val = self::cel::compiled::convert::to_val(&value);
                    return Ok(value::value_to_json(&json_val::to_value(&*val)?));
                }
                Err(e) => {
                    if let Some(stop) = meter.stopped(&e) {
                        return Err(EvalError::Cost(stop));
                    }
                }
            }
            // A failure: the interpreter words it. It takes the steps the compiled run took
            // (bounded by the limit), so it is not estimated again.
        } else {
            let sizes = cost::sizes::SizeMemo::default();
            let stats = cost::sizes::read_stats(
                std::ptr::from_ref(&expr).addr(),
                &expr.reads.paths,
                roots,
                &NoVariables,
                Some(&ctx),
                &sizes,
            );
            cost::CostMeter::new(CostLimits::default()).charge(&expr.cost, cost::Sizes::of_reads(stats))?;
        }
        let result = ::cel::Value::resolve_val(&expr.expr, &ctx)?;
        Ok(value::value_to_json(&json_val::to_value(&*result)?))
    }
}

/// Which evaluator runs an expression for `celgate eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Evaluator {
    /// celgate's compiled evaluator, as the packs run (the interpreter where it does not cover
    /// the expression).
    #[default]
    Compiled,
    /// The `cel` crate's interpreter: the reference.
    Interpreter,
}

/// `celgate eval` has no pack variables.
struct NoVariables;

impl cost::sizes::VariableTable for NoVariables {
    fn reads_of(&self, _name: &str) -> Option<&cost::reads::VariableReads> {
        None
    }
}

/// Changes a finding's action by the mode that applies to its rule, then by an exception that
/// covers it; a finding that no longer patches drops its ops.
fn apply_overrides(finding: &mut Finding, input: &Input, overrides: &dyn Overrides) {
    let violation = &mut finding.violation;
    match overrides.mode(&violation.pack, &violation.rule) {
        Some(applied) => {
            violation.action = applied.mode.apply(violation.action, violation.finding);
            violation.mode = Some(applied);
        }
        // With a tenant or environment in play every finding says which mode applied.
        None if overrides.tenant().is_some() || overrides.environment().is_some() => {
            violation.mode = Some(AppliedMode {
                mode: Mode::of_action(violation.action),
                source: ModeSource::RuleDefault,
            });
        }
        None => {}
    }
    if let Some(exception) = overrides.exception(&violation.rule, input) {
        if exception.expired {
            violation.message = format!(
                "{} (exception {} expired on {}; it no longer applies)",
                violation.message, exception.id, exception.expires
            );
        } else {
            violation.action = Action::Audit;
        }
        violation.exception = Some(exception);
    }
    if violation.action != Action::Patch {
        finding.ops.clear();
    }
}

/// Whether a finding blocks the input.
fn blocks(finding: &Finding) -> bool {
    finding.violation.action == Action::Deny
}

/// Applies every patch finding's ops to a copy of `object`; a finding whose ops cannot be
/// applied becomes a denying evaluation error that says why.
fn apply_patches(object: &serde_json::Value, findings: &mut [Finding]) -> PatchBuilder {
    let mut builder = PatchBuilder::new(object.clone());
    for finding in findings.iter_mut().filter(|f| f.violation.action == Action::Patch) {
        for op in &finding.ops {
            if let Err(e) = builder.apply(&finding.violation.rule, op) {
                let violation = &mut finding.violation;
                violation.finding = FindingType::EvaluationError;
                violation.action = Action::Deny;
                violation.message = format!("{}; the fix could not be applied: {e}", violation.message);
                break;
            }
        }
    }
    builder
}

/// Adds the denials of the second pass the patch could not fix, next to the original findings.
fn add_unfixed(findings: &mut Vec<Finding>, second: Vec<Finding>) {
    for f in second {
        let known = findings
            .iter()
            .any(|o| o.violation.rule == f.violation.rule && o.violation.pointer == f.violation.pointer);
        if !known && f.violation.action == Action::Deny {
            findings.push(f);
        }
    }
}

/// `name@version` of each of `packs`.
fn versions_of(packs: &[Arc<CompiledPack>]) -> Arc<[String]> {
    packs
        .iter()
        .map(|p| format!("{}@{}", p.metadata.name, p.metadata.version))
        .collect()
}

fn finish(mut decision: Decision, findings: Vec<Finding>, verdict: Verdict) -> Decision {
    decision.decision = verdict;
    decision.violations = findings.into_iter().map(|f| f.violation).collect();
    decision::sort_violations(&mut decision.violations);
    decision.warnings = decision
        .violations
        .iter()
        .filter(|v| v.action == Action::Warn)
        .map(warning_line)
        .collect();
    if verdict != Verdict::Patch {
        decision.patch.clear();
        decision.patched_object = None;
    }
    decision
}

/// The warning a finding with the `warn` action gives: `[rule] title: message` (one
/// allocation: warnings are written for every warned finding of every review).
fn warning_line(v: &Violation) -> String {
    let mut line = String::with_capacity(v.rule.len() + v.title.len() + v.message.len() + 5);
    line.push('[');
    line.push_str(&v.rule);
    line.push_str("] ");
    line.push_str(&v.title);
    line.push_str(": ");
    line.push_str(&v.message);
    line
}
