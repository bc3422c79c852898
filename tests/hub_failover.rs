//! A `HubSource` over several hubs: hubs killed under 64 threads of calls,
//! a failed hub back after its backoff (a clock the test moves), and a
//! refresh never sent to two hubs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use weixin::testing::{refused_url, Balancer, FakeHub, SilentServer};
use weixin::{Client, Context, HubSource, ManualClock, Token, TokenKey, TokenSource};

/// What the hubs serve: a token for any appid, minted without WeChat.
#[derive(Debug, Default)]
struct Minted(AtomicU64);

impl TokenSource for Minted {
    fn fetch(&self, key: &TokenKey, _cx: &Context<'_>) -> weixin::Result<Token> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Token::new(format!("T_{}_{n}", key.appid()), 7200))
    }
}

const PATH: &str = "/client/access_token";

fn hub() -> FakeHub {
    FakeHub::start(Minted::default()).unwrap()
}

/// One call that reaches a hub: the client's copy dropped, then fetched.
fn call(client: &Client, key: &TokenKey) -> weixin::Result<Token> {
    client.forget_token(key);
    client.token(key)
}

#[test]
fn two_of_three_hubs_killed_under_64_threads_no_call_fails() {
    const THREADS: usize = 64;
    const PER_PHASE: usize = 4;
    let mut hubs = [hub(), hub(), hub()];
    let manual = ManualClock::new(Duration::from_secs(1_700_000_000));
    let backoff = Duration::from_secs(30);
    let source = HubSource::with_urls(hubs.iter().map(FakeHub::url))
        .unwrap()
        .backoff(backoff)
        .clock(manual.clock());
    let calls = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    // Phase 1 on three hubs; hub 0 is killed while phase 2 runs, hub 1
    // while phase 3 runs.
    let phase = Barrier::new(THREADS + 1);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let client = Client::builder()
                .token_source(source.clone())
                .build()
                .unwrap();
            let (calls, failed, phase) = (&calls, &failed, &phase);
            s.spawn(move || {
                let appid = format!("wx{t}");
                let key = TokenKey::access_token(&appid);
                for _ in 0..3 {
                    for _ in 0..PER_PHASE {
                        if call(&client, &key).is_err() {
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                        calls.fetch_add(1, Ordering::SeqCst);
                    }
                    phase.wait();
                }
            });
        }
        phase.wait();
        // Nobody waits for the kills: calls are under way meanwhile.
        hubs[0].kill();
        phase.wait();
        hubs[1].kill();
        phase.wait();
    });
    let calls = calls.into_inner();
    assert_eq!(calls, THREADS * 3 * PER_PHASE);
    assert_eq!(failed.into_inner(), 0, "a hub lived throughout");
    let answered: usize = hubs.iter().map(|h| h.count(PATH)).sum();
    // Every call got exactly one answer: never two hubs for one call.
    assert_eq!(answered, calls);
    // Phase 1 all on the first hub; the last one answered once the others
    // were gone.
    assert!(hubs[0].count(PATH) >= THREADS * PER_PHASE);
    assert!(hubs[2].count(PATH) > 0);
    // The clock stands, so a dead hub rests once seen dead: only calls
    // already under way when it died tried it, each once.
    let seen = source.failures();
    assert!((2..=2 * THREADS as u64).contains(&seen), "{seen}");

    // Each call's attempts, one call at a time: while the dead hubs rest,
    // one attempt (the answer); once their backoff is over, one refused
    // connection to each, then the answer: the connect time of each dead
    // hub plus one answer, no more.
    let client = Client::builder()
        .token_source(source.clone())
        .build()
        .unwrap();
    let key = TokenKey::access_token("wx_alone");
    let before = hubs[2].count(PATH);
    call(&client, &key).unwrap();
    assert_eq!((source.failures(), hubs[2].count(PATH)), (seen, before + 1));
    manual.advance(backoff);
    call(&client, &key).unwrap();
    assert_eq!(
        (source.failures(), hubs[2].count(PATH)),
        (seen + 2, before + 2)
    );
    call(&client, &key).unwrap();
    assert_eq!(
        (source.failures(), hubs[2].count(PATH)),
        (seen + 2, before + 3)
    );
}

/// A source over two hubs whose backoff (10 s) runs on a clock the test
/// moves.
fn two_hubs(first: String, second: String) -> (ManualClock, HubSource) {
    let manual = ManualClock::new(Duration::from_secs(1_700_000_000));
    let source = HubSource::with_urls([first, second])
        .unwrap()
        .backoff(Duration::from_secs(10))
        .clock(manual.clock());
    (manual, source)
}

#[test]
fn a_hub_answering_502_rests_then_is_first_again_after_its_backoff() {
    let live = hub();
    let second = hub();
    // A balancer whose only backend is gone answers 502.
    let lb = Balancer::start(vec![refused_url().unwrap()]).unwrap();
    let (manual, source) = two_hubs(lb.url(), second.url());
    let client = Client::builder()
        .token_source(source.clone())
        .build()
        .unwrap();
    let key = TokenKey::access_token("wx1");
    call(&client, &key).unwrap();
    assert_eq!((source.failures(), second.count(PATH)), (1, 1));

    // Its backend is back, but it rests: the calls go to the second hub.
    lb.set_backend(0, live.url());
    call(&client, &key).unwrap();
    assert_eq!((live.count(PATH), second.count(PATH)), (0, 2));
    // Its backoff over, it is first again.
    manual.advance(Duration::from_secs(10));
    call(&client, &key).unwrap();
    call(&client, &key).unwrap();
    assert_eq!((live.count(PATH), second.count(PATH)), (2, 2));
    assert_eq!(source.failures(), 1);
}

#[test]
fn a_refresh_that_may_have_arrived_is_not_sent_to_another_hub() {
    let silent = SilentServer::start().unwrap();
    let live = hub();
    let (manual, source) = two_hubs(silent.url(), live.url());
    // The silent hub accepts and never answers: a timeout before an
    // answer (the bound of a hang, not a measured time).
    let client = Client::builder()
        .timeout(Duration::from_millis(300))
        .token_source(source.clone())
        .build()
        .unwrap();
    let key = TokenKey::access_token("wx1");
    let token = client.token(&key).unwrap();
    assert_eq!((source.failures(), live.count(PATH)), (1, 1));

    // The silent hub first again; the refresh may have reached it, so the
    // live hub is asked for its current token, not for a refresh.
    manual.advance(Duration::from_secs(10));
    let again = client.refreshed_token(&key, &token).unwrap();
    assert_eq!(again, token, "the live hub's current token");
    assert_eq!(live.count("/refresh/access_token"), 0, "no fan-out");
    assert_eq!(live.count(PATH), 2);
    assert_eq!(source.failures(), 2);
}
