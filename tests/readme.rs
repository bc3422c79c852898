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
// README example end

/// The application code the example tests.
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
