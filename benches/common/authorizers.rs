//! A third-party platform with 100,000 authorizers, as `benches/scale.rs`
//! and `examples/profile_lookup.rs` look them up: keys with appids as
//! WeChat issues them, a source that mints tokens shaped like WeChat's, and
//! a scattered order to visit the keys in.

use weixin::{Context, Token, TokenKey, TokenSource};

/// How many authorizers.
pub const AUTHORIZERS: usize = 100_000;

/// Hands out tokens shaped like WeChat's (150 characters).
#[derive(Debug)]
pub struct Minted;

impl TokenSource for Minted {
    fn fetch(&self, key: &TokenKey, _cx: &Context<'_>) -> weixin::Result<Token> {
        let authorizer = key.authorizer_appid().unwrap_or("");
        let value = format!("{authorizer}_{}", "x".repeat(150 - authorizer.len() - 1));
        Ok(Token::new(value, 7200))
    }
}

/// Authorizer `i`'s access-token key; appids are "wx" and 16 hex digits.
pub fn authorizer_key(i: usize) -> TokenKey {
    TokenKey::access_token("wx0123456789abcdef").for_authorizer(&format!("wx{i:016x}"))
}

/// Every authorizer's index once, scattered, so that lookups miss the CPU
/// cache as a busy platform's would.
pub fn scattered_order() -> Vec<usize> {
    (0..AUTHORIZERS).map(|i| (i * 7919) % AUTHORIZERS).collect()
}
