//! Generated certificates: a development CA and pair for `celgate serve`, and `celgate certs`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::ServerName;

use super::{TlsError, TlsSettings, CA_CERT_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a generated serving certificate is valid.
const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// How long a generated CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// Names always in a development certificate.
const DEV_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// If `tls.crt` and `tls.key` are both absent from `settings.cert_dir`: creates the folder, a
/// development CA (`ca.crt`, `ca.key`) and a serving pair signed by it (`tls.crt`, `tls.key`) for
/// `localhost`, `127.0.0.1`, `::1` and `settings.dns_names`; key files get mode 0600.
///
/// Returns the path of `ca.crt` when it created the files (clients must trust that CA), `None`
/// when a pair was already there. Only one of the two present is an error: a half-written pair.
/// An existing `ca.crt`/`ca.key` without a pair is replaced.
pub fn ensure_dev_certificates(settings: &TlsSettings) -> Result<Option<PathBuf>, TlsError> {
    let cert_path = settings.cert_path();
    let key_path = settings.key_path();
    match (exists(&cert_path)?, exists(&key_path)?) {
        (true, true) => return Ok(None),
        (true, false) => {
            return Err(TlsError::HalfWritten {
                present: cert_path,
                absent: key_path,
            })
        }
        (false, true) => {
            return Err(TlsError::HalfWritten {
                present: key_path,
                absent: cert_path,
            })
        }
        (false, false) => {}
    }
    let mut names: Vec<String> = DEV_NAMES.iter().map(|&n| n.to_owned()).collect();
    names.extend(settings.dns_names.iter().cloned());
    let names = normalize_names(names);
    let bundle = Bundle::generate(&names, "celgate development CA")?;
    bundle.write(&settings.cert_dir)?;
    tracing::info!(
        dir = %settings.cert_dir.display(),
        names = ?names,
        "created a development CA and serving certificate; clients must trust {}",
        CA_CERT_FILE
    );
    Ok(Some(settings.cert_dir.join(CA_CERT_FILE)))
}

/// `celgate certs --out DIR --dns NAME...`: writes `ca.crt`, `ca.key`, `tls.crt` and `tls.key`
/// into `out_dir` (created if needed; keys mode 0600, existing files replaced) for exactly the
/// names given (pass every form clients use, e.g. `celgate.celgate-system.svc` and
/// `celgate.celgate-system`). The serving certificate is valid for about a year, the CA for ten.
///
/// Returns the base64 of `ca.crt`'s PEM, what a webhook configuration's `caBundle` wants.
pub fn generate_service_pair(out_dir: &Path, dns_names: &[String]) -> Result<String, TlsError> {
    let names = normalize_names(dns_names.iter().cloned());
    if names.is_empty() {
        return Err(TlsError::NoDnsNames);
    }
    let bundle = Bundle::generate(&names, "celgate CA")?;
    bundle.write(out_dir)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bundle.ca_cert.as_bytes()))
}

/// Trims, drops empty names and duplicates, keeps the first-seen order.
fn normalize_names(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        if !name.is_empty() && !out.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            out.push(name.to_owned());
        }
    }
    out
}

fn exists(path: &Path) -> Result<bool, TlsError> {
    path.try_exists().map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A CA and a serving pair it signed, all PEM.
struct Bundle {
    ca_cert: String,
    ca_key: String,
    cert: String,
    key: String,
}

impl Bundle {
    fn generate(names: &[String], ca_name: &str) -> Result<Self, TlsError> {
        let ca = new_ca(ca_name, CA_VALIDITY)?;
        let (cert, key) = issue(&ca, names, ExtendedKeyUsagePurpose::ServerAuth, LEAF_VALIDITY)?;
        Ok(Self {
            ca_cert: ca.pem(),
            ca_key: ca.key().serialize_pem(),
            cert,
            key,
        })
    }

    /// Keys first and the serving certificate last, each file replaced atomically.
    fn write(&self, dir: &Path) -> Result<(), TlsError> {
        fs::create_dir_all(dir).map_err(|source| TlsError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        write_file(&dir.join(CA_KEY_FILE), &self.ca_key, true)?;
        write_file(&dir.join(CA_CERT_FILE), &self.ca_cert, false)?;
        write_file(&dir.join(KEY_FILE), &self.key, true)?;
        write_file(&dir.join(CERT_FILE), &self.cert, false)
    }
}

/// A self-signed CA that may sign end-entity certificates only.
pub(super) fn new_ca(common_name: &str, validity: Duration) -> Result<CertifiedIssuer<'static, KeyPair>, TlsError> {
    let generate = |source| TlsError::Generate { what: "CA", source };
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, validity);
    let key = KeyPair::generate().map_err(generate)?;
    CertifiedIssuer::self_signed(params, key).map_err(generate)
}

/// An end-entity certificate for `names` (IP addresses become IP SANs) signed by `issuer`, and
/// its PKCS#8 key, both PEM.
pub(super) fn issue(
    issuer: &rcgen::Issuer<'_, KeyPair>,
    names: &[String],
    purpose: ExtendedKeyUsagePurpose,
    validity: Duration,
) -> Result<(String, String), TlsError> {
    let generate = |source| TlsError::Generate {
        what: "serving certificate",
        source,
    };
    if let Some(bad) = names.iter().find(|n| ServerName::try_from(n.as_str()).is_err()) {
        return Err(TlsError::BadName { name: bad.clone() });
    }
    let mut params = CertificateParams::new(names.to_vec()).map_err(generate)?;
    let common_name = names.first().map_or("celgate", String::as_str);
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![purpose];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, validity);
    let key = KeyPair::generate().map_err(generate)?;
    let cert = params.signed_by(&key, issuer).map_err(generate)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "celgate");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Valid from a day ago (clock skew between machines) for `validity`.
fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = SystemTime::now();
    params.not_before = now.checked_sub(DAY).unwrap_or(now).into();
    params.not_after = now.checked_add(validity).unwrap_or(now).into();
}

/// Writes `contents` to a temporary file next to `path` and renames it over `path`, so a reader
/// never sees a partly written file. Private files get mode 0600, others 0644.
fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), TlsError> {
    let write_error = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp{}", std::process::id()));
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(write_error(e)),
        _ => {}
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let result = options
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(contents.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(write_error(e));
    }
    Ok(())
}
