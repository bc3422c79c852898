//! The crate's one error type.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

mod security;
use security::{security_hint, security_part};
pub use security::{ApiSecurityErrorKind, ApiSecurityPart};

/// A specialized `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure this crate reports.
///
/// Match on [`Error::kind`] to tell failures apart; the most common case, an
/// error answered by WeChat itself, is also reachable through
/// [`Error::errcode`] and [`Error::is_token_expired`].
///
/// `Error` is cheap to clone (it is reference counted) so that every caller
/// waiting on one token fetch can receive the same error.
///
/// `Display` says what failed and where: an error of a call starts with
/// the call's method, path and account ([`Error::call`]), then, if it was
/// raised while fetching a token, the fetch ([`Error::token_fetch`]); a
/// transport
/// failure ends with its cause or the timeout it reached, and a call that
/// was retried ends with how many attempts it made ([`Error::attempts`]).
///
/// `Debug` (`{:?}`, what `fn main() -> Result<(), Box<dyn Error>>` and
/// `unwrap` print) is the same text as `Display`, hint included; `{:#?}`
/// shows the fields one by one.
///
/// Neither `Display` nor `Debug` ever contains an access token or a secret:
/// URLs are printed without their query string.
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    source: Option<Arc<dyn StdError + Send + Sync>>,
    /// Printed after the kind's own message: a transport failure's cause,
    /// or the limit a timeout reached. Free of secrets.
    detail: Option<String>,
    /// How many times the call was sent, when it was retried.
    attempts: Option<u32>,
    /// The token fetch the error was raised in.
    fetch: Option<TokenFetch>,
    /// The call the error was raised in.
    call: Option<ApiCall>,
    /// Set when the request certainly never reached the server.
    unsent: bool,
    /// Why a call that failed this way was not sent again.
    not_retried: Option<NotRetried>,
}

/// Why a call was not sent again after a failure that a read would have
/// been retried on; see [`Error::not_retried`].
///
/// # Example
///
/// ```
/// use weixin::NotRetried;
///
/// assert!(NotRetried::MayHaveActed.to_string().starts_with("not retried: "));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotRetried {
    /// The call sends or changes something
    /// ([`Retry::IfNotSent`](crate::Retry::IfNotSent)) and its request
    /// reached WeChat, which may have acted on it (delivered the message)
    /// before answering errcode `-1`: sent again, it could act twice.
    MayHaveActed,
}

impl fmt::Display for NotRetried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotRetried::MayHaveActed => f.write_str(
                "not retried: the call sends or changes something and wechat may have acted on it; \
                 Retry::Always sends it again",
            ),
        }
    }
}

/// Which kind of [`TokenSource`](crate::TokenSource) a token came from, as
/// errors name it.
///
/// # Example
///
/// ```
/// use weixin::{SourceKind, TokenSource};
///
/// assert_eq!(weixin::SecretSource::new("wx1", "s").source_kind(), SourceKind::Direct);
/// assert_eq!(SourceKind::Hub.to_string(), "hub");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SourceKind {
    /// WeChat itself, with an account's secret
    /// ([`SecretSource`](crate::SecretSource)).
    Direct,
    /// A hub ([`HubSource`](crate::HubSource)).
    Hub,
    /// WeChat itself, as a third-party platform
    /// ([`ComponentSource`](crate::ComponentSource)).
    Component,
    /// A hub's store, shared by its replicas
    /// ([`StoreSource`](crate::store::StoreSource)).
    Store,
    /// A source of your own.
    Custom,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Direct => "direct",
            SourceKind::Hub => "hub",
            SourceKind::Component => "component",
            SourceKind::Store => "store",
            SourceKind::Custom => "custom",
        })
    }
}

/// The token fetch an error was raised in: which token, of which account,
/// from which kind of source. See [`Error::token_fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFetch {
    what: String,
    appid: String,
    authorizer_appid: Option<String>,
    source: SourceKind,
    refresh: bool,
}

impl TokenFetch {
    /// `what` names the credential (`access_token`, `jsapi ticket`...).
    pub(crate) fn new(
        what: String,
        appid: &str,
        authorizer_appid: Option<&str>,
        source: SourceKind,
        refresh: bool,
    ) -> TokenFetch {
        TokenFetch {
            what,
            appid: appid.to_string(),
            authorizer_appid: authorizer_appid.map(str::to_string),
            source,
            refresh,
        }
    }

    /// The account's appid (the platform's, for an authorizer's token).
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The authorizer's appid, for an authorizer's token or ticket.
    pub fn authorizer_appid(&self) -> Option<&str> {
        self.authorizer_appid.as_deref()
    }

    /// The kind of source the token was asked of.
    pub fn source(&self) -> SourceKind {
        self.source
    }

    /// Whether a token WeChat had rejected was being replaced (else one
    /// was being fetched).
    pub fn is_refresh(&self) -> bool {
        self.refresh
    }
}

impl fmt::Display for TokenFetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.refresh { "refresh" } else { "fetch" };
        write!(f, "could not {verb} the {} of ", self.what)?;
        match &self.authorizer_appid {
            Some(authorizer) => write!(f, "authorizer {authorizer} (platform {})", self.appid)?,
            None => f.write_str(&self.appid)?,
        }
        write!(f, " from the {} source", self.source)
    }
}

/// The call an error was raised in: its method, its path (never its query)
/// and its account. See [`Error::call`].
///
/// # Example
///
/// ```
/// use weixin::testing::FakeWechat;
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "s1");
/// let client = weixin::Client::builder()
///     .appid("wx1")
///     .base_url(fake.url())
///     .token_source(weixin::SecretSource::new("wx1", "s1"))
///     .build()?;
/// fake.fail_next("/cgi-bin/user/get", 48001, "api unauthorized", 1);
/// let err = client.request("/cgi-bin/user/get?next_openid=o1").unwrap_err();
/// let call = err.call().expect("raised by a call");
/// assert_eq!((call.method(), call.path(), call.appid()), ("GET", "/cgi-bin/user/get", Some("wx1")));
/// assert_eq!(call.to_string(), "GET /cgi-bin/user/get for wx1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    method: &'static str,
    path: String,
    appid: Option<String>,
    authorizer_appid: Option<String>,
}

impl ApiCall {
    /// `path` must carry no query (nor anything secret).
    pub(crate) fn new(
        method: &'static str,
        path: String,
        appid: Option<&str>,
        authorizer_appid: Option<&str>,
    ) -> ApiCall {
        ApiCall {
            method,
            path,
            appid: appid.map(str::to_string),
            authorizer_appid: authorizer_appid.map(str::to_string),
        }
    }

    /// The HTTP method, upper case: `GET`, `POST`...
    pub fn method(&self) -> &str {
        self.method
    }

    /// The path, without the client's base URL, query or fragment:
    /// `/cgi-bin/message/custom/send`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The account the call was made for (the platform's, for an
    /// authorizer's call), when the call or the client names one.
    pub fn appid(&self) -> Option<&str> {
        self.appid.as_deref()
    }

    /// The authorizer the call was made on behalf of, if any.
    pub fn authorizer_appid(&self) -> Option<&str> {
        self.authorizer_appid.as_deref()
    }
}

impl fmt::Display for ApiCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        match (&self.authorizer_appid, &self.appid) {
            (Some(authorizer), Some(appid)) => {
                write!(f, " for authorizer {authorizer} (platform {appid})")
            }
            (Some(authorizer), None) => write!(f, " for authorizer {authorizer}"),
            (None, Some(appid)) => write!(f, " for {appid}"),
            (None, None) => Ok(()),
        }
    }
}

/// What went wrong, as a value the caller can match.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// WeChat answered with a non-zero `errcode`.
    Api {
        /// WeChat's error code, for example `40001` or `45009`.
        errcode: i64,
        /// WeChat's error message, as sent.
        errmsg: String,
        /// The HTTP status of the answer (WeChat uses 200 for most errors).
        status: u16,
    },
    /// A hub answered with an error body. Its `errcode` is the hub's (often
    /// its HTTP status), or WeChat's answer to the hub's own call: never
    /// this client's, so [`Error::errcode`] is `None` for it.
    Hub {
        /// The hub's `errcode`, when it sent one.
        errcode: Option<i64>,
        /// The hub's machine-readable `reason`, for example `invalid_request`.
        reason: String,
        /// The hub's human-readable `message`.
        message: String,
        /// The HTTP status of the answer.
        status: u16,
    },
    /// A server answered with an HTTP status that is not a success, and no
    /// more specific error could be read from its body.
    HttpStatus {
        /// The HTTP status.
        status: u16,
        /// The URL without its query string.
        url: String,
    },
    /// The request could not be carried out over the network. `Display`
    /// ends with the cause (`connection refused`, `name not resolved`,
    /// `tls: ...`) or, for a timeout, the limit that was reached.
    Transport {
        /// Timeout, connection failure or something else.
        kind: TransportKind,
        /// The URL without its query string.
        url: String,
    },
    /// A body was not what the server promised, or was larger than the
    /// limit for its kind of answer (64 KiB for token, ticket and hub
    /// answers, 64 MiB for [`Client::request`](crate::Client::request)).
    Decode {
        /// What was being decoded and what was wrong with it.
        what: String,
    },
    /// The request could not be built: a bad URL, a missing appid, an
    /// unknown method, an unreadable file.
    InvalidRequest {
        /// What is wrong with the request.
        reason: String,
    },
    /// The client or a token source is configured wrongly.
    Config {
        /// What is wrong with the configuration.
        reason: String,
    },
    /// A server callback could not be verified, decrypted or parsed.
    Callback(CallbackErrorKind),
    /// A secured call's answer (feature `api-security`) failed a check:
    /// its signature, platform certificate, appid, timestamp or
    /// encryption. Its body is never handed back.
    ApiSecurity(ApiSecurityErrorKind),
    /// A store of tokens, tickets or refresh tokens (the crate's or one you
    /// wrote) failed.
    Store {
        /// What failed.
        reason: String,
    },
    /// A token fetch or refresh was not sent upstream: the key has used
    /// its [`RefreshLimit`](crate::RefreshLimit) (a burst, then waits from
    /// 2 s that double while young tokens keep being replaced). Try again
    /// after `retry_after`.
    RefreshLimited {
        /// The token's key, for example `AccessToken(wx1234)`.
        key: String,
        /// How long until the limit allows the next call.
        retry_after: std::time::Duration,
        /// How long after it was fetched the rejected token was rejected,
        /// when that was within the floor interval: almost always another
        /// process fetching tokens with the same secret.
        rejected_after: Option<std::time::Duration>,
    },
    /// Work was refused at once, not queued: the queue of a bounded pool
    /// (see [`LaterReplies`](crate::LaterReplies)) holds `capacity` items
    /// already, or the pool was shut down (`capacity` 0 then).
    QueueFull {
        /// How many items the queue holds at most.
        capacity: usize,
    },
}

/// Which part of a network exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// A connect, read or overall timeout was reached.
    Timeout,
    /// The host could not be resolved or the connection was refused: the
    /// request never reached the server.
    Connect,
    /// The connection was established and then reset, aborted or closed
    /// before the whole answer arrived: the server may have seen, and acted
    /// on, the request.
    Reset,
    /// The TLS handshake failed: most often the server's certificate was
    /// refused (signed by a CA not trusted, issued for another name,
    /// expired). The detail says which.
    Tls,
    /// Any other I/O or protocol failure.
    Other,
}

/// Why a server callback (signature check, decryption, XML parsing) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackErrorKind {
    /// The `signature` or `msg_signature` does not match.
    BadSignature,
    /// The EncodingAESKey is not 43 characters of base64.
    InvalidKey,
    /// The ciphertext is not valid base64.
    Base64,
    /// The ciphertext length is not a multiple of the AES block size.
    CiphertextLength,
    /// The PKCS#7 padding (32-byte blocks) is invalid.
    Padding,
    /// The length field points past the end of the plaintext.
    LengthField,
    /// The trailing appid is not the expected one.
    AppIdMismatch,
    /// The message is not valid UTF-8.
    Utf8,
    /// The XML is malformed or not the expected shape.
    Xml(String),
    /// The XML declares a DOCTYPE or entities, which are refused.
    XmlDoctype,
    /// The XML nests deeper than allowed.
    XmlTooDeep,
    /// The XML document (or the request body that carries it) is larger
    /// than allowed.
    XmlTooLarge,
    /// The JSON push (a mini program's, say) is malformed or not the
    /// expected shape: not one object, or two values for one field.
    Json(String),
    /// The JSON nests deeper than allowed.
    JsonTooDeep,
    /// The JSON document (or the request body that carries it) is larger
    /// than allowed.
    JsonTooLarge,
    /// The request's method is neither `GET` (the URL check) nor `POST` (a
    /// push).
    MethodNotAllowed,
    /// A query parameter the request needs is missing or empty.
    MissingParameter(&'static str),
    /// The request's `timestamp` is outside the accepted window (or not a
    /// number), so it may be a replay.
    StaleTimestamp,
    /// A plaintext push reached a handler that takes encrypted ones only.
    NotEncrypted,
    /// A reply was asked for a message without `ToUserName` and
    /// `FromUserName` to answer (a third-party platform notification).
    NotReplyable,
    /// A news reply carries no article, or more than WeChat takes in
    /// answer to this message (8, and 1 for a user's message).
    ArticleCount {
        /// How many articles the reply carries.
        count: usize,
        /// How many WeChat takes here.
        max: usize,
    },
    /// A passive reply of a type a mini program does not take: it takes
    /// `transfer_customer_service` only (send anything else through the
    /// customer service message API).
    MiniProgramReply {
        /// The reply's `MsgType`.
        msg_type: &'static str,
    },
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        // Servers' own messages may echo parts of the request: mask them
        // here, once, so neither Display nor Debug can show them.
        let kind = match kind {
            ErrorKind::Api {
                errcode,
                errmsg,
                status,
            } => ErrorKind::Api {
                errcode,
                errmsg: redact_text(&errmsg),
                status,
            },
            ErrorKind::Hub {
                errcode,
                reason,
                message,
                status,
            } => ErrorKind::Hub {
                errcode,
                reason: redact_text(&reason),
                message: redact_text(&message),
                status,
            },
            other => other,
        };
        Error {
            inner: Arc::new(Inner {
                kind,
                source: None,
                detail: None,
                attempts: None,
                fetch: None,
                call: None,
                unsent: false,
                not_retried: None,
            }),
        }
    }

    pub(crate) fn with_source(
        kind: ErrorKind,
        source: impl StdError + Send + Sync + 'static,
    ) -> Error {
        let mut error = Error::new(kind);
        Arc::make_mut(&mut error.inner).source = Some(Arc::new(source));
        error
    }

    /// The same error, saying more after its message. `detail` must be free
    /// of secrets.
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Error {
        Arc::make_mut(&mut self.inner).detail = Some(detail.into());
        self
    }

    /// The same error, marked as one whose request certainly never reached
    /// the server.
    pub(crate) fn unsent(mut self) -> Error {
        Arc::make_mut(&mut self.inner).unsent = true;
        self
    }

    /// The same error, saying why the call was not sent again.
    pub(crate) fn with_not_retried(mut self, why: NotRetried) -> Error {
        Arc::make_mut(&mut self.inner).not_retried = Some(why);
        self
    }

    /// The same error, saying the call was sent `attempts` times.
    pub(crate) fn after_attempts(mut self, attempts: u32) -> Error {
        Arc::make_mut(&mut self.inner).attempts = Some(attempts);
        self
    }

    /// The same error, raised in `fetch`; an error that already names the
    /// fetch it was raised in (a ticket's access token, say) keeps it.
    pub(crate) fn in_token_fetch(mut self, fetch: impl FnOnce() -> TokenFetch) -> Error {
        if self.inner.fetch.is_none() {
            Arc::make_mut(&mut self.inner).fetch = Some(fetch());
        }
        self
    }

    /// The same error, raised in `call`; an error that already names the
    /// call it was raised in (one a helper made inside another) keeps it.
    pub(crate) fn in_call(mut self, call: impl FnOnce() -> ApiCall) -> Error {
        if self.inner.call.is_none() {
            Arc::make_mut(&mut self.inner).call = Some(call());
        }
        self
    }

    pub(crate) fn api(errcode: i64, errmsg: impl Into<String>, status: u16) -> Error {
        Error::new(ErrorKind::Api {
            errcode,
            errmsg: errmsg.into(),
            status,
        })
    }

    pub(crate) fn decode(what: impl Into<String>) -> Error {
        Error::new(ErrorKind::Decode { what: what.into() })
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidRequest {
            reason: reason.into(),
        })
    }

    pub(crate) fn config(reason: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config {
            reason: reason.into(),
        })
    }

    #[allow(dead_code)] // ok because the callback module is being merged
    pub(crate) fn api_security(kind: ApiSecurityErrorKind) -> Error {
        Error::new(ErrorKind::ApiSecurity(kind))
    }

    pub(crate) fn callback(kind: CallbackErrorKind) -> Error {
        Error::new(ErrorKind::Callback(kind))
    }

    /// An [`ErrorKind::Store`] error, for your own
    /// [`RefreshTokenStore`](crate::RefreshTokenStore) or
    /// [`TokenSource`](crate::TokenSource) to report that its storage
    /// failed. `reason` must not contain a secret.
    ///
    /// # Example
    ///
    /// ```
    /// let io = std::io::Error::other("disk full");
    /// let err = weixin::Error::store("cannot write refresh tokens", io);
    /// assert_eq!(err.to_string(), "store failed: cannot write refresh tokens");
    /// assert!(std::error::Error::source(&err).is_some());
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn store(
        reason: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Error {
        Error::with_source(
            ErrorKind::Store {
                reason: reason.into(),
            },
            source,
        )
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// WeChat's `errcode` when WeChat answered this call with an error,
    /// else `None`.
    ///
    /// A hub's error is `None` too, whatever `errcode` its body carries (its
    /// HTTP status, or WeChat's answer to the hub's own call): code that
    /// retries on `-1` (system busy) must not retry a hub's permanent error.
    /// Read it from [`ErrorKind::Hub`].
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::StubServer;
    ///
    /// let hub = StubServer::start(200, "application/json",
    ///     r#"{"errcode":-1,"message":"no such account","reason":"unknown_appid","http_status":404}"#)?;
    /// let client = weixin::Client::builder()
    ///     .token_source(weixin::HubSource::new(hub.url())?)
    ///     .build()?;
    /// let err = client.token(&weixin::TokenKey::access_token("wx1")).unwrap_err();
    /// assert_eq!(err.errcode(), None);
    /// assert!(matches!(err.kind(), weixin::ErrorKind::Hub { errcode: Some(-1), status: 404, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn errcode(&self) -> Option<i64> {
        match self.kind() {
            ErrorKind::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// The token fetch this error was raised in, if any: which token, of
    /// which account, from which kind of source. An error of the call
    /// itself (WeChat rejecting the call, not the token fetch) has none.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    /// use weixin::SourceKind;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "the-right-secret");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "a-wrong-secret"))
    ///     .build()?;
    /// let err = client.request("/cgi-bin/user/get").unwrap_err();
    /// let fetch = err.token_fetch().expect("raised while fetching the token");
    /// assert_eq!((fetch.appid(), fetch.source()), ("wx1", SourceKind::Direct));
    /// assert_eq!(err.errcode(), Some(40125));
    /// assert!(err.to_string().starts_with(
    ///     "GET /cgi-bin/user/get for wx1: \
    ///      could not fetch the access_token of wx1 from the direct source: wechat api error 40125"
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token_fetch(&self) -> Option<&TokenFetch> {
        self.inner.fetch.as_ref()
    }

    /// The call this error was raised in, if any: its method, path and
    /// account, as [`Display`](fmt::Display) starts with them. Every error
    /// of [`Client::request`](crate::Client::request) and of the helpers
    /// built on it (OAuth, mini program, authorizer exchange) names its
    /// call; a token fetch outside a call ([`Client::token`](crate::Client::token))
    /// names none.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// fake.fail_next("/cgi-bin/message/custom/send", 48001, "api unauthorized", 1);
    /// let err = client
    ///     .request(weixin::RequestOptions::post("/cgi-bin/message/custom/send"))
    ///     .unwrap_err();
    /// assert_eq!(err.call().map(|c| c.path()), Some("/cgi-bin/message/custom/send"));
    /// assert_eq!(err.errcode(), Some(48001));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "POST /cgi-bin/message/custom/send for wx1: wechat api error 48001: api unauthorized"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call(&self) -> Option<&ApiCall> {
        self.inner.call.as_ref()
    }

    /// How many times the call was sent, when it was retried: a call that
    /// WeChat kept answering errcode `-1` (system busy) fails after
    /// `1 +` [`BusyRetry::retries`](crate::BusyRetry::retries) attempts.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .busy_retry(weixin::BusyRetry { retries: 2, base: Duration::from_millis(1), max: Duration::from_millis(2) })
    ///     .build()?;
    /// fake.fail_next("/cgi-bin/busy", -1, "system error", 10);
    /// let err = client.request("/cgi-bin/busy").unwrap_err();
    /// assert_eq!(err.attempts(), Some(3));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "GET /cgi-bin/busy for wx1: wechat api error -1: system error (after 3 attempts)"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attempts(&self) -> Option<u32> {
        self.inner.attempts
    }

    /// True for WeChat's "token invalid or expired" codes: 40001, 40014 and
    /// 42001. These are the codes on which the client refreshes the token
    /// and retries (see [`TOKEN_RETRIES`](crate::TOKEN_RETRIES)).
    pub fn is_token_expired(&self) -> bool {
        matches!(self.kind(), ErrorKind::Api { errcode, .. } if is_token_errcode(*errcode))
    }

    /// True for errcode 61023: the authorizer's refresh token is no longer
    /// valid and the account owner must authorize the platform again;
    /// whether WeChat said so to this client or to its hub.
    pub fn needs_reauthorization(&self) -> bool {
        match self.kind() {
            ErrorKind::Api { errcode, .. } => *errcode == 61023,
            ErrorKind::Hub { errcode, .. } => *errcode == Some(61023),
            _ => false,
        }
    }

    /// True for errcode 45015: a customer-service message was refused
    /// because the user last wrote (or tapped a menu, followed, scanned)
    /// more than 48 hours ago. Only a template or subscription message can
    /// reach them now; sending again will not help.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::{Canned, FakeWechat};
    /// use weixin::RequestOptions;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// let send = "/cgi-bin/message/custom/send";
    /// fake.answer(send, Canned::error(45015, "response out of time limit").times(1));
    /// let err = client.request(RequestOptions::post(send)).unwrap_err();
    /// assert!(err.is_outside_reply_window());
    /// assert!(!err.is_too_many_replies());
    /// assert!(err.to_string().contains("more than 48 hours ago"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_outside_reply_window(&self) -> bool {
        self.errcode() == Some(45015)
    }

    /// True for errcode 45047: a customer-service message was refused
    /// because too many were sent since the user last wrote (WeChat allows
    /// 20 per user message on official accounts). The next message from
    /// the user opens the window again.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::{Canned, FakeWechat};
    /// use weixin::RequestOptions;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// let send = "/cgi-bin/message/custom/send";
    /// fake.answer(send, Canned::error(45047, "out of response count limit").times(1));
    /// let err = client.request(RequestOptions::post(send)).unwrap_err();
    /// assert!(err.is_too_many_replies());
    /// assert!(!err.is_outside_reply_window());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_too_many_replies(&self) -> bool {
        self.errcode() == Some(45047)
    }

    /// True when a bounded pool refused work at once (its queue is full or
    /// it was shut down); see [`ErrorKind::QueueFull`].
    pub fn is_queue_full(&self) -> bool {
        matches!(self.kind(), ErrorKind::QueueFull { .. })
    }

    /// True when the token was not refreshed because its key used up its
    /// [`RefreshLimit`](crate::RefreshLimit), here or at a hub.
    pub fn is_refresh_limited(&self) -> bool {
        matches!(self.kind(), ErrorKind::RefreshLimited { .. })
    }

    /// True when a token store (a hub's) could not be read or written.
    pub(crate) fn is_store_error(&self) -> bool {
        matches!(self.kind(), ErrorKind::Store { .. })
    }

    /// Which part of a secured request WeChat refused, for errcodes
    /// 40230 to 40240 (feature `api-security` makes such requests), from
    /// WeChat's table of them: a missing header (40230 to 40233), the
    /// signature (40234), the encryption (40235), the appid (40236,
    /// 40237), keys not set in the console (40238, 40239), an old
    /// timestamp (40240). `None` for any other error.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    /// use weixin::ApiSecurityPart;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// fake.fail_next("/wxa/msg_sec_check", 40234, "invalid signature", 1);
    /// let err = client.request(weixin::RequestOptions::post("/wxa/msg_sec_check")).unwrap_err();
    /// assert_eq!(err.api_security_part(), Some(ApiSecurityPart::Signature));
    /// assert!(err.to_string().contains("(API_Invalid_Signature; api security: the signature was refused;"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn api_security_part(&self) -> Option<ApiSecurityPart> {
        match self.kind() {
            ErrorKind::Api { errcode, .. } => security_part(*errcode),
            _ => None,
        }
    }

    /// True when the request certainly never reached the server: its host
    /// name was not resolved, the connection was refused, the connect
    /// timeout was reached, or the proxy would not open a tunnel. Such a
    /// call is safe to send again, and goes to the next backup host
    /// ([`ClientBuilder::backup_base_urls`](crate::ClientBuilder::backup_base_urls)).
    /// A timeout after connecting, a reset or any answer is not: the server
    /// may have acted on the request.
    ///
    /// # Example
    ///
    /// ```
    /// let client = weixin::Client::builder().build()?;
    /// let dead = weixin::testing::refused_url()?;
    /// let err = client
    ///     .request(weixin::RequestOptions::get(format!("{dead}/x")).no_token())
    ///     .unwrap_err();
    /// assert!(err.is_unsent());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_unsent(&self) -> bool {
        self.inner.unsent
    }

    /// Why the call was not sent again, when a read failing this way would
    /// have been: a call that sends or changes something
    /// ([`Retry::IfNotSent`](crate::Retry::IfNotSent), the default for the
    /// paths [`Retry::for_path`](crate::Retry::for_path) lists) answered
    /// errcode `-1` is returned at once, with this reason at the end of its
    /// `Display`.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    /// use weixin::{NotRetried, RequestOptions};
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// let send = "/cgi-bin/message/template/send";
    /// fake.fail_next(send, -1, "system error", 1);
    /// let err = client.request(RequestOptions::post(send)).unwrap_err();
    /// assert_eq!(err.not_retried(), Some(NotRetried::MayHaveActed));
    /// assert_eq!(fake.count(send), 1);
    /// assert!(err.to_string().ends_with("(not retried: the call sends or changes something \
    ///     and wechat may have acted on it; Retry::Always sends it again)"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn not_retried(&self) -> Option<NotRetried> {
        self.inner.not_retried
    }

    /// True when a network timeout caused this error.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        )
    }
}

/// The hint of an errcode saying the caller's IP is not allowed, for the
/// allow-list of `$whose`.
macro_rules! allow_list {
    ($whose:literal) => {
        concat!(
            "this machine's IP is not on the ",
            $whose,
            " IP allow-list: add it there, or send calls through an allow-listed proxy \
             (ClientBuilder::proxy, `proxy` in hub.toml or a CLI profile)"
        )
    };
}

/// What the caller should know about errcodes whose `errmsg` says too
/// little.
fn hint(errcode: i64) -> Option<&'static str> {
    Some(match errcode {
        40029 => {
            "the code is unknown or expired: a login code is valid 5 minutes, for its appid only"
        }
        40030 => "the refresh token is invalid: the user must authorize again",
        40125 => "the appsecret is wrong",
        40163 => "the code was already used: each login code works once",
        40164 => allow_list!("account's"),
        61004 => allow_list!("platform's"),
        45009 => "the daily quota of this API is used up; do not retry today",
        45015 => {
            "the user last wrote more than 48 hours ago: customer-service messages cannot reach them; do not resend"
        }
        45047 => {
            "too many customer-service messages since the user last wrote: wait for the user's next message"
        }
        45011 => {
            "calls are too frequent (code2session: 100 per user per minute); retry after a minute"
        }
        61005 => "component_verify_ticket expired: wait for WeChat's next push",
        61006 => "component_verify_ticket invalid: use the latest one WeChat pushed",
        61023 => {
            "the authorizer refresh token is invalid: the account must authorize the platform again"
        }
        61024 => "a third-party platform must get tokens through api_component_token",
        _ => return None,
    })
}

/// 40001 invalid credential, 40014 invalid access_token, 42001 expired.
pub(crate) fn is_token_errcode(errcode: i64) -> bool {
    matches!(errcode, 40001 | 40014 | 42001)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(call) = &self.inner.call {
            write!(f, "{call}: ")?;
        }
        if let Some(fetch) = &self.inner.fetch {
            write!(f, "{fetch}: ")?;
        }
        self.fmt_kind(f)?;
        if let Some(detail) = &self.inner.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(attempts) = self.inner.attempts {
            write!(f, " (after {attempts} attempts)")?;
        }
        if let Some(why) = self.inner.not_retried {
            write!(f, " ({why})")?;
        }
        Ok(())
    }
}

impl Error {
    fn fmt_kind(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            ErrorKind::Api {
                errcode, errmsg, ..
            } => {
                write!(f, "wechat api error {errcode}: {errmsg}")?;
                if let Some((name, hint)) = security_hint(*errcode) {
                    write!(f, " ({name}; {hint})")?;
                }
                if let Some(hint) = hint(*errcode) {
                    write!(f, " ({hint})")?;
                }
                Ok(())
            }
            ErrorKind::Hub {
                errcode,
                reason,
                message,
                status,
            } => {
                write!(f, "hub error (http {status}")?;
                if let Some(code) = errcode {
                    write!(f, ", errcode {code}")?;
                }
                write!(f, ") {reason}: {message}")
            }
            ErrorKind::HttpStatus { status, url } => {
                write!(f, "http status {status} from {url}")
            }
            ErrorKind::Transport { kind, url } => {
                let what = match kind {
                    TransportKind::Timeout => "timed out",
                    TransportKind::Connect => "could not connect",
                    TransportKind::Reset => "lost the connection",
                    TransportKind::Tls => "failed the tls handshake",
                    TransportKind::Other => "transport failed",
                };
                write!(f, "request to {url} {what}")
            }
            ErrorKind::Decode { what } => write!(f, "could not decode {what}"),
            ErrorKind::InvalidRequest { reason } => write!(f, "invalid request: {reason}"),
            ErrorKind::Config { reason } => write!(f, "invalid configuration: {reason}"),
            ErrorKind::Callback(kind) => write!(f, "callback rejected: {kind}"),
            ErrorKind::ApiSecurity(kind) => write!(f, "secured answer rejected: {kind}"),
            ErrorKind::Store { reason } => write!(f, "store failed: {reason}"),
            ErrorKind::RefreshLimited {
                key,
                retry_after,
                rejected_after,
            } => {
                write!(
                    f,
                    "refresh of {key} refused by the refresh limit; next allowed in {}s",
                    retry_after.as_secs_f64().ceil()
                )?;
                if let Some(age) = rejected_after {
                    write!(
                        f,
                        "; the token was rejected {}s after it was fetched: {}",
                        age.as_secs(),
                        crate::token::limit::LINEAGE_FIGHT
                    )?;
                }
                Ok(())
            }
            ErrorKind::QueueFull { capacity: 0 } => {
                write!(f, "not queued: the pool is shut down")
            }
            ErrorKind::QueueFull { capacity } => {
                write!(f, "not queued: the queue holds {capacity} items already")
            }
        }
    }
}

impl fmt::Display for CallbackErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackErrorKind::BadSignature => f.write_str("signature does not match"),
            CallbackErrorKind::InvalidKey => {
                f.write_str("EncodingAESKey is not 43 characters of base64")
            }
            CallbackErrorKind::Base64 => f.write_str("ciphertext is not valid base64"),
            CallbackErrorKind::CiphertextLength => {
                f.write_str("ciphertext length is not a multiple of 16")
            }
            CallbackErrorKind::Padding => f.write_str("invalid PKCS#7 padding"),
            CallbackErrorKind::LengthField => {
                f.write_str("message length field points past the end")
            }
            CallbackErrorKind::AppIdMismatch => f.write_str("message is for another appid"),
            CallbackErrorKind::Utf8 => f.write_str("message is not valid UTF-8"),
            CallbackErrorKind::Xml(why) => write!(f, "malformed xml: {why}"),
            CallbackErrorKind::XmlDoctype => f.write_str("xml with a DOCTYPE is refused"),
            CallbackErrorKind::XmlTooDeep => f.write_str("xml nests too deep"),
            CallbackErrorKind::XmlTooLarge => f.write_str("xml document is too large"),
            CallbackErrorKind::Json(why) => write!(f, "malformed json: {why}"),
            CallbackErrorKind::JsonTooDeep => f.write_str("json nests too deep"),
            CallbackErrorKind::JsonTooLarge => f.write_str("json document is too large"),
            CallbackErrorKind::MethodNotAllowed => {
                f.write_str("method not allowed: use GET for the URL check, POST for pushes")
            }
            CallbackErrorKind::MissingParameter(name) => {
                write!(f, "query parameter {name} is missing")
            }
            CallbackErrorKind::StaleTimestamp => {
                f.write_str("timestamp is outside the accepted window")
            }
            CallbackErrorKind::NotEncrypted => {
                f.write_str("plaintext push refused: this handler takes encrypted pushes only")
            }
            CallbackErrorKind::NotReplyable => {
                f.write_str("cannot reply to a message without ToUserName and FromUserName")
            }
            CallbackErrorKind::ArticleCount { count, max } => write!(
                f,
                "a news reply has {count} articles; WeChat takes 1 to {max} here"
            ),
            CallbackErrorKind::MiniProgramReply { msg_type } => write!(
                f,
                "a mini program takes no passive {msg_type} reply, only \
                 transfer_customer_service: send it as a customer service message"
            ),
        }
    }
}

/// `{:?}` is the `Display` text: it is what `fn main() -> Result<(), Box<dyn
/// Error>>` and `unwrap` print, and a struct dump there would lose the hint
/// ("the appsecret is wrong") a user needs. `{:#?}` is the structured dump.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return fmt::Display::fmt(self, f);
        }
        // Every string in a kind is already free of secrets (URLs are stored
        // without their query), so the derived Debug of the kind is safe.
        let mut d = f.debug_struct("Error");
        d.field("kind", self.kind());
        if let Some(call) = &self.inner.call {
            d.field("call", call);
        }
        if let Some(detail) = &self.inner.detail {
            d.field("detail", detail);
        }
        if let Some(attempts) = &self.inner.attempts {
            d.field("attempts", attempts);
        }
        if let Some(fetch) = &self.inner.fetch {
            d.field("fetch", fetch);
        }
        if self.inner.unsent {
            d.field("unsent", &true);
        }
        if let Some(why) = &self.inner.not_retried {
            d.field("not_retried", why);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", &redact_text(&source.to_string()));
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Names of query parameters and JSON fields whose values are never printed.
pub(crate) const SENSITIVE_NAMES: &[&str] = &[
    "access_token",
    "component_access_token",
    "authorizer_access_token",
    "secret",
    "appsecret",
    "component_appsecret",
    "authorizer_refresh_token",
    "refresh_token",
    "encoding_aes_key",
    "ticket",
    "component_verify_ticket",
    "session_key",
    // Single-use, but a live credential for minutes: OAuth2's and a mini
    // program login's codes, a platform's authorization codes.
    "code",
    "js_code",
    "auth_code",
    "pre_auth_code",
];

/// Query pairs as `Debug` may show them: sensitive names' values masked.
pub(crate) fn redact_pairs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| {
            let shown = if SENSITIVE_NAMES.contains(&k.as_str()) {
                "[redacted]"
            } else {
                v.as_str()
            };
            (k.as_str(), shown)
        })
        .collect()
}

/// A URL with its query and fragment removed, for errors and logs.
pub(crate) fn redact_url(url: &str) -> String {
    // Bytes, not chars: this runs on every call, and both are ASCII.
    let end = url
        .bytes()
        .position(|b| b == b'?' || b == b'#')
        .unwrap_or(url.len());
    url[..end].to_string()
}

/// Masks the values of sensitive names in free text: `name=value` pairs
/// (a URL's query, WeChat's `errmsg` echoing parts of the request) and
/// `"name":"value"` members of JSON text (a request or answer body quoted
/// in a string). A name counts where it starts a word: `code=` is masked
/// in `auth_code=` but not in `errcode=`.
pub(crate) fn redact_text(text: &str) -> String {
    let mut out = text.to_string();
    for name in SENSITIVE_NAMES {
        mask_values(
            &mut out,
            &format!("{name}="),
            &['&', ' ', ',', '"', '#', '\n'],
            |before| !before.is_some_and(|b| b.is_ascii_alphanumeric()),
        );
        mask_values(&mut out, &format!("\"{name}\":\""), &['"'], |_| true);
        mask_values(&mut out, &format!("\"{name}\": \""), &['"'], |_| true);
    }
    out
}

/// Replaces with `[redacted]` what follows each `pattern` in `out` (whose
/// preceding byte `starts` accepts) up to the first of `ends`.
fn mask_values(
    out: &mut String,
    pattern: &str,
    ends: &[char],
    starts: impl Fn(Option<u8>) -> bool,
) {
    let mut from = 0;
    while let Some(pos) = out[from..].find(pattern) {
        let at = from + pos;
        let start = at + pattern.len();
        if !starts(at.checked_sub(1).map(|i| out.as_bytes()[i])) {
            from = start;
            continue;
        }
        let end = out[start..].find(ends).map_or(out.len(), |i| start + i);
        out.replace_range(start..end, "[redacted]");
        from = start + "[redacted]".len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stays_small() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn redacts_query_and_echoed_secrets() {
        assert_eq!(
            redact_url("https://h/cgi-bin/token?appid=a&secret=s#x"),
            "https://h/cgi-bin/token"
        );
        assert_eq!(
            redact_text("invalid credential, access_token=ABC123&x=1 rid: 9"),
            "invalid credential, access_token=[redacted]&x=1 rid: 9"
        );
        assert_eq!(
            redact_text("secret=a secret=b"),
            "secret=[redacted] secret=[redacted]"
        );
        assert_eq!(
            redact_text("errcode=40029&code=0a1&verify_ticket=t#f"),
            "errcode=40029&code=[redacted]&verify_ticket=[redacted]#f"
        );
        assert_eq!(
            redact_text(r#"{"access_token":"ABC","expires_in":7200,"secret": "S"}"#),
            r#"{"access_token":"[redacted]","expires_in":7200,"secret": "[redacted]"}"#
        );
    }

    #[test]
    fn display_is_lowercase_and_names_the_code() {
        let e = Error::api(40164, "invalid ip 1.2.3.4", 200);
        assert_eq!(
            e.to_string(),
            "wechat api error 40164: invalid ip 1.2.3.4 (this machine's IP is not on the account's IP \
             allow-list: add it there, or send calls through an allow-listed proxy \
             (ClientBuilder::proxy, `proxy` in hub.toml or a CLI profile))"
        );
        assert!(Error::api(61004, "access clientip is not registered", 200)
            .to_string()
            .contains("not on the platform's IP allow-list"));
        assert_eq!(
            Error::api(40013, "invalid appid", 200).to_string(),
            "wechat api error 40013: invalid appid"
        );
        assert_eq!(e.errcode(), Some(40164));
        assert!(!e.is_token_expired());
        assert!(Error::api(42001, "expired", 200).is_token_expired());
    }

    #[test]
    fn a_fetch_context_is_printed_first_and_the_innermost_one_kept() {
        let inner = TokenFetch::new(
            "access_token".into(),
            "wxC",
            Some("wxA"),
            SourceKind::Component,
            false,
        );
        let outer = TokenFetch::new(
            "jsapi ticket".into(),
            "wxC",
            Some("wxA"),
            SourceKind::Component,
            false,
        );
        let e = Error::api(61023, "invalid refresh token", 200)
            .in_token_fetch(|| inner.clone())
            .in_token_fetch(|| outer);
        assert_eq!(e.token_fetch(), Some(&inner));
        assert_eq!(
            e.to_string(),
            "could not fetch the access_token of authorizer wxA (platform wxC) from the component source: \
             wechat api error 61023: invalid refresh token \
             (the authorizer refresh token is invalid: the account must authorize the platform again)"
        );
        let refresh = TokenFetch::new("access_token".into(), "wx1", None, SourceKind::Hub, true);
        let e = Error::config("x").in_token_fetch(|| refresh);
        assert_eq!(
            e.to_string(),
            "could not refresh the access_token of wx1 from the hub source: invalid configuration: x"
        );
    }

    #[test]
    fn the_call_is_printed_before_the_fetch_and_the_innermost_kept() {
        let fetch = TokenFetch::new(
            "access_token".into(),
            "wx1",
            None,
            SourceKind::Direct,
            false,
        );
        let call = |path: &str| ApiCall::new("POST", path.into(), Some("wx1"), None);
        let e = Error::api(40125, "invalid appsecret", 200)
            .in_token_fetch(|| fetch)
            .in_call(|| call("/inner"))
            .in_call(|| call("/outer"));
        assert_eq!(e.call(), Some(&call("/inner")));
        assert_eq!(
            e.to_string(),
            "POST /inner for wx1: could not fetch the access_token of wx1 from the direct source: \
             wechat api error 40125: invalid appsecret (the appsecret is wrong)"
        );
        assert_eq!(format!("{e:?}"), e.to_string());
        let dump = format!("{e:#?}");
        assert!(
            dump.contains("call: ApiCall {\n        method: \"POST\",\n        path: \"/inner\""),
            "{dump}"
        );
        let shown =
            |appid, authorizer| ApiCall::new("GET", "/p".into(), appid, authorizer).to_string();
        assert_eq!(shown(None, None), "GET /p");
        assert_eq!(
            shown(Some("wxC"), Some("wxA")),
            "GET /p for authorizer wxA (platform wxC)"
        );
        assert_eq!(shown(None, Some("wxA")), "GET /p for authorizer wxA");
    }

    #[test]
    fn detail_and_attempts_follow_the_message() {
        let e = Error::new(ErrorKind::Transport {
            kind: TransportKind::Connect,
            url: "http://h/p".into(),
        })
        .with_detail("connection refused");
        assert_eq!(
            e.to_string(),
            "request to http://h/p could not connect: connection refused"
        );
        let e = Error::api(-1, "system error", 200).after_attempts(4);
        assert_eq!((e.attempts(), e.errcode()), (Some(4), Some(-1)));
        assert_eq!(
            e.to_string(),
            "wechat api error -1: system error (after 4 attempts)"
        );
        let hub = Error::new(ErrorKind::Hub {
            errcode: Some(-1),
            reason: "hub_error".into(),
            message: "m".into(),
            status: 500,
        });
        assert_eq!(hub.errcode(), None);
    }
}
