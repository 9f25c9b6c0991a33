//! Certificate rotation: polling the files by content.

use std::sync::Arc;

use rustls::ServerConfig;

use super::{CertFingerprint, Material, TlsError, TlsSettings};

/// What a [`CertWatcher::check`] found.
#[derive(Debug)]
pub enum CertCheck {
    /// The files hold the same bytes as the pair in force.
    Unchanged,
    /// The files changed and hold a usable pair: serve with this configuration from now on.
    Changed(Arc<ServerConfig>),
    /// The files changed but are unusable (half-written, mismatched, missing): keep serving the
    /// old pair; the next check tries again.
    Failed(TlsError),
    /// The files are in the same unusable state the last check reported: still serving the old
    /// pair, nothing new to report (so one bad state is counted and alerted once, not per poll).
    StillFailing,
}

/// An unusable state of the files: the fingerprint of what was read, or why it could not be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BadState {
    Read(String),
    Built(CertFingerprint),
}

/// Watches the certificate files by content.
///
/// Kubernetes updates a mounted Secret by writing a new timestamped folder and swapping the
/// `..data` symlink to it, so neither a file watch nor an mtime reliably sees a rotation; the
/// SHA-256 of the contents does. [`check`](Self::check) does blocking file reads (three small
/// files); call it from a blocking-friendly context (`spawn_blocking`) every reload interval.
#[derive(Debug)]
pub struct CertWatcher {
    settings: TlsSettings,
    current: CertFingerprint,
    failing: Option<BadState>,
}

impl CertWatcher {
    /// A watcher for the files of `settings`, whose pair in force has `initial_fingerprint`
    /// (from [`super::load`]).
    pub fn new(settings: TlsSettings, initial_fingerprint: CertFingerprint) -> Self {
        Self {
            settings,
            current: initial_fingerprint,
            failing: None,
        }
    }

    /// The fingerprint of the pair in force: the last one that loaded.
    pub fn fingerprint(&self) -> CertFingerprint {
        self.current
    }

    /// The settings the watcher loads with.
    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Re-reads the files; when their contents differ from the pair in force, builds a new
    /// configuration from them. On failure the fingerprint in force is kept, so the old pair
    /// keeps serving and the next check retries (and reports again) until the files are fixed.
    ///
    /// A failure is reported once per bad state: while the files stay in the state the last
    /// check refused, [`CertCheck::StillFailing`] is returned instead.
    pub fn check(&mut self) -> CertCheck {
        let material = match Material::read(&self.settings) {
            Ok(material) => material,
            Err(e) => return self.failed(BadState::Read(e.to_string()), e),
        };
        let fingerprint = material.fingerprint();
        if fingerprint == self.current {
            self.failing = None;
            return CertCheck::Unchanged;
        }
        if self.failing == Some(BadState::Built(fingerprint)) {
            return CertCheck::StillFailing;
        }
        match material.build(&self.settings) {
            Ok(config) => {
                tracing::debug!(from = %self.current, to = %fingerprint, "TLS certificate files changed");
                self.current = fingerprint;
                self.failing = None;
                CertCheck::Changed(config)
            }
            Err(e) => self.failed(BadState::Built(fingerprint), e),
        }
    }

    fn failed(&mut self, state: BadState, error: TlsError) -> CertCheck {
        if self.failing.as_ref() == Some(&state) {
            return CertCheck::StillFailing;
        }
        self.failing = Some(state);
        CertCheck::Failed(error)
    }
}
