//! `wechat callback`: the signatures and encryption of the server URL
//! WeChat pushes to, from a shell.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Map, Value};
use weixin::{Message, PushFormat};

use crate::exit::Failure;
use crate::input::{query_pairs, read_text};
use crate::output::{print_json, write_stdout};
use crate::profile::Profile;
use crate::time::unix_now;

/// `wechat callback --help`'s examples.
pub const EXAMPLES: &str = "\
Examples:
  wechat callback verify 'signature=...&timestamp=1409304348&nonce=xxxxxx&echostr=4919486574'
  wechat callback decrypt \"$QUERY_STRING\" --body push.xml
  wechat callback decrypt \"$QUERY_STRING\" --body push.json
  wechat callback encrypt --body reply.xml";

/// Signatures and encryption of the callback URL WeChat pushes to
///
/// The callback token is read from $WECHAT_CALLBACK_TOKEN and the
/// EncodingAESKey from $WECHAT_ENCODING_AES_KEY (or the profile's
/// callback_token_env / encoding_aes_key_env).
#[derive(Subcommand)]
pub enum CallbackCommand {
    /// The signature WeChat sends with a URL check or a plain push
    #[command(
        after_help = "Example:\n  wechat callback sign --timestamp 1409304348 --nonce xxxxxx"
    )]
    Sign {
        /// The timestamp signed
        #[arg(long)]
        timestamp: String,
        /// The nonce signed
        #[arg(long)]
        nonce: String,
    },
    /// Verify a URL check or a plain push from its query; prints echostr, or ok
    #[command(after_help = "\
Exit code 4 when the signature does not match.

Example:
  wechat callback verify 'signature=...&timestamp=1409304348&nonce=xxxxxx&echostr=4919486574'")]
    Verify {
        /// The query string (or the whole URL) WeChat called
        query: String,
    },
    /// Verify and decrypt a push, and print it typed (credentials masked)
    #[command(after_help = "\
A query with msg_signature is an encrypted push; one with signature only, a
plain one. The body may be XML or JSON (a mini program's, Channels'): the
format is told from its first character. Exit code 4 when it does not
verify or decrypt.

Example:
  wechat callback decrypt 'msg_signature=...&timestamp=1409304348&nonce=xxxxxx' --body push.xml
  wechat callback decrypt 'msg_signature=...&timestamp=1714112445&nonce=415670741' --body push.json")]
    Decrypt {
        /// The query string (or the whole URL) WeChat called
        query: String,
        /// The POST body [default: stdin]
        #[arg(long, value_name = "FILE", default_value = "-")]
        body: PathBuf,
        /// Show the fields that are credentials (ComponentVerifyTicket, AuthorizationCode) too
        #[arg(long)]
        reveal: bool,
        /// Print the decrypted message, XML or JSON, as it is (credentials included)
        #[arg(long, visible_alias = "raw")]
        xml: bool,
        /// Print JSON on one line
        #[arg(long)]
        compact: bool,
    },
    /// Encrypt a passive reply for a push in encrypted mode
    #[command(after_help = "\
A reply in JSON (a mini program's) is sealed in WeChat's JSON envelope,
{\"Encrypt\",\"MsgSignature\",\"TimeStamp\",\"Nonce\"}; one in XML, in the XML one.

Example:
  wechat callback encrypt --body reply.xml
  wechat callback encrypt --body reply.json")]
    Encrypt {
        /// The reply's XML or JSON [default: stdin]
        #[arg(long, value_name = "FILE", default_value = "-")]
        body: PathBuf,
        /// The timestamp [default: now]
        #[arg(long)]
        timestamp: Option<String>,
        /// The nonce [default: a random one]
        #[arg(long)]
        nonce: Option<String>,
    },
}

pub fn run(profile: &Profile, command: CallbackCommand) -> Result<(), Failure> {
    match command {
        CallbackCommand::Sign { timestamp, nonce } => {
            let token = profile.callback_token()?;
            let signature = weixin::sha1_sorted(&[token.expose(), &timestamp, &nonce]);
            write_stdout(format!("{signature}\n").as_bytes())
        }
        CallbackCommand::Verify { query } => {
            let query = Query::parse(&query);
            let token = profile.callback_token()?;
            let (signature, timestamp, nonce) = (
                query.get("signature")?,
                query.get("timestamp")?,
                query.get("nonce")?,
            );
            let answer = match query.find("echostr") {
                Some(echostr) => weixin::check_url(&token, signature, timestamp, nonce, echostr)?,
                None => {
                    weixin::verify_signature(&token, signature, timestamp, nonce)?;
                    "ok"
                }
            };
            write_stdout(format!("{answer}\n").as_bytes())
        }
        CallbackCommand::Decrypt {
            query,
            body,
            reveal,
            xml,
            compact,
        } => {
            let query = Query::parse(&query);
            let body = read_text(&body)?;
            let (timestamp, nonce) = (query.get("timestamp")?, query.get("nonce")?);
            let plain = match query.find("msg_signature") {
                Some(msg_signature) => {
                    profile
                        .message_crypto()?
                        .decrypt(msg_signature, timestamp, nonce, &body)?
                }
                None => {
                    let signature = query.find("signature").ok_or_else(|| {
                        Failure::usage("the query has neither msg_signature nor signature")
                    })?;
                    weixin::verify_signature(
                        &profile.callback_token()?,
                        signature,
                        timestamp,
                        nonce,
                    )?;
                    body
                }
            };
            if xml {
                return write_stdout(format!("{plain}\n").as_bytes());
            }
            let message = match PushFormat::Detect.of(plain.as_bytes()) {
                PushFormat::Json => Message::parse_json(&plain)?,
                _ => Message::parse(&plain)?,
            };
            print_json(&typed(&message, reveal), compact)
        }
        CallbackCommand::Encrypt {
            body,
            timestamp,
            nonce,
        } => {
            let reply = read_text(&body)?;
            let timestamp = timestamp.unwrap_or_else(|| unix_now().to_string());
            let nonce = nonce.unwrap_or_else(weixin::noncestr);
            let crypto = profile.message_crypto()?;
            let envelope = match PushFormat::Detect.of(reply.as_bytes()) {
                PushFormat::Json => crypto.encrypt_json(&reply, &timestamp, &nonce)?,
                _ => crypto.encrypt(&reply, &timestamp, &nonce)?,
            };
            write_stdout(format!("{envelope}\n").as_bytes())
        }
    }
}

/// The decoded pairs of the query WeChat called the callback URL with.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: &str) -> Query {
        Query(query_pairs(query))
    }

    fn find(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn get(&self, name: &str) -> Result<&str, Failure> {
        self.find(name)
            .ok_or_else(|| Failure::usage(format!("the query has no {name}")))
    }
}

/// The message as JSON: its typed kind as the SDK shows it (credentials
/// masked), and every field as sent (credentials masked unless `reveal`).
fn typed(message: &Message, reveal: bool) -> Value {
    let fields: Map<String, Value> = if reveal {
        message
            .fields()
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect()
    } else {
        message
            .redacted_fields()
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    };
    json!({"kind": format!("{:?}", message.kind()), "fields": fields})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_messages_mask_credentials_unless_revealed() {
        let xml = "<xml><AppId>wxc</AppId><CreateTime>7</CreateTime>\
            <InfoType>authorized</InfoType><AuthorizerAppid>wxa</AuthorizerAppid>\
            <AuthorizationCode>CODE</AuthorizationCode></xml>";
        let message = Message::parse(xml).unwrap();
        let shown = typed(&message, false);
        assert!(shown["kind"]
            .as_str()
            .unwrap()
            .starts_with("Component(Authorized("));
        assert_eq!(shown["fields"]["AuthorizerAppid"], "wxa");
        assert!(!shown.to_string().contains("CODE"), "{shown}");
        let revealed = typed(&message, true);
        assert_eq!(revealed["fields"]["AuthorizationCode"], "CODE");
        assert!(!revealed["kind"].as_str().unwrap().contains("CODE"));
    }

    #[test]
    fn typed_events_print_their_model() {
        let json = r#"{"MsgType":"event","Event":"subscribe_msg_sent_event","List":{
            "TemplateId":"t1","MsgID":"7","ErrorCode":"0","ErrorStatus":"success"}}"#;
        let shown = typed(&Message::parse_json(json).unwrap(), false);
        assert_eq!(
            shown["kind"],
            "Event(SubscribeMsgSent { list: [SubscribeMsgSent { template_id: \"t1\", \
             msg_id: 7, error_code: 0, error_status: \"success\" }] })"
        );
        assert_eq!(shown["fields"]["List/MsgID"], "7");
    }
}
