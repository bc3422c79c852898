//! `wechat quota`: an API's daily quota, clearing the account's quota, and
//! what a request id (rid) from an error was.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;
use serde_json::json;
use weixin::RequestOptions;

use crate::exit::Failure;
use crate::output::{print_answer, write_stdout};
use crate::profile::Profile;

/// `wechat quota --help`'s examples.
pub const EXAMPLES: &str = "\
Examples:
  wechat quota get /cgi-bin/message/custom/send
  wechat quota rid 6630f0a6-1a2b3c4d-5e6f7a8b
  wechat quota clear --yes";

/// An API's daily quota, clearing it, and request id look-ups
#[derive(Subcommand)]
pub enum QuotaCommand {
    /// How much of an API's daily quota is used (/cgi-bin/openapi/quota/get)
    #[command(after_help = "Example:\n  wechat quota get /cgi-bin/message/custom/send")]
    Get {
        /// The API's path
        path: String,
        /// Print JSON on one line
        #[arg(long)]
        compact: bool,
    },
    /// Reset every API's call count of the account (/cgi-bin/clear_quota; 10 times a month)
    #[command(after_help = "Example:\n  wechat quota clear --yes")]
    Clear {
        /// Do not ask for a confirmation on stdin
        #[arg(long)]
        yes: bool,
    },
    /// What the request behind an error's rid was (/cgi-bin/openapi/rid/get)
    #[command(after_help = "Example:\n  wechat quota rid 6630f0a6-1a2b3c4d-5e6f7a8b")]
    Rid {
        /// The id after `rid:` in an errmsg
        rid: String,
        /// Print JSON on one line
        #[arg(long)]
        compact: bool,
    },
}

pub fn run(profile: &Profile, command: QuotaCommand) -> Result<(), Failure> {
    let client = profile.client()?;
    match command {
        QuotaCommand::Get { path, compact } => {
            let call = RequestOptions::post("/cgi-bin/openapi/quota/get")
                .json(json!({ "cgi_path": path }));
            print_answer(client.request(call)?.json()?, compact)
        }
        QuotaCommand::Clear { yes } => {
            let appid = profile.appid()?;
            if !yes && !confirmed(appid)? {
                return Err(Failure::usage("not confirmed: nothing cleared"));
            }
            let call = RequestOptions::post("/cgi-bin/clear_quota").json(json!({ "appid": appid }));
            client.request(call)?;
            write_stdout(format!("cleared the API quota of {appid}\n").as_bytes())
        }
        QuotaCommand::Rid { rid, compact } => {
            let call = RequestOptions::post("/cgi-bin/openapi/rid/get").json(json!({ "rid": rid }));
            print_answer(client.request(call)?.json()?, compact)
        }
    }
}

/// Asks on stderr and reads `y` or `yes` from stdin.
fn confirmed(appid: &str) -> Result<bool, Failure> {
    eprint!(
        "wechat: clear the API quota of {appid}? It uses one of the account's 10 clears this month. [y/N] "
    );
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::usage(format!("cannot read the answer: {e}")))?;
    // A typed answer ended the prompt's line; a piped one did not.
    if !std::io::stdin().is_terminal() {
        eprintln!();
    }
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
