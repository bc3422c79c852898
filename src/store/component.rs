//! The hub's stores serve a [`ComponentSource`](crate::ComponentSource)
//! too: each is a [`VerifyTicketProvider`] and a [`RefreshTokenStore`]
//! over the same state the hub keeps, so one process without a hub gets
//! durable tickets and refresh tokens from a [`FileStore`] (written
//! atomically, fsynced, mode 0600), and a platform that grows into a hub
//! hands it the same file.

use std::sync::Arc;

use super::FileStore;
use super::{MemoryStore, Store};
use crate::error::Result;
use crate::secret::Secret;
use crate::token::component::{RefreshTokenStore, VerifyTicketProvider};

macro_rules! component_stores {
    ($($store:ty),+) => {$(
        impl VerifyTicketProvider for $store {
            fn verify_ticket(&self, component_appid: &str) -> Result<Option<Secret>> {
                self.get_verify_ticket(component_appid)
            }
        }

        impl RefreshTokenStore for $store {
            fn load(&self, component_appid: &str, authorizer_appid: &str) -> Result<Option<Secret>> {
                self.get_refresh_token(component_appid, authorizer_appid)
            }

            fn save(
                &self,
                component_appid: &str,
                authorizer_appid: &str,
                refresh_token: &Secret,
            ) -> Result<()> {
                self.put_refresh_token(component_appid, authorizer_appid, refresh_token)
            }
        }
    )+};
}

component_stores!(MemoryStore, FileStore, dyn Store);
#[cfg(feature = "redis")]
component_stores!(super::RedisStore);

/// A hub platform's refresh tokens: stored on rotation only over the one
/// rotated ([`Store::replace_refresh_token`]), so that a refresh under way
/// when the authorizer revoked cannot store it back. A new authorization
/// stores its refresh token through the hub's
/// [`StoreSource`](super::StoreSource) instead.
#[derive(Debug)]
pub(crate) struct Rotations(pub Arc<dyn Store>);

impl RefreshTokenStore for Rotations {
    fn load(&self, component_appid: &str, authorizer_appid: &str) -> Result<Option<Secret>> {
        self.0.get_refresh_token(component_appid, authorizer_appid)
    }

    fn save(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<()> {
        if !self
            .0
            .replace_refresh_token(component_appid, authorizer_appid, refresh_token)?
        {
            log::info!(
                "wechat hub: authorizer {authorizer_appid} of {component_appid} was removed \
                 (unauthorized) while its token was refreshed: its rotated refresh token is dropped"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_is_the_ticket_and_refresh_token_store_of_a_component_source() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        store.put_verify_ticket("wxc", &Secret::new("V1")).unwrap();
        let tickets: &dyn VerifyTicketProvider = &store;
        assert_eq!(
            tickets.verify_ticket("wxc").unwrap(),
            Some(Secret::new("V1"))
        );
        assert_eq!(tickets.verify_ticket("other").unwrap(), None);

        let refresh_tokens: &dyn RefreshTokenStore = &store;
        refresh_tokens
            .save("wxc", "wxa", &Secret::new("R1"))
            .unwrap();
        assert_eq!(
            store.get_refresh_token("wxc", "wxa").unwrap(),
            Some(Secret::new("R1"))
        );
        store.remove_authorizer("wxc", "wxa").unwrap();
        assert_eq!(refresh_tokens.load("wxc", "wxa").unwrap(), None);
    }
}
