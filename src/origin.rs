//! `Origin`: where calls go, parsed once from a base URL. A scheme, a host,
//! a port and a path prefix (a reverse proxy's `/wechat`, empty for WeChat
//! itself), valid by construction, so that joining a call's path to it is
//! a plain concatenation.

use std::fmt;

use crate::error::{redact_url, Error, Result};

/// WeChat's API hosts, in the order its documentation gives them
/// (<https://developers.weixin.qq.com/doc/service/Basic_Information/Interface_field_description.html>,
/// "接口域名说明"): the general domain, served from the access point
/// nearest the caller; the general disaster-recovery domain in another
/// city, for when the first cannot be reached; then the Shanghai, Shenzhen
/// and Hong Kong access points. WeChat asks for domain names, never pinned
/// IPs. The first is every client's default base URL; the others are the
/// backups [`ClientBuilder::wechat_backup_domains`](crate::ClientBuilder::wechat_backup_domains)
/// turns on.
pub(crate) const WECHAT_BASE_URLS: [&str; 5] = [
    "https://api.weixin.qq.com",
    "https://api2.weixin.qq.com",
    "https://sh.api.weixin.qq.com",
    "https://sz.api.weixin.qq.com",
    "https://hk.api.weixin.qq.com",
];

/// `scheme://host[:port][/prefix]`, checked. Every call's URL, and every
/// built-in source's, starts with [`Origin::base_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: u16,
    /// Empty, or `/a[/b...]` without a trailing `/`: put before every path.
    prefix: String,
    /// `scheme://host[:port]prefix`, written once.
    base: String,
}

impl Origin {
    /// An origin from its parts; `port` defaults to the scheme's, `prefix`
    /// is empty or a path (a trailing `/` is dropped).
    pub fn new(scheme: &str, host: &str, port: Option<u16>, prefix: &str) -> Result<Origin> {
        if scheme != "https" && scheme != "http" {
            return Err(Error::config(format!(
                "scheme must be http or https, got {scheme:?}"
            )));
        }
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            return Err(Error::config(format!(
                "host must be a bare host name, got {host:?}"
            )));
        }
        let prefix = prefix.trim_end_matches('/');
        // A prefix is sent as it is: anything a request line cannot carry,
        // or that would end the path, is refused here rather than per call.
        if !(prefix.is_empty() || prefix.starts_with('/'))
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
        {
            return Err(Error::config(format!(
                "a base url's path must be /segment[/segment...] of printable ASCII, got {:?}",
                redact_url(prefix)
            )));
        }
        let port = port.unwrap_or(default_port(scheme));
        Ok(Origin {
            scheme: scheme.to_string(),
            host: host.to_string(),
            port,
            prefix: prefix.to_string(),
            base: base_url(scheme, host, port) + prefix,
        })
    }

    /// An origin from `http(s)://host[:port][/prefix]`, a trailing `/`
    /// allowed.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the
    /// URL without its query: for a query or a fragment, which no call
    /// could be put under, and for anything else that is not of that form.
    pub fn parse(base_url: &str) -> Result<Origin> {
        if base_url.contains(['?', '#']) {
            return Err(Error::config(format!(
                "base url must have no query or fragment, got {:?}",
                without_userinfo(&redact_url(base_url))
            )));
        }
        let bad = || {
            Error::config(format!(
                "base url must be http(s)://host[:port][/path], got {:?}",
                without_userinfo(base_url)
            ))
        };
        let (scheme, rest) = base_url.split_once("://").ok_or_else(bad)?;
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        // The port follows the last `:` after an IPv6 literal's `]`.
        let host_end = authority.rfind(']').map_or(0, |i| i + 1);
        let (host, port) = match authority[host_end..].rfind(':') {
            Some(i) => {
                let port = authority[host_end + i + 1..].parse().map_err(|_| bad())?;
                (&authority[..host_end + i], Some(port))
            }
            None => (authority, None),
        };
        Origin::new(scheme, host, port, prefix).map_err(|_| bad())
    }

    /// The scheme, the host, the port (`None` when it is the scheme's) and
    /// the path prefix.
    pub fn into_parts(self) -> (String, String, Option<u16>, String) {
        let port = Some(self.port).filter(|p| *p != default_port(&self.scheme));
        (self.scheme, self.host, port, self.prefix)
    }

    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `scheme://host[:port][/prefix]`, the port left out when it is the
    /// scheme's, no trailing `/`: a call's path is appended as it is.
    pub fn base_url(&self) -> &str {
        &self.base
    }
}

/// A built-in source's own base URL, when it was given one: parsed when
/// set, and a bad one reported by the source's fetches (its setter cannot
/// fail).
#[derive(Clone, Default)]
pub(crate) struct OwnBaseUrl(Option<Result<Origin>>);

impl OwnBaseUrl {
    pub fn new(base_url: &str) -> OwnBaseUrl {
        OwnBaseUrl(Some(Origin::parse(base_url)))
    }

    /// The source's own base URL, else `client` (the client's).
    ///
    /// # Errors
    ///
    /// Why the source's own was refused.
    pub fn or<'a>(&'a self, client: &'a str) -> Result<&'a str> {
        match &self.0 {
            None => Ok(client),
            Some(Ok(origin)) => Ok(origin.base_url()),
            Some(Err(e)) => Err(e.clone()),
        }
    }
}

impl fmt::Debug for OwnBaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("None"),
            Some(Ok(origin)) => write!(f, "Some({:?})", origin.base_url()),
            Some(Err(_)) => f.write_str("Some(<refused>)"),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

/// `url` with a `user:password@` masked: a refused base URL is printed.
pub(crate) fn without_userinfo(url: &str) -> String {
    let authority_end = url.find("://").map_or(0, |i| {
        i + 3 + url[i + 3..].find('/').unwrap_or(url.len() - i - 3)
    });
    match url[..authority_end].rfind('@') {
        Some(at) => {
            let start = url.find("://").map_or(0, |i| i + 3);
            format!("{}[redacted]{}", &url[..start], &url[at..])
        }
        None => url.to_string(),
    }
}

/// `scheme://host[:port]`, the port left out when it is the scheme's.
pub(crate) fn base_url(scheme: &str, host: &str, port: u16) -> String {
    if port == default_port(scheme) {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}:{port}")
    }
}

pub(crate) fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn parses_a_base_url_into_an_origin() {
        let parse = |url| Origin::parse(url).map(|o| o.base_url().to_string());
        assert_eq!(
            parse("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            parse("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            parse("https://api2.weixin.qq.com:443").unwrap(),
            "https://api2.weixin.qq.com"
        );
        assert_eq!(parse("http://[::1]:81").unwrap(), "http://[::1]:81");
        assert_eq!(parse("http://[::1]").unwrap(), "http://[::1]");
        assert_eq!(
            parse("http://[::1]:81/wechat/").unwrap(),
            "http://[::1]:81/wechat"
        );
        for bad in [
            "",
            "127.0.0.1:80",
            "ftp://h",
            "http://",
            "http:///prefix",
            "http://h:port",
            "http://h:port/x",
            "http://h:99999",
            "http://u@h",
            "http://h/a b",
            "http://h/caf\u{e9}",
        ] {
            let err = Origin::parse(bad).unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{bad}");
        }
    }

    #[test]
    fn a_path_becomes_the_prefix_of_every_call() {
        let origin = Origin::parse("http://proxy.internal/wechat/v1/").unwrap();
        assert_eq!(origin.base_url(), "http://proxy.internal/wechat/v1");
        assert_eq!(
            origin.into_parts(),
            (
                "http".to_string(),
                "proxy.internal".to_string(),
                None,
                "/wechat/v1".to_string()
            )
        );
        let origin = Origin::parse("https://h:8443//").unwrap();
        assert_eq!(origin.base_url(), "https://h:8443");
    }

    #[test]
    fn a_query_or_fragment_is_refused_without_being_shown() {
        for bad in ["http://h/x?secret=s", "http://h?x=1", "http://h/x#frag"] {
            let err = Origin::parse(bad).unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{bad}");
        }
        assert_eq!(
            Origin::parse("http://h/x?secret=s")
                .unwrap_err()
                .to_string(),
            "invalid configuration: base url must have no query or fragment, got \"http://h/x\""
        );
        assert_eq!(
            Origin::parse("http://me:pw@h/x").unwrap_err().to_string(),
            "invalid configuration: base url must be http(s)://host[:port][/path], got \"http://[redacted]@h/x\""
        );
        assert_eq!(
            Origin::parse("http://me:pw@h/x?a=1")
                .unwrap_err()
                .to_string(),
            "invalid configuration: base url must have no query or fragment, got \"http://[redacted]@h/x\""
        );
        assert_eq!(
            Origin::parse("http://h:x").unwrap_err().to_string(),
            "invalid configuration: base url must be http(s)://host[:port][/path], got \"http://h:x\""
        );
    }
}
