//! `CallbackHandler`: the server side of WeChat's pushes in one call. A
//! request's method, query string and body go in; the status, content type
//! and body to answer come out, with the typed message handed to the
//! application in between.

use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use crate::callback::verify_signature;
use crate::clock::Clock;
use crate::crypto::{KeyUsed, MessageCrypto};
use crate::dedup::{account_of, key_of, Claim, Dedup, DedupStore, Delivery};
use crate::error::{CallbackErrorKind, Error, ErrorKind, Result};
use crate::message::{check_mini_program, Message, PushFormat, ReplyKind, MAX_XML_BYTES};
use crate::secret::Secret;

const TEXT: &str = "text/plain; charset=utf-8";
const XML: &str = "application/xml; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// Answers WeChat's callbacks for one official account, mini program,
/// third-party platform or WeCom app: the URL check, and pushes in
/// plaintext, compatible or safe mode, in XML or JSON
/// ([`CallbackHandler::format`]).
///
/// [`CallbackHandler::handle`] takes the request's method, query string
/// and body, and:
///
/// 1. answers the URL check (a `GET` with `echostr`): `signature` checked
///    and `echostr` echoed, or (WeCom, some platforms) `msg_signature`
///    checked and `echostr` decrypted;
/// 2. for a push (a `POST`), tells the mode from the query: encrypted when
///    it has `encrypt_type=aes` or a `msg_signature` (compatible mode
///    carries both `signature` and `msg_signature`, and the plaintext next
///    to the ciphertext; only the ciphertext is trusted), plaintext
///    otherwise;
/// 3. checks every signature present (`msg_signature` over the ciphertext
///    is the one an encrypted push needs, `signature` the one a plaintext
///    push needs), decrypts under the current EncodingAESKey or the
///    previous one, and parses the [`Message`] from XML or JSON (the
///    envelope `{"ToUserName","Encrypt"}` and the message inside it alike);
/// 4. hands it to your closure, and answers its reply, addressed back to
///    the sender, in the format of the push and encrypted in the same mode
///    under the key that decrypted the push, or `success` when it has
///    none.
///
/// It does no I/O and holds no lock: share one handler between threads.
///
/// # Replays
///
/// Anyone who recorded a push can send it again; the signatures still
/// match. [`CallbackHandler::timestamp_window`] bounds that in time (off
/// by default, because a server whose clock is off would refuse every
/// push). Within the window, drop repeats yourself: WeChat itself sends a
/// push again, up to 3 times, when no answer came within 5 seconds, with
/// the same [`Message::msg_id`] (events: the same `FromUserName` and
/// `CreateTime`): [`CallbackHandler::dedup`] answers those without running
/// your closure again.
///
/// # Example: a minimal `std::net` server
///
/// ```
/// use std::io::{BufRead, BufReader, Read, Write};
/// use std::net::TcpListener;
/// use weixin::{CallbackHandler, MessageKind, ReplyKind};
///
/// let token = std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into());
/// let handler = CallbackHandler::new(token.as_str());
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
///
/// let server = std::thread::spawn(move || -> std::io::Result<()> {
///     // One request here; a real server loops over `listener.incoming()`.
///     let (mut stream, _) = listener.accept()?;
///     let mut reader = BufReader::new(stream.try_clone()?);
///     let mut line = String::new();
///     reader.read_line(&mut line)?;
///     let mut parts = line.split_whitespace();
///     let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
///     let query = target.split_once('?').map_or("", |(_, query)| query);
///     let mut length = 0;
///     loop {
///         let mut header = String::new();
///         reader.read_line(&mut header)?;
///         if header.trim().is_empty() {
///             break;
///         }
///         if let Some((name, value)) = header.split_once(':') {
///             if name.eq_ignore_ascii_case("content-length") {
///                 length = value.trim().parse().unwrap_or(0);
///             }
///         }
///     }
///     // Read one byte past the limit at most: the handler refuses it.
///     let mut body = vec![0; length.min(CallbackHandler::MAX_BODY_BYTES + 1)];
///     reader.read_exact(&mut body)?;
///
///     let response = handler.handle(method, query, &body, |message| match message.kind() {
///         MessageKind::Text { content } => Ok(Some(ReplyKind::text(content.as_str()))),
///         _ => Ok(None),
///     });
///     write!(
///         stream,
///         "HTTP/1.1 {} \r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
///         response.status(),
///         response.content_type(),
///         response.body().len(),
///         response.body()
///     )
/// });
///
/// // WeChat checking the URL.
/// let signature = weixin::sha1_sorted(&[&token, "1409304348", "xxxxxx"]);
/// let url = format!(
///     "http://{addr}/wechat?signature={signature}&timestamp=1409304348&nonce=xxxxxx&echostr=4919486574"
/// );
/// let echoed = ureq::get(&url).call()?.body_mut().read_to_string()?;
/// assert_eq!(echoed, "4919486574");
/// server.join().expect("server thread")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct CallbackHandler {
    token: Secret,
    crypto: Option<MessageCrypto>,
    accept_plaintext: bool,
    timestamp_window: Option<Duration>,
    clock: Clock,
    format: PushFormat,
    mini_program: bool,
    dedup: Option<Arc<Dedup>>,
}

/// What to answer WeChat: a status, a content type and a body, and the
/// error behind a refusal.
///
/// Write the three to the HTTP response as they are. A refusal's body is
/// its error message for a 4xx (it names no secret) and `server error` for
/// a 5xx (your closure's error stays with you, in
/// [`CallbackResponse::error`]).
#[derive(Debug)]
pub struct CallbackResponse {
    status: u16,
    content_type: &'static str,
    body: String,
    error: Option<Error>,
    delivery: Delivery,
}

/// A request that passed every check.
enum Opened {
    /// The URL check, answered with this body.
    UrlCheck(String),
    /// A push, the format it came in, and how its reply must be sealed.
    Push {
        message: Message,
        format: PushFormat,
        sealing: Sealing,
    },
}

/// How a reply goes out: in the mode the push came in.
enum Sealing {
    Plain,
    Encrypted {
        key: KeyUsed,
        timestamp: String,
        nonce: String,
    },
}

impl CallbackHandler {
    /// The largest body [`CallbackHandler::handle`] reads (1 MiB); a larger
    /// one is refused with 413. Read no more than one byte past it.
    pub const MAX_BODY_BYTES: usize = MAX_XML_BYTES;

    /// A handler for an account in plaintext mode, whose server `token` is
    /// the one configured on the platform.
    ///
    /// It answers compatible-mode pushes too, from their plaintext copy
    /// under `signature`; an encrypted push without that copy is refused
    /// with a 500 ([`ErrorKind::Config`]): the account needs
    /// [`CallbackHandler::encrypted`].
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::CallbackHandler;
    ///
    /// let token = std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into());
    /// let handler = CallbackHandler::new(token.as_str());
    /// let signature = weixin::sha1_sorted(&[&token, "1409304348", "xxxxxx"]);
    /// let query = format!("signature={signature}&timestamp=1409304348&nonce=xxxxxx&echostr=hello");
    /// assert_eq!(handler.handle("GET", &query, b"", |_| Ok(None)).body(), "hello");
    /// ```
    pub fn new(token: impl Into<Secret>) -> CallbackHandler {
        CallbackHandler::with(token.into(), None)
    }

    /// A handler for an account in compatible or safe mode (or a
    /// third-party platform, or a WeCom app): `crypto` holds the server
    /// token, the EncodingAESKey (and the previous one during a key
    /// change) and the appid pushes must carry (the corp id for WeCom).
    ///
    /// Plaintext pushes are refused unless
    /// [`CallbackHandler::accept_plaintext`] allows them; the URL check
    /// is answered in either form.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{CallbackHandler, Message, MessageCrypto, MessageKind, ReplyKind};
    ///
    /// # fn env(name: &str, example: &str) -> String {
    /// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
    /// # }
    /// let crypto = MessageCrypto::new(
    ///     env("WECHAT_TOKEN", "t0ken"),
    ///     env("WECHAT_ENCODING_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
    ///     "wx123",
    /// )?;
    /// let handler = CallbackHandler::encrypted(crypto.clone());
    ///
    /// // Stand in for WeChat: a user's text, encrypted.
    /// let push = "<xml><ToUserName>gh_1</ToUserName><FromUserName>openid</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>";
    /// let body = crypto.encrypt(push, "1409304348", "nonce")?;
    /// let envelope = Message::parse(&body)?;
    /// let query = format!(
    ///     "timestamp=1409304348&nonce=nonce&encrypt_type=aes&msg_signature={}",
    ///     envelope.field("MsgSignature").unwrap()
    /// );
    ///
    /// let response = handler.handle("POST", &query, body.as_bytes(), |message| {
    ///     assert_eq!(message.kind(), &MessageKind::Text { content: "hi".into() });
    ///     Ok(Some(ReplyKind::text("hello")))
    /// });
    /// assert_eq!(response.status(), 200);
    ///
    /// // The reply is encrypted too.
    /// let reply = Message::parse(response.body())?;
    /// let xml = crypto.decrypt(
    ///     reply.field("MsgSignature").unwrap(),
    ///     reply.field("TimeStamp").unwrap(),
    ///     reply.field("Nonce").unwrap(),
    ///     response.body(),
    /// )?;
    /// assert_eq!(weixin::Reply::parse(&xml)?.kind(), &ReplyKind::text("hello"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn encrypted(crypto: MessageCrypto) -> CallbackHandler {
        CallbackHandler::with(crypto.token().clone(), Some(crypto))
    }

    /// Every default, in one place.
    fn with(token: Secret, crypto: Option<MessageCrypto>) -> CallbackHandler {
        CallbackHandler {
            token,
            crypto,
            accept_plaintext: false,
            timestamp_window: None,
            clock: Clock::system(),
            format: PushFormat::Detect,
            mini_program: false,
            dedup: None,
        }
    }

    /// The data format of the account's pushes, as configured on its
    /// platform next to the encryption mode: [`PushFormat::Xml`],
    /// [`PushFormat::Json`] (a mini program or mini game set to JSON,
    /// Channels, WeChat Shop), or [`PushFormat::Detect`] to tell each
    /// push's format from its body. A push in the other format is refused
    /// (400, [`CallbackErrorKind::Json`] or [`CallbackErrorKind::Xml`]).
    ///
    /// The reply goes out in the push's format. A JSON push comes from a
    /// mini program, mini game or Channels, never an official account, so
    /// its reply follows a mini program's rules (see
    /// [`CallbackHandler::mini_program`]). The URL check is the same in
    /// both formats.
    ///
    /// Defaults to [`PushFormat::Detect`].
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{CallbackErrorKind, CallbackHandler, ErrorKind, PushFormat};
    ///
    /// let token = std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into());
    /// let handler = CallbackHandler::new(token.as_str()).format(PushFormat::Json);
    /// let signature = weixin::sha1_sorted(&[&token, "1714037059", "486452656"]);
    /// let query = format!("signature={signature}&timestamp=1714037059&nonce=486452656");
    /// let body = r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
    ///     "CreateTime":1714037059,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#;
    ///
    /// let response = handler.handle("POST", &query, body.as_bytes(), |message| {
    ///     assert_eq!(message.field("debug_str"), Some("hello world"));
    ///     assert_eq!(message.create_time(), Some(1714037059));
    ///     Ok(None)
    /// });
    /// assert_eq!((response.status(), response.body()), (200, "success"));
    ///
    /// // An XML push to a JSON handler is refused.
    /// let refused = handler.handle("POST", &query, b"<xml><MsgType>text</MsgType></xml>", |_| Ok(None));
    /// assert_eq!(refused.status(), 400);
    /// assert!(matches!(
    ///     refused.error().unwrap().kind(),
    ///     ErrorKind::Callback(CallbackErrorKind::Json(_))
    /// ));
    /// ```
    pub fn format(mut self, format: PushFormat) -> CallbackHandler {
        self.format = format;
        self
    }

    /// Whether the account is a mini program (or mini game), whose passive
    /// replies WeChat limits to `transfer_customer_service` (handing the
    /// user's message to customer service): any other reply your closure
    /// returns is refused with 500
    /// ([`CallbackErrorKind::MiniProgramReply`]) instead of being sent and
    /// dropped by WeChat. Answer such a user with a customer service
    /// message through the API, and `Ok(None)` here.
    ///
    /// A push in JSON follows these rules whatever this says: only mini
    /// programs, mini games and Channels push JSON.
    ///
    /// Defaults to `false`.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{CallbackErrorKind, CallbackHandler, ErrorKind, Reply, ReplyKind};
    ///
    /// let token = std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into());
    /// let handler = CallbackHandler::new(token.as_str()).mini_program(true);
    /// let signature = weixin::sha1_sorted(&[&token, "1", "n"]);
    /// let query = format!("signature={signature}&timestamp=1&nonce=n");
    /// let body = b"<xml><ToUserName>gh_1</ToUserName><FromUserName>openid</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>help</Content></xml>";
    ///
    /// let refused = handler.handle("POST", &query, body, |_| Ok(Some(ReplyKind::text("hi"))));
    /// assert_eq!(refused.status(), 500);
    /// assert_eq!(
    ///     refused.error().unwrap().kind(),
    ///     &ErrorKind::Callback(CallbackErrorKind::MiniProgramReply { msg_type: "text" })
    /// );
    ///
    /// let transfer = ReplyKind::TransferCustomerService { kf_account: None };
    /// let response = handler.handle("POST", &query, body, |_| Ok(Some(transfer.clone())));
    /// assert_eq!(Reply::parse(response.body())?.kind(), &transfer);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn mini_program(mut self, mini_program: bool) -> CallbackHandler {
        self.mini_program = mini_program;
        self
    }

    /// Whether an [`encrypted`](CallbackHandler::encrypted) handler also
    /// takes plaintext pushes (checked by `signature`, answered in
    /// plaintext): for the minutes in which an account moves from
    /// plaintext to safe mode. Otherwise a plaintext push, which the token
    /// alone can forge, is refused (403,
    /// [`CallbackErrorKind::NotEncrypted`]). A plaintext handler always
    /// takes them.
    ///
    /// Defaults to `false`.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{CallbackErrorKind, CallbackHandler, ErrorKind, MessageCrypto};
    ///
    /// # fn env(name: &str, example: &str) -> String {
    /// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
    /// # }
    /// let token = env("WECHAT_TOKEN", "t0ken");
    /// let key = env("WECHAT_ENCODING_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
    /// let handler = CallbackHandler::encrypted(MessageCrypto::new(token.as_str(), key, "wx123")?);
    /// let signature = weixin::sha1_sorted(&[&token, "1", "n"]);
    /// let query = format!("signature={signature}&timestamp=1&nonce=n");
    /// let body = b"<xml><MsgType>text</MsgType><Content>hi</Content></xml>";
    ///
    /// let refused = handler.handle("POST", &query, body, |_| Ok(None));
    /// assert_eq!(refused.status(), 403);
    /// assert_eq!(
    ///     refused.error().unwrap().kind(),
    ///     &ErrorKind::Callback(CallbackErrorKind::NotEncrypted)
    /// );
    /// let handler = handler.accept_plaintext(true);
    /// assert_eq!(handler.handle("POST", &query, body, |_| Ok(None)).body(), "success");
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn accept_plaintext(mut self, accept: bool) -> CallbackHandler {
        self.accept_plaintext = accept;
        self
    }

    /// Refuses requests whose `timestamp` is further than `window` (whole
    /// seconds) from the handler's clock, before or after, with 403
    /// ([`CallbackErrorKind::StaleTimestamp`]): a recorded push cannot be
    /// replayed later than that. 300 s is a common choice; keep the
    /// server's clock in sync (NTP) before turning it on.
    ///
    /// Defaults to no window: the timestamp is not checked.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::{CallbackErrorKind, CallbackHandler, ErrorKind, ManualClock};
    ///
    /// let token = std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into());
    /// let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    /// let handler = CallbackHandler::new(token.as_str())
    ///     .timestamp_window(Duration::from_secs(300))
    ///     .clock(clock.clock());
    /// let check = |timestamp: &str| {
    ///     let signature = weixin::sha1_sorted(&[&token, timestamp, "n"]);
    ///     let query = format!("signature={signature}&timestamp={timestamp}&nonce=n&echostr=e");
    ///     handler.handle("GET", &query, b"", |_| Ok(None))
    /// };
    /// assert_eq!(check("1699999700").status(), 200);
    /// let stale = check("1699999699");
    /// assert_eq!(stale.status(), 403);
    /// assert_eq!(
    ///     stale.error().unwrap().kind(),
    ///     &ErrorKind::Callback(CallbackErrorKind::StaleTimestamp)
    /// );
    /// ```
    pub fn timestamp_window(mut self, window: Duration) -> CallbackHandler {
        self.timestamp_window = Some(window);
        self
    }

    /// The clock the timestamp window and replies' `CreateTime` read.
    ///
    /// Defaults to the system clock.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::{CallbackHandler, ManualClock};
    ///
    /// let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    /// let handler = CallbackHandler::new("t0ken").clock(clock.clock());
    /// assert!(format!("{handler:?}").contains("Clock::manual"));
    /// ```
    pub fn clock(mut self, clock: Clock) -> CallbackHandler {
        self.clock = clock;
        self
    }

    /// De-duplicates WeChat's retries through `store`: WeChat sends a push
    /// again when no answer came within 5 seconds, up to three times, and
    /// without a store each try runs your closure (a reward granted twice,
    /// a message stored twice). With one, the closure runs for the first
    /// delivery only; a delivery while it runs is answered `success`, and
    /// one after it the first one's answer, byte for byte
    /// ([`CallbackResponse::delivery`] says which). [`MemoryDedup`](crate::MemoryDedup)
    /// serves one process, `RedisDedup` (feature `redis`) every process
    /// sharing a Redis, so that retries landing on another instance behind
    /// a load balancer are caught too.
    ///
    /// A push is known by (see also [`Delivery::NoKey`]):
    ///
    /// - a user message: its account and `MsgId`;
    /// - an event: its account, `FromUserName`, `CreateTime` and `Event`,
    ///   and the event's own id where it has one: `MsgID` of
    ///   `TEMPLATESENDJOBFINISH`, `MASSSENDJOBFINISH` and (each template's)
    ///   `subscribe_msg_sent_event`, `publish_id` of `PUBLISHJOBFINISH`,
    ///   `trace_id` of `wxa_media_check`, the QR code's `Ticket` of
    ///   `subscribe` and `SCAN`;
    /// - a third-party platform's notification: its account, `CreateTime`,
    ///   `InfoType` and `AuthorizerAppid`.
    ///
    /// The account is `ToUserName` (else `AppId`, else the handler's
    /// appid), so that two accounts sharing a store never meet. Only pushes
    /// that passed every check reach the store: a forged one cannot fill it.
    ///
    /// The answer kept is the one sent, after encryption in safe mode: the
    /// encrypted reply carries its own `TimeStamp`, `Nonce` and
    /// `MsgSignature` over them, so it verifies again as it is, every
    /// delivery gets the very bytes of the first, and the store never holds
    /// a safe-mode reply in clear text.
    ///
    /// A first delivery that fails (500: your closure's error) lets go of
    /// its claim, so that WeChat's next try runs the closure again; so does
    /// one whose closure panics. When the store fails, the push is handled
    /// as if there were none (the closure runs), a warning is logged and
    /// [`CallbackHandler::dedup_failures`] counts it: a push must never be
    /// lost to a store. A delivery answered `success` while the first
    /// still runs ends WeChat's tries: a reply the first returns after
    /// WeChat's 5 seconds reaches nobody, so send slow answers through the
    /// customer service API.
    ///
    /// Defaults to no store: every delivery runs the closure.
    ///
    /// # Example
    ///
    /// ```
    /// use std::cell::Cell;
    /// use weixin::{CallbackHandler, Delivery, MemoryDedup, MessageKind, ReplyKind};
    ///
    /// let token = std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into());
    /// let handler = CallbackHandler::new(token.as_str()).dedup(MemoryDedup::new());
    /// let signature = weixin::sha1_sorted(&[&token, "1", "n"]);
    /// let query = format!("signature={signature}&timestamp=1&nonce=n");
    /// let body = b"<xml><ToUserName>gh_1</ToUserName><FromUserName>openid</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>points</Content>\
    ///     <MsgId>6054768590064713728</MsgId></xml>";
    ///
    /// let granted = Cell::new(0);
    /// let grant = |message: &weixin::Message| {
    ///     granted.set(granted.get() + 1);
    ///     Ok(Some(ReplyKind::text("10 points for you")))
    /// };
    /// let first = handler.handle("POST", &query, body, grant);
    /// let retry = handler.handle("POST", &query, body, grant);
    /// assert_eq!(granted.get(), 1);
    /// assert_eq!((first.delivery(), retry.delivery()), (Delivery::First, Delivery::Repeat));
    /// assert_eq!(retry.body(), first.body());
    /// ```
    pub fn dedup(mut self, store: impl DedupStore + 'static) -> CallbackHandler {
        self.dedup = Some(Arc::new(Dedup::new(store)));
        self
    }

    /// How many times the [`dedup`](CallbackHandler::dedup) store failed
    /// (each logged as a warning; the push was handled anyway), for this
    /// handler and its clones.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{CallbackHandler, MemoryDedup};
    ///
    /// let handler = CallbackHandler::new("t0ken").dedup(MemoryDedup::new());
    /// assert_eq!(handler.dedup_failures(), 0);
    /// ```
    pub fn dedup_failures(&self) -> u64 {
        self.dedup.as_ref().map_or(0, |dedup| dedup.failures())
    }

    /// Answers one request: `method` (`GET` or `POST`), `query` (the raw,
    /// still percent-encoded query string, with or without its `?`) and
    /// `body` (at most [`CallbackHandler::MAX_BODY_BYTES`]; empty for the
    /// URL check).
    ///
    /// `on_message` gets each push that passed every check, and returns
    /// what to answer: `Ok(Some(kind))` for a reply, addressed and sealed
    /// by the handler, or `Ok(None)` for `success`. Return an error (for
    /// your own failures, [`Error::store`]) to answer 500, so that WeChat
    /// tries again. It is never called for a refused request.
    ///
    /// # Responses
    ///
    /// 200 with the reply (`application/xml`, or `application/json` for a
    /// JSON push), `success` or the URL check's `echostr` (`text/plain`). Otherwise, with the error in
    /// [`CallbackResponse::error`], checked in this order:
    ///
    /// | status | error ([`ErrorKind::Callback`] unless said) |
    /// | --- | --- |
    /// | 405 | [`MethodNotAllowed`](CallbackErrorKind::MethodNotAllowed): not `GET` or `POST` |
    /// | 413 | [`XmlTooLarge`](CallbackErrorKind::XmlTooLarge) (or [`JsonTooLarge`](CallbackErrorKind::JsonTooLarge) for a JSON body): a body over 1 MiB |
    /// | 400 | [`MissingParameter`](CallbackErrorKind::MissingParameter): no `timestamp`, `nonce` or (URL check) `echostr`; [`Utf8`](CallbackErrorKind::Utf8): a parameter or the body is not UTF-8 |
    /// | 403 | [`StaleTimestamp`](CallbackErrorKind::StaleTimestamp) (with a window); [`BadSignature`](CallbackErrorKind::BadSignature): `signature` does not match |
    /// | 400, 403, 500 | [`MissingParameter`](CallbackErrorKind::MissingParameter): no `msg_signature` (encrypted) or `signature` (plaintext); [`NotEncrypted`](CallbackErrorKind::NotEncrypted) (403); [`ErrorKind::Config`] (500): an encrypted push to a plaintext handler, which answers only a compatible-mode push, from its plaintext copy (after the XML or JSON errors below) |
    /// | 403 | [`BadSignature`](CallbackErrorKind::BadSignature): `msg_signature` does not match |
    /// | 400 | the decryption errors of [`MessageCrypto::decrypt_encrypted`] other than [`AppIdMismatch`](CallbackErrorKind::AppIdMismatch), which is 403; the XML errors of [`Message::parse`] ([`XmlDoctype`](CallbackErrorKind::XmlDoctype) included), or for a JSON body (see [`CallbackHandler::format`]) those of [`Message::parse_json`] ([`JsonTooDeep`](CallbackErrorKind::JsonTooDeep) included), for the envelope and the message in it |
    /// | 500 | `on_message`'s error; [`NotReplyable`](CallbackErrorKind::NotReplyable) or [`ArticleCount`](CallbackErrorKind::ArticleCount) for its reply (see [`Message::reply`]); [`MiniProgramReply`](CallbackErrorKind::MiniProgramReply) for a reply a mini program does not take (see [`CallbackHandler::mini_program`]) |
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{CallbackErrorKind, CallbackHandler, ErrorKind, MessageKind, Reply, ReplyKind};
    ///
    /// let token = std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "t0ken".into());
    /// let handler = CallbackHandler::new(token.as_str());
    /// let signature = weixin::sha1_sorted(&[&token, "1409304348", "xxxxxx"]);
    /// let query = format!("signature={signature}&timestamp=1409304348&nonce=xxxxxx&openid=openid");
    /// let body = "<xml><ToUserName>gh_1</ToUserName><FromUserName>openid</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>";
    ///
    /// let echo = |message: &weixin::Message| match message.kind() {
    ///     MessageKind::Text { content } => Ok(Some(ReplyKind::text(content.as_str()))),
    ///     _ => Ok(None),
    /// };
    /// let response = handler.handle("POST", &query, body.as_bytes(), echo);
    /// assert_eq!(response.status(), 200);
    /// let reply = Reply::parse(response.body())?;
    /// assert_eq!((reply.to_user_name(), reply.kind()), ("openid", &ReplyKind::text("hi")));
    ///
    /// let forged = handler.handle("POST", &query.replace("xxxxxx", "yyyyyy"), body.as_bytes(), echo);
    /// assert_eq!(forged.status(), 403);
    /// assert_eq!(
    ///     forged.error().unwrap().kind(),
    ///     &ErrorKind::Callback(CallbackErrorKind::BadSignature)
    /// );
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn handle<F>(
        &self,
        method: &str,
        query: &str,
        body: &[u8],
        on_message: F,
    ) -> CallbackResponse
    where
        F: FnOnce(&Message) -> Result<Option<ReplyKind>>,
    {
        let (message, format, sealing) = match self.open(method, query, body) {
            Ok(Opened::UrlCheck(echo)) => return CallbackResponse::ok(TEXT, echo),
            Ok(Opened::Push {
                message,
                format,
                sealing,
            }) => (message, format, sealing),
            Err(error) => return CallbackResponse::refused(error),
        };
        let answer = |message: &Message| {
            let reply = on_message(message).and_then(|reply| match reply {
                Some(kind) => self.seal(message, kind, format, &sealing).map(Some),
                None => Ok(None),
            });
            match reply {
                Ok(Some(reply)) if format == PushFormat::Json => CallbackResponse::ok(JSON, reply),
                Ok(Some(reply)) => CallbackResponse::ok(XML, reply),
                Ok(None) => CallbackResponse::success(),
                Err(error) => CallbackResponse::failed(error),
            }
        };
        match &self.dedup {
            Some(dedup) => self.once(dedup, &message, answer),
            None => answer(&message),
        }
    }

    /// Answers the deliveries of one push with one run of `answer` (see
    /// [`CallbackHandler::dedup`]).
    fn once(
        &self,
        dedup: &Dedup,
        message: &Message,
        answer: impl FnOnce(&Message) -> CallbackResponse,
    ) -> CallbackResponse {
        let appid = self.crypto.as_ref().map_or("", MessageCrypto::app_id);
        let account = account_of(message, appid);
        let Some(key) = key_of(message, account) else {
            return answer(message).delivered(Delivery::NoKey);
        };
        let failed = |what: &str, error: &Error| {
            dedup.failed(what, account, error);
            Delivery::StoreFailed
        };
        match dedup.store().claim(&key) {
            Ok(Claim::First) => {}
            Ok(Claim::Running) => {
                return CallbackResponse::success().delivered(Delivery::WhileRunning)
            }
            Ok(Claim::Answered(kept)) => {
                let delivery = match CallbackResponse::replay(&kept) {
                    Some(response) => return response.delivered(Delivery::Repeat),
                    None => failed(
                        "claim",
                        &Error::new(ErrorKind::Store {
                            reason: "the answer kept is not one this handler wrote".into(),
                        }),
                    ),
                };
                return answer(message).delivered(delivery);
            }
            Err(error) => {
                let delivery = failed("claim", &error);
                return answer(message).delivered(delivery);
            }
        }
        let claim = dedup.claimed(&key, account);
        let response = answer(message);
        // A failure lets go, so that WeChat's next try runs again.
        let (what, done) = if response.status == 200 {
            ("keeping the answer", claim.finish(&response.kept()))
        } else {
            ("letting go", claim.release())
        };
        let delivery = match done {
            Ok(()) => Delivery::First,
            Err(error) => failed(what, &error),
        };
        response.delivered(delivery)
    }

    /// Every check, in the order [`CallbackHandler::handle`] documents.
    fn open(&self, method: &str, query: &str, body: &[u8]) -> Result<Opened> {
        let is_get = method.eq_ignore_ascii_case("GET");
        if !is_get && !method.eq_ignore_ascii_case("POST") {
            return Err(Error::callback(CallbackErrorKind::MethodNotAllowed));
        }
        let format = self.format.of(body);
        if body.len() > Self::MAX_BODY_BYTES {
            return Err(Error::callback(match format {
                PushFormat::Json => CallbackErrorKind::JsonTooLarge,
                _ => CallbackErrorKind::XmlTooLarge,
            }));
        }
        let query = Query::new(query);
        let timestamp = query.require("timestamp")?;
        let nonce = query.require("nonce")?;
        let msg_signature = query.get("msg_signature")?;
        let signature = query.get("signature")?;
        let echostr = if is_get {
            Some(query.require("echostr")?)
        } else {
            None
        };
        let body =
            std::str::from_utf8(body).map_err(|_| Error::callback(CallbackErrorKind::Utf8))?;
        self.check_timestamp(&timestamp)?;
        if let Some(signature) = &signature {
            verify_signature(&self.token, signature, &timestamp, &nonce)?;
        }

        let encrypted = msg_signature.is_some()
            || query
                .get("encrypt_type")?
                .is_some_and(|t| t.eq_ignore_ascii_case("aes"));
        let missing = |name| Error::callback(CallbackErrorKind::MissingParameter(name));
        match (echostr, encrypted, &self.crypto) {
            (Some(echostr), false, _) if signature.is_some() => Ok(Opened::UrlCheck(echostr)),
            (Some(_), false, _) => Err(missing("signature")),
            (Some(echostr), true, _) => {
                let msg_signature = msg_signature.ok_or_else(|| missing("msg_signature"))?;
                let echo = self.crypto()?.decrypt_encrypted(
                    &msg_signature,
                    &timestamp,
                    &nonce,
                    &echostr,
                )?;
                Ok(Opened::UrlCheck(echo))
            }
            (None, true, Some(crypto)) => {
                let msg_signature = msg_signature.ok_or_else(|| missing("msg_signature"))?;
                let (text, key) =
                    crypto.decrypt_in(format, &msg_signature, &timestamp, &nonce, body)?;
                let sealing = Sealing::Encrypted {
                    key,
                    timestamp,
                    nonce,
                };
                Ok(Opened::Push {
                    message: Message::parse_as(&text, format)?,
                    format,
                    sealing,
                })
            }
            (None, true, None) if signature.is_none() => Err(no_key()),
            // Compatible mode: the plaintext copy, checked by `signature`.
            // A safe-mode push has none (an official account signs it with
            // `signature` too): only the key can read it.
            (None, true, None) => {
                let message = Message::parse_as(body, format)?;
                if message.msg_type().is_none() {
                    return Err(no_key());
                }
                Ok(Opened::Push {
                    message,
                    format,
                    sealing: Sealing::Plain,
                })
            }
            (None, false, Some(_)) if !self.accept_plaintext => {
                Err(Error::callback(CallbackErrorKind::NotEncrypted))
            }
            (None, false, _) if signature.is_none() => Err(missing("signature")),
            (None, false, _) => Ok(Opened::Push {
                message: Message::parse_as(body, format)?,
                format,
                sealing: Sealing::Plain,
            }),
        }
    }

    fn crypto(&self) -> Result<&MessageCrypto> {
        self.crypto.as_ref().ok_or_else(no_key)
    }

    fn check_timestamp(&self, timestamp: &str) -> Result<()> {
        let Some(window) = self.timestamp_window else {
            return Ok(());
        };
        let now = self.clock.unix_secs();
        let fresh = timestamp
            .trim()
            .parse::<u64>()
            .is_ok_and(|t| now.abs_diff(t) <= window.as_secs());
        if fresh {
            Ok(())
        } else {
            Err(Error::callback(CallbackErrorKind::StaleTimestamp))
        }
    }

    /// The reply to `message`, addressed, dated, written and sealed as the
    /// push came.
    fn seal(
        &self,
        message: &Message,
        kind: ReplyKind,
        format: PushFormat,
        sealing: &Sealing,
    ) -> Result<String> {
        if self.mini_program || format == PushFormat::Json {
            check_mini_program(&kind)?;
        }
        let reply = message
            .reply(kind)?
            .create_time(self.clock.unix_secs())
            .to_format(format)?;
        match sealing {
            Sealing::Plain => Ok(reply),
            Sealing::Encrypted {
                key,
                timestamp,
                nonce,
            } => self
                .crypto()?
                .encrypt_keyed(*key, format, &reply, timestamp, nonce),
        }
    }
}

impl CallbackResponse {
    fn ok(content_type: &'static str, body: String) -> CallbackResponse {
        CallbackResponse {
            status: 200,
            content_type,
            body,
            error: None,
            delivery: Delivery::Unchecked,
        }
    }

    /// A push answered with no reply.
    fn success() -> CallbackResponse {
        CallbackResponse::ok(TEXT, "success".into())
    }

    fn delivered(mut self, delivery: Delivery) -> CallbackResponse {
        self.delivery = delivery;
        self
    }

    /// An answer as a [`DedupStore`] keeps it: the content type, a line
    /// feed, the body (the status is 200).
    fn kept(&self) -> String {
        format!("{}\n{}", self.content_type, self.body)
    }

    /// The answer [`CallbackResponse::kept`] wrote, or `None` for a text it
    /// did not write.
    fn replay(kept: &str) -> Option<CallbackResponse> {
        let (content_type, body) = kept.split_once('\n')?;
        let content_type = [TEXT, XML, JSON].into_iter().find(|t| *t == content_type)?;
        Some(CallbackResponse::ok(content_type, body.to_string()))
    }

    /// A request that failed a check, by what failed.
    fn refused(error: Error) -> CallbackResponse {
        let status = match error.kind() {
            ErrorKind::Callback(kind) => match kind {
                CallbackErrorKind::MethodNotAllowed => 405,
                CallbackErrorKind::XmlTooLarge | CallbackErrorKind::JsonTooLarge => 413,
                CallbackErrorKind::BadSignature
                | CallbackErrorKind::StaleTimestamp
                | CallbackErrorKind::NotEncrypted
                | CallbackErrorKind::AppIdMismatch => 403,
                _ => 400,
            },
            _ => return CallbackResponse::failed(error),
        };
        CallbackResponse {
            status,
            content_type: TEXT,
            body: error.to_string(),
            error: Some(error),
            delivery: Delivery::Unchecked,
        }
    }

    /// A request that passed and could not be answered.
    fn failed(error: Error) -> CallbackResponse {
        CallbackResponse {
            status: 500,
            content_type: TEXT,
            body: "server error".into(),
            error: Some(error),
            delivery: Delivery::Unchecked,
        }
    }

    /// The HTTP status: 200, or the refusal's (see
    /// [`CallbackHandler::handle`]).
    ///
    /// # Example
    ///
    /// ```
    /// let response = weixin::CallbackHandler::new("t0ken").handle("PUT", "", b"", |_| Ok(None));
    /// assert_eq!(response.status(), 405);
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `Content-Type`: `application/xml; charset=utf-8` for a reply to
    /// an XML push, `application/json; charset=utf-8` for a reply to a JSON
    /// one, `text/plain; charset=utf-8` for anything else.
    ///
    /// # Example
    ///
    /// ```
    /// let response = weixin::CallbackHandler::new("t0ken").handle("PUT", "", b"", |_| Ok(None));
    /// assert_eq!(response.content_type(), "text/plain; charset=utf-8");
    /// ```
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// The body to answer with.
    ///
    /// # Example
    ///
    /// ```
    /// let response = weixin::CallbackHandler::new("t0ken").handle("GET", "nonce=n", b"", |_| Ok(None));
    /// assert_eq!(response.body(), "callback rejected: query parameter timestamp is missing");
    /// ```
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The body to answer with, by value.
    ///
    /// # Example
    ///
    /// ```
    /// let response = weixin::CallbackHandler::new("t0ken").handle("PUT", "", b"", |_| Ok(None));
    /// assert!(response.into_body().starts_with("callback rejected: method not allowed"));
    /// ```
    pub fn into_body(self) -> String {
        self.body
    }

    /// Why the request was refused (4xx) or could not be answered (5xx);
    /// `None` for a 200. Log it: WeChat only sees the status.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{CallbackErrorKind, ErrorKind};
    ///
    /// let response = weixin::CallbackHandler::new("t0ken").handle("PUT", "", b"", |_| Ok(None));
    /// assert_eq!(
    ///     response.error().map(|e| e.kind()),
    ///     Some(&ErrorKind::Callback(CallbackErrorKind::MethodNotAllowed))
    /// );
    /// ```
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// What de-duplication made of the request: [`Delivery::Unchecked`]
    /// without a [`dedup`](CallbackHandler::dedup) store, and for the URL
    /// check and refusals.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{CallbackHandler, Delivery, MemoryDedup};
    ///
    /// let handler = CallbackHandler::new("t0ken").dedup(MemoryDedup::new());
    /// let refused = handler.handle("PUT", "", b"", |_| Ok(None));
    /// assert_eq!(refused.delivery(), Delivery::Unchecked);
    /// ```
    pub fn delivery(&self) -> Delivery {
        self.delivery
    }
}

fn no_key() -> Error {
    Error::config(
        "an encrypted request reached a handler without an EncodingAESKey: \
         build it with CallbackHandler::encrypted",
    )
}

/// The query string, read lazily: only the parameters asked for are
/// decoded.
struct Query<'a>(&'a str);

impl<'a> Query<'a> {
    fn new(query: &'a str) -> Query<'a> {
        Query(query.strip_prefix('?').unwrap_or(query))
    }

    /// The first value of `name`, percent-decoded (`+` stays `+`: WeChat
    /// encodes what it sends, and base64 holds `+`). An empty value counts
    /// as absent.
    fn get(&self, name: &str) -> Result<Option<String>> {
        let Some(raw) = self
            .0
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find_map(|(n, v)| (n == name).then_some(v))
        else {
            return Ok(None);
        };
        let value = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| Error::callback(CallbackErrorKind::Utf8))?;
        Ok(Some(value.into_owned()).filter(|v| !v.is_empty()))
    }

    fn require(&self, name: &'static str) -> Result<String> {
        self.get(name)?
            .ok_or_else(|| Error::callback(CallbackErrorKind::MissingParameter(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decodes_only_what_is_asked_and_keeps_plus() {
        let query = Query::new("?a=1&echostr=P9n%2FqYX%2B4R%3D%3D&b=%FF&plus=a+b&empty=&bare");
        assert_eq!(query.get("a").unwrap().as_deref(), Some("1"));
        assert_eq!(
            query.get("echostr").unwrap().as_deref(),
            Some("P9n/qYX+4R==")
        );
        assert_eq!(query.get("plus").unwrap().as_deref(), Some("a+b"));
        assert_eq!(query.get("empty").unwrap(), None);
        assert_eq!(query.get("bare").unwrap(), None);
        assert_eq!(query.get("missing").unwrap(), None);
        assert_eq!(
            query.get("b").unwrap_err().kind(),
            &ErrorKind::Callback(CallbackErrorKind::Utf8)
        );
        assert_eq!(
            query.require("missing").unwrap_err().kind(),
            &ErrorKind::Callback(CallbackErrorKind::MissingParameter("missing"))
        );
        // The first of repeated parameters wins.
        assert_eq!(
            Query::new("n=1&n=2").get("n").unwrap().as_deref(),
            Some("1")
        );
    }
}
