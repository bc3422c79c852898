//! An echo bot in one call, offline: builds the request WeChat sends when a
//! user writes "hello" and prints the answer a server would write back.
//!
//! `cargo run --example echo_bot --features crypto`

use weixin::{sha1_sorted, CallbackHandler, MessageKind, ReplyKind};

fn main() {
    let token = std::env::var("WECHAT_TOKEN").unwrap_or_else(|_| "echo-token".into());
    let handler = CallbackHandler::new(token.as_str());

    // The request: plaintext mode, signed with the server token.
    let signature = sha1_sorted(&[&token, "1700000000", "n0nce"]);
    let query = format!("signature={signature}&timestamp=1700000000&nonce=n0nce&openid=o_user");
    let body = "<xml><ToUserName>gh_bot</ToUserName><FromUserName>o_user</FromUserName>\
        <CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>hello</Content></xml>";

    let response = handler.handle("POST", &query, body.as_bytes(), |message| {
        Ok(match message.kind() {
            MessageKind::Text { content } => Some(ReplyKind::text(format!("you said: {content}"))),
            _ => None,
        })
    });
    assert_eq!(response.status(), 200, "{:?}", response.error());
    println!(
        "{} {}\n{}",
        response.status(),
        response.content_type(),
        response.body()
    );
}
