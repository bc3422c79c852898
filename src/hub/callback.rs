//! A third-party platform's encrypted pushes at
//! `POST /callback/component/<component appid>`: verify, decrypt, act on
//! the verify ticket or the authorization change, answer `success`.

use super::error::HubError;
use super::handler::{optional, Answer, HubHandler};
use super::metrics::KINDS;
use super::wire::{HubRequest, HubResponse};
use crate::token::{TicketType, TokenKey};
use crate::{ComponentPush, Message, MessageKind};

impl HubHandler {
    /// Answers a push for platform `appid`.
    pub(super) fn callback(&self, appid: &str, req: &HubRequest) -> Answer {
        let Some(crypto) = self.callbacks.get(appid) else {
            return Err(HubError::new(
                404,
                "unknown_appid",
                format!("this hub has no callback for {appid}"),
            ));
        };
        let param = |name: &str| optional(req.param(name));
        let (Some(signature), Some(timestamp), Some(nonce)) =
            (param("msg_signature"), param("timestamp"), param("nonce"))
        else {
            return Err(HubError::invalid(
                "missing parameter msg_signature, timestamp or nonce",
            ));
        };
        let body = std::str::from_utf8(&req.body)
            .map_err(|_| HubError::invalid("the body is not UTF-8"))?;
        let xml = crypto
            .decrypt(signature, timestamp, nonce, body)
            .map_err(|e| HubError::invalid(e.to_string()))?;
        let message = Message::parse(&xml).map_err(|e| HubError::invalid(e.to_string()))?;
        match message.into_kind() {
            MessageKind::Component(ComponentPush::VerifyTicket {
                ticket,
                create_time,
                ..
            }) => {
                // The newest wins: a late push of an older ticket (to this
                // replica or another) does not replace it.
                let stored = self
                    .store
                    .put_newer_verify_ticket(appid, &ticket, create_time)?;
                log::log!(
                    if stored {
                        log::Level::Debug
                    } else {
                        log::Level::Info
                    },
                    "wechat hub: verify ticket of {appid} created at {create_time}: {}",
                    if stored {
                        "stored"
                    } else {
                        "older than the one held, not stored"
                    }
                );
            }
            MessageKind::Component(
                ComponentPush::Authorized(auth) | ComponentPush::UpdateAuthorized(auth),
            ) => {
                // query_auth saves the refresh token through the store
                // before anything uses the access token.
                let exchanged = self
                    .client
                    .exchange_auth_code_for(appid, auth.authorization_code.expose(), &self.store);
                self.counts.upstream_call(KINDS[3], exchanged.is_ok());
                let tokens = exchanged?;
                let key = TokenKey::access_token(appid).for_authorizer(&tokens.authorizer_appid);
                self.store.put_token(&key, &tokens.access_token)?;
                self.ahead.served(&key);
            }
            MessageKind::Component(ComponentPush::Unauthorized {
                authorizer_app_id, ..
            }) => {
                self.store.remove_authorizer(appid, &authorizer_app_id)?;
                self.ahead.stop_authorizer(appid, &authorizer_app_id);
                // Forget, never fetch: the authorizer is gone.
                let access = TokenKey::access_token(appid).for_authorizer(&authorizer_app_id);
                let jsapi =
                    TokenKey::ticket(appid, TicketType::Jsapi).for_authorizer(&authorizer_app_id);
                let card =
                    TokenKey::ticket(appid, TicketType::WxCard).for_authorizer(&authorizer_app_id);
                for key in [access, jsapi, card] {
                    self.client.forget_token(&key);
                }
            }
            _ => {}
        }
        Ok(HubResponse::new(200, "text/plain", "success"))
    }
}
