//! `celgate audit verify|show|rotate-key`: the audit trail from the command line.

use std::time::SystemTime;

use crate::audit::crypto::DEFAULT_MAX_KEY_AGE_DAYS;
use crate::audit::show::{self, Filter};
use crate::audit::verify::{self, EXIT_UNREADABLE};
use crate::audit::{AuditKey, Keyring};
use crate::cli::{AuditArgs, AuditCommand, AuditFormat, AuditRotateKeyArgs, AuditShowArgs, AuditVerifyArgs};
use crate::engine::Verdict;

use super::{CommandError, Streams, EXIT_ERROR, EXIT_OK};

/// Runs an `audit` subcommand; returns its exit code.
pub fn run(args: &AuditArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    match &args.command {
        AuditCommand::Verify(args) => run_verify(args, streams),
        AuditCommand::Show(args) => run_show(args, streams),
        AuditCommand::RotateKey(args) => run_rotate_key(args, streams),
    }
}

pub use crate::audit::log::error_chain;

fn fail(streams: &mut Streams<'_>, error: &dyn std::error::Error, code: u8) -> Result<u8, CommandError> {
    writeln!(streams.stderr, "error: {}", error_chain(error))?;
    Ok(code)
}

fn run_verify(args: &AuditVerifyArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    match verify::verify(&args.paths) {
        Ok(report) => {
            streams.stdout.write_all(report.render().as_bytes())?;
            Ok(report.exit_code())
        }
        Err(e) => fail(streams, &e, EXIT_UNREADABLE),
    }
}

fn parse_time(flag: &str, value: Option<&str>) -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, CommandError> {
    value
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v).map_err(|e| {
                CommandError::Usage(format!(
                    "{flag} {v:?}: not an RFC 3339 time ({e}), e.g. 2026-11-03T10:00:00Z"
                ))
            })
        })
        .transpose()
}

fn run_show(args: &AuditShowArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    let decision = match args.decision.as_deref() {
        None => None,
        Some("allow") => Some(Verdict::Allow),
        Some("deny") => Some(Verdict::Deny),
        Some("patch") => Some(Verdict::Patch),
        Some(other) => {
            return Err(CommandError::Usage(format!(
                "--decision {other:?}: expected allow, deny or patch"
            )))
        }
    };
    let filter = Filter {
        since: parse_time("--since", args.since.as_deref())?,
        until: parse_time("--until", args.until.as_deref())?,
        tenant: args.tenant.clone(),
        rule: args.rule.clone(),
        decision,
    };
    let mut keyring = Keyring::default();
    let loaded = args
        .key_dir
        .iter()
        .try_for_each(|dir| keyring.add_dir(dir))
        .and_then(|()| {
            args.key_file
                .iter()
                .try_for_each(|file| keyring.add(AuditKey::from_file(file)?))
        });
    if let Err(e) = loaded {
        return fail(streams, &e, EXIT_ERROR);
    }
    let found = match show::read(&args.paths, &keyring, &filter) {
        Ok(found) => found,
        Err(e) => return fail(streams, &e, EXIT_ERROR),
    };
    for skipped in &found.skipped {
        writeln!(streams.stderr, "warning: skipped {skipped}")?;
    }
    let rendered = match args.format {
        AuditFormat::Text => show::render_text(&found.records),
        AuditFormat::Json => show::render_json(&found.records),
    };
    streams.stdout.write_all(rendered.as_bytes())?;
    Ok(EXIT_OK)
}

fn run_rotate_key(args: &AuditRotateKeyArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    let now = SystemTime::now();
    let mut existing = Keyring::default();
    if args.key_dir.is_dir() {
        if let Err(e) = existing.add_dir(&args.key_dir) {
            return fail(streams, &e, EXIT_ERROR);
        }
    }
    let key = match AuditKey::generate(now) {
        Ok(key) => key,
        Err(e) => return fail(streams, &e, EXIT_ERROR),
    };
    let path = match key.write_new(&args.key_dir) {
        Ok(path) => path,
        Err(e) => return fail(streams, &e, EXIT_ERROR),
    };
    let out = &mut *streams.stdout;
    writeln!(out, "wrote key {} to {}", key.id(), path.display())?;
    writeln!(out, "to encrypt new records with it, set in celgate.yaml and restart:")?;
    writeln!(out, "  audit:\n    encryption:\n      keyFile: {}", path.display())?;
    writeln!(
        out,
        "keep the older keys in {}: `celgate audit show --key-dir {}` needs them to read older records",
        args.key_dir.display(),
        args.key_dir.display()
    )?;
    writeln!(
        out,
        "rotate again within {DEFAULT_MAX_KEY_AGE_DAYS} days (the rotation period the shipped packs demand)"
    )?;
    for old in existing.keys() {
        if let Some(age) = old.age_days(now) {
            writeln!(out, "  older key {}: {age} days old", old.id())?;
        }
    }
    Ok(EXIT_OK)
}
