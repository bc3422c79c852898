//! `wechat token`: a token's or ticket's age and expiry; its value only when
//! asked, alone on stdout.

use clap::{Args, ValueEnum};
use weixin::{TicketType, Token, TokenKey};

use crate::exit::Failure;
use crate::output::{note, write_stdout};
use crate::profile::{Endpoint, Profile};
use crate::time::{unix_now, utc};

/// Show the access token's (or a ticket's) age and expiry; refresh it
#[derive(Args)]
#[command(after_help = "\
With the app secret, the token comes from /cgi-bin/stable_token in normal
mode: the token WeChat holds for the account while it is valid, the same
one servers asking there get, and apart from the token servers get from
/cgi-bin/token, which it leaves alone. It is kept in the token cache
($WECHAT_CACHE_DIR, else ~/.cache/wechat; readable by you only, never the
secret) and reused by later runs until it nears expiry.

--refresh forces a new token: the one every server of the account got from
stable_token stops working at once. --classic-token fetches from
/cgi-bin/token: the token servers got there stops working 5 minutes later,
and each fetch counts against the daily quota. Both warn on stderr.

Examples:
  wechat token                          # when it was obtained, when it expires
  wechat token --ticket jsapi
  wechat api GET /cgi-bin/user/get      # a call with the token appended: no need to copy it
  TOKEN=$(wechat token --show)          # the value alone, for a tool of your own
  wechat token --refresh                # force a new one (servers' tokens stop working)")]
pub struct TokenArgs {
    /// Print the value itself, alone on stdout (for a pipe)
    #[arg(long)]
    show: bool,
    /// Force a new token (or ticket) first; the servers' current one stops working
    #[arg(long)]
    refresh: bool,
    /// A ticket instead of the access token
    #[arg(long, value_enum, value_name = "TYPE")]
    ticket: Option<Ticket>,
    /// The token of this authorizer of the platform --appid names
    #[arg(long, value_name = "APPID")]
    authorizer: Option<String>,
}

/// WeChat's names for them.
#[derive(Clone, Copy, ValueEnum)]
enum Ticket {
    Jsapi,
    #[value(name = "wx_card", alias = "wx-card")]
    WxCard,
}

pub fn run(profile: &Profile, args: &TokenArgs) -> Result<(), Failure> {
    let appid = profile.appid()?;
    let key = match args.ticket {
        None => TokenKey::access_token(appid),
        Some(Ticket::Jsapi) => TokenKey::ticket(appid, TicketType::Jsapi),
        Some(Ticket::WxCard) => TokenKey::ticket(appid, TicketType::WxCard),
    };
    let key = match &args.authorizer {
        Some(authorizer) => key.for_authorizer(authorizer),
        None => key,
    };
    let client = profile.client()?;
    let mut token = client.token(&key)?;
    if args.refresh {
        if let (Some(Endpoint::Stable), None) = (profile.endpoint(), args.ticket) {
            note(&format!(
                "warning: forcing a new access token of {appid} from /cgi-bin/stable_token (force_refresh): the token every server of the account got there stops working now"
            ));
        }
        // A forced refresh is no rejection: the SDK's warning about a token
        // rejected right after its fetch (two processes fighting) does not
        // apply to it.
        let level = log::max_level();
        log::set_max_level(log::LevelFilter::Error);
        let refreshed = client.refreshed_token(&key, &token);
        log::set_max_level(level);
        token = refreshed?;
    }
    if args.show {
        return write_stdout(format!("{}\n", token.expose()).as_bytes());
    }
    write_stdout(describe(&key, &token, unix_now()).as_bytes())
}

/// What a token is and when it expires, as of `now`; never its value.
fn describe(key: &TokenKey, token: &Token, now: u64) -> String {
    let what = match key.kind() {
        weixin::TokenKind::Ticket(ticket) => format!("{} ticket", ticket.as_str()),
        weixin::TokenKind::ComponentAccessToken => "component_access_token".to_string(),
        _ => "access_token".to_string(),
    };
    let whose = match key.authorizer_appid() {
        Some(authorizer) => format!("{authorizer} (authorizer of {})", key.appid()),
        None => key.appid().to_string(),
    };
    let obtained = token.timestamp();
    let expires = token.expires_at();
    let left = if expires >= now {
        format!("in {} s", expires - now)
    } else {
        format!("{} s ago", now - expires)
    };
    format!(
        "{what} of {whose}\nobtained  {} ({} s ago)\nexpires   {} ({left})\n",
        utc(obtained),
        now.saturating_sub(obtained),
        utc(expires),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_without_the_value() {
        let token = Token::with_timestamp("VALUE", 1_414_587_457, 7200);
        let key = TokenKey::ticket("wx1", TicketType::Jsapi).for_authorizer("wxA");
        assert_eq!(
            describe(&key, &token, 1_414_587_467),
            "jsapi ticket of wxA (authorizer of wx1)\n\
             obtained  2014-10-29 12:57:37 UTC (10 s ago)\n\
             expires   2014-10-29 14:57:37 UTC (in 7190 s)\n"
        );
        let expired = describe(&TokenKey::access_token("wx1"), &token, 1_414_594_667);
        assert!(expired.ends_with("(10 s ago)\n"), "{expired}");
        assert!(!expired.contains("VALUE"));
    }
}
