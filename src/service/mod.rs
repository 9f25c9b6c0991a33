//! The one service behind every door (design §1): [`Service::judge`] takes a door's [`Input`]
//! and its [`Caller`], resolves the tenant and environment once, evaluates, and returns the
//! [`Judgment`]: the decision with the input as judged, its audit record and its alert event.
//!
//! `/validate`, `/mutate`, `/v1/check` and `celgate check` all judge through it; the doors only
//! translate their wire formats to an [`Input`] and a [`Caller`], and the judgment back.
//! Synchronous and free of I/O like the engine: the server runs it on its evaluation pool.

pub mod caller;
pub mod caps;

use chrono::{DateTime, Utc};

pub use caller::{Caller, TenantChoice};
pub use caps::Omitted;

use crate::audit::AuditRecord;
use crate::engine::{Decision, Door, Engine, Input, NoOverrides, UnconfiguredParam};
use crate::notify::DecisionEvent;
use crate::tenant::Tenancy;

/// What a judgment hands on besides the decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outputs {
    /// Build the audit record (an audit trail is configured, or `check --audit`).
    pub audit: bool,
    /// Build the alert event when the decision has findings (a notifier is configured).
    pub alerts: bool,
    /// Cap the findings kept for the answer, record and alert ([`caps`]; the server's answers).
    pub caps: bool,
    /// List the params still holding their packs' examples for this input's tenant.
    pub unconfigured: bool,
}

/// The engine, tenancy and clock every judgement of one request or one CI run shares.
#[derive(Debug, Clone, Copy)]
pub struct Service<'a> {
    engine: &'a Engine,
    tenancy: Option<&'a Tenancy>,
    now: DateTime<Utc>,
    outputs: Outputs,
    deadline: Option<std::time::Instant>,
}

/// One judged input: the decision and everything the door hands on.
#[derive(Debug)]
pub struct Judgment {
    /// The decision (capped when [`Outputs::caps`] is set).
    pub decision: Decision,
    /// The input as judged: with its tenant's params, tenant and environment.
    pub input: Input,
    /// The findings left out by the caps.
    pub omitted: Omitted,
    /// The audit record, naming the packs of the engine that judged.
    pub record: Option<AuditRecord>,
    /// The alert event, when the decision has findings.
    pub event: Option<DecisionEvent>,
    /// The params that still held their packs' examples for this input.
    pub unconfigured: Vec<UnconfiguredParam>,
    /// The estimated CEL cost spent (for metrics).
    pub cost: u128,
}

/// A caller asked for something its tenant may not do or the configuration does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerError {
    /// The environment named is not configured.
    #[error("environment: {0}")]
    UnknownEnvironment(crate::tenant::UnknownName),
    /// The caller's tenant has no namespaces in the environment it named.
    #[error("tenant '{tenant}' has no namespaces in environment '{environment}'")]
    EnvironmentNotOwned {
        /// The caller's tenant.
        tenant: String,
        /// The environment it named.
        environment: String,
    },
}

impl<'a> Service<'a> {
    /// A service judging with `engine`, under `tenancy`'s tenants, environments, modes and
    /// exceptions (none without one), as of `now`.
    pub fn new(engine: &'a Engine, tenancy: Option<&'a Tenancy>, now: DateTime<Utc>, outputs: Outputs) -> Self {
        Service {
            engine,
            tenancy,
            now,
            outputs,
            deadline: None,
        }
    }

    /// The same service, stopping every evaluation at `deadline`: a rule still running then
    /// ends as an evaluation error (its `onError` decides), and frees its thread.
    #[must_use]
    pub fn with_deadline(self, deadline: std::time::Instant) -> Self {
        Service {
            deadline: Some(deadline),
            ..self
        }
    }

    /// Checks that `caller` may ask for what it names: a configured environment, and (at the
    /// check API) one its tenant has namespaces in.
    pub fn authorize(&self, door: Door, caller: &Caller) -> Result<(), CallerError> {
        let (Some(tenancy), Some(environment)) = (self.tenancy, &caller.environment) else {
            return Ok(());
        };
        tenancy
            .environment(environment)
            .map_err(CallerError::UnknownEnvironment)?;
        if door != Door::CheckApi {
            return Ok(());
        }
        let own = caller.named_tenant().and_then(|t| tenancy.tenant(t).ok());
        match own.filter(|t| !t.may_use_environment(environment, tenancy.default_environment())) {
            Some(t) => Err(CallerError::EnvironmentNotOwned {
                tenant: t.name.clone(),
                environment: environment.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Judges `input` arriving through `door` for `caller`: resolves the tenant and
    /// environment, evaluates under their modes and exceptions, caps the findings and builds
    /// the outputs the service was asked for.
    pub fn judge(&self, door: Door, mut input: Input, caller: &Caller) -> Result<Judgment, CallerError> {
        self.authorize(door, caller)?;
        input.ensure_request_facts();
        if let Some(name) = caller.named_tenant() {
            input.tenant = Some(name.to_owned());
        }
        if let Some(name) = &caller.environment {
            input.environment = Some(name.clone());
        }
        let (mut decision, cost, unconfigured) = if let Some(tenancy) = self.tenancy {
            let scope = caller.scope(tenancy, &input, self.now);
            scope.prepare(&mut input);
            let unconfigured = if self.outputs.unconfigured {
                self.engine.unconfigured_params(&input.params, &scope)
            } else {
                Vec::new()
            };
            let (decision, cost) = self.engine.evaluate_until(&input, &scope, self.deadline);
            (decision, cost, unconfigured)
        } else {
            let (decision, cost) = self.engine.evaluate_until(&input, &NoOverrides, self.deadline);
            (decision, cost, Vec::new())
        };
        let omitted = if self.outputs.caps {
            caps::apply(&mut decision)
        } else {
            Omitted::default()
        };
        let record = self.outputs.audit.then(|| self.record(door, &input, &decision, caller));
        let event = (self.outputs.alerts && !decision.violations.is_empty()).then(|| {
            let event = DecisionEvent::new(
                door,
                decision.tenant.as_deref(),
                decision.environment.as_deref(),
                &input,
                &decision,
            );
            match &caller.request_id {
                Some(id) => event.with_request_uid(id),
                None => event,
            }
        });
        Ok(Judgment {
            decision,
            input,
            omitted,
            record,
            event,
            unconfigured,
            cost,
        })
    }

    /// The audit record of `decision` (never the document: its SHA-256), naming the packs of
    /// the engine that judged (a reload may swap the server's engine meanwhile).
    fn record(&self, door: Door, input: &Input, decision: &Decision, caller: &Caller) -> AuditRecord {
        let record = AuditRecord::new(door, input, decision).with_packs(self.engine.pack_versions().to_vec());
        match &caller.request_id {
            Some(id) => record.with_uid(id.clone()),
            None => record,
        }
    }
}
