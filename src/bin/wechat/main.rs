//! `wechat`: the SDK from a shell. Tokens, any API call, quota, callbacks,
//! signatures, OAuth2 and batch jobs, built on the crate's public API only.
//! Run `wechat --help`.
#![forbid(unsafe_code)]

mod api;
mod batch;
mod callback;
mod exit;
mod input;
mod oauth;
mod output;
mod profile;
mod quota;
mod sign;
#[path = "../shared/stderr_log.rs"]
mod stderr_log;
mod time;
mod token;
mod token_file;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use exit::Failure;
use profile::{Profile, SourceArgs};
use stderr_log::StderrLog;

/// Where tokens come from and what the exit codes mean, for `--help`.
const AFTER_HELP: &str = "\
Tokens come from a hub (--hub or $WECHAT_HUB: a URL, or several separated
by commas, the next used while one cannot be reached; its bearer secret in
$WECHAT_HUB_BEARER), else straight from WeChat with the app secret
($WECHAT_SECRET or --secret-file): from /cgi-bin/stable_token, which leaves
the token servers got from /cgi-bin/token alone, kept between runs in
$WECHAT_CACHE_DIR (else ~/.cache/wechat). A [profile.NAME] of the config file
(--profile) can say either; flags and the environment win over it. Secrets
are read from the environment or a file, never from a flag, and are never
printed.

Examples:
  export WECHAT_APPID=wx1234567890 WECHAT_SECRET=...
  wechat token
  wechat api GET /cgi-bin/user/get -q next_openid=o_abc
  wechat batch calls.jsonl -o results.jsonl -j 8 --rate 200
";

/// The SDK from a shell: tokens, any WeChat API call, quota, callbacks,
/// signatures, OAuth2 and batch jobs.
#[derive(Parser)]
#[command(name = "wechat", version, after_help = format!("{AFTER_HELP}\n{}", exit::EXIT_CODES))]
struct Cli {
    #[command(flatten)]
    source: SourceArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Token(token::TokenArgs),
    Api(api::ApiArgs),
    #[command(subcommand, after_help = quota::EXAMPLES)]
    Quota(quota::QuotaCommand),
    #[command(subcommand, after_help = callback::EXAMPLES)]
    Callback(callback::CallbackCommand),
    #[command(subcommand, after_help = sign::EXAMPLES)]
    Sign(sign::SignCommand),
    #[command(subcommand, after_help = oauth::EXAMPLES)]
    Oauth(oauth::OAuthCommand),
    Batch(batch::BatchArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  wechat completions bash > /etc/bash_completion.d/wechat\n  wechat completions zsh > \"${fpath[1]}/_wechat\""
    )]
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The SDK's warnings, as `wechat: warning: ...` lines on stderr.
static LOG: StderrLog = StderrLog::new("wechat");

fn main() -> ExitCode {
    LOG.install();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let profile = || Profile::resolve(&cli.source);
    match cli.command {
        Command::Token(args) => token::run(&profile()?, &args),
        Command::Api(args) => api::run(&profile()?, args),
        Command::Quota(command) => quota::run(&profile()?, command),
        Command::Callback(command) => callback::run(&profile()?, command),
        Command::Sign(command) => sign::run(&profile()?, command),
        Command::Oauth(command) => oauth::run(&profile()?, command),
        Command::Batch(args) => batch::run(&profile()?, &args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "wechat", &mut std::io::stdout());
            Ok(())
        }
    }
}
