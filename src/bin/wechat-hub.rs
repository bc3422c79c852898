//! `wechat-hub`: the hub protocol served over HTTP, configured by a TOML
//! file. Run `wechat-hub --help`.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use weixin::hub::{HubHandler, HubServer};
use weixin::store::{FileStore, MemoryStore};

#[path = "shared/stderr_log.rs"]
mod stderr_log;
use stderr_log::StderrLog;

/// The configuration file and the hub's behaviour, after the options in
/// `--help`.
const CONFIGURATION: &str = "\
CONFIGURATION (secrets are never written in the file: every `*_env` field
names the environment variable that holds the secret):

    bind = \"127.0.0.1:4000\"          # default
    bearer_env = \"WECHAT_HUB_BEARER\" # optional: require Authorization: Bearer
    status_password_env = \"WECHAT_HUB_STATUS_PASSWORD\"  # optional: the HTTP Basic
                                     # password (any user) a browser opens /status
                                     # with; default: the bearer secret
    upstream = \"https://api.weixin.qq.com\"  # default; a fake WeChat for tests
    wechat_backup_domains = false    # default: when upstream cannot be reached (the
                                     # request never left), try api2., then sh., sz.
                                     # and hk.api.weixin.qq.com, WeChat's backups
    proxy_env = \"WECHAT_HUB_PROXY\"   # optional: the variable holding an HTTP CONNECT
                                     # proxy URL, http://[user:password@]host:port, every
                                     # upstream call goes through (for IP allow-lists)
    proxy_from_env = false           # default: HTTPS_PROXY and NO_PROXY are ignored;
                                     # true: use the proxy they name
    tls_cert_file = \"/etc/wechat-hub/hub.crt\"  # optional, with tls_key_file: serve
    tls_key_file = \"/etc/wechat-hub/hub.key\"   # HTTPS only (PEM: the certificate
                                     # then its chain; its private key); both
                                     # read again on SIGHUP
    workers = 64                     # default: requests waiting on the store or
                                     # WeChat at once (a blocking pool)
    max_connections = 16384          # default: more are answered 503 and closed
    header_read_timeout_ms = 5000    # default: a begun request head must arrive
    idle_timeout_secs = 60           # default: keep-alive connections kept idle
    body_timeout_secs = 10           # default: a request body must arrive
    shutdown_timeout_secs = 10       # default: on SIGTERM, finish requests in flight
    refresh_burst = 3                # default: WeChat token calls at once per key,
    refresh_floor_secs = 30          # then waits from 2 s doubling up to this
                                     # while a storm lasts (all replicas)
    max_staleness_ms = 1000          # default: re-read the store at least this often
    expires_in_secs = 7000           # optional: keep and hand out tokens and tickets
                                     # this long at most (default: WeChat's 7200);
                                     # also per [[account]] or [[component]]
    daily_quota = 2000               # default: upstream calls a day per account and
                                     # kind; warns at 50 % and 90 % (counted in the store)
    clear_quota = false              # default: on 45009, clear an account's quota with
                                     # clear_quota/v2 once a day (10 a month at most);
                                     # without it, no replica calls WeChat for the
                                     # account again before midnight UTC+8

    [store]                          # default: kind = \"file\", path = \"wechat-hub-store.json\"
    kind = \"file\"                    # memory | file | redis
    path = \"/var/lib/wechat-hub/store.json\"
    # kind = \"redis\"
    # url = \"redis://127.0.0.1:6379/\"  (or url_env = \"REDIS_URL\" if it has a password)
    # cluster = [\"redis://10.0.0.1:6379/\", \"redis://10.0.0.2:6379/\"]  instead of url:
    #                                  a Redis Cluster from seed nodes (or cluster_env =
    #                                  \"REDIS_CLUSTER\": the seeds, comma-separated)
    # prefix = \"wechat:hub:\"
    # or, with Redis Sentinel (the primary found again after a failover):
    # master = \"mymaster\"
    # sentinels = [\"redis://10.0.0.1:26379\", \"redis://10.0.0.2:26379\"]
    #                                (or sentinels_env = \"REDIS_SENTINELS\", comma-
    #                                separated, if they hold a password; rediss:// for TLS)
    # username = \"hub\"               # optional: ACL user of the primary and replicas
    # password_env = \"REDIS_PASSWORD\" # optional: their password
    # failover_wait_ms = 5000        # default: how long an operation retries a failover
    # with url, cluster or Sentinel:
    # wait_replicas = 1              # default: replicas that acknowledge refresh tokens,
    #                                  tickets and locks (WAIT; in a cluster, the written
    #                                  shard's replicas); 0 = off
    # wait_timeout_ms = 500          # default: how long a write waits for them

    [[account]]
    appid = \"wx1234567890\"
    secret_env = \"WECHAT_SECRET_WX1234567890\"
    stable = true                    # optional: fetch with /cgi-bin/stable_token (the
                                     # top-level `stable` is every account's default;
                                     # a [[component]] cannot use it)

    [[component]]                    # a third-party platform; its pushes go to
    appid = \"wxcomponent\"            # POST /callback/component/wxcomponent
    secret_env = \"WECHAT_COMPONENT_SECRET\"
    token_env = \"WECHAT_COMPONENT_TOKEN\"
    encoding_aes_key_env = \"WECHAT_COMPONENT_AES_KEY\"

`wechat-hub --config hub.toml migrate-keys --from-layout 1 [--dry-run]`
copies a Redis store written by weixin 0.1 (key names without hash tags) to
this version's names, never over a newer value: run it once, every old hub
stopped, before starting the new ones.

Without a bearer secret the hub listens on loopback only unless
--allow-remote (or allow_remote = true) is given. GET /metrics answers the
Prometheus text format (behind the bearer secret). POST
/admin/rebuild_refresh_tokens {\"component_appid\": ...} rebuilds a platform's
authorizer refresh tokens from WeChat's list after a store loss. SIGINT or SIGTERM stops
it: no new connections, the requests in progress answered (within
shutdown_timeout_secs), exit 0. SIGHUP reads the TLS certificate and key again
(a renewed certificate) without closing a connection; if they do not parse,
the previous certificate is kept and the error logged. Without TLS on a
non-loopback address it warns: tokens and the bearer travel in clear text.
";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    bind: Option<String>,
    #[serde(default)]
    allow_remote: bool,
    bearer_env: Option<String>,
    status_password_env: Option<String>,
    upstream: Option<String>,
    #[serde(default)]
    wechat_backup_domains: bool,
    proxy_env: Option<String>,
    #[serde(default)]
    proxy_from_env: bool,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    #[serde(default)]
    stable: bool,
    workers: Option<usize>,
    max_connections: Option<usize>,
    header_read_timeout_ms: Option<u64>,
    idle_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    shutdown_timeout_secs: Option<u64>,
    refresh_burst: Option<u32>,
    refresh_floor_secs: Option<u64>,
    max_staleness_ms: Option<u64>,
    expires_in_secs: Option<u64>,
    daily_quota: Option<u64>,
    #[serde(default)]
    clear_quota: bool,
    store: Option<StoreConfig>,
    #[serde(default, rename = "account")]
    accounts: Vec<AccountConfig>,
    #[serde(default, rename = "component")]
    components: Vec<ComponentConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentConfig {
    appid: String,
    secret_env: String,
    token_env: String,
    encoding_aes_key_env: String,
    expires_in_secs: Option<u64>,
    /// Refused by the builder: a platform cannot use stable_token.
    stable: Option<bool>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum StoreConfig {
    Memory,
    File { path: PathBuf },
    Redis(Box<RedisConfig>),
}

/// `[store] kind = "redis"`: one server (`url` or `url_env`), the
/// primary Sentinel names (`master` and `sentinels` or `sentinels_env`), or
/// a Redis Cluster (`cluster` or `cluster_env`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisConfig {
    url: Option<String>,
    url_env: Option<String>,
    /// A Redis Cluster's seed nodes, instead of `url`.
    cluster: Option<Vec<String>>,
    /// Comma-separated seed URLs, for when they hold a password.
    cluster_env: Option<String>,
    prefix: Option<String>,
    master: Option<String>,
    sentinels: Option<Vec<String>>,
    /// Comma-separated sentinel URLs, for when they hold a password.
    sentinels_env: Option<String>,
    username: Option<String>,
    password_env: Option<String>,
    db: Option<i64>,
    failover_wait_ms: Option<u64>,
    wait_replicas: Option<u64>,
    wait_timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountConfig {
    appid: String,
    secret_env: String,
    expires_in_secs: Option<u64>,
    stable: Option<bool>,
}

/// The command line.
#[derive(Parser)]
#[command(
    name = "wechat-hub",
    version,
    about = "wechat-hub: one WeChat token service shared by every client, process and machine",
    help_template = "{about}\n\nUSAGE:\n    {usage}\n\nOPTIONS:\n{options}\n\nCOMMANDS:\n{subcommands}{after-help}",
    after_help = CONFIGURATION
)]
struct Args {
    /// TOML configuration (see below)
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Listen address, overriding the file's `bind`
    #[arg(short, long, value_name = "ADDR")]
    bind: Option<String>,
    /// Listen on a non-loopback address even without a bearer secret
    /// (anyone who reaches it gets tokens)
    #[arg(long)]
    allow_remote: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

/// What to do instead of serving.
#[derive(clap::Subcommand)]
enum Command {
    /// Copy a Redis store written by an older version to this version's
    /// key names (stop every hub of the older version first); nothing
    /// newer is overwritten, running it again copies nothing more
    MigrateKeys {
        /// The key layout to copy from: 1 (weixin 0.1, before hash tags)
        #[arg(long, value_name = "N")]
        from_layout: u32,
        /// The Redis to read the old keys from (default: the url of hub.toml's store)
        #[arg(long, value_name = "URL")]
        from: Option<String>,
        /// Show what would be copied and write nothing
        #[arg(long)]
        dry_run: bool,
    },
}

/// The SDK's warnings, as `wechat-hub: warning: ...` lines on stderr.
static LOG: StderrLog = StderrLog::new("wechat-hub");

fn main() -> ExitCode {
    LOG.install();
    // A usage error is clap's message and exit code 2; --help and
    // --version exit 0.
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wechat-hub: {message}");
            ExitCode::from(2)
        }
    }
}

/// The value of the environment variable `name`, which holds `what`.
fn env_secret(name: &str, what: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(format!(
            "environment variable {name} ({what}) is not set or empty"
        )),
    }
}

fn run(args: Args) -> Result<(), String> {
    // First, with or without TLS: SIGHUP's default would end the hub, and
    // one sent while it starts (connecting to Redis, say) waits here until
    // the server can reload.
    let mut reloads = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
        .map_err(|e| format!("cannot handle signal SIGHUP: {e}"))?;
    let shown = args.config.display().to_string();
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| format!("cannot read config {shown}: {e}"))?;
    let config: Config = toml::from_str(&text).map_err(|e| format!("bad config {shown}: {e}"))?;
    if let Some(Command::MigrateKeys {
        from_layout,
        from,
        dry_run,
    }) = args.command
    {
        return migrate_keys(config.store, from_layout, from, dry_run);
    }
    let tls = tls_files(&config).map_err(|e| format!("bad config {shown}: {e}"))?;
    if config.accounts.is_empty() && config.components.is_empty() {
        return Err(format!(
            "bad config {shown}: no [[account]] and no [[component]]: the hub would serve nothing"
        ));
    }

    let mut builder = HubHandler::builder().stable(config.stable);
    for account in &config.accounts {
        let secret = env_secret(
            &account.secret_env,
            &format!("secret of account {}", account.appid),
        )?;
        builder = builder.account(account.appid.clone(), secret);
    }
    for component in &config.components {
        let appid = &component.appid;
        let secret = env_secret(
            &component.secret_env,
            &format!("secret of component {appid}"),
        )?;
        let token = env_secret(
            &component.token_env,
            &format!("callback token of component {appid}"),
        )?;
        let key = env_secret(
            &component.encoding_aes_key_env,
            &format!("EncodingAESKey of component {appid}"),
        )?;
        let crypto = weixin::MessageCrypto::new(token, key, appid.clone())
            .map_err(|e| format!("bad config {shown}: component {appid}: {e}"))?;
        builder = builder
            .component(appid.clone(), secret)
            .component_callback(crypto);
    }
    if let Some(upstream) = &config.upstream {
        builder = builder.upstream(upstream.clone());
    }
    if config.wechat_backup_domains {
        builder = builder.wechat_backup_domains();
    }
    let proxy = match (&config.proxy_env, config.proxy_from_env) {
        (Some(_), true) => {
            return Err(format!(
                "bad config {shown}: proxy_env and proxy_from_env exclude each other"
            ))
        }
        (Some(name), false) => {
            let url = env_secret(name, "proxy url")?;
            Some(weixin::Proxy::new(url).map_err(|e| format!("bad config {shown}: {e}"))?)
        }
        (None, true) => {
            weixin::Proxy::from_env().map_err(|e| format!("bad config {shown}: {e}"))?
        }
        (None, false) => None,
    };
    if let Some(proxy) = proxy {
        builder = builder.proxy(proxy);
    }
    if config.refresh_burst.is_some() || config.refresh_floor_secs.is_some() {
        let default = weixin::RefreshLimit::default();
        builder = builder.refresh_limit(weixin::RefreshLimit::new(
            config.refresh_burst.unwrap_or(default.burst()),
            config
                .refresh_floor_secs
                .map_or(default.floor(), Duration::from_secs),
        ));
    }
    builder = builder.clear_quota(config.clear_quota);
    if let Some(calls) = config.daily_quota {
        builder = builder.daily_quota(calls);
    }
    if let Some(secs) = config.expires_in_secs {
        builder = builder.expires_in(Duration::from_secs(secs));
    }
    let own_lifetimes = config
        .accounts
        .iter()
        .map(|a| (&a.appid, a.expires_in_secs))
        .chain(
            config
                .components
                .iter()
                .map(|c| (&c.appid, c.expires_in_secs)),
        );
    let own_stable = config
        .accounts
        .iter()
        .map(|a| (&a.appid, a.stable))
        .chain(config.components.iter().map(|c| (&c.appid, c.stable)));
    for (appid, stable) in own_stable {
        if let Some(stable) = stable {
            builder = builder.account_stable(appid.clone(), stable);
        }
    }
    for (appid, secs) in own_lifetimes {
        if let Some(secs) = secs {
            builder = builder.account_expires_in(appid.clone(), Duration::from_secs(secs));
        }
    }
    if let Some(ms) = config.max_staleness_ms {
        builder = builder.max_staleness(Duration::from_millis(ms));
    }
    let bearer = match &config.bearer_env {
        Some(name) => Some(env_secret(name, "bearer secret")?),
        None => None,
    };
    if let Some(secret) = &bearer {
        builder = builder.bearer(secret.clone());
    }
    if let Some(name) = &config.status_password_env {
        builder = builder.status_password(env_secret(name, "status password")?);
    }
    let store = config.store.unwrap_or(StoreConfig::File {
        path: PathBuf::from("wechat-hub-store.json"),
    });
    let (builder, store_note) = match store {
        StoreConfig::Memory => (
            builder.store(MemoryStore::new()),
            "memory (lost on restart)".to_string(),
        ),
        StoreConfig::File { path } => {
            let store = FileStore::open(&path).map_err(|e| e.to_string())?;
            (builder.store(store), format!("file {}", path.display()))
        }
        StoreConfig::Redis(redis) => redis_store(builder, *redis)?,
    };
    let handler = builder
        .build()
        .map_err(|e| format!("bad config {shown}: {e}"))?;

    let bind = args
        .bind
        .or(config.bind)
        .unwrap_or_else(|| "127.0.0.1:4000".to_string());
    let mut addr: SocketAddr = bind
        .parse()
        .map_err(|_| format!("bind address {bind:?} is not ip:port"))?;
    let allow_remote = args.allow_remote || config.allow_remote;
    if bearer.is_none() && !addr.ip().is_loopback() {
        if allow_remote {
            eprintln!(
                "wechat-hub: warning: no bearer secret and listening on {addr}: anyone who can reach it gets working tokens"
            );
        } else {
            let asked = addr;
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            eprintln!(
                "wechat-hub: no bearer secret configured: binding to loopback {addr} instead of {asked}; set bearer_env, or pass --allow-remote"
            );
        }
    } else if bearer.is_none() {
        eprintln!("wechat-hub: no bearer secret configured: loopback only");
    }

    let mut server = HubServer::bind(&addr.to_string(), handler).map_err(|e| e.to_string())?;
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    if let Some(max) = config.max_connections {
        server = server.max_connections(max);
    }
    if let Some(ms) = config.header_read_timeout_ms {
        server = server.header_read_timeout(Duration::from_millis(ms));
    }
    if let Some(secs) = config.idle_timeout_secs {
        server = server.idle_timeout(Duration::from_secs(secs));
    }
    if let Some(secs) = config.body_timeout_secs {
        server = server.body_timeout(Duration::from_secs(secs));
    }
    if let Some(secs) = config.shutdown_timeout_secs {
        server = server.shutdown_timeout(Duration::from_secs(secs));
    }
    if let Some((cert, key)) = tls {
        server = server.tls(cert, key).map_err(|e| e.to_string())?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| format!("cannot handle signal {signal}: {e}"))?;
    }
    eprintln!(
        "wechat-hub: listening on {}://{} ({} account(s), {} component(s), store: {store_note})",
        server.scheme(),
        server.addr(),
        config.accounts.len(),
        config.components.len()
    );
    let close = CloseOnDrop(reloads.handle());
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in reloads.forever() {
                // A failure is logged by the server, naming the file.
                if server.reload_tls().is_ok() && server.scheme() == "https" {
                    eprintln!("wechat-hub: tls certificate reloaded");
                }
            }
        });
        // Closed however `run` ends, a panic included: the reload thread
        // would otherwise keep the scope, and the hub, from ending.
        let _close = close;
        server.run(&stop);
    });
    eprintln!("wechat-hub: stopped");
    Ok(())
}

/// Closes a signal iterator when dropped, ending its `forever` loop.
struct CloseOnDrop(signal_hook::iterator::Handle);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// hub.toml's `tls_cert_file` and `tls_key_file`: both or neither.
fn tls_files(config: &Config) -> Result<Option<(PathBuf, PathBuf)>, String> {
    match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => Ok(Some((cert.clone(), key.clone()))),
        (None, None) => Ok(None),
        (Some(_), None) => {
            Err("tls_cert_file is set but tls_key_file is not: give both or neither".into())
        }
        (None, Some(_)) => {
            Err("tls_key_file is set but tls_cert_file is not: give both or neither".into())
        }
    }
}

/// hub.toml's Redis store: one server (`url` or the variable `url_env`
/// names), the primary Sentinel names, or a cluster's seed nodes
/// (`cluster`, or the comma-separated list the variable `cluster_env`
/// names), under `prefix`, with its durability.
#[cfg(feature = "redis")]
fn open_redis(config: RedisConfig) -> Result<weixin::store::RedisStore, String> {
    use weixin::store::RedisStore;
    let sentinel_only = [
        ("username", config.username.is_some()),
        ("password_env", config.password_env.is_some()),
        ("db", config.db.is_some()),
        ("failover_wait_ms", config.failover_wait_ms.is_some()),
    ];
    if config.master.is_none() {
        if let Some((name, _)) = sentinel_only.iter().find(|(_, set)| *set) {
            return Err(format!(
                "[store] {name} is for Sentinel (with master); with url, url_env or \
                 cluster, put credentials and the database in the URL"
            ));
        }
    }
    let sentinels = match (config.sentinels, config.sentinels_env) {
        (None, None) => None,
        (Some(list), None) => Some(list),
        (None, Some(name)) => Some(
            env_secret(&name, "redis sentinel urls")?
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        _ => return Err("[store] give sentinels or sentinels_env, not both".into()),
    };
    let cluster = match (config.cluster, config.cluster_env) {
        (None, None) => None,
        (Some(list), None) => Some(list),
        (None, Some(name)) => Some(
            env_secret(&name, "redis cluster seeds")?
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        _ => return Err("[store] give cluster or cluster_env, not both".into()),
    };
    let mut store = match (
        config.url,
        config.url_env,
        config.master,
        sentinels,
        cluster,
    ) {
        (Some(url), None, None, None, None) => RedisStore::open(&url),
        (None, Some(name), None, None, None) => RedisStore::open(&env_secret(&name, "redis url")?),
        (None, None, None, None, Some(seeds)) => RedisStore::cluster(&seeds),
        (None, None, Some(master), Some(sentinels), None) => {
            let mut sentinel = weixin::RedisSentinel::new(master, sentinels);
            if let Some(name) = config.password_env {
                let password = env_secret(&name, "redis password")?;
                sentinel = sentinel.auth(config.username.as_deref(), password);
            }
            if let Some(db) = config.db {
                sentinel = sentinel.db(db);
            }
            if let Some(ms) = config.failover_wait_ms {
                sentinel = sentinel.failover_wait(Duration::from_millis(ms));
            }
            RedisStore::sentinel(sentinel)
        }
        _ => {
            return Err(
                "[store] kind = \"redis\" needs exactly one of url, url_env, \
                 cluster (or cluster_env), or master with sentinels (or sentinels_env)"
                    .into(),
            )
        }
    }
    .map_err(|e| e.to_string())?;
    if let Some(prefix) = config.prefix {
        store = store.prefix(prefix);
    }
    if config.wait_replicas.is_some() || config.wait_timeout_ms.is_some() {
        store = store.durability(
            config
                .wait_replicas
                .unwrap_or(RedisStore::DEFAULT_WAIT_REPLICAS),
            config
                .wait_timeout_ms
                .map_or(RedisStore::DEFAULT_WAIT_TIMEOUT, Duration::from_millis),
        );
    }
    Ok(store)
}

/// `wechat-hub migrate-keys`: copies the old names of the configured Redis
/// store (or of `--from`) to this version's, and tells what it did.
#[cfg(feature = "redis")]
fn migrate_keys(
    store: Option<StoreConfig>,
    from_layout: u32,
    from: Option<String>,
    dry_run: bool,
) -> Result<(), String> {
    if from_layout != 1 {
        return Err(format!(
            "migrate-keys: --from-layout {from_layout}: only layout 1 (weixin 0.1) is known"
        ));
    }
    let Some(StoreConfig::Redis(config)) = store else {
        return Err("migrate-keys needs [store] kind = \"redis\"".into());
    };
    let from =
        match (from, &config.url, &config.url_env) {
            (Some(from), _, _) => from,
            (None, Some(url), _) => url.clone(),
            (None, None, Some(name)) => env_secret(name, "redis url")?,
            (None, None, None) => return Err(
                "migrate-keys on a cluster or Sentinel needs --from <url of the old single Redis>"
                    .into(),
            ),
        };
    let store = open_redis(*config)?;
    let report = store
        .migrate_keys(&from, dry_run)
        .map_err(|e| format!("migrate-keys: {e}"))?;
    let verb = if dry_run { "would copy" } else { "copied" };
    for name in report.copied() {
        println!("{verb} {name}");
    }
    println!(
        "migrate-keys: {verb} {}, kept {} (newer in place), skipped {} (locks, unknown)",
        report.copied().len(),
        report.kept().len(),
        report.skipped().len()
    );
    Ok(())
}

#[cfg(not(feature = "redis"))]
fn migrate_keys(_: Option<StoreConfig>, _: u32, _: Option<String>, _: bool) -> Result<(), String> {
    Err("migrate-keys needs wechat-hub built with the `redis` feature".into())
}

#[cfg(feature = "redis")]
fn redis_store(
    builder: weixin::hub::HubHandlerBuilder,
    config: RedisConfig,
) -> Result<(weixin::hub::HubHandlerBuilder, String), String> {
    let store = open_redis(config)?;
    match store.ping().and_then(|()| store.check_persistence()) {
        Err(e) => {
            eprintln!("wechat-hub: warning: {e}; serving anyway, requests fail until it answers")
        }
        Ok(Some(warning)) => eprintln!("wechat-hub: warning: {warning}"),
        Ok(None) => {}
    }
    let note = format!("{store:?}");
    Ok((builder.store(store), note))
}

#[cfg(not(feature = "redis"))]
fn redis_store(
    _: weixin::hub::HubHandlerBuilder,
    _: RedisConfig,
) -> Result<(weixin::hub::HubHandlerBuilder, String), String> {
    Err("[store] kind = \"redis\" needs wechat-hub built with the `redis` feature".into())
}
