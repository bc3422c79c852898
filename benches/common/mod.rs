//! What the benches share: a keep-alive HTTP/1.1 responder on 127.0.0.1
//! that answers every request with one static JSON body, as WeChat's
//! `/cgi-bin/get_api_domain_ip` does (the crate's fake closes every
//! connection, so a TCP handshake per call would hide the client's own
//! cost), and the origin a bench talks to.
//!
//! `WECHAT_BENCH_ORIGIN=http://127.0.0.1:8080` points the benches at a
//! server already running instead (nginx, or
//! `cargo run --release --example keepalive_responder`), so that `wrk -t1
//! -c1` and the benches measure the very same server.

#![allow(dead_code)] // ok because each bench uses part of this module

pub mod authorizers;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

/// The body every request gets.
pub const BODY: &str = r#"{"ip_list":["101.226.103.0/25","101.226.233.128/25","58.247.206.128/25","182.254.11.0/24"]}"#;

/// Starts the responder on `addr` (`127.0.0.1:0` for any free port) on a
/// thread of its own, one thread per connection. Returns its port.
pub fn start_responder(addr: &str) -> u16 {
    let listener = TcpListener::bind(addr).expect("bind the responder");
    let port = listener.local_addr().expect("responder address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    port
}

/// Answers requests on one connection until the client closes it.
fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json; encoding=utf-8\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        // The request head: lines up to an empty one.
        let mut content_length = 0usize;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        // The request body, if any, is read and dropped.
        let mut left = content_length;
        while left > 0 {
            let n = match reader.fill_buf() {
                Ok([]) | Err(_) => return,
                Ok(buf) => buf.len().min(left),
            };
            reader.consume(n);
            left -= n;
        }
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The origin the benches call: `WECHAT_BENCH_ORIGIN`, or a responder
/// started in this process.
pub fn origin() -> (String, u16) {
    match std::env::var("WECHAT_BENCH_ORIGIN") {
        Ok(origin) => {
            let port = origin
                .rsplit(':')
                .next()
                .and_then(|p| p.trim_end_matches('/').parse().ok())
                .expect("WECHAT_BENCH_ORIGIN is http://127.0.0.1:PORT");
            (origin.trim_end_matches('/').to_string(), port)
        }
        Err(_) => {
            let port = start_responder("127.0.0.1:0");
            (format!("http://127.0.0.1:{port}"), port)
        }
    }
}
