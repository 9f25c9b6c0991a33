//! Webhook and link URLs: only `https://`, except `http://` to a loopback host (tests, sidecars).
//! A webhook URL is a secret, so [`WebhookUrl`]'s `Debug` shows only its scheme and host.

use std::fmt;
use std::net::IpAddr;

use http::Uri;

/// A parsed incoming-webhook URL. The path holds the secret; it is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    uri: Uri,
    tls: bool,
    host: String,
    port: u16,
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "WebhookUrl({scheme}://{}/<redacted>)", self.host)
    }
}

/// Why a webhook or link URL is refused. The message says what is wrong without repeating the URL
/// (a webhook URL is a secret); it reads as the end of a sentence about the URL ("the URL in
/// file X has no host").
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// The text does not parse as a URL.
    #[error("is not a URL ({source})")]
    NotAUrl {
        /// The parser's complaint.
        #[source]
        source: http::uri::InvalidUri,
    },
    /// No host (a bare path, say).
    #[error("has no host")]
    NoHost,
    /// No scheme.
    #[error("has no scheme; use https://")]
    NoScheme,
    /// `http://` to a host that is not loopback.
    #[error(
        "uses http:// to {host}, which is not a loopback host; use https:// (http:// is allowed \
         only to 127.0.0.0/8, ::1 or localhost)"
    )]
    PlainHttp {
        /// The host (not secret; the path is).
        host: String,
    },
    /// A scheme other than `https` or `http`.
    #[error("has scheme '{scheme}'; use https://")]
    Scheme {
        /// The scheme given.
        scheme: String,
    },
}

impl WebhookUrl {
    /// Parses and checks `text`; the error says what is wrong without repeating the URL.
    pub fn parse(text: &str) -> Result<WebhookUrl, UrlError> {
        let (uri, tls, host) = parse_checked(text)?;
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(WebhookUrl { uri, tls, host, port })
    }

    /// The whole URI (secret).
    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }

    /// True for `https://`.
    pub(crate) fn is_tls(&self) -> bool {
        self.tls
    }

    /// Host name or address, without brackets.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// Port, defaulted by scheme.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

/// Checks a link URL shown in messages (same scheme rules as webhooks).
pub(crate) fn check_link_url(text: &str) -> Result<(), UrlError> {
    parse_checked(text).map(|_| ())
}

fn parse_checked(text: &str) -> Result<(Uri, bool, String), UrlError> {
    let uri: Uri = text.parse().map_err(|source| UrlError::NotAUrl { source })?;
    let host = uri
        .host()
        .ok_or(UrlError::NoHost)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") if is_loopback(&host) => false,
        Some("http") => return Err(UrlError::PlainHttp { host }),
        Some(other) => {
            return Err(UrlError::Scheme {
                scheme: other.to_owned(),
            })
        }
        None => return Err(UrlError::NoScheme),
    };
    Ok((uri, tls, host))
}

/// `localhost`, `127.0.0.0/8` and `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        assert!(WebhookUrl::parse("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(WebhookUrl::parse("http://127.0.0.1:9/x").is_ok());
        assert!(WebhookUrl::parse("http://[::1]:9/x").is_ok());
        assert!(WebhookUrl::parse("http://localhost/x").is_ok());
    }

    #[test]
    fn refuses_plain_http_elsewhere_and_other_schemes() {
        let err = WebhookUrl::parse("http://hooks.slack.com/services/T/B/X").unwrap_err();
        assert!(err.to_string().contains("not a loopback host"), "{err}");
        assert!(WebhookUrl::parse("ftp://127.0.0.1/x").is_err());
        assert!(WebhookUrl::parse("/just/a/path").is_err());
    }

    #[test]
    fn errors_name_the_offending_part_and_never_the_secret_path() {
        let err = WebhookUrl::parse("http://hooks.slack.com/services/T0/B0/SECRET").unwrap_err();
        assert!(
            matches!(&err, UrlError::PlainHttp { host } if host == "hooks.slack.com"),
            "{err:?}"
        );
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(!format!("{err:?}").contains("SECRET"), "{err:?}");

        let err = WebhookUrl::parse("ftp://127.0.0.1/SECRET").unwrap_err();
        assert!(
            matches!(&err, UrlError::Scheme { scheme } if scheme == "ftp"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "has scheme 'ftp'; use https://");

        assert!(matches!(WebhookUrl::parse("/just/a/path"), Err(UrlError::NoHost)));
        assert!(matches!(
            WebhookUrl::parse("hooks.slack.com:443"),
            Err(UrlError::NoScheme)
        ));

        let err = WebhookUrl::parse("https://exa mple.com/x").unwrap_err();
        assert!(matches!(err, UrlError::NotAUrl { .. }), "{err:?}");
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert!(cause.is_some_and(|c| err.to_string().contains(&c)), "{err}");
    }

    #[test]
    fn debug_hides_the_secret_path() {
        let url = WebhookUrl::parse("https://hooks.slack.com/services/T0/B0/SECRET").unwrap();
        let shown = format!("{url:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert_eq!(url.port(), 443);
    }
}
