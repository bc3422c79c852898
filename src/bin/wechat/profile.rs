//! Where tokens come from: the global flags, the environment and a profile
//! of the config file, resolved into a `Client` and the secrets commands
//! need. Secrets are read from the environment or a file, never a flag.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;
use weixin::{
    ApiSecurity, Client, ClientBuilder, HubSource, MessageCrypto, Proxy, Secret, SecretSource,
};

use crate::exit::Failure;
use crate::token_file::{self, TokenFile};

/// The global flags. A flag wins over its environment variable, which wins
/// over the profile.
#[derive(Args)]
#[command(next_help_heading = "Where tokens come from")]
pub struct SourceArgs {
    /// The account's appid (a platform's, with --authorizer)
    #[arg(
        long,
        global = true,
        env = "WECHAT_APPID",
        hide_env_values = true,
        value_name = "APPID"
    )]
    appid: Option<String>,
    /// Get tokens from this hub (several: URLs separated by commas, the next used when one cannot be reached); its bearer secret is read from $WECHAT_HUB_BEARER
    #[arg(
        long,
        global = true,
        env = "WECHAT_HUB",
        hide_env_values = true,
        value_name = "URL"
    )]
    hub: Option<String>,
    /// Check an https hub's certificate against the CAs of this PEM file (a private CA) as well as the web PKI roots
    #[arg(
        long,
        global = true,
        env = "WECHAT_HUB_CA_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    hub_ca_file: Option<PathBuf>,
    /// Read the app secret from FILE instead of $WECHAT_SECRET
    #[arg(long, global = true, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Where WeChat is: a proxy, a fake, https://api2.weixin.qq.com
    #[arg(
        long,
        global = true,
        env = "WECHAT_BASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    base_url: Option<String>,
    /// Send every call through this HTTP CONNECT proxy, http://[user:password@]host:port (for an IP allow-list)
    #[arg(
        long,
        global = true,
        env = "WECHAT_PROXY",
        hide_env_values = true,
        value_name = "URL"
    )]
    proxy: Option<String>,
    /// Send every call through the proxy $HTTPS_PROXY names, except to the hosts $NO_PROXY lists
    #[arg(long, global = true, conflicts_with = "proxy")]
    proxy_from_env: bool,
    /// Tokens from /cgi-bin/stable_token: the default, kept for old scripts
    #[arg(long, global = true, hide = true, conflicts_with = "classic_token")]
    stable: bool,
    /// Get tokens from /cgi-bin/token, not stable_token: each fetch replaces the token servers got there
    #[arg(long, global = true)]
    classic_token: bool,
    /// Seconds allowed for one HTTP exchange [default: 30]
    #[arg(long, global = true, value_name = "SECS")]
    timeout: Option<f64>,
    /// A [profile.NAME] of the config file
    #[arg(
        long,
        global = true,
        env = "WECHAT_PROFILE",
        hide_env_values = true,
        value_name = "NAME"
    )]
    profile: Option<String>,
    /// The config file [default: ~/.config/wechat/config.toml]
    #[arg(
        long,
        global = true,
        env = "WECHAT_CONFIG",
        hide_env_values = true,
        value_name = "FILE"
    )]
    config: Option<PathBuf>,
}

/// The config file: named profiles.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    default_profile: Option<String>,
    #[serde(default)]
    profile: BTreeMap<String, ProfileConfig>,
}

/// One `[profile.NAME]`. Each secret is named by the environment variable
/// (`*_env`) or the file (`*_file`) that holds it.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ProfileConfig {
    appid: Option<String>,
    hub: Option<HubUrls>,
    hub_bearer_env: Option<String>,
    hub_bearer_file: Option<PathBuf>,
    hub_ca_file: Option<PathBuf>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    base_url: Option<String>,
    /// An HTTP CONNECT proxy every call goes through.
    proxy: Option<String>,
    /// Whether to use the proxy `HTTPS_PROXY` names.
    proxy_from_env: Option<bool>,
    stable: Option<bool>,
    timeout_secs: Option<f64>,
    callback_token_env: Option<String>,
    callback_token_file: Option<PathBuf>,
    encoding_aes_key_env: Option<String>,
    encoding_aes_key_file: Option<PathBuf>,
    /// API security (`wechat api --secure`): the SNs are not secrets; the
    /// keys are read from the environment or files.
    api_sym_sn: Option<String>,
    api_sym_key_env: Option<String>,
    api_sym_key_file: Option<PathBuf>,
    api_rsa_sn: Option<String>,
    api_rsa_key_file: Option<PathBuf>,
    api_cert_sn: Option<String>,
    api_cert_file: Option<PathBuf>,
}

/// A profile's `hub`: one URL, or a list (`hub = ["http://a:4000",
/// "http://b:4000"]`) used one at a time as `HubSource::with_urls` says.
#[derive(Deserialize)]
#[serde(untagged)]
enum HubUrls {
    One(String),
    Many(Vec<String>),
}

impl HubUrls {
    /// The URLs as `--hub` takes them: separated by commas.
    fn joined(self) -> String {
        match self {
            HubUrls::One(url) => url,
            HubUrls::Many(urls) => urls.join(","),
        }
    }
}

/// Where one secret is read from.
#[derive(Debug)]
enum SecretPlace {
    /// A file named by a flag or a profile.
    File(PathBuf),
    /// An environment variable a profile names: it must be set.
    Named(String),
    /// The default environment variable: unset means not configured.
    Default(&'static str),
}

impl SecretPlace {
    fn of(file: Option<PathBuf>, env: Option<String>, default: &'static str) -> SecretPlace {
        match (file, env) {
            (Some(path), _) => SecretPlace::File(path),
            (None, Some(name)) => SecretPlace::Named(name),
            (None, None) => SecretPlace::Default(default),
        }
    }

    /// The secret, `None` when its default variable is not set. Errors name
    /// the place, never the value.
    fn read(&self, what: &str) -> Result<Option<Secret>, Failure> {
        let value = match self {
            SecretPlace::File(path) => std::fs::read_to_string(path)
                .map_err(|e| {
                    Failure::usage(format!(
                        "cannot read the {what} from {}: {e}",
                        path.display()
                    ))
                })?
                .trim()
                .to_string(),
            SecretPlace::Named(name) => std::env::var(name).map_err(|_| {
                Failure::usage(format!(
                    "environment variable {name} (the {what}) is not set"
                ))
            })?,
            SecretPlace::Default(name) => match std::env::var(name) {
                Ok(value) if !value.is_empty() => value,
                _ => return Ok(None),
            },
        };
        if value.is_empty() {
            return Err(Failure::usage(format!(
                "the {what} in {} is empty",
                self.name()
            )));
        }
        Ok(Some(Secret::new(value)))
    }

    /// Like `read`, for a secret the command cannot do without.
    fn require(&self, what: &str) -> Result<Secret, Failure> {
        self.read(what)?
            .ok_or_else(|| Failure::usage(format!("no {what}: set {}", self.name())))
    }

    fn name(&self) -> String {
        match self {
            SecretPlace::File(path) => path.display().to_string(),
            SecretPlace::Named(name) => name.clone(),
            SecretPlace::Default(name) => format!("${name}"),
        }
    }
}

/// The settings every command starts from.
#[derive(Debug)]
pub struct Profile {
    appid: Option<String>,
    hub: Option<String>,
    hub_bearer: SecretPlace,
    hub_ca_file: Option<PathBuf>,
    secret: SecretPlace,
    base_url: Option<String>,
    /// Its `Debug` shows no credentials.
    proxy: Option<Proxy>,
    /// Tokens of the secret from `/cgi-bin/token`, not `stable_token`.
    classic: bool,
    /// The token cache file of the profile, when a cache directory is known.
    token_file: Option<PathBuf>,
    timeout: Option<Duration>,
    callback_token: SecretPlace,
    encoding_aes_key: SecretPlace,
    api: ApiKeys,
}

/// Where `wechat api --secure` reads its keys: a profile's settings, each
/// falling back to the `WECHAT_API_*` variable `ApiSecurity::from_env`
/// reads.
#[derive(Debug)]
struct ApiKeys {
    sym_sn: Option<String>,
    sym_key: SecretPlace,
    rsa_sn: Option<String>,
    rsa_key_file: Option<PathBuf>,
    cert_sn: Option<String>,
    cert_file: Option<PathBuf>,
}

impl ApiKeys {
    fn keys(&self) -> Result<ApiSecurity, Failure> {
        let var = |value: &Option<String>, name: &str| -> Result<String, Failure> {
            match value {
                Some(value) => Ok(value.clone()),
                None => std::env::var(name).map_err(|_| {
                    Failure::usage(format!("--secure needs {name} or its profile setting"))
                }),
            }
        };
        let file = |path: &Option<PathBuf>, name: &str, what: &str| -> Result<String, Failure> {
            let path = match path {
                Some(path) => path.clone(),
                None => PathBuf::from(var(&None, name)?),
            };
            std::fs::read_to_string(&path).map_err(|e| {
                Failure::usage(format!(
                    "cannot read the {what} from {}: {e}",
                    path.display()
                ))
            })
        };
        let sym_key = self.sym_key.require("api security symmetric key")?;
        let private = file(
            &self.rsa_key_file,
            "WECHAT_API_RSA_KEY_FILE",
            "api security private key",
        )?;
        let certificate = file(
            &self.cert_file,
            "WECHAT_API_CERT_FILE",
            "platform certificate",
        )?;
        Ok(ApiSecurity::new(
            var(&self.sym_sn, "WECHAT_API_SYM_SN")?,
            sym_key.expose(),
            var(&self.rsa_sn, "WECHAT_API_RSA_SN")?,
            &private,
        )?
        .platform_certificate(var(&self.cert_sn, "WECHAT_API_CERT_SN")?, &certificate)?)
    }
}

impl Profile {
    /// The flags and environment over the chosen profile, if any.
    pub fn resolve(args: &SourceArgs) -> Result<Profile, Failure> {
        let (name, p) = match chosen_profile(args)? {
            Some((name, p)) => (Some(name), p),
            None => (None, ProfileConfig::default()),
        };
        let timeout = match args.timeout.or(p.timeout_secs) {
            Some(secs) => Some(Duration::try_from_secs_f64(secs).map_err(|_| {
                Failure::usage(format!("timeout {secs} is not a number of seconds"))
            })?),
            None => None,
        };
        let proxy = match (&args.proxy, args.proxy_from_env) {
            (Some(url), _) => Some(Proxy::new(url)?),
            (None, true) => Proxy::from_env()?,
            (None, false) => match p.proxy {
                Some(url) => Some(Proxy::new(url)?),
                None if p.proxy_from_env == Some(true) => Proxy::from_env()?,
                None => None,
            },
        };
        Ok(Profile {
            appid: args.appid.clone().or(p.appid),
            hub: args.hub.clone().or(p.hub.map(HubUrls::joined)),
            hub_bearer: SecretPlace::of(p.hub_bearer_file, p.hub_bearer_env, "WECHAT_HUB_BEARER"),
            hub_ca_file: args.hub_ca_file.clone().or(p.hub_ca_file),
            secret: SecretPlace::of(
                args.secret_file.clone().or(p.secret_file),
                p.secret_env,
                "WECHAT_SECRET",
            ),
            base_url: args.base_url.clone().or(p.base_url),
            proxy,
            // A flag wins over the profile's `stable = false`.
            classic: args.classic_token || (!args.stable && p.stable == Some(false)),
            token_file: token_file::cache_dir()
                .map(|dir| token_file::path_for(&dir, name.as_deref())),
            timeout,
            callback_token: SecretPlace::of(
                p.callback_token_file,
                p.callback_token_env,
                "WECHAT_CALLBACK_TOKEN",
            ),
            encoding_aes_key: SecretPlace::of(
                p.encoding_aes_key_file,
                p.encoding_aes_key_env,
                "WECHAT_ENCODING_AES_KEY",
            ),
            api: ApiKeys {
                sym_sn: p.api_sym_sn,
                sym_key: SecretPlace::of(
                    p.api_sym_key_file,
                    p.api_sym_key_env,
                    "WECHAT_API_SYM_KEY",
                ),
                rsa_sn: p.api_rsa_sn,
                rsa_key_file: p.api_rsa_key_file,
                cert_sn: p.api_cert_sn,
                cert_file: p.api_cert_file,
            },
        })
    }

    /// The account's appid.
    pub fn appid(&self) -> Result<&str, Failure> {
        self.appid
            .as_deref()
            .ok_or_else(|| Failure::usage("no appid: pass --appid or set $WECHAT_APPID"))
    }

    /// The app secret, for logins (they authenticate by it, not by a token).
    pub fn secret(&self) -> Result<Secret, Failure> {
        self.secret.require("app secret")
    }

    /// The server token of the callback URL (not an access token).
    pub fn callback_token(&self) -> Result<Secret, Failure> {
        self.callback_token.require("callback token")
    }

    /// Message encryption for the account's callback URL.
    pub fn message_crypto(&self) -> Result<MessageCrypto, Failure> {
        let key = self.encoding_aes_key.require("EncodingAESKey")?;
        Ok(MessageCrypto::new(
            self.callback_token()?,
            key,
            self.appid()?,
        )?)
    }

    /// A client on the hub or on the secret, whichever is configured (none
    /// for commands whose calls carry no token).
    pub fn client(&self) -> Result<Client, Failure> {
        Ok(self.builder()?.build()?)
    }

    /// A client that signs and encrypts with the profile's API security
    /// keys (the calls `is_securable` names, or any the caller marks).
    pub fn secure_client(&self) -> Result<Client, Failure> {
        Ok(self.builder()?.api_security(self.api.keys()?).build()?)
    }

    fn builder(&self) -> Result<ClientBuilder, Failure> {
        let mut builder = Client::builder();
        if let Some(appid) = &self.appid {
            builder = builder.appid(appid);
        }
        if let Some(base_url) = &self.base_url {
            // Calls and the tokens of the secret alike.
            builder = builder.base_url(base_url);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(proxy) = &self.proxy {
            // Calls, the secret's tokens and a hub's alike.
            builder = builder.proxy(proxy.clone());
        }
        if let Some(hub) = &self.hub {
            let mut source = HubSource::with_urls(hub.split(',').map(str::trim))?;
            if let Some(bearer) = self.hub_bearer.read("hub bearer secret")? {
                source = source.bearer(bearer);
            }
            if let Some(ca) = &self.hub_ca_file {
                source = source.ca_file(ca)?;
            }
            builder = builder.token_source(source);
        } else if let Some(secret) = self.secret.read("app secret")? {
            let source = SecretSource::new(self.appid()?, secret).stable(!self.classic);
            builder = builder.token_source(TokenFile::new(
                self.token_file.clone(),
                source,
                self.classic,
            ));
        }
        Ok(builder)
    }

    /// Which endpoint the secret's tokens come from; `None` with a hub
    /// (whose lineage is the hub's business).
    pub fn endpoint(&self) -> Option<Endpoint> {
        match (&self.hub, self.classic) {
            (Some(_), _) => None,
            (None, false) => Some(Endpoint::Stable),
            (None, true) => Some(Endpoint::Classic),
        }
    }
}

/// Where the app secret's tokens come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/cgi-bin/stable_token` in normal mode: the token WeChat already
    /// holds for the account, shared with every server asking there.
    Stable,
    /// `/cgi-bin/token`: every fetch starts a new token.
    Classic,
}

/// The profile named by --profile / $WECHAT_PROFILE or the file's
/// `default_profile`, with its name, from the config file if there is one.
fn chosen_profile(args: &SourceArgs) -> Result<Option<(String, ProfileConfig)>, Failure> {
    let path = match &args.config {
        Some(path) => Some(path.clone()),
        None => default_config().filter(|p| p.exists()),
    };
    let Some(path) = path else {
        return match &args.profile {
            Some(name) => Err(Failure::usage(format!(
                "profile {name:?} needs a config file: --config FILE, $WECHAT_CONFIG or ~/.config/wechat/config.toml"
            ))),
            None => Ok(None),
        };
    };
    let mut file = read_config(&path)?;
    let Some(name) = args.profile.clone().or(file.default_profile.clone()) else {
        return Ok(None);
    };
    match file.profile.remove(&name) {
        Some(profile) => Ok(Some((name, profile))),
        None => Err(Failure::usage(format!(
            "no [profile.{name}] in {} (it has: {})",
            path.display(),
            file.profile.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

fn read_config(path: &Path) -> Result<ConfigFile, Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read config {shown}: {e}")))?;
    // The message without the quoted line: a secret pasted into the file by
    // mistake is not echoed.
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map_or(0, |span| text[..span.start].matches('\n').count() + 1);
        Failure::usage(format!(
            "bad config {shown}, line {line}: {}",
            e.message().trim()
        ))
    })
}

/// `$XDG_CONFIG_HOME/wechat/config.toml`, else `~/.config/wechat/config.toml`.
fn default_config() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("wechat").join("config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_and_refuse_unknown_fields() {
        let file: ConfigFile = toml::from_str(
            "default_profile = \"prod\"\n[profile.prod]\nappid = \"wx1\"\nsecret_env = \"S\"\n",
        )
        .unwrap();
        assert_eq!(file.profile["prod"].appid.as_deref(), Some("wx1"));
        assert!(toml::from_str::<ConfigFile>("[profile.p]\nsecret = \"inline\"\n").is_err());
    }
}
