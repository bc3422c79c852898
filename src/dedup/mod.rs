//! De-duplication of WeChat's retries: WeChat sends a push again when no
//! answer came within 5 seconds, up to three times, so a slow closure
//! would run up to four times (a reward granted twice, a reply sent
//! twice). [`CallbackHandler::dedup`](crate::CallbackHandler::dedup)
//! takes a `DedupStore`; this file holds the trait, the key a push is
//! known by (`key_of`, with the table of events that carry an id of their
//! own) and what a response says of it (`Delivery`). The stores:
//! `memory.rs` in one process, `redis.rs` for several behind a load
//! balancer. The handler does the rest (claim, run, keep or let go).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::message::Message;

mod memory;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "redis")]
pub use self::redis::RedisDedup;
pub use memory::MemoryDedup;

/// How long a push is remembered, from its first delivery: WeChat's
/// retries come within 15 seconds of it (three, 5 seconds apart).
pub(crate) const DEDUP_TTL: Duration = Duration::from_secs(60);

/// Where a [`CallbackHandler`](crate::CallbackHandler) remembers the pushes
/// it has seen, so that WeChat's retries of a push do not run your closure
/// again: [`MemoryDedup`] for one process, `RedisDedup` (feature `redis`)
/// for several processes behind a load balancer, or your own.
///
/// For each push that passed every check and has a key (see
/// [`CallbackHandler::dedup`](crate::CallbackHandler::dedup)), the handler
/// calls [`claim`](DedupStore::claim); the first delivery gets
/// [`Claim::First`], runs the closure, and then either
/// [`finish`](DedupStore::finish)es with its answer (a 200) or
/// [`release`](DedupStore::release)s the key (a 500, so that WeChat's next
/// try runs the closure again). Deliveries that find the key claimed get
/// `success` while it runs ([`Claim::Running`]) and its answer once it has
/// one ([`Claim::Answered`]).
///
/// A store forgets a key some time after claiming it (a minute for the
/// crate's stores), so that it stays bounded. `claim` must be atomic: of
/// deliveries racing for a new key, exactly one gets `First`. An error of
/// any method is logged as a warning and counted
/// ([`CallbackHandler::dedup_failures`](crate::CallbackHandler::dedup_failures)),
/// and the push is handled anyway: a store that fails never drops a push,
/// and may let a retry run twice.
///
/// Keys are at most 64 ASCII characters; answers are any text, to be
/// given back as they were.
///
/// # Example: a store of your own
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Mutex;
/// use weixin::{CallbackHandler, Claim, DedupStore, Delivery};
///
/// /// Never forgets: for a test only.
/// #[derive(Debug, Default)]
/// struct Forever(Mutex<HashMap<String, Option<String>>>);
///
/// impl DedupStore for Forever {
///     fn claim(&self, key: &str) -> weixin::Result<Claim> {
///         let mut seen = self.0.lock().unwrap();
///         Ok(match seen.get(key) {
///             None => {
///                 seen.insert(key.to_string(), None);
///                 Claim::First
///             }
///             Some(None) => Claim::Running,
///             Some(Some(answer)) => Claim::Answered(answer.clone()),
///         })
///     }
///     fn finish(&self, key: &str, answer: &str) -> weixin::Result<()> {
///         self.0.lock().unwrap().insert(key.to_string(), Some(answer.to_string()));
///         Ok(())
///     }
///     fn release(&self, key: &str) -> weixin::Result<()> {
///         self.0.lock().unwrap().remove(key);
///         Ok(())
///     }
/// }
///
/// let token = std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into());
/// let handler = CallbackHandler::new(token.as_str()).dedup(Forever::default());
/// let signature = weixin::sha1_sorted(&[&token, "1", "n"]);
/// let query = format!("signature={signature}&timestamp=1&nonce=n");
/// let body = b"<xml><ToUserName>gh_1</ToUserName><FromUserName>openid</FromUserName>\
///     <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content>\
///     <MsgId>42</MsgId></xml>";
///
/// let calls = AtomicUsize::new(0);
/// for _ in 0..3 {
///     let response = handler.handle("POST", &query, body, |_| {
///         calls.fetch_add(1, Ordering::SeqCst);
///         Ok(None)
///     });
///     assert_eq!(response.body(), "success");
/// }
/// assert_eq!(calls.load(Ordering::SeqCst), 1);
/// ```
pub trait DedupStore: fmt::Debug + Send + Sync {
    /// Claims `key` for this delivery if no delivery holds it: then
    /// [`Claim::First`]. Otherwise [`Claim::Running`] while the delivery
    /// that holds it has no answer, or [`Claim::Answered`] with the answer
    /// given to [`finish`](DedupStore::finish).
    ///
    /// # Errors
    ///
    /// Whatever the store fails with ([`Error::store`](crate::Error::store)
    /// for your own): the push is then handled as if there were no store.
    fn claim(&self, key: &str) -> Result<Claim>;

    /// Keeps the answer of the delivery that claimed `key`, for the
    /// deliveries after it, until the key is forgotten.
    ///
    /// # Errors
    ///
    /// Whatever the store fails with: later deliveries then get `success`
    /// until the claim is forgotten.
    fn finish(&self, key: &str, answer: &str) -> Result<()>;

    /// Lets go of `key`, claimed and not answered: the delivery that
    /// claimed it failed, and WeChat's next try must run again. A key that
    /// has an answer keeps it.
    ///
    /// # Errors
    ///
    /// Whatever the store fails with: later deliveries then get `success`
    /// until the claim is forgotten.
    fn release(&self, key: &str) -> Result<()>;
}

impl<T: DedupStore + ?Sized> DedupStore for Arc<T> {
    fn claim(&self, key: &str) -> Result<Claim> {
        (**self).claim(key)
    }

    fn finish(&self, key: &str, answer: &str) -> Result<()> {
        (**self).finish(key, answer)
    }

    fn release(&self, key: &str) -> Result<()> {
        (**self).release(key)
    }
}

/// What [`DedupStore::claim`] found.
///
/// # Example
///
/// ```
/// use weixin::{Claim, DedupStore, MemoryDedup};
///
/// let store = MemoryDedup::new();
/// assert_eq!(store.claim("k")?, Claim::First);
/// assert_eq!(store.claim("k")?, Claim::Running);
/// store.finish("k", "the answer")?;
/// assert_eq!(store.claim("k")?, Claim::Answered("the answer".into()));
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// No delivery held the key: this one holds it now, and runs.
    First,
    /// Another delivery holds the key and has not answered yet.
    Running,
    /// The delivery that held the key answered this.
    Answered(String),
}

/// What de-duplication made of a request
/// ([`CallbackResponse::delivery`](crate::CallbackResponse::delivery)).
///
/// # Example
///
/// ```
/// use weixin::{CallbackHandler, Delivery, MemoryDedup};
///
/// let token = std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into());
/// let handler = CallbackHandler::new(token.as_str()).dedup(MemoryDedup::new());
/// let signature = weixin::sha1_sorted(&[&token, "1", "n"]);
/// let query = format!("signature={signature}&timestamp=1&nonce=n");
/// let body = b"<xml><ToUserName>gh_1</ToUserName><FromUserName>openid</FromUserName>\
///     <CreateTime>1</CreateTime><MsgType>event</MsgType><Event>unsubscribe</Event></xml>";
///
/// let first = handler.handle("POST", &query, body, |_| Ok(None));
/// assert_eq!(first.delivery(), Delivery::First);
/// let again = handler.handle("POST", &query, body, |_| unreachable!("not called again"));
/// assert_eq!((again.delivery(), again.body()), (Delivery::Repeat, "success"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Not looked up: the handler has no store, or the request was no push
    /// to answer (the URL check, a refusal).
    Unchecked,
    /// A push with no key (a message without `MsgId`, an event without
    /// `FromUserName`, `CreateTime` or `Event`): handled as it came.
    NoKey,
    /// The first delivery of its push: the closure ran.
    First,
    /// A repeat while the first delivery was still running: answered
    /// `success`, the closure not called.
    WhileRunning,
    /// A repeat after the first delivery answered: its answer, byte for
    /// byte, the closure not called.
    Repeat,
    /// The store failed (claiming, keeping the answer or letting go): the
    /// closure ran and this is its answer; the failure was logged as a
    /// warning and counted.
    StoreFailed,
}

/// A handler's store and the count of its failures, shared by the
/// handler's clones.
pub(crate) struct Dedup {
    store: Box<dyn DedupStore>,
    failures: AtomicU64,
}

impl Dedup {
    pub(crate) fn new(store: impl DedupStore + 'static) -> Dedup {
        Dedup {
            store: Box::new(store),
            failures: AtomicU64::new(0),
        }
    }

    pub(crate) fn store(&self) -> &dyn DedupStore {
        &*self.store
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Logs and counts a failure of the store, which the push survives.
    pub(crate) fn failed(&self, what: &str, account: &str, error: &crate::Error) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        log::warn!(
            "callback de-duplication: {what} failed for a push to {account}, \
             handled without it: {error}"
        );
    }
}

impl Dedup {
    /// The claim this delivery holds on `key`: let go of if dropped before
    /// it is finished or released (the closure panicked), so that WeChat's
    /// next try runs rather than get `success` for a minute.
    pub(crate) fn claimed<'a>(&'a self, key: &'a str, account: &'a str) -> Claimed<'a> {
        Claimed {
            dedup: self,
            key,
            account,
            open: true,
        }
    }
}

/// A claim held by a running delivery (see [`Dedup::claimed`]).
pub(crate) struct Claimed<'a> {
    dedup: &'a Dedup,
    key: &'a str,
    account: &'a str,
    open: bool,
}

impl Claimed<'_> {
    /// Keeps `answer` for the deliveries after this one.
    pub(crate) fn finish(mut self, answer: &str) -> Result<()> {
        self.open = false;
        self.dedup.store.finish(self.key, answer)
    }

    /// Lets go of the claim: this delivery failed.
    pub(crate) fn release(mut self) -> Result<()> {
        self.open = false;
        self.dedup.store.release(self.key)
    }
}

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        if self.open {
            if let Err(error) = self.dedup.store.release(self.key) {
                self.dedup.failed("letting go", self.account, &error);
            }
        }
    }
}

impl fmt::Debug for Dedup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dedup")
            .field("store", &self.store)
            .field("failures", &self.failures())
            .finish()
    }
}

/// Events that carry an id of their own, and the field holding it (at any
/// depth; every one, for a list). Retries carry the same, so it only tells
/// apart distinct events that share a sender, a second and a name.
const EVENT_IDS: &[(&str, &str)] = &[
    // The template or mass message's id.
    ("TEMPLATESENDJOBFINISH", "MsgID"),
    ("MASSSENDJOBFINISH", "MsgID"),
    // SubscribeMsgSentEvent/List[n]/MsgID, one per message sent.
    ("subscribe_msg_sent_event", "MsgID"),
    // PublishEventInfo/publish_id.
    ("PUBLISHJOBFINISH", "publish_id"),
    // The asynchronous content check's trace_id.
    ("wxa_media_check", "trace_id"),
    // The QR code scanned (two codes may be scanned within a second).
    ("subscribe", "Ticket"),
    ("SCAN", "Ticket"),
];

/// The account a push is for: its `ToUserName`, else (a third-party
/// platform's notification) its `AppId`, else `fallback` (the handler's
/// appid).
pub(crate) fn account_of<'a>(message: &'a Message, fallback: &'a str) -> &'a str {
    message
        .to_user_name()
        .or_else(|| message.field("AppId"))
        .unwrap_or(fallback)
}

/// The key WeChat's retries of `message` share and no other push has, or
/// `None` when it lacks the fields to make one:
///
/// - a user message: the account and `MsgId`;
/// - an event: the account, `FromUserName`, `CreateTime`, `Event` and the
///   event's own id where [`EVENT_IDS`] names one;
/// - a third-party platform's notification (`InfoType`, no `MsgType`): the
///   account, `CreateTime`, `InfoType` and `AuthorizerAppid` when present.
///
/// The key is `msg:`, `event:` or `info:` and the SHA-1 of those fields,
/// each prefixed by its length (so no two lists of fields give one text).
pub(crate) fn key_of(message: &Message, account: &str) -> Option<String> {
    let mut parts: Vec<&str> = vec![account];
    let kind = match message.msg_type() {
        Some(t) if t.eq_ignore_ascii_case("event") => {
            let event = message.field("Event")?;
            parts.extend([
                message.from_user_name()?,
                message.field("CreateTime")?,
                event,
            ]);
            if let Some((_, id)) = EVENT_IDS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(event))
            {
                parts.extend(
                    message
                        .fields()
                        .iter()
                        .filter(|(path, _)| last_name(path) == *id)
                        .map(|(_, value)| value.as_str()),
                );
            }
            "event"
        }
        Some(_) => {
            parts.push(message.field("MsgId")?);
            "msg"
        }
        None => {
            parts.extend([message.field("CreateTime")?, message.field("InfoType")?]);
            parts.extend(message.field("AuthorizerAppid"));
            "info"
        }
    };
    let mut digest = sha1_smol::Sha1::new();
    for part in parts {
        digest.update(format!("{}:", part.len()).as_bytes());
        digest.update(part.as_bytes());
    }
    Some(format!("{kind}:{}", digest.digest()))
}

/// The last name of a field path, without its index:
/// `SubscribeMsgSentEvent/List[2]/MsgID` is `MsgID`.
fn last_name(path: &str) -> &str {
    let last = path.rsplit('/').next().unwrap_or(path);
    last.split('[').next().unwrap_or(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(inner: &str) -> Message {
        Message::parse(&format!(
            "<xml><ToUserName>gh_a</ToUserName><FromUserName>o_1</FromUserName>\
             <CreateTime>100</CreateTime>{inner}</xml>"
        ))
        .unwrap()
    }

    /// The key as the handler makes it.
    fn key_as_handled(message: &Message) -> Option<String> {
        key_of(message, account_of(message, ""))
    }

    fn key(inner: &str) -> Option<String> {
        key_as_handled(&xml(inner))
    }

    #[test]
    fn a_message_is_known_by_its_account_and_msg_id() {
        let text = key("<MsgType>text</MsgType><Content>a</Content><MsgId>7</MsgId>").unwrap();
        assert!(text.starts_with("msg:") && text.len() == 44, "{text}");
        // The content does not matter, the id does.
        assert_eq!(
            key("<MsgType>text</MsgType><Content>b</Content><MsgId>7</MsgId>"),
            Some(text.clone())
        );
        assert_ne!(
            key("<MsgType>text</MsgType><MsgId>8</MsgId>"),
            Some(text.clone())
        );
        // The same id to another account is another push.
        let other = Message::parse(
            "<xml><ToUserName>gh_b</ToUserName><MsgType>text</MsgType><MsgId>7</MsgId></xml>",
        )
        .unwrap();
        assert_ne!(key_as_handled(&other), Some(text));
        assert_eq!(key("<MsgType>text</MsgType><Content>a</Content>"), None);
    }

    #[test]
    fn an_event_is_known_by_sender_second_name_and_its_own_id() {
        let unsubscribe = key("<MsgType>event</MsgType><Event>unsubscribe</Event>").unwrap();
        assert!(unsubscribe.starts_with("event:"));
        assert_ne!(
            key("<MsgType>event</MsgType><Event>subscribe</Event>"),
            Some(unsubscribe)
        );
        let job = |id: &str| {
            key(&format!(
                "<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event>\
                 <MsgID>{id}</MsgID><Status>success</Status>"
            ))
        };
        assert_eq!(job("1"), job("1"));
        assert_ne!(job("1"), job("2"));
        // Every MsgID of a list counts.
        let sent = |second: &str| {
            key(&format!(
                "<MsgType>event</MsgType><Event>subscribe_msg_sent_event</Event>\
                 <SubscribeMsgSentEvent><List><TemplateId>t</TemplateId><MsgID>1</MsgID></List>\
                 <List><TemplateId>t</TemplateId><MsgID>{second}</MsgID></List>\
                 </SubscribeMsgSentEvent>"
            ))
        };
        assert_eq!(sent("2"), sent("2"));
        assert_ne!(sent("2"), sent("3"));
        // An event with no id of its own: the other fields do not count.
        assert_eq!(
            key("<MsgType>event</MsgType><Event>CLICK</Event><EventKey>a</EventKey>"),
            key("<MsgType>event</MsgType><Event>CLICK</Event><EventKey>b</EventKey>")
        );
        assert_eq!(key("<MsgType>event</MsgType>"), None);
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        let a = Message::parse(
            "<xml><ToUserName>gh_</ToUserName><MsgType>text</MsgType><MsgId>17</MsgId></xml>",
        )
        .unwrap();
        let b = Message::parse(
            "<xml><ToUserName>gh_1</ToUserName><MsgType>text</MsgType><MsgId>7</MsgId></xml>",
        )
        .unwrap();
        assert_ne!(key_as_handled(&a), key_as_handled(&b));
    }

    #[test]
    fn a_notification_is_known_by_its_platform_second_and_type() {
        let ticket = |appid: &str, time: u32| {
            let message = Message::parse(&format!(
                "<xml><AppId>{appid}</AppId><CreateTime>{time}</CreateTime>\
                 <InfoType>component_verify_ticket</InfoType>\
                 <ComponentVerifyTicket>t</ComponentVerifyTicket></xml>"
            ))
            .unwrap();
            key_of(&message, account_of(&message, "wx_handler"))
        };
        assert!(ticket("wx_c", 1).unwrap().starts_with("info:"));
        assert_eq!(ticket("wx_c", 1), ticket("wx_c", 1));
        assert_ne!(ticket("wx_c", 1), ticket("wx_c", 2));
        assert_ne!(ticket("wx_c", 1), ticket("wx_d", 1));
    }

    #[test]
    fn the_account_is_to_user_name_then_app_id_then_the_handler_s() {
        let message = Message::parse("<xml><MsgType>text</MsgType></xml>").unwrap();
        assert_eq!(account_of(&message, "wx_h"), "wx_h");
        assert_eq!(account_of(&xml(""), "wx_h"), "gh_a");
    }

    #[test]
    fn last_name_drops_the_path_and_the_index() {
        assert_eq!(last_name("SubscribeMsgSentEvent/List[2]/MsgID"), "MsgID");
        assert_eq!(last_name("MsgID"), "MsgID");
        assert_eq!(last_name("a/b[3]"), "b");
    }
}
