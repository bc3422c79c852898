//! A third-party platform with 100,000 authorizers: cached lookup time with
//! that many keys, and the memory each cached token costs.
//!
//! `cargo bench --bench scale`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use wechat::{Client, Context, Token, TokenKey, TokenSource};

const AUTHORIZERS: usize = 100_000;

/// Hands out tokens shaped like WeChat's (about 150 characters).
#[derive(Debug)]
struct Minted;

impl TokenSource for Minted {
    fn fetch(&self, key: &TokenKey, _cx: &Context<'_>) -> wechat::Result<Token> {
        let authorizer = key.authorizer_appid().unwrap_or("");
        Ok(Token::new(
            format!("{authorizer}_{}", "x".repeat(130)),
            7200,
        ))
    }
}

/// Resident memory of this process in bytes (Linux).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn scale(c: &mut Criterion) {
    let client = Client::builder()
        .appid("wx_component")
        .token_source(Minted)
        .build()
        .unwrap();
    let keys: Vec<TokenKey> = (0..AUTHORIZERS)
        .map(|i| TokenKey::access_token("wx_component").for_authorizer(&format!("wx{i:016x}")))
        .collect();
    let before = resident_bytes();
    for key in &keys {
        client.token(key).unwrap();
    }
    let after = resident_bytes();
    eprintln!(
        "scale: {AUTHORIZERS} cached authorizer tokens grew resident memory by {} bytes: {} bytes per entry (key, entry, token value)",
        after.saturating_sub(before),
        after.saturating_sub(before) / AUTHORIZERS
    );
    // Visit keys in a scattered order so lookups miss the CPU cache as a
    // busy platform's would.
    let order: Vec<usize> = (0..AUTHORIZERS).map(|i| (i * 7919) % AUTHORIZERS).collect();
    let mut n = 0;
    c.bench_function("cached_token/100k_authorizers", |b| {
        b.iter(|| {
            n = (n + 1) % AUTHORIZERS;
            black_box(client.token(&keys[order[n]]).unwrap())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = scale
}
criterion_main!(benches);
