//! `wechat oauth`: the URL a user authorizes the app at, and the exchange
//! of the code WeChat sends them back with.

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use weixin::{Lang, OAuth, Scope};

use crate::exit::Failure;
use crate::output::{print_json, write_stdout};
use crate::profile::Profile;

/// `wechat oauth --help`'s examples.
pub const EXAMPLES: &str = "\
Examples:
  wechat oauth url https://example.com/back --scope userinfo --state xyz
  wechat oauth exchange 061Abc --user-info";

/// OAuth2 web authorization: the authorize URL, the code exchange
#[derive(Subcommand)]
pub enum OAuthCommand {
    /// The URL that asks a user to authorize the app, then sends them to REDIRECT
    #[command(after_help = "\
Examples:
  wechat oauth url https://example.com/back --scope userinfo --state xyz
  wechat oauth url https://example.com/login --scope login    # website QR login")]
    Url {
        /// Where WeChat sends the user back with code and state
        redirect: String,
        /// What the page asks for: base (openid only), userinfo, login (website QR login)
        #[arg(long, value_enum, default_value = "base")]
        scope: ScopeArg,
        /// Echoed back with the code (at most 128 bytes)
        #[arg(long, default_value = "")]
        state: String,
    },
    /// Exchange the code from the redirect for the user's openid (with the app secret)
    #[command(after_help = "\
The user's tokens are printed only with --show-tokens.

Example:
  wechat oauth exchange 061Abc --user-info")]
    Exchange {
        /// The code the redirect brought (it works once, for 5 minutes)
        code: String,
        /// Read the user's profile too (needs scope userinfo)
        #[arg(long)]
        user_info: bool,
        /// The language of the profile's places
        #[arg(long, value_enum, default_value = "zh_CN")]
        lang: LangArg,
        /// Print the user's access and refresh tokens too
        #[arg(long)]
        show_tokens: bool,
        /// Print JSON on one line
        #[arg(long)]
        compact: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    Base,
    Userinfo,
    Login,
}

/// WeChat's names for them.
#[derive(Clone, Copy, ValueEnum)]
pub enum LangArg {
    #[value(name = "zh_CN", alias = "zh-cn")]
    ZhCn,
    #[value(name = "zh_TW", alias = "zh-tw")]
    ZhTw,
    En,
}

pub fn run(profile: &Profile, command: OAuthCommand) -> Result<(), Failure> {
    let appid = profile.appid()?;
    match command {
        OAuthCommand::Url {
            redirect,
            scope,
            state,
        } => {
            let oauth = OAuth::new(appid);
            let url = match scope {
                ScopeArg::Base => oauth.authorize_url(&redirect, Scope::Base, &state)?,
                ScopeArg::Userinfo => oauth.authorize_url(&redirect, Scope::UserInfo, &state)?,
                ScopeArg::Login => oauth.qrconnect_url(&redirect, &state)?,
            };
            write_stdout(format!("{url}\n").as_bytes())
        }
        OAuthCommand::Exchange {
            code,
            user_info,
            lang,
            show_tokens,
            compact,
        } => {
            let oauth = OAuth::new(appid).secret(profile.secret()?);
            let client = profile.client()?;
            let user = oauth.exchange_code(&client, &code)?;
            let mut out = json!({
                "openid": user.openid,
                "unionid": user.unionid,
                "scope": user.scope,
                "obtained_at": user.obtained_at,
                "expires_in": user.expires_in,
                "is_snapshot_user": user.is_snapshot_user,
            });
            if show_tokens {
                out["access_token"] = json!(user.access_token.expose());
                out["refresh_token"] = json!(user.refresh_token.expose());
            }
            if user_info {
                let lang = match lang {
                    LangArg::ZhCn => Lang::ZhCn,
                    LangArg::ZhTw => Lang::ZhTw,
                    LangArg::En => Lang::En,
                };
                let info = oauth.user_info(&client, &user, lang)?;
                out["user_info"] = json!({
                    "openid": info.openid,
                    "nickname": info.nickname,
                    "sex": info.sex,
                    "province": info.province,
                    "city": info.city,
                    "country": info.country,
                    "headimgurl": info.headimgurl,
                    "privilege": info.privilege,
                    "unionid": info.unionid,
                });
            }
            print_json(&out, compact)
        }
    }
}
