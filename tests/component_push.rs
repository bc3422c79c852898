//! A third-party platform in one process, without a hub: pushes through
//! `CallbackHandler` and `ComponentPushHandler`, tickets and refresh tokens
//! in a `FileStore`, and a `kill -9` that loses nothing acknowledged.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use weixin::store::{FileStore, Store};
use weixin::testing::FakeWechat;
use weixin::{
    CallbackHandler, CallbackResponse, Client, ComponentPushHandler, ComponentSource, ErrorKind,
    Message, MessageCrypto, RequestOptions, TokenKey,
};

use crate::common;

const COMPONENT: &str = "wx_push_component";
const COMPONENT_SECRET: &str = "COMPONENT_SECRET_push";
const CALLBACK_TOKEN: &str = "push-callback-token";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// Set for the child process of `acknowledged_pushes_survive_kill_9`: the
/// store file it writes.
const CHILD_STORE: &str = "WECHAT_TEST_PUSH_CHILD_STORE";

/// A platform as a user would set it up, against a fake WeChat.
struct Platform {
    fake: FakeWechat,
    store: Arc<FileStore>,
    client: Client,
    crypto: MessageCrypto,
    callbacks: CallbackHandler,
    pushes: ComponentPushHandler,
}

impl Platform {
    fn start(path: &Path) -> Platform {
        let fake = FakeWechat::start().unwrap();
        fake.register_component(COMPONENT, COMPONENT_SECRET);
        let store = Arc::new(FileStore::open(path).unwrap());
        let source =
            ComponentSource::new(COMPONENT, COMPONENT_SECRET, store.clone(), store.clone())
                .base_url(fake.url());
        let client = common::builder(&fake)
            .appid(COMPONENT)
            .token_source(source)
            .build()
            .unwrap();
        let crypto = MessageCrypto::new(CALLBACK_TOKEN, AES_KEY, COMPONENT).unwrap();
        Platform {
            callbacks: CallbackHandler::encrypted(crypto.clone()),
            pushes: ComponentPushHandler::new(COMPONENT, client.clone(), store.clone()),
            fake,
            store,
            client,
            crypto,
        }
    }

    /// Encrypts `xml` as WeChat does and hands the request to the handlers.
    fn push(&self, xml: &str) -> CallbackResponse {
        let body = self.crypto.encrypt(xml, "1700000000", "n0nce").unwrap();
        let signature = Message::parse(&body)
            .unwrap()
            .field("MsgSignature")
            .unwrap()
            .to_string();
        let query =
            format!("timestamp=1700000000&nonce=n0nce&encrypt_type=aes&msg_signature={signature}");
        self.callbacks
            .handle("POST", &query, body.as_bytes(), |message| {
                self.pushes.handle(message).map(|()| None)
            })
    }

    /// WeChat pushes a new verify ticket.
    fn ticket(&self, ticket: &str) -> CallbackResponse {
        self.fake.push_verify_ticket(COMPONENT, ticket);
        self.push(&info(
            COMPONENT,
            "component_verify_ticket",
            &format!("<ComponentVerifyTicket>{ticket}</ComponentVerifyTicket>"),
        ))
    }

    /// An account authorizes the platform.
    fn authorize(&self, authorizer: &str, info_type: &str) -> CallbackResponse {
        let code = self.fake.authorization_code(COMPONENT, authorizer);
        self.push(&info(
            COMPONENT,
            info_type,
            &format!(
                "<AuthorizerAppid>{authorizer}</AuthorizerAppid><AuthorizationCode>{code}</AuthorizationCode>\
                 <AuthorizationCodeExpiredTime>1700003600</AuthorizationCodeExpiredTime>"
            ),
        ))
    }
}

fn info(appid: &str, info_type: &str, extra: &str) -> String {
    format!(
        "<xml><AppId>{appid}</AppId><CreateTime>1700000000</CreateTime>\
         <InfoType>{info_type}</InfoType>{extra}</xml>"
    )
}

fn success(response: &CallbackResponse) {
    assert_eq!(
        (response.status(), response.body()),
        (200, "success"),
        "{:?}",
        response.error()
    );
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wechat-push-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn a_platform_without_a_hub_keeps_its_tickets_and_refresh_tokens_in_a_file() {
    let path = temp_file("platform.json");
    let p = Platform::start(&path);
    let authorizer = "wx_push_authorizer";

    success(&p.ticket("ticket@@@1"));
    assert_eq!(
        FileStore::open(&path)
            .unwrap()
            .get_verify_ticket(COMPONENT)
            .unwrap()
            .unwrap()
            .expose(),
        "ticket@@@1"
    );

    // authorized: the code is exchanged (with a component token the stored
    // ticket bought), the refresh token is on disk, the access token cached.
    success(&p.authorize(authorizer, "authorized"));
    assert_eq!(p.fake.count("/cgi-bin/component/api_component_token"), 1);
    assert_eq!(p.fake.count("/cgi-bin/component/api_query_auth"), 1);
    let refresh = p.fake.current_refresh_token(COMPONENT, authorizer).unwrap();
    let on_disk = |path: &Path| {
        FileStore::open(path)
            .unwrap()
            .get_refresh_token(COMPONENT, authorizer)
            .unwrap()
            .map(|s| s.expose().to_string())
    };
    assert_eq!(on_disk(&path).as_deref(), Some(refresh.as_str()));
    let call = || {
        p.client
            .request(RequestOptions::get("/cgi-bin/user/info").authorizer_appid(authorizer))
    };
    call().unwrap();
    assert_eq!(p.fake.authorizer_token_calls(authorizer), 0);

    // updateauthorized: a new code, new tokens, the new refresh token kept.
    success(&p.authorize(authorizer, "updateauthorized"));
    assert_eq!(p.fake.count("/cgi-bin/component/api_query_auth"), 2);
    let refresh = p.fake.current_refresh_token(COMPONENT, authorizer).unwrap();
    assert_eq!(on_disk(&path).as_deref(), Some(refresh.as_str()));

    // A rotation through api_authorizer_token lands in the file too.
    p.client
        .forget_token(&TokenKey::access_token(COMPONENT).for_authorizer(authorizer));
    call().unwrap();
    assert_eq!(p.fake.authorizer_token_calls(authorizer), 1);
    let rotated = p.fake.current_refresh_token(COMPONENT, authorizer).unwrap();
    assert_ne!(rotated, refresh);
    assert_eq!(on_disk(&path).as_deref(), Some(rotated.as_str()));

    // unauthorized: forgotten on disk and in the cache; nothing is fetched.
    success(&p.push(&info(
        COMPONENT,
        "unauthorized",
        &format!("<AuthorizerAppid>{authorizer}</AuthorizerAppid>"),
    )));
    assert_eq!(on_disk(&path), None);
    let err = call().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidRequest { .. }),
        "{err}"
    );
    assert_eq!(p.fake.authorizer_token_calls(authorizer), 1);
    assert_eq!(
        p.store.get_refresh_token(COMPONENT, authorizer).unwrap(),
        None
    );
}

#[test]
fn pushes_that_cannot_be_kept_are_not_answered_success() {
    let path = temp_file("refusals.json");
    let p = Platform::start(&path);

    // Another platform's notification, correctly encrypted for this one.
    let response = p.push(&info(
        "wx_other_component",
        "component_verify_ticket",
        "<ComponentVerifyTicket>ticket@@@x</ComponentVerifyTicket>",
    ));
    assert_eq!(response.status(), 500);
    assert!(matches!(
        response.error().unwrap().kind(),
        ErrorKind::Config { .. }
    ));
    assert_eq!(p.store.get_verify_ticket(COMPONENT).unwrap(), None);

    // A code WeChat refuses: 500, so that WeChat pushes again.
    success(&p.ticket("ticket@@@1"));
    let response = p.push(&info(
        COMPONENT,
        "authorized",
        "<AuthorizerAppid>wx_a</AuthorizerAppid><AuthorizationCode>used@@@</AuthorizationCode>",
    ));
    assert_eq!(response.status(), 500);
    assert_eq!(response.error().unwrap().errcode(), Some(61010));
    assert_eq!(p.store.get_refresh_token(COMPONENT, "wx_a").unwrap(), None);

    // Anything else is answered `success` and changes nothing.
    success(&p.push(&info(COMPONENT, "notify_third_fasteregister", "")));
    assert_eq!(
        p.store
            .get_verify_ticket(COMPONENT)
            .unwrap()
            .unwrap()
            .expose(),
        "ticket@@@1"
    );
}

/// The child process of `acknowledged_pushes_survive_kill_9` (a no-op when
/// the suite runs it): a platform taking ticket and authorization pushes
/// as fast as it can, printing an `ack` line after each `success`.
#[test]
fn durable_child() {
    let Ok(path) = std::env::var(CHILD_STORE) else {
        return;
    };
    let p = Platform::start(Path::new(&path));
    // Bounded, in case the parent dies without killing it.
    for i in 0..5_000 {
        success(&p.ticket(&format!("ticket@@@{i}")));
        println!("ack ticket {i}");
        let authorizer = format!("wx_authorizer_{i}");
        success(&p.authorize(&authorizer, "authorized"));
        let refresh = p
            .fake
            .current_refresh_token(COMPONENT, &authorizer)
            .unwrap();
        println!("ack refresh {authorizer} {refresh}");
    }
}

#[test]
fn acknowledged_pushes_survive_kill_9() {
    let path = temp_file("killed.json");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "component_push::durable_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_STORE, &path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("ack ") && tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acks = Vec::new();
    while acks
        .iter()
        .filter(|a: &&String| a.starts_with("ack refresh"))
        .count()
        < 20
    {
        // A hang guard, not a timing assertion.
        let ack = rx.recv_timeout(Duration::from_secs(60));
        acks.push(ack.expect("the child acknowledges pushes"));
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush runs
    child.wait().unwrap();
    reader.join().unwrap();
    // Every line written before the kill was acknowledged too.
    acks.extend(rx.try_iter());

    let store = FileStore::open(&path).unwrap();
    let mut last_ticket = 0;
    for ack in &acks {
        let words: Vec<&str> = ack.split(' ').collect();
        match words[..] {
            ["ack", "ticket", i] => last_ticket = i.parse().unwrap(),
            ["ack", "refresh", authorizer, refresh] => assert_eq!(
                store
                    .get_refresh_token(COMPONENT, authorizer)
                    .unwrap()
                    .map(|s| s.expose().to_string())
                    .as_deref(),
                Some(refresh),
                "{authorizer}'s acknowledged refresh token was lost"
            ),
            _ => panic!("unexpected line {ack:?}"),
        }
    }
    // The last acknowledged ticket, or one pushed after it.
    let ticket = store.get_verify_ticket(COMPONENT).unwrap().unwrap();
    let stored: u64 = ticket
        .expose()
        .strip_prefix("ticket@@@")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        stored >= last_ticket,
        "ticket {stored} < acknowledged {last_ticket}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
