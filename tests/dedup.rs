//! `CallbackHandler::dedup`: WeChat's tries of one push run the closure
//! once, whichever handler instance they reach and in whatever order;
//! repeats get `success` while it runs and its answer byte for byte after;
//! distinct pushes stay distinct; a store that fails drops no push. The
//! Redis tests run on the Redis at 127.0.0.1:6379 (`.ci/redis.sh` starts
//! it) and on the test binary's Redis Cluster (`common::cluster`), each
//! under a key prefix of its own; `dedup_sentinel` runs some on Sentinel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Condvar, Mutex};
use std::time::Duration;

use crate::common::assert_no_reply;
use weixin::{
    sha1_sorted, CallbackHandler, CallbackResponse, Delivery, ManualClock, MemoryDedup, Message,
    MessageCrypto, Reply, ReplyKind,
};

const TOKEN: &str = "dedup-token";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wx_dedup_app";
const NOW: u64 = 1_700_000_000;
/// How long a test waits for what must happen before failing, not a
/// timing assertion.
const BOUND: Duration = Duration::from_secs(30);

fn crypto() -> MessageCrypto {
    MessageCrypto::new(TOKEN, KEY, APPID).unwrap()
}

pub(crate) fn clock() -> ManualClock {
    ManualClock::new(Duration::from_secs(NOW))
}

/// An encrypted handler whose replies are dated by `clock`.
fn safe_handler(clock: &ManualClock) -> CallbackHandler {
    CallbackHandler::encrypted(crypto()).clock(clock.clock())
}

pub(crate) fn plain_handler(clock: &ManualClock) -> CallbackHandler {
    CallbackHandler::new(TOKEN).clock(clock.clock())
}

/// A user's text to `account`, with `MsgId` `id`.
pub(crate) fn text(account: &str, id: u64) -> String {
    format!(
        "<xml><ToUserName>{account}</ToUserName><FromUserName>o_user</FromUserName>\
         <CreateTime>{NOW}</CreateTime><MsgType>text</MsgType><Content>hi</Content>\
         <MsgId>{id}</MsgId></xml>"
    )
}

/// An event to `account` from `from` at `NOW`, with `extra` fields.
fn event(account: &str, from: &str, name: &str, extra: &str) -> String {
    format!(
        "<xml><ToUserName>{account}</ToUserName><FromUserName>{from}</FromUserName>\
         <CreateTime>{NOW}</CreateTime><MsgType>event</MsgType><Event>{name}</Event>{extra}</xml>"
    )
}

/// A request as WeChat sends it.
#[derive(Clone)]
pub(crate) struct Push {
    query: String,
    body: String,
}

impl Push {
    pub(crate) fn plain(xml: &str) -> Push {
        let signature = sha1_sorted(&[TOKEN, "1700000000", "n0nce"]);
        Push {
            query: format!("signature={signature}&timestamp=1700000000&nonce=n0nce"),
            body: xml.to_string(),
        }
    }

    /// In safe mode: WeChat's tries of one push are the same request.
    fn safe(xml: &str) -> Push {
        let body = crypto().encrypt(xml, "1700000000", "n0nce").unwrap();
        let signature = Message::parse(&body)
            .unwrap()
            .field("MsgSignature")
            .unwrap()
            .to_string();
        Push {
            query: format!(
                "timestamp=1700000000&nonce=n0nce&encrypt_type=aes&msg_signature={signature}"
            ),
            body,
        }
    }

    pub(crate) fn send(
        &self,
        handler: &CallbackHandler,
        on_message: impl FnOnce(&Message) -> weixin::Result<Option<ReplyKind>>,
    ) -> CallbackResponse {
        handler.handle("POST", &self.query, self.body.as_bytes(), on_message)
    }
}

/// The reply in a safe-mode answer, opened as WeChat does.
fn open_reply(response: &CallbackResponse) -> ReplyKind {
    let envelope = Message::parse(response.body()).unwrap();
    let xml = crypto()
        .decrypt(
            envelope.field("MsgSignature").unwrap(),
            envelope.field("TimeStamp").unwrap(),
            envelope.field("Nonce").unwrap(),
            response.body(),
        )
        .unwrap();
    Reply::parse(&xml).unwrap().kind().clone()
}

/// A closed door the first closure call waits behind.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let open = self.open.lock().unwrap();
        let (open, waited) = self
            .opened
            .wait_timeout_while(open, BOUND, |open| !*open)
            .unwrap();
        assert!(*open && !waited.timed_out(), "the gate was never opened");
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

pub(crate) fn same_answer(a: &CallbackResponse, b: &CallbackResponse) {
    assert_eq!(
        (a.status(), a.content_type(), a.body()),
        (b.status(), b.content_type(), b.body())
    );
}

/// Three deliveries of `push` at once, the n-th on `handlers[n % len]`.
/// Whichever claims it first holds its closure until the two others have
/// been answered (`success`, the closure not called); then it answers
/// `reply`. Returns the first's answer and how often the closure ran.
fn three_at_once(
    handlers: &[CallbackHandler],
    push: &Push,
    reply: &str,
) -> (CallbackResponse, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Gate::default());
    let start = Arc::new(Barrier::new(3));
    let (answered, answers) = mpsc::channel();
    let (entered, entries) = mpsc::channel();
    let threads: Vec<_> = (0..3)
        .map(|n| {
            let handler = handlers[n % handlers.len()].clone();
            let (push, reply) = (push.clone(), reply.to_string());
            let (calls, gate, start, answered, entered) = (
                calls.clone(),
                gate.clone(),
                start.clone(),
                answered.clone(),
                entered.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                let response = push.send(&handler, |_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    entered.send(()).unwrap();
                    gate.wait();
                    Ok(Some(ReplyKind::text(reply)))
                });
                answered.send(response).unwrap();
            })
        })
        .collect();
    for _ in 0..2 {
        let repeat = answers
            .recv_timeout(BOUND)
            .expect("a repeat was answered while the first delivery ran");
        assert_no_reply(&repeat);
        assert_eq!(repeat.delivery(), Delivery::WhileRunning);
    }
    // The repeats may be answered after the first delivery claimed the
    // push but before it entered the closure: wait for it to enter.
    entries
        .recv_timeout(BOUND)
        .expect("the first delivery ran the closure");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    gate.open();
    let first = answers
        .recv_timeout(BOUND)
        .expect("the first delivery answered");
    assert_eq!(
        (first.status(), first.delivery()),
        (200, Delivery::First),
        "{:?}",
        first.error()
    );
    for thread in threads {
        thread.join().unwrap();
    }
    (first, calls.load(Ordering::SeqCst))
}

/// Delivers `push` on each handler in turn after `first` answered: each
/// gets `first`'s answer without calling the closure.
fn repeats_after(handlers: &[CallbackHandler], push: &Push, first: &CallbackResponse) {
    for handler in handlers {
        let repeat = push.send(handler, |_| panic!("the closure ran again"));
        assert_eq!(repeat.delivery(), Delivery::Repeat);
        same_answer(&repeat, first);
    }
}

/// Delivers each of `pushes` twice on `handler`; the closure must run once
/// per push.
fn each_once(handler: &CallbackHandler, pushes: &[Push]) {
    let calls = AtomicUsize::new(0);
    for push in pushes {
        for delivery in [Delivery::First, Delivery::Repeat] {
            let response = push.send(handler, |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(None)
            });
            assert_no_reply(&response);
            assert_eq!(response.delivery(), delivery);
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), pushes.len());
}

/// Pushes that share some fields and must not be taken for each other.
fn distinct_pushes(account: &str, other_account: &str) -> Vec<Push> {
    let job = |id: u32| format!("<MsgID>{id}</MsgID><Status><![CDATA[success]]></Status>");
    let sent = |id: u32| {
        format!(
            "<SubscribeMsgSentEvent><List><TemplateId>t1</TemplateId><MsgID>{id}</MsgID>\
             <ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List></SubscribeMsgSentEvent>"
        )
    };
    [
        text(account, 1),
        text(account, 2),
        text(account, 3),
        // The same MsgId to another account.
        text(other_account, 1),
        // One sender, one second: the event's name tells them apart...
        event(account, "o_user", "subscribe", ""),
        event(account, "o_user", "unsubscribe", ""),
        event(account, "o_other", "unsubscribe", ""),
        // ... and the event's own id.
        event(account, "o_user", "TEMPLATESENDJOBFINISH", &job(1)),
        event(account, "o_user", "TEMPLATESENDJOBFINISH", &job(2)),
        event(account, "o_user", "subscribe_msg_sent_event", &sent(1)),
        event(account, "o_user", "subscribe_msg_sent_event", &sent(2)),
    ]
    .iter()
    .map(|xml| Push::plain(xml))
    .collect()
}

#[test]
fn memory_three_deliveries_at_once_then_in_turn_run_the_closure_once() {
    let clock = clock();
    let handler = safe_handler(&clock).dedup(MemoryDedup::new().clock(clock.clock()));
    let push = Push::safe(&text("gh_memory", 6054768590064713728));

    let (first, calls) = three_at_once(std::slice::from_ref(&handler), &push, "once");
    assert_eq!(calls, 1);
    assert_eq!(open_reply(&first), ReplyKind::text("once"));
    // The encrypted bytes themselves: encrypting again would differ (a
    // random IV), so the repeats got what the first sent.
    repeats_after(
        &[handler.clone(), handler.clone(), handler.clone()],
        &push,
        &first,
    );
    assert_eq!(handler.dedup_failures(), 0);
}

#[test]
fn memory_store_forgets_a_push_a_minute_after_its_first_delivery() {
    let clock = clock();
    let handler = plain_handler(&clock).dedup(MemoryDedup::new().clock(clock.clock()));
    let push = Push::plain(&text("gh_expiry", 9));
    let calls = AtomicUsize::new(0);
    let deliver = || {
        push.send(&handler, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        })
        .delivery()
    };

    assert_eq!(deliver(), Delivery::First);
    clock.advance(Duration::from_millis(59_999));
    assert_eq!(deliver(), Delivery::Repeat);
    clock.advance(Duration::from_millis(1));
    assert_eq!(deliver(), Delivery::First);
    assert_eq!(deliver(), Delivery::Repeat);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn memory_store_keeps_distinct_pushes_apart() {
    let handler = plain_handler(&clock()).dedup(MemoryDedup::new());
    each_once(
        &handler,
        &distinct_pushes("gh_distinct", "gh_distinct_other"),
    );
}

#[test]
fn a_failed_or_panicked_first_delivery_lets_the_next_try_run() {
    let clock = clock();
    let handler = plain_handler(&clock).dedup(MemoryDedup::new());
    let push = Push::plain(&text("gh_fail", 5));

    let failed = push.send(&handler, |_| {
        Err(weixin::Error::store("db down", std::io::Error::other("x")))
    });
    assert_eq!((failed.status(), failed.delivery()), (500, Delivery::First));

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        push.send(&handler, |_| panic!("the closure's bug"))
    }));
    assert!(panicked.is_err());

    let answered = push.send(&handler, |_| Ok(Some(ReplyKind::text("third time"))));
    assert_eq!(
        (answered.status(), answered.delivery()),
        (200, Delivery::First)
    );
    let repeat = push.send(&handler, |_| panic!("the closure ran again"));
    assert_eq!(repeat.delivery(), Delivery::Repeat);
    same_answer(&repeat, &answered);
    assert_eq!(
        Reply::parse(repeat.body()).unwrap().kind(),
        &ReplyKind::text("third time")
    );
}

#[test]
fn a_push_without_a_key_and_a_refused_one_are_not_looked_up() {
    let handler = plain_handler(&clock()).dedup(MemoryDedup::new());
    let no_msg_id = Push::plain(
        "<xml><ToUserName>gh_k</ToUserName><FromUserName>o</FromUserName>\
         <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>",
    );
    let calls = AtomicUsize::new(0);
    for _ in 0..2 {
        let response = no_msg_id.send(&handler, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        });
        assert_eq!(response.delivery(), Delivery::NoKey);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let forged = Push {
        query: no_msg_id.query.replace("n0nce", "other"),
        body: text("gh_k", 1),
    };
    let refused = forged.send(&handler, |_| panic!("a forged push reached the closure"));
    assert_eq!(
        (refused.status(), refused.delivery()),
        (403, Delivery::Unchecked)
    );
    // Nothing was claimed by the refusal: the real push runs.
    let real = Push::plain(&text("gh_k", 1)).send(&handler, |_| Ok(None));
    assert_eq!(real.delivery(), Delivery::First);
}

#[cfg(feature = "redis")]
mod redis_store {
    use std::io::Read;
    use std::net::TcpListener;
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::common::cluster::{cluster, each, Topology, REDIS};
    use crate::common::{logs, unique_prefix};
    use weixin::testing::SilentServer;
    use weixin::RedisDedup;

    /// A store on `topology` under `prefix`; panics, naming what to run,
    /// if Redis does not answer.
    fn store(topology: Topology, prefix: &str) -> RedisDedup {
        let store = match topology {
            Topology::Single => RedisDedup::open(REDIS),
            Topology::Cluster => RedisDedup::cluster(&cluster().seeds()),
        }
        .unwrap()
        .prefix(prefix);
        if let Err(e) = store.ping() {
            panic!("{topology:?} Redis must answer for this test (run .ci/redis.sh): {e}");
        }
        store
    }

    /// Two instances behind a load balancer: a handler and a Redis
    /// connection pool each, one prefix.
    fn two_instances(
        topology: Topology,
        prefix: &str,
        clock: &ManualClock,
    ) -> [CallbackHandler; 2] {
        [
            safe_handler(clock).dedup(store(topology, prefix)),
            safe_handler(clock).dedup(store(topology, prefix)),
        ]
    }

    #[test]
    fn redis_three_deliveries_at_once_on_two_instances_run_the_closure_once() {
        each(|topology| {
            let prefix = unique_prefix("dedup-at-once");
            let clock = clock();
            let handlers = two_instances(topology, &prefix, &clock);
            let push = Push::safe(&text("gh_redis", 6054768590064713728));

            let (first, calls) = three_at_once(&handlers, &push, "granted 10 points");
            assert_eq!(calls, 1);
            assert_eq!(open_reply(&first), ReplyKind::text("granted 10 points"));
            repeats_after(&[handlers[1].clone(), handlers[0].clone()], &push, &first);

            // One key, its digest a hash tag, holding the encrypted answer
            // (never the reply in clear) for what is left of a minute.
            let mut con = topology.connection();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query(&mut *con)
                .unwrap();
            assert_eq!(keys.len(), 1, "{keys:?}");
            let digest = keys[0]
                .strip_prefix(&format!("{prefix}msg:{{"))
                .and_then(|rest| rest.strip_suffix('}'))
                .unwrap_or_else(|| panic!("{keys:?}"));
            assert_eq!(digest.len(), 40, "a SHA-1 in hex: {keys:?}");
            let value: String = redis::cmd("GET").arg(&keys[0]).query(&mut *con).unwrap();
            assert_eq!(
                value,
                format!("answer:application/xml; charset=utf-8\n{}", first.body())
            );
            assert!(!value.contains("granted"));
            let pttl: i64 = redis::cmd("PTTL").arg(&keys[0]).query(&mut *con).unwrap();
            assert!(pttl > 0 && pttl <= 60_000, "{pttl}");
            assert_eq!(
                handlers[0].dedup_failures() + handlers[1].dedup_failures(),
                0
            );
        });
    }

    #[test]
    fn redis_three_deliveries_in_turn_on_two_instances_run_the_closure_once() {
        each(three_deliveries_in_turn);
    }

    /// One push delivered three times, one after the other, on two
    /// instances: the closure runs once, each repeat gets its answer.
    fn three_deliveries_in_turn(topology: Topology) {
        let prefix = unique_prefix("dedup-in-turn");
        let clock = clock();
        let handlers = two_instances(topology, &prefix, &clock);
        let push = Push::safe(&event(
            "gh_redis_turn",
            "o_user",
            "CLICK",
            "<EventKey>k</EventKey>",
        ));
        let calls = AtomicUsize::new(0);
        let answers: Vec<CallbackResponse> = [0, 1, 0]
            .iter()
            .map(|&n| {
                push.send(&handlers[n], |_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(Some(ReplyKind::text("clicked")))
                })
            })
            .collect();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let deliveries: Vec<Delivery> = answers.iter().map(|a| a.delivery()).collect();
        assert_eq!(
            deliveries,
            [Delivery::First, Delivery::Repeat, Delivery::Repeat]
        );
        assert_eq!(open_reply(&answers[0]), ReplyKind::text("clicked"));
        same_answer(&answers[1], &answers[0]);
        same_answer(&answers[2], &answers[0]);
    }

    #[test]
    fn redis_store_keeps_distinct_pushes_apart_and_prefixes_apart() {
        each(|topology| {
            let prefix = unique_prefix("dedup-distinct");
            let handler = plain_handler(&clock()).dedup(store(topology, &prefix));
            let pushes = distinct_pushes("gh_redis_distinct", "gh_redis_distinct_other");
            each_once(&handler, &pushes);
            // Another prefix is another store.
            let other =
                plain_handler(&clock()).dedup(store(topology, &unique_prefix("dedup-distinct-2")));
            each_once(&other, &pushes[..1]);
            assert_eq!(handler.dedup_failures() + other.dedup_failures(), 0);
        });
    }

    #[test]
    fn redis_lets_a_failed_first_delivery_go() {
        each(|topology| {
            let prefix = unique_prefix("dedup-failed");
            let handler = plain_handler(&clock()).dedup(store(topology, &prefix));
            let push = Push::plain(&text("gh_redis_failed", 5));
            let calls = AtomicUsize::new(0);
            let failed = push.send(&handler, |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(weixin::Error::store("db down", std::io::Error::other("x")))
            });
            assert_eq!(failed.status(), 500);
            let answered = push.send(&handler, |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(None)
            });
            assert_eq!(
                (answered.body(), answered.delivery()),
                ("success", Delivery::First)
            );
            let repeat = push.send(&handler, |_| panic!("the closure ran again"));
            assert_eq!(repeat.delivery(), Delivery::Repeat);
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            assert_eq!(handler.dedup_failures(), 0);
        });
    }

    /// A Redis that accepts connections and hangs up at once.
    struct HangingUp {
        port: u16,
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl HangingUp {
        fn start() -> HangingUp {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let stop = Arc::new(AtomicBool::new(false));
            let stopped = stop.clone();
            let thread = std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(mut stream) = stream {
                        // Read what came, then close.
                        let _ = stream.set_read_timeout(Some(Duration::from_millis(1)));
                        let _ = stream.read(&mut [0; 256]);
                    }
                }
            });
            HangingUp {
                port,
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for HangingUp {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            // Wakes the accept so that the thread sees the stop.
            let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    /// Every delivery of one push to a handler whose Redis at `port` fails
    /// is handled: the closure runs each time, its reply is answered, the
    /// failure is counted and logged naming the account and the server.
    fn redis_down_handles_every_delivery(port: u16, account: &str) {
        logs::capture();
        let clock = clock();
        let store = RedisDedup::open(&format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .timeout(Duration::from_millis(200));
        let handler = plain_handler(&clock).dedup(store);
        let expected = Push::plain(&text(account, 77)).send(&plain_handler(&clock), |_| {
            Ok(Some(ReplyKind::text("handled")))
        });
        let push = Push::plain(&text(account, 77));
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let response = push.send(&handler, |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(Some(ReplyKind::text("handled")))
            });
            assert_eq!(response.delivery(), Delivery::StoreFailed);
            assert!(response.error().is_none());
            same_answer(&response, &expected);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(handler.dedup_failures(), 3);
        let warnings = logs::warnings_naming(account);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        for warning in warnings {
            assert!(
                warning.starts_with(&format!(
                    "callback de-duplication: claim failed for a push to {account}, \
                     handled without it: store failed: redis at 127.0.0.1:{port}/: claim"
                )),
                "{warning}"
            );
        }
    }

    #[test]
    fn a_redis_that_hangs_up_drops_no_push() {
        let redis = HangingUp::start();
        redis_down_handles_every_delivery(redis.port, "gh_redis_hangs_up");
    }

    #[test]
    fn a_redis_that_never_answers_drops_no_push() {
        let redis = SilentServer::start().unwrap();
        redis_down_handles_every_delivery(redis.port(), "gh_redis_silent");
    }
}
