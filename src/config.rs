//! Server configuration: built-in defaults < the config file (`celgate.yaml`) < `CELGATE_*`
//! environment variables < command-line flags, validated once at start. Every error names the
//! setting and where its value came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::tenant::TenancySpec;

/// Minimum TLS protocol version the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinTlsVersion {
    /// TLS 1.2 and 1.3.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Resource limits that protect the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body; larger gets 413.
    pub max_body_bytes: usize,
    /// Request bytes being read or judged at once (the memory budget); beyond it, requests
    /// wait (within the body-read deadline) or get 503.
    pub max_buffered_bytes: usize,
    /// Open client connections at once; beyond it, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Deadline for receiving a whole request body; a slower one gets 408.
    pub body_read_timeout: Duration,
    /// Evaluations running at once; more wait for a slot.
    pub max_concurrent_evaluations: usize,
    /// TLS handshake deadline.
    pub handshake_timeout: Duration,
    /// Deadline for reading the request headers (slow-loris).
    pub header_read_timeout: Duration,
    /// Whole-request deadline for the check API (admission uses the webhook timeout).
    pub request_timeout: Duration,
    /// CEL cost budgets of the engine (per expression, per request).
    pub cel_cost: crate::engine::cel::cost::CostLimits,
}

/// The default of `limits.maxBufferedBytes`: with the deploy/ memory limit of 256 MiB, room for
/// the peak of what these bytes become once parsed and judged (about 10 times their size for
/// many small containers), above the idle process.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 16 * 1024 * 1024;

/// The resolved server configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// TLS listen address.
    pub listen: SocketAddr,
    /// Plain-HTTP admin address (`/livez`, `/readyz`, `/metrics`).
    pub admin_listen: SocketAddr,
    /// Folder with `tls.crt`, `tls.key` (and `ca.crt`).
    pub cert_dir: PathBuf,
    /// Pack folders or files; empty means the shipped packs.
    pub packs: Vec<PathBuf>,
    /// Only these packs; empty means all.
    pub frameworks: Vec<String>,
    /// Minimum TLS version.
    pub min_tls_version: MinTlsVersion,
    /// CA that client certificates must chain to; none means no client authentication.
    pub client_ca_file: Option<PathBuf>,
    /// Extra SANs for a generated development certificate.
    pub dns_names: Vec<String>,
    /// Protection limits.
    pub limits: Limits,
    /// How often certificate and pack files are re-read.
    pub reload_interval: Duration,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// The audit trail of decisions (`audit:`); none when the section is absent.
    pub audit: Option<crate::audit::AuditConfig>,
    /// Slack alerts (`slack:`); none when the section is absent.
    pub slack: Option<crate::notify::SlackConfig>,
    /// Files with param objects for admission policies' `paramRef` (`params:`).
    pub params: Vec<PathBuf>,
    /// The periodic scan of the cluster (`scan:`); none when the section is absent.
    pub scan: Option<crate::scan::config::ScanConfig>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        ServeConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            cert_dir: PathBuf::from("certs"),
            packs: Vec::new(),
            frameworks: Vec::new(),
            min_tls_version: MinTlsVersion::Tls12,
            client_ca_file: None,
            dns_names: Vec::new(),
            limits: Limits {
                max_body_bytes: 3 * 1024 * 1024,
                max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
                max_connections: 1024,
                body_read_timeout: Duration::from_secs(10),
                max_concurrent_evaluations: 2 * cores,
                handshake_timeout: Duration::from_secs(5),
                header_read_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(10),
                cel_cost: crate::engine::cel::cost::CostLimits::default(),
            },
            reload_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(20),
            audit: None,
            slack: None,
            params: Vec::new(),
            scan: None,
        }
    }
}

/// Values given on the command line (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--admin-listen`.
    pub admin_listen: Option<String>,
    /// `--cert-dir`.
    pub cert_dir: Option<PathBuf>,
    /// `--packs` (repeatable; replaces lower layers when given).
    pub packs: Vec<PathBuf>,
    /// `--framework` (repeatable).
    pub frameworks: Vec<String>,
    /// `--min-tls-version`.
    pub min_tls_version: Option<String>,
    /// `--client-ca`.
    pub client_ca_file: Option<PathBuf>,
    /// `--dns` (repeatable).
    pub dns_names: Vec<String>,
}

/// A setting that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not UTF-8.
    #[error("config file {path}: not UTF-8: {source}")]
    NotUtf8 {
        /// The file.
        path: String,
        /// Where the text stops being UTF-8.
        #[source]
        source: std::string::FromUtf8Error,
    },
    /// The config file is not YAML.
    #[error("config file {path}: {source}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's error, with line and column.
        #[source]
        source: crate::source::SourceError,
    },
    /// A field of the config file is unknown or of the wrong type.
    #[error("config file {path}: {field}: {message}")]
    Schema {
        /// The file.
        path: String,
        /// Path of the field (`tls.minVersion`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A value that does not parse or is out of range.
    #[error("{setting} = {value:?} (from {origin}): {message}")]
    Invalid {
        /// Setting name as the config file spells it.
        setting: &'static str,
        /// The value.
        value: String,
        /// `config file`, `CELGATE_...` or `--flag`.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The `audit:` section cannot be used.
    #[error("{0}")]
    Audit(#[from] crate::audit::AuditConfigError),
    /// The `slack:` section cannot be used.
    #[error("{0}")]
    Slack(#[from] crate::notify::SlackConfigError),
    /// The `scan:` section cannot be used.
    #[error("{0}")]
    Scan(#[from] crate::scan::config::ScanConfigError),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileConfig {
    listen: Option<String>,
    admin_listen: Option<String>,
    cert_dir: Option<PathBuf>,
    packs: Option<Vec<PathBuf>>,
    frameworks: Option<Vec<String>>,
    #[serde(default)]
    tls: FileTls,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    reload: FileReload,
    #[serde(default)]
    shutdown: FileShutdown,
    audit: Option<crate::audit::AuditConfig>,
    slack: Option<crate::notify::SlackConfig>,
    scan: Option<crate::scan::config::ScanConfig>,
    #[serde(default)]
    params: Vec<PathBuf>,
    // Tenancy (read by `serve` and by `check --config`; see `crate::tenant`).
    environment: Option<String>,
    #[serde(default)]
    tenants: Vec<crate::tenant::spec::TenantSpec>,
    #[serde(default)]
    environments: Vec<crate::tenant::spec::EnvironmentSpec>,
    #[serde(default)]
    exceptions: Vec<crate::tenant::spec::ExceptionSpec>,
    #[serde(default)]
    exception_policy: crate::tenant::spec::ExceptionPolicySpec,
}

impl FileConfig {
    fn tenancy(&self) -> TenancySpec {
        TenancySpec {
            environment: self.environment.clone(),
            tenants: self.tenants.clone(),
            environments: self.environments.clone(),
            exceptions: self.exceptions.clone(),
            exception_policy: self.exception_policy.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileTls {
    min_version: Option<String>,
    client_ca_file: Option<PathBuf>,
    dns_names: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileLimits {
    max_body_bytes: Option<u64>,
    max_buffered_bytes: Option<u64>,
    max_connections: Option<u64>,
    body_read_timeout_ms: Option<u64>,
    max_concurrent_evaluations: Option<u64>,
    handshake_timeout_ms: Option<u64>,
    header_read_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    cel_cost_per_expression: Option<u64>,
    cel_cost_per_request: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileReload {
    interval_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileShutdown {
    grace_period_seconds: Option<u64>,
}

/// Resolves the configuration from the file (if any), the environment (`env` looks a
/// variable up; pass `|k| std::env::var(k).ok()` in production) and the flags.
pub fn resolve(
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    flags: &FlagOverrides,
) -> Result<ServeConfig, ConfigError> {
    let mut config = ServeConfig::default();
    if let Some(path) = file {
        apply_file(&mut config, path)?;
    }
    apply_env(&mut config, env)?;
    apply_flags(&mut config, flags)?;
    if config.limits.max_body_bytes == 0 {
        return Err(invalid("limits.maxBodyBytes", "0", "resolved", "must be positive"));
    }
    if config.limits.max_buffered_bytes < config.limits.max_body_bytes {
        return Err(invalid(
            "limits.maxBufferedBytes",
            &config.limits.max_buffered_bytes.to_string(),
            "resolved",
            "must be at least limits.maxBodyBytes (one largest body must fit)",
        ));
    }
    if config.limits.max_concurrent_evaluations == 0 {
        return Err(invalid(
            "limits.maxConcurrentEvaluations",
            "0",
            "resolved",
            "must be positive",
        ));
    }
    if config.reload_interval.is_zero() {
        return Err(invalid("reload.intervalSeconds", "0", "resolved", "must be positive"));
    }
    Ok(config)
}

fn invalid(setting: &'static str, value: &str, origin: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        setting,
        value: value.to_owned(),
        origin: origin.to_owned(),
        message: message.to_owned(),
    }
}

fn parse_addr(setting: &'static str, value: &str, origin: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|e: std::net::AddrParseError| {
        invalid(
            setting,
            value,
            origin,
            &format!("not an address like 0.0.0.0:8443 ({e})"),
        )
    })
}

fn parse_tls(value: &str, origin: &str) -> Result<MinTlsVersion, ConfigError> {
    match value.trim() {
        "1.2" => Ok(MinTlsVersion::Tls12),
        "1.3" => Ok(MinTlsVersion::Tls13),
        _ => Err(invalid("tls.minVersion", value, origin, "must be \"1.2\" or \"1.3\"")),
    }
}

fn positive(setting: &'static str, value: u64, origin: &str) -> Result<u64, ConfigError> {
    if value == 0 {
        Err(invalid(setting, "0", origin, "must be positive"))
    } else {
        Ok(value)
    }
}

fn to_usize(setting: &'static str, value: u64, origin: &str) -> Result<usize, ConfigError> {
    usize::try_from(positive(setting, value, origin)?)
        .map_err(|_| invalid(setting, &value.to_string(), origin, "too large"))
}

/// Reads and checks the whole config file (unknown keys are errors) and returns its tenancy
/// sections: what `check --config` and the server's config reload use.
pub fn read_tenancy(path: &Path) -> Result<TenancySpec, ConfigError> {
    read_file(path).map(|f| f.tenancy())
}

/// Reads the config file from already-read `text` (the reloader reads the bytes itself to see
/// whether they changed).
pub fn parse_tenancy(path: &Path, text: &str) -> Result<TenancySpec, ConfigError> {
    parse_file(path, text).map(|f| f.tenancy())
}

/// What a config reload reads from the file: the tenancy sections, and whether the file asks for
/// client certificates on the admission routes (`tls.clientCaFile`), so a reload that drops it
/// can be refused.
#[derive(Debug, Clone, Default)]
pub struct Reloadable {
    /// The tenancy sections.
    pub tenancy: TenancySpec,
    /// `tls.clientCaFile` of the file, when set.
    pub client_ca_file: Option<PathBuf>,
}

/// Like [`parse_tenancy`], also returning `tls.clientCaFile`.
pub fn parse_reloadable(path: &Path, text: &str) -> Result<Reloadable, ConfigError> {
    parse_file(path, text).map(|f| Reloadable {
        tenancy: f.tenancy(),
        client_ca_file: f.tls.client_ca_file.clone(),
    })
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_file(path, &text)
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    let docs = crate::source::parse_documents(text).map_err(|source| ConfigError::Syntax {
        path: path.display().to_string(),
        source,
    })?;
    let value = match docs.into_iter().next() {
        Some(doc) => doc.value,
        None => serde_json::Value::Object(serde_json::Map::new()),
    };
    serde_path_to_error::deserialize(value).map_err(|e| ConfigError::Schema {
        path: path.display().to_string(),
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// Applies the settings a config file sets over `config`.
fn apply_file(config: &mut ServeConfig, path: &Path) -> Result<(), ConfigError> {
    let shown = path.display().to_string();
    let file = read_file(path)?;
    let origin = format!("config file {shown}");
    if let Some(v) = &file.listen {
        config.listen = parse_addr("listen", v, &origin)?;
    }
    if let Some(v) = &file.admin_listen {
        config.admin_listen = parse_addr("adminListen", v, &origin)?;
    }
    if let Some(v) = file.cert_dir {
        config.cert_dir = v;
    }
    if let Some(v) = file.packs {
        config.packs = v;
    }
    if let Some(v) = file.frameworks {
        config.frameworks = v;
    }
    if let Some(v) = &file.tls.min_version {
        config.min_tls_version = parse_tls(v, &origin)?;
    }
    if let Some(v) = file.tls.client_ca_file {
        config.client_ca_file = Some(v);
    }
    if let Some(v) = file.tls.dns_names {
        config.dns_names = v;
    }
    apply_limits(&mut config.limits, &file.limits, &origin)?;
    if let Some(v) = file.reload.interval_seconds {
        config.reload_interval = Duration::from_secs(positive("reload.intervalSeconds", v, &origin)?);
    }
    if let Some(v) = file.shutdown.grace_period_seconds {
        config.shutdown_grace = Duration::from_secs(v);
    }
    if let Some(audit) = file.audit {
        audit.validate()?;
        config.audit = Some(audit);
    }
    if let Some(slack) = file.slack {
        slack.validate()?;
        config.slack = Some(slack);
    }
    if let Some(scan) = file.scan {
        scan.validate()?;
        config.scan = Some(scan);
    }
    config.params = file.params;
    Ok(())
}

/// Applies the `limits` section of a config file.
fn apply_limits(limits: &mut Limits, l: &FileLimits, origin: &str) -> Result<(), ConfigError> {
    if let Some(v) = l.max_body_bytes {
        limits.max_body_bytes = to_usize("limits.maxBodyBytes", v, origin)?;
    }
    if let Some(v) = l.max_buffered_bytes {
        limits.max_buffered_bytes = to_usize(
            "limits.maxBufferedBytes",
            positive("limits.maxBufferedBytes", v, origin)?,
            origin,
        )?;
    }
    if let Some(v) = l.max_connections {
        limits.max_connections = to_usize(
            "limits.maxConnections",
            positive("limits.maxConnections", v, origin)?,
            origin,
        )?;
    }
    if let Some(v) = l.body_read_timeout_ms {
        limits.body_read_timeout = Duration::from_millis(positive("limits.bodyReadTimeoutMs", v, origin)?);
    }
    if let Some(v) = l.max_concurrent_evaluations {
        limits.max_concurrent_evaluations = to_usize("limits.maxConcurrentEvaluations", v, origin)?;
    }
    if let Some(v) = l.handshake_timeout_ms {
        limits.handshake_timeout = Duration::from_millis(positive("limits.handshakeTimeoutMs", v, origin)?);
    }
    if let Some(v) = l.header_read_timeout_ms {
        limits.header_read_timeout = Duration::from_millis(positive("limits.headerReadTimeoutMs", v, origin)?);
    }
    if let Some(v) = l.request_timeout_ms {
        limits.request_timeout = Duration::from_millis(positive("limits.requestTimeoutMs", v, origin)?);
    }
    if let Some(v) = l.cel_cost_per_expression {
        limits.cel_cost.per_expression = u128::from(positive("limits.celCostPerExpression", v, origin)?);
    }
    if let Some(v) = l.cel_cost_per_request {
        limits.cel_cost.per_request = u128::from(positive("limits.celCostPerRequest", v, origin)?);
    }
    Ok(())
}

fn env_u64(setting: &'static str, var: &str, value: &str) -> Result<u64, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(setting, value, var, "must be a whole number"))
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn apply_env(config: &mut ServeConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    if let Some(v) = env("CELGATE_LISTEN") {
        config.listen = parse_addr("listen", &v, "CELGATE_LISTEN")?;
    }
    if let Some(v) = env("CELGATE_ADMIN_LISTEN") {
        config.admin_listen = parse_addr("adminListen", &v, "CELGATE_ADMIN_LISTEN")?;
    }
    if let Some(v) = env("CELGATE_CERT_DIR") {
        config.cert_dir = PathBuf::from(v);
    }
    if let Some(v) = env("CELGATE_PACKS") {
        config.packs = list(&v).into_iter().map(PathBuf::from).collect();
    }
    if let Some(v) = env("CELGATE_FRAMEWORKS") {
        config.frameworks = list(&v);
    }
    if let Some(v) = env("CELGATE_MIN_TLS_VERSION") {
        config.min_tls_version = parse_tls(&v, "CELGATE_MIN_TLS_VERSION")?;
    }
    if let Some(v) = env("CELGATE_CLIENT_CA") {
        config.client_ca_file = Some(PathBuf::from(v));
    }
    if let Some(v) = env("CELGATE_DNS_NAMES") {
        config.dns_names = list(&v);
    }
    if let Some(v) = env("CELGATE_MAX_BODY_BYTES") {
        let n = env_u64("limits.maxBodyBytes", "CELGATE_MAX_BODY_BYTES", &v)?;
        config.limits.max_body_bytes = to_usize("limits.maxBodyBytes", n, "CELGATE_MAX_BODY_BYTES")?;
    }
    if let Some(v) = env("CELGATE_MAX_CONCURRENT_EVALUATIONS") {
        let var = "CELGATE_MAX_CONCURRENT_EVALUATIONS";
        let n = env_u64("limits.maxConcurrentEvaluations", var, &v)?;
        config.limits.max_concurrent_evaluations = to_usize("limits.maxConcurrentEvaluations", n, var)?;
    }
    if let Some(v) = env("CELGATE_RELOAD_INTERVAL") {
        let n = env_u64("reload.intervalSeconds", "CELGATE_RELOAD_INTERVAL", &v)?;
        config.reload_interval = Duration::from_secs(positive("reload.intervalSeconds", n, "CELGATE_RELOAD_INTERVAL")?);
    }
    if let Some(v) = env("CELGATE_SHUTDOWN_GRACE") {
        config.shutdown_grace =
            Duration::from_secs(env_u64("shutdown.gracePeriodSeconds", "CELGATE_SHUTDOWN_GRACE", &v)?);
    }
    Ok(())
}

fn apply_flags(config: &mut ServeConfig, flags: &FlagOverrides) -> Result<(), ConfigError> {
    if let Some(v) = &flags.listen {
        config.listen = parse_addr("listen", v, "--listen")?;
    }
    if let Some(v) = &flags.admin_listen {
        config.admin_listen = parse_addr("adminListen", v, "--admin-listen")?;
    }
    if let Some(v) = &flags.cert_dir {
        config.cert_dir.clone_from(v);
    }
    if !flags.packs.is_empty() {
        config.packs.clone_from(&flags.packs);
    }
    if !flags.frameworks.is_empty() {
        config.frameworks.clone_from(&flags.frameworks);
    }
    if let Some(v) = &flags.min_tls_version {
        config.min_tls_version = parse_tls(v, "--min-tls-version")?;
    }
    if let Some(v) = &flags.client_ca_file {
        config.client_ca_file = Some(v.clone());
    }
    if !flags.dns_names.is_empty() {
        config.dns_names.clone_from(&flags.dns_names);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("celgate.yaml");
        std::fs::write(&file, "listen: 127.0.0.1:9000\nadminListen: 127.0.0.1:9001\ntls: {minVersion: \"1.3\"}\nlimits: {maxBodyBytes: 1000}\n")
            .expect("write");
        let env = |k: &str| (k == "CELGATE_ADMIN_LISTEN").then(|| "127.0.0.1:9101".to_owned());
        let flags = FlagOverrides {
            listen: Some("127.0.0.1:9200".into()),
            ..FlagOverrides::default()
        };
        let c = resolve(Some(&file), &env, &flags).expect("valid");
        assert_eq!(c.listen.port(), 9200, "flag beats file");
        assert_eq!(c.admin_listen.port(), 9101, "env beats file");
        assert_eq!(c.min_tls_version, MinTlsVersion::Tls13, "file beats default");
        assert_eq!(c.limits.max_body_bytes, 1000);
        assert_eq!(c.reload_interval, Duration::from_secs(10), "default");
    }

    #[test]
    fn file_errors_keep_their_cause() {
        let missing = read_file(Path::new("/nonexistent/celgate.yaml")).expect_err("no such file");
        assert!(matches!(missing, ConfigError::Read { .. }), "{missing:?}");
        assert!(std::error::Error::source(&missing).is_some());
        let bad = parse_file(Path::new("c.yaml"), "a: [").expect_err("not YAML");
        assert!(matches!(bad, ConfigError::Syntax { .. }), "{bad:?}");
        assert!(std::error::Error::source(&bad).is_some());
        let unknown = parse_file(Path::new("c.yaml"), "nosuchsetting: 1").expect_err("unknown field");
        assert!(unknown.to_string().starts_with("config file c.yaml: "), "{unknown}");
        assert!(matches!(unknown, ConfigError::Schema { .. }), "{unknown:?}");
    }

    #[test]
    fn errors_name_setting_and_origin() {
        let env = |k: &str| (k == "CELGATE_MIN_TLS_VERSION").then(|| "1.1".to_owned());
        let err = resolve(None, &env, &FlagOverrides::default()).expect_err("invalid");
        assert_eq!(
            err.to_string(),
            "tls.minVersion = \"1.1\" (from CELGATE_MIN_TLS_VERSION): must be \"1.2\" or \"1.3\""
        );
        let flags = FlagOverrides {
            listen: Some("nowhere".into()),
            ..FlagOverrides::default()
        };
        let err = resolve(None, &no_env, &flags).expect_err("invalid");
        assert!(
            err.to_string().starts_with("listen = \"nowhere\" (from --listen)"),
            "{err}"
        );
    }

    #[test]
    fn the_shipped_deploy_config_resolves() {
        let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/20-configmap.yaml");
        let text = std::fs::read_to_string(&manifest).expect("deploy config map");
        let docs = crate::source::parse_documents(&text).expect("YAML");
        let embedded = docs[0].value["data"]["celgate.yaml"]
            .as_str()
            .expect("celgate.yaml key")
            .to_owned();
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("celgate.yaml");
        std::fs::write(&file, embedded).expect("write");
        let c = resolve(Some(&file), &no_env, &FlagOverrides::default()).expect("deploy config is valid");
        assert_eq!(c.listen.port(), 8443);
        let audit = c.audit.expect("audit section");
        assert_eq!(
            audit.dir.as_deref(),
            Some(std::path::Path::new("/var/lib/celgate/audit"))
        );
        read_tenancy(&file).expect("tenancy sections parse");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("celgate.yaml");
        std::fs::write(&file, "limits: {maxBody: 3}\n").expect("write");
        let err = resolve(Some(&file), &no_env, &FlagOverrides::default()).expect_err("invalid");
        assert!(
            err.to_string().contains("limits.maxBody: unknown field `maxBody`"),
            "{err}"
        );
    }
}
