//! `ComponentPushHandler`: what a third-party platform without a hub does
//! with the pushes to its authorization event URL.

use std::fmt;
use std::sync::Arc;

use crate::client::{AuthorizerTokens, Client};
use crate::error::{Error, Result};
use crate::message::{ComponentPush, Message, MessageKind};
use crate::store::Store;
use crate::token::{TicketType, TokenKey};

/// Acts on a third-party platform's notifications, for an app that is its
/// own hub: keeps each `component_verify_ticket` in the store, exchanges
/// the code of an `authorized` or `updateauthorized` notification for the
/// authorizer's tokens, and forgets an authorizer that sent `unauthorized`.
///
/// The client's token source must be a
/// [`ComponentSource`](crate::ComponentSource) that reads its tickets from
/// the same store and keeps its refresh tokens there (every
/// [`store::Store`](crate::store::Store) is both; see the example): the
/// exchange then saves the authorizer's refresh token in the store before
/// its access token is cached or used, so a crash after `success` was
/// answered loses nothing. With a [`FileStore`](crate::store::FileStore),
/// that save is a write to disk, fsynced, before the answer.
///
/// # Example
///
/// A platform in one process: the verify ticket arrives, then a component
/// token can be had.
///
/// ```
/// use std::sync::Arc;
/// use weixin::store::FileStore;
/// use weixin::testing::FakeWechat;
/// use weixin::{CallbackHandler, Client, ComponentPushHandler, ComponentSource, Message, MessageCrypto, TokenKey};
///
/// # fn env(name: &str, example: &str) -> String {
/// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
/// # }
/// let secret = env("WECHAT_COMPONENT_SECRET", "component-secret");
/// let fake = FakeWechat::start()?; // stands in for api.weixin.qq.com
/// fake.register_component("wx_component", &secret);
///
/// let path = std::env::temp_dir().join(format!("wechat-push-doc-{}.json", std::process::id()));
/// let store = Arc::new(FileStore::open(&path)?);
/// let source = ComponentSource::new("wx_component", secret.as_str(), store.clone(), store.clone());
/// let client = Client::builder()
///     .appid("wx_component")
///     .token_source(source)
///     .base_url(fake.url())
///     .build()?;
/// let pushes = ComponentPushHandler::new("wx_component", client.clone(), store.clone());
/// let crypto = MessageCrypto::new(
///     env("WECHAT_TOKEN", "t0ken"),
///     env("WECHAT_ENCODING_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
///     "wx_component",
/// )?;
/// let callbacks = CallbackHandler::encrypted(crypto.clone());
///
/// // WeChat pushes the ticket, encrypted (built here the way WeChat does).
/// fake.push_verify_ticket("wx_component", "ticket@@@1");
/// let push = "<xml><AppId>wx_component</AppId><CreateTime>1413192605</CreateTime>\
///     <InfoType>component_verify_ticket</InfoType>\
///     <ComponentVerifyTicket>ticket@@@1</ComponentVerifyTicket></xml>";
/// let body = crypto.encrypt(push, "1413192605", "nonce")?;
/// let signature = Message::parse(&body)?.field("MsgSignature").unwrap().to_string();
/// let query = format!("timestamp=1413192605&nonce=nonce&encrypt_type=aes&msg_signature={signature}");
///
/// let response = callbacks.handle("POST", &query, body.as_bytes(), |message| {
///     pushes.handle(message).map(|()| None)
/// });
/// assert_eq!((response.status(), response.body()), (200, "success"));
/// client.token(&TokenKey::component_access_token("wx_component"))?;
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ComponentPushHandler {
    component_appid: String,
    client: Client,
    store: Arc<dyn Store>,
}

impl ComponentPushHandler {
    /// A handler for platform `component_appid`, exchanging codes through
    /// `client` and keeping tickets in `store`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weixin::store::MemoryStore;
    /// use weixin::{Client, ComponentPushHandler};
    ///
    /// let client = Client::builder().appid("wx_component").build()?;
    /// let pushes = ComponentPushHandler::new("wx_component", client, Arc::new(MemoryStore::new()));
    /// assert!(format!("{pushes:?}").contains("wx_component"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn new(
        component_appid: impl Into<String>,
        client: Client,
        store: Arc<dyn Store>,
    ) -> ComponentPushHandler {
        ComponentPushHandler {
            component_appid: component_appid.into(),
            client,
            store,
        }
    }

    /// Acts on one push; anything but the three notifications below is
    /// left alone. Call it from a
    /// [`CallbackHandler`](crate::CallbackHandler)'s closure and answer
    /// `success` when it returns `Ok` (`.map(|()| None)`), so that an error
    /// answers 500 and WeChat pushes again.
    ///
    /// - `component_verify_ticket`: stored, unless the store holds one
    ///   created later (the newest wins, whatever order pushes arrive in).
    /// - `authorized`, `updateauthorized`: the code is exchanged through
    ///   [`Client::exchange_auth_code_for`]; the refresh token is saved in
    ///   the store before the access token is cached.
    /// - `unauthorized`: the authorizer's refresh token and tokens are
    ///   removed from the store, and its access token and tickets from the
    ///   client's cache.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a notification
    /// whose `AppId` is another platform's; the store's error; the errors
    /// of [`Client::exchange_auth_code_for`] (WeChat's for a used or expired
    /// code).
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use weixin::store::{MemoryStore, Store};
    /// use weixin::{Client, ComponentPushHandler, ErrorKind, Message};
    ///
    /// let store = Arc::new(MemoryStore::new());
    /// let client = Client::builder().appid("wx_component").build()?;
    /// let pushes = ComponentPushHandler::new("wx_component", client, store.clone());
    /// let push = |appid: &str| Message::parse(&format!(
    ///     "<xml><AppId>{appid}</AppId><CreateTime>1</CreateTime>\
    ///      <InfoType>component_verify_ticket</InfoType>\
    ///      <ComponentVerifyTicket>ticket@@@1</ComponentVerifyTicket></xml>"
    /// ));
    ///
    /// pushes.handle(&push("wx_component")?)?;
    /// assert_eq!(store.get_verify_ticket("wx_component")?.unwrap().expose(), "ticket@@@1");
    /// let err = pushes.handle(&push("wx_other")?).unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::Config { .. }));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn handle(&self, message: &Message) -> Result<()> {
        self.apply(message).map(|_| ())
    }

    /// Acts on one push as [`handle`](ComponentPushHandler::handle) does,
    /// and says what it did, for a hub to do more (keep the access token in
    /// its store, stop refreshing a departed authorizer ahead).
    pub(crate) fn apply(&self, message: &Message) -> Result<Handled> {
        let MessageKind::Component(push) = message.kind() else {
            return Ok(Handled::Nothing);
        };
        let appid = self.component_appid.as_str();
        let pushed_to = match push {
            ComponentPush::VerifyTicket { app_id, .. }
            | ComponentPush::Unauthorized { app_id, .. } => app_id,
            ComponentPush::Authorized(auth) | ComponentPush::UpdateAuthorized(auth) => &auth.app_id,
        };
        if pushed_to != appid {
            return Err(Error::config(format!(
                "a push for platform {pushed_to} reached the push handler of {appid}"
            )));
        }
        match push {
            ComponentPush::VerifyTicket {
                ticket,
                create_time,
                ..
            } => {
                // The newest wins: a late push of an older ticket (to this
                // process or another sharing the store) does not replace it.
                let stored = self
                    .store
                    .put_newer_verify_ticket(appid, ticket, *create_time)?;
                log::log!(
                    if stored {
                        log::Level::Debug
                    } else {
                        log::Level::Info
                    },
                    "wechat: verify ticket of {appid} created at {create_time}: {}",
                    if stored {
                        "stored"
                    } else {
                        "older than the one held, not stored"
                    }
                );
                Ok(Handled::Nothing)
            }
            ComponentPush::Authorized(auth) | ComponentPush::UpdateAuthorized(auth) => self
                .client
                .exchange_auth_code_for(appid, auth.authorization_code.expose(), &self.store)
                .map(Handled::Authorized),
            ComponentPush::Unauthorized {
                authorizer_app_id, ..
            } => {
                self.store.remove_authorizer(appid, authorizer_app_id)?;
                // Forget, never fetch: the authorizer is gone.
                let access = TokenKey::access_token(appid);
                let tickets = [TicketType::Jsapi, TicketType::WxCard].map(|ticket| {
                    TokenKey::ticket(appid, ticket).for_authorizer(authorizer_app_id)
                });
                for key in tickets
                    .iter()
                    .chain([&access.for_authorizer(authorizer_app_id)])
                {
                    self.client.forget_token(key);
                }
                Ok(Handled::Unauthorized(authorizer_app_id.clone()))
            }
        }
    }
}

/// What [`ComponentPushHandler::apply`] did beyond the store.
pub(crate) enum Handled {
    /// Nothing more to do: a ticket (stored or older), or another push.
    Nothing,
    /// An authorizer's code was exchanged: its refresh token is stored,
    /// its access token cached in the handler's client.
    Authorized(AuthorizerTokens),
    /// This authorizer left: removed from the store, forgotten by the
    /// handler's client.
    Unauthorized(String),
}

impl fmt::Debug for ComponentPushHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentPushHandler")
            .field("component_appid", &self.component_appid)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
