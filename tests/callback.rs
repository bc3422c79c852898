//! `CallbackHandler` end to end: requests built the way WeChat sends them
//! (plaintext, compatible, safe; the official and WeCom vectors), answers
//! checked byte for byte, refusals by exact error and status.

use std::cell::Cell;
use std::time::Duration;

use crate::common::{assert_no_reply, assert_refused};
use weixin::{
    sha1_sorted, Article, CallbackErrorKind, CallbackHandler, CallbackResponse, Error, ErrorKind,
    Event, ManualClock, Message, MessageCrypto, MessageKind, Reply, ReplyKind,
};

const TOKEN: &str = "callback-token";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OLD_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg";
const APPID: &str = "wxb11529c136998cb6";
const NOW: u64 = 1_700_000_000;

fn crypto(key: &str) -> MessageCrypto {
    MessageCrypto::new(TOKEN, key, APPID).unwrap()
}

/// A handler whose clock stands at `NOW`, so replies' `CreateTime` is known.
fn clocked(handler: CallbackHandler) -> CallbackHandler {
    handler.clock(ManualClock::new(Duration::from_secs(NOW)).clock())
}

fn encrypted_handler() -> CallbackHandler {
    clocked(CallbackHandler::encrypted(crypto(KEY)))
}

fn plain_handler() -> CallbackHandler {
    clocked(CallbackHandler::new(TOKEN))
}

/// Percent-encodes what base64 holds, as WeChat does in a query.
fn encode(value: &str) -> String {
    value
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// A user's text message, as decrypted.
fn text_message(content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_account]]></ToUserName>\
         <FromUserName><![CDATA[o_user]]></FromUserName><CreateTime>{NOW}</CreateTime>\
         <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>6054768590064713728</MsgId></xml>"
    )
}

/// WeChat's side: builds requests in each mode.
struct WeChat {
    crypto: MessageCrypto,
}

impl WeChat {
    fn new(key: &str) -> WeChat {
        WeChat {
            crypto: crypto(key),
        }
    }

    fn signature(timestamp: &str, nonce: &str) -> String {
        sha1_sorted(&[TOKEN, timestamp, nonce])
    }

    /// A plaintext push: (query, body).
    fn plain(&self, xml: &str, timestamp: &str) -> (String, String) {
        let signature = WeChat::signature(timestamp, "n0nce");
        (
            format!("signature={signature}&timestamp={timestamp}&nonce=n0nce&openid=o_user"),
            xml.to_string(),
        )
    }

    /// The ciphertext of `xml` and its `msg_signature`.
    fn seal(&self, xml: &str, timestamp: &str) -> (String, String) {
        let envelope =
            Message::parse(&self.crypto.encrypt(xml, timestamp, "n0nce").unwrap()).unwrap();
        let encrypted = envelope.field("Encrypt").unwrap().to_string();
        let msg_signature = sha1_sorted(&[TOKEN, timestamp, "n0nce", &encrypted]);
        (encrypted, msg_signature)
    }

    fn encrypted_query(timestamp: &str, msg_signature: &str) -> String {
        format!(
            "signature={}&timestamp={timestamp}&nonce=n0nce&openid=o_user&encrypt_type=aes&msg_signature={msg_signature}",
            WeChat::signature(timestamp, "n0nce")
        )
    }

    /// A safe-mode push: only the ciphertext.
    fn safe(&self, xml: &str, timestamp: &str) -> (String, String) {
        let (encrypted, msg_signature) = self.seal(xml, timestamp);
        (
            WeChat::encrypted_query(timestamp, &msg_signature),
            format!(
                "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            ),
        )
    }

    /// A compatible-mode push: `plaintext` (the copy, normally the same
    /// as `xml`) with the ciphertext of `xml` added.
    fn compatible(&self, xml: &str, plaintext: &str, timestamp: &str) -> (String, String) {
        let (encrypted, msg_signature) = self.seal(xml, timestamp);
        let body = plaintext.replace(
            "</xml>",
            &format!("<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"),
        );
        (WeChat::encrypted_query(timestamp, &msg_signature), body)
    }
}

/// Opens an encrypted answer as WeChat does: checks its signature,
/// decrypts it under `crypto` and reads the reply.
fn open_reply(crypto: &MessageCrypto, response: &CallbackResponse) -> Result<Reply, Error> {
    let envelope = Message::parse(response.body())?;
    let xml = crypto.decrypt(
        envelope.field("MsgSignature").unwrap_or_default(),
        envelope.field("TimeStamp").unwrap_or_default(),
        envelope.field("Nonce").unwrap_or_default(),
        response.body(),
    )?;
    Reply::parse(&xml)
}

fn echo(message: &Message) -> weixin::Result<Option<ReplyKind>> {
    Ok(match message.kind() {
        MessageKind::Text { content } => Some(ReplyKind::text(format!("echo: {content}"))),
        _ => None,
    })
}

fn echo_reply(content: &str) -> Reply {
    Reply::new(
        "o_user",
        "gh_account",
        ReplyKind::text(format!("echo: {content}")),
    )
    .create_time(NOW)
}

#[test]
fn the_official_vector_through_the_encrypted_url_check() {
    // The documented ciphertext of "我是中文abcd123" under KEY for APPID.
    let echostr =
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==";
    let msg_signature = sha1_sorted(&[TOKEN, "1409304348", "xxxxxx", echostr]);
    let query = format!(
        "msg_signature={msg_signature}&timestamp=1409304348&nonce=xxxxxx&echostr={}",
        encode(echostr)
    );
    let response = encrypted_handler().handle("GET", &query, b"", |_| panic!("no push"));
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_type(), "text/plain; charset=utf-8");
    assert_eq!(response.body(), "我是中文abcd123");
    assert!(response.error().is_none());

    // The plain URL check an official account gets in every mode.
    let query = format!(
        "signature={}&timestamp=1409304348&nonce=xxxxxx&echostr=4919486574",
        WeChat::signature("1409304348", "xxxxxx")
    );
    for handler in [encrypted_handler(), plain_handler()] {
        let response = handler.handle("GET", &query, b"", |_| panic!("no push"));
        assert_eq!((response.status(), response.body()), (200, "4919486574"));
    }
}

#[test]
fn the_wecom_vectors_through_the_handler() {
    // WeCom's WXBizMsgCrypt samples: token QDG6eK, corp id wx5823bf96d3bd56c7.
    let corp = MessageCrypto::new(
        "QDG6eK",
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        "wx5823bf96d3bd56c7",
    )
    .unwrap();
    let handler = clocked(CallbackHandler::encrypted(corp.clone()));

    let url_check = "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589\
        &nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D";
    let response = handler.handle("GET", url_check, b"", |_| panic!("no push"));
    assert_eq!(
        (response.status(), response.body()),
        (200, "1616140317555161061")
    );

    let query = "msg_signature=477715d11cdb4164915debcba66cb864d751f3e6&timestamp=1409659813&nonce=1372623149";
    let body = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>";
    let seen = Cell::new(false);
    let response = handler.handle("POST", query, body.as_bytes(), |message| {
        seen.set(true);
        assert_eq!(
            message.kind(),
            &MessageKind::Text {
                content: "hello".into()
            }
        );
        assert_eq!(message.from_user_name(), Some("mycreate"));
        assert_eq!(message.to_user_name(), Some("wx5823bf96d3bd56c7"));
        assert_eq!(message.msg_id(), Some(4561255354251345929));
        assert_eq!(message.field("AgentID"), Some("218"));
        Ok(Some(ReplyKind::text("this is a test")))
    });
    assert!(seen.get());
    assert_eq!(response.status(), 200, "{:?}", response.error());
    assert_eq!(response.content_type(), "application/xml; charset=utf-8");
    // The reply's envelope carries the request's timestamp and nonce.
    let envelope = Message::parse(response.body()).unwrap();
    assert_eq!(envelope.field("TimeStamp"), Some("1409659813"));
    assert_eq!(envelope.field("Nonce"), Some("1372623149"));
    assert_eq!(
        open_reply(&corp, &response).unwrap(),
        Reply::new(
            "mycreate",
            "wx5823bf96d3bd56c7",
            ReplyKind::text("this is a test")
        )
        .create_time(NOW)
    );
}

#[test]
fn each_mode_is_answered_in_its_own_mode() {
    let wechat = WeChat::new(KEY);
    let xml = text_message("hi");

    // Plaintext: a plaintext reply.
    let (query, body) = wechat.plain(&xml, "1409304348");
    let response = plain_handler().handle("POST", &query, body.as_bytes(), echo);
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_type(), "application/xml; charset=utf-8");
    assert_eq!(response.body(), echo_reply("hi").to_xml().unwrap());

    // Safe: an encrypted reply, signed.
    let (query, body) = wechat.safe(&xml, "1409304348");
    let response = encrypted_handler().handle("POST", &query, body.as_bytes(), echo);
    assert_eq!(response.status(), 200);
    assert!(response.body().starts_with("<xml><Encrypt><![CDATA["));
    assert_eq!(
        open_reply(&crypto(KEY), &response).unwrap(),
        echo_reply("hi")
    );

    // Compatible: encrypted by an encrypted handler, and only the
    // ciphertext is trusted (the plaintext copy is not signed).
    let forged_copy = text_message("forged");
    let (query, body) = wechat.compatible(&xml, &forged_copy, "1409304348");
    let response = encrypted_handler().handle("POST", &query, body.as_bytes(), echo);
    assert_eq!(
        open_reply(&crypto(KEY), &response).unwrap(),
        echo_reply("hi")
    );

    // A plaintext handler answers compatible mode from the copy, in
    // plaintext: that is what the copy is for.
    let (query, body) = wechat.compatible(&xml, &xml, "1409304348");
    let response = plain_handler().handle("POST", &query, body.as_bytes(), echo);
    assert_eq!(response.body(), echo_reply("hi").to_xml().unwrap());

    // No reply: `success`, in every mode.
    for (handler, (query, body)) in [
        (plain_handler(), wechat.plain(&xml, "1")),
        (encrypted_handler(), wechat.safe(&xml, "1")),
        (encrypted_handler(), wechat.compatible(&xml, &xml, "1")),
    ] {
        assert_no_reply(&handler.handle("POST", &query, body.as_bytes(), |_| Ok(None)));
    }
}

#[test]
fn a_reply_after_key_rotation_goes_out_under_the_key_that_decrypted() {
    let rotated = clocked(CallbackHandler::encrypted(
        crypto(KEY).previous_key(OLD_KEY).unwrap(),
    ));
    for (sent_under, other) in [(OLD_KEY, KEY), (KEY, OLD_KEY)] {
        let (query, body) = WeChat::new(sent_under).safe(&text_message("hi"), "1409304348");
        let response = rotated.handle("POST", &query, body.as_bytes(), echo);
        assert_eq!(response.status(), 200, "{:?}", response.error());
        assert_eq!(
            open_reply(&crypto(sent_under), &response).unwrap(),
            echo_reply("hi")
        );
        // Which check fails under the other key depends on the random
        // prefix; that one fails is the point.
        assert!(open_reply(&crypto(other), &response).is_err());
    }
}

/// What is wrong, the handler, method, query and body, and the expected
/// status and error.
type Refusal = (
    &'static str,
    CallbackHandler,
    &'static str,
    String,
    Vec<u8>,
    u16,
    ErrorKind,
);

#[test]
fn refusals_have_their_exact_error_and_status_and_never_reach_the_closure() {
    let wechat = WeChat::new(KEY);
    let xml = text_message("hi");
    let callback = |kind| ErrorKind::Callback(kind);
    let windowed = encrypted_handler().timestamp_window(Duration::from_secs(300));
    let (safe_query, safe_body) = wechat.safe(&xml, &NOW.to_string());
    let (plain_query, plain_body) = wechat.plain(&xml, &NOW.to_string());

    let foreign_appid = WeChat {
        crypto: MessageCrypto::new(TOKEN, KEY, "wx_someone_else").unwrap(),
    };
    let doctype = "<!DOCTYPE xml [<!ENTITY x \"y\">]><xml><Content>&x;</Content></xml>";
    let oversize = vec![b' '; CallbackHandler::MAX_BODY_BYTES + 1];
    let (old_query, old_body) = wechat.safe(&xml, &(NOW - 301).to_string());
    let (ahead_query, ahead_body) = wechat.safe(&xml, &(NOW + 301).to_string());
    let (foreign_query, foreign_body) = foreign_appid.safe(&xml, "1");
    let (doctype_query, doctype_body) = wechat.safe(doctype, "1");

    let no_key = ErrorKind::Config {
        reason: "an encrypted request reached a handler without an EncodingAESKey: \
                 build it with CallbackHandler::encrypted"
            .into(),
    };
    let cases: Vec<Refusal> = vec![
        (
            "msg_signature of another body",
            encrypted_handler(),
            "POST",
            wechat.safe(&text_message("other"), &NOW.to_string()).0,
            safe_body.clone().into_bytes(),
            403,
            callback(CallbackErrorKind::BadSignature),
        ),
        (
            "plain signature of another nonce",
            plain_handler(),
            "POST",
            plain_query.replace("nonce=n0nce", "nonce=other"),
            plain_body.clone().into_bytes(),
            403,
            callback(CallbackErrorKind::BadSignature),
        ),
        (
            "a wrong signature next to a right msg_signature",
            encrypted_handler(),
            "POST",
            safe_query.replacen("signature=", "signature=0", 1),
            safe_body.clone().into_bytes(),
            403,
            callback(CallbackErrorKind::BadSignature),
        ),
        (
            "a push signed 301 s ago",
            windowed.clone(),
            "POST",
            old_query,
            old_body.into_bytes(),
            403,
            callback(CallbackErrorKind::StaleTimestamp),
        ),
        (
            "a push dated 301 s ahead",
            windowed.clone(),
            "POST",
            ahead_query,
            ahead_body.into_bytes(),
            403,
            callback(CallbackErrorKind::StaleTimestamp),
        ),
        (
            "a push for another appid",
            encrypted_handler(),
            "POST",
            foreign_query,
            foreign_body.into_bytes(),
            403,
            callback(CallbackErrorKind::AppIdMismatch),
        ),
        (
            "a DOCTYPE in a plaintext push",
            plain_handler(),
            "POST",
            plain_query.clone(),
            doctype.as_bytes().to_vec(),
            400,
            callback(CallbackErrorKind::XmlDoctype),
        ),
        (
            "a DOCTYPE inside the ciphertext",
            encrypted_handler(),
            "POST",
            doctype_query,
            doctype_body.into_bytes(),
            400,
            callback(CallbackErrorKind::XmlDoctype),
        ),
        (
            "a DOCTYPE around the ciphertext",
            encrypted_handler(),
            "POST",
            safe_query.clone(),
            format!("<!DOCTYPE xml>{safe_body}").into_bytes(),
            400,
            callback(CallbackErrorKind::XmlDoctype),
        ),
        (
            "a body one byte over the limit",
            encrypted_handler(),
            "POST",
            safe_query.clone(),
            oversize,
            413,
            callback(CallbackErrorKind::XmlTooLarge),
        ),
        (
            "PUT",
            encrypted_handler(),
            "PUT",
            safe_query.clone(),
            safe_body.clone().into_bytes(),
            405,
            callback(CallbackErrorKind::MethodNotAllowed),
        ),
        (
            "no timestamp",
            encrypted_handler(),
            "POST",
            safe_query.replace("timestamp=", "stamp="),
            safe_body.clone().into_bytes(),
            400,
            callback(CallbackErrorKind::MissingParameter("timestamp")),
        ),
        (
            "an empty nonce",
            encrypted_handler(),
            "POST",
            safe_query.replace("nonce=n0nce", "nonce="),
            safe_body.clone().into_bytes(),
            400,
            callback(CallbackErrorKind::MissingParameter("nonce")),
        ),
        (
            "encrypt_type=aes without msg_signature",
            encrypted_handler(),
            "POST",
            safe_query
                .split("&msg_signature")
                .next()
                .unwrap()
                .to_string(),
            safe_body.clone().into_bytes(),
            400,
            callback(CallbackErrorKind::MissingParameter("msg_signature")),
        ),
        (
            "a URL check without echostr",
            encrypted_handler(),
            "GET",
            plain_query.clone(),
            Vec::new(),
            400,
            callback(CallbackErrorKind::MissingParameter("echostr")),
        ),
        (
            "a plaintext push without signature",
            plain_handler(),
            "POST",
            format!("timestamp={NOW}&nonce=n0nce"),
            plain_body.clone().into_bytes(),
            400,
            callback(CallbackErrorKind::MissingParameter("signature")),
        ),
        (
            "a body that is not UTF-8",
            plain_handler(),
            "POST",
            plain_query.clone(),
            b"<xml>\xff</xml>".to_vec(),
            400,
            callback(CallbackErrorKind::Utf8),
        ),
        (
            "a ciphertext that is not base64",
            encrypted_handler(),
            "POST",
            WeChat::encrypted_query("1", &sha1_sorted(&[TOKEN, "1", "n0nce", "!!"])),
            b"<xml><Encrypt>!!</Encrypt></xml>".to_vec(),
            400,
            callback(CallbackErrorKind::Base64),
        ),
        (
            "a plaintext push to an encrypted handler",
            encrypted_handler(),
            "POST",
            plain_query.clone(),
            plain_body.clone().into_bytes(),
            403,
            callback(CallbackErrorKind::NotEncrypted),
        ),
        (
            "a safe-mode push to a plaintext handler",
            plain_handler(),
            "POST",
            safe_query
                .split('&')
                .filter(|p| !p.starts_with("signature="))
                .collect::<Vec<_>>()
                .join("&"),
            safe_body.clone().into_bytes(),
            500,
            no_key.clone(),
        ),
        (
            "a safe-mode push, signed both ways, to a plaintext handler",
            plain_handler(),
            "POST",
            safe_query.clone(),
            safe_body.clone().into_bytes(),
            500,
            no_key.clone(),
        ),
    ];
    for (what, handler, method, query, body, status, kind) in cases {
        assert_refused(what, &handler, (method, &query, &body), status, &kind);
    }

    // Inside the window, both ways, the same pushes pass.
    for timestamp in [NOW - 300, NOW + 300] {
        let (query, body) = wechat.safe(&xml, &timestamp.to_string());
        let response = windowed.handle("POST", &query, body.as_bytes(), |_| Ok(None));
        assert_eq!(
            response.status(),
            200,
            "{timestamp}: {:?}",
            response.error()
        );
    }
}

#[test]
fn a_failing_closure_or_a_reply_wechat_would_refuse_answers_500() {
    let wechat = WeChat::new(KEY);
    let (query, body) = wechat.safe(&text_message("hi"), "1");

    let response = encrypted_handler().handle("POST", &query, body.as_bytes(), |_| {
        Err(Error::store("database down", std::io::Error::other("EIO")))
    });
    assert_eq!((response.status(), response.body()), (500, "server error"));
    assert_eq!(
        response.error().unwrap().to_string(),
        "store failed: database down"
    );

    // WeChat takes one article in answer to a user's message...
    let response = encrypted_handler().handle("POST", &query, body.as_bytes(), |_| {
        Ok(Some(ReplyKind::news(vec![Article::default(); 2])))
    });
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.error().unwrap().kind(),
        &ErrorKind::Callback(CallbackErrorKind::ArticleCount { count: 2, max: 1 })
    );

    // ... and eight in answer to an event.
    let click = format!(
        "<xml><ToUserName>gh_account</ToUserName><FromUserName>o_user</FromUserName>\
         <CreateTime>{NOW}</CreateTime><MsgType>event</MsgType><Event>CLICK</Event>\
         <EventKey>NEWS</EventKey></xml>"
    );
    let articles: Vec<Article> = (0..8)
        .map(|i| Article {
            title: format!("t{i}]]>"),
            url: format!("https://example.com/{i}"),
            ..Article::default()
        })
        .collect();
    let (query, body) = wechat.safe(&click, "1");
    let response = encrypted_handler().handle("POST", &query, body.as_bytes(), |message| {
        assert_eq!(
            message.kind(),
            &MessageKind::Event(Event::Click { key: "NEWS".into() })
        );
        Ok(Some(ReplyKind::news(articles.clone())))
    });
    assert_eq!(response.status(), 200, "{:?}", response.error());
    assert_eq!(
        open_reply(&crypto(KEY), &response).unwrap(),
        Reply::new("o_user", "gh_account", ReplyKind::news(articles)).create_time(NOW)
    );

    // A platform notification has no one to answer.
    let ticket = "<xml><AppId>wx_component</AppId><CreateTime>1</CreateTime>\
        <InfoType>component_verify_ticket</InfoType>\
        <ComponentVerifyTicket>ticket@@@1</ComponentVerifyTicket></xml>";
    let (query, body) = wechat.safe(ticket, "1");
    let response = encrypted_handler().handle("POST", &query, body.as_bytes(), |_| {
        Ok(Some(ReplyKind::text("hi")))
    });
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.error().unwrap().kind(),
        &ErrorKind::Callback(CallbackErrorKind::NotReplyable)
    );
}
