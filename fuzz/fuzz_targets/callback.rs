//! Feeds arbitrary requests to `CallbackHandler`, end to end: query string
//! and body in, an answer out, in XML and JSON (a mini program's). Every
//! request must be answered (never a panic), with a status that matches
//! its error, and every reply the handler sends must read back as the
//! reply the application gave.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use weixin::{
    sha1_sorted, CallbackHandler, CallbackResponse, ErrorKind, Message, MessageCrypto, MessageKind,
    PushFormat, Reply, ReplyKind,
};

const TOKEN: &str = "t0ken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OLD_KEY: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg";
const APP_ID: &str = "wxb11529c136998cb6";

fn crypto() -> MessageCrypto {
    MessageCrypto::new(TOKEN, KEY, APP_ID)
        .and_then(|c| c.previous_key(OLD_KEY))
        .expect("fixed keys are valid")
}

/// Answers text with text (any content, `]]>` included; a mini program
/// refuses it), a `Kf` field with a transfer to that agent, and events
/// with as many articles as the event's key is long, so that replies
/// WeChat would refuse are produced too.
fn reply_to(message: &Message) -> Option<ReplyKind> {
    if let Some(agent) = message.field("Kf") {
        return Some(ReplyKind::TransferCustomerService {
            kf_account: Some(agent.to_string()),
        });
    }
    match message.kind() {
        MessageKind::Text { content } => Some(ReplyKind::text(content.as_str())),
        MessageKind::Event(_) => {
            let count = message.field("EventKey").map_or(0, str::len) % 10;
            Some(ReplyKind::news(vec![weixin::Article::default(); count]))
        }
        _ => None,
    }
}

/// Runs the handler, checking what holds for every answer, and returns
/// the answer with the reply the application gave, if it was asked.
fn handle(
    handler: &CallbackHandler,
    method: &str,
    query: &str,
    body: &[u8],
) -> (CallbackResponse, Option<Option<ReplyKind>>) {
    let given = RefCell::new(None);
    let response = handler.handle(method, query, body, |message| {
        let reply = reply_to(message);
        *given.borrow_mut() = Some(reply.clone());
        Ok(reply)
    });
    let given = given.into_inner();
    assert_eq!(response.error().is_none(), response.status() == 200);
    assert!([200, 400, 403, 405, 413, 500].contains(&response.status()));
    if given.is_none() && response.status() == 500 {
        // Refused before the application saw it: only a handler without
        // the key an encrypted request needs answers 500 then.
        let kind = response.error().unwrap().kind();
        assert!(matches!(kind, ErrorKind::Config { .. }), "{kind:?}");
    }
    (response, given)
}

/// The reply a 200 carries, opened as WeChat would, in the push's format.
fn sent_reply(response: &CallbackResponse, encrypted: bool, json: bool) -> Reply {
    let parse = if json { Message::parse_json } else { Message::parse };
    let text = if encrypted {
        let envelope = parse(response.body()).unwrap();
        crypto()
            .decrypt(
                envelope.field("MsgSignature").unwrap(),
                envelope.field("TimeStamp").unwrap(),
                envelope.field("Nonce").unwrap(),
                response.body(),
            )
            .unwrap()
    } else {
        response.body().to_string()
    };
    if json {
        assert_eq!(response.content_type(), "application/json; charset=utf-8");
        Reply::parse_json(&text).unwrap()
    } else {
        Reply::parse(&text).unwrap()
    }
}

/// A reply the application gave must go out as given, or be refused.
fn check_reply(
    response: &CallbackResponse,
    given: Option<Option<ReplyKind>>,
    encrypted: bool,
    json: bool,
) {
    match given {
        Some(Some(kind)) if response.status() == 200 => {
            assert_eq!(sent_reply(response, encrypted, json).kind(), &kind);
        }
        Some(None) => assert_eq!(response.body(), "success"),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // The query is everything up to the first newline, the body the rest.
    let (query, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let query = String::from_utf8_lossy(query);
    let method = ["GET", "POST", "post", "PUT"][usize::from(mode >> 4) % 4];
    // Bit 2 picks the format of the modes that build a push (the body's
    // own first byte decides the rest, with `Detect`).
    let json = mode & 4 != 0;
    let format = if json { PushFormat::Json } else { PushFormat::Xml };
    match mode % 3 {
        // Anything at all, to a handler of either kind.
        0 => {
            let handler = if mode & 8 == 0 {
                CallbackHandler::encrypted(crypto()).accept_plaintext(mode & 4 != 0)
            } else {
                CallbackHandler::new(TOKEN)
            };
            handle(&handler, method, &query, body);
        }
        // Any body, correctly signed in plaintext mode: the XML parser, the
        // closure and the reply's XML see hostile input.
        1 => {
            let signature = sha1_sorted(&[TOKEN, "1", "n"]);
            let query = format!("signature={signature}&timestamp=1&nonce=n&{query}");
            let handler = CallbackHandler::new(TOKEN).format(format);
            let (response, given) = handle(&handler, "POST", &query, body);
            check_reply(&response, given, false, json);
        }
        // Any plaintext, encrypted under the current or the previous key and
        // correctly signed: decryption, parsing and the sealing of the reply.
        _ => {
            let plaintext = String::from_utf8_lossy(body);
            let sender = if mode & 8 == 0 {
                crypto()
            } else {
                MessageCrypto::new(TOKEN, OLD_KEY, APP_ID).expect("fixed key is valid")
            };
            let envelope = sender.encrypt(&plaintext, "1", "n").unwrap();
            let encrypted = Message::parse(&envelope)
                .unwrap()
                .field("Encrypt")
                .unwrap()
                .to_string();
            let msg_signature = sha1_sorted(&[TOKEN, "1", "n", &encrypted]);
            let query =
                format!("timestamp=1&nonce=n&encrypt_type=aes&msg_signature={msg_signature}");
            let body = if json {
                format!("{{\"ToUserName\":\"gh_1\",\"Encrypt\":\"{encrypted}\"}}")
            } else {
                format!("<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
            };
            let handler = CallbackHandler::encrypted(crypto()).format(format);
            let (response, given) = handle(&handler, "POST", &query, body.as_bytes());
            check_reply(&response, given, true, json);
        }
    }
});
