//! The README's "Testing your own code" example, run as a test, and a check
//! that the README shows exactly this code, so neither can rot.

// README example start
use weixin::testing::{Canned, FakeWechat};

#[test]
fn my_code_against_a_fake_wechat() -> Result<(), Box<dyn std::error::Error>> {
    let fake = FakeWechat::start()?; // WeChat on 127.0.0.1: nothing leaves the machine
    fake.register("wx_test", "test-secret");
    fake.answer(
        "/cgi-bin/user/get",
        Canned::json(serde_json::json!({"total": 2})),
    );
    let client = weixin::Client::builder()
        .appid("wx_test")
        .base_url(fake.url())
        .token_source(weixin::SecretSource::new("wx_test", "test-secret"))
        .build()?;
    assert_eq!(my_app::follower_count(&client)?, 2); // your code reads the canned answer

    let mini = weixin::MiniProgram::new("wx_test").secret("test-secret");
    let code = fake.js_code("wx_test", "o_alice"); // what wx.login() gives the user
    assert_eq!(my_app::login(&client, &mini, &code)?, "o_alice");
    assert_eq!(
        my_app::login(&client, &mini, &code).unwrap_err().errcode(),
        Some(40163)
    );
    assert_eq!(fake.received_on("/cgi-bin/user/get").len(), 1);
    Ok(())
}

/// Your application's code, which the test above checks.
mod my_app {
    pub fn follower_count(client: &weixin::Client) -> weixin::Result<u64> {
        let resp = client.request("/cgi-bin/user/get")?;
        Ok(resp.json()?["total"].as_u64().unwrap_or(0))
    }

    pub fn login(
        client: &weixin::Client,
        mini: &weixin::MiniProgram,
        code: &str,
    ) -> weixin::Result<String> {
        Ok(mini.code2session(client, code)?.openid)
    }
}
// README example end

#[test]
fn the_readme_shows_this_example() {
    let source = include_str!("readme.rs");
    let start = source.find("// README example start\n").unwrap();
    let end = source.find("// README example end").unwrap();
    let example = &source[start + "// README example start\n".len()..end];
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(&format!("```rust\n{example}```")),
        "README.md's \"Testing your own code\" must show tests/readme.rs's example verbatim"
    );
}

/// The README's mini program example (feature `crypto`), run as a test and
/// checked to be in the README verbatim.
#[cfg(feature = "crypto")]
mod mini_program {
    // README mini program start
    use weixin::{CallbackHandler, MessageCrypto, MessageKind, PushFormat, ReplyKind};

    /// A mini program's push server: safe mode, data format JSON.
    fn mini_program_handler() -> weixin::Result<CallbackHandler> {
        let env =
            |name: &str, example: &str| std::env::var(name).unwrap_or_else(|_| example.into());
        let crypto = MessageCrypto::new(
            env("WECHAT_TOKEN", "AAAAA"),
            env("WECHAT_ENCODING_AES_KEY", &"A".repeat(43)),
            env("WECHAT_APPID", "wxba5fad812f8e6fb9"),
        )?;
        Ok(CallbackHandler::encrypted(crypto).format(PushFormat::Json))
    }

    #[test]
    fn wechats_example_push_in_json_safe_mode() -> Result<(), Box<dyn std::error::Error>> {
        // The push WeChat's documentation shows, as your HTTP framework hands it over.
        let query = "timestamp=1714112445&nonce=415670741&encrypt_type=aes\
            &msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3";
        let body = concat!(
            r#"{"ToUserName":"gh_97417a04a28d","Encrypt":"+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/"#,
            r#"Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7v"#,
            r#"JVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8E"#,
            r#"ajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="}"#,
        );
        let response = mini_program_handler()?.handle("POST", query, body.as_bytes(), |message| {
            Ok(match message.kind() {
                // A user writing to customer service: hand it to an agent. This is
                // the one passive reply a mini program takes; it goes out as JSON.
                MessageKind::Text { .. } => {
                    Some(ReplyKind::TransferCustomerService { kf_account: None })
                }
                _ => {
                    assert_eq!(message.field("Event"), Some("debug_demo"));
                    assert_eq!(message.field("debug_str"), Some("hello world"));
                    None
                }
            })
        });
        assert_eq!((response.status(), response.body()), (200, "success"));
        Ok(())
    }
    // README mini program end

    #[test]
    fn the_readme_shows_this_example() {
        let source = include_str!("readme.rs");
        let start = source.find("// README mini program start\n").unwrap();
        let end = source.find("    // README mini program end").unwrap();
        let example: String = source[start + "// README mini program start\n".len()..end]
            .lines()
            .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
            .collect();
        let readme = include_str!("../README.md");
        assert!(
            readme.contains(&format!("```rust\n{example}```")),
            "README.md's mini program example must show tests/readme.rs's verbatim"
        );
    }
}
