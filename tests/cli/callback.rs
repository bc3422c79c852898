//! `callback`: signatures, decryption and encryption of pushes, checked
//! against the SDK's own `MessageCrypto`.

use weixin::{Message, MessageCrypto};

use super::{temp_file, text, Cli, AES_KEY, CALLBACK_TOKEN};
use crate::common::APPID;

fn crypto() -> MessageCrypto {
    MessageCrypto::new(CALLBACK_TOKEN, AES_KEY, APPID).unwrap()
}

fn callback() -> Cli {
    Cli::new().env("WECHAT_APPID", APPID).callback_secrets()
}

/// `wechat callback encrypt` of `reply` at timestamp 1409304348 with nonce
/// `n0nce`: the envelope it prints, after checking it exited 0 and quietly.
fn encrypt(reply: &str) -> String {
    let run = callback()
        .args([
            "callback",
            "encrypt",
            "--timestamp",
            "1409304348",
            "--nonce",
            "n0nce",
        ])
        .stdin(reply)
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    run.stdout.strip_suffix('\n').unwrap().to_string()
}

/// `wechat callback decrypt QUERY --compact` with `body` on stdin.
fn decrypt(query: &str, body: &str) -> Cli {
    callback()
        .args(["callback", "decrypt", query, "--compact"])
        .stdin(body)
}

/// A push encrypted as WeChat does, and the query it comes with.
fn encrypted_push(xml: &str) -> (String, String) {
    let body = crypto().encrypt(xml, "1409304348", "n0nce").unwrap();
    let signature = Message::parse(&body)
        .unwrap()
        .field("MsgSignature")
        .unwrap()
        .to_string();
    let query = format!("signature=x&timestamp=1409304348&nonce=n0nce&openid=o1&encrypt_type=aes&msg_signature={signature}");
    (query, body)
}

#[test]
fn url_check_signature_computed_and_verified() {
    let signature = weixin::sha1_sorted(&[CALLBACK_TOKEN, "1409304348", "xxxxxx"]);
    callback()
        .args([
            "callback",
            "sign",
            "--timestamp",
            "1409304348",
            "--nonce",
            "xxxxxx",
        ])
        .run()
        .expect(0, &format!("{signature}\n"), "");
    let query = format!("signature={signature}&timestamp=1409304348&nonce=xxxxxx");
    callback()
        .args(["callback", "verify", &format!("{query}&echostr=4919486574")])
        .run()
        .expect(0, "4919486574\n", "");
    callback()
        .args([
            "callback",
            "verify",
            &format!("https://example.com/wechat?{query}"),
        ])
        .run()
        .expect(0, "ok\n", "");
    callback()
        .args([
            "callback",
            "verify",
            &query.replace("1409304348", "1409304349"),
        ])
        .run()
        .expect(
            4,
            "",
            "wechat: callback rejected: signature does not match\n",
        );
    callback()
        .args(["callback", "verify", "timestamp=1&nonce=2"])
        .run()
        .expect(2, "", "wechat: the query has no signature\n");
    Cli::new()
        .args(["callback", "sign", "--timestamp", "1", "--nonce", "2"])
        .run()
        .expect(
            2,
            "",
            "wechat: no callback token: set $WECHAT_CALLBACK_TOKEN\n",
        );
}

#[test]
fn an_encrypted_push_is_verified_decrypted_and_typed() {
    let xml = "<xml><ToUserName><![CDATA[gh_123]]></ToUserName><FromUserName><![CDATA[o_alice]]></FromUserName>\
        <CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>\
        <Content><![CDATA[hello]]></Content><MsgId>1234567890123456</MsgId></xml>";
    let (query, body) = encrypted_push(xml);
    decrypt(&query, &body).run().expect(
        0,
        "{\"fields\":{\"Content\":\"hello\",\"CreateTime\":\"1348831860\",\
             \"FromUserName\":\"o_alice\",\"MsgId\":\"1234567890123456\",\"MsgType\":\"text\",\
             \"ToUserName\":\"gh_123\"},\"kind\":\"Text { content: \\\"hello\\\" }\"}\n",
        "",
    );
    let file = temp_file("push.xml", body.as_bytes());
    callback()
        .args([
            "callback",
            "decrypt",
            &query,
            "--body",
            &text(&file),
            "--xml",
        ])
        .run()
        .expect(0, &format!("{xml}\n"), "");

    let tampered = body.replace("<Encrypt><![CDATA[", "<Encrypt><![CDATA[AAAA");
    callback()
        .args(["callback", "decrypt", &query])
        .stdin(tampered)
        .run()
        .expect(
            4,
            "",
            "wechat: callback rejected: signature does not match\n",
        );
    let other_app = MessageCrypto::new(CALLBACK_TOKEN, AES_KEY, "wx_other").unwrap();
    let body = other_app.encrypt(xml, "1", "n").unwrap();
    let signature = Message::parse(&body)
        .unwrap()
        .field("MsgSignature")
        .unwrap()
        .to_string();
    callback()
        .args([
            "callback",
            "decrypt",
            &format!("timestamp=1&nonce=n&msg_signature={signature}"),
        ])
        .stdin(body)
        .run()
        .expect(
            4,
            "",
            "wechat: callback rejected: message is for another appid\n",
        );
    Cli::new()
        .env("WECHAT_APPID", APPID)
        .env("WECHAT_CALLBACK_TOKEN", CALLBACK_TOKEN)
        .args(["callback", "decrypt", &query])
        .stdin("<xml/>")
        .run()
        .expect(
            2,
            "",
            "wechat: no EncodingAESKey: set $WECHAT_ENCODING_AES_KEY\n",
        );
}

#[test]
fn credentials_in_pushes_are_masked_unless_revealed() {
    let xml = "<xml><AppId>wx_test_app</AppId><CreateTime>1413192605</CreateTime>\
        <InfoType>component_verify_ticket</InfoType>\
        <ComponentVerifyTicket>ticket@@@secret-ish</ComponentVerifyTicket></xml>";
    let (query, body) = encrypted_push(xml);
    decrypt(&query, &body)
        .run()
        .expect(
            0,
            "{\"fields\":{\"AppId\":\"wx_test_app\",\"ComponentVerifyTicket\":\"[redacted]\",\
             \"CreateTime\":\"1413192605\",\"InfoType\":\"component_verify_ticket\"},\
             \"kind\":\"Component(VerifyTicket { app_id: \\\"wx_test_app\\\", create_time: 1413192605, ticket: [redacted] })\"}\n",
            "",
        );
    let run = callback()
        .args(["callback", "decrypt", &query, "--reveal", "--compact"])
        .stdin(body)
        .run();
    assert_eq!(run.code, Some(0));
    assert!(
        run.stdout
            .contains("\"ComponentVerifyTicket\":\"ticket@@@secret-ish\""),
        "{}",
        run.stdout
    );
}

#[test]
fn a_plain_push_is_verified_by_its_signature() {
    let xml = "<xml><MsgType>event</MsgType><Event>subscribe</Event></xml>";
    let signature = weixin::sha1_sorted(&[CALLBACK_TOKEN, "7", "n"]);
    callback()
        .args([
            "callback",
            "decrypt",
            &format!("signature={signature}&timestamp=7&nonce=n"),
        ])
        .args(["--compact"])
        .stdin(xml)
        .run()
        .expect(
            0,
            "{\"fields\":{\"Event\":\"subscribe\",\"MsgType\":\"event\"},\
             \"kind\":\"Event(Subscribe { scene: None, ticket: None })\"}\n",
            "",
        );
    callback()
        .args(["callback", "decrypt", "signature=bad&timestamp=7&nonce=n"])
        .stdin(xml)
        .run()
        .expect(
            4,
            "",
            "wechat: callback rejected: signature does not match\n",
        );
}

#[test]
fn a_reply_is_encrypted_for_wechat() {
    let reply = weixin::Reply::new("o_alice", "gh_123", weixin::ReplyKind::text("hi"))
        .create_time(7)
        .to_xml()
        .unwrap();
    let sealed = encrypt(&reply);
    let envelope = sealed.as_str();
    let fields = Message::parse(envelope).unwrap();
    assert_eq!(fields.field("TimeStamp"), Some("1409304348"));
    assert_eq!(fields.field("Nonce"), Some("n0nce"));
    let signature = fields.field("MsgSignature").unwrap();
    assert_eq!(
        crypto()
            .decrypt(signature, "1409304348", "n0nce", envelope)
            .unwrap(),
        reply
    );
}

#[test]
fn a_json_push_and_its_reply_go_through_the_same_commands() {
    let json = r#"{"ToUserName":"gh_123","FromUserName":"o_alice","CreateTime":1348831860,"MsgType":"text","Content":"hello","MsgId":1234567890123456}"#;
    let envelope = crypto().encrypt_json(json, "1409304348", "n0nce").unwrap();
    let encrypted = Message::parse_json(&envelope)
        .unwrap()
        .field("Encrypt")
        .unwrap()
        .to_string();
    let signature = weixin::sha1_sorted(&[CALLBACK_TOKEN, "1409304348", "n0nce", &encrypted]);
    let query =
        format!("timestamp=1409304348&nonce=n0nce&encrypt_type=aes&msg_signature={signature}");
    let body = format!("{{\"ToUserName\":\"gh_123\",\"Encrypt\":\"{encrypted}\"}}");
    // The same typed view as the XML twin's (see above), numbers as sent.
    decrypt(&query, &body).run().expect(
        0,
        "{\"fields\":{\"Content\":\"hello\",\"CreateTime\":\"1348831860\",\
             \"FromUserName\":\"o_alice\",\"MsgId\":\"1234567890123456\",\"MsgType\":\"text\",\
             \"ToUserName\":\"gh_123\"},\"kind\":\"Text { content: \\\"hello\\\" }\"}\n",
        "",
    );
    callback()
        .args(["callback", "decrypt", &query, "--raw"])
        .stdin(body.clone())
        .run()
        .expect(0, &format!("{json}\n"), "");
    callback()
        .args(["callback", "decrypt", &query.replace("n0nce", "other")])
        .stdin(body)
        .run()
        .expect(
            4,
            "",
            "wechat: callback rejected: signature does not match\n",
        );
    // A plain JSON push, checked by its signature.
    let plain_signature = weixin::sha1_sorted(&[CALLBACK_TOKEN, "7", "n"]);
    let run = callback()
        .args([
            "callback",
            "decrypt",
            &format!("signature={plain_signature}&timestamp=7&nonce=n"),
            "--compact",
        ])
        .stdin(r#"{"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#)
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    assert!(
        run.stdout.contains("\"debug_str\":\"hello world\""),
        "{}",
        run.stdout
    );

    // A JSON reply is sealed in the JSON envelope.
    let reply = weixin::Reply::new(
        "o_alice",
        "gh_123",
        weixin::ReplyKind::TransferCustomerService { kf_account: None },
    )
    .create_time(7)
    .to_json()
    .unwrap();
    let sealed = encrypt(&reply);
    let envelope = sealed.as_str();
    assert!(
        envelope.ends_with(r#","TimeStamp":1409304348,"Nonce":"n0nce"}"#),
        "{envelope}"
    );
    let fields = Message::parse_json(envelope).unwrap();
    let signature = fields.field("MsgSignature").unwrap();
    assert_eq!(
        crypto()
            .decrypt(signature, "1409304348", "n0nce", envelope)
            .unwrap(),
        reply
    );
}
