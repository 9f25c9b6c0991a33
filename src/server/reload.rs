//! Reloading packs and certificates by polling file *contents* (Kubernetes swaps mounted
//! mounted secret and config-map volumes through a `..data` symlink that file watches miss). A new engine or
//! TLS configuration replaces the old one whole, and only when it loads completely; otherwise
//! the last good one keeps serving and the failure is logged and counted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::reload_guard::{self, Guarded, Weakening};
use super::tls::{CertCheck, CertWatcher};
use super::ServerState;
use crate::engine::Engine;
use crate::packs;
use crate::tenant::{Tenancy, TenancySpec};

/// Where the packs come from.
#[derive(Debug, Clone)]
pub enum PackSourceSpec {
    /// The packs embedded in the binary (never change).
    Embedded,
    /// Folders or files on disk.
    Paths(Vec<PathBuf>),
}

/// Polls packs and certificates and swaps what changed into the server state.
pub struct Reloader {
    packs: PackSourceSpec,
    frameworks: Vec<String>,
    last_seen: Option<[u8; 32]>,
    certs: Option<CertWatcher>,
    config: Option<ConfigWatch>,
    params: Vec<PathBuf>,
    expiry: ExpiryWatch,
    cost: crate::engine::cel::cost::CostLimits,
}

/// How often the serving certificate's expiry is looked at, and when it was last.
struct ExpiryWatch {
    warning_days: u32,
    last_checked: Option<std::time::Instant>,
}

/// How often the certificate's expiry is re-read (and, when close, alerted).
const EXPIRY_CHECK_EVERY: Duration = Duration::from_secs(3600);

/// The config file's tenancy sections, re-read when the file's contents change.
struct ConfigWatch {
    path: PathBuf,
    last_seen: Option<[u8; 32]>,
    /// The tenancy in force (checked against new packs before they are swapped in).
    spec: TenancySpec,
    /// The security shape of the configuration in force; `None` before the first load.
    guarded: Option<Guarded>,
}

/// Errors that stop the first load (later reloads only log).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Pack files could not be read.
    #[error(transparent)]
    Read(#[from] packs::PacksError),
    /// Packs did not compile.
    #[error("rule packs do not load:\n{0}")]
    Compile(#[from] crate::engine::LoadErrors),
    /// An unknown `--framework`.
    #[error(transparent)]
    Framework(#[from] crate::engine::UnknownPack),
    /// No packs at all.
    #[error("no rule packs found in {0}")]
    Empty(String),
    /// Param objects (`params:`) could not be read or do not fit the policies.
    #[error("params: {0}")]
    Params(String),
    /// The config file cannot be read or parsed.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The new config file would weaken security; the last good configuration keeps serving.
    #[error(
        "config file {path}: reload refused: {}; the last good configuration keeps serving \
         (restart celgate to start with this file on purpose)",
        reload_guard::describe(.found)
    )]
    Weakened {
        /// The config file.
        path: String,
        /// What it would remove.
        found: Vec<Weakening>,
    },
    /// The tenancy sections do not fit the packs.
    #[error("config file {path}:\n{errors}")]
    Tenancy {
        /// The config file.
        path: String,
        /// Every problem.
        #[source]
        errors: crate::tenant::TenancyErrors,
    },
}

impl Reloader {
    /// A reloader for `packs` (filtered to `frameworks`) and, when given, certificates.
    pub fn new(packs: PackSourceSpec, frameworks: Vec<String>, certs: Option<CertWatcher>) -> Self {
        Reloader {
            packs,
            frameworks,
            last_seen: None,
            certs,
            config: None,
            params: Vec::new(),
            cost: crate::engine::cel::cost::CostLimits::default(),
            expiry: ExpiryWatch {
                warning_days: 21,
                last_checked: None,
            },
        }
    }

    /// Run every loaded engine with these CEL cost budgets (`limits.celCost*`).
    #[must_use]
    pub fn with_cost_limits(mut self, limits: crate::engine::cel::cost::CostLimits) -> Self {
        self.cost = limits;
        self
    }

    /// Also give admission policies the param objects in `files` (re-read with the packs).
    #[must_use]
    pub fn with_params(mut self, files: Vec<PathBuf>) -> Self {
        self.params = files;
        self
    }

    /// Alert (through the state's notifier) when the serving certificate expires within `days`.
    #[must_use]
    pub fn with_certificate_warning_days(mut self, days: u32) -> Self {
        self.expiry.warning_days = days;
        self
    }

    /// Also watch the config file at `path` for tenancy changes.
    #[must_use]
    pub fn with_config(mut self, path: PathBuf) -> Self {
        self.config = Some(ConfigWatch {
            path,
            last_seen: None,
            spec: TenancySpec::default(),
            guarded: None,
        });
        self
    }

    /// Reads the config file's tenancy now and checks it against `engine`. Returns `Ok(None)`
    /// when there is no config file, its contents are the ones last seen, or it changed while it
    /// was read (the next poll reads it again). The first load waits for the file to settle;
    /// later loads refuse a file that would weaken security ([`LoadError::Weakened`]).
    pub fn load_tenancy(&mut self, engine: &Engine) -> Result<Option<Tenancy>, LoadError> {
        let Some(watch) = &mut self.config else {
            return Ok(None);
        };
        let file_error = |source: std::io::Error| crate::config::ConfigError::Read {
            path: watch.path.display().to_string(),
            source,
        };
        let bytes = if watch.guarded.is_none() {
            reload_guard::read_settled(&watch.path).map_err(file_error)?
        } else {
            let first = std::fs::read(&watch.path).map_err(file_error)?;
            let digest: [u8; 32] = Sha256::digest(&first).into();
            if watch.last_seen == Some(digest) {
                return Ok(None);
            }
            let Some(bytes) = reload_guard::read_twice(&watch.path, first).map_err(file_error)? else {
                tracing::info!(path = %watch.path.display(), "config file changed while it was read; reading it again at the next poll");
                return Ok(None);
            };
            bytes
        };
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if watch.last_seen == Some(digest) {
            return Ok(None);
        }
        watch.last_seen = Some(digest);
        let text = String::from_utf8(bytes).map_err(|source| crate::config::ConfigError::NotUtf8 {
            path: watch.path.display().to_string(),
            source,
        })?;
        let reloadable = crate::config::parse_reloadable(&watch.path, &text)?;
        let guarded = Guarded::of(&reloadable);
        if let Some(before) = watch.guarded {
            let found = reload_guard::weakenings(before, guarded);
            if !found.is_empty() {
                return Err(LoadError::Weakened {
                    path: watch.path.display().to_string(),
                    found,
                });
            }
        }
        let tenancy =
            Tenancy::build(&reloadable.tenancy, engine, chrono::Utc::now()).map_err(|errors| LoadError::Tenancy {
                path: watch.path.display().to_string(),
                errors,
            })?;
        watch.spec = reloadable.tenancy;
        watch.guarded = Some(guarded);
        Ok(Some(tenancy))
    }

    /// The tenancy in force, rebuilt for `engine` (new packs must still fit it).
    fn tenancy_for(&self, engine: &Engine) -> Result<Tenancy, LoadError> {
        let Some(watch) = &self.config else {
            return Ok(Tenancy::default());
        };
        Tenancy::build(&watch.spec, engine, chrono::Utc::now()).map_err(|errors| LoadError::Tenancy {
            path: watch.path.display().to_string(),
            errors,
        })
    }

    /// Loads the packs now (used at start, and by each reload when their contents changed).
    /// Returns `Ok(None)` when the contents are the ones last seen.
    pub fn load_packs(&mut self) -> Result<Option<Engine>, LoadError> {
        let found = match &self.packs {
            PackSourceSpec::Embedded => {
                if self.last_seen.is_some() {
                    return Ok(None);
                }
                packs::embedded()
            }
            PackSourceSpec::Paths(paths) => packs::from_paths(paths)?,
        };
        let mut hasher = Sha256::new();
        for source in &found.packs {
            hasher.update(source.origin.as_bytes());
            hasher.update([0]);
            hasher.update(source.text.as_bytes());
            hasher.update([0]);
        }
        let digest: [u8; 32] = hasher.finalize().into();
        if self.last_seen == Some(digest) {
            return Ok(None);
        }
        self.last_seen = Some(digest);
        if found.packs.is_empty() {
            return Err(LoadError::Empty(match &self.packs {
                PackSourceSpec::Embedded => "the shipped packs".to_owned(),
                PackSourceSpec::Paths(p) => p.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            }));
        }
        let mut engine = Engine::load(&found.packs)?
            .filtered(&self.frameworks)?
            .with_cost_limits(self.cost);
        if !self.params.is_empty() {
            let objects = packs::read_param_objects(&self.params).map_err(LoadError::Params)?;
            engine = engine.with_param_objects(objects).map_err(|errors| {
                LoadError::Params(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
            })?;
        }
        Ok(Some(engine))
    }

    /// One poll: swaps in new packs and certificates when they changed and load completely.
    pub fn poll(&mut self, state: &ServerState) {
        match self
            .load_packs()
            .and_then(|e| e.map(|e| self.tenancy_for(&e).map(|t| (e, t))).transpose())
        {
            Ok(None) => {}
            Ok(Some((engine, tenancy))) => {
                tracing::info!(
                    packs = engine.packs().len(),
                    rules = engine.rule_count(),
                    "rule packs reloaded"
                );
                log_evaluator_coverage(&engine);
                state.engine.store(Arc::new(engine));
                state.tenancy.store(Arc::new(tenancy));
                state.metrics.record_reload("packs", true);
            }
            Err(e) => {
                tracing::error!(error = %e, "rule pack reload refused; the last good packs keep serving");
                state.metrics.record_reload("packs", false);
                alert_reload_failure(state, &e.to_string());
            }
        }
        let engine = state.engine.load_full();
        match self.load_tenancy(&engine) {
            Ok(None) => {}
            Ok(Some(tenancy)) => {
                tracing::info!(
                    tenants = tenancy.tenants().len(),
                    expired_exceptions = ?tenancy.expired_exceptions(),
                    "tenancy configuration reloaded"
                );
                state.tenancy.store(Arc::new(tenancy));
                state.metrics.record_reload("config", true);
            }
            Err(LoadError::Weakened { path, found }) => reload_guard::refused(state, path, found),
            Err(e) => {
                tracing::error!(error = %e, "config reload refused; the last good tenancy keeps serving");
                state.metrics.record_reload("config", false);
                alert_reload_failure(state, &format!("config: {e}"));
            }
        }
        if let Some(certs) = &mut self.certs {
            match certs.check() {
                CertCheck::Unchanged | CertCheck::StillFailing => {}
                CertCheck::Changed(config) => {
                    tracing::info!("TLS certificate reloaded");
                    state.tls.store(config);
                    state.metrics.record_reload("certs", true);
                }
                CertCheck::Failed(e) => {
                    tracing::error!(error = %e, "TLS certificate reload refused; the previous pair keeps serving");
                    state.metrics.record_reload("certs", false);
                    alert_reload_failure(state, &format!("TLS certificate: {e}"));
                }
            }
        }
        self.check_expiry(state);
    }

    /// At most hourly: the serving certificate's expiry as a metric, and an alert when it is close.
    fn check_expiry(&mut self, state: &ServerState) {
        let Some(certs) = &self.certs else { return };
        if self
            .expiry
            .last_checked
            .is_some_and(|at| at.elapsed() < EXPIRY_CHECK_EVERY)
        {
            return;
        }
        self.expiry.last_checked = Some(std::time::Instant::now());
        let path = certs.settings().cert_path();
        let Some(expiry) = std::fs::read(&path)
            .ok()
            .and_then(|pem| super::tls::expiry::of_pem(&pem))
        else {
            tracing::warn!(path = %path.display(), "cannot read the serving certificate's expiry");
            return;
        };
        state.metrics.certificate_expiry.set(expiry.not_after.timestamp());
        let event = crate::notify::SystemEvent::certificate_expiring(
            path,
            expiry.subject,
            expiry.not_after,
            chrono::Utc::now(),
            self.expiry.warning_days,
        );
        if let Some(event) = event {
            tracing::warn!(not_after = %expiry.not_after, "the serving certificate expires soon");
            if let Some(notifier) = &state.outputs.notifier {
                notifier.notify(event);
            }
        }
    }
}

/// Tells Slack (when configured) that a reload was refused.
fn alert_reload_failure(state: &ServerState, error: &str) {
    if let Some(notifier) = &state.outputs.notifier {
        notifier.notify(crate::notify::SystemEvent::PackReloadFailed {
            error: error.to_owned(),
        });
    }
}

/// Polls every `interval` (on the blocking pool: reading files and compiling CEL) until aborted.
pub async fn run(mut reloader: Reloader, state: Arc<ServerState>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let st = Arc::clone(&state);
        match tokio::task::spawn_blocking(move || {
            reloader.poll(&st);
            reloader
        })
        .await
        {
            Ok(r) => reloader = r,
            Err(e) => {
                tracing::error!(error = %e, "reload task failed; reloads stop");
                return;
            }
        }
    }
}

/// Logs, per pack, the expressions that run on the interpreter rather than as compiled programs
/// (slower; their cost is estimated before they run rather than counted as they run), and the
/// functions compiled programs hand to the interpreter call by call.
pub(crate) fn log_evaluator_coverage(engine: &Engine) {
    for pack in engine.packs() {
        let coverage = &pack.coverage;
        for fallback in &coverage.interpreted {
            tracing::warn!(
                pack = %pack.metadata.name,
                subject = %fallback.subject,
                expression = %fallback.source,
                reason = %fallback.reason,
                "expression runs on the CEL interpreter, not compiled (slower; its cost is estimated before it runs, not counted)"
            );
        }
        if !coverage.bridged.is_empty() {
            tracing::info!(
                pack = %pack.metadata.name,
                functions = ?coverage.bridged,
                "compiled expressions call these functions through the CEL interpreter"
            );
        }
    }
}
