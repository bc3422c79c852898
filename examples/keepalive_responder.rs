//! The benches' keep-alive responder on a fixed port, so that `wrk` and the
//! benches (through `WECHAT_BENCH_ORIGIN`) measure the same server:
//!
//! ```text
//! cargo run --release --example keepalive_responder -- 127.0.0.1:8088 &
//! wrk -t1 -c1 -d10s 'http://127.0.0.1:8088/cgi-bin/get_api_domain_ip?access_token=T'
//! WECHAT_BENCH_ORIGIN=http://127.0.0.1:8088 cargo bench --bench core -- keepalive
//! ```

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8088".to_string());
    let port = common::start_responder(&addr);
    println!("keep-alive responder on 127.0.0.1:{port}; stop it with Ctrl-C");
    loop {
        std::thread::park();
    }
}
