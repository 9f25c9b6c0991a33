//! `celgate serve`: resolve the configuration, load packs and certificates (creating a
//! development CA when there are none), bind, and serve until SIGTERM/SIGINT.

use std::sync::Arc;

use crate::audit::AuditLog;
use crate::cli::ServeArgs;
use crate::config::{self, FlagOverrides, MinTlsVersion, ServeConfig};
use crate::notify::{Notifier, SystemEvent};
use crate::server::{self, tls, Outputs, PackSourceSpec, Reloader, ServerState};

use super::{CommandError, Streams, EXIT_OK};

/// Runs the server; returns 0 after a graceful shutdown.
pub fn run(args: &ServeArgs, _streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    let flags = FlagOverrides {
        listen: args.listen.clone(),
        admin_listen: args.admin_listen.clone(),
        cert_dir: args.cert_dir.clone(),
        packs: args.selection.packs.clone(),
        frameworks: args.selection.frameworks.clone(),
        min_tls_version: args.min_tls_version.clone(),
        client_ca_file: args.client_ca.clone(),
        dns_names: args.dns_names.clone(),
    };
    let config = config::resolve(args.config.as_deref(), &|k| std::env::var(k).ok(), &flags)?;
    server::install_panic_hook();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Output)?;
    runtime.block_on(serve(config, args.config.clone()))?;
    Ok(EXIT_OK)
}

/// TLS settings from the resolved configuration.
pub fn tls_settings(config: &ServeConfig) -> tls::TlsSettings {
    let mut settings = tls::TlsSettings::new(config.cert_dir.clone());
    settings.min_version = match config.min_tls_version {
        MinTlsVersion::Tls12 => tls::TlsVersion::V1_2,
        MinTlsVersion::Tls13 => tls::TlsVersion::V1_3,
    };
    settings.client_ca_file.clone_from(&config.client_ca_file);
    settings.dns_names.clone_from(&config.dns_names);
    settings
}

async fn serve(config: ServeConfig, config_file: Option<std::path::PathBuf>) -> Result<(), CommandError> {
    let settings = tls_settings(&config);
    if let Some(ca) = tls::ensure_dev_certificates(&settings)? {
        tracing::warn!(
            ca = %ca.display(),
            "no certificate in {}: created a development CA and serving certificate; \
             try: curl --cacert {} https://localhost:{}/v1/packs",
            config.cert_dir.display(),
            ca.display(),
            config.listen.port()
        );
    }
    let loaded = tls::load(&settings)?;
    let watcher = tls::CertWatcher::new(settings, loaded.fingerprint);
    let mut reloader = pack_reloader(&config, config_file, watcher);
    let engine = reloader
        .load_packs()?
        .ok_or_else(|| CommandError::Usage("no rule packs loaded".to_owned()))?;
    let tenancy = reloader.load_tenancy(&engine)?.unwrap_or_default();
    log_loaded(&engine, &tenancy);
    let mut scan_metrics = None;
    let state = ServerState::with_outputs(engine, loaded.config, config.limits.clone(), |registry| {
        if config.scan.is_some() {
            scan_metrics = Some(Arc::new(crate::scan::metrics::ScanMetrics::new(registry)));
        }
        start_outputs(&config, registry)
    })?;
    state.tenancy.store(Arc::new(tenancy));
    if let (Some(scan), Some(metrics)) = (&config.scan, scan_metrics) {
        start_periodic_scan(scan, metrics, &state)?;
    }
    if config.client_ca_file.is_some() {
        tracing::info!("/validate and /mutate require a client certificate signed by the client CA; the check API keeps bearer tokens");
    }
    let listener = bind(config.listen).await?;
    let admin = bind(config.admin_listen).await?;
    // Log the bound addresses (a `:0` port is resolved here), so scripts and tests can find them.
    let bound = |l: &tokio::net::TcpListener, fallback| l.local_addr().unwrap_or(fallback);
    tracing::info!(
        listen = %bound(&listener, config.listen),
        admin = %bound(&admin, config.admin_listen),
        "celgate serving"
    );
    let reloads = tokio::spawn(server::run_reloads(
        reloader,
        Arc::clone(&state),
        config.reload_interval,
    ));
    server::serve(
        listener,
        admin,
        Arc::clone(&state),
        shutdown_signal(),
        config.shutdown_grace,
    )
    .await;
    reloads.abort();
    state.outputs.close(config.shutdown_grace).await;
    tracing::info!("celgate stopped");
    Ok(())
}

/// The reloader of packs, config and certificates `serve` runs with.
fn pack_reloader(config: &ServeConfig, config_file: Option<std::path::PathBuf>, watcher: tls::CertWatcher) -> Reloader {
    let spec = if config.packs.is_empty() {
        PackSourceSpec::Embedded
    } else {
        PackSourceSpec::Paths(config.packs.clone())
    };
    let mut reloader = Reloader::new(spec, config.frameworks.clone(), Some(watcher))
        .with_params(config.params.clone())
        .with_cost_limits(config.limits.cel_cost);
    if let Some(path) = config_file {
        reloader = reloader.with_config(path);
    }
    if let Some(slack) = &config.slack {
        reloader = reloader.with_certificate_warning_days(slack.certificate_warning_days);
    }
    reloader
}

/// Logs what was loaded: tenants, packs, unbound policies and params still holding examples.
fn log_loaded(engine: &crate::engine::Engine, tenancy: &crate::tenant::Tenancy) {
    if !tenancy.is_empty() {
        tracing::info!(
            tenants = tenancy.tenants().len(),
            expired_exceptions = ?tenancy.expired_exceptions(),
            "tenancy loaded; the check API requires bearer tokens"
        );
    }
    tracing::info!(
        packs = engine.packs().len(),
        rules = engine.rule_count(),
        "rule packs loaded"
    );
    for policy in engine.unbound_policies() {
        tracing::warn!(policy = %policy.name, "{policy}");
    }
    crate::server::log_evaluator_coverage(engine);
    for unconfigured in engine.unconfigured_params(&serde_json::Map::new(), &crate::engine::NoOverrides) {
        tracing::warn!(
            pack = %unconfigured.pack,
            param = %unconfigured.param,
            example = %unconfigured.example,
            rules = %unconfigured.rules.join(", "),
            "params.{} still holds the example value the pack ships: its rules warn instead of denying \
             for objects of tenants whose params do not set it (configure it in a tenant's params or the pack's spec.params)",
            unconfigured.param
        );
    }
}

/// Listens on `addr`.
async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, CommandError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CommandError::Usage(format!("cannot listen on {addr}: {e}")))
}

/// The audit trail and the Slack notifier the configuration asks for, their metrics in `registry`.
/// Audit write failures are alerted through Slack.
fn start_outputs(
    config: &ServeConfig,
    registry: &mut prometheus_client::registry::Registry,
) -> Result<Outputs, CommandError> {
    let notifier = match &config.slack {
        Some(slack) => {
            let resolved = slack
                .resolve(&|k| std::env::var(k).ok())
                .map_err(crate::config::ConfigError::from)?;
            Some(Notifier::start(&resolved, registry))
        }
        None => None,
    };
    let audit = match &config.audit {
        Some(audit) => {
            let log = AuditLog::start(audit, registry)?;
            tracing::info!(dir = %audit.dir_or_default().display(), required = audit.required, "audit trail open");
            if let Some(notifier) = notifier.clone() {
                log.on_failure(move |failure| {
                    notifier.notify(SystemEvent::AuditWriteFailing {
                        error: failure.error.to_string(),
                    });
                });
            }
            Some(log)
        }
        None => None,
    };
    Ok(Outputs { audit, notifier })
}

/// Starts the periodic scan (`scan:`) on its own thread, with the packs and tenancy in force at
/// each scan.
fn start_periodic_scan(
    config: &crate::scan::config::ScanConfig,
    metrics: Arc<crate::scan::metrics::ScanMetrics>,
    state: &Arc<ServerState>,
) -> Result<(), CommandError> {
    use crate::scan::periodic::PeriodicScan;
    let lease = PeriodicScan::lease_settings(config, &|k| std::env::var(k).ok());
    tracing::info!(
        interval_seconds = config.interval_seconds,
        lease = %format!("{}/{}", lease.namespace, lease.name),
        holder = %lease.holder,
        "periodic scan enabled"
    );
    let shared = Arc::clone(state);
    let periodic = PeriodicScan {
        config: config.clone(),
        lease,
        metrics,
        notifier: state.outputs.notifier.clone(),
        current: Arc::new(move || (shared.engine.load_full(), shared.tenancy.load_full())),
    };
    periodic.spawn().map_err(CommandError::Output)?;
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
