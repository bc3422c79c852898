//! The token cache file: tokens and tickets fetched with the app secret,
//! kept between runs so that a shell loop of `wechat` commands makes one
//! token call, not one a run (each spends the account's daily quota, and
//! on `/cgi-bin/token` replaces the token the account's servers hold).
//!
//! One file per profile, `tokens-<profile>.json` in the cache directory
//! (`$WECHAT_CACHE_DIR`, else `$XDG_CACHE_HOME/wechat`, else
//! `~/.cache/wechat`), created readable by its owner only (0600, in a
//! 0700 directory). It holds tokens and tickets, never the secret, each
//! under where it came from (base URL, endpoint, appid, kind): a token of
//! one account or one WeChat is never handed to another.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use weixin::{Context, SecretSource, SourceKind, Token, TokenKey, TokenKind, TokenSource};

use crate::output::note;
use crate::time::unix_now;

/// The most a token is refreshed ahead of its expiry by the client the
/// CLI builds (`ClientBuilder::expiry_margin`'s default): a cached token
/// is reused only while the client would hand it out.
const MAX_MARGIN: u64 = 300;

/// The longest cache file read: a few tokens and tickets take a few KiB.
const MAX_FILE: u64 = 1 << 20;

/// The cache directory, when one can be named: `$WECHAT_CACHE_DIR` (for
/// tests, or to keep tokens elsewhere), `$XDG_CACHE_HOME/wechat`,
/// `~/.cache/wechat`.
pub fn cache_dir() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = set("WECHAT_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = match set("XDG_CACHE_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(set("HOME")?).join(".cache"),
    };
    Some(base.join("wechat"))
}

/// The file of `profile` (`default` without one) in `dir`; a name that
/// is not a plain word is spelled with `_` for the other characters.
pub fn path_for(dir: &Path, profile: Option<&str>) -> PathBuf {
    let name: String = profile
        .unwrap_or("default")
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect();
    dir.join(format!("tokens-{name}.json"))
}

/// The file's content.
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Cached {
    tokens: BTreeMap<String, Entry>,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Entry {
    value: String,
    /// When it was obtained, Unix seconds.
    timestamp: u64,
    expires_in: u64,
}

/// The app secret's token source as the CLI uses it: asks the file before
/// WeChat and keeps in it what WeChat gave (without a cache directory, no
/// file), and warns of each fetch from `/cgi-bin/token`.
#[derive(Debug)]
pub struct TokenFile {
    /// `None`: no cache directory could be named.
    path: Option<PathBuf>,
    inner: SecretSource,
    /// `/cgi-bin/token` rather than `stable_token`.
    classic: bool,
    /// Held while the file is read, changed and written: two keys fetched
    /// at once (a token and a ticket) both land in it.
    writing: Mutex<()>,
}

impl TokenFile {
    pub fn new(path: Option<PathBuf>, inner: SecretSource, classic: bool) -> TokenFile {
        TokenFile {
            path,
            inner,
            classic,
            writing: Mutex::new(()),
        }
    }

    /// Where `key`'s token is kept in the file: a token is good only for
    /// the WeChat, the endpoint and the account it came from. `None` for
    /// what the secret does not fetch (an authorizer's, a platform's).
    fn entry_name(&self, key: &TokenKey, cx: &Context<'_>) -> Option<String> {
        if key.authorizer_appid().is_some() {
            return None;
        }
        let kind = match key.kind() {
            TokenKind::AccessToken => "access_token".to_string(),
            TokenKind::Ticket(ticket) => format!("ticket {}", ticket.as_str()),
            _ => return None,
        };
        let endpoint = if self.classic {
            "token"
        } else {
            "stable_token"
        };
        Some(format!(
            "{} {endpoint} {} {kind}",
            cx.base_url(),
            key.appid()
        ))
    }

    /// The file as it is: empty when it is missing, an error saying why
    /// when it cannot be read or is not ours (the next write replaces it).
    fn read(path: &Path) -> Result<Cached, String> {
        let mut text = String::new();
        let read = std::fs::File::open(path)
            .and_then(|file| file.take(MAX_FILE + 1).read_to_string(&mut text));
        match read {
            // A file this long is no cache of a few tokens.
            Ok(n) if n as u64 > MAX_FILE => text.clear(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Cached::default()),
            Err(e) => {
                return Err(format!(
                    "cannot read the token cache {}: {e}",
                    path.display()
                ))
            }
        }
        // Not the parser's message: it may quote the file, tokens and all.
        serde_json::from_str(&text).map_err(|_| {
            format!(
                "the token cache {} is not one wechat wrote: replacing it",
                path.display()
            )
        })
    }

    /// The token kept under `name`, while the client would still hand it
    /// out.
    fn load(&self, name: &str) -> Option<Token> {
        let cached = TokenFile::read(self.path.as_deref()?)
            .map_err(|why| note(&format!("warning: {why}")))
            .ok()?;
        let entry = cached.tokens.get(name)?.clone();
        let token = Token::with_timestamp(entry.value, entry.timestamp, entry.expires_in);
        let margin = (token.expires_in() / 10).min(MAX_MARGIN);
        (unix_now() < token.expires_at().saturating_sub(margin)).then_some(token)
    }

    /// Keeps `token` under `name`. A file that cannot be written is said
    /// on stderr: the run goes on without it.
    fn store(&self, name: &str, token: &Token) {
        let Some(path) = self.path.as_deref() else {
            return;
        };
        // ok because the lock guards no data, only the file's turn
        let _turn = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        // What cannot be read was said when it was looked up.
        let mut cached = TokenFile::read(path).unwrap_or_default();
        let now = unix_now();
        // Tokens long expired are dropped on the way.
        cached
            .tokens
            .retain(|_, e| e.timestamp.saturating_add(e.expires_in) > now);
        cached.tokens.insert(
            name.to_string(),
            Entry {
                value: token.expose().to_string(),
                timestamp: token.timestamp(),
                expires_in: token.expires_in(),
            },
        );
        if let Err(e) = write_private(path, &cached) {
            note(&format!(
                "warning: cannot write the token cache {}: {e}",
                path.display()
            ));
        }
    }

    /// Says what a fetch from `/cgi-bin/token` does to the account's servers.
    fn warn_classic(&self, key: &TokenKey) {
        if self.classic && key.kind() == TokenKind::AccessToken {
            note(&format!(
                "warning: fetching a new access token of {} from /cgi-bin/token: the token every server of the account got there stops working in 5 minutes, and the call counts against the daily quota",
                key.appid()
            ));
        }
    }
}

impl TokenSource for TokenFile {
    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> weixin::Result<Token> {
        let name = self.entry_name(key, cx);
        if let Some(token) = name.as_deref().and_then(|name| self.load(name)) {
            return Ok(token);
        }
        self.warn_classic(key);
        let token = self.inner.fetch(key, cx)?;
        if let Some(name) = &name {
            self.store(name, &token);
        }
        Ok(token)
    }

    fn refresh(&self, key: &TokenKey, stale: &Token, cx: &Context<'_>) -> weixin::Result<Token> {
        self.warn_classic(key);
        let token = self.inner.refresh(key, stale, cx)?;
        if let Some(name) = self.entry_name(key, cx) {
            self.store(&name, &token);
        }
        Ok(token)
    }

    fn source_kind(&self) -> SourceKind {
        self.inner.source_kind()
    }
}

/// Writes `cached` to `path` readable by its owner only: a new file
/// created 0600 next to it, then renamed over it (a reader never sees half
/// a file, and a file of looser mode is replaced, not reused).
fn write_private(path: &Path, cached: &Cached) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let temp = path.with_extension(format!("json.{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut file| {
        // ok because these maps of strings and numbers always serialize
        let text = serde_json::to_vec(cached).expect("the token cache serializes");
        file.write_all(&text)?;
        file.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&temp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_names_its_file() {
        let dir = Path::new("/c");
        assert_eq!(path_for(dir, None), Path::new("/c/tokens-default.json"));
        assert_eq!(
            path_for(dir, Some("prod/../x y")),
            Path::new("/c/tokens-prod____x_y.json")
        );
    }
}
