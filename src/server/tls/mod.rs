//! TLS for the admission server: the serving pair, development certificates, and rotation.
//!
//! The API, as the rest of the server uses it:
//! - [`TlsSettings`] says where the pair lives (`cert_dir/tls.crt`, `cert_dir/tls.key`), the
//!   minimum [`TlsVersion`], an optional client CA and the extra names of a development certificate.
//! - [`load_server_config`] reads the pair and builds an `Arc<rustls::ServerConfig>`: the `ring`
//!   provider (never the process default), protocol versions from the minimum, ALPN `h2` then
//!   `http/1.1`, and, when a client CA is set, client certificates asked for and verified against
//!   it but not required by TLS: `/validate` and `/mutate` then refuse a connection that presented
//!   none (the check API keeps bearer tokens), see [`has_client_certificate`].
//!   `tls.crt` is a chain, leaf first, and every certificate in it is sent; `tls.key` may be
//!   PKCS#8, PKCS#1 or SEC1 and must match the leaf. [`load`] does the same and also returns the
//!   [`CertFingerprint`] of exactly the bytes it read, to start a [`CertWatcher`] with.
//! - [`ensure_dev_certificates`] creates a development CA and a pair signed by it when the folder
//!   holds neither `tls.crt` nor `tls.key`.
//! - [`generate_service_pair`] is `celgate certs`: a CA and a pair for a cluster Service, and the
//!   base64 `caBundle` for a webhook configuration.
//! - [`CertWatcher::check`] re-reads the files by content (Kubernetes rotates a Secret volume by
//!   swapping a `..data` symlink, which mtime and inotify watches miss) and answers
//!   [`CertCheck::Changed`] with a new config, [`CertCheck::Unchanged`], or [`CertCheck::Failed`]
//!   when the new files are unusable, in which case the old pair keeps serving and the next check
//!   tries again.
//! - [`acceptor`] makes a `tokio_rustls::TlsAcceptor` from the config in force at accept time.

mod devcert;
mod error;
pub mod expiry;
mod watch;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{InconsistentKeys, RootCertStore, ServerConfig, SupportedProtocolVersion};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

pub use devcert::{ensure_dev_certificates, generate_service_pair};
pub use error::{TlsError, UnknownTlsVersion};
pub use watch::{CertCheck, CertWatcher};

/// File name of the serving certificate chain in the certificate folder.
pub const CERT_FILE: &str = "tls.crt";
/// File name of the serving private key in the certificate folder.
pub const KEY_FILE: &str = "tls.key";
/// File name of the CA certificate written next to a generated pair.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the CA private key written next to a generated pair.
pub const CA_KEY_FILE: &str = "ca.key";

/// ALPN protocols the server offers, most preferred first.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The lowest TLS version the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    V1_2,
    /// TLS 1.3 only.
    V1_3,
}

impl TlsVersion {
    /// The protocol versions a server with this minimum accepts, newest first.
    pub fn protocol_versions(self) -> &'static [&'static SupportedProtocolVersion] {
        static FROM_1_2: [&SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];
        static FROM_1_3: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            Self::V1_2 => &FROM_1_2,
            Self::V1_3 => &FROM_1_3,
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V1_2 => "1.2",
            Self::V1_3 => "1.3",
        })
    }
}

impl FromStr for TlsVersion {
    type Err = UnknownTlsVersion;

    /// Accepts `1.2` and `1.3`, also spelled `TLS1.2`, `TLSv1.3`, `VersionTLS12` or `VersionTLS13`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1.2" | "tls1.2" | "tlsv1.2" | "versiontls12" => Ok(Self::V1_2),
            "1.3" | "tls1.3" | "tlsv1.3" | "versiontls13" => Ok(Self::V1_3),
            _ => Err(UnknownTlsVersion(s.to_owned())),
        }
    }
}

/// Where the serving pair lives and what the TLS listener accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Folder holding `tls.crt` and `tls.key` (and `ca.crt`), as a Kubernetes TLS Secret mounts them.
    pub cert_dir: PathBuf,
    /// The lowest TLS version accepted.
    pub min_version: TlsVersion,
    /// When set, `/validate` and `/mutate` require a client certificate signed by a CA in this
    /// PEM file (the API server's); other routes do not.
    pub client_ca_file: Option<PathBuf>,
    /// Extra names for a development certificate (`localhost`, `127.0.0.1` and `::1` are always in it).
    pub dns_names: Vec<String>,
}

impl TlsSettings {
    /// Settings for `cert_dir` with the defaults: TLS 1.2 minimum, no client CA, no extra names.
    pub fn new(cert_dir: impl Into<PathBuf>) -> Self {
        Self {
            cert_dir: cert_dir.into(),
            min_version: TlsVersion::default(),
            client_ca_file: None,
            dns_names: Vec::new(),
        }
    }

    /// Path of the serving certificate chain, `cert_dir/tls.crt`.
    pub fn cert_path(&self) -> PathBuf {
        self.cert_dir.join(CERT_FILE)
    }

    /// Path of the serving private key, `cert_dir/tls.key`.
    pub fn key_path(&self) -> PathBuf {
        self.cert_dir.join(KEY_FILE)
    }
}

/// SHA-256 over the contents of the certificate, key and client CA files, as last read.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertFingerprint([u8; 32]);

impl CertFingerprint {
    /// The 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for CertFingerprint {
    /// The first 8 bytes in hex: enough to tell rotations apart in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0[..8].iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for CertFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertFingerprint({self})")
    }
}

/// A server configuration and the fingerprint of the file contents it was built from.
#[derive(Debug, Clone)]
pub struct LoadedTls {
    /// The configuration to serve with.
    pub config: Arc<ServerConfig>,
    /// What [`CertWatcher::new`] wants, so the first check does not rebuild the same config.
    pub fingerprint: CertFingerprint,
}

/// Reads the pair (and client CA) and builds the server configuration; see the module docs.
pub fn load_server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    load(settings).map(|loaded| loaded.config)
}

/// Like [`load_server_config`], also returning the fingerprint of the bytes it read.
pub fn load(settings: &TlsSettings) -> Result<LoadedTls, TlsError> {
    let material = Material::read(settings)?;
    let config = material.build(settings)?;
    Ok(LoadedTls {
        config,
        fingerprint: material.fingerprint(),
    })
}

/// A TLS acceptor for the configuration in force now; call it on each accepted connection so a
/// rotation takes effect for new connections while old ones finish on the pair they started with.
pub fn acceptor(current: &ArcSwap<ServerConfig>) -> TlsAcceptor {
    TlsAcceptor::from(current.load_full())
}

/// The raw contents of the files a configuration is built from, read once so the fingerprint
/// and the configuration always describe the same bytes.
struct Material {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl Material {
    fn read(settings: &TlsSettings) -> Result<Self, TlsError> {
        let cert_path = settings.cert_path();
        let key_path = settings.key_path();
        let (cert, key) = match (read_file(&cert_path), read_file(&key_path)) {
            (Ok(cert), Ok(key)) => (cert, key),
            (Err(TlsError::Missing { .. }), Ok(_)) => {
                return Err(TlsError::HalfWritten {
                    present: key_path,
                    absent: cert_path,
                })
            }
            (Ok(_), Err(TlsError::Missing { .. })) => {
                return Err(TlsError::HalfWritten {
                    present: cert_path,
                    absent: key_path,
                })
            }
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        let client_ca = settings.client_ca_file.as_deref().map(read_file).transpose()?;
        Ok(Self { cert, key, client_ca })
    }

    fn fingerprint(&self) -> CertFingerprint {
        let mut hasher = Sha256::new();
        // Length-prefix each part so moving bytes from one file to the next changes the digest.
        for part in [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()] {
            match part {
                Some(bytes) => {
                    hasher.update([1]);
                    hasher.update((bytes.len() as u64).to_le_bytes());
                    hasher.update(bytes);
                }
                None => hasher.update([0]),
            }
        }
        CertFingerprint(hasher.finalize().into())
    }

    fn build(&self, settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
        let cert_path = settings.cert_path();
        let key_path = settings.key_path();
        let chain = parse_certificates(&cert_path, &self.cert)?;
        let key = parse_private_key(&key_path, &self.key)?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signing_key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|source| TlsError::BadPrivateKey {
                path: key_path.clone(),
                source,
            })?;
        let certified = CertifiedKey::new(chain, signing_key);
        match certified.keys_match() {
            // A key that cannot tell its public half cannot be checked; rustls accepts it too.
            Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
                return Err(TlsError::KeyMismatch {
                    key: key_path,
                    cert: cert_path,
                })
            }
            Err(source) => {
                return Err(TlsError::BadCertificate {
                    path: cert_path,
                    source,
                })
            }
        }

        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(settings.min_version.protocol_versions())
            .map_err(|source| TlsError::Protocol { source })?;
        let (builder, client_ca) = match (&settings.client_ca_file, &self.client_ca) {
            (Some(path), Some(pem)) => (
                builder.with_client_cert_verifier(client_verifier(path, pem, provider)?),
                true,
            ),
            _ => (builder.with_no_client_auth(), false),
        };
        let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        if client_ca {
            config.key_log = Arc::clone(&ADMISSION_CLIENT_AUTH);
        }
        config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// Marks the configurations built with a client CA (their `key_log`, which logs nothing, is this
/// one shared instance), so whoever holds a configuration knows the admission routes require a
/// client certificate without a flag that could be forgotten next to it.
#[derive(Debug)]
struct AdmissionClientAuth;

impl rustls::KeyLog for AdmissionClientAuth {
    fn log(&self, _label: &str, _client_random: &[u8], _secret: &[u8]) {}

    fn will_log(&self, _label: &str) -> bool {
        false
    }
}

static ADMISSION_CLIENT_AUTH: std::sync::LazyLock<Arc<dyn rustls::KeyLog>> =
    std::sync::LazyLock::new(|| Arc::new(AdmissionClientAuth));

/// True when `config` was built with a client CA: `/validate` and `/mutate` then require a
/// verified client certificate (the check API keeps bearer tokens).
pub fn requires_admission_client_certificate(config: &ServerConfig) -> bool {
    Arc::ptr_eq(&config.key_log, &ADMISSION_CLIENT_AUTH)
}

/// True when the client of `conn` presented a certificate; with a client CA configured it was
/// verified against that CA during the handshake (a certificate that does not chain to it fails
/// the handshake), so this is "the caller is authenticated".
pub fn has_client_certificate(conn: &rustls::ServerConnection) -> bool {
    conn.peer_certificates().is_some_and(|chain| !chain.is_empty())
}

/// A verifier that asks for a client certificate and, when one is presented, requires it to
/// chain to a CA in `pem`. A client without a certificate still completes the handshake: the
/// admission routes enforce the certificate per route, the check API authenticates by token.
fn client_verifier(
    path: &Path,
    pem: &[u8],
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certificates(path, pem)? {
        roots.add(cert).map_err(|source| TlsError::BadClientCa {
            path: path.to_owned(),
            source,
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|source| TlsError::ClientVerifier {
            path: path.to_owned(),
            source,
        })
}

/// Reads a whole file, telling a missing file from an unreadable one.
fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            TlsError::Missing { path: path.to_owned() }
        } else {
            TlsError::Read {
                path: path.to_owned(),
                source,
            }
        }
    })
}

/// Every `CERTIFICATE` block of a PEM file, in order; at least one.
fn parse_certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    if pem.iter().all(u8::is_ascii_whitespace) {
        return Err(TlsError::Empty { path: path.to_owned() });
    }
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: path.to_owned(),
            problem: error::describe_pem_error(&source),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_owned() });
    }
    Ok(certs)
}

/// The first private key block of a PEM file: PKCS#8, PKCS#1 or SEC1.
fn parse_private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    if pem.iter().all(u8::is_ascii_whitespace) {
        return Err(TlsError::Empty { path: path.to_owned() });
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey { path: path.to_owned() },
        source => TlsError::Pem {
            path: path.to_owned(),
            problem: error::describe_pem_error(&source),
        },
    })
}
