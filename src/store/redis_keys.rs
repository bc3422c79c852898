//! `RedisStore`'s key names, all made here: each account's keys carry the
//! account in a Redis Cluster hash tag, so that every script and every
//! multi-key command of the store touches one slot; and the names of the
//! first layout (weixin 0.1, no tags), which `RedisStore::migrate_keys`
//! copies from.

use super::key_name;
use crate::redis_pool::tagged;
use crate::token::TokenKey;

/// The names of one store's keys under its prefix.
///
/// A name is `<prefix><kind>:<...>:<account>`, where the account (the
/// text after the last colon: an appid, or `<component appid>/<authorizer
/// appid>`) is a hash tag in braces: `wechat:hub:token:access_token:{wx1}`,
/// `wechat:hub:lock:access_token:{wxc/wxa}`,
/// `wechat:hub:refresh_token:{wxc/wxa}`,
/// `wechat:hub:counter:fence:access_token:{wxc/wxa}`. An account's token,
/// its lock, fence counter, tombstone and refresh schedule, an
/// authorizer's refresh token, a platform's verify ticket and its times:
/// each group lives in one slot. Names without a colon (`served`, the
/// removals channel) carry no tag.
#[derive(Clone, Debug)]
pub(crate) struct KeyLayout {
    prefix: String,
}

impl KeyLayout {
    pub(crate) fn new(prefix: impl Into<String>) -> KeyLayout {
        KeyLayout {
            prefix: prefix.into(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix><name>` with the account (after the last colon) tagged.
    pub(crate) fn name(&self, name: &str) -> String {
        tagged(&self.prefix, name)
    }

    /// The part of a first-layout key name after the prefix, if it is one
    /// of this store's (under its prefix, no tag).
    pub(crate) fn untagged<'a>(&self, full: &'a str) -> Option<&'a str> {
        full.strip_prefix(&self.prefix)
            .filter(|name| !name.contains(['{', '}']))
    }

    /// A token, as JSON, expiring with it.
    pub(crate) fn token(&self, key: &TokenKey) -> String {
        self.name(&format!("token:{}", key_name(key)))
    }

    /// A key's refresh lock.
    pub(crate) fn lock(&self, key: &TokenKey) -> String {
        self.name(&format!("lock:{}", key_name(key)))
    }

    /// A key's refresh limit schedule.
    pub(crate) fn schedule(&self, key: &TokenKey) -> String {
        self.name(&format!("schedule:{}", key_name(key)))
    }

    /// Where a removed token's fence is left.
    pub(crate) fn tombstone(&self, key: &TokenKey) -> String {
        self.name(&format!("removed:{}", key_name(key)))
    }

    /// A counter ([`Store::increment`](super::Store::increment)): a key's
    /// fences (`fence:<key name>`, tagged with the key's account), quota
    /// counts.
    pub(crate) fn counter(&self, name: &str) -> String {
        self.name(&format!("counter:{name}"))
    }

    pub(crate) fn refresh_token(&self, component_appid: &str, authorizer_appid: &str) -> String {
        self.name(&format!(
            "refresh_token:{component_appid}/{authorizer_appid}"
        ))
    }

    pub(crate) fn verify_ticket(&self, component_appid: &str) -> String {
        self.name(&format!("verify_ticket:{component_appid}"))
    }

    /// When a platform's verify ticket arrived (Unix seconds).
    pub(crate) fn verify_ticket_at(&self, component_appid: &str) -> String {
        self.name(&format!("verify_ticket_at:{component_appid}"))
    }

    /// The `CreateTime` of a platform's verify ticket.
    pub(crate) fn verify_ticket_created(&self, component_appid: &str) -> String {
        self.name(&format!("verify_ticket_created:{component_appid}"))
    }

    /// The sorted set of served keys, scored by when each was last served.
    pub(crate) fn served(&self) -> String {
        self.name("served")
    }

    /// The channel removals are published on.
    pub(crate) fn channel(&self) -> String {
        self.name("authorizer_removed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_pool::hash_tag;
    use crate::store::fence_name;
    use crate::token::TicketType;

    #[test]
    fn an_accounts_keys_share_one_hash_tag() {
        let keys = KeyLayout::new("wechat:hub:");
        let authorizer = TokenKey::access_token("wxc").for_authorizer("wxa");
        let jsapi = TokenKey::ticket("wxc", TicketType::Jsapi).for_authorizer("wxa");
        let names = [
            keys.token(&authorizer),
            keys.lock(&authorizer),
            keys.schedule(&authorizer),
            keys.tombstone(&authorizer),
            keys.counter(&fence_name(&authorizer)),
            keys.token(&jsapi),
            keys.counter(&fence_name(&jsapi)),
            keys.refresh_token("wxc", "wxa"),
        ];
        for name in &names {
            assert_eq!(hash_tag(name), "wxc/wxa", "{name}");
        }
        assert_eq!(names[0], "wechat:hub:token:access_token:{wxc/wxa}");
        assert_eq!(names[4], "wechat:hub:counter:fence:access_token:{wxc/wxa}");
        assert_eq!(names[7], "wechat:hub:refresh_token:{wxc/wxa}");
        let component = TokenKey::component_access_token("wxc");
        for name in [
            keys.verify_ticket("wxc"),
            keys.verify_ticket_at("wxc"),
            keys.verify_ticket_created("wxc"),
            keys.token(&component),
            keys.lock(&component),
            keys.counter(&fence_name(&component)),
        ] {
            assert_eq!(hash_tag(&name), "wxc", "{name}");
        }
        assert_eq!(keys.served(), "wechat:hub:served");
        assert_eq!(keys.channel(), "wechat:hub:authorizer_removed");
    }

    #[test]
    fn first_layout_names_are_the_untagged_ones() {
        let keys = KeyLayout::new("p:");
        let name = "token:access_token:wxc/wxa";
        assert_eq!(keys.name(name), "p:token:access_token:{wxc/wxa}");
        assert_eq!(keys.untagged("p:token:access_token:wxc/wxa"), Some(name));
        assert_eq!(keys.untagged("p:token:access_token:{wxc/wxa}"), None);
        assert_eq!(keys.untagged("q:token:access_token:wxc/wxa"), None);
    }
}
