//! `CallbackHandler` with JSON pushes (mini programs, mini games,
//! Channels): plain, compatible and safe mode against vectors computed
//! apart from the crate, replies in JSON opened by a second implementation
//! written here, refusals by exact error and status, and a property test
//! of the whole JSON path (signature, decryption, parsing, reply).
//!
//! The `PY_*` constants come from `tests/vectors/json_push.py` (Python and
//! the `cryptography` package, sharing no code with the crate); rerun it
//! with `python3 tests/vectors/json_push.py` to see them again. The `DOC_*`
//! ones are WeChat's own example for a mini program's message push.

use std::cell::Cell;
use std::time::Duration;

use crate::common::{assert_no_reply, assert_refused};
use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use base64::Engine;
use proptest::prelude::*;
use weixin::{
    sha1_sorted, CallbackErrorKind, CallbackHandler, CallbackResponse, ErrorKind, ManualClock,
    Message, MessageCrypto, MessageKind, PushFormat, Reply, ReplyKind,
};

const TOKEN: &str = "mini-token";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wx52b3c0a1d8e7f406";
const NOW: u64 = 1_700_000_000;

const PY_TEXT_PLAIN: &str = r#"{"ToUserName":"gh_mini","FromUserName":"o_user","CreateTime":1700000000,"MsgType":"text","Content":"你好 \"json\" </xml>","MsgId":6054768590064713728}"#;
const PY_TEXT_ENCRYPT: &str = "Q3stYC6hdFzMh9T8HCvyDJ0pDj7tmWdVuhrmc2/wO8s5glBbAJ6RCZZsTUYxft8E6Ar5bHFmYRtEmx16mLTLVs4OwqslfXO+IFnHQkywQvXCVAkzL1ZGnGmc8Pl2gcjylBRJOk2+fuH+qfdeW9duzCNfa49L/oObE4/QsxtNtnOToqGr63U/6xJqva3Ooc1JmnEjak00lxDg0rg16EALNYWRwcYHx7WbwBagvAF75AY0QmnSTrO7YAdWgydkWdZO";
const PY_TEXT_MSG_SIGNATURE: &str = "7462fee14eb7df3376b4318cc9ea6f8dad124fef";
const PY_POPUP_PLAIN: &str = r#"{"ToUserName":"gh_mini","FromUserName":"o_user","CreateTime":"1700000001","MsgType":"event","Event":"subscribe_msg_popup_event","List":[{"TemplateId":"tpl-1","SubscribeStatusString":"accept","PopupScene":"0"},{"TemplateId":"tpl-2","SubscribeStatusString":"reject","PopupScene":"0"}]}"#;
const PY_POPUP_ENCRYPT: &str = "DpQeJfnf/MGZ/+GTIspwVBYcfRLN23o5xzBqaiiNrQIRWOrOicpWv2ZrLdAgcTydVJb1WGRnsSh5Py6tCNYnsyvhnaP9J1+5x+uCH/hANRC630KVxIC5bMOV7+6SvU+HZrERMYMvd60S109V8PGUP3MyfdoPWu5pyD9KkbafuduxK4weLos6saKNPMLG/SBtPbphJEAvjCpZ2zPuyiZCLLutmG0942TvZ0bQy4PcqyNktdfEdlmgPzr+5grNe0nudhXxWSEtTZjW+9na/BOF6iayoiPsfinpgbGp4ScbtUyXYB5dvI9y06pZjwDC1qk8afesYP4lE740ApoP+4bdRNVUR4AlAl4TtO4rhDVa05nhWkbIOglpyBCBuw0imcGOhtKomPPKkx5Q3D/mUe98MU4IZWLLEjr2NtHgYqwgvpLFsfwzrXdplD4jwG1g34C6VQ3SfU+UwOdzG0n7QeSdaw==";
const PY_POPUP_MSG_SIGNATURE: &str = "276edb5183824e2eb2286ed65ffcb42ec8d32188";
const PY_REPLY_PLAIN: &str = r#"{"ToUserName":"o_user","FromUserName":"gh_mini","CreateTime":1700000000,"MsgType":"transfer_customer_service","TransInfo":{"KfAccount":"kf2001@gh_mini"}}"#;
const PY_REPLY_ENCRYPT: &str = "gdMKu9O/zqaXEdvZuG7ST07otvLD9cd+KaVHfGhE+pn+zuNzO8qLQ2pT688MDXAUe7Closr/xbbR/F/AznV91OC/F5RHZF0ENEdI9Wc5CrpvfZScQyvgqRSX0+MbRDcUeFjWLeUqqUUK8Ldhs8aJz7OKm92+yBqLVPemG08RxoJ6BlsGCGTk26YckxtjvhqijEtR/obbPWngM6V5hnyEmpfP/7FjRdn9Mg8IWBi0okjH9L/wSlTWju0nWHEhTTET";
const PY_REPLY_MSG_SIGNATURE: &str = "12e293aff0c81ee3c21f6709af23862d87953517";

const DOC_TOKEN: &str = "AAAAA";
const DOC_APPID: &str = "wxba5fad812f8e6fb9";
const DOC_ENCRYPT: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
const DOC_PLAIN: &str = r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#;

fn doc_key() -> String {
    "A".repeat(43)
}

fn crypto() -> MessageCrypto {
    MessageCrypto::new(TOKEN, KEY, APPID).unwrap()
}

/// A handler whose clock stands at `NOW`, so replies' `CreateTime` is known.
fn clocked(handler: CallbackHandler) -> CallbackHandler {
    handler.clock(ManualClock::new(Duration::from_secs(NOW)).clock())
}

fn encrypted_handler() -> CallbackHandler {
    clocked(CallbackHandler::encrypted(crypto()))
}

fn plain_handler() -> CallbackHandler {
    clocked(CallbackHandler::new(TOKEN))
}

/// The query of a safe-mode push of `encrypted` (a mini program's carries
/// `signature` too).
fn safe_query(token: &str, timestamp: &str, nonce: &str, encrypted: &str) -> String {
    format!(
        "signature={}&timestamp={timestamp}&nonce={nonce}&openid=o_user&encrypt_type=aes&msg_signature={}",
        sha1_sorted(&[token, timestamp, nonce]),
        sha1_sorted(&[token, timestamp, nonce, encrypted])
    )
}

fn plain_query(timestamp: &str) -> String {
    format!(
        "signature={}&timestamp={timestamp}&nonce=n0nce&openid=o_user",
        sha1_sorted(&[TOKEN, timestamp, "n0nce"])
    )
}

/// The safe-mode body WeChat posts for a JSON account.
fn safe_body(encrypted: &str) -> String {
    format!("{{\"ToUserName\":\"gh_mini\",\"Encrypt\":\"{encrypted}\"}}")
}

/// `plaintext` encrypted by the crate (for pushes whose bytes do not
/// matter) and posted in safe mode: (query, body).
fn sealed(plaintext: &str, timestamp: &str) -> (String, String) {
    let envelope = crypto()
        .encrypt_json(plaintext, timestamp, "n0nce")
        .unwrap();
    // Read without the crate's limits: some pushes here are over them.
    let envelope: serde_json::Value = serde_json::from_str(&envelope).unwrap();
    let encrypted = envelope["Encrypt"].as_str().unwrap().to_string();
    (
        safe_query(TOKEN, timestamp, "n0nce", &encrypted),
        safe_body(&encrypted),
    )
}

/// The second implementation: WeChat's documented decryption written
/// here with the cipher crates directly, none of the crate's code. Opens
/// `encrypted` under `encoding_aes_key`: (message, appid).
fn independent_open(encoding_aes_key: &str, encrypted: &str) -> (String, String) {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let key: [u8; 32] = engine
        .decode(format!("{encoding_aes_key}="))
        .unwrap()
        .try_into()
        .unwrap();
    let mut data = base64::engine::general_purpose::STANDARD
        .decode(encrypted)
        .unwrap();
    let plain = cbc::Decryptor::<aes::Aes256>::new(&key.into(), key[..16].into())
        .decrypt_padded_mut::<NoPadding>(&mut data)
        .unwrap();
    let pad = usize::from(*plain.last().unwrap());
    assert!((1..=32).contains(&pad) && plain.len() % 32 == 0);
    let plain = &plain[..plain.len() - pad];
    let length = u32::from_be_bytes(plain[16..20].try_into().unwrap()) as usize;
    let (message, appid) = plain[20..].split_at(length);
    (
        String::from_utf8(message.to_vec()).unwrap(),
        String::from_utf8(appid.to_vec()).unwrap(),
    )
}

/// Opens a JSON safe-mode answer as WeChat does, with the second
/// implementation: checks the envelope's members and signature, returns
/// the reply's JSON.
fn open_json_reply(token: &str, key: &str, appid: &str, response: &CallbackResponse) -> String {
    assert_eq!(response.status(), 200, "{:?}", response.error());
    assert_eq!(response.content_type(), "application/json; charset=utf-8");
    let envelope: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    let members: Vec<&str> = envelope
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // serde_json's map is sorted; the order on the wire is checked below.
    assert_eq!(members, ["Encrypt", "MsgSignature", "Nonce", "TimeStamp"]);
    assert!(response.body().starts_with("{\"Encrypt\":\""));
    let encrypted = envelope["Encrypt"].as_str().unwrap();
    // A number when the request's timestamp was one, a string otherwise.
    let timestamp = match &envelope["TimeStamp"] {
        serde_json::Value::String(text) => text.clone(),
        number => number.to_string(),
    };
    let nonce = envelope["Nonce"].as_str().unwrap();
    assert_eq!(
        envelope["MsgSignature"].as_str().unwrap(),
        sha1_sorted(&[token, &timestamp, nonce, encrypted])
    );
    let (message, sent_appid) = independent_open(key, encrypted);
    assert_eq!(sent_appid, appid);
    message
}

#[test]
fn the_independent_reader_opens_the_vectors_it_is_checked_on() {
    assert_eq!(
        independent_open(KEY, PY_REPLY_ENCRYPT),
        (PY_REPLY_PLAIN.to_string(), APPID.to_string())
    );
    assert_eq!(
        sha1_sorted(&[TOKEN, "1700000000", "n0nce", PY_REPLY_ENCRYPT]),
        PY_REPLY_MSG_SIGNATURE
    );
    assert_eq!(
        independent_open(&doc_key(), DOC_ENCRYPT),
        (DOC_PLAIN.to_string(), DOC_APPID.to_string())
    );
    // WeChat's documented reply, opened by the same code.
    assert_eq!(
        independent_open(
            &doc_key(),
            "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
        ),
        (r#"{"demo_resp":"good luck"}"#.to_string(), DOC_APPID.to_string())
    );
}

#[test]
fn wechats_documented_mini_program_push_in_every_mode() {
    let doc = MessageCrypto::new(DOC_TOKEN, doc_key(), DOC_APPID).unwrap();
    let handler = CallbackHandler::encrypted(doc)
        .format(PushFormat::Json)
        .clock(ManualClock::new(Duration::from_secs(1_714_112_445)).clock())
        .timestamp_window(Duration::from_secs(300));

    // The URL check, as documented: the same in either format.
    let url_check =
        "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&echostr=4375120948345356249\
        &timestamp=1714036504&nonce=1514711492";
    for handler in [
        CallbackHandler::new(DOC_TOKEN).format(PushFormat::Json),
        CallbackHandler::new(DOC_TOKEN),
    ] {
        let response = handler.handle("GET", url_check, b"", |_| panic!("no push"));
        assert_eq!(
            (response.status(), response.body()),
            (200, "4375120948345356249")
        );
    }

    // Safe mode: the documented body, msg_signature and plaintext.
    let query = format!(
        "signature={}&timestamp=1714112445&nonce=415670741&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY\
         &encrypt_type=aes&msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3",
        sha1_sorted(&[DOC_TOKEN, "1714112445", "415670741"])
    );
    let body = format!(
        "{{\n    \"ToUserName\": \"gh_97417a04a28d\",\n    \"Encrypt\": \"{DOC_ENCRYPT}\"\n}}"
    );
    let seen = Cell::new(false);
    let response = handler.handle("POST", &query, body.as_bytes(), |message| {
        seen.set(true);
        assert_eq!(message, &Message::parse_json(DOC_PLAIN).unwrap());
        assert_eq!(message.field("debug_str"), Some("hello world"));
        assert_eq!(message.create_time(), Some(1_714_112_445));
        assert_eq!(
            message.kind(),
            &MessageKind::Event(weixin::Event::Other {
                event: "debug_demo".into(),
                event_key: None
            })
        );
        Ok(Some(ReplyKind::TransferCustomerService {
            kf_account: None,
        }))
    });
    assert!(seen.get());
    let reply = open_json_reply(DOC_TOKEN, &doc_key(), DOC_APPID, &response);
    assert_eq!(
        reply,
        r#"{"ToUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","FromUserName":"gh_97417a04a28d","CreateTime":1714112445,"MsgType":"transfer_customer_service"}"#
    );
    // The envelope carries the request's timestamp (a number, as in
    // WeChat's example) and nonce.
    assert!(response
        .body()
        .ends_with(r#","TimeStamp":1714112445,"Nonce":"415670741"}"#));

    // Plaintext mode: the documented signature over the documented body.
    let plain = CallbackHandler::new(DOC_TOKEN).format(PushFormat::Json);
    let query =
        "signature=899cf89e464efb63f54ddac96b0a0a235f53aa78&timestamp=1714037059&nonce=486452656";
    let body = DOC_PLAIN.replace("1714112445", "1714037059");
    let response = plain.handle("POST", query, body.as_bytes(), |message| {
        assert_eq!(message.field("debug_str"), Some("hello world"));
        Ok(None)
    });
    assert_no_reply(&response);
}

#[test]
fn python_vectors_parse_to_the_message_of_their_xml_twin() {
    let text_xml = "<xml><ToUserName><![CDATA[gh_mini]]></ToUserName>\
        <FromUserName><![CDATA[o_user]]></FromUserName><CreateTime>1700000000</CreateTime>\
        <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好 \"json\" </xml>]]></Content>\
        <MsgId>6054768590064713728</MsgId></xml>";
    let query = safe_query(TOKEN, "1700000000", "n0nce", PY_TEXT_ENCRYPT);
    assert!(query.ends_with(PY_TEXT_MSG_SIGNATURE));
    let seen = Cell::new(0);
    let response = encrypted_handler().handle(
        "POST",
        &query,
        safe_body(PY_TEXT_ENCRYPT).as_bytes(),
        |message| {
            seen.set(seen.get() + 1);
            assert_eq!(message, &Message::parse(text_xml).unwrap());
            assert_eq!(
                message.kind(),
                &MessageKind::Text {
                    content: "你好 \"json\" </xml>".into()
                }
            );
            assert_eq!(message.msg_id(), Some(6_054_768_590_064_713_728));
            Ok(Some(ReplyKind::TransferCustomerService {
                kf_account: Some("kf2001@gh_mini".into()),
            }))
        },
    );
    assert_eq!(seen.get(), 1);
    // The crate's reply, opened by the second implementation, is byte for
    // byte the reply the Python script sealed.
    assert_eq!(
        open_json_reply(TOKEN, KEY, APPID, &response),
        PY_REPLY_PLAIN
    );

    // Numbers sent as strings, and a list, reachable by path.
    let query = safe_query(TOKEN, "1700000001", "n0nce", PY_POPUP_ENCRYPT);
    assert!(query.ends_with(PY_POPUP_MSG_SIGNATURE));
    let response = encrypted_handler().handle(
        "POST",
        &query,
        safe_body(PY_POPUP_ENCRYPT).as_bytes(),
        |message| {
            assert_eq!(message, &Message::parse_json(PY_POPUP_PLAIN).unwrap());
            assert_eq!(message.create_time(), Some(1_700_000_001));
            let fields: Vec<(&str, &str)> = message
                .fields()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(
                fields,
                [
                    ("CreateTime", "1700000001"),
                    ("Event", "subscribe_msg_popup_event"),
                    ("FromUserName", "o_user"),
                    ("List/PopupScene", "0"),
                    ("List/SubscribeStatusString", "accept"),
                    ("List/TemplateId", "tpl-1"),
                    ("List[2]/PopupScene", "0"),
                    ("List[2]/SubscribeStatusString", "reject"),
                    ("List[2]/TemplateId", "tpl-2"),
                    ("MsgType", "event"),
                    ("ToUserName", "gh_mini"),
                ]
            );
            // And typed: the list, in order, its numbers read from strings.
            let weixin::MessageKind::Event(weixin::Event::SubscribeMsgPopup { list }) =
                message.kind()
            else {
                panic!("not typed: {message:?}");
            };
            let read: Vec<(&str, &str, u32)> = list
                .iter()
                .map(|item| {
                    (
                        item.template_id.as_str(),
                        item.status.as_str(),
                        item.popup_scene,
                    )
                })
                .collect();
            assert_eq!(read, [("tpl-1", "accept", 0), ("tpl-2", "reject", 0)]);
            assert_eq!(list[0].status, weixin::SubscribeStatus::Accept);
            assert_eq!(list[1].status, weixin::SubscribeStatus::Reject);
            Ok(None)
        },
    );
    assert_eq!((response.status(), response.body()), (200, "success"));
}

#[test]
fn each_mode_and_format_is_answered_in_its_own() {
    let transfer = |_: &Message| {
        Ok(Some(ReplyKind::TransferCustomerService {
            kf_account: None,
        }))
    };
    let expected = r#"{"ToUserName":"o_user","FromUserName":"gh_mini","CreateTime":1700000000,"MsgType":"transfer_customer_service"}"#;

    // Plaintext JSON: a plaintext JSON reply.
    let response = plain_handler().handle(
        "POST",
        &plain_query("1"),
        PY_TEXT_PLAIN.as_bytes(),
        transfer,
    );
    assert_eq!(response.status(), 200, "{:?}", response.error());
    assert_eq!(response.content_type(), "application/json; charset=utf-8");
    assert_eq!(response.body(), expected);

    // Compatible JSON: the plaintext members next to `Encrypt`. An
    // encrypted handler trusts only the ciphertext, and answers encrypted.
    let with_encrypt = |plain: &str| {
        format!(
            "{},\"Encrypt\":\"{PY_TEXT_ENCRYPT}\"}}",
            plain.trim_end_matches('}')
        )
    };
    let forged = with_encrypt(&PY_TEXT_PLAIN.replace("o_user", "o_forged"));
    let query = safe_query(TOKEN, "1700000000", "n0nce", PY_TEXT_ENCRYPT);
    let response = encrypted_handler().handle("POST", &query, forged.as_bytes(), transfer);
    assert_eq!(open_json_reply(TOKEN, KEY, APPID, &response), expected);
    // A plaintext handler answers it from the copy, in plaintext.
    let copy = with_encrypt(PY_TEXT_PLAIN);
    let response = plain_handler().handle("POST", &query, copy.as_bytes(), transfer);
    assert_eq!(response.body(), expected);

    // An XML push to a detecting handler is still answered in XML.
    let xml = "<xml><ToUserName>gh_mini</ToUserName><FromUserName>o_user</FromUserName>\
        <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>";
    let response = plain_handler().handle("POST", &plain_query("1"), xml.as_bytes(), |_| {
        Ok(Some(ReplyKind::text("hello")))
    });
    assert_eq!(response.content_type(), "application/xml; charset=utf-8");
    assert_eq!(
        Reply::parse(response.body()).unwrap().kind(),
        &ReplyKind::text("hello")
    );

    // No reply: `success`, in every mode.
    let (safe_q, safe_b) = sealed(PY_TEXT_PLAIN, "1");
    for (handler, query, body) in [
        (plain_handler(), plain_query("1"), PY_TEXT_PLAIN.to_string()),
        (encrypted_handler(), safe_q, safe_b),
        (encrypted_handler(), query.clone(), copy.clone()),
    ] {
        assert_no_reply(&handler.handle("POST", &query, body.as_bytes(), |_| Ok(None)));
    }
}

#[test]
fn a_mini_program_gets_no_reply_it_does_not_take() {
    let (query, body) = sealed(PY_TEXT_PLAIN, "1");
    for (kind, msg_type) in [
        (ReplyKind::text("hi"), "text"),
        (ReplyKind::image("m"), "image"),
        (ReplyKind::voice("m"), "voice"),
    ] {
        let response =
            encrypted_handler().handle("POST", &query, body.as_bytes(), |_| Ok(Some(kind.clone())));
        assert_eq!((response.status(), response.body()), (500, "server error"));
        assert_eq!(
            response.error().unwrap().kind(),
            &ErrorKind::Callback(CallbackErrorKind::MiniProgramReply { msg_type })
        );
    }
    // An XML push: the account says whether it is a mini program.
    let xml = "<xml><ToUserName>gh_mini</ToUserName><FromUserName>o_user</FromUserName>\
        <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>";
    let text = |_: &Message| Ok(Some(ReplyKind::text("hello")));
    let response = plain_handler().handle("POST", &plain_query("1"), xml.as_bytes(), text);
    assert_eq!(response.status(), 200);
    let response =
        plain_handler()
            .mini_program(true)
            .handle("POST", &plain_query("1"), xml.as_bytes(), text);
    assert_eq!(
        response.error().unwrap().kind(),
        &ErrorKind::Callback(CallbackErrorKind::MiniProgramReply { msg_type: "text" })
    );
}

#[test]
fn the_configured_format_refuses_the_other() {
    let xml =
        "<xml><ToUserName>gh_mini</ToUserName><MsgType>text</MsgType><Content>hi</Content></xml>";
    let json_only = plain_handler().format(PushFormat::Json);
    let xml_only = plain_handler().format(PushFormat::Xml);
    let response = json_only.handle("POST", &plain_query("1"), xml.as_bytes(), |_| Ok(None));
    assert_eq!(response.status(), 400);
    assert!(matches!(
        response.error().unwrap().kind(),
        ErrorKind::Callback(CallbackErrorKind::Json(_))
    ));
    let response = xml_only.handle("POST", &plain_query("1"), PY_TEXT_PLAIN.as_bytes(), |_| {
        Ok(None)
    });
    assert_eq!(response.status(), 400);
    assert!(matches!(
        response.error().unwrap().kind(),
        ErrorKind::Callback(CallbackErrorKind::Xml(_))
    ));
    // Inside the ciphertext too: a JSON envelope around XML.
    let (query, body) = sealed(xml, "1");
    let response = encrypted_handler().format(PushFormat::Json).handle(
        "POST",
        &query,
        body.as_bytes(),
        |_| Ok(None),
    );
    assert!(matches!(
        response.error().unwrap().kind(),
        ErrorKind::Callback(CallbackErrorKind::Json(_))
    ));
}

/// What is wrong, the handler, the query and body, and the expected status
/// and error.
type Refusal = (
    &'static str,
    CallbackHandler,
    String,
    Vec<u8>,
    u16,
    ErrorKind,
);

#[test]
fn json_refusals_have_their_exact_error_and_status_and_never_reach_the_closure() {
    let callback = ErrorKind::Callback;
    let now = NOW.to_string();
    let windowed = encrypted_handler().timestamp_window(Duration::from_secs(300));
    let (query, body) = sealed(PY_TEXT_PLAIN, &now);
    let (old_query, old_body) = sealed(PY_TEXT_PLAIN, &(NOW - 301).to_string());
    let foreign = MessageCrypto::new(TOKEN, KEY, "wx_someone_else").unwrap();
    let foreign_body = foreign.encrypt_json(PY_TEXT_PLAIN, "1", "n0nce").unwrap();
    let foreign_encrypt = Message::parse_json(&foreign_body)
        .unwrap()
        .field("Encrypt")
        .unwrap()
        .to_string();
    let deep = format!(
        "{{\"MsgType\":\"text\",\"a\":{}1{}}}",
        "[".repeat(40),
        "]".repeat(40)
    );
    let (deep_query, deep_body) = sealed(&deep, "1");
    // 140 KB that would flatten to 20,000 paths of 100 KB each.
    let wide = format!("{{\"{}\":[{}0]}}", "n".repeat(100_000), "0,".repeat(20_000));
    let (wide_query, wide_body) = sealed(&wide, "1");
    let (twice_query, twice_body) = sealed(r#"{"MsgType":"text","MsgType":"image"}"#, "1");
    let mut oversize = b"{\"Encrypt\":\"".to_vec();
    oversize.resize(CallbackHandler::MAX_BODY_BYTES + 1, b'A');

    let cases: Vec<Refusal> = vec![
        (
            "msg_signature of another body",
            encrypted_handler(),
            sealed(r#"{"MsgType":"text"}"#, &now).0,
            body.clone().into_bytes(),
            403,
            callback(CallbackErrorKind::BadSignature),
        ),
        (
            "plain signature of another nonce",
            plain_handler(),
            plain_query("1").replace("nonce=n0nce", "nonce=other"),
            PY_TEXT_PLAIN.as_bytes().to_vec(),
            403,
            callback(CallbackErrorKind::BadSignature),
        ),
        (
            "a push signed 301 s ago",
            windowed,
            old_query,
            old_body.into_bytes(),
            403,
            callback(CallbackErrorKind::StaleTimestamp),
        ),
        (
            "a push for another appid",
            encrypted_handler(),
            safe_query(TOKEN, "1", "n0nce", &foreign_encrypt),
            foreign_body.into_bytes(),
            403,
            callback(CallbackErrorKind::AppIdMismatch),
        ),
        (
            "a body one byte over the limit",
            encrypted_handler(),
            query.clone(),
            oversize,
            413,
            callback(CallbackErrorKind::JsonTooLarge),
        ),
        (
            "a decrypted push whose paths add up to over the limit",
            encrypted_handler(),
            wide_query,
            wide_body.into_bytes(),
            413,
            callback(CallbackErrorKind::JsonTooLarge),
        ),
        (
            "a plaintext push nested 41 deep",
            plain_handler(),
            plain_query("1"),
            deep.into_bytes(),
            400,
            callback(CallbackErrorKind::JsonTooDeep),
        ),
        (
            "a decrypted push nested 41 deep",
            encrypted_handler(),
            deep_query,
            deep_body.into_bytes(),
            400,
            callback(CallbackErrorKind::JsonTooDeep),
        ),
        (
            "an envelope nested 41 deep",
            encrypted_handler(),
            query.clone(),
            format!("{{\"x\":{}0{}}}", "[".repeat(40), "]".repeat(40)).into_bytes(),
            400,
            callback(CallbackErrorKind::JsonTooDeep),
        ),
        (
            "a key sent twice",
            encrypted_handler(),
            twice_query,
            twice_body.into_bytes(),
            400,
            callback(CallbackErrorKind::Json(
                "two values for one field path".into(),
            )),
        ),
        (
            "an envelope without Encrypt",
            encrypted_handler(),
            query.clone(),
            br#"{"ToUserName":"gh_mini"}"#.to_vec(),
            400,
            callback(CallbackErrorKind::Json(
                "encrypted body without \"Encrypt\"".into(),
            )),
        ),
        (
            "a ciphertext that is not base64",
            encrypted_handler(),
            safe_query(TOKEN, "1", "n0nce", "!!"),
            br#"{"Encrypt":"!!"}"#.to_vec(),
            400,
            callback(CallbackErrorKind::Base64),
        ),
        (
            "a plaintext JSON push to an encrypted handler",
            encrypted_handler(),
            plain_query("1"),
            PY_TEXT_PLAIN.as_bytes().to_vec(),
            403,
            callback(CallbackErrorKind::NotEncrypted),
        ),
    ];
    for (what, handler, query, body, status, kind) in cases {
        assert_refused(what, &handler, ("POST", &query, &body), status, &kind);
    }

    // Inside the window the same push passes.
    let response = encrypted_handler()
        .timestamp_window(Duration::from_secs(300))
        .handle("POST", &query, body.as_bytes(), |_| Ok(None));
    assert_eq!(response.status(), 200, "{:?}", response.error());
}

/// A JSON value WeChat might send, numbers as numbers or strings.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[A-Za-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The whole JSON path: any object WeChat could encrypt reaches the
    /// closure as `Message::parse_json` reads it (or is refused with a
    /// typed error when two of its values share a path), and the reply
    /// comes back sealed so that the second implementation opens it.
    #[test]
    fn any_encrypted_json_push_is_its_message_or_a_typed_refusal(
        members in proptest::collection::btree_map("[A-Za-z_/]{1,10}", json_value(), 0..8),
        content in any::<String>(),
        timestamp in "[0-9]{1,10}",
    ) {
        let mut object: serde_json::Map<String, serde_json::Value> = members.into_iter().collect();
        object.insert("ToUserName".into(), "gh_mini".into());
        object.insert("FromUserName".into(), "o_user".into());
        object.insert("MsgType".into(), "text".into());
        object.insert("Content".into(), content.clone().into());
        let plaintext = serde_json::Value::Object(object).to_string();
        let (query, body) = sealed(&plaintext, &timestamp);
        let seen = Cell::new(false);
        let response = encrypted_handler().handle("POST", &query, body.as_bytes(), |message| {
            seen.set(true);
            assert_eq!(message, &Message::parse_json(&plaintext).unwrap());
            Ok(Some(ReplyKind::TransferCustomerService { kf_account: Some(content.clone()) }))
        });
        match Message::parse_json(&plaintext) {
            Ok(_) => {
                prop_assert!(seen.get());
                let reply = open_json_reply(TOKEN, KEY, APPID, &response);
                prop_assert_eq!(
                    Reply::parse_json(&reply).unwrap(),
                    Reply::new("o_user", "gh_mini", ReplyKind::TransferCustomerService {
                        kf_account: Some(content),
                    }).create_time(NOW)
                );
            }
            Err(error) => {
                prop_assert!(!seen.get());
                prop_assert_eq!(response.status(), 400);
                prop_assert_eq!(response.error().unwrap().kind(), error.kind());
            }
        }
    }

    /// Any body, correctly signed, in any mode: an answer, never a panic.
    #[test]
    fn any_json_body_is_answered(body in any::<String>(), encrypted in any::<bool>()) {
        let body = format!("{{{body}");
        let (handler, query) = if encrypted {
            let encrypt = Message::parse_json(&body).ok().and_then(|m| m.field("Encrypt").map(str::to_string));
            (encrypted_handler(), safe_query(TOKEN, "1", "n0nce", encrypt.as_deref().unwrap_or("")))
        } else {
            (plain_handler(), plain_query("1"))
        };
        let response = handler.handle("POST", &query, body.as_bytes(), |_| Ok(None));
        prop_assert_eq!(response.error().is_none(), response.status() == 200);
        prop_assert!([200, 400, 403].contains(&response.status()), "{}", response.status());
    }
}
