//! `RequestOptions`: everything one call to a WeChat API can say.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::client::Retry;
use crate::error::{redact_pairs, Error};

/// An HTTP method WeChat APIs are called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `HEAD`
    Head,
    /// `GET`
    Get,
    /// `DELETE`
    Delete,
    /// `TRACE`
    Trace,
    /// `OPTIONS`
    Options,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
}

impl Method {
    /// The method's name in upper case, as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Head => "HEAD",
            Method::Get => "GET",
            Method::Delete => "DELETE",
            Method::Trace => "TRACE",
            Method::Options => "OPTIONS",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
        }
    }

    /// The same method as the HTTP layer's type, without parsing its name.
    pub(crate) fn as_http(self) -> ureq::http::Method {
        use ureq::http::Method as M;
        match self {
            Method::Head => M::HEAD,
            Method::Get => M::GET,
            Method::Delete => M::DELETE,
            Method::Trace => M::TRACE,
            Method::Options => M::OPTIONS,
            Method::Post => M::POST,
            Method::Put => M::PUT,
            Method::Patch => M::PATCH,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = Error;

    /// Parses a method name, ignoring ASCII case.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) for
    /// any name other than the eight methods above.
    fn from_str(s: &str) -> Result<Method, Error> {
        const ALL: [Method; 8] = [
            Method::Head,
            Method::Get,
            Method::Delete,
            Method::Trace,
            Method::Options,
            Method::Post,
            Method::Put,
            Method::Patch,
        ];
        ALL.into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::invalid(format!("unknown http method {s:?}")))
    }
}

/// One part of a multipart form.
#[derive(Clone)]
pub(crate) enum FormPart {
    Text {
        name: String,
        value: String,
    },
    File {
        name: String,
        path: PathBuf,
    },
    Bytes {
        name: String,
        file_name: String,
        bytes: Vec<u8>,
        content_type: Option<String>,
    },
}

/// The body of a request.
#[derive(Clone, Default)]
pub(crate) enum Body {
    #[default]
    Empty,
    Json(serde_json::Value),
    Form(Vec<FormPart>),
}

/// Everything one API call says: method, URL, query, body, account.
///
/// Built with [`RequestOptions::new`] or the per-method shortcuts, then
/// refined with by-value setters. The SDK appends the right `access_token` to
/// the query, so the caller never handles tokens.
///
/// A bare `&str` converts into a `GET` of that path, so
/// `client.request("/cgi-bin/get_api_domain_ip")` works.
///
/// # Example
///
/// ```
/// use weixin::{Method, RequestOptions};
///
/// let opts = RequestOptions::post("/cgi-bin/material/batchget_material")
///     .json(serde_json::json!({"type": "image", "offset": 0, "count": 10}))
///     .appid("wx1234");
/// assert_eq!(opts.method(), Method::Post);
/// assert_eq!(opts.url(), "/cgi-bin/material/batchget_material");
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Clone)]
pub struct RequestOptions {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) host: Option<String>,
    pub(crate) scheme: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Body,
    pub(crate) appid: Option<String>,
    pub(crate) authorizer_appid: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) no_token: bool,
    /// `None`: as the client's API security and its table say.
    pub(crate) secure: Option<bool>,
    pub(crate) retry: Option<Retry>,
    /// The token source the call names, for [`crate::request`].
    pub(crate) source: Option<String>,
}

impl RequestOptions {
    /// Options for `method` on `url`, which is a path such as
    /// `/cgi-bin/user/info` (sent to the client's host) or a full
    /// `http://` / `https://` URL.
    pub fn new(method: Method, url: impl Into<String>) -> RequestOptions {
        RequestOptions {
            method,
            url: url.into(),
            host: None,
            scheme: None,
            port: None,
            query: Vec::new(),
            body: Body::Empty,
            appid: None,
            authorizer_appid: None,
            timeout: None,
            no_token: false,
            secure: None,
            retry: None,
            source: None,
        }
    }

    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> RequestOptions {
        RequestOptions::new(Method::Get, url)
    }

    /// A `POST` to `url`.
    pub fn post(url: impl Into<String>) -> RequestOptions {
        RequestOptions::new(Method::Post, url)
    }

    /// The host a path is sent to. Ignored when the URL is a full URL.
    ///
    /// Defaults to the client's host, `api.weixin.qq.com` unless changed.
    pub fn host(mut self, host: impl Into<String>) -> RequestOptions {
        self.host = Some(host.into());
        self
    }

    /// The scheme, `https` or `http`. Ignored when the URL is a full URL.
    ///
    /// Defaults to the client's scheme, `https` unless changed.
    pub fn scheme(mut self, scheme: impl Into<String>) -> RequestOptions {
        self.scheme = Some(scheme.into());
        self
    }

    /// The port. Ignored when the URL is a full URL.
    ///
    /// Defaults to the client's port, 443 unless changed.
    pub fn port(mut self, port: u16) -> RequestOptions {
        self.port = Some(port);
        self
    }

    /// Adds a query pair. Pairs are sent in the order added; the SDK adds its
    /// token after them.
    ///
    /// Defaults to no query pairs.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> RequestOptions {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Sends `body` as JSON (`Content-Type: application/json`), replacing any
    /// earlier body.
    ///
    /// Defaults to no body.
    pub fn json(mut self, body: serde_json::Value) -> RequestOptions {
        self.body = Body::Json(body);
        self
    }

    /// Adds a text field to a multipart form body.
    ///
    /// Defaults to no form.
    pub fn form_text(self, name: impl Into<String>, value: impl Into<String>) -> RequestOptions {
        self.form_part(FormPart::Text {
            name: name.into(),
            value: value.into(),
        })
    }

    /// Adds a file read from `path` at send time to a multipart form body,
    /// for example the `media` field of `/cgi-bin/media/upload`.
    ///
    /// Defaults to no form.
    pub fn form_file(self, name: impl Into<String>, path: impl Into<PathBuf>) -> RequestOptions {
        self.form_part(FormPart::File {
            name: name.into(),
            path: path.into(),
        })
    }

    /// Adds in-memory bytes, sent as a file named `file_name`, to a multipart
    /// form body. The content type is guessed from the file name.
    ///
    /// Defaults to no form.
    pub fn form_bytes(
        self,
        name: impl Into<String>,
        file_name: impl Into<String>,
        bytes: impl Into<Vec<u8>>,
    ) -> RequestOptions {
        self.form_part(FormPart::Bytes {
            name: name.into(),
            file_name: file_name.into(),
            bytes: bytes.into(),
            content_type: None,
        })
    }

    fn form_part(mut self, part: FormPart) -> RequestOptions {
        match &mut self.body {
            Body::Form(parts) => parts.push(part),
            _ => self.body = Body::Form(vec![part]),
        }
        self
    }

    /// The account whose token is appended.
    ///
    /// Defaults to the client's appid.
    pub fn appid(mut self, appid: impl Into<String>) -> RequestOptions {
        self.appid = Some(appid.into());
        self
    }

    /// Calls on behalf of this authorizer of a third-party platform: the
    /// authorizer's access token is appended instead of the account's.
    ///
    /// Defaults to none.
    pub fn authorizer_appid(mut self, appid: impl Into<String>) -> RequestOptions {
        self.authorizer_appid = Some(appid.into());
        self
    }

    /// The overall timeout of this call, replacing the client's.
    ///
    /// Defaults to the client's timeout.
    pub fn timeout(mut self, timeout: Duration) -> RequestOptions {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the call without any account token, whatever its path: no
    /// `access_token` is appended and no token is fetched, so the client
    /// needs no appid and no token source for it.
    ///
    /// Calls that authenticate by appid + secret or by a user's token
    /// (`/cgi-bin/token`, `/cgi-bin/stable_token`, `/cgi-bin/clear_quota/v2`,
    /// `/sns/oauth2/access_token`, `/sns/oauth2/refresh_token`,
    /// `/sns/jscode2session`, `/sns/userinfo`, `/sns/auth`) carry none
    /// already; this is for paths the SDK does not know.
    ///
    /// Defaults to off: the token follows from the path.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::RequestOptions;
    ///
    /// let opts = RequestOptions::get("/my/own/api").no_token();
    /// assert!(opts.is_no_token());
    /// assert!(!RequestOptions::get("/my/own/api").is_no_token());
    /// ```
    pub fn no_token(mut self) -> RequestOptions {
        self.no_token = true;
        self
    }

    /// Turns WeChat's API security (signature and encryption, feature
    /// `api-security`) on or off for this call, whatever the table of
    /// securable calls says: on needs the client's
    /// `ClientBuilder::api_security`
    /// keys; a multipart upload is never secured.
    ///
    /// Defaults to the table: with keys set, the calls
    /// `is_securable` names are secured, the others are not.
    ///
    /// # Example
    ///
    /// ```
    /// let opts = weixin::RequestOptions::post("/wxa/msg_sec_check").secure(false);
    /// assert_eq!(opts.is_secure(), Some(false));
    /// assert_eq!(weixin::RequestOptions::get("/x").is_secure(), None);
    /// ```
    pub fn secure(mut self, on: bool) -> RequestOptions {
        self.secure = Some(on);
        self
    }

    /// What [`secure`](RequestOptions::secure) set, if anything.
    pub fn is_secure(&self) -> Option<bool> {
        self.secure
    }

    /// When this call may be sent again after a failure, replacing what its
    /// path gets from [`Retry::for_path`]: [`Retry::Busy`] for reads
    /// (errcode `-1` retried as the client's
    /// [`BusyRetry`](crate::BusyRetry) says), [`Retry::IfNotSent`] for a
    /// call that sends a message or changes state, which must not be sent
    /// twice, [`Retry::Always`] to send such a call again on errcode `-1`
    /// all the same. The token retry on 40001, 40014 and 42001 is made
    /// either way: WeChat refuses those before acting.
    ///
    /// Defaults to [`Retry::for_path`] of the call's path.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{RequestOptions, Retry};
    ///
    /// let send = RequestOptions::post("/cgi-bin/message/custom/send");
    /// assert_eq!(send.retry_rule(), Retry::IfNotSent);
    /// assert_eq!(send.retry(Retry::Always).retry_rule(), Retry::Always);
    /// assert_eq!(RequestOptions::get("/cgi-bin/user/get").retry_rule(), Retry::Busy);
    /// ```
    pub fn retry(mut self, retry: Retry) -> RequestOptions {
        self.retry = Some(retry);
        self
    }

    /// When this call may be sent again: as set with
    /// [`retry`](RequestOptions::retry), else as its path says
    /// ([`Retry::for_path`]).
    pub fn retry_rule(&self) -> Retry {
        self.retry.unwrap_or_else(|| Retry::for_path(&self.url))
    }

    /// Where [`weixin::request`](crate::request) takes this call's token
    /// from, as elixir_wechat's `adapter_storage` says it per call: a hub
    /// URL (`http://` or `https://`, its tokens cached apart from every
    /// other hub's) or the name of a source given to
    /// [`register_source`](crate::register_source) (a hub with a bearer
    /// secret, a store, your own). A [`Client`](crate::Client) has its own
    /// source and refuses a call naming another.
    ///
    /// Defaults to the process-wide source
    /// ([`set_token_source`](crate::set_token_source)).
    ///
    /// # Example
    ///
    /// ```
    /// let opts = weixin::RequestOptions::get("/cgi-bin/user/get").source("http://hub-b:4000");
    /// assert_eq!(opts.source_name(), Some("http://hub-b:4000"));
    /// assert_eq!(weixin::RequestOptions::get("/x").source_name(), None);
    ///
    /// let client = weixin::Client::builder().appid("wx1").build()?;
    /// let err = client.request(opts).unwrap_err();
    /// assert!(matches!(err.kind(), weixin::ErrorKind::InvalidRequest { .. }));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn source(mut self, source: impl Into<String>) -> RequestOptions {
        self.source = Some(source.into());
        self
    }

    /// The source [`source`](RequestOptions::source) named, if any.
    ///
    /// # Example
    ///
    /// ```
    /// let opts = weixin::RequestOptions::get("/cgi-bin/user/get").source("vault");
    /// assert_eq!(opts.source_name(), Some("vault"));
    /// ```
    pub fn source_name(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// Whether [`no_token`](RequestOptions::no_token) was set.
    pub fn is_no_token(&self) -> bool {
        self.no_token
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL or path as given.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl From<&str> for RequestOptions {
    fn from(url: &str) -> RequestOptions {
        RequestOptions::get(url)
    }
}

impl From<String> for RequestOptions {
    fn from(url: String) -> RequestOptions {
        RequestOptions::get(url)
    }
}

impl From<(Method, &str)> for RequestOptions {
    fn from((method, url): (Method, &str)) -> RequestOptions {
        RequestOptions::new(method, url)
    }
}

impl fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = match &self.body {
            Body::Empty => "empty",
            Body::Json(_) => "json",
            Body::Form(_) => "multipart form",
        };
        f.debug_struct("RequestOptions")
            .field("method", &self.method)
            .field("url", &crate::error::redact_url(&self.url))
            .field("host", &self.host)
            .field("scheme", &self.scheme)
            .field("port", &self.port)
            .field("query", &redact_pairs(&self.query))
            .field("body", &body)
            .field("appid", &self.appid)
            .field("authorizer_appid", &self.authorizer_appid)
            .field("timeout", &self.timeout)
            .field("secure", &self.secure)
            .field("retry", &self.retry)
            .field(
                "source",
                &self
                    .source
                    .as_deref()
                    .map(|s| crate::origin::without_userinfo(&crate::error::redact_url(s))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_ignoring_case() {
        assert_eq!("patch".parse::<Method>().unwrap(), Method::Patch);
        assert_eq!("OPTIONS".parse::<Method>().unwrap(), Method::Options);
        let err = "CONNECT".parse::<Method>().unwrap_err();
        assert!(matches!(
            err.kind(),
            crate::ErrorKind::InvalidRequest { .. }
        ));
    }

    #[test]
    fn debug_masks_sensitive_query_values() {
        let opts = RequestOptions::get("/x?secret=inline")
            .query("access_token", "TOKEN")
            .query("type", "jsapi");
        let shown = format!("{opts:?}");
        assert!(!shown.contains("TOKEN"), "{shown}");
        assert!(!shown.contains("inline"), "{shown}");
        assert!(shown.contains("jsapi"));
    }

    #[test]
    fn debug_shows_a_named_hub_without_credentials_or_query() {
        let opts = RequestOptions::get("/x").source("https://user:pw@hub:4000/p?access_token=T");
        let shown = format!("{opts:?}");
        assert!(
            shown.contains(r#"source: Some("https://[redacted]@hub:4000/p")"#),
            "{shown}"
        );
        assert!(!shown.contains("pw") && !shown.contains("=T"), "{shown}");
    }

    #[test]
    fn form_parts_accumulate() {
        let opts = RequestOptions::post("/cgi-bin/media/upload")
            .form_text("a", "1")
            .form_bytes("media", "a.jpg", vec![1, 2]);
        assert!(matches!(&opts.body, Body::Form(parts) if parts.len() == 2));
    }
}
