//! Figures for the hot paths: a cached-token lookup (1 and 2 threads), a
//! warm `request` against a raw `ureq` call of the same loopback endpoint,
//! and `sign_jssdk`.
//!
//! `cargo bench --bench core`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use wechat::testing::FakeWechat;
use wechat::{Client, Context, SecretSource, Token, TokenKey, TokenSource};

#[derive(Debug)]
struct Fixed;

impl TokenSource for Fixed {
    fn fetch(&self, _key: &TokenKey, _cx: &Context<'_>) -> wechat::Result<Token> {
        Ok(Token::new("T".repeat(160), 7200))
    }
}

fn cached_lookup(c: &mut Criterion) {
    let client = Client::builder()
        .appid("wx1")
        .token_source(Fixed)
        .build()
        .unwrap();
    let key = TokenKey::access_token("wx1");
    client.token(&key).unwrap();
    let mut group = c.benchmark_group("cached_token");
    group.bench_function("1_thread", |b| {
        b.iter(|| black_box(client.token(black_box(&key)).unwrap()))
    });
    group.bench_function("2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..iters {
                            black_box(client.token(black_box(&key)).unwrap());
                        }
                    });
                }
            });
            // Time per lookup as each thread saw it.
            start.elapsed()
        })
    });
    group.finish();
}

fn request_vs_raw(c: &mut Criterion) {
    let fake = FakeWechat::start().unwrap();
    fake.register("wx1", "s");
    let client = Client::builder()
        .appid("wx1")
        .scheme("http")
        .host("127.0.0.1")
        .port(fake.port())
        .token_source(SecretSource::new("wx1", "s").base_url(fake.url()))
        .build()
        .unwrap();
    client.request("/cgi-bin/bench").unwrap();
    let token = client.token(&TokenKey::access_token("wx1")).unwrap();
    let raw_url = format!(
        "{}/cgi-bin/bench?access_token={}",
        fake.url(),
        token.expose()
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut group = c.benchmark_group("loopback_call");
    group.bench_function("wechat_request_warm", |b| {
        b.iter(|| black_box(client.request("/cgi-bin/bench").unwrap()))
    });
    group.bench_function("raw_ureq", |b| {
        b.iter(|| {
            let mut resp = agent.get(&raw_url).call().unwrap();
            let body: serde_json::Value =
                serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap()).unwrap();
            black_box(body)
        })
    });
    group.finish();
}

fn sign(c: &mut Criterion) {
    let ticket =
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
    c.bench_function("sign_jssdk", |b| {
        b.iter(|| {
            black_box(wechat::sign_jssdk(
                black_box(ticket),
                black_box("http://mp.weixin.qq.com?params=value"),
            ))
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = cached_lookup, request_vs_raw, sign
}
criterion_main!(benches);
