//! A third-party platform's encrypted pushes at
//! `POST /callback/component/<component appid>`: the library's
//! [`CallbackHandler`] checks, decrypts and parses them, its
//! [`ComponentPushHandler`] acts on them, and the hub keeps an authorizer's
//! new access token in its store (and refreshes it ahead) or stops
//! refreshing a departed one. Refusals are answered in the hub's error
//! body.

use super::error::HubError;
use super::handler::{Answer, HubHandler};
use super::metrics::KINDS;
use super::wire::{HubRequest, HubResponse};
use crate::component_push::Handled;
use crate::http::with_query;
use crate::token::TokenKey;
use crate::{CallbackHandler, ComponentPush, ComponentPushHandler, Message, MessageKind};

impl HubHandler {
    /// Answers a push for platform `appid`: 200 `success` once it is acted
    /// on; a refused push (bad signature, not encrypted, not decryptable,
    /// not XML) is an `invalid_request` (400), and a failure to act on it
    /// the error of the store or of WeChat, so that WeChat pushes again.
    pub(super) fn callback(&self, appid: &str, req: &HubRequest) -> Answer {
        let Some(crypto) = self.callbacks.get(appid) else {
            return Err(HubError::new(
                404,
                "unknown_appid",
                format!("this hub has no callback for {appid}"),
            ));
        };
        let pushes = ComponentPushHandler::new(appid, self.client.clone(), self.store.clone());
        // The handler reads the raw query; the hub's request holds it decoded.
        let query = with_query("", req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let response = CallbackHandler::encrypted(crypto.clone()).handle(
            &req.method,
            &query,
            &req.body,
            |message| {
                self.act(appid, &pushes, message)?;
                Ok(None)
            },
        );
        match response.error() {
            None => Ok(HubResponse::new(
                response.status(),
                response.content_type(),
                response.body(),
            )),
            // The push itself was refused: nothing was acted on.
            Some(e) if response.status() < 500 => Err(HubError::invalid(e.to_string())),
            Some(e) => Err(HubError::from(e)),
        }
    }

    /// Acts on a push that passed every check, then does the hub's part.
    fn act(
        &self,
        appid: &str,
        pushes: &ComponentPushHandler,
        message: &Message,
    ) -> crate::Result<()> {
        let exchange = matches!(
            message.kind(),
            MessageKind::Component(
                ComponentPush::Authorized(_) | ComponentPush::UpdateAuthorized(_)
            )
        );
        let handled = pushes.apply(message);
        if exchange {
            self.counts.upstream_call(KINDS[3], handled.is_ok());
        }
        match handled? {
            Handled::Nothing => {}
            Handled::Authorized(tokens) => {
                // The refresh token is in the store already; the access
                // token joins it, kept as every token is (its configured
                // lifetime), so that every replica serves it, this one's
                // cache too (the exchange cached it as WeChat gave it).
                let key = TokenKey::access_token(appid).for_authorizer(&tokens.authorizer_appid);
                let kept = self.ahead.source.put_obtained(&key, &tokens.access_token)?;
                self.cache.insert(&key, kept);
                self.ahead.served(&key);
            }
            Handled::Unauthorized(authorizer) => self.ahead.stop_authorizer(appid, &authorizer),
        }
        Ok(())
    }
}
