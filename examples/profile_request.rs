//! Warm calls against a keep-alive server, for a profiler: `Client::request`
//! and bare ureq agents doing the same call, each in a function of its own
//! so that callgrind can count one of them.
//!
//! ```text
//! cargo run --release --example keepalive_responder -- 127.0.0.1:8088 &
//! cargo build --release --example profile_request
//! valgrind --tool=callgrind --toggle-collect='*profile_request::calls*' \
//!     target/release/examples/profile_request 127.0.0.1:8088 1000 wechat
//! ```
//!
//! Divide the instructions callgrind reports by the number of calls. The
//! last argument picks what is called: `wechat` (`Client::request`),
//! `same_config` (bare ureq configured as the client's agent) or
//! `no_timeouts` (bare ureq, default configuration); without it all three
//! are timed one after the other.

use std::hint::black_box;
use std::time::{Duration, Instant};

use wechat::{Client, Context, Token, TokenKey, TokenSource};

#[derive(Debug)]
struct Fixed;

impl TokenSource for Fixed {
    fn fetch(&self, _key: &TokenKey, _cx: &Context<'_>) -> wechat::Result<Token> {
        Ok(Token::new("T".repeat(150), 7200))
    }
}

const PATH: &str = "/cgi-bin/get_api_domain_ip";

/// What one call is.
enum Call<'a> {
    Wechat(&'a Client),
    Bare(&'a ureq::Agent, &'a str),
}

#[inline(never)]
fn calls(call: &Call<'_>, n: usize) {
    for _ in 0..n {
        match call {
            Call::Wechat(client) => {
                black_box(client.request(PATH).unwrap());
            }
            Call::Bare(agent, url) => {
                let mut resp = agent.get(*url).call().unwrap();
                let body = resp.body_mut().read_to_vec().unwrap();
                black_box(serde_json::from_slice::<serde_json::Value>(&body).unwrap());
            }
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8088".to_string());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let (host, port) = addr.rsplit_once(':').expect("HOST:PORT");
    let client = Client::builder()
        .appid("wx1")
        .scheme("http")
        .host(host)
        .port(port.parse().expect("a port"))
        .token_source(Fixed)
        .build()
        .expect("a client");
    let url = format!("http://{addr}{PATH}?access_token={}", "T".repeat(150));
    let same_config = wechat::bench_agent(Duration::from_secs(5), Duration::from_secs(30));
    let no_timeouts = ureq::Agent::new_with_defaults();
    let all = [
        ("wechat", Call::Wechat(&client)),
        ("same_config", Call::Bare(&same_config, &url)),
        ("no_timeouts", Call::Bare(&no_timeouts, &url)),
    ];
    let only = args.next();
    for (name, call) in &all {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        // One call first: the connection and the token are warm when counted.
        calls(call, 1);
        let start = Instant::now();
        calls(call, n);
        let per_call = start.elapsed() / n as u32;
        println!(
            "{name}: {per_call:?} per call, {:.0} calls/s",
            1.0 / per_call.as_secs_f64()
        );
    }
}
