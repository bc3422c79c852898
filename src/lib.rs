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
//! ```
//! use wechat::testing::FakeWechat;
//! use wechat::{Client, RequestOptions, SecretSource};
//!
//! // A fake WeChat on 127.0.0.1 stands in for api.weixin.qq.com here.
//! let fake = FakeWechat::start()?;
//! let secret = std::env::var("WECHAT_SECRET").unwrap_or_else(|_| "demo-secret".into());
//! fake.register("wx1234", &secret);
//!
//! let client = Client::builder()
//!     .appid("wx1234")
//!     .token_source(SecretSource::new("wx1234", secret.as_str()).base_url(fake.url()))
//!     .scheme("http").host("127.0.0.1").port(fake.port())
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
//! | component (third-party platform) | [`HubSource`] with authorizer keys | `wechat-hub` / `hub::HubHandler` over [`ComponentSource`] (alone: [`ComponentSource`]) |
//!
//! A *hub* owns the token life cycle for many processes: WeChat keeps one
//! live token lineage per account, so processes that each fetch their own
//! token invalidate each other. [`HubSource`] speaks the elixir_wechat hub
//! protocol. Your own token service plugs in through [`TokenSource`].
//!
//! A third-party platform's calls are routed as elixir_wechat does: paths
//! under `/cgi-bin/component/` carry `component_access_token` and get
//! `component_appid` filled into the body; `/sns/oauth2/component/*` and
//! `/sns/component/*` get `appid` (the authorizer), `component_appid` and
//! `component_access_token`; any other call with
//! [`RequestOptions::authorizer_appid`] carries that authorizer's token.
//! Rotated authorizer refresh tokens are saved to your
//! [`RefreshTokenStore`] before the new access token is used.
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
//!   then one per 30 s), so a storm of rejected tokens cannot burn WeChat's
//!   daily quota; a refused call fails with [`ErrorKind::RefreshLimited`],
//!   which (like a `log` warning) names the usual cause when a token was
//!   rejected soon after it was fetched: another process fetching tokens
//!   with the same secret. A hub applies the limit for all its replicas.
//! - [`request`] is the same pipeline behind a process-wide client, for
//!   code that does not want to carry a [`Client`] around.
//!
//! # Feature flags
//!
//! - `testing`: [`testing::FakeWechat`], [`testing::FakeHub`], servers
//!   that misbehave on purpose and a round-robin [`testing::Balancer`], all
//!   on 127.0.0.1, for your own tests; with `hub` and `redis` as well, the
//!   chaos run `testing::Chaos`.
//! - `crypto`: server callback message encryption ([`MessageCrypto`],
//!   WXBizMsgCrypt) and push XML parsing ([`Message`], [`TextReply`]). The
//!   plain URL check ([`check_url`]) needs no feature.
//! - `hub`: the `wechat-hub` binary and [`hub::HubServer`] (hyper on a small
//!   tokio runtime of its own, `/metrics` through prometheus-client); the
//!   handler and stores in [`hub`] need no feature, and nothing else in the
//!   SDK starts a runtime.
//! - `redis`: [`hub::RedisStore`], for hub replicas sharing state.
//!
//! # Errors
//!
//! Every function returns [`Error`]; match on [`Error::kind`]. WeChat's own
//! `errcode`/`errmsg` are typed fields of [`ErrorKind::Api`]. No error, log
//! line or `Debug` output contains a secret or a token: secrets are
//! [`Secret`]s, and URLs are printed without their query.
//!
//! # Minimum supported Rust version
//!
//! Rust 1.85.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod callback;
mod client;
mod clock;
#[cfg(feature = "crypto")]
mod crypto;
mod error;
mod global;
mod http;
#[cfg(feature = "crypto")]
mod message;
mod options;
mod response;
mod secret;
mod sign;
mod token;

pub mod hub;
#[cfg(feature = "testing")]
pub mod testing;

pub use callback::{check_url, sha1_sorted, verify_signature};
pub use client::{AuthorizerTokens, BusyRetry, Client, ClientBuilder, TOKEN_RETRIES};
pub use clock::{Clock, ManualClock};
#[cfg(feature = "crypto")]
pub use crypto::MessageCrypto;
pub use error::{CallbackErrorKind, Error, ErrorKind, Result, TransportKind};
pub use global::{configure, global_client, request, set_token_source};
#[cfg(feature = "crypto")]
pub use message::{Authorization, ComponentPush, Message, MessageKind, TextReply};
pub use options::{Method, RequestOptions};
pub use response::Response;
pub use secret::Secret;
pub use sign::{sign_card, sign_jssdk, sign_jssdk_with, JssdkConfig, JssdkSignature};
pub use token::component::{
    ComponentSource, MemoryRefreshTokens, MemoryVerifyTickets, RefreshTokenStore,
    VerifyTicketProvider,
};
pub use token::hub::HubSource;
pub use token::limit::RefreshLimit;
pub use token::secret::SecretSource;
pub use token::{Context, TicketType, Token, TokenKey, TokenKind, TokenSource};
