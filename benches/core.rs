//! Figures for the hot paths: a cached-token lookup (1 thread, 2 threads on
//! one key, 2 threads on different keys), a warm `Client::request` against
//! bare ureq agents calling the same keep-alive server (one configured as
//! the client's agent, one without timeouts) and the free function
//! `weixin::request` (with the process-wide source, and with a source the
//! call names), `request` from 2 and 8
//! threads sharing one client, the lookup of the free function's client
//! (process-wide or named per call), and `sign_jssdk`.
//!
//! `cargo bench --bench core` (see `common` for `WECHAT_BENCH_ORIGIN`)

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use weixin::{Client, Context, Token, TokenKey, TokenSource};

/// A token shaped like WeChat's, for any key.
#[derive(Debug)]
struct Fixed;

/// The token `Fixed` hands out.
fn fixed_token() -> String {
    "T".repeat(150)
}

impl TokenSource for Fixed {
    fn fetch(&self, _key: &TokenKey, _cx: &Context<'_>) -> weixin::Result<Token> {
        Ok(Token::new(fixed_token(), 7200))
    }
}

/// Runs `each(thread)` on `threads` threads, `iters` times each, and
/// returns the wall time: the time per call as each thread saw it.
fn on_threads(threads: usize, iters: u64, each: impl Fn(usize) + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let each = &each;
            s.spawn(move || {
                for _ in 0..iters {
                    each(t);
                }
            });
        }
    });
    start.elapsed()
}

fn cached_lookup(c: &mut Criterion) {
    let client = Client::builder()
        .appid("wx1")
        .token_source(Fixed)
        .build()
        .unwrap();
    let keys = [TokenKey::access_token("wx1"), TokenKey::access_token("wx2")];
    for key in &keys {
        client.token(key).unwrap();
    }
    let mut group = c.benchmark_group("cached_token");
    group.bench_function("1_thread", |b| {
        b.iter(|| black_box(client.token(black_box(&keys[0])).unwrap()))
    });
    group.bench_function("2_threads_same_key", |b| {
        b.iter_custom(|iters| {
            on_threads(2, iters, |_| {
                black_box(client.token(black_box(&keys[0])).unwrap());
            })
        })
    });
    // Two given keys share one of the cache's 32 locks by chance (1 in 32
    // runs, the seed is random): a run where this figure matches
    // 2_threads_same_key is such a run.
    group.bench_function("2_threads_different_keys", |b| {
        b.iter_custom(|iters| {
            on_threads(2, iters, |t| {
                black_box(client.token(black_box(&keys[t])).unwrap());
            })
        })
    });
    group.finish();
}

/// A client of the keep-alive server at `port`, with its token cached.
fn warm_client(port: u16) -> Client {
    let client = Client::builder()
        .appid("wx1")
        .scheme("http")
        .host("127.0.0.1")
        .port(port)
        .token_source(Fixed)
        .build()
        .unwrap();
    client.request("/cgi-bin/get_api_domain_ip").unwrap();
    client
}

/// What a bare ureq call does that `request` must do too: send, read the
/// body, parse the JSON.
fn bare_call(agent: &ureq::Agent, url: &str) -> serde_json::Value {
    let mut resp = agent.get(url).call().unwrap();
    serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap()).unwrap()
}

fn request_vs_bare(c: &mut Criterion) {
    let (origin, port) = common::origin();
    let client = warm_client(port);
    let url = format!(
        "{origin}/cgi-bin/get_api_domain_ip?access_token={}",
        fixed_token()
    );
    // The client's defaults: 5 s to connect, 30 s in all.
    let same_config = weixin::bench_agent(Duration::from_secs(5), Duration::from_secs(30));
    let no_timeouts = ureq::Agent::new_with_defaults();
    let mut group = c.benchmark_group("keepalive_call");
    group.bench_function("wechat_request", |b| {
        b.iter(|| black_box(client.request("/cgi-bin/get_api_domain_ip").unwrap()))
    });
    // The free function: the process-wide client, looked up on every call.
    weixin::configure(
        Client::builder()
            .appid("wx1")
            .scheme("http")
            .host("127.0.0.1")
            .port(port)
            .token_source(Fixed),
    )
    .unwrap();
    weixin::request("/cgi-bin/get_api_domain_ip").unwrap();
    group.bench_function("global_request", |b| {
        b.iter(|| black_box(weixin::request("/cgi-bin/get_api_domain_ip").unwrap()))
    });
    // The same, with the call naming a registered source: one more lookup.
    weixin::register_source("bench", Fixed).unwrap();
    let named = || weixin::RequestOptions::get("/cgi-bin/get_api_domain_ip").source("bench");
    weixin::request(named()).unwrap();
    group.bench_function("global_request_named_source", |b| {
        b.iter(|| black_box(weixin::request(named()).unwrap()))
    });
    group.bench_function("bare_ureq_same_config", |b| {
        b.iter(|| black_box(bare_call(&same_config, &url)))
    });
    group.bench_function("bare_ureq_no_timeouts", |b| {
        b.iter(|| black_box(bare_call(&no_timeouts, &url)))
    });
    group.finish();
}

fn request_threads(c: &mut Criterion) {
    let (_, port) = common::origin();
    let client = warm_client(port);
    let mut group = c.benchmark_group("keepalive_call_shared_client");
    for threads in [2, 8] {
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, |_| {
                    black_box(client.request("/cgi-bin/get_api_domain_ip").unwrap());
                })
            })
        });
    }
    group.finish();
}

/// What `weixin::request` does before the call itself: find the client,
/// the process-wide one or the one of the source the call names. No I/O,
/// so the difference is the per-call lookup alone.
fn source_lookup(c: &mut Criterion) {
    weixin::register_source("lookup", Fixed).unwrap();
    let mut group = c.benchmark_group("client_lookup");
    group.bench_function("global_client", |b| {
        b.iter(|| black_box(weixin::global_client()))
    });
    group.bench_function("named_source", |b| {
        b.iter(|| black_box(weixin::source_client(black_box("lookup")).unwrap()))
    });
    group.finish();
}

fn sign(c: &mut Criterion) {
    let ticket =
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
    c.bench_function("sign_jssdk", |b| {
        b.iter(|| {
            black_box(weixin::sign_jssdk(
                black_box(ticket),
                black_box("http://mp.weixin.qq.com?params=value"),
            ))
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = cached_lookup, request_vs_bare, request_threads, source_lookup, sign
}
criterion_main!(benches);
