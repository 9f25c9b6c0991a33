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
}

impl CertWatcher {
    /// A watcher for the files of `settings`, whose pair in force has `initial_fingerprint`
    /// (from [`super::load`]).
    pub fn new(settings: TlsSettings, initial_fingerprint: CertFingerprint) -> Self {
        Self {
            settings,
            current: initial_fingerprint,
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
    pub fn check(&mut self) -> CertCheck {
        let material = match Material::read(&self.settings) {
            Ok(material) => material,
            Err(e) => return CertCheck::Failed(e),
        };
        let fingerprint = material.fingerprint();
        if fingerprint == self.current {
            return CertCheck::Unchanged;
        }
        match material.build(&self.settings) {
            Ok(config) => {
                tracing::debug!(from = %self.current, to = %fingerprint, "TLS certificate files changed");
                self.current = fingerprint;
                CertCheck::Changed(config)
            }
            Err(e) => CertCheck::Failed(e),
        }
    }
}
