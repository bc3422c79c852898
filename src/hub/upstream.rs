//! Where a hub's tokens come from: its common accounts' [`SecretSource`]
//! and one [`ComponentSource`] per third-party platform, whose verify
//! tickets and refresh tokens live in the hub's
//! [`Store`](super::Store) (every store is both providers).

use crate::error::Result;
use crate::token::component::ComponentSource;
use crate::token::{Context, Token, TokenKey, TokenSource};
use crate::SecretSource;
use std::collections::HashMap;
use std::fmt;

/// Sends each key to the source that serves its appid: a platform's
/// [`ComponentSource`] if the appid is a platform's, else the accounts'.
pub(crate) struct Upstream {
    pub accounts: Option<SecretSource>,
    /// The accounts fetched with `/cgi-bin/stable_token`, and their appids.
    pub stable_accounts: Option<SecretSource>,
    pub stable_appids: Vec<String>,
    pub components: HashMap<String, ComponentSource>,
}

impl Upstream {
    fn source_of(&self, key: &TokenKey) -> Result<&dyn TokenSource> {
        if let Some(component) = self.components.get(key.appid()) {
            return Ok(component);
        }
        let accounts = if self.stable_appids.iter().any(|a| a == key.appid()) {
            &self.stable_accounts
        } else {
            &self.accounts
        };
        match accounts {
            Some(accounts) => Ok(accounts),
            None => Err(crate::error::Error::config(format!(
                "this hub serves no account for {key:?}"
            ))),
        }
    }
}

impl TokenSource for Upstream {
    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> Result<Token> {
        self.source_of(key)?.fetch(key, cx)
    }

    fn refresh(&self, key: &TokenKey, stale: &Token, cx: &Context<'_>) -> Result<Token> {
        self.source_of(key)?.refresh(key, stale, cx)
    }
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut components: Vec<&str> = self.components.keys().map(String::as_str).collect();
        components.sort_unstable();
        f.debug_struct("Upstream")
            .field("accounts", &self.accounts)
            .field("stable_accounts", &self.stable_accounts)
            .field("components", &components)
            .finish()
    }
}
