//! When the serving certificate expires, read from its DER (`tbsCertificate.validity.notAfter`)
//! and its subject's common name, for the expiry alert and metric. A small DER walk over the
//! fixed leading fields of an X.509 certificate (RFC 5280 §4.1); anything unexpected is `None`.

use chrono::{DateTime, NaiveDateTime, Utc};

/// What the expiry alert needs of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// `notAfter`.
    pub not_after: DateTime<Utc>,
    /// The subject's common name (`""` when it has none).
    pub subject: String,
}

/// One DER element: its tag and contents, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT` (the version field).
const VERSION_TAG: u8 = 0xa0;
/// OID 2.5.4.3 (commonName), DER-encoded contents.
const COMMON_NAME_OID: [u8; 3] = [0x55, 0x04, 0x03];

/// The expiry and subject of a DER certificate.
pub fn of_der(der: &[u8]) -> Option<Expiry> {
    let (tag, certificate, _) = element(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = element(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == VERSION_TAG {
        rest = after;
    }
    // serialNumber, signature, issuer
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (tag, validity, after_validity) = element(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (_, _, after_not_before) = element(validity)?;
    let (time_tag, not_after, _) = element(after_not_before)?;
    let not_after = parse_time(time_tag, not_after)?;
    let (_, subject, _) = element(after_validity)?;
    Some(Expiry {
        not_after,
        subject: common_name(subject).unwrap_or_default(),
    })
}

/// The expiry of the first certificate in PEM text.
pub fn of_pem(pem: &[u8]) -> Option<Expiry> {
    use rustls::pki_types::pem::PemObject;
    let first = rustls::pki_types::CertificateDer::pem_slice_iter(pem).next()?.ok()?;
    of_der(first.as_ref())
}

fn parse_time(tag: u8, bytes: &[u8]) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let naive = match tag {
        // YYMMDDHHMMSSZ; RFC 5280: years 50–99 are 19xx.
        UTC_TIME => {
            let year: u32 = text.get(..2)?.parse().ok()?;
            let century = if year >= 50 { "19" } else { "20" };
            NaiveDateTime::parse_from_str(&format!("{century}{text}"), "%Y%m%d%H%M%SZ").ok()?
        }
        GENERALIZED_TIME => NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%SZ").ok()?,
        _ => return None,
    };
    Some(naive.and_utc())
}

/// The first commonName in a Name (SEQUENCE of SET of SEQUENCE { OID, value }).
fn common_name(mut name: &[u8]) -> Option<String> {
    while !name.is_empty() {
        let (_, set, rest) = element(name)?;
        name = rest;
        let (_, attribute, _) = element(set)?;
        let (_, oid, value) = element(attribute)?;
        if oid == COMMON_NAME_OID {
            let (_, text, _) = element(value)?;
            return Some(String::from_utf8_lossy(text).into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_not_after_and_common_name_of_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["celgate.example".to_owned()]).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "celgate test");
        params.not_after = rcgen::date_time_ymd(2031, 3, 4);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        let expiry = of_pem(cert.pem().as_bytes()).expect("parsed");
        assert_eq!(expiry.subject, "celgate test");
        assert_eq!(expiry.not_after.format("%Y-%m-%d").to_string(), "2031-03-04");
        assert_eq!(of_der(b"not a certificate"), None);
        assert_eq!(of_der(&cert.der()[..40]), None, "truncated");
    }
}
