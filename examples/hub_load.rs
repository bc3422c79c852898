//! Helpers for `benches/hub_load.sh`, which measures `wechat-hub` under
//! load next to nginx (see the script for the figures it prints):
//!
//! ```text
//! hub_load upstream                 a fake WeChat on 127.0.0.1; prints its
//!                                   URL, serves until killed
//! hub_load slow <N> <ADDR> <SECS>   N connections each sending a request
//!                                   head one byte a second (reconnecting
//!                                   when the hub closes one), for SECS
//! hub_load idle <N> <ADDR> <SECS>   N keep-alive connections, each after
//!                                   one GET /healthz, held for SECS
//! ```
//!
//! Nothing leaves this machine.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use weixin::testing::FakeWechat;

/// The demo account the script's hub config serves.
const APPID: &str = "wx_bench";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match arg(0) {
        "upstream" => upstream(),
        "slow" => slow(arg(1).parse()?, arg(2).parse()?, secs(arg(3))?),
        "idle" => idle(arg(1).parse()?, arg(2).parse()?, secs(arg(3))?),
        _ => {
            Err("usage: hub_load upstream | slow <N> <ADDR> <SECS> | idle <N> <ADDR> <SECS>".into())
        }
    }
}

fn secs(s: &str) -> Result<Duration, std::num::ParseIntError> {
    s.parse().map(Duration::from_secs)
}

/// Runs a fake WeChat until the process is killed.
fn upstream() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("WECHAT_SECRET").unwrap_or_else(|_| "bench-secret".into());
    let fake = FakeWechat::start()?;
    fake.register(APPID, &secret);
    println!("{}", fake.url());
    std::io::stdout().flush()?;
    loop {
        std::thread::park();
    }
}

/// Keeps `n` connections sending a request head one byte a second.
fn slow(
    n: usize,
    addr: SocketAddr,
    for_how_long: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    const HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: ";
    let end = Instant::now() + for_how_long;
    let mut conns: Vec<(Option<TcpStream>, usize)> = (0..n).map(|_| (None, 0)).collect();
    let (mut opened, mut closed_by_hub) = (0usize, 0usize);
    while Instant::now() < end {
        let round = Instant::now();
        for (conn, sent) in &mut conns {
            if conn.is_none() {
                *conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok();
                *sent = 0;
                opened += usize::from(conn.is_some());
            }
            let Some(stream) = conn else { continue };
            // Past the fixed head, the header value grows forever.
            let byte = HEAD.get(*sent).copied().unwrap_or(b'a');
            if stream.write_all(&[byte]).is_err() {
                *conn = None;
                closed_by_hub += 1;
            } else {
                *sent += 1;
            }
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(round.elapsed()));
    }
    println!("slow: {n} connections, {opened} opened, {closed_by_hub} closed by the hub");
    Ok(())
}

/// Opens `n` keep-alive connections, one request each, and holds them.
fn idle(n: usize, addr: SocketAddr, hold: Duration) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut held = Vec::with_capacity(n);
    let mut failed = 0usize;
    for _ in 0..n {
        match keep_alive(addr) {
            Ok(stream) => held.push(stream),
            Err(_) => failed += 1,
        }
    }
    println!(
        "idle: {} connections held ({failed} failed) after {:.1}s",
        held.len(),
        started.elapsed().as_secs_f64()
    );
    std::io::stdout().flush()?;
    std::thread::sleep(hold);
    // Still open? A kept connection answers one more request.
    let alive = held
        .iter_mut()
        .take(100)
        .map(request)
        .filter(Result::is_ok)
        .count();
    println!("idle: {alive} of the first 100 still answer after {hold:?}");
    Ok(())
}

fn keep_alive(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    request(&mut stream)?;
    Ok(stream)
}

/// One `GET /healthz` on a kept connection; the answer read whole.
fn request(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    // {"status":"ok"} is 15 bytes: the answer ends with it.
    while !answer.ends_with(b"{\"status\":\"ok\"}") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        answer.extend_from_slice(&buf[..n]);
    }
    Ok(())
}
