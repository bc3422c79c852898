//! The added cost of a secured call (feature `api-security`), in the same
//! run as a plain one: the client's own work (seal = encrypt + sign, open =
//! verify + decrypt) and a whole warm call against the fake WeChat, plain
//! and secured (the secured round trip also pays the fake's verify,
//! decrypt, encrypt and sign).
//!
//! `cargo bench --features api-security --bench api_security`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use weixin::testing::FakeWechat;
use weixin::{ApiSecurity, Client, RequestOptions, SecretSource};

#[path = "../tests/vectors/keys.rs"]
mod keys;
use keys::{client_keys as keys, fake_keys, v, vectors};

const APPID: &str = "wx_bench";
const PATH: &str = "/wxa/msg_sec_check";

fn client(fake: &FakeWechat, keys: Option<ApiSecurity>) -> Client {
    let builder = Client::builder()
        .appid(APPID)
        .base_url(fake.url())
        .token_source(SecretSource::new(APPID, "s").base_url(fake.url()));
    match keys {
        Some(keys) => builder.api_security(keys),
        None => builder,
    }
    .build()
    .unwrap()
}

fn secured(c: &mut Criterion) {
    let body = json!({"content": "hello", "version": 2, "scene": 1, "openid": "o".repeat(28)});
    let fields = body.as_object().unwrap().clone();
    let keys = keys();
    let url = format!("https://api.weixin.qq.com{PATH}");
    let mut group = c.benchmark_group("api_security");
    group.bench_function("seal_encrypt_and_sign", |b| {
        b.iter(|| black_box(keys.seal(&url, APPID, 1_700_000_000, black_box(&fields))))
    });
    let vectors = vectors();
    let response = &vectors["response"];
    let ts = response["timestamp"].as_i64().unwrap();
    let ts_text = ts.to_string();
    let (cert_sn, signature) = (
        v("cert_sn"),
        response["signature"].as_str().unwrap().to_string(),
    );
    let lookup = |name: &'static str| match name {
        "Wechatmp-TimeStamp" => Some(ts_text.clone()),
        "Wechatmp-Serial" => Some(cert_sn.clone()),
        "Wechatmp-Signature" => Some(signature.clone()),
        "Wechatmp-Appid" => Some(vectors["appid"].as_str().unwrap().to_string()),
        _ => None,
    };
    let resp_body = response["body"].as_str().unwrap().as_bytes();
    let urlpath = vectors["urlpath"].as_str().unwrap();
    let appid = vectors["appid"].as_str().unwrap();
    keys.open(urlpath, appid, &lookup, resp_body, ts).unwrap();
    group.bench_function("open_verify_and_decrypt", |b| {
        b.iter(|| {
            black_box(
                keys.open(urlpath, appid, &lookup, black_box(resp_body), ts)
                    .unwrap(),
            )
        })
    });

    let fake = FakeWechat::start().unwrap();
    fake.register(APPID, "s");
    fake.secure_account(APPID, fake_keys());
    let plain = client(&fake, None);
    let secure = client(&fake, Some(keys.clone()));
    let call = |client: &Client| {
        client
            .request(RequestOptions::post(PATH).json(body.clone()))
            .unwrap()
    };
    call(&plain);
    call(&secure);
    group.bench_function("plain_call", |b| b.iter(|| black_box(call(&plain))));
    group.bench_function("secured_call", |b| b.iter(|| black_box(call(&secure))));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = secured
}
criterion_main!(benches);
