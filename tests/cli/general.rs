//! Help, completions, exit codes, and where tokens come from: profiles of
//! the config file, secrets from a file, never from a flag.

use super::{temp_file, text, Cli};
use crate::common::{self, APPID, SECRET};

/// The subcommands `wechat WORDS --help` lists under `Commands:` (without
/// clap's own `help`).
fn listed_subcommands(help: &str) -> Vec<String> {
    let Some(at) = help.find("\nCommands:\n") else {
        return Vec::new();
    };
    help[at + "\nCommands:\n".len()..]
        .lines()
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Walks every subcommand the binary lists, groups included, depth first:
/// each `--help` ends with an example (its last paragraph opens with
/// `Example:` or `Examples:`).
#[test]
fn every_subcommand_has_help_ending_with_an_example() {
    let mut walked = Vec::new();
    let mut to_walk: Vec<Vec<String>> =
        listed_subcommands(&Cli::new().args(["--help"]).run().stdout)
            .into_iter()
            .map(|name| vec![name])
            .collect();
    while let Some(words) = to_walk.pop() {
        let run = Cli::new()
            .args(words.iter().map(String::as_str))
            .args(["--help"])
            .run();
        assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{words:?}");
        assert!(
            run.stdout
                .starts_with(&format!("Usage: wechat {}", words.join(" ")))
                || run
                    .stdout
                    .contains(&format!("\nUsage: wechat {}", words.join(" "))),
            "{words:?}"
        );
        let last = run
            .stdout
            .trim_end()
            .rsplit("\n\n")
            .next()
            .unwrap_or_default();
        assert!(
            last.starts_with("Example:\n") || last.starts_with("Examples:\n"),
            "{words:?}'s help does not end with an example:\n{}",
            run.stdout
        );
        for sub in listed_subcommands(&run.stdout) {
            let mut deeper = words.clone();
            deeper.push(sub);
            to_walk.push(deeper);
        }
        walked.push(words.join(" "));
    }
    walked.sort();
    assert_eq!(
        walked,
        [
            "api",
            "batch",
            "callback",
            "callback decrypt",
            "callback encrypt",
            "callback sign",
            "callback verify",
            "completions",
            "oauth",
            "oauth exchange",
            "oauth url",
            "quota",
            "quota clear",
            "quota get",
            "quota rid",
            "sign",
            "sign card",
            "sign jssdk",
            "token",
        ]
    );
}

#[test]
fn the_exit_codes_are_in_the_help_and_the_readme() {
    let run = Cli::new().args(["--help"]).run();
    assert_eq!(run.code, Some(0));
    let codes = &run.stdout[run.stdout.find("Exit codes:\n").expect("exit codes")..];
    assert!(codes.contains("\n  130  interrupted by Ctrl-C"), "{codes}");
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(&format!("```text\n{codes}```")),
        "the README's exit codes differ from --help:\n{codes}"
    );
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = Cli::new().args(["completions", shell]).run();
        assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{shell}");
        for word in ["token", "batch", "callback", "base-url"] {
            assert!(run.stdout.contains(word), "{shell} completions lack {word}");
        }
    }
    let run = Cli::new().args(["completions", "tcsh"]).run();
    assert_eq!(run.code, Some(2));
}

#[test]
fn a_secret_is_never_a_flag() {
    for flag in ["--secret", "--hub-bearer", "--token"] {
        let run = Cli::new().args([flag, SECRET, "token"]).run();
        assert_eq!(run.code, Some(2), "{flag}");
        assert!(
            run.stderr
                .starts_with(&format!("error: unexpected argument '{flag}' found")),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn profiles_say_where_tokens_come_from() {
    let fake = common::fake();
    let secret_file = temp_file("secret", format!("{SECRET}\n").as_bytes());
    let config = temp_file(
        "config.toml",
        format!(
            "default_profile = \"test\"\n\n\
             [profile.test]\nappid = \"{APPID}\"\nsecret_file = \"{}\"\nbase_url = \"{}\"\n\n\
             [profile.env]\nappid = \"{APPID}\"\nsecret_env = \"MY_SECRET\"\nbase_url = \"{}\"\n",
            text(&secret_file),
            fake.url(),
            fake.url()
        )
        .as_bytes(),
    );
    let with_config = || Cli::new().args(["--config", &text(&config)]);
    let run = with_config()
        .args(["api", "GET", "/cgi-bin/p", "--compact"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert!(run.stdout.contains("\"appid\":\"wx_test_app\""));

    with_config()
        .args(["--profile", "env", "token"])
        .run()
        .expect(
            2,
            "",
            "wechat: environment variable MY_SECRET (the app secret) is not set\n",
        );
    let run = with_config()
        .env("WECHAT_PROFILE", "env")
        .env("MY_SECRET", SECRET)
        .args(["token"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    // A flag wins over the profile.
    with_config()
        .args(["--appid", "wx_unknown", "token"])
        .run()
        .expect(
            1,
            "",
            "wechat: could not fetch the access_token of wx_unknown from the direct source: \
             wechat api error 40013: invalid appid\n",
        );
    with_config()
        .args(["--profile", "nope", "token"])
        .run()
        .expect(
            2,
            "",
            &format!(
                "wechat: no [profile.nope] in {} (it has: env, test)\n",
                text(&config)
            ),
        );
    assert_eq!(fake.count("/cgi-bin/stable_token"), 3);

    // The default file is ~/.config/wechat/config.toml, and the profile's
    // token is kept in ~/.cache/wechat.
    let home = super::temp_dir("home");
    std::fs::create_dir_all(home.join(".config/wechat")).unwrap();
    std::fs::copy(&config, home.join(".config/wechat/config.toml")).unwrap();
    let run = Cli::new().env("HOME", &text(&home)).args(["token"]).run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert!(home.join(".cache/wechat/tokens-test.json").is_file());
    Cli::new()
        .args(["--profile", "test", "token"])
        .run()
        .expect(2, "", "wechat: profile \"test\" needs a config file: --config FILE, $WECHAT_CONFIG or ~/.config/wechat/config.toml\n");
}

#[test]
fn a_bad_config_file_does_not_echo_its_lines() {
    let config = temp_file(
        "bad.toml",
        format!("[profile.p]\nappid = \"wx1\"\nsecret = \"{SECRET}\"\n").as_bytes(),
    );
    Cli::new()
        .args(["--config", &text(&config), "--profile", "p", "token"])
        .run()
        .expect(
            2,
            "",
            &format!(
                "wechat: bad config {}, line 3: unknown field `secret`, expected one of {}\n",
                text(&config),
                "`appid`, `hub`, `hub_bearer_env`, `hub_bearer_file`, `hub_ca_file`, `secret_env`, `secret_file`, `base_url`, `proxy`, `proxy_from_env`, `stable`, `timeout_secs`, `callback_token_env`, `callback_token_file`, `encoding_aes_key_env`, `encoding_aes_key_file`, \
                 `api_sym_sn`, `api_sym_key_env`, `api_sym_key_file`, `api_rsa_sn`, `api_rsa_key_file`, `api_cert_sn`, `api_cert_file`"
            ),
        );
    let empty = temp_file("empty-secret", b"\n");
    Cli::new()
        .env("WECHAT_APPID", APPID)
        .args(["--secret-file", &text(&empty), "token"])
        .run()
        .expect(
            2,
            "",
            &format!("wechat: the app secret in {} is empty\n", text(&empty)),
        );
}
