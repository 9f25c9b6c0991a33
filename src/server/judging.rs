//! Everything CPU-heavy about a request, on the evaluation pool: reading the body (JSON or YAML),
//! judging it, capping the findings, building the audit record and the answer. The async
//! workers only move bytes, so they (and the probes) are never held up by a large body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::outputs::Prepared;
use super::pool::JobFailure;
use super::ServerState;
use crate::engine::{Decision, Door, Input};
use crate::service::{Caller, CallerError, Omitted, Outputs, Service};
use crate::tenant::Tenancy;

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

/// What a request's body gives the service, read on the pool.
pub(super) struct Judgeable<T> {
    /// The input to judge.
    pub input: Input,
    /// Who asks: whose rules apply, and the request's id.
    pub caller: Caller,
    /// What the answer needs besides the decision.
    pub context: T,
}

/// A judged request: the decision (capped), what it hands the outputs, and its answer.
pub(super) struct Judgment<A> {
    pub decision: Decision,
    pub prepared: Prepared,
    pub answer: A,
}

/// On the evaluation pool, within `deadline` (queueing included): `read` turns the body into a
/// [`Judgeable`] (or refuses it with `E`), the [`Service`] judges it (capping the findings and
/// building the outputs' record and event), and `answer` renders the answer. The input is
/// dropped there too.
pub(super) async fn evaluate<T, A, E>(
    state: &Arc<ServerState>,
    deadline: Duration,
    door: Door,
    body_bytes: usize,
    read: impl FnOnce(&Tenancy) -> Result<Judgeable<T>, E> + Send + 'static,
    answer: impl FnOnce(&Decision, &Input, &Omitted, T) -> A + Send + 'static,
) -> Result<Result<Judgment<A>, E>, EvalFailure>
where
    T: Send + 'static,
    A: Send + 'static,
    E: From<CallerError> + Send + 'static,
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
    // The evaluation stops itself at the deadline, so a runaway rule frees its thread.
    let until = Instant::now() + deadline;
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
        let outputs = Outputs {
            audit: shared.outputs.audit.is_some(),
            alerts: shared.outputs.notifier.is_some(),
            caps: true,
            unconfigured: false,
        };
        let service = Service::new(&engine, Some(&tenancy), chrono::Utc::now(), outputs).with_deadline(until);
        let judged = service.judge(door, judgeable.input, &judgeable.caller)?;
        let took = begun.elapsed();
        let (decision, cost) = (judged.decision, judged.cost);
        let prepared = Prepared::new(judged.record, judged.event);
        let answer = answer(&decision, &judged.input, &judged.omitted, judgeable.context);
        drop(judged.input);
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
