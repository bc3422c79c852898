//! The seed's `expires_in`: how long the hub keeps and hands out what it
//! fetched, per hub and per account, never longer than WeChat said. Every
//! token the hub writes to its store is cut here, by
//! [`StoreSource`](super::StoreSource)'s one writer, whichever way it came
//! (an upstream call, an authorization push, a copy written back).

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::token::{Token, TokenKey};

/// The lifetimes a hub stores tokens and tickets for: one for the whole hub
/// and one per appid (an account, or a platform with its authorizers).
#[derive(Clone, Debug, Default)]
pub(crate) struct Lifetimes {
    pub hub: Option<Duration>,
    pub accounts: HashMap<String, Duration>,
}

impl Lifetimes {
    /// The configured lifetime of `key`, in seconds: its appid's, else the
    /// hub's, else none (WeChat's own).
    fn of(&self, key: &TokenKey) -> Option<u64> {
        self.accounts
            .get(key.appid())
            .or(self.hub.as_ref())
            .map(Duration::as_secs)
    }

    /// `token` with its lifetime cut to `key`'s setting, if shorter, from
    /// the same timestamp: cutting twice cuts once, so a token written back
    /// (a store that lost it) keeps the life it was first given.
    pub fn apply(&self, key: &TokenKey, token: Token) -> Token {
        match self.of(key) {
            Some(secs) if secs < token.expires_in() => {
                Token::with_timestamp(token.expose().to_string(), token.timestamp(), secs)
            }
            _ => token,
        }
    }

    /// Refuses a lifetime under a second (a token no one could use), and
    /// one set for an appid the hub does not serve (`appids` is `None` over
    /// a custom source, which may serve any appid).
    pub fn check(&self, appids: Option<&[String]>) -> Result<()> {
        let all = self.hub.iter().chain(self.accounts.values());
        if all.into_iter().any(|d| d.as_secs() == 0) {
            return Err(Error::config("hub expires_in must be at least 1 second"));
        }
        if let Some(appids) = appids {
            if let Some(appid) = self.accounts.keys().find(|a| !appids.contains(a)) {
                return Err(Error::config(format!(
                    "expires_in is set for {appid:?}, which the hub does not serve"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifetimes() -> Lifetimes {
        Lifetimes {
            hub: Some(Duration::from_secs(7000)),
            accounts: HashMap::from([("wx2".to_string(), Duration::from_secs(600))]),
        }
    }

    #[test]
    fn the_account_setting_beats_the_hub_one_and_neither_lengthens_a_token() {
        let l = lifetimes();
        let t = Token::with_timestamp("T", 100, 7200);
        let one = l.apply(&TokenKey::access_token("wx1"), t.clone());
        assert_eq!(
            (one.expose(), one.timestamp(), one.expires_in()),
            ("T", 100, 7000)
        );
        assert_eq!(l.apply(&TokenKey::access_token("wx1"), one.clone()), one);
        let authorizer = TokenKey::access_token("wx2").for_authorizer("wxa");
        assert_eq!(l.apply(&authorizer, t.clone()).expires_in(), 600);
        let short = Token::with_timestamp("T", 100, 60);
        assert_eq!(
            l.apply(&TokenKey::access_token("wx1"), short).expires_in(),
            60
        );
        let default = Lifetimes::default().apply(&TokenKey::access_token("wx1"), t);
        assert_eq!(default.expires_in(), 7200);
    }

    #[test]
    fn zero_and_unknown_appids_are_refused() {
        let served = ["wx1".to_string(), "wx2".to_string()];
        assert!(lifetimes().check(Some(&served)).is_ok());
        let err = lifetimes().check(Some(&served[..1])).unwrap_err();
        assert!(err.to_string().contains("\"wx2\""), "{err}");
        assert!(lifetimes().check(None).is_ok());
        let zero = Lifetimes {
            hub: Some(Duration::ZERO),
            ..Lifetimes::default()
        };
        assert!(zero
            .check(None)
            .unwrap_err()
            .to_string()
            .contains("at least 1 second"));
    }
}
