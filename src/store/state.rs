//! What the stores of a single hub ([`MemoryStore`](super::MemoryStore)
//! and [`FileStore`](super::FileStore)) hold, [`State`], with the one
//! implementation of reading and changing it, and their in-process
//! refresh [`Locks`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{
    authorizer_keys, authorizer_suffix, fence_name, key_name, key_of_name, lock_value, LockGuard,
    FENCE_TTL, VERIFY_TICKET_LIFE,
};
use crate::secret::Secret;
use crate::token::{unix_now, Token, TokenKey};

/// What [`MemoryStore`] and [`FileStore`](crate::store::FileStore) hold,
/// and the one implementation of reading and changing it.
#[derive(Default, Clone)]
pub(crate) struct State {
    pub tokens: HashMap<String, Token>,
    pub verify_tickets: HashMap<String, Secret>,
    /// When each verify ticket was stored (Unix seconds).
    pub verify_ticket_at: HashMap<String, u64>,
    /// Each pushed verify ticket's `CreateTime`.
    pub verify_ticket_created: HashMap<String, u64>,
    pub refresh_tokens: HashMap<String, Secret>,
    /// The refresh limit's schedules, by [`key_name`].
    pub schedules: HashMap<String, u64>,
    /// The fence each token was written with, by [`key_name`].
    pub fences: HashMap<String, u64>,
    /// Counters by name: `(value, forgotten at, Unix seconds)`.
    pub counters: HashMap<String, (u64, u64)>,
    /// When each key was last served (Unix seconds), by [`key_name`].
    pub served: HashMap<String, u64>,
    /// Keys removed with their authorizer: the fence taken at removal, and
    /// when it is forgotten (with the fence counter, Unix seconds).
    pub removed: HashMap<String, (u64, u64)>,
}

impl State {
    pub fn get_token(&self, key: &TokenKey) -> Option<Token> {
        self.tokens
            .get(&key_name(key))
            .filter(|t| t.expires_at() > unix_now())
            .cloned()
    }

    pub fn put_token(&mut self, key: &TokenKey, token: &Token) {
        self.tokens.insert(key_name(key), token.clone());
    }

    pub fn put_token_fenced(&mut self, key: &TokenKey, token: &Token, fence: u64) -> bool {
        let name = key_name(key);
        if self.get_token(key).is_some() && self.fences.get(&name).is_some_and(|f| *f > fence) {
            return false;
        }
        let now = unix_now();
        if self
            .removed
            .get(&name)
            .is_some_and(|(at, until)| *at >= fence && *until > now)
        {
            return false;
        }
        self.fences.insert(name.clone(), fence);
        self.tokens.insert(name, token.clone());
        true
    }

    pub fn refresh_schedule(&self, key: &TokenKey) -> Option<u64> {
        self.schedules.get(&key_name(key)).copied()
    }

    pub fn put_refresh_schedule(&mut self, key: &TokenKey, schedule: u64) {
        self.schedules.insert(key_name(key), schedule);
    }

    pub fn increment(&mut self, name: &str, ttl: Duration) -> u64 {
        let now = unix_now();
        self.counters.retain(|_, (_, until)| *until > now);
        let (value, _) = self
            .counters
            .entry(name.to_string())
            .or_insert((0, now.saturating_add(ttl.as_secs())));
        *value += 1;
        *value
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .get(name)
            .filter(|(_, until)| *until > unix_now())
            .map_or(0, |(value, _)| *value)
    }

    /// The verify ticket, while it lives (12 hours).
    pub fn verify_ticket(&self, component_appid: &str) -> Option<Secret> {
        self.verify_ticket_received_at(component_appid)?;
        self.verify_tickets.get(component_appid).cloned()
    }

    /// When the living verify ticket was stored; a ticket of a file
    /// written before times were kept counts as just received.
    pub fn verify_ticket_received_at(&self, component_appid: &str) -> Option<u64> {
        self.verify_tickets.get(component_appid)?;
        let at = self
            .verify_ticket_at
            .get(component_appid)
            .copied()
            .unwrap_or_else(unix_now);
        (at + VERIFY_TICKET_LIFE.as_secs() > unix_now()).then_some(at)
    }

    pub fn put_newer_verify_ticket(
        &mut self,
        component_appid: &str,
        ticket: &Secret,
        create_time: u64,
    ) -> bool {
        let newer_held = self.verify_ticket(component_appid).is_some()
            && self
                .verify_ticket_created
                .get(component_appid)
                .is_some_and(|held| *held > create_time);
        if newer_held {
            return false;
        }
        self.put_verify_ticket(component_appid, ticket);
        self.verify_ticket_created
            .insert(component_appid.to_string(), create_time);
        true
    }

    pub fn put_verify_ticket(&mut self, component_appid: &str, ticket: &Secret) {
        self.verify_ticket_at
            .insert(component_appid.to_string(), unix_now());
        self.verify_tickets
            .insert(component_appid.to_string(), ticket.clone());
    }

    pub fn refresh_token(&self, component_appid: &str, authorizer_appid: &str) -> Option<Secret> {
        self.refresh_tokens
            .get(&refresh_name(component_appid, authorizer_appid))
            .cloned()
    }

    pub fn put_refresh_token(
        &mut self,
        component_appid: &str,
        authorizer_appid: &str,
        token: &Secret,
    ) {
        self.refresh_tokens.insert(
            refresh_name(component_appid, authorizer_appid),
            token.clone(),
        );
    }

    pub fn remove_authorizer(&mut self, component_appid: &str, authorizer_appid: &str) {
        let suffix = authorizer_suffix(component_appid, authorizer_appid);
        self.tokens.retain(|name, _| !name.ends_with(&suffix));
        self.served.retain(|name, _| !name.ends_with(&suffix));
        self.refresh_tokens
            .remove(&refresh_name(component_appid, authorizer_appid));
        let now = unix_now();
        self.removed.retain(|_, (_, until)| *until > now);
        for key in authorizer_keys(component_appid, authorizer_appid) {
            let fence = fence_name(&key);
            let at = self.increment(&fence, FENCE_TTL);
            let until = self.counters.get(&fence).map_or(now, |(_, until)| *until);
            self.removed.insert(key_name(&key), (at, until));
        }
    }

    pub fn replace_refresh_token(
        &mut self,
        component_appid: &str,
        authorizer_appid: &str,
        token: &Secret,
    ) -> bool {
        let held = self
            .refresh_tokens
            .get_mut(&refresh_name(component_appid, authorizer_appid));
        match held {
            Some(held) => {
                *held = token.clone();
                true
            }
            None => false,
        }
    }

    pub fn put_served(&mut self, key: &TokenKey, at: u64) {
        let last = self.served.entry(key_name(key)).or_insert(at);
        *last = (*last).max(at);
    }

    /// The keys served at or after `since`.
    pub fn served_keys(&self, since: u64) -> Vec<(TokenKey, u64)> {
        self.served
            .iter()
            .filter(|(_, at)| **at >= since)
            .filter_map(|(name, at)| Some((key_of_name(name)?, *at)))
            .collect()
    }

    /// Forgets the keys served only before `since`; whether there were any.
    pub fn prune_served(&mut self, since: u64) -> bool {
        let before = self.served.len();
        self.served.retain(|_, at| *at >= since);
        self.served.len() != before
    }

    pub fn forget_served(&mut self, keys: &[TokenKey]) {
        for key in keys {
            self.served.remove(&key_name(key));
        }
    }
}

/// The name an authorizer's refresh token is kept under.
fn refresh_name(component_appid: &str, authorizer_appid: &str) -> String {
    format!("{component_appid}/{authorizer_appid}")
}

/// In-process refresh locks with expiry, for the stores of a single hub.
#[derive(Default)]
pub(crate) struct Locks {
    held: Mutex<HashMap<String, (u64, Instant)>>,
}

impl Locks {
    pub fn lock(&self, key: &TokenKey, ttl: Duration) -> Option<LockGuard<'_>> {
        let name = key_name(key);
        let value = lock_value();
        let mut held = self.held.lock();
        let now = Instant::now();
        if held.get(&name).is_some_and(|(_, until)| *until > now) {
            return None;
        }
        held.insert(name.clone(), (value, now + ttl));
        drop(held);
        Some(LockGuard::new(move || {
            let mut held = self.held.lock();
            if held.get(&name).is_some_and(|(v, _)| *v == value) {
                held.remove(&name);
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verify_ticket_lives_twelve_hours_from_its_arrival() {
        let mut state = State::default();
        state.put_verify_ticket("wxc", &Secret::new("V"));
        let at = state.verify_ticket_received_at("wxc").unwrap();
        assert!(at.abs_diff(unix_now()) <= 1);
        assert_eq!(state.verify_ticket("wxc"), Some(Secret::new("V")));
        let old = unix_now() - VERIFY_TICKET_LIFE.as_secs();
        state.verify_ticket_at.insert("wxc".into(), old);
        assert_eq!(state.verify_ticket("wxc"), None, "past its 12 hours");
        assert_eq!(state.verify_ticket_received_at("wxc"), None);
    }
}
