//! Everything CPU-heavy about a request, on the evaluation pool: reading the body (JSON or YAML),
//! judging it, capping the findings, building the audit record and the answer. The async
//! workers only move bytes, so they (and the probes) are never held up by a large body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::caps::{self, Omitted};
use super::outputs::{self, Prepared};
use super::pool::JobFailure;
use super::ServerState;
use crate::engine::{Decision, Door, Engine, Input};
use crate::tenant::{Scope, Tenancy};

/// A body larger than `limits.maxBodyBytes / LARGE_FRACTION` is judged alone (see
/// [`evaluate`]).
pub const LARGE_FRACTION: usize = 8;

/// Why an evaluation produced no decision.
pub(super) enum EvalFailure {
    Timeout,
    Crashed,
}

impl EvalFailure {
    pub(super) fn message(&self, deadline: Duration) -> String {
        match self {
            EvalFailure::Timeout => {
                format!("evaluation did not finish within {deadline:?} (waiting for a free evaluation thread included)")
            }
            EvalFailure::Crashed => "evaluation failed unexpectedly".to_owned(),
        }
    }
}

/// Whose modes, params and exceptions apply to an evaluation.
pub(super) enum Judged {
    /// The tenant owning the object's namespace (admission).
    ByNamespace,
    /// The check-API caller's tenant (from its token) and the environment it asked for.
    Caller {
        tenant: Option<String>,
        environment: Option<String>,
    },
}

/// What a request's body gives the engine, read on the pool.
pub(super) struct Judgeable<T> {
    /// The input to judge.
    pub input: Input,
    /// Whose rules apply.
    pub who: Judged,
    /// The AdmissionReview's uid, for the audit record and Slack.
    pub uid: Option<String>,
    /// What the answer needs besides the decision.
    pub context: T,
}

/// A judged request: the decision (capped), what it hands the outputs, and its answer.
pub(super) struct Judgment<A> {
    pub decision: Decision,
    pub prepared: Prepared,
    pub answer: A,
}

/// Judges `input` for the tenant and environment `who` resolves to; returns the input as judged
/// (with the tenant's params) for the audit trail.
fn judge(engine: &Engine, tenancy: &Tenancy, mut input: Input, who: &Judged) -> (Decision, Input, u128) {
    let now = chrono::Utc::now();
    let scope = match who {
        Judged::ByNamespace => Scope::of_input(tenancy, &input, now),
        Judged::Caller { tenant, environment } => {
            let tenant = tenant.as_deref().and_then(|t| tenancy.tenant(t).ok());
            let environment = match environment {
                Some(e) => tenancy.environment(e).ok(),
                None => tenancy.environment_of_namespace(tenant, input.effective_namespace()),
            };
            Scope::new(tenancy, tenant, environment, now)
        }
    };
    scope.prepare(&mut input);
    let (decision, cost) = engine.evaluate_with_cost(&input, &scope);
    (decision, input, cost)
}

/// On the evaluation pool, within `deadline` (queueing included): `read` turns the body into a
/// [`Judgeable`] (or refuses it with `E`), the engine judges it, the findings are capped, the
/// outputs' record and event are built, and `answer` renders the answer. The input is dropped
/// there too.
pub(super) async fn evaluate<T, A, E>(
    state: &Arc<ServerState>,
    deadline: Duration,
    door: Door,
    body_bytes: usize,
    read: impl FnOnce(&Tenancy) -> Result<Judgeable<T>, E> + Send + 'static,
    answer: impl FnOnce(&Decision, &Omitted, T) -> A + Send + 'static,
) -> Result<Result<Judgment<A>, E>, EvalFailure>
where
    T: Send + 'static,
    A: Send + 'static,
    E: Send + 'static,
{
    let started = tokio::time::Instant::now();
    // A large body can take a hundred times its size to judge (100 000 containers, each a
    // patch): those are judged one at a time, so the memory ceiling holds one of them, not
    // one per evaluation thread. The job holds the permit: one whose caller gave up still
    // runs to its end, and the next large one waits for that.
    let large = if body_bytes > state.limits.max_body_bytes / LARGE_FRACTION {
        match tokio::time::timeout(deadline, Arc::clone(&state.large_evaluations).acquire_owned()).await {
            Ok(Ok(permit)) => Some(permit),
            _ => return Err(EvalFailure::Timeout),
        }
    } else {
        None
    };
    let deadline = deadline.saturating_sub(started.elapsed());
    let engine = state.engine.load_full();
    let tenancy = state.tenancy.load_full();
    let shared = Arc::clone(state);
    let job = state.pool.run(move || {
        let _large = large;
        let judgeable = match read(&tenancy) {
            Ok(j) => j,
            Err(e) => return Err(e),
        };
        let begun = Instant::now();
        let (mut decision, input, cost) = judge(&engine, &tenancy, judgeable.input, &judgeable.who);
        let took = begun.elapsed();
        let omitted = caps::apply(&mut decision);
        let prepared = outputs::prepare(&shared, &engine, door, &input, &decision, judgeable.uid.as_deref());
        drop(input);
        let answer = answer(&decision, &omitted, judgeable.context);
        Ok((
            Judgment {
                decision,
                prepared,
                answer,
            },
            cost,
            took,
        ))
    });
    match tokio::time::timeout(deadline, job).await {
        Ok(Ok(Ok((judgment, cost, took)))) => {
            state.metrics.evaluation_seconds.observe(took.as_secs_f64());
            #[allow(clippy::cast_precision_loss)] // a histogram observation; exactness is not needed
            state.metrics.evaluation_cost.observe(cost as f64);
            Ok(Ok(judgment))
        }
        Ok(Ok(Err(refused))) => Ok(Err(refused)),
        Ok(Err(JobFailure::Panicked)) => Err(EvalFailure::Crashed),
        Err(_) => Err(EvalFailure::Timeout),
    }
}
