//! Transport only (design §2): the TLS listener for the webhooks and the check API, the plain
//! admin listener, certificate and pack reloads, and graceful shutdown. Decisions come from the
//! [`crate::service`]; the AdmissionReview format from [`crate::review`].
//!
//! The server takes already-bound listeners and a shutdown future, so tests bind `127.0.0.1:0`.
//!
//! Its modules:
//! - `routes`: dispatch and the count of every request; `api_error`: every refusal, typed, and
//!   the one place it becomes a status and a body; `guard`: in-flight counting, panics caught;
//! - the doors: `admission` (`/validate`, `/mutate`), `check_api` with `check_body`
//!   (`POST /v1/check`), `packs_api` (`GET /v1/packs`);
//! - `body`: reading bodies within their limit, deadline and memory budget; `judging`: reading,
//!   judging (through the service) and answering on the evaluation [`pool`]; `outputs`: the audit
//!   record and Slack event sent once the answer is certain; `deadline`: the evaluation clock;
//! - [`tls`], `reload`, `reload_guard`: certificates, pack and config reloads and what a reload
//!   may not weaken; `admin`: the health, readiness and metrics listener; [`log_line`]: the JSON
//!   line every log event is written as.

mod admin;
mod admission;
mod api_error;
mod body;
mod check_api;
mod check_body;
mod deadline;
mod guard;
mod judging;
pub mod log_line;
mod outputs;
mod packs_api;
pub mod pool;
mod reload;
mod reload_guard;
mod routes;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::config::Limits;
use crate::engine::Engine;
use crate::metrics::Metrics;

pub use body::BodyBudget;
pub use guard::install_panic_hook;
pub(crate) use reload::log_evaluator_coverage;
pub use reload::{run as run_reloads, LoadError, PackSourceSpec, Reloader};
pub use reload_guard::Weakening;

/// What every request handler shares. Swappable parts are behind [`ArcSwap`]s so a reload
/// replaces them whole while requests keep the version they started with.
pub struct ServerState {
    /// The compiled packs in force.
    pub engine: ArcSwap<Engine>,
    /// Tenants, environments, modes and exceptions in force (empty: no tenancy).
    pub tenancy: ArcSwap<crate::tenant::Tenancy>,
    /// The TLS configuration in force.
    pub tls: ArcSwap<rustls::ServerConfig>,
    /// Metric families.
    pub metrics: Metrics,
    /// The registry `metrics` are in (rendered by `/metrics`).
    pub registry: Registry,
    /// Protection limits.
    pub limits: Limits,
    /// The threads that run the engine; their number bounds concurrent evaluations.
    pub pool: pool::EvalPool,
    /// The budget of request bytes being read or judged at once (`limits.maxBufferedBytes`).
    pub bodies: body::BodyBudget,
    /// One permit: large bodies are judged one at a time.
    pub large_evaluations: Arc<tokio::sync::Semaphore>,
    /// True once packs and certificates are loaded.
    pub ready: AtomicBool,
    /// True once shutdown began: `/readyz` answers 503.
    pub draining: AtomicBool,
    /// Where decisions and trouble go besides the answer: the audit trail and Slack.
    pub outputs: Outputs,
}

/// The optional sinks of decisions (design §1: "audit log, metrics, Slack — async, never
/// blocking").
#[derive(Default)]
pub struct Outputs {
    /// The audit trail, when `audit:` is configured.
    pub audit: Option<crate::audit::AuditLog>,
    /// The Slack notifier, when `slack:` is configured.
    pub notifier: Option<crate::notify::Notifier>,
}

impl Outputs {
    /// Flushes the audit queue and posts what Slack still has queued, within `grace`.
    pub async fn close(&self, grace: Duration) {
        if let Some(audit) = self.audit.clone() {
            let closed = tokio::task::spawn_blocking(move || audit.close()).await;
            match closed {
                Ok(Ok(())) => tracing::info!("audit trail flushed"),
                Ok(Err(e)) => tracing::error!(error = %e, "audit trail could not be flushed"),
                Err(e) => tracing::error!(error = %e, "audit flush task failed"),
            }
        }
        if let Some(notifier) = &self.notifier {
            notifier.shutdown(grace).await;
        }
    }
}

impl ServerState {
    /// State with `engine` and `tls` loaded (ready), metrics registered in a new registry.
    pub fn new(engine: Engine, tls: Arc<rustls::ServerConfig>, limits: Limits) -> Arc<ServerState> {
        let built: Result<_, std::convert::Infallible> =
            ServerState::with_outputs(engine, tls, limits, |_| Ok(Outputs::default()));
        match built {
            Ok(state) => state,
        }
    }

    /// Like [`ServerState::new`], with the audit trail and Slack notifier `outputs` makes; it gets
    /// the registry so their metrics are served by `/metrics` too.
    pub fn with_outputs<E>(
        engine: Engine,
        tls: Arc<rustls::ServerConfig>,
        limits: Limits,
        outputs: impl FnOnce(&mut Registry) -> Result<Outputs, E>,
    ) -> Result<Arc<ServerState>, E> {
        let mut registry = Registry::default();
        let metrics = Metrics::new(&mut registry);
        let outputs = outputs(&mut registry)?;
        Ok(Arc::new(ServerState {
            engine: ArcSwap::from_pointee(engine),
            tenancy: ArcSwap::from_pointee(crate::tenant::Tenancy::default()),
            tls: ArcSwap::new(tls),
            metrics,
            registry,
            pool: pool::EvalPool::new(limits.max_concurrent_evaluations),
            bodies: body::BodyBudget::new(limits.max_buffered_bytes),
            large_evaluations: Arc::new(tokio::sync::Semaphore::new(1)),
            limits,
            ready: AtomicBool::new(true),
            draining: AtomicBool::new(false),
            outputs,
        }))
    }

    /// Ready to take traffic: loaded and not draining.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !self.draining.load(Ordering::Acquire)
    }
}

/// Serves TLS on `listener` and the admin endpoints on `admin` until `shutdown` completes;
/// then readiness flips, both listeners close, and in-flight requests get `grace` to finish.
pub async fn serve(
    listener: TcpListener,
    admin: TcpListener,
    state: Arc<ServerState>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let admin_thread = admin::spawn(admin, Arc::clone(&state));
    // Beyond `limits.maxConnections` open connections, new ones wait in the listen backlog.
    let connections = Arc::new(tokio::sync::Semaphore::new(state.limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        // Back off briefly on resource exhaustion (EMFILE) instead of spinning.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tracing::debug!(%peer, "accepted");
                spawn_connection(stream, peer, Arc::clone(&state), &graceful, permit);
            }
        }
    }
    state.draining.store(true, Ordering::Release);
    drop(listener);
    tracing::info!(
        grace_seconds = grace.as_secs_f64(),
        "shutting down: draining in-flight requests"
    );
    if tokio::time::timeout(grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("grace period over; closing remaining connections");
    }
    admin_thread.stop();
}

fn spawn_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: Arc<ServerState>,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let acceptor = tls::acceptor(&state.tls);
    let handshake_timeout = state.limits.handshake_timeout;
    let header_timeout = state.limits.header_read_timeout;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .max_concurrent_streams(256);
    let watcher = graceful.watcher();
    tokio::spawn(async move {
        let _permit = permit;
        let tls_stream = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
        tracing::debug!(%peer, "TLS handshake done");
        let caller = routes::ClientCertificate(tls::has_client_certificate(tls_stream.get_ref().1));
        let service = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(caller);
            routes::handle(Arc::clone(&state), req)
        });
        let conn = builder.serve_connection(
            TokioIo::new(deadline::FirstByteDeadline::new(tls_stream, header_timeout)),
            service,
        );
        if let Err(e) = watcher.watch(conn.into_owned()).await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    });
}
