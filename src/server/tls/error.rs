//! Errors of the TLS layer: each names the file (or files) involved and what is wrong.

use std::io;
use std::path::PathBuf;

use rustls::pki_types::pem;
use rustls::server::VerifierBuilderError;

/// What a PEM parser error means, in words: the parser's own text prints lines as arrays of
/// decimal byte values.
pub(super) fn describe_pem_error(error: &pem::Error) -> String {
    let text = |bytes: &[u8]| {
        let shown: String = String::from_utf8_lossy(bytes)
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .take(80)
            .collect();
        format!("{shown:?}")
    };
    match error {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a block has no end line (expected '-----END {}-----'): the file is cut short or was half written",
            String::from_utf8_lossy(end_marker)
                .chars()
                .filter(|c| !c.is_control())
                .take(40)
                .collect::<String>()
        ),
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed '-----BEGIN ...-----' line: {}", text(line))
        }
        pem::Error::Base64Decode(e) => format!("the base64 inside a block does not decode ({e})"),
        pem::Error::Io(e) => format!("cannot read: {e}"),
        pem::Error::NoItemsFound => "no PEM block found".to_owned(),
        pem::Error::SectionTooLarge => "a PEM block is larger than 256 MB".to_owned(),
        other => other.to_string(),
    }
}

/// A minimum TLS version that is neither `1.2` nor `1.3`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TLS version '{0}' (expected \"1.2\" or \"1.3\")")]
pub struct UnknownTlsVersion(pub String);

/// Why the TLS configuration could not be loaded or certificates could not be generated.
///
/// Every variant names the file (or files) involved.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file that must exist does not.
    #[error("{path}: not found", path = .path.display())]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("{path}: cannot read: {source}", path = .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file is empty (often a rotation caught half-way).
    #[error("{path}: file is empty", path = .path.display())]
    Empty {
        /// The empty file.
        path: PathBuf,
    },
    /// A file is not well-formed PEM.
    #[error("{path}: not valid PEM: {problem}", path = .path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words (never the file's bytes as numbers).
        problem: String,
    },
    /// A PEM file holds no `CERTIFICATE` block.
    #[error("{path}: no certificate (no '-----BEGIN CERTIFICATE-----' block)", path = .path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The leaf certificate (the first one of the chain) cannot be parsed.
    #[error("{path}: the first certificate is not usable: {source}", path = .path.display())]
    BadCertificate {
        /// The certificate file.
        path: PathBuf,
        /// What rustls found wrong.
        #[source]
        source: rustls::Error,
    },
    /// A PEM file holds no private key block.
    #[error(
        "{path}: no private key (expected a PKCS#8 'PRIVATE KEY', PKCS#1 'RSA PRIVATE KEY' or SEC1 'EC PRIVATE KEY' block)",
        path = .path.display()
    )]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key cannot be used for signing.
    #[error("{path}: private key not usable: {source}", path = .path.display())]
    BadPrivateKey {
        /// The key file.
        path: PathBuf,
        /// What rustls found wrong.
        #[source]
        source: rustls::Error,
    },
    /// The private key is not the one the leaf certificate was issued for.
    #[error(
        "{key} does not match the certificate in {cert} (their public keys differ)",
        key = .key.display(),
        cert = .cert.display()
    )]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// Of a certificate and its key, only one exists: a half-written pair.
    #[error(
        "{present} exists but {absent} does not: a half-written certificate pair; write both or remove both",
        present = .present.display(),
        absent = .absent.display()
    )]
    HalfWritten {
        /// The file that exists.
        present: PathBuf,
        /// The file that does not.
        absent: PathBuf,
    },
    /// A certificate of the client CA file is not usable as a trust anchor.
    #[error("{path}: bad client CA certificate: {source}", path = .path.display())]
    BadClientCa {
        /// The client CA file.
        path: PathBuf,
        /// What rustls found wrong.
        #[source]
        source: rustls::Error,
    },
    /// The client certificate verifier could not be built from the client CA file.
    #[error("{path}: bad client CA: {source}", path = .path.display())]
    ClientVerifier {
        /// The client CA file.
        path: PathBuf,
        /// What the verifier builder found wrong.
        #[source]
        source: VerifierBuilderError,
    },
    /// rustls refused the protocol settings.
    #[error("TLS settings: {source}")]
    Protocol {
        /// What rustls found wrong.
        #[source]
        source: rustls::Error,
    },
    /// A certificate could not be generated.
    #[error("generating the {what}: {source}")]
    Generate {
        /// Which certificate or key.
        what: &'static str,
        /// What rcgen found wrong (often a name that is not a valid DNS name).
        #[source]
        source: rcgen::Error,
    },
    /// A name for a generated certificate is neither a DNS name nor an IP address.
    #[error("'{name}' is neither a DNS name nor an IP address")]
    BadName {
        /// The name.
        name: String,
    },
    /// `generate_service_pair` was given no name to put in the certificate.
    #[error("no DNS name given for the serving certificate")]
    NoDnsNames,
    /// A folder could not be created.
    #[error("{path}: cannot create folder: {source}", path = .path.display())]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file could not be written.
    #[error("{path}: cannot write: {source}", path = .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}
