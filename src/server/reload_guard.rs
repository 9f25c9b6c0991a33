//! What a config reload may not do (issue 15): take effect from a file caught mid-write, or
//! weaken the server's security. A reload that would remove every tenant, every check-API token,
//! or the client-CA requirement of the admission routes is refused: the last good configuration
//! keeps serving until the operator restarts celgate with the new file on purpose.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::config::Reloadable;

/// How long apart the two reads of a changed config file are.
pub(super) const STABLE_PAUSE: Duration = Duration::from_millis(50);

/// At start, how many times the file is read again before giving up on it settling.
const START_ATTEMPTS: u32 = 40;

/// The security-relevant shape of a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Guarded {
    tenants: usize,
    tokens: usize,
    client_ca: bool,
}

impl Guarded {
    /// The shape of `config`.
    pub(super) fn of(config: &Reloadable) -> Self {
        Guarded {
            tenants: config.tenancy.tenants.len(),
            tokens: config.tenancy.tenants.iter().map(|t| t.tokens.len()).sum(),
            client_ca: config.client_ca_file.is_some(),
        }
    }
}

/// One way a new configuration would weaken the one in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakening {
    /// Every tenant removed: the check API would answer without a token.
    NoTenants {
        /// Tenants in force.
        before: usize,
    },
    /// Every check-API token removed.
    NoTokens {
        /// Tokens in force.
        before: usize,
    },
    /// `tls.clientCaFile` removed: `/validate` and `/mutate` would stop requiring the API
    /// server's client certificate at the next start.
    NoClientCa,
}

impl Weakening {
    /// The metric label: `tenants`, `tokens` or `client-ca`.
    pub fn reason(&self) -> &'static str {
        match self {
            Weakening::NoTenants { .. } => "tenants",
            Weakening::NoTokens { .. } => "tokens",
            Weakening::NoClientCa => "client-ca",
        }
    }
}

impl fmt::Display for Weakening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Weakening::NoTenants { before } => write!(
                f,
                "it removes every tenant ({before} in force), which would open the check API to callers without a token"
            ),
            Weakening::NoTokens { before } => {
                write!(f, "it removes every check-API token ({before} in force)")
            }
            Weakening::NoClientCa => {
                f.write_str("it removes tls.clientCaFile, the client-certificate requirement of /validate and /mutate")
            }
        }
    }
}

/// The weakenings of going from `before` to `after`; empty when the change is allowed.
pub(super) fn weakenings(before: Guarded, after: Guarded) -> Vec<Weakening> {
    let mut found = Vec::new();
    if before.tenants > 0 && after.tenants == 0 {
        found.push(Weakening::NoTenants { before: before.tenants });
    } else if before.tokens > 0 && after.tokens == 0 {
        found.push(Weakening::NoTokens { before: before.tokens });
    }
    if before.client_ca && !after.client_ca {
        found.push(Weakening::NoClientCa);
    }
    found
}

/// Logs, counts and alerts (Slack `config-reload-refused`) a refused weakening reload.
pub(super) fn refused(state: &super::ServerState, path: String, found: Vec<Weakening>) {
    let reasons: Vec<&str> = found.iter().map(Weakening::reason).collect();
    let reason = describe(&found);
    let error = super::LoadError::Weakened { path, found };
    tracing::error!(error = %error, ?reasons, "config reload refused: it would weaken security");
    state.metrics.record_reload("config", false);
    for reason in reasons {
        state
            .metrics
            .reloads_weakening
            .get_or_create(&crate::metrics::WeakeningLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }
    if let (Some(notifier), super::LoadError::Weakened { path, .. }) = (&state.outputs.notifier, error) {
        notifier.notify(crate::notify::SystemEvent::ConfigReloadRefused {
            path: path.into(),
            reason,
        });
    }
}

/// The refused weakenings as one sentence list.
pub(super) fn describe(found: &[Weakening]) -> String {
    found.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Reads `path` twice, `STABLE_PAUSE` apart: the contents when both reads agree, `None` when the
/// file changed between them (a write in progress; the next poll reads it again).
pub(super) fn read_twice(path: &Path, first: Vec<u8>) -> std::io::Result<Option<Vec<u8>>> {
    std::thread::sleep(STABLE_PAUSE);
    let second = std::fs::read(path)?;
    Ok((second == first).then_some(first))
}

/// Reads `path` until two reads in a row agree (at start, where there is no last good file to
/// fall back on); an error when it never settles.
pub(super) fn read_settled(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut last = std::fs::read(path)?;
    for _ in 0..START_ATTEMPTS {
        std::thread::sleep(STABLE_PAUSE);
        let next = std::fs::read(path)?;
        if next == last {
            return Ok(next);
        }
        last = next;
    }
    Err(std::io::Error::other(
        "the file kept changing while it was read; is something still writing it?",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(tenants: usize, tokens: usize, client_ca: bool) -> Guarded {
        Guarded {
            tenants,
            tokens,
            client_ca,
        }
    }

    #[test]
    fn removing_all_of_a_protection_is_a_weakening() {
        assert!(weakenings(shape(2, 2, true), shape(1, 1, true)).is_empty());
        assert!(weakenings(shape(0, 0, false), shape(0, 0, false)).is_empty());
        let reasons = |b, a| weakenings(b, a).iter().map(Weakening::reason).collect::<Vec<_>>();
        assert_eq!(reasons(shape(2, 2, false), shape(0, 0, false)), ["tenants"]);
        assert_eq!(reasons(shape(2, 2, false), shape(2, 0, false)), ["tokens"]);
        assert_eq!(reasons(shape(2, 2, true), shape(0, 0, false)), ["tenants", "client-ca"]);
        assert_eq!(reasons(shape(0, 0, true), shape(0, 0, false)), ["client-ca"]);
    }
}
