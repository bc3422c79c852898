//! `wechat sign`: a page's `wx.config` and a card's signature, with the
//! tickets fetched through the client's cache.

use clap::{Args, Subcommand};
use serde_json::json;
use weixin::JssdkConfig;

use crate::exit::Failure;
use crate::output::print_json;
use crate::profile::Profile;
use crate::time::unix_now;

/// `wechat sign --help`'s examples.
pub const EXAMPLES: &str = "\
Examples:
  wechat sign jssdk 'https://example.com/page?a=1'
  wechat sign card --card-id pDF3iY9tv9zCGCj4jTXFOo1DxHdo --openid o_abc";

/// JSSDK and card signatures (the tickets are fetched for you)
#[derive(Subcommand)]
pub enum SignCommand {
    /// The wx.config of a page: appId, timestamp, nonceStr, signature
    #[command(after_help = "Example:\n  wechat sign jssdk 'https://example.com/page?a=1'")]
    Jssdk {
        /// The page's URL, as the browser shows it (#fragment removed)
        url: String,
        #[command(flatten)]
        signed: Signed,
    },
    /// A card's entry of wx.addCard's cardList: cardId and the signed cardExt
    #[command(
        after_help = "Example:\n  wechat sign card --card-id pDF3iY9tv9zCGCj4jTXFOo1DxHdo --openid o_abc"
    )]
    Card {
        /// The card's id
        #[arg(long)]
        card_id: String,
        /// The code, for a card whose codes you assign
        #[arg(long)]
        code: Option<String>,
        /// The user the card is for
        #[arg(long)]
        openid: Option<String>,
        #[command(flatten)]
        signed: Signed,
    },
}

/// When and with which nonce a signature is made, and how it is printed.
#[derive(Args)]
pub struct Signed {
    /// The timestamp signed [default: now]
    #[arg(long)]
    timestamp: Option<u64>,
    /// The nonce signed [default: a random one]
    #[arg(long)]
    nonce: Option<String>,
    /// Print JSON on one line
    #[arg(long)]
    compact: bool,
}

pub fn run(profile: &Profile, command: SignCommand) -> Result<(), Failure> {
    let client = profile.client()?;
    match command {
        SignCommand::Jssdk {
            url,
            signed:
                Signed {
                    timestamp: None,
                    nonce: None,
                    compact,
                },
        } => print_json(&json!(client.wx_config(&url)?), compact),
        SignCommand::Jssdk { url, signed } => {
            let ticket = client.jsapi_ticket()?;
            let timestamp = signed.timestamp.unwrap_or_else(unix_now);
            let nonce_str = signed.nonce.unwrap_or_else(weixin::noncestr);
            let config = JssdkConfig {
                app_id: profile.appid()?.to_string(),
                timestamp,
                signature: weixin::sign_jssdk_with(ticket.expose(), &url, &nonce_str, timestamp),
                nonce_str,
            };
            print_json(&json!(config), signed.compact)
        }
        SignCommand::Card {
            card_id,
            code,
            openid,
            signed,
        } => {
            let ticket = client.card_ticket()?;
            let timestamp = signed.timestamp.unwrap_or_else(unix_now).to_string();
            let nonce_str = signed.nonce.unwrap_or_else(weixin::noncestr);
            let mut values = vec![ticket.expose(), &timestamp, &nonce_str, &card_id];
            values.extend(code.as_deref());
            values.extend(openid.as_deref());
            let signature = weixin::sign_card(&values);
            let mut ext =
                json!({"timestamp": timestamp, "nonce_str": nonce_str, "signature": signature});
            if let Some(code) = code {
                ext["code"] = json!(code);
            }
            if let Some(openid) = openid {
                ext["openid"] = json!(openid);
            }
            // wx.addCard takes cardExt as a JSON string.
            print_json(
                &json!({"cardId": card_id, "cardExt": ext.to_string()}),
                signed.compact,
            )
        }
    }
}
