//! [`MemoryStore`]: a [`Store`] in this process's memory.

use std::fmt;
use std::time::Duration;

use parking_lot::Mutex;

use super::state::{Locks, State};
use super::watch::{StoreEvent, StoreListener, Watch, Watchers};
use super::{LockGuard, Store};
use crate::error::Result;
use crate::secret::Secret;
use crate::token::{Token, TokenKey};

/// A [`Store`] in this process's memory: the default. Everything is lost
/// when the process exits, so a restarted hub fetches new tokens (and a
/// component hub waits for the next verify ticket push).
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    locks: Locks,
    watchers: Watchers,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("tokens", &self.state.lock().tokens.len())
            .finish_non_exhaustive()
    }
}

impl Store for MemoryStore {
    fn get_token(&self, key: &TokenKey) -> Result<Option<Token>> {
        Ok(self.state.lock().get_token(key))
    }

    fn put_token(&self, key: &TokenKey, token: &Token) -> Result<()> {
        self.state.lock().put_token(key, token);
        Ok(())
    }

    fn put_token_fenced(&self, key: &TokenKey, token: &Token, fence: u64) -> Result<bool> {
        Ok(self.state.lock().put_token_fenced(key, token, fence))
    }

    fn get_verify_ticket(&self, component_appid: &str) -> Result<Option<Secret>> {
        Ok(self.state.lock().verify_ticket(component_appid))
    }

    fn verify_ticket_received_at(&self, component_appid: &str) -> Result<Option<u64>> {
        Ok(self.state.lock().verify_ticket_received_at(component_appid))
    }

    fn put_newer_verify_ticket(
        &self,
        component_appid: &str,
        ticket: &Secret,
        create_time: u64,
    ) -> Result<bool> {
        Ok(self
            .state
            .lock()
            .put_newer_verify_ticket(component_appid, ticket, create_time))
    }

    fn put_verify_ticket(&self, component_appid: &str, ticket: &Secret) -> Result<()> {
        self.state.lock().put_verify_ticket(component_appid, ticket);
        Ok(())
    }

    fn get_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<Secret>> {
        Ok(self
            .state
            .lock()
            .refresh_token(component_appid, authorizer_appid))
    }

    fn put_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<()> {
        self.state
            .lock()
            .put_refresh_token(component_appid, authorizer_appid, refresh_token);
        Ok(())
    }

    fn remove_authorizer(&self, component_appid: &str, authorizer_appid: &str) -> Result<()> {
        self.state
            .lock()
            .remove_authorizer(component_appid, authorizer_appid);
        self.watchers.tell(&StoreEvent::AuthorizerRemoved {
            component_appid,
            authorizer_appid,
        });
        Ok(())
    }

    fn replace_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<bool> {
        Ok(self.state.lock().replace_refresh_token(
            component_appid,
            authorizer_appid,
            refresh_token,
        ))
    }

    fn put_served(&self, key: &TokenKey, at: u64) -> Result<()> {
        self.state.lock().put_served(key, at);
        Ok(())
    }

    fn served_keys(&self, since: u64) -> Result<Vec<(TokenKey, u64)>> {
        let mut state = self.state.lock();
        state.prune_served(since);
        Ok(state.served_keys(since))
    }

    fn forget_served(&self, keys: &[TokenKey]) -> Result<()> {
        self.state.lock().forget_served(keys);
        Ok(())
    }

    fn watch(&self, listener: StoreListener) -> Result<Option<Watch>> {
        Ok(Some(self.watchers.add(listener)))
    }

    fn kind(&self) -> &str {
        "memory"
    }

    fn lock(&self, key: &TokenKey, ttl: Duration) -> Result<Option<LockGuard<'_>>> {
        Ok(self.locks.lock(key, ttl))
    }

    fn get_refresh_schedule(&self, key: &TokenKey) -> Result<Option<u64>> {
        Ok(self.state.lock().refresh_schedule(key))
    }

    fn put_refresh_schedule(&self, key: &TokenKey, schedule: u64) -> Result<()> {
        self.state.lock().put_refresh_schedule(key, schedule);
        Ok(())
    }

    fn increment(&self, name: &str, ttl: Duration) -> Result<u64> {
        Ok(self.state.lock().increment(name, ttl))
    }

    fn counter(&self, name: &str) -> Result<u64> {
        Ok(self.state.lock().counter(name))
    }
}
