//! `wechat batch` throughput next to the library's own loop, in the same
//! run, against a keep-alive loopback server: calls per second with 1, 2
//! and 8 threads. The command line should add little beyond reading,
//! parsing and writing JSON lines (and starting a process).
//!
//! The server runs in a process of its own (this bench binary, started
//! again), so that the library's loop crosses a process boundary as the
//! command line does.
//!
//! `cargo bench --features cli --bench batch`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use weixin::{Client, SecretSource};

/// Calls per batch: one `wechat batch` run, or one pass of the loop.
const CALLS: usize = 4000;
const THREADS: [usize; 3] = [1, 2, 8];

/// Set in the environment of the server process.
const SERVER_ENV: &str = "WECHAT_BENCH_KEEP_ALIVE_SERVER";

/// A minimal HTTP/1.1 server that keeps connections alive: a token on
/// `/cgi-bin/token`, `{"errcode":0,"errmsg":"ok"}` on any other path. It
/// prints its port, then serves until its stdin closes (the bench ended).
fn keep_alive_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// The server process, killed when dropped, and its URL.
struct Server {
    child: std::process::Child,
    url: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(SERVER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        Server {
            child,
            url: format!("http://127.0.0.1:{}", port.trim()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let token = line.starts_with("GET /cgi-bin/token") || line.contains(" /cgi-bin/token?");
        let mut length = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer: &[u8] = if token {
            br#"{"access_token":"BENCH_TOKEN_0123456789","expires_in":7200}"#
        } else {
            br#"{"errcode":0,"errmsg":"ok"}"#
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(answer))
            .is_err()
        {
            return;
        }
    }
}

/// The library's loop: `CALLS` calls on `threads` threads sharing a client.
fn library_loop(client: &Client, threads: usize) {
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..CALLS / threads {
                    client.request("/cgi-bin/bench").unwrap();
                }
            });
        }
    });
}

/// One `wechat batch` run of the input on `threads` threads.
fn cli_batch(server: &str, input: &Path, output: &Path, threads: usize) {
    // A fresh output each run, or the rerun would skip every id.
    let _ = std::fs::remove_file(output);
    let status = Command::new(env!("CARGO_BIN_EXE_wechat"))
        .env_clear()
        .env("WECHAT_APPID", "wx_bench")
        .env("WECHAT_SECRET", "bench-secret")
        .env("WECHAT_BASE_URL", server)
        .args([
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ])
        .args(["-j", &threads.to_string(), "--progress-every", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn input_file() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wechat-bench-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("calls.jsonl");
    let lines: String = (0..CALLS)
        .map(|id| {
            format!(
                "{{\"id\": {id}, \"path\": \"/cgi-bin/bench\", \"query\": {{\"n\": \"{id}\"}}}}\n"
            )
        })
        .collect();
    std::fs::write(&path, lines).unwrap();
    path
}

fn batch(c: &mut Criterion) {
    let server = Server::start();
    let server = server.url.as_str();
    let (scheme_host, port) = server.rsplit_once(':').unwrap();
    let client = Client::builder()
        .appid("wx_bench")
        .scheme("http")
        .host(scheme_host.trim_start_matches("http://"))
        .port(port.parse().unwrap())
        .token_source(SecretSource::new("wx_bench", "bench-secret").base_url(server))
        .build()
        .unwrap();
    client.request("/cgi-bin/bench").unwrap();
    let input = input_file();
    let output = input.with_file_name("results.jsonl");

    let mut group = c.benchmark_group("batch");
    group
        .throughput(Throughput::Elements(CALLS as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    for threads in THREADS {
        group.bench_function(format!("library_loop/{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    library_loop(&client, threads);
                }
                start.elapsed()
            })
        });
        group.bench_function(format!("wechat_batch/{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    cli_batch(server, &input, &output, threads);
                }
                start.elapsed()
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(input.parent().unwrap());
}

criterion_group!(benches, batch);

fn main() {
    if std::env::var_os(SERVER_ENV).is_some() {
        return keep_alive_server();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
