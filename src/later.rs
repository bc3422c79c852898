//! Replies that come later: a push answered `success` at once, its reply
//! sent afterwards through the customer-service message API, on a bounded
//! pool of threads.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::client::{Client, Retry};
use crate::error::{Error, ErrorKind, Result};
use crate::options::RequestOptions;

/// The customer-service send, the same path for official accounts and
/// mini programs.
const CUSTOM_SEND: &str = "/cgi-bin/message/custom/send";

/// One customer-service message to one user, as
/// `POST /cgi-bin/message/custom/send` takes it.
///
/// The constructors build the kinds both official accounts and mini
/// programs take; [`CustomMessage::new`] any other kind WeChat documents
/// (`voice`, `video`, `music`, `news`, `mpnews`, `msgmenu`, `wxcard`).
///
/// # Example
///
/// ```
/// use weixin::CustomMessage;
///
/// let message = CustomMessage::text("o_alice", "your answer");
/// assert_eq!(
///     message.body(),
///     &serde_json::json!({"touser": "o_alice", "msgtype": "text", "text": {"content": "your answer"}})
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CustomMessage {
    body: Value,
    appid: Option<String>,
    authorizer_appid: Option<String>,
}

impl CustomMessage {
    /// A message of kind `msgtype` to `touser` (an openid), whose
    /// `msgtype` member is `content`.
    pub fn new(touser: &str, msgtype: &str, content: Value) -> CustomMessage {
        let mut body = json!({"touser": touser, "msgtype": msgtype});
        body[msgtype] = content;
        CustomMessage {
            body,
            appid: None,
            authorizer_appid: None,
        }
    }

    /// A text message.
    pub fn text(touser: &str, content: &str) -> CustomMessage {
        CustomMessage::new(touser, "text", json!({ "content": content }))
    }

    /// An image, by the `media_id` of an uploaded image.
    pub fn image(touser: &str, media_id: &str) -> CustomMessage {
        CustomMessage::new(touser, "image", json!({ "media_id": media_id }))
    }

    /// A link card: a title, a description, the URL it opens and the URL
    /// of its picture.
    pub fn link(
        touser: &str,
        title: &str,
        description: &str,
        url: &str,
        thumb_url: &str,
    ) -> CustomMessage {
        CustomMessage::new(
            touser,
            "link",
            json!({"title": title, "description": description, "url": url, "thumb_url": thumb_url}),
        )
    }

    /// A mini program page card: its title, the page it opens (with its
    /// query, `pages/index/index?foo=bar`) and the `media_id` of its cover.
    /// An official account also names the mini program: add
    /// `"appid"` with [`CustomMessage::new`] instead.
    pub fn miniprogram_page(
        touser: &str,
        title: &str,
        pagepath: &str,
        thumb_media_id: &str,
    ) -> CustomMessage {
        CustomMessage::new(
            touser,
            "miniprogrampage",
            json!({"title": title, "pagepath": pagepath, "thumb_media_id": thumb_media_id}),
        )
    }

    /// The account that sends it.
    ///
    /// Defaults to the client's appid.
    pub fn appid(mut self, appid: impl Into<String>) -> CustomMessage {
        self.appid = Some(appid.into());
        self
    }

    /// Sends it on behalf of this authorizer of a third-party platform.
    ///
    /// Defaults to none.
    pub fn authorizer_appid(mut self, appid: impl Into<String>) -> CustomMessage {
        self.authorizer_appid = Some(appid.into());
        self
    }

    /// The JSON body sent.
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The call that sends it: never sent twice (see [`Retry::IfNotSent`]).
    fn options(&self) -> RequestOptions {
        let mut options = RequestOptions::post(CUSTOM_SEND)
            .json(self.body.clone())
            .retry(Retry::IfNotSent);
        if let Some(appid) = &self.appid {
            options = options.appid(appid.as_str());
        }
        if let Some(appid) = &self.authorizer_appid {
            options = options.authorizer_appid(appid.as_str());
        }
        options
    }
}

impl Client {
    /// Sends a customer-service message now, on this thread. An answer that
    /// may mean WeChat delivered it (errcode `-1`, a timeout, a connection
    /// lost after the request left) is not sent again, so the user never
    /// gets it twice; a connection refused is.
    ///
    /// # Errors
    ///
    /// Those of [`Client::request`], with errcode 45015
    /// ([`Error::is_outside_reply_window`]) and 45047
    /// ([`Error::is_too_many_replies`]) for WeChat's limits.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    /// use weixin::CustomMessage;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx1", "s1");
    /// let client = weixin::Client::builder()
    ///     .appid("wx1")
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx1", "s1"))
    ///     .build()?;
    /// client.send_custom_message(&CustomMessage::image("o_alice", "MEDIA_ID"))?;
    /// let sent = fake.received_on("/cgi-bin/message/custom/send");
    /// assert_eq!(sent[0].json.as_ref().unwrap()["image"]["media_id"], "MEDIA_ID");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_custom_message(&self, message: &CustomMessage) -> Result<()> {
        self.call(message.options(), |_| Ok(()))
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Replies that come later: a handler that cannot answer within WeChat's
/// 5 seconds (an AI model, a slow lookup) answers `success` at once and
/// hands the work here; a fixed number of threads compose each reply and
/// send it with [`Client::send_custom_message`] (the client's token and
/// token retry; never sent twice).
///
/// The queue is bounded: work offered while it is full is refused at once
/// with [`ErrorKind::QueueFull`], never spawned. [`shutdown`](LaterReplies::shutdown)
/// (or dropping the pool) stops taking work, lets the workers finish what
/// is queued and joins them.
///
/// The 48-hour window ([`Error::is_outside_reply_window`]) and the count
/// of messages without a user reply ([`Error::is_too_many_replies`]) come
/// back through [`PendingReply::wait`]; a failure nobody waits for is
/// logged.
///
/// # Example
///
/// ```
/// # #[cfg(feature = "crypto")] {
/// use std::sync::Arc;
/// use weixin::testing::FakeWechat;
/// use weixin::{CallbackHandler, CustomMessage, LaterReplies, MessageKind};
///
/// let fake = FakeWechat::start()?;
/// fake.register("wx1", "s1");
/// let client = weixin::Client::builder()
///     .appid("wx1")
///     .base_url(fake.url())
///     .token_source(weixin::SecretSource::new("wx1", "s1"))
///     .build()?;
/// let replies = Arc::new(LaterReplies::new(client, 4, 1000)?);
///
/// // A push, as your HTTP framework hands it over.
/// let token = std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into());
/// let signature = weixin::sha1_sorted(&[&token, "1714037059", "486452656"]);
/// let query = format!("signature={signature}&timestamp=1714037059&nonce=486452656");
/// let body = b"<xml><ToUserName>gh_1</ToUserName><FromUserName>o_alice</FromUserName>\
///     <CreateTime>1714037059</CreateTime><MsgType>text</MsgType><Content>why?</Content>\
///     <MsgId>1</MsgId></xml>";
///
/// let mut pending = None;
/// let response = CallbackHandler::new(token.as_str()).handle("POST", &query, body, |message| {
///     if let MessageKind::Text { content } = message.kind() {
///         let user = message.from_user_name().unwrap_or_default().to_string();
///         let question = content.clone();
///         // Runs on the pool, after `success` went back to WeChat.
///         pending = Some(replies.later(move || {
///             let answer = format!("thinking long about {question:?}: because");
///             Ok(Some(CustomMessage::text(&user, &answer)))
///         })?);
///     }
///     Ok(None)
/// });
/// assert_eq!(response.body(), "success");
/// pending.unwrap().wait()?;
/// let sent = fake.received_on("/cgi-bin/message/custom/send");
/// assert_eq!(sent[0].json.as_ref().unwrap()["text"]["content"], "thinking long about \"why?\": because");
/// assert_eq!(replies.shutdown(), 0);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LaterReplies {
    client: Client,
    queue: Mutex<Option<SyncSender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    capacity: usize,
    pending: Arc<AtomicUsize>,
}

impl LaterReplies {
    /// A pool of `workers` threads (named `weixin-later-N`) sending with
    /// `client`, whose queue holds at most `capacity` items beyond those
    /// being worked on.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when `workers` or `capacity` is 0, or a thread
    /// cannot be started (the ones started are stopped).
    pub fn new(client: Client, workers: usize, capacity: usize) -> Result<LaterReplies> {
        if workers == 0 || capacity == 0 {
            return Err(Error::config(
                "a later-reply pool needs at least one worker and room for one item",
            ));
        }
        let (tx, rx) = mpsc::sync_channel::<Job>(capacity);
        let rx = Arc::new(Mutex::new(rx));
        let pool = LaterReplies {
            client,
            queue: Mutex::new(Some(tx)),
            workers: Mutex::new(Vec::with_capacity(workers)),
            capacity,
            pending: Arc::new(AtomicUsize::new(0)),
        };
        for n in 0..workers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("weixin-later-{n}"))
                .spawn(move || work(&rx));
            match spawned {
                Ok(handle) => pool.workers.lock().push(handle),
                Err(e) => {
                    pool.shutdown();
                    return Err(Error::config(format!("could not start a worker: {e}")));
                }
            }
        }
        Ok(pool)
    }

    /// Queues `message` to be sent by a worker.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::QueueFull`], at once, when the queue is full or the pool
    /// was shut down. The send's own errors come from [`PendingReply::wait`].
    pub fn send(&self, message: CustomMessage) -> Result<PendingReply> {
        self.later(move || Ok(Some(message)))
    }

    /// Queues `compose`, which a worker runs and whose message (if any) it
    /// then sends: the slow part of a reply belongs here, not in the
    /// push's handler.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::QueueFull`], at once, when the queue is full or the pool
    /// was shut down. The errors of `compose` (a panic in it becomes
    /// [`ErrorKind::InvalidRequest`]) and of the send come from
    /// [`PendingReply::wait`].
    pub fn later<F>(&self, compose: F) -> Result<PendingReply>
    where
        F: FnOnce() -> Result<Option<CustomMessage>> + Send + 'static,
    {
        let (done, outcome) = mpsc::sync_channel(1);
        let client = self.client.clone();
        let pending = self.pending.clone();
        let job: Job = Box::new(move || {
            let result = match catch_unwind(AssertUnwindSafe(compose)) {
                Ok(Ok(Some(message))) => client.send_custom_message(&message),
                Ok(Ok(None)) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(Error::invalid("the later reply's closure panicked")),
            };
            pending.fetch_sub(1, Ordering::SeqCst);
            if let Err(TrySendError::Disconnected(Err(e))) = done.try_send(result) {
                log::warn!("later reply not sent: {e}");
            }
        });
        let refused = |capacity| Error::new(ErrorKind::QueueFull { capacity });
        let queue = self.queue.lock();
        let tx = queue.as_ref().ok_or_else(|| refused(0))?;
        self.pending.fetch_add(1, Ordering::SeqCst);
        match tx.try_send(job) {
            Ok(()) => Ok(PendingReply { outcome }),
            Err(_) => {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                Err(refused(self.capacity))
            }
        }
    }

    /// How many items are queued or being worked on.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Stops taking work, waits until the workers have sent everything
    /// queued and joins them. Returns how many items were pending when it
    /// was called (all of them handled by the time it returns). Calling it
    /// again returns 0 at once.
    pub fn shutdown(&self) -> usize {
        let pending = self.pending();
        drop(self.queue.lock().take());
        let workers = std::mem::take(&mut *self.workers.lock());
        for worker in workers {
            // ok because a job cannot panic: its closure runs under catch_unwind
            let _ = worker.join();
        }
        pending
    }
}

/// A worker: runs jobs until the queue is closed and empty.
fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = rx.lock().recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

impl Drop for LaterReplies {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for LaterReplies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaterReplies")
            .field("workers", &self.workers.lock().len())
            .field("capacity", &self.capacity)
            .field("pending", &self.pending())
            .finish()
    }
}

/// The outcome of one item of [`LaterReplies`], to wait for if you want it.
#[derive(Debug)]
pub struct PendingReply {
    outcome: Receiver<Result<()>>,
}

impl PendingReply {
    /// Waits until the item was composed and sent.
    ///
    /// # Errors
    ///
    /// The error of the closure or of [`Client::send_custom_message`].
    pub fn wait(self) -> Result<()> {
        self.outcome
            .recv()
            .unwrap_or_else(|_| Err(Error::invalid("the later reply was dropped unsent")))
    }
}
