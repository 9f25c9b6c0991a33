//! What each subcommand does, written against `Read`/`Write` handles so tests can drive them
//! without a process. `main.rs` only parses arguments and maps the result to an exit code.

pub mod audit;
pub mod certs;
pub mod check;
pub mod docs;
pub mod eval;
pub mod params;
pub mod scan;
pub mod serve;
pub mod test;
pub mod token;

use std::io::{Read, Write};

use crate::cli::{Cli, Command};
use crate::engine::{Engine, LoadErrors, UnknownPack};
use crate::packs::{self, PacksError};

/// Exit code for "allowed" / all tests passed.
pub const EXIT_OK: u8 = 0;
/// Exit code for "at least one deny" / a failing test.
pub const EXIT_DENIED: u8 = 1;
/// Exit code for usage, input, pack or evaluation-setup errors.
pub const EXIT_ERROR: u8 = 2;

/// Why a command could not do its job (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Pack files could not be read.
    #[error("cannot read rule packs: {0}")]
    ReadPacks(#[from] PacksError),
    /// Packs did not compile.
    #[error("rule packs do not load:\n{0}")]
    LoadPacks(#[from] LoadErrors),
    /// `--framework` named an unknown pack.
    #[error(transparent)]
    UnknownPack(#[from] UnknownPack),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
    /// The server configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Certificates could not be created or loaded.
    #[error(transparent)]
    Tls(#[from] crate::server::tls::TlsError),
    /// The server's packs could not be loaded.
    #[error(transparent)]
    ServerPacks(#[from] crate::server::LoadError),
    /// The tenancy sections of the config file do not fit the loaded packs.
    #[error("config file {path}:\n{errors}")]
    Tenancy {
        /// The config file.
        path: String,
        /// Every problem.
        #[source]
        errors: crate::tenant::TenancyErrors,
    },
    /// `--tenant` / `--environment` named something the config does not have.
    #[error(transparent)]
    UnknownName(#[from] crate::tenant::UnknownName),
    /// `--environment` named an environment the config does not have.
    #[error(transparent)]
    Caller(#[from] crate::service::CallerError),
    /// The audit trail could not be opened or written.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// `--params` files could not be read.
    #[error(transparent)]
    ParamFiles(#[from] crate::packs::ParamsError),
    /// `--params` files hold bad param objects.
    #[error("{0}")]
    Params(String),
    /// A scan could not run.
    #[error(transparent)]
    Scan(#[from] crate::scan::ScanError),
    /// Writing output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

/// Standard streams for a command.
pub struct Streams<'a> {
    /// Input for `-`.
    pub stdin: &'a mut dyn Read,
    /// Results.
    pub stdout: &'a mut dyn Write,
    /// Diagnostics.
    pub stderr: &'a mut dyn Write,
    /// Whether stdout is a terminal (for colour).
    pub stdout_is_terminal: bool,
}

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: &Cli, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    match &cli.command {
        Command::Check(args) => check::run(args, streams),
        Command::Scan(args) => scan::run(args, streams),
        Command::Eval(args) => eval::run(args, streams),
        Command::Test(args) => test::run(args, streams),
        Command::Serve(args) => serve::run(args, streams),
        Command::Certs(args) => certs::run(args, streams),
        Command::Docs(args) => docs::run(args, streams),
        Command::Token(crate::cli::TokenCommand::New(args)) => token::new(args, streams),
        Command::Audit(args) => audit::run(args, streams),
    }
}

/// The engine for `--packs` folders, or the shipped packs when none are given.
pub fn load_engine(pack_paths: &[std::path::PathBuf]) -> Result<(Engine, packs::Found), CommandError> {
    let found = if pack_paths.is_empty() {
        packs::embedded()
    } else {
        packs::from_paths(pack_paths)?
    };
    if found.packs.is_empty() {
        let place = if pack_paths.is_empty() {
            "the shipped packs".to_owned()
        } else {
            pack_paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(LoadErrors(vec![crate::engine::PackError::new(
            crate::engine::pack::error::Location::file(place),
            crate::engine::pack::error::PackErrorKind::NoPacks,
        )])
        .into());
    }
    let engine = Engine::load(&found.packs)?;
    Ok((engine, found))
}

/// The tenancy of the config file at `path`, checked against `engine`, as of `now`.
pub fn load_tenancy(
    path: &std::path::Path,
    engine: &Engine,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<crate::tenant::Tenancy, CommandError> {
    let spec = crate::config::read_tenancy(path)?;
    crate::tenant::Tenancy::build(&spec, engine, now).map_err(|errors| CommandError::Tenancy {
        path: path.display().to_string(),
        errors,
    })
}

/// The packs a judging command (`check`, `scan`) uses: `selection`, with the param files and
/// `--bind-all` of `policies`; type warnings and unbound policies go to stderr.
pub fn load_judging_engine(
    selection: &crate::cli::PackSelection,
    policies: &crate::cli::AdmissionPolicyArgs,
    streams: &mut Streams<'_>,
) -> Result<Engine, CommandError> {
    let (engine, _) = load_engine(&selection.packs)?;
    let engine = engine.filtered(&selection.frameworks)?;
    let engine = params::with_param_files(&engine, &policies.params)?;
    let engine = if policies.bind_all {
        engine.with_bind_all()
    } else {
        engine
    };
    let mut notices = engine.type_warnings();
    notices.extend(engine.unbound_policies().iter().map(ToString::to_string));
    for line in notices {
        writeln!(streams.stderr, "warning: {line}")?;
    }
    Ok(engine)
}

/// With `--config`, the tenancy it declares as of `now`, after checking that `--tenant` and
/// `--environment` name what it declares; expired exceptions are warned about on stderr.
pub fn load_judging_tenancy(
    args: &crate::cli::TenancyArgs,
    engine: &Engine,
    now: chrono::DateTime<chrono::Utc>,
    streams: &mut Streams<'_>,
) -> Result<Option<crate::tenant::Tenancy>, CommandError> {
    let Some(path) = &args.config else {
        return Ok(None);
    };
    let tenancy = load_tenancy(path, engine, now)?;
    if let Some(name) = &args.tenant {
        tenancy.tenant(name)?;
    }
    if let Some(name) = &args.environment {
        tenancy.environment(name)?;
    }
    for id in tenancy.expired_exceptions() {
        writeln!(
            streams.stderr,
            "warning: exception {id} in {} has expired and no longer applies",
            path.display()
        )?;
    }
    Ok(Some(tenancy))
}
