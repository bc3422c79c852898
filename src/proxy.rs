//! `Proxy`: the HTTP CONNECT proxy a client's calls go out through, for
//! deployments whose WeChat account allows calls from a few fixed IPs
//! only. Its credentials never print.

use std::fmt;

use percent_encoding::percent_decode_str;

use crate::error::{redact_url, Error, Result};
use crate::origin::without_userinfo;
use crate::secret::Secret;

/// An HTTP CONNECT proxy: every call of a client (token fetches, tickets,
/// hub requests and API calls alike) opens its connections through it, so
/// that WeChat sees the proxy's IP, the one on the account's allow-list
/// (errcode 40164, or 61004 for a third-party platform, otherwise).
///
/// Give it to [`ClientBuilder::proxy`](crate::ClientBuilder::proxy). A
/// client uses no proxy unless given one: `HTTPS_PROXY` is read only by
/// [`Proxy::from_env`], when you call it.
///
/// `Debug` and `Display` show the proxy's host and port; a user name and
/// password are shown as `[redacted]`.
///
/// # Example
///
/// ```
/// let proxy = weixin::Proxy::new("http://me:pa%40ss@10.0.0.7:3128")?.no_proxy("hub.internal");
/// assert_eq!((proxy.host(), proxy.port()), ("10.0.0.7", 3128));
/// assert_eq!(proxy.to_string(), "http://[redacted]@10.0.0.7:3128");
/// assert!(!format!("{proxy:?}").contains("pa"));
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Clone)]
pub struct Proxy {
    scheme: String,
    /// As in a URL: an IPv6 literal keeps its brackets.
    host: String,
    port: u16,
    login: Option<(Secret, Secret)>,
    no_proxy: Vec<String>,
}

impl Proxy {
    /// A proxy from `http://[user:password@]host[:port]` (`https://` for a
    /// proxy spoken to over TLS); the port defaults to 80 (443). A user
    /// name and password are percent-decoded, as in any URL (`%40` for
    /// `@`), and sent as `Proxy-Authorization: Basic`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error, naming the
    /// URL without its credentials, when the scheme is not `http` or
    /// `https`, the host is missing, the port is not a number, the URL has
    /// a path or query, or the credentials are not UTF-8 once decoded.
    ///
    /// ```
    /// let err = weixin::Proxy::new("socks5://me:secret@10.0.0.7:1080").unwrap_err();
    /// assert!(matches!(err.kind(), weixin::ErrorKind::Config { .. }));
    /// assert!(!err.to_string().contains("secret"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn new(url: impl AsRef<str>) -> Result<Proxy> {
        let url = url.as_ref();
        let bad = || {
            Error::config(format!(
                "proxy must be http(s)://[user:password@]host[:port], got {:?}",
                without_userinfo(&redact_url(url))
            ))
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad());
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', ' ']) {
            return Err(bad());
        }
        let (login, hostport) = match authority.rsplit_once('@') {
            Some((login, hostport)) => {
                let (user, password) = login.split_once(':').unwrap_or((login, ""));
                let decode = |s: &str| {
                    percent_decode_str(s)
                        .decode_utf8()
                        .map(|s| Secret::new(s.into_owned()))
                        .map_err(|_| bad())
                };
                (Some((decode(user)?, decode(password)?)), hostport)
            }
            None => (None, authority),
        };
        let host_end = hostport.rfind(']').map_or(0, |i| i + 1);
        let (host, port) = match hostport[host_end..].rfind(':') {
            Some(i) => (
                &hostport[..host_end + i],
                Some(hostport[host_end + i + 1..].parse().map_err(|_| bad())?),
            ),
            None => (hostport, None),
        };
        if host.is_empty() {
            return Err(bad());
        }
        let default_port = if scheme == "https" { 443 } else { 80 };
        let proxy = Proxy {
            scheme,
            host: host.to_string(),
            port: port.unwrap_or(default_port),
            login,
            no_proxy: Vec::new(),
        };
        proxy.build().map_err(|_| bad())?;
        Ok(proxy)
    }

    /// The proxy named by the environment, if the process has one:
    /// `HTTPS_PROXY` (or `https_proxy`, then `ALL_PROXY` / `all_proxy`),
    /// with the hosts `NO_PROXY` (or `no_proxy`) lists, comma separated,
    /// reached directly. Read only when called: a client never looks at
    /// the environment of its own accord.
    ///
    /// # Errors
    ///
    /// As for [`Proxy::new`], when the variable is set to something that
    /// is not a proxy URL.
    ///
    /// # Example
    ///
    /// ```
    /// let mut builder = weixin::Client::builder();
    /// if let Some(proxy) = weixin::Proxy::from_env()? {
    ///     builder = builder.proxy(proxy);
    /// }
    /// let client = builder.build()?;
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn from_env() -> Result<Option<Proxy>> {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        };
        let Some(url) = var(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]) else {
            return Ok(None);
        };
        let mut proxy = Proxy::new(url.trim())?;
        for host in var(&["NO_PROXY", "no_proxy"])
            .iter()
            .flat_map(|v| v.split(','))
        {
            let host = host.trim();
            if !host.is_empty() {
                proxy = proxy.no_proxy(host);
            }
        }
        Ok(Some(proxy))
    }

    /// Reaches `host` directly, not through the proxy: `hub.internal` (that
    /// name only), `.internal` or `*.internal` (names under it), `*`
    /// (everything).
    ///
    /// Defaults to none: every host goes through the proxy.
    ///
    /// # Example
    ///
    /// ```
    /// let proxy = weixin::Proxy::new("http://10.0.0.7:3128")?.no_proxy(".internal").no_proxy("localhost");
    /// assert_eq!(proxy.no_proxy_hosts(), [".internal", "localhost"]);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn no_proxy(mut self, host: impl Into<String>) -> Proxy {
        self.no_proxy.push(host.into());
        self
    }

    /// The proxy's host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The hosts reached directly.
    pub fn no_proxy_hosts(&self) -> &[String] {
        &self.no_proxy
    }

    /// The same proxy as ureq takes it.
    pub(crate) fn to_ureq(&self) -> ureq::Proxy {
        // ok because `new` built this very proxy already
        self.build().unwrap_or_else(|_| unreachable!())
    }

    fn build(&self) -> std::result::Result<ureq::Proxy, ureq::Error> {
        let protocol = if self.scheme == "https" {
            ureq::ProxyProtocol::Https
        } else {
            ureq::ProxyProtocol::Http
        };
        let mut builder = ureq::Proxy::builder(protocol)
            .host(&self.host)
            .port(self.port);
        if let Some((user, password)) = &self.login {
            builder = builder.username(user.expose()).password(password.expose());
        }
        for host in &self.no_proxy {
            builder = builder.no_proxy(host);
        }
        builder.build()
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let login = if self.login.is_some() {
            "[redacted]@"
        } else {
            ""
        };
        write!(f, "{}://{login}{}:{}", self.scheme, self.host, self.port)
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &format_args!("{self}"))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl PartialEq for Proxy {
    fn eq(&self, other: &Proxy) -> bool {
        let login = |p: &Proxy| {
            p.login
                .as_ref()
                .map(|(u, pw)| (u.expose().to_string(), pw.expose().to_string()))
        };
        self.scheme == other.scheme
            && self.host == other.host
            && self.port == other.port
            && self.no_proxy == other.no_proxy
            && login(self) == login(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_urls_and_keeps_credentials_out_of_sight() {
        let p = Proxy::new("http://127.0.0.1:3128").unwrap();
        assert_eq!((p.host(), p.port()), ("127.0.0.1", 3128));
        assert_eq!(p.to_string(), "http://127.0.0.1:3128");
        let p = Proxy::new("HTTP://u:p%3Aw@[::1]/").unwrap();
        assert_eq!((p.host(), p.port()), ("[::1]", 80));
        assert_eq!(p.to_string(), "http://[redacted]@[::1]:80");
        let u = p.to_ureq();
        assert_eq!((u.username(), u.password()), (Some("u"), Some("p:w")));
        assert_eq!(Proxy::new("https://h").unwrap().port(), 443);
        for bad in [
            "127.0.0.1:3128",
            "socks5://h:1080",
            "http://",
            "http://u:pw@",
            "http://h:port",
            "http://h/path",
            "http://h?x=1",
            "http://u:%ff@h",
        ] {
            let err = Proxy::new(bad).unwrap_err();
            assert!(
                matches!(err.kind(), crate::ErrorKind::Config { .. }),
                "{bad}"
            );
            assert!(!err.to_string().contains("pw"), "{err}");
        }
    }
}
