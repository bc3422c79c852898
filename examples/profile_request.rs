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
//! are timed in turn for `ROUNDS` rounds (an environment variable, 15 by
//! default), and the medians and their ratios printed.
//! `benches/request_vs_nginx.sh` runs both against nginx.

use std::hint::black_box;
use std::time::{Duration, Instant};

use weixin::{Client, Context, Token, TokenKey, TokenSource};

#[derive(Debug)]
struct Fixed;

impl TokenSource for Fixed {
    fn fetch(&self, _key: &TokenKey, _cx: &Context<'_>) -> weixin::Result<Token> {
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
    let same_config = weixin::bench_agent(Duration::from_secs(5), Duration::from_secs(30));
    let no_timeouts = ureq::Agent::new_with_defaults();
    let all = [
        ("wechat", Call::Wechat(&client)),
        ("same_config", Call::Bare(&same_config, &url)),
        ("no_timeouts", Call::Bare(&no_timeouts, &url)),
    ];
    match args.next() {
        // One kind of call, for a profiler.
        Some(only) => {
            let (name, call) = all
                .iter()
                .find(|(name, _)| *name == only)
                .expect("wechat, same_config or no_timeouts");
            calls(call, 1);
            println!("{name}: {:?} per call", time(call, n));
        }
        // Rounds of each kind in turn, so that load on the machine touches
        // all alike; the median of each.
        None => {
            let rounds: usize = std::env::var("ROUNDS")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(15);
            let mut times: Vec<Vec<Duration>> = vec![Vec::new(); all.len()];
            for (_, call) in &all {
                calls(call, 1);
            }
            for _ in 0..rounds {
                for ((_, call), times) in all.iter().zip(&mut times) {
                    times.push(time(call, n));
                }
            }
            let medians: Vec<Duration> = times
                .iter_mut()
                .map(|t| {
                    t.sort();
                    t[t.len() / 2]
                })
                .collect();
            for ((name, _), median) in all.iter().zip(&medians) {
                println!(
                    "{name}: {median:?} per call (median of {rounds} rounds of {n}), {:.0} calls/s",
                    1.0 / median.as_secs_f64()
                );
            }
            let ratio = |other: usize| medians[other].as_secs_f64() / medians[0].as_secs_f64();
            println!(
                "request / bare ureq same config: {:.3}; request / bare ureq no timeouts: {:.3} (calls/s ratios)",
                ratio(1),
                ratio(2)
            );
        }
    }
}

/// Time per call of `n` calls.
fn time(call: &Call<'_>, n: usize) -> Duration {
    let start = Instant::now();
    calls(call, n);
    start.elapsed() / n as u32
}
