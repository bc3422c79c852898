//! How much of an answer is read, and how a lost connection is told apart
//! from one that never came up. Most servers here are raw sockets on
//! 127.0.0.1 so that they can misbehave exactly.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use weixin::testing::StubServer;
use weixin::{
    Client, Error, ErrorKind, HubSource, RequestOptions, SecretSource, TokenKey, TransportKind,
};

use crate::common::{self, APPID, SECRET};

/// The size of the oversized answers: 16 times the small cap, where a token
/// or hub answer is under 1 KiB by protocol.
const ONE_MIB: usize = 1024 * 1024;

/// Accepts one connection, reads the request head and hands the stream to
/// `answer`. Returns the server's `http://127.0.0.1:port` and its thread.
fn serve_one<T: Send + 'static>(
    answer: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (String, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // Only a guard against a hung test: every test ends the exchange
        // itself long before this.
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).unwrap(), 1, "request head cut short");
            head.push(byte[0]);
        }
        answer(stream)
    });
    (url, thread)
}

/// Sends the first 128 KiB (twice the small cap) of a 1 MiB JSON answer,
/// holds back the rest and waits for the client to hang up. A client that
/// read past the cap would wait for the rest until its timeout. Returns
/// whether the client hung up.
fn send_part_of_a_big_answer(mut stream: TcpStream, head: &str) -> bool {
    let mut json =
        br#"{"access_token":"T","expires_in":7200,"timestamp":1700000000,"pad":""#.to_vec();
    json.resize(ONE_MIB - 2, b'x');
    json.extend_from_slice(b"\"}");
    let head = head.replace("{len}", &json.len().to_string());
    // ok because the client may hang up before taking all of it
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&json[..128 * 1024]));
    // End of stream or a reset is the client hanging up; a timeout is the
    // guard in `serve_one` going off.
    match stream.read_to_end(&mut Vec::new()) {
        Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn client_with(source: impl weixin::TokenSource + 'static) -> Client {
    Client::builder()
        .appid(APPID)
        .timeout(Duration::from_secs(10))
        .token_source(source)
        .build()
        .unwrap()
}

fn token_error(source: impl weixin::TokenSource + 'static) -> Error {
    client_with(source)
        .token(&TokenKey::access_token(APPID))
        .unwrap_err()
}

#[test]
fn a_token_answer_over_the_small_cap_is_refused_unread() {
    let (url, server) = serve_one(|stream| {
        send_part_of_a_big_answer(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n",
        )
    });
    let err = token_error(SecretSource::new(APPID, SECRET).base_url(url.as_str()));
    assert_eq!(
        err.kind(),
        &ErrorKind::Decode {
            what: format!("answer from {url}/cgi-bin/token: larger than the 64 KiB limit")
        },
        "{err:?}"
    );
    assert!(server.join().unwrap(), "the client kept the connection");
}

#[test]
fn a_hub_answer_over_the_small_cap_is_refused_unread() {
    // No length: the body runs until the server closes, which it never
    // does first.
    let (url, server) = serve_one(|stream| {
        send_part_of_a_big_answer(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        )
    });
    let err = token_error(HubSource::new(url.as_str()).unwrap());
    assert_eq!(
        err.kind(),
        &ErrorKind::Decode {
            what: format!("answer from {url}/client/access_token: larger than the 64 KiB limit")
        },
        "{err:?}"
    );
    assert!(server.join().unwrap(), "the client kept the connection");
}

#[test]
fn a_media_download_of_one_mib_is_read_whole() {
    let fake = common::fake();
    let bytes: Vec<u8> = (0..ONE_MIB).map(|i| (i % 251) as u8).collect();
    let media = StubServer::start(200, "image/jpeg", bytes.clone()).unwrap();
    let resp = common::direct(&fake)
        .request(
            RequestOptions::get(format!("{}/cgi-bin/media/get", media.url()))
                .query("media_id", "m1"),
        )
        .unwrap();
    assert_eq!(resp.bytes().len(), ONE_MIB);
    // Not assert_eq: a failure would print two megabytes.
    assert!(resp.bytes() == &bytes[..]);
    assert_eq!(media.requests(), 1);
}

/// What a token fetch from a [`SecretSource`] at `url` failed with says
/// first.
fn fetching(url: &str) -> String {
    format!("could not fetch the access_token of {APPID} from the direct source: request to {url}/cgi-bin/token")
}

fn assert_reset(err: &Error, url: &str, cause: &str) {
    assert_eq!(
        err.kind(),
        &ErrorKind::Transport {
            kind: TransportKind::Reset,
            url: format!("{url}/cgi-bin/token"),
        },
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("{} lost the connection: {cause}", fetching(url))
    );
}

#[test]
fn a_body_cut_short_is_a_reset() {
    let (url, server) = serve_one(|mut stream| {
        stream
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"access_token\":\"",
            )
            .unwrap();
    });
    let err = token_error(SecretSource::new(APPID, SECRET).base_url(url.as_str()));
    server.join().unwrap();
    assert_reset(&err, &url, "unexpected end of file");
}

#[test]
fn a_head_cut_short_is_a_reset() {
    let (url, server) = serve_one(|mut stream| {
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap();
    });
    let err = token_error(SecretSource::new(APPID, SECRET).base_url(url.as_str()));
    server.join().unwrap();
    assert_reset(&err, &url, "unexpected end of file");
}

#[test]
fn a_reset_from_the_server_is_a_reset() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        // Wait for the request, then close with it unread: the kernel
        // answers with RST instead of FIN.
        stream.peek(&mut [0u8; 1]).unwrap();
    });
    let err = token_error(SecretSource::new(APPID, SECRET).base_url(url.as_str()));
    server.join().unwrap();
    assert_reset(&err, &url, "connection reset");
}

#[test]
fn a_refused_connection_is_a_connect_error() {
    // Port 1 (tcpmux) is privileged and unused: nothing listens there.
    let url = "http://127.0.0.1:1";
    let err = token_error(SecretSource::new(APPID, SECRET).base_url(url));
    assert_eq!(
        err.kind(),
        &ErrorKind::Transport {
            kind: TransportKind::Connect,
            url: format!("{url}/cgi-bin/token"),
        },
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("{} could not connect: connection refused", fetching(url))
    );
}

#[test]
fn a_connect_that_hangs_is_a_timeout_after_the_connect_timeout() {
    // TEST-NET-1 (RFC 5737) is never assigned: a SYN there is dropped, or
    // waits seconds for an ARP answer that never comes, so the connect
    // timeout ends the wait. (10.255.255.1 is no good: some sandboxes'
    // gateways answer for any routed address.)
    let url = "http://192.0.2.254";
    let client = Client::builder()
        .connect_timeout(Duration::from_millis(200))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = client
        .request(RequestOptions::get(format!("{url}/sns/auth")))
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        err.kind(),
        &ErrorKind::Transport {
            kind: TransportKind::Timeout,
            url: format!("{url}/sns/auth"),
        },
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "GET /sns/auth: request to {url}/sns/auth timed out: the connect timeout of 200ms was reached"
        )
    );
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(2),
        "{took:?}"
    );
}
