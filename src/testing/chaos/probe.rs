//! What the prober checks while a run goes on (each hub's token against
//! the store's) and after it (the store holds the token the fake WeChat
//! issued last).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Run, APPID};
use crate::clock::millis;
use crate::store::{RedisStore, Store};
use crate::testing::FakeWechat;
use crate::{Client, HubSource, Token, TokenKey};

/// Asks each live hub for the token, between two reads of the store.
pub(super) fn probe_hubs(run: &Run, store: &RedisStore, bound: Duration) {
    let key = TokenKey::access_token(APPID);
    while !run.stop_watchers.load(Ordering::SeqCst) {
        let live: Vec<String> = run.live.lock().iter().flatten().cloned().collect();
        for url in live {
            probe(run, store, &key, &url, bound);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Probes one hub both ways it hands out tokens: a read, and a refresh
/// reporting a token that was never issued (the compare-and-swap answers
/// the current token without calling WeChat).
fn probe(run: &Run, store: &RedisStore, key: &TokenKey, url: &str, bound: Duration) {
    let client = HubSource::new(url).and_then(|source| {
        Client::builder()
            .appid(APPID)
            .timeout(Duration::from_secs(2))
            .token_source(source)
            .build()
    });
    let Ok(client) = client else {
        return;
    };
    let never_issued = Token::new("chaos-probe-never-issued", 7200);
    compare(run, store, key, bound, url, || {
        client.forget_token(key);
        client.token(key)
    });
    compare(run, store, key, bound, url, || {
        client.forget_token(key);
        client.refreshed_token(key, &never_issued)
    });
}

/// Compares what `serve` gets with the store's token read before and
/// after. A violation is an answer that is neither of them and not newer
/// than the one before, while that one has been the store's for longer
/// than the bound plus a second (timestamps are whole seconds): since it
/// was fetched, or since the prober first read it there if that was later
/// (a hub wrote it back after a failover had lost it, see
/// [`StoreSource`](crate::store::StoreSource); the prober reads the store
/// every round, so this is late by one round at most).
fn compare(
    run: &Run,
    store: &RedisStore,
    key: &TokenKey,
    bound: Duration,
    url: &str,
    serve: impl FnOnce() -> crate::Result<Token>,
) {
    let Ok(Some(before)) = store.get_token(key) else {
        return;
    };
    let seen = run.first_seen(&before);
    let Ok(served) = serve() else {
        return;
    };
    let Ok(Some(after)) = store.get_token(key) else {
        return;
    };

    run.probes.fetch_add(1, Ordering::SeqCst);
    let served_other = served.expose() != before.expose() && served.expose() != after.expose();
    if served_other && served.timestamp() <= before.timestamp() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let age = now
            .saturating_sub(Duration::from_secs(before.timestamp()))
            .min(seen.elapsed());
        if age > bound + Duration::from_secs(1) {
            note_stale(run, url, [&served, &before, &after], age);
            run.stale.fetch_add(1, Ordering::SeqCst);
            run.worst_ms.fetch_max(millis(age), Ordering::SeqCst);
        }
    }
}

/// Notes a stale answer on the timeline: the tokens (served, the store's
/// before and after) by serial, and the store topology the hub shows.
fn note_stale(run: &Run, url: &str, tokens: [&Token; 3], age: Duration) {
    if !run.timeline.is_on() {
        return;
    }
    let [served, before, after] = tokens.map(|t| serial(t.expose()));
    let status = ureq::get(&format!("{url}/status"))
        .header("Accept", "application/json")
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    let topology: String = match status.find("\"topology\"") {
        Some(at) => status[at..].chars().take(300).collect(),
        None => "no store topology on /status".into(),
    };
    run.timeline.note(format_args!(
        "stale: {url} served #{served} while the store held #{before} (then #{after}), \
         {age:?} old; its {topology}"
    ));
}

/// A fake token's serial (`TOKEN_wxchaos_<serial>_<nonce>`).
pub(super) fn serial(value: &str) -> String {
    value.split('_').nth(2).unwrap_or("?").to_string()
}

/// Whether the store holds the token the fake issued last, and if not,
/// what each holds (by serial: `TOKEN_wxchaos_<serial>_<nonce>`). No token
/// at all is the lineage kept only when a Redis restart emptied the store
/// (the hubs hold the token and write it back when they would otherwise
/// fetch); a Sentinel topology keeps its data on the replica, so it must
/// hold the token. Reads the store for up to 3 s while it fails.
pub(super) fn lineage(
    fake: &FakeWechat,
    store: &RedisStore,
    may_be_empty: bool,
) -> (bool, Option<String>) {
    let key = TokenKey::access_token(APPID);
    let deadline = Instant::now() + Duration::from_secs(3);
    let stored = loop {
        match store.get_token(&key) {
            Ok(token) => break Ok(token),
            Err(e) if Instant::now() > deadline => break Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let current = fake.current_token(APPID);
    match (stored, current) {
        (Ok(Some(token)), Some(current)) if token.expose() == current => (true, None),
        (Ok(None), Some(_)) if may_be_empty => (
            true,
            Some("no token since a Redis restart emptied it (the hubs hold theirs)".into()),
        ),
        (Ok(stored), current) => (
            false,
            Some(format!(
                "the store holds {}, the fake issued {} last",
                stored.map_or("no token".into(), |t| format!("#{}", serial(t.expose()))),
                current.map_or("none".into(), |c| format!("#{}", serial(&c)))
            )),
        ),
        (Err(e), _) => (false, Some(format!("the store could not be read: {e}"))),
    }
}
