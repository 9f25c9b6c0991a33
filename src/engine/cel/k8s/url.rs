//! The Kubernetes URL library (`urls.go`). A URL is accepted when Go's `url.ParseRequestURI`
//! accepts it (an absolute URI, or an absolute path), and its parts are those `url.Parse`
//! gives: scheme (lowercased), host as written (`[::1]:80`), hostname, port, escaped path and
//! the query as a map of lists.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use cel::common::types::{CelBool, CelList, CelMap, CelMapKey, CelString};
use cel::common::value::Val;
use cel::{DeclarationError, Env, ExecutionError};

use super::types::{opaque_val, URL_TYPE};

/// A parsed URL value (`kubernetes.URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    text: String,
    scheme: String,
    host: String,
    path: String,
    query: String,
}

opaque_val!(Url, URL_TYPE);

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The parts of a URL as Go's parser splits them (path and query still escaped).
struct Parts {
    scheme: String,
    host: String,
    path: String,
    query: String,
}

/// RFC 3986 sub-delims: `!$&'()*+,;=`.
fn is_sub_delim(c: u8) -> bool {
    matches!(
        c,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~')
}

/// Whether every `%` in `s` starts a two-digit hex escape.
fn valid_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_host(host: &str) -> Result<(), String> {
    if let Some(inside) = host.strip_prefix('[') {
        let end = inside.find(']').ok_or("missing ']' in host")?;
        if !valid_optional_port(&inside[end + 1..]) {
            return Err(format!("invalid port {:?} after host", &inside[end + 1..]));
        }
        return Ok(());
    }
    if let Some(i) = host.rfind(':') {
        if !valid_optional_port(&host[i..]) {
            return Err(format!("invalid port {:?} after host", &host[i..]));
        }
    }
    let allowed = |c: u8| {
        c >= 0x80 || is_unreserved(c) || is_sub_delim(c) || matches!(c, b':' | b'[' | b']' | b'<' | b'>' | b'"' | b'%')
    };
    if let Some(c) = host.bytes().find(|c| !allowed(*c)) {
        return Err(format!("invalid character {:?} in host name", char::from(c)));
    }
    if !valid_escapes(host) {
        return Err("invalid URL escape in host".to_owned());
    }
    Ok(())
}

/// Go's `url.parse`: `via_request` is `ParseRequestURI`'s stricter mode.
fn parse(raw: &str, via_request: bool) -> Result<Parts, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".to_owned());
    }
    if raw.is_empty() && via_request {
        return Err("empty url".to_owned());
    }
    let mut scheme = String::new();
    let mut rest = raw;
    for (i, c) in raw.bytes().enumerate() {
        if c.is_ascii_alphabetic() || (i > 0 && (c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.'))) {
            continue;
        }
        if c == b':' {
            if i == 0 {
                return Err("missing protocol scheme".to_owned());
            }
            scheme = raw[..i].to_ascii_lowercase();
            rest = &raw[i + 1..];
        }
        break;
    }
    let (mut rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, q.to_owned()),
        None => (rest, String::new()),
    };
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            // An opaque URI such as `mailto:a@example.com`.
            return Ok(Parts {
                scheme,
                host: String::new(),
                path: String::new(),
                query,
            });
        }
        if via_request {
            return Err("invalid URI for request".to_owned());
        }
        let first_segment = rest.split('/').next().unwrap_or_default();
        if first_segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".to_owned());
        }
    }
    let mut host = String::new();
    if (!scheme.is_empty() || !via_request && !rest.starts_with("///")) && rest.starts_with("//") {
        let authority_and_path = &rest[2..];
        let end = authority_and_path.find('/').unwrap_or(authority_and_path.len());
        let authority = &authority_and_path[..end];
        rest = &authority_and_path[end..];
        let host_part = match authority.rfind('@') {
            Some(at) => {
                let user = &authority[..at];
                let user_ok = user
                    .bytes()
                    .all(|c| is_unreserved(c) || is_sub_delim(c) || matches!(c, b':' | b'@' | b'%'));
                if !user_ok || !valid_escapes(user) {
                    return Err("net/url: invalid userinfo".to_owned());
                }
                &authority[at + 1..]
            }
            None => authority,
        };
        parse_host(host_part)?;
        host_part.clone_into(&mut host);
    }
    if !valid_escapes(rest) {
        return Err("invalid URL escape in path".to_owned());
    }
    Ok(Parts {
        scheme,
        host,
        path: rest.to_owned(),
        query,
    })
}

/// Whether `raw` is a URL Kubernetes accepts (`isURL`): an absolute URI or an absolute path.
pub fn is_url(raw: &str) -> bool {
    parse(raw, true).is_ok()
}

/// Parses `raw` as `url()` does; the error says why it is refused.
pub fn parse_url(raw: &str) -> Result<Url, String> {
    let error = |e: String| format!("URL parse error during conversion from string: parse {raw:?}: {e}");
    parse(raw, true).map_err(error)?;
    let without_fragment = raw.split_once('#').map_or(raw, |(u, _)| u);
    let parts = parse(without_fragment, false).map_err(error)?;
    Ok(Url {
        text: raw.to_owned(),
        scheme: parts.scheme,
        host: parts.host,
        path: parts.path,
        query: parts.query,
    })
}

fn unescape(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

impl Url {
    /// The host without its port, IPv6 brackets removed.
    pub fn hostname(&self) -> &str {
        let host = match self.host.rfind(':') {
            Some(i)
                if valid_optional_port(&self.host[i..])
                    && (!self.host.starts_with('[') || self.host[..i].ends_with(']')) =>
            {
                &self.host[..i]
            }
            _ => &self.host,
        };
        host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
    }

    /// The port, or empty.
    pub fn port(&self) -> &str {
        match self.host.rfind(':') {
            Some(i)
                if valid_optional_port(&self.host[i..])
                    && (!self.host.starts_with('[') || self.host[..i].ends_with(']')) =>
            {
                &self.host[i + 1..]
            }
            _ => "",
        }
    }

    /// The path escaped as Go's `EscapedPath` does: as written when that is a valid encoding,
    /// else re-escaped.
    pub fn escaped_path(&self) -> String {
        let valid_encoded = self
            .path
            .bytes()
            .all(|c| is_unreserved(c) || is_sub_delim(c) || matches!(c, b':' | b'@' | b'[' | b']' | b'%' | b'/'));
        if valid_encoded {
            return self.path.clone();
        }
        let plain = unescape(&self.path, false).unwrap_or_else(|| self.path.clone());
        let mut out = String::with_capacity(plain.len());
        for c in plain.bytes() {
            if is_unreserved(c) || matches!(c, b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@') {
                out.push(char::from(c));
            } else {
                let _ = write!(out, "%{c:02X}");
            }
        }
        out
    }

    /// The query as Go's `url.Values`: keys to their values in order, unescaped; pairs that do
    /// not unescape, hold a `;` or have an empty key are dropped.
    pub fn query(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for pair in self.query.split('&') {
            if pair.is_empty() || pair.contains(';') {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(k), Some(v)) = (unescape(k, true), unescape(v, true)) else {
                continue;
            };
            match out.iter_mut().find(|(key, _)| *key == k) {
                Some((_, values)) => values.push(v),
                None => out.push((k, vec![v])),
            }
        }
        out
    }
}

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    cel::add_overload!(env, fn to_url: (CelString) -> Result<Url>, name = "url")?;
    cel::add_overload!(env, fn is_url_fn: (CelString) -> CelBool, name = "isURL")?;
    cel::add_member_overload!(env, fn get_scheme: (Url) -> CelString)?;
    cel::add_member_overload!(env, fn get_host: (Url) -> CelString)?;
    cel::add_member_overload!(env, fn get_hostname: (Url) -> CelString)?;
    cel::add_member_overload!(env, fn get_port: (Url) -> CelString)?;
    cel::add_member_overload!(env, fn get_escaped_path: (Url) -> CelString)?;
    cel::add_member_overload!(env, fn get_query: (Url) -> CelMap)?;
    Ok(())
}

fn to_url(text: &CelString<'_>) -> Result<Url, ExecutionError> {
    parse_url(text.inner()).map_err(|e| ExecutionError::function_error("url", e))
}

fn is_url_fn(text: &CelString<'_>) -> CelBool {
    CelBool::from(is_url(text.inner()))
}

fn get_scheme(u: &Url) -> CelString<'static> {
    u.scheme.clone().into()
}

fn get_host(u: &Url) -> CelString<'static> {
    u.host.clone().into()
}

fn get_hostname(u: &Url) -> CelString<'static> {
    u.hostname().to_owned().into()
}

fn get_port(u: &Url) -> CelString<'static> {
    u.port().to_owned().into()
}

fn get_escaped_path(u: &Url) -> CelString<'static> {
    u.escaped_path().into()
}

fn get_query(u: &Url) -> CelMap<'static> {
    let mut map: HashMap<CelMapKey<'static>, Box<dyn Val>> = HashMap::new();
    for (k, values) in u.query() {
        let list: CelList<'static> = values
            .into_iter()
            .map(|v| Box::new(CelString::from(v)) as Box<dyn Val>)
            .collect::<Vec<_>>()
            .into();
        map.insert(CelMapKey::from(k), Box::new(list));
    }
    CelMap::from(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_uris() {
        for ok in [
            "https://user:pass@example.com:80/path?query=val#fragment",
            "/absolute-path",
            "mailto:a@example.com",
            "http://[::1]:8080/",
            "https://example.com",
        ] {
            assert!(is_url(ok), "{ok}");
        }
        for bad in [
            "https://a:b:c/",
            "../relative-path",
            "",
            "relative",
            "http://ex ample.com/",
            "/a%zz",
            ":foo",
            "http://[::1/",
        ] {
            assert!(!is_url(bad), "{bad}");
        }
    }

    #[test]
    fn parts() {
        let u = parse_url("HTTPS://[::1]:80/a b/%41?k=a+b&k=c&&=x&bad=%zz#frag").expect("valid");
        assert_eq!(u.scheme, "https");
        assert_eq!(u.host, "[::1]:80");
        assert_eq!(u.hostname(), "::1");
        assert_eq!(u.port(), "80");
        assert_eq!(u.escaped_path(), "/a%20b/A");
        assert_eq!(
            u.query(),
            vec![
                ("k".to_owned(), vec!["a b".to_owned(), "c".to_owned()]),
                // As in Go: an empty key with a value is kept, a pair that does not unescape is not.
                (String::new(), vec!["x".to_owned()]),
            ]
        );
        assert_eq!(parse_url("https://[::1]/").expect("valid").port(), "");
    }
}
