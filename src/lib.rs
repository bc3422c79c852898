//! A blocking SDK for the WeChat Official Account Platform and the Open
//! Platform third-party platform ("component") API, built around one
//! promise: an account's access token is shared and kept alive across
//! threads, processes and machines without refresh storms, lost tokens or
//! leaked secrets.
//!
//! One call reaches any WeChat API; the SDK appends the right
//! `access_token`, fetches it once for all threads that need it, and
//! refreshes it (once) when WeChat rejects it:
//!
//! ```no_run
//! use weixin::{Client, RequestOptions, SecretSource};
//!
//! let secret = std::env::var("WECHAT_SECRET")?;
//! let client = Client::builder()
//!     .appid("wx1234")
//!     .token_source(SecretSource::new("wx1234", secret))
//!     .build()?;
//! let resp = client.request(
//!     RequestOptions::post("/cgi-bin/material/batchget_material")
//!         .json(serde_json::json!({"type": "image", "offset": 0, "count": 10})),
//! )?;
//! println!("{} images", resp.json()?["total_count"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Your tests can run the same code against a fake WeChat on 127.0.0.1,
//! with the `testing` feature in your `[dev-dependencies]`
//! (`weixin = { version = "0.1", features = ["testing"] }`); it records
//! every call and can reject a token to show the refresh:
//!
//! ```
//! use weixin::testing::FakeWechat;
//! use weixin::{Client, RequestOptions, SecretSource};
//!
//! // A fake WeChat on 127.0.0.1 stands in for api.weixin.qq.com here.
//! let fake = FakeWechat::start()?;
//! let secret = std::env::var("WECHAT_SECRET").unwrap_or_else(|_| "demo-secret".into());
//! fake.register("wx1234", &secret);
//!
//! let client = Client::builder()
//!     .appid("wx1234")
//!     .base_url(fake.url()) // where WeChat is, for calls and tokens alike
//!     .token_source(SecretSource::new("wx1234", secret.as_str()))
//!     .build()?;
//! let resp = client.request(
//!     RequestOptions::post("/cgi-bin/material/batchget_material")
//!         .json(serde_json::json!({"type": "image", "offset": 0, "count": 10})),
//! )?;
//! assert_eq!(resp.json()?["path"], "/cgi-bin/material/batchget_material");
//!
//! fake.invalidate_current("wx1234"); // WeChat now answers 40001 ...
//! client.request("/cgi-bin/get_api_domain_ip")?; // ... refreshed and retried once
//! assert_eq!(fake.count("/cgi-bin/token"), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Scenarios
//!
//! | | as a client of a hub | as the hub (or a single process) |
//! | --- | --- | --- |
//! | common account | [`HubSource`] | `wechat-hub` / `hub::HubHandler` over [`SecretSource`] (alone: [`SecretSource`]) |
//! | component (third-party platform) | [`HubSource`] with authorizer keys | `wechat-hub` / `hub::HubHandler` over [`ComponentSource`] (alone: [`ComponentSource`] over a [`store::FileStore`], fed by `ComponentPushHandler`) |
//!
//! A *hub* owns the token life cycle for many processes: WeChat keeps one
//! live token lineage per account, so processes that each fetch their own
//! token invalidate each other. [`HubSource`] speaks the elixir_wechat hub
//! protocol ([`hub_protocol`]). Without a hub,
//! processes share one token through a store: a [`store::StoreSource`] over
//! a `store::RedisStore` (feature `redis`) in each of them. Your own token
//! service plugs in through [`TokenSource`].
//!
//! A third-party platform's calls are routed as elixir_wechat does: paths
//! under `/cgi-bin/component/` carry `component_access_token` and get
//! `component_appid` filled into the body; `/sns/oauth2/component/*` and
//! `/sns/component/*` get `appid` (the authorizer), `component_appid` and
//! `component_access_token`; any other call with
//! [`RequestOptions::authorizer_appid`] carries that authorizer's token.
//! Authorizer refresh tokens live in one [`RefreshTokenStore`]: a rotated
//! one is saved there by [`ComponentSource`], and a new authorizer's by
//! [`Client::exchange_auth_code`], before the access token is used. Every
//! [`store::Store`] is one, and a [`VerifyTicketProvider`] too: a platform in
//! one process keeps both in a [`store::FileStore`].
//!
//! # Callbacks
//!
//! With the `crypto` feature, [`CallbackHandler::handle`] is the server side
//! of WeChat's pushes in one call, for any HTTP framework: the request's
//! method, query string and body in, a status, content type and body out.
//! It answers the URL check, checks signatures (and an optional replay
//! window), decrypts in compatible and safe mode, reads XML or a mini
//! program's JSON, hands your closure a typed [`Message`], and answers its
//! [`ReplyKind`] in the mode and format the push came in. With
//! [`CallbackHandler::dedup`], WeChat's retries of a push (after 5 s without
//! an answer) run your closure once and get its answer again
//! ([`MemoryDedup`] in one process, `RedisDedup` across several).
//! [`ComponentPushHandler`] is what a third-party platform without
//! a hub does with its notifications.
//!
//! # Users' logins
//!
//! A user's login authenticates by the app's secret (or through its
//! third-party platform) and a code, never by the account's token: these
//! calls need no token source, fetch no account token, and a user's own
//! token never enters the account token cache.
//!
//! OAuth2 web authorization ([`OAuth`]): send the user to the authorize
//! URL, exchange the code WeChat sends them back with for a [`UserToken`],
//! read their profile:
//!
//! ```
//! use weixin::testing::FakeWechat;
//! use weixin::{Client, Lang, OAuth, Scope};
//!
//! let fake = FakeWechat::start()?; // stands in for api.weixin.qq.com
//! let secret = std::env::var("WECHAT_SECRET").unwrap_or_else(|_| "demo-secret".into());
//! fake.register("wx1234", &secret);
//! let client = Client::builder().base_url(fake.url()).build()?;
//!
//! let oauth = OAuth::new("wx1234").secret(secret);
//! let url = oauth.authorize_url("https://example.com/back", Scope::UserInfo, "xyz")?;
//! assert!(url.ends_with("&scope=snsapi_userinfo&state=xyz#wechat_redirect"));
//!
//! // WeChat sends the user back to https://example.com/back?code=...&state=xyz
//! let code = fake.oauth_code("wx1234", "o_alice");
//! let user = oauth.exchange_code(&client, &code)?;
//! let profile = oauth.user_info(&client, &user, Lang::ZhCn)?;
//! assert_eq!(profile.openid, "o_alice");
//! assert_eq!(oauth.exchange_code(&client, &code).unwrap_err().errcode(), Some(40163)); // once only
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A mini program's login ([`MiniProgram`]): `wx.login()`'s code becomes
//! the user's openid and session key; the phone number, an unlimited
//! mini-program code and (feature `crypto`) the decryption of the data the
//! mini program hands over follow:
//!
//! ```
//! use weixin::testing::FakeWechat;
//! use weixin::{Client, MiniProgram};
//!
//! let fake = FakeWechat::start()?;
//! let secret = std::env::var("WECHAT_SECRET").unwrap_or_else(|_| "demo-secret".into());
//! fake.register("wx_mini", &secret);
//! let client = Client::builder().base_url(fake.url()).build()?;
//!
//! let mini = MiniProgram::new("wx_mini").secret(secret);
//! let session = mini.code2session(&client, &fake.js_code("wx_mini", "o_alice"))?;
//! assert_eq!(session.openid, "o_alice");
//! assert_eq!(format!("{:?}", session.session_key), "[redacted]");
//! assert_eq!(fake.count("/cgi-bin/token"), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How tokens are kept
//!
//! - One in-process cache per [`Client`] (shared by its clones), keyed by
//!   [`TokenKey`]. N threads that miss the same key cause one fetch and all
//!   get its result, success or error; other keys never wait.
//! - Expiry follows the source's `timestamp` + `expires_in`, refreshed a
//!   tenth of the lifetime early (at most 300 s by default).
//! - On errcode 40001, 40014 or 42001 the token that was used is refreshed
//!   compare-and-swap style (only if it is still the cached one) and the call
//!   is retried, once per rejected token and [`TOKEN_RETRIES`] times at
//!   most (a token another caller's refresh produced may have been revoked
//!   along with the first). Errcode -1 is retried with jittered backoff, bounded;
//!   other errcodes (45009 quota included) are returned at once.
//! - Token calls are rate-limited per key ([`RefreshLimit`]: 3 at once,
//!   then waits from 2 s doubling while young tokens keep being replaced),
//!   so a storm of rejected tokens cannot burn WeChat's daily quota, and a
//!   token invalidated just after a storm is replaced at once; a refused
//!   call fails with [`ErrorKind::RefreshLimited`], which (like a `log`
//!   warning, once per storm) names the usual cause when a token was
//!   rejected soon after it was fetched: another process fetching tokens
//!   with the same secret. A hub applies the limit for all its replicas.
//! - [`request`] is the same pipeline behind a process-wide client, for
//!   code that does not want to carry a [`Client`] around; [`configure`]
//!   and [`set_token_source`] set it up, each keeping what the other set.
//! - [`ClientBuilder::base_url`] says where WeChat is, for calls and for
//!   the built-in sources alike: one setting aims a client at a fake.
//!
//! # Feature flags
//!
//! - `testing`: [`testing::FakeWechat`] (with canned answers and users'
//!   logins), [`testing::FakeHub`], servers that misbehave on purpose and a
//!   round-robin [`testing::Balancer`], all on 127.0.0.1 and recording
//!   every request, for your own tests; with `redis`, a Redis Sentinel
//!   deployment of a test's own, `testing::SentinelTopology`; with `hub`
//!   and `redis` as well, the chaos run `testing::Chaos`.
//! - `crypto`: callback servers. [`CallbackHandler`] answers the URL check
//!   and pushes in every mode in one call; [`MessageCrypto`]
//!   (WXBizMsgCrypt), typed pushes ([`Message`], [`MessageKind`],
//!   [`Event`]), passive replies ([`Reply`], [`ReplyKind`]) and
//!   [`ComponentPushHandler`] for a third-party platform without a hub.
//!   Retries de-duplicated ([`DedupStore`], [`MemoryDedup`]).
//!   A mini program's encrypted data ([`MiniProgram::decrypt_data`]).
//!   The plain URL check ([`check_url`]) needs no feature.
//! - `hub`: the `wechat-hub` binary and [`hub::HubServer`] (hyper on a small
//!   tokio runtime of its own, HTTPS through tokio-rustls, `/metrics`
//!   through prometheus-client); the
//!   handler and stores in [`hub`] need no feature, and nothing else in the
//!   SDK starts a runtime.
//! - `redis`: [`store::RedisStore`], for hub replicas sharing state (one
//!   Redis, or a Redis Cluster: `RedisStore::cluster`); with
//!   `crypto`, [`RedisDedup`], for callback servers sharing the pushes
//!   they have seen.
//! - `api-security`: signed and encrypted server API calls, a mini
//!   program's "API security" setting: [`ApiSecurity`] keys given to
//!   [`ClientBuilder::api_security`] seal the calls [`is_securable`] names
//!   (AES-256-GCM with `aes-gcm`, RSASSA-PSS with *ring*) and check
//!   WeChat's answers; with `testing`, the fake WeChat plays WeChat's side.
//! - `cli`: the `wechat` command line (tokens, any API call, quota,
//!   callbacks, signatures, OAuth2 and batch jobs from a shell), built on
//!   this crate's public API; enables `crypto`.
//!
//! # Errors
//!
//! Every function returns [`Error`]; match on [`Error::kind`]. WeChat's own
//! `errcode`/`errmsg` are typed fields of [`ErrorKind::Api`]
//! ([`Error::errcode`]); a hub's own errors are [`ErrorKind::Hub`], never
//! mistaken for WeChat's. An error raised while fetching a token says so:
//! [`Error::token_fetch`] names the token, the appid and the kind of source
//! (direct, hub, component), and `Display` starts with it. A transport
//! failure prints its cause (connection refused, name not resolved, TLS), a
//! timeout the limit it reached, a call WeChat kept answering "busy" how
//! many attempts it made ([`Error::attempts`]). No error, log line or
//! `Debug` output contains a secret or a token: secrets are [`Secret`]s,
//! and URLs are printed without their query.
//!
//! # Minimum supported Rust version
//!
//! Rust 1.85.
//!
// An item behind a feature that is off is not in these docs: its links go
// to docs.rs, which documents every feature (with the feature on, they are
// intra-doc links). A definition must follow a blank line, hence the `//!`.
#![cfg_attr(
    not(feature = "crypto"),
    doc = "[`CallbackHandler`]: https://docs.rs/weixin/latest/weixin/struct.CallbackHandler.html
[`CallbackHandler::handle`]: https://docs.rs/weixin/latest/weixin/struct.CallbackHandler.html#method.handle
[`CallbackHandler::dedup`]: https://docs.rs/weixin/latest/weixin/struct.CallbackHandler.html#method.dedup
[`MemoryDedup`]: https://docs.rs/weixin/latest/weixin/struct.MemoryDedup.html
[`DedupStore`]: https://docs.rs/weixin/latest/weixin/trait.DedupStore.html
[`ComponentPushHandler`]: https://docs.rs/weixin/latest/weixin/struct.ComponentPushHandler.html
[`MessageCrypto`]: https://docs.rs/weixin/latest/weixin/struct.MessageCrypto.html
[`Message`]: https://docs.rs/weixin/latest/weixin/struct.Message.html
[`MessageKind`]: https://docs.rs/weixin/latest/weixin/enum.MessageKind.html
[`Event`]: https://docs.rs/weixin/latest/weixin/enum.Event.html
[`Reply`]: https://docs.rs/weixin/latest/weixin/struct.Reply.html
[`ReplyKind`]: https://docs.rs/weixin/latest/weixin/enum.ReplyKind.html
[`MiniProgram::decrypt_data`]: https://docs.rs/weixin/latest/weixin/struct.MiniProgram.html#method.decrypt_data"
)]
#![cfg_attr(
    not(feature = "testing"),
    doc = "[`testing::FakeWechat`]: https://docs.rs/weixin/latest/weixin/testing/struct.FakeWechat.html
[`testing::FakeHub`]: https://docs.rs/weixin/latest/weixin/testing/struct.FakeHub.html
[`testing::Balancer`]: https://docs.rs/weixin/latest/weixin/testing/struct.Balancer.html"
)]
#![cfg_attr(
    not(feature = "hub"),
    doc = "[`hub::HubServer`]: https://docs.rs/weixin/latest/weixin/hub/struct.HubServer.html"
)]
#![cfg_attr(
    not(feature = "api-security"),
    doc = "[`ApiSecurity`]: https://docs.rs/weixin/latest/weixin/struct.ApiSecurity.html
[`ClientBuilder::api_security`]: https://docs.rs/weixin/latest/weixin/struct.ClientBuilder.html#method.api_security
[`is_securable`]: https://docs.rs/weixin/latest/weixin/fn.is_securable.html"
)]
#![cfg_attr(
    not(feature = "redis"),
    doc = "[`store::RedisStore`]: https://docs.rs/weixin/latest/weixin/store/struct.RedisStore.html"
)]
#![cfg_attr(
    not(all(feature = "crypto", feature = "redis")),
    doc = "[`RedisDedup`]: https://docs.rs/weixin/latest/weixin/struct.RedisDedup.html"
)]
// docs.rs labels each item behind a feature with it ("Available on crate
// feature ... only"); `doc(cfg(...))` is nightly rustdoc's, hence `docsrs`.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "api-security")]
mod api_security;
mod app;
mod callback;
#[cfg(feature = "crypto")]
mod callback_handler;
mod client;
mod clock;
#[cfg(feature = "crypto")]
mod component_push;
#[cfg(feature = "crypto")]
mod crypto;
#[cfg(feature = "crypto")]
mod dedup;
mod error;
mod global;
mod http;
mod later;
#[cfg(feature = "crypto")]
mod message;
mod miniprogram;
mod oauth;
#[cfg(feature = "crypto")]
mod open_data;
mod options;
mod origin;
mod pem;
mod proxy;
#[cfg(feature = "redis")]
mod redis_pool;
mod response;
mod secret;
mod sign;
mod token;

pub mod hub;
pub mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

/// The hub protocol, as this crate and elixir_wechat speak it: [`HubSource`]
/// is its client, [`hub::HubHandler`] and `wechat-hub` its server.
///
#[doc = include_str!("../docs/hub-protocol.md")]
pub mod hub_protocol {}

// Every Rust block of the README compiles (and those not marked `no_run`
// run) as a doctest of this item, with the features the README's examples
// use: `cargo test --all-features` (`.ci/test`) checks them. Not part of
// the API: it exists only when rustdoc collects doctests.
#[cfg(all(doctest, feature = "crypto", feature = "redis", feature = "testing"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(feature = "api-security")]
#[cfg_attr(docsrs, doc(cfg(feature = "api-security")))]
pub use api_security::{is_securable, ApiSecurity, SealedRequest};
pub use callback::{check_url, sha1_sorted, verify_signature};
#[cfg(feature = "crypto")]
#[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
pub use callback_handler::{CallbackHandler, CallbackResponse};
pub use client::{AuthorizerTokens, BusyRetry, Client, ClientBuilder, Retry};
pub use clock::{Clock, ManualClock};
#[cfg(feature = "crypto")]
#[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
pub use component_push::ComponentPushHandler;
#[cfg(feature = "crypto")]
#[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
pub use crypto::MessageCrypto;
#[cfg(all(feature = "crypto", feature = "redis"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "crypto", feature = "redis"))))]
pub use dedup::RedisDedup;
#[cfg(feature = "crypto")]
#[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
pub use dedup::{Claim, DedupStore, Delivery, MemoryDedup};
pub use error::{
    ApiCall, ApiSecurityErrorKind, ApiSecurityPart, CallbackErrorKind, Error, ErrorKind,
    NotRetried, Result, SourceKind, TokenFetch, TransportKind,
};
pub use global::{
    configure, global_client, register_source, request, set_token_source, source_client,
    MAX_NAMED_SOURCES,
};
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use http::bench_agent;
pub use later::{CustomMessage, LaterReplies, PendingReply};
#[cfg(feature = "crypto")]
#[cfg_attr(docsrs, doc(cfg(feature = "crypto")))]
pub use message::{
    Article, Authorization, ComponentPush, Event, MediaCheck, MediaCheckDetail, MediaCheckResult,
    MediaCheckSuggest, Message, MessageKind, PushFormat, Reply, ReplyKind, ScanCodeInfo,
    SendLocationInfo, SendPicsInfo, SubscribeMsgChange, SubscribeMsgPopup, SubscribeMsgSent,
    SubscribeStatus,
};
pub use miniprogram::{
    MiniProgram, MiniProgramCode, MiniProgramSession, PhoneNumber, UnlimitedCode,
};
pub use oauth::{Lang, OAuth, Scope, UserInfo, UserToken};
pub use options::{Method, RequestOptions};
pub use proxy::Proxy;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis_pool::RedisSentinel;
pub use response::Response;
pub use secret::{redact, redact_json, Secret};
pub use sign::{
    noncestr, sign_add_card, sign_add_card_for, sign_add_card_with, sign_card, sign_jssdk,
    sign_jssdk_with, CardSignature, JssdkConfig, JssdkSignature,
};
pub use token::component::{
    ComponentSource, MemoryRefreshTokens, MemoryVerifyTickets, RefreshTokenStore,
    VerifyTicketProvider,
};
pub use token::hub::HubSource;
pub use token::limit::RefreshLimit;
pub use token::secret::SecretSource;
pub use token::{Context, TicketType, Token, TokenKey, TokenKind, TokenSource, TOKEN_RETRIES};
