//! `FileStore`: a single hub's state in one JSON file, written atomically.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::state::{Locks, State};
use super::watch::{StoreEvent, StoreListener, Watch, Watchers};
use super::{store_error, LockGuard, Store};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::token::{unix_now, Token, TokenKey};

/// A [`Store`] for a single hub that survives restarts: everything is kept
/// in memory and every change is written to one JSON file, atomically (a
/// temporary file in the same directory is written, flushed to disk with
/// `fsync` and renamed over the old one), so a hub killed at any moment
/// restarts with its verify tickets, refresh tokens and still-valid tokens,
/// and calls WeChat for none of them.
///
/// The file holds live credentials: on Unix it is created readable by its
/// owner only (mode `0600`). Only one hub may use a file at a time; its
/// refresh lock is in-process.
///
/// # Example
///
/// ```
/// use weixin::store::{FileStore, Store};
/// use weixin::{Token, TokenKey};
///
/// let path = std::env::temp_dir().join(format!("wechat-doc-{}.json", std::process::id()));
/// let key = TokenKey::access_token("wx1");
/// FileStore::open(&path)?.put_token(&key, &Token::new("T1", 7200))?;
/// // A new process (here: a new store) finds the token again.
/// assert_eq!(FileStore::open(&path)?.get_token(&key)?.unwrap().expose(), "T1");
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), weixin::Error>(())
/// ```
pub struct FileStore {
    path: PathBuf,
    state: Mutex<State>,
    /// Held by the one writer of the file; readers never wait for the disk.
    writer: Mutex<()>,
    locks: Locks,
    watchers: Watchers,
}

/// The file's layout. Versioned so a later layout can still read it.
#[derive(Serialize, Deserialize, Default)]
struct Disk {
    version: u32,
    #[serde(default)]
    tokens: HashMap<String, DiskToken>,
    #[serde(default)]
    verify_tickets: HashMap<String, String>,
    /// When each verify ticket arrived (Unix seconds).
    #[serde(default)]
    verify_ticket_at: HashMap<String, u64>,
    /// Each pushed verify ticket's `CreateTime`.
    #[serde(default)]
    verify_ticket_created: HashMap<String, u64>,
    #[serde(default)]
    refresh_tokens: HashMap<String, String>,
    /// The refresh limit's schedules (packed by the limit), so a restarted
    /// hub does not get a whole new burst.
    #[serde(default)]
    schedules: HashMap<String, u64>,
    /// Counters (upstream calls per account per day) and when each is
    /// forgotten (Unix seconds), so a restart does not reset a quota.
    #[serde(default)]
    counters: HashMap<String, (u64, u64)>,
    /// The fence each token was written with.
    #[serde(default)]
    fences: HashMap<String, u64>,
    /// When each key was last served (Unix seconds): refreshed ahead
    /// after a restart too.
    #[serde(default)]
    served: HashMap<String, u64>,
    /// Keys removed with their authorizer: the fence at removal and when
    /// it is forgotten.
    #[serde(default)]
    removed: HashMap<String, (u64, u64)>,
}

#[derive(Serialize, Deserialize)]
struct DiskToken {
    value: String,
    timestamp: u64,
    expires_in: u64,
}

impl FileStore {
    /// Opens the store at `path`, loading it if the file exists (tokens
    /// that expired meanwhile are dropped) and starting empty if it does
    /// not. The directory must exist.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Store`](crate::ErrorKind::Store) error if the file
    /// exists but cannot be read or is not a store file.
    pub fn open(path: impl AsRef<Path>) -> Result<FileStore> {
        let path = path.as_ref().to_path_buf();
        let state = match fs::read(&path) {
            Ok(bytes) => load(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(Error::store(format!("cannot read {}", path.display()), e)),
        };
        Ok(FileStore {
            path,
            state: Mutex::new(state),
            writer: Mutex::new(()),
            locks: Locks::default(),
            watchers: Watchers::default(),
        })
    }

    /// The file the store is kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies `change` and writes the result; the in-memory state changes
    /// only if the file was written, so memory never claims what the disk
    /// does not hold.
    ///
    /// Writers take turns on `writer`, the one lock held across I/O (it
    /// is what keeps two writes from losing each other's change); the state
    /// itself is locked only to copy it and to swap in the new one, so
    /// readers never wait for the disk.
    fn update(&self, change: impl FnOnce(&mut State)) -> Result<()> {
        let _writing = self.writer.lock();
        let mut next = self.state.lock().clone();
        change(&mut next);
        let now = unix_now();
        next.tokens.retain(|_, t| t.expires_at() > now);
        write_atomically(&self.path, &to_disk(&next))?;
        *self.state.lock() = next;
        Ok(())
    }
}

fn load(path: &Path, bytes: &[u8]) -> Result<State> {
    let disk: Disk = serde_json::from_slice(bytes).map_err(|e| {
        Error::store(
            format!("{} is not a wechat hub store file", path.display()),
            e,
        )
    })?;
    if disk.version != 1 {
        return Err(store_error(format!(
            "{} has store format version {}, this hub reads version 1",
            path.display(),
            disk.version
        )));
    }
    let now = unix_now();
    Ok(State {
        tokens: disk
            .tokens
            .into_iter()
            .map(|(k, t)| (k, Token::with_timestamp(t.value, t.timestamp, t.expires_in)))
            .filter(|(_, t)| t.expires_at() > now)
            .collect(),
        verify_tickets: disk
            .verify_tickets
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
        refresh_tokens: disk
            .refresh_tokens
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
        verify_ticket_at: disk.verify_ticket_at,
        verify_ticket_created: disk.verify_ticket_created,
        schedules: disk.schedules,
        counters: disk.counters,
        fences: disk.fences,
        served: disk.served,
        removed: disk.removed,
    })
}

fn to_disk(state: &State) -> Vec<u8> {
    let disk = Disk {
        version: 1,
        tokens: state
            .tokens
            .iter()
            .map(|(k, t)| {
                let token = DiskToken {
                    value: t.expose().to_string(),
                    timestamp: t.timestamp(),
                    expires_in: t.expires_in(),
                };
                (k.clone(), token)
            })
            .collect(),
        verify_tickets: state
            .verify_tickets
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect(),
        refresh_tokens: state
            .refresh_tokens
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect(),
        verify_ticket_at: state.verify_ticket_at.clone(),
        verify_ticket_created: state.verify_ticket_created.clone(),
        schedules: state.schedules.clone(),
        counters: state.counters.clone(),
        fences: state.fences.clone(),
        served: state.served.clone(),
        removed: state.removed.clone(),
    };
    // ok because a map of strings and integers always serializes
    serde_json::to_vec_pretty(&disk).unwrap_or_default()
}

/// Writes `bytes` to a temporary file beside `path`, fsyncs it, renames it
/// over `path` and fsyncs the directory: a crash leaves the old file or the
/// new one, never a torn one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = |what: &str, e: std::io::Error| {
        Error::store(format!("cannot {what} {}", path.display()), e)
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "store".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .map_err(|e| fail("create a temporary file for", e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| fail("write", e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| fail("replace", e))?;
    // ok because not every platform can open a directory to fsync it; the
    // rename itself is already atomic
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store for FileStore {
    fn get_token(&self, key: &TokenKey) -> Result<Option<Token>> {
        Ok(self.state.lock().get_token(key))
    }

    fn put_token(&self, key: &TokenKey, token: &Token) -> Result<()> {
        self.update(|s| s.put_token(key, token))
    }

    fn put_token_fenced(&self, key: &TokenKey, token: &Token, fence: u64) -> Result<bool> {
        let mut written = false;
        self.update(|s| written = s.put_token_fenced(key, token, fence))?;
        Ok(written)
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
        let mut written = false;
        self.update(|s| written = s.put_newer_verify_ticket(component_appid, ticket, create_time))?;
        Ok(written)
    }

    fn put_verify_ticket(&self, component_appid: &str, ticket: &Secret) -> Result<()> {
        self.update(|s| s.put_verify_ticket(component_appid, ticket))
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
        self.update(|s| s.put_refresh_token(component_appid, authorizer_appid, refresh_token))
    }

    fn remove_authorizer(&self, component_appid: &str, authorizer_appid: &str) -> Result<()> {
        self.update(|s| s.remove_authorizer(component_appid, authorizer_appid))?;
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
        let mut replaced = false;
        self.update(|s| {
            replaced = s.replace_refresh_token(component_appid, authorizer_appid, refresh_token)
        })?;
        Ok(replaced)
    }

    fn put_served(&self, key: &TokenKey, at: u64) -> Result<()> {
        self.update(|s| s.put_served(key, at))
    }

    fn served_keys(&self, since: u64) -> Result<Vec<(TokenKey, u64)>> {
        // Written only when something is forgotten.
        if self.state.lock().served.values().any(|at| *at < since) {
            self.update(|s| {
                s.prune_served(since);
            })?;
        }
        Ok(self.state.lock().served_keys(since))
    }

    fn forget_served(&self, keys: &[TokenKey]) -> Result<()> {
        self.update(|s| s.forget_served(keys))
    }

    fn watch(&self, listener: StoreListener) -> Result<Option<Watch>> {
        Ok(Some(self.watchers.add(listener)))
    }

    fn kind(&self) -> &str {
        "file"
    }

    fn lock(&self, key: &TokenKey, ttl: Duration) -> Result<Option<LockGuard<'_>>> {
        Ok(self.locks.lock(key, ttl))
    }

    fn get_refresh_schedule(&self, key: &TokenKey) -> Result<Option<u64>> {
        Ok(self.state.lock().refresh_schedule(key))
    }

    fn put_refresh_schedule(&self, key: &TokenKey, schedule: u64) -> Result<()> {
        self.update(|s| s.put_refresh_schedule(key, schedule))
    }

    fn increment(&self, name: &str, ttl: Duration) -> Result<u64> {
        let mut value = 0;
        self.update(|s| value = s.increment(name, ttl))?;
        Ok(value)
    }

    fn counter(&self, name: &str) -> Result<u64> {
        Ok(self.state.lock().counter(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wechat-filestore-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn everything_survives_a_reopen_and_expired_tokens_do_not() {
        let path = temp("reopen.json");
        let _ = fs::remove_file(&path);
        let store = FileStore::open(&path).unwrap();
        let key = TokenKey::access_token("wx1");
        store.put_token(&key, &Token::new("T", 7200)).unwrap();
        let old = TokenKey::access_token("wx2");
        store
            .put_token(&old, &Token::with_timestamp("OLD", unix_now() - 7000, 7001))
            .unwrap();
        store.put_verify_ticket("wxc", &Secret::new("V")).unwrap();
        store
            .put_refresh_token("wxc", "wxa", &Secret::new("R"))
            .unwrap();
        let day = Duration::from_secs(86_400);
        assert_eq!(store.increment("calls", day).unwrap(), 1);
        assert_eq!(store.increment("calls", day).unwrap(), 2);
        assert_eq!(store.increment("gone", Duration::from_secs(1)).unwrap(), 1);
        std::thread::sleep(Duration::from_millis(1100));
        let again = FileStore::open(&path).unwrap();
        assert_eq!(again.get_token(&key).unwrap().unwrap().expose(), "T");
        assert!(again.get_token(&old).unwrap().is_none());
        assert_eq!(
            again.counter("calls").unwrap(),
            2,
            "a quota survives a restart"
        );
        assert_eq!(
            again.counter("gone").unwrap(),
            0,
            "an expired counter does not"
        );
        assert_eq!(again.increment("gone", day).unwrap(), 1);
        assert_eq!(
            again.get_verify_ticket("wxc").unwrap().unwrap().expose(),
            "V"
        );
        assert_eq!(
            again
                .get_refresh_token("wxc", "wxa")
                .unwrap()
                .unwrap()
                .expose(),
            "R"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_foreign_file_is_a_clear_store_error() {
        let path = temp("foreign.json");
        fs::write(&path, b"<html>").unwrap();
        let err = FileStore::open(&path).unwrap_err();
        assert!(
            matches!(err.kind(), crate::ErrorKind::Store { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("is not a wechat hub store file"));
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_failed_write_changes_nothing() {
        let path = temp("missing-dir").join("store.json");
        let store = FileStore::open(&path).unwrap();
        let key = TokenKey::access_token("wx1");
        let err = store.put_token(&key, &Token::new("T", 7200)).unwrap_err();
        assert!(err.to_string().starts_with("store failed: cannot"), "{err}");
        assert!(store.get_token(&key).unwrap().is_none());
    }
}
