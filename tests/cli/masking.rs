//! No answer the CLI prints shows a token or a secret: `quota rid`'s
//! `request_url` and quoted bodies, any `api` answer and batch result
//! lines, pretty and compact.

use serde_json::{json, Value};
use weixin::testing::{Canned, FakeWechat};
use weixin::TokenKey;

use super::{temp_dir, temp_file, text, Cli};
use crate::common::{self, APPID, SECRET};

/// What WeChat's `/cgi-bin/openapi/rid/get` answers for the rid of a
/// ticket call and of a stable_token call: the live token in the URL, the
/// secret in the quoted request body, a token in the quoted answer.
fn rid_answer(token: &str) -> Value {
    json!({"errcode": 0, "errmsg": "ok", "request": {
        "invoke_time": 1635156704,
        "cost_in_ms": 30,
        "request_url": format!("access_token={token}&type=jsapi"),
        "request_body": format!(r#"{{"grant_type":"client_credential","appid":"{APPID}","secret":"{SECRET}"}}"#),
        "response_body": format!(r#"{{"access_token":"{token}","expires_in":7200}}"#),
        "client_ip": "10.0.0.1",
        "other_urls": [format!("https://api.weixin.qq.com/sns/oauth2/access_token?appid={APPID}&secret={SECRET}&code=0a1B&grant_type=authorization_code")]
    }})
}

/// The same answer as the CLI shows it.
fn masked_rid_answer() -> Value {
    json!({"errcode": 0, "errmsg": "ok", "request": {
        "invoke_time": 1635156704,
        "cost_in_ms": 30,
        "request_url": "access_token=[redacted]&type=jsapi",
        "request_body": format!(r#"{{"grant_type":"client_credential","appid":"{APPID}","secret":"[redacted]"}}"#),
        "response_body": r#"{"access_token":"[redacted]","expires_in":7200}"#,
        "client_ip": "10.0.0.1",
        "other_urls": [format!("https://api.weixin.qq.com/sns/oauth2/access_token?appid={APPID}&secret=[redacted]&code=[redacted]&grant_type=authorization_code")]
    }})
}

/// A fake whose rid look-ups answer with the account's live token.
fn fake_with_rid() -> FakeWechat {
    let fake = common::fake();
    let token = common::direct(&fake)
        .token(&TokenKey::access_token(APPID))
        .unwrap();
    fake.answer(
        "/cgi-bin/openapi/rid/get",
        Canned::json(rid_answer(token.expose())),
    );
    fake
}

#[test]
fn quota_rid_masks_the_token_and_the_secret_pretty_and_compact() {
    let fake = fake_with_rid();
    let pretty = serde_json::to_string_pretty(&masked_rid_answer()).unwrap();
    Cli::on(&fake)
        .args(["quota", "rid", "6630f0a6-1a2b"])
        .run()
        .expect(0, &format!("{pretty}\n"), "");
    Cli::on(&fake)
        .args(["quota", "rid", "6630f0a6-1a2b", "--compact"])
        .run()
        .expect(0, &format!("{}\n", masked_rid_answer()), "");
}

/// `wechat api` with `call`'s arguments shows `shown`: pretty, compact and
/// written to a file (in a directory named `dir`).
#[track_caller]
fn assert_api_shows(fake: &FakeWechat, call: &[&str], shown: &Value, dir: &str) {
    let pretty = serde_json::to_string_pretty(shown).unwrap();
    let api = || Cli::on(fake).args(call.iter().copied());
    api().run().expect(0, &format!("{pretty}\n"), "");
    api()
        .args(["--compact"])
        .run()
        .expect(0, &format!("{shown}\n"), "");
    let file = temp_dir(dir).join("answer.json");
    let run = api().args(["-o", &text(&file)]).run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{pretty}\n")
    );
}

#[test]
fn api_answers_are_masked_on_stdout_and_in_a_file() {
    let fake = fake_with_rid();
    let call = [
        "api",
        "POST",
        "/cgi-bin/openapi/rid/get",
        "-d",
        "{\"rid\":\"r\"}",
    ];
    assert_api_shows(&fake, &call, &masked_rid_answer(), "masked-api");
}

#[test]
fn batch_result_lines_are_masked() {
    let fake = fake_with_rid();
    let input = temp_file(
        "rid.jsonl",
        b"{\"id\": 1, \"path\": \"/cgi-bin/openapi/rid/get\", \"body\": {\"rid\": \"r\"}}\n",
    );
    let output = temp_dir("masked-batch").join("results.jsonl");
    let run = Cli::on(&fake)
        .args([
            "batch",
            &text(&input),
            "-o",
            &text(&output),
            "--progress-every",
            "0",
        ])
        .run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let written = std::fs::read_to_string(&output).unwrap();
    super::assert_no_secret(&written);
    let line = format!(
        "{{\"id\":1,\"status\":\"ok\",\"answer\":{}}}\n",
        masked_rid_answer()
    );
    assert_eq!(written, line);
    // To stdout too.
    let run = Cli::on(&fake)
        .args(["batch", &text(&input), "--progress-every", "0"])
        .run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, line);
}

/// An answer with credentials as members, at the top and nested, beside
/// members that are no credential.
fn credentials_answer() -> Value {
    json!({"errcode": 0, "session_key": "SK", "unionid": "u1",
        "component_access_token": "COMPONENT_1", "expires_in": 7200,
        "authorization_info": {"authorizer_appid": "wx_a",
            "authorizer_access_token": "AUTHORIZER_1", "authorizer_refresh_token": "REFRESH_1"},
        "list": [{"refresh_token": "REFRESH_2", "access_token": "TOKEN_2", "scope": "snsapi_base"}]})
}

/// The same answer as the CLI shows it.
fn masked_credentials_answer() -> Value {
    json!({"errcode": 0, "session_key": "[redacted]", "unionid": "u1",
        "component_access_token": "[redacted]", "expires_in": 7200,
        "authorization_info": {"authorizer_appid": "wx_a",
            "authorizer_access_token": "[redacted]", "authorizer_refresh_token": "[redacted]"},
        "list": [{"refresh_token": "[redacted]", "access_token": "[redacted]", "scope": "snsapi_base"}]})
}

#[test]
fn credential_members_are_masked_by_name_at_any_depth() {
    let fake = common::fake();
    fake.answer("/cgi-bin/creds", Canned::json(credentials_answer()));
    let call = ["api", "GET", "/cgi-bin/creds"];
    assert_api_shows(&fake, &call, &masked_credentials_answer(), "masked-members");
    let input = temp_file(
        "creds.jsonl",
        b"{\"id\": 1, \"path\": \"/cgi-bin/creds\"}\n",
    );
    let run = Cli::on(&fake)
        .args(["batch", &text(&input), "--progress-every", "0"])
        .run();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "{{\"id\":1,\"status\":\"ok\",\"answer\":{}}}\n",
            masked_credentials_answer()
        )
    );
}

#[test]
fn a_ticket_answer_is_masked_and_token_show_still_prints_it() {
    let fake = common::fake();
    // Asked for, the live ticket is printed.
    let run = Cli::on(&fake)
        .args(["token", "--ticket", "jsapi", "--show"])
        .reveals()
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    let ticket = run.stdout.strip_suffix('\n').expect("one line").to_string();
    assert!(
        ticket.starts_with(&format!("TICKET_jsapi_{APPID}_")),
        "{ticket}"
    );
    // The fake answers the same ticket until it expires: `api` masks it.
    let run = Cli::on(&fake)
        .args([
            "api",
            "GET",
            "/cgi-bin/ticket/getticket?type=jsapi",
            "--compact",
        ])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    assert!(!run.stdout.contains(&ticket), "{}", run.stdout);
    let answer: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (&answer["errcode"], &answer["ticket"]),
        (&json!(0), &json!("[redacted]")),
        "{}",
        run.stdout
    );
    // Asked for (a QR code's ticket is needed to show the code), it is not.
    let run = Cli::on(&fake)
        .args([
            "api",
            "GET",
            "/cgi-bin/ticket/getticket?type=jsapi",
            "--compact",
            "--show-secrets",
        ])
        .reveals()
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""));
    let answer: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(answer["ticket"], json!(ticket), "{}", run.stdout);
}
