//! `wechat api METHOD PATH`: any WeChat API call, the token appended by the
//! SDK; JSON answers printed, binary ones written to a file.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use weixin::{Method, RequestOptions, Response};

use crate::exit::{Failure, USAGE};
use crate::input::{pair, value_or_file};
use crate::output::{json_text, masked, note, write_stdout};
use crate::profile::Profile;

/// Call any WeChat API; the access token is appended for you
#[derive(Args)]
#[command(after_help = "\
WeChat's errors (errcode and errmsg, with a hint when there is one) go to
stderr, and the exit code is 1. Credentials in an answer (a member named
access_token, ticket, session_key, ... and access_token= in a URL) are
printed as [redacted] unless --show-secrets asks for them.

Examples:
  wechat api GET /cgi-bin/user/get -q next_openid=o_abc
  wechat api POST /cgi-bin/message/custom/send -d @message.json
  wechat api POST /cgi-bin/media/upload -q type=image -F media=@photo.jpg
  wechat api GET /cgi-bin/media/get -q media_id=MEDIA_ID -o photo.jpg
  wechat api POST /wxa/business/getuserphonenumber -d '{\"code\":\"CODE\"}' --secure")]
pub struct ApiArgs {
    /// GET, POST, ...
    #[arg(value_parser = method)]
    method: Method,
    /// A path such as /cgi-bin/user/get, or a full URL
    path: String,
    /// A query pair (repeatable)
    #[arg(short, long = "query", value_name = "NAME=VALUE", value_parser = pair)]
    query: Vec<(String, String)>,
    /// The JSON body, or @FILE, or @- for stdin
    #[arg(short = 'd', long, value_name = "JSON", conflicts_with = "form")]
    json: Option<String>,
    /// A multipart field, NAME=@FILE for a file upload (repeatable)
    #[arg(short = 'F', long, value_name = "NAME=VALUE", value_parser = pair)]
    form: Vec<(String, String)>,
    /// Print JSON on one line
    #[arg(long)]
    compact: bool,
    /// Write the answer to FILE (binary answers never go to a terminal)
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Call with the token of this authorizer of the platform --appid names
    #[arg(long, value_name = "APPID")]
    authorizer: Option<String>,
    /// Append no access_token (for a path that needs none)
    #[arg(long)]
    no_token: bool,
    /// Print the answer's credentials (a QR code's ticket, a session key)
    /// as WeChat sent them instead of [redacted]
    #[arg(long)]
    show_secrets: bool,
    /// Sign and encrypt the call (API security) with the profile's keys
    /// (api_sym_sn, api_sym_key_env/_file, api_rsa_sn, api_rsa_key_file,
    /// api_cert_sn, api_cert_file) or $WECHAT_API_SYM_SN,
    /// $WECHAT_API_SYM_KEY, $WECHAT_API_RSA_SN, $WECHAT_API_RSA_KEY_FILE,
    /// $WECHAT_API_CERT_SN, $WECHAT_API_CERT_FILE
    #[arg(long, conflicts_with = "form")]
    secure: bool,
}

fn method(arg: &str) -> Result<Method, String> {
    arg.parse().map_err(|e: weixin::Error| e.to_string())
}

pub fn run(profile: &Profile, args: ApiArgs) -> Result<(), Failure> {
    let mut options = RequestOptions::new(args.method, args.path);
    for (name, value) in args.query {
        options = options.query(name, value);
    }
    if let Some(json) = &args.json {
        let text = value_or_file(json)?;
        let body = serde_json::from_str(&text)
            .map_err(|e| Failure::usage(format!("the body is not JSON: {e}")))?;
        options = options.json(body);
    }
    for (name, value) in args.form {
        options = match value.strip_prefix('@') {
            Some(path) => options.form_file(name, path),
            None => options.form_text(name, value),
        };
    }
    if let Some(authorizer) = args.authorizer {
        options = options.authorizer_appid(authorizer);
    }
    if args.no_token {
        options = options.no_token();
    }
    let client = if args.secure {
        options = options.secure(true);
        profile.secure_client()?
    } else {
        profile.client()?
    };
    let response = client.request(options)?;
    write_answer(
        &response,
        args.compact,
        args.output.as_deref(),
        args.show_secrets,
    )
}

/// Prints a JSON answer (or writes it to `output`); writes a binary answer
/// to `output`, or to stdout when that is not a terminal.
/// Credentials in a JSON answer are masked unless `show_secrets`.
fn write_answer(
    response: &Response,
    compact: bool,
    output: Option<&std::path::Path>,
    show_secrets: bool,
) -> Result<(), Failure> {
    let json = response.json().ok();
    let bytes = match json {
        Some(value) if show_secrets => format!("{}\n", json_text(value, compact)).into_bytes(),
        Some(value) => format!("{}\n", json_text(&masked(value), compact)).into_bytes(),
        None => response.bytes().to_vec(),
    };
    let kind = response.content_type().unwrap_or("no content type");
    match output {
        Some(path) => {
            std::fs::write(path, &bytes)
                .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
            note(&format!(
                "wrote {} bytes ({kind}) to {}",
                bytes.len(),
                path.display()
            ));
            Ok(())
        }
        None if json.is_none() && std::io::stdout().is_terminal() => Err(Failure::new(
            USAGE,
            format!(
                "the answer is {} bytes of {kind}, not shown on a terminal: pass --output FILE",
                bytes.len()
            ),
        )),
        None => write_stdout(&bytes),
    }
}
