//! The command line (design §6), as `clap` derive types. `main.rs` parses it and calls
//! [`crate::commands::run`].

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// celgate: compliance policy engine for Kubernetes objects and config documents, with rule
/// packs written in CEL.
#[derive(Debug, Parser)]
#[command(name = "celgate", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check files, folders or stdin against the rule packs; exit 0 allowed, 1 denied, 2 error.
    Check(CheckArgs),
    /// Judge what already runs in a cluster (audit mode: nothing is blocked) and print the
    /// policy reports, or write them to the cluster with `--apply`; exit 0 allowed, 1 a deny, 2 error.
    Scan(ScanArgs),
    /// Compile and evaluate one CEL expression in the packs' environment; print the result as JSON.
    Eval(EvalArgs),
    /// Run the test cases of rule packs (default: the shipped packs).
    Test(TestArgs),
    /// Run the admission server: webhooks and the check API over TLS, probes and metrics on the
    /// admin port.
    Serve(ServeArgs),
    /// Create a CA and a serving certificate for a cluster Service; print the caBundle.
    Certs(CertsArgs),
    /// Render the rule reference as Markdown (default: the shipped packs), or check a copy of it.
    Docs(DocsArgs),
    /// Verify, read and manage the audit trail of decisions.
    Audit(AuditArgs),
    /// Check-API bearer tokens for tenants.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `celgate token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a fresh random token for a tenant and the line that puts its hash in the config.
    New(TokenNewArgs),
}

/// `celgate token new`.
#[derive(Debug, clap::Args)]
pub struct TokenNewArgs {
    /// The tenant the token is for.
    #[arg(long, value_name = "NAME")]
    pub tenant: String,
    /// What the token is for (shown in logs, e.g. `ci`).
    #[arg(long, value_name = "NAME", default_value = "ci")]
    pub name: String,
}

/// `celgate serve` (settings: defaults < config file < `CELGATE_*` env < these flags).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file (`celgate.yaml`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// TLS address for the webhooks and the check API [default: 0.0.0.0:8443].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Plain-HTTP admin address for /livez, /readyz, /metrics [default: 0.0.0.0:8080].
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// Folder with tls.crt and tls.key (a development CA and pair are created when empty)
    /// [default: ./certs].
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Which packs to use.
    #[command(flatten)]
    pub selection: PackSelection,
    /// Minimum TLS version: 1.2 or 1.3 [default: 1.2].
    #[arg(long, value_name = "VERSION")]
    pub min_tls_version: Option<String>,
    /// Require client certificates signed by this CA (e.g. the kube-apiserver's).
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,
    /// Extra DNS name for a generated development certificate (repeatable).
    #[arg(long = "dns", value_name = "NAME")]
    pub dns_names: Vec<String>,
}

/// `celgate certs`.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Folder to write ca.crt, ca.key, tls.crt and tls.key into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// DNS name of the Service (repeatable), e.g. celgate.celgate-system.svc.
    #[arg(long = "dns", value_name = "NAME", required = true)]
    pub dns_names: Vec<String>,
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: verdict first, most severe findings first, <file:line:col>.
    Text,
    /// One JSON record per document (design §6).
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
    /// `JUnit` XML, one testcase per document and rule.
    Junit,
    /// wgpolicyk8s.io/v1alpha2 `PolicyReport` per namespace and `ClusterPolicyReport`, as a
    /// multi-document YAML stream for `kubectl apply -f -`.
    Policyreport,
    /// openreports.io/v1alpha1 `Report` per namespace and `ClusterReport`, as a multi-document
    /// YAML stream for `kubectl apply -f -`.
    Openreports,
}

/// When to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// `--packs` and `--framework`, shared by the commands that judge documents.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PackSelection {
    /// Rule-pack folder or file to use instead of the shipped packs (repeatable).
    #[arg(long = "packs", value_name = "DIR")]
    pub packs: Vec<PathBuf>,
    /// Only use these packs (soc2, gdpr, hipaa, or any loaded pack name; repeatable).
    #[arg(long = "framework", value_name = "NAME")]
    pub frameworks: Vec<String>,
}

/// `--config`, `--tenant` and `--environment`: whose configuration judges, shared by the
/// commands that judge documents.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TenancyArgs {
    /// Config file (`celgate.yaml`) whose tenants, environments, modes and exceptions apply, as
    /// at admission.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Tenant every document belongs to (visible to rules as `request.tenant`); with `--config`,
    /// its modes, params and exceptions apply (without it, each document's namespace decides).
    #[arg(long, value_name = "NAME")]
    pub tenant: Option<String>,
    /// Environment every document is for (visible to rules as `request.environment`); with
    /// `--config`, its mode overrides apply (without it, the one its namespace maps to).
    #[arg(long, value_name = "NAME")]
    pub environment: Option<String>,
}

impl TenancyArgs {
    /// The caller these flags describe: the named tenant, or each document's namespace owner.
    pub fn caller(&self) -> crate::service::Caller {
        crate::service::Caller {
            tenant: self.tenant.clone().map_or(
                crate::service::TenantChoice::OwnerOfNamespace,
                crate::service::TenantChoice::Named,
            ),
            environment: self.environment.clone(),
            request_id: None,
        }
    }
}

/// `--params` and `--bind-all`: admission policies' param objects and bindings, shared by the
/// commands that judge documents.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AdmissionPolicyArgs {
    /// Param objects for admission policies' `paramRef` (YAML/JSON, any kinds; repeatable).
    #[arg(long = "params", value_name = "FILE")]
    pub params: Vec<PathBuf>,
    /// Apply admission policies that have no binding as if bound to every namespace with
    /// `validationActions: [Deny]` (a `MutatingAdmissionPolicy`'s mutations are applied), to try a policy alone.
    #[arg(long)]
    pub bind_all: bool,
}

/// `celgate check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Files, folders (searched for *.yaml, *.yml, *.json) or `-` for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Which packs to use.
    #[command(flatten)]
    pub selection: PackSelection,
    /// Whose configuration judges.
    #[command(flatten)]
    pub tenancy: TenancyArgs,
    /// Admission policies' params and bindings.
    #[command(flatten)]
    pub policies: AdmissionPolicyArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write every input document back, patched where a patch applies and otherwise unchanged
    /// (to stdout, the report then going to stderr; or to `--out`, or `--in-place`).
    #[arg(long)]
    pub fix: bool,
    /// Folder to write the fixed inputs into (with `--fix`), mirroring the input paths.
    #[arg(long, value_name = "DIR", requires = "fix")]
    pub out: Option<PathBuf>,
    /// With `--fix`: write only the inputs a patch changed.
    #[arg(long, requires = "fix")]
    pub changed_only: bool,
    /// With `--fix`: rewrite the input files that a patch changed (not stdin).
    #[arg(long, requires = "fix", conflicts_with = "out")]
    pub in_place: bool,
    /// Colour text output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Append one audit record per checked document to this file (hash-chained JSON Lines).
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// The time the check runs at (RFC 3339) instead of the clock: exception expiry and report
    /// timestamps use it. For reproducible output in tests; hidden from help.
    #[arg(long, value_name = "RFC3339", hide = true, value_parser = parse_time)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

/// An RFC 3339 date-time, as `--now` takes it.
fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("not an RFC 3339 date-time ({e})"))
}

/// Output formats of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// For people, as `check` writes it (each object named `resource/namespace/name`).
    Text,
    /// One JSON record per object, as `check --format json` writes it.
    Json,
    /// wgpolicyk8s.io/v1alpha2 `PolicyReport` per namespace and `ClusterPolicyReport`.
    Policyreport,
    /// openreports.io/v1alpha1 `Report` per namespace and `ClusterReport`.
    Openreports,
}

/// `celgate scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Kubeconfig file [default: $KUBECONFIG, else ~/.kube/config, else the pod's service account].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of its current one.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Which packs to use.
    #[command(flatten)]
    pub selection: PackSelection,
    /// Whose configuration judges.
    #[command(flatten)]
    pub tenancy: TenancyArgs,
    /// Admission policies' params and bindings.
    #[command(flatten)]
    pub policies: AdmissionPolicyArgs,
    /// Output format (with `--apply`, `openreports` writes `Report`s, anything else `PolicyReport`s).
    #[arg(long, value_enum, default_value_t = ScanFormat::Text)]
    pub format: ScanFormat,
    /// Write the reports to the cluster (server-side apply, field manager `celgate`), one per
    /// namespace plus the cluster report, and delete celgate's reports of namespaces with no
    /// object left; prints what was written.
    #[arg(long)]
    pub apply: bool,
    /// Only scan this kind (`Kind`, `version/Kind` or `group/version/Kind`; repeatable)
    /// [default: every kind the packs and admission policies match].
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// Objects per list request (`limit`; the rest follows with `continue`).
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,
    /// Colour text output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// `celgate eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The CEL expression.
    pub expression: String,
    /// Document bound to `object` (a YAML/JSON file, or `-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub object: Option<PathBuf>,
    /// Document bound to `oldObject`.
    #[arg(long, value_name = "FILE")]
    pub old_object: Option<PathBuf>,
    /// Operation seen as `request.operation`.
    #[arg(long, default_value = "CREATE")]
    pub operation: String,
    /// Extra variable, `NAME=JSON` (e.g. `--var params='{"max": 3}'`, `--var item='{"name": "a"}'`).
    #[arg(long = "var", value_name = "NAME=JSON")]
    pub vars: Vec<String>,
    /// Evaluate on the `cel` crate's interpreter (the reference) instead of the compiled
    /// evaluator the packs run on.
    #[arg(long)]
    pub interpreter: bool,
}

/// `celgate docs`.
#[derive(Debug, clap::Args)]
pub struct DocsArgs {
    /// Which packs to document.
    #[command(flatten)]
    pub selection: PackSelection,
    /// Write the Markdown to this file instead of stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "check")]
    pub out: Option<PathBuf>,
    /// Compare the rendered Markdown with this file: exit 0 when identical, 1 when stale or missing.
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
}

/// `celgate test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Pack folders (each with a `tests/` folder) or a folder of packs; default: the shipped packs.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print only failures and the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `celgate audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// What to do with the audit trail.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// The `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chains: exit 0 intact, 1 altered or missing records, 2 unreadable,
    /// 3 only a torn last line (crash mid-write).
    Verify(AuditVerifyArgs),
    /// Print records, filtered (encrypted records need their keys).
    Show(AuditShowArgs),
    /// Write a new encryption key with a fresh id (old keys stay for reading).
    RotateKey(AuditRotateKeyArgs),
}

/// `celgate audit verify`.
#[derive(Debug, clap::Args)]
pub struct AuditVerifyArgs {
    /// Audit files or folders (of one or several replicas).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Output formats of `audit show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// One line per record.
    Text,
    /// JSON Lines, one record per line.
    Json,
}

/// `celgate audit show`.
#[derive(Debug, clap::Args)]
pub struct AuditShowArgs {
    /// Audit files or folders.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Only records at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<String>,
    /// Only records before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<String>,
    /// Only this tenant.
    #[arg(long, value_name = "NAME")]
    pub tenant: Option<String>,
    /// Only records with a finding of this rule id.
    #[arg(long, value_name = "ID")]
    pub rule: Option<String>,
    /// Only this decision (allow, deny, patch).
    #[arg(long, value_name = "DECISION")]
    pub decision: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
    /// Folder of key files (`*.key`) for encrypted records.
    #[arg(long, value_name = "DIR")]
    pub key_dir: Vec<PathBuf>,
    /// Key file for encrypted records (repeatable).
    #[arg(long, value_name = "FILE")]
    pub key_file: Vec<PathBuf>,
}

/// `celgate audit rotate-key`.
#[derive(Debug, clap::Args)]
pub struct AuditRotateKeyArgs {
    /// Folder of key files; the new key is written there as `<id>.key`.
    #[arg(long, value_name = "DIR")]
    pub key_dir: PathBuf,
}
