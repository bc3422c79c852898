//! Tokens of the app secret: from `/cgi-bin/stable_token` in normal mode,
//! so the token servers got from `/cgi-bin/token` is left alone, and kept
//! in a private cache file between runs, so a shell loop makes one token
//! call; `--classic-token` and `--refresh` only on request, with warnings.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use weixin::testing::FakeWechat;
use weixin::TokenKey;

use super::{temp_dir, text, Cli};
use crate::common::{self, APPID, SECRET};

/// `wechat` on `fake` with its token cache in `cache`.
fn cached(fake: &FakeWechat, cache: &Path) -> Cli {
    Cli::on(fake).env("WECHAT_CACHE_DIR", &text(cache))
}

fn cache_file(cache: &Path) -> PathBuf {
    cache.join("tokens-default.json")
}

/// The name the file keeps the account's access token under.
fn entry(fake: &FakeWechat, endpoint: &str) -> String {
    format!("{} {endpoint} {APPID} access_token", fake.url())
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn runs_share_one_stable_token_call_and_never_call_cgi_bin_token() {
    let fake = common::fake();
    let cache = temp_dir("token-cache");
    for _ in 0..2 {
        let run = cached(&fake, &cache).args(["token"]).run();
        assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    }
    let run = cached(&fake, &cache)
        .args(["api", "GET", "/cgi-bin/p"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    // Tickets are kept too: getticket calls are scarce.
    for _ in 0..2 {
        let run = cached(&fake, &cache)
            .args(["token", "--ticket", "jsapi"])
            .run();
        assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    }
    assert_eq!(fake.count("/cgi-bin/stable_token"), 1);
    assert_eq!(fake.count("/cgi-bin/stable_token#force"), 0);
    assert_eq!(fake.count("/cgi-bin/token"), 0);
    assert_eq!(fake.count("/cgi-bin/ticket/getticket"), 1);
}

#[test]
fn a_servers_token_keeps_working_across_cli_runs() {
    let fake = common::fake();
    // A replaced token fails at once (WeChat allows 5 minutes): a CLI that
    // replaced the servers' token would show in their next call.
    fake.set_replacement_overlap(0);
    let key = TokenKey::access_token(APPID);
    let server = common::direct(&fake);
    let stable_server = common::builder(&fake)
        .token_source(common::secret_source(&fake).stable(true))
        .build()
        .unwrap();
    server.request("/cgi-bin/p").unwrap();
    stable_server.request("/cgi-bin/p").unwrap();
    let (token, stable) = (
        server.token(&key).unwrap(),
        stable_server.token(&key).unwrap(),
    );

    let cache = temp_dir("token-cache-servers");
    for cli in [cached(&fake, &cache), cached(&fake, &cache), Cli::on(&fake)] {
        let run = cli.args(["api", "GET", "/cgi-bin/p"]).run();
        assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    }
    server.request("/cgi-bin/p").unwrap();
    stable_server.request("/cgi-bin/p").unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 1, "the server's fetch only");
    // Their calls went out with the tokens they had: none was refreshed.
    assert_eq!(server.token(&key).unwrap(), token);
    assert_eq!(stable_server.token(&key).unwrap(), stable);
    assert_eq!(
        fake.count("/cgi-bin/stable_token"),
        3,
        "the stable server's, the first cached run's, the run without a cache"
    );
    assert_eq!(fake.count("/cgi-bin/stable_token#force"), 0);
    // The CLI holds the stable servers' token, not a new one.
    let run = cached(&fake, &cache)
        .args(["token", "--show"])
        .reveals()
        .run();
    assert_eq!(run.stdout, format!("{}\n", stable.expose()));
}

#[test]
fn the_cache_file_is_private_and_holds_no_secret() {
    let fake = common::fake();
    let cache = temp_dir("token-cache-private").join("wechat");
    let run = cached(&fake, &cache)
        .args(["token", "--show"])
        .reveals()
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    let token = run.stdout.trim_end();
    let names: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["tokens-default.json"]);
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(&cache_file(&cache)), 0o600);
    let content = std::fs::read_to_string(cache_file(&cache)).unwrap();
    assert!(!content.contains(SECRET), "{content}");
    let kept: Value = serde_json::from_str(&content).unwrap();
    let tokens = kept["tokens"].as_object().unwrap();
    assert_eq!(
        tokens.keys().collect::<Vec<_>>(),
        [&entry(&fake, "stable_token")]
    );
    assert_eq!(tokens[&entry(&fake, "stable_token")]["value"], token);
    assert_eq!(tokens[&entry(&fake, "stable_token")]["expires_in"], 7200);

    // A profile has a file of its own.
    let config = temp_dir("token-cache-profile").join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profile.prod]\nappid = \"{APPID}\"\nbase_url = \"{}\"\n",
            fake.url()
        ),
    )
    .unwrap();
    let run = cached(&fake, &cache)
        .args(["--config", &text(&config), "--profile", "prod", "token"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(mode(&cache.join("tokens-prod.json")), 0o600);
}

/// Rewrites the cached access token's times.
fn age_cached(fake: &FakeWechat, cache: &Path, timestamp: u64) {
    let path = cache_file(cache);
    let mut kept: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    kept["tokens"][entry(fake, "stable_token")]["timestamp"] = json!(timestamp);
    std::fs::write(&path, kept.to_string()).unwrap();
}

#[test]
fn a_corrupt_expired_or_rejected_cache_is_replaced() {
    let fake = common::fake();
    let cache = temp_dir("token-cache-corrupt");
    let path = cache_file(&cache);
    // Not ours, and readable by others: replaced, by a private file.
    std::fs::write(&path, format!("{{\"tokens\": \"{SECRET}\"")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let replacing = format!(
        "wechat: warning: the token cache {} is not one wechat wrote: replacing it\n",
        text(&path)
    );
    let run = cached(&fake, &cache).args(["token"]).run();
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (Some(0), replacing.as_str())
    );
    let run = cached(&fake, &cache)
        .args(["api", "GET", "/cgi-bin/p"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(fake.count("/cgi-bin/stable_token"), 1);
    assert_eq!(mode(&path), 0o600);
    let run = {
        std::fs::write(&path, "[]").unwrap();
        cached(&fake, &cache).args(["token"]).run()
    };
    assert_eq!((run.code, run.stderr), (Some(0), replacing));
    assert_eq!(fake.count("/cgi-bin/stable_token"), 2);

    // Expired, or inside the client's margin (a tenth of its life, at most
    // 300 s): fetched anew. Outside it: reused.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (obtained, calls) in [(now - 7300, 3), (now - 7000, 4), (now - 6800, 4)] {
        age_cached(&fake, &cache, obtained);
        let run = cached(&fake, &cache).args(["token"]).run();
        assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
        assert_eq!(
            fake.count("/cgi-bin/stable_token"),
            calls,
            "obtained {}",
            now - obtained
        );
    }

    // A cached token WeChat no longer accepts: replaced, in the file too.
    fake.invalidate_current(APPID);
    let run = cached(&fake, &cache)
        .args(["api", "GET", "/cgi-bin/p"])
        .run();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(fake.count("/cgi-bin/stable_token"), 5);
    let run = cached(&fake, &cache)
        .args(["api", "GET", "/cgi-bin/p"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(fake.count("/cgi-bin/stable_token"), 5);
    assert_eq!(fake.count("/cgi-bin/token"), 0);
}

#[test]
fn the_classic_endpoint_only_on_request_with_a_warning() {
    let fake = common::fake();
    let cache = temp_dir("token-cache-classic");
    let run = cached(&fake, &cache)
        .args(["--classic-token", "token"])
        .run();
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            Some(0),
            "wechat: warning: fetching a new access token of wx_test_app from /cgi-bin/token: \
             the token every server of the account got there stops working in 5 minutes, \
             and the call counts against the daily quota\n"
        )
    );
    // Kept apart from the stable token, and reused without a warning.
    let run = cached(&fake, &cache)
        .args(["--classic-token", "token"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(fake.count("/cgi-bin/token"), 1);
    assert_eq!(fake.count("/cgi-bin/stable_token"), 0);
    let cached_names: Value =
        serde_json::from_str(&std::fs::read_to_string(cache_file(&cache)).unwrap()).unwrap();
    assert!(cached_names["tokens"].get(entry(&fake, "token")).is_some());

    // A profile can ask for it too; a flag wins over it.
    let config = temp_dir("token-cache-classic-profile").join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profile.old]\nappid = \"{APPID}\"\nbase_url = \"{}\"\nstable = false\n",
            fake.url()
        ),
    )
    .unwrap();
    let with_profile = || Cli::on(&fake).args(["--config", &text(&config), "--profile", "old"]);
    let run = with_profile().args(["token"]).run();
    assert!(run.stderr.contains("from /cgi-bin/token"), "{run:?}");
    assert_eq!(fake.count("/cgi-bin/token"), 2);
    let run = with_profile().args(["--stable", "token"]).run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(fake.count("/cgi-bin/stable_token"), 1);
}
