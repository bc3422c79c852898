//! One client connection: hyper's HTTP/1.1 over it, and the deadlines that
//! keep a slow or idle client from holding it forever.
//!
//! hyper's own header-read timeout starts as soon as it waits for a
//! request, so on a keep-alive connection it would also be the idle
//! timeout. The hub wants a short deadline for a request head that has
//! begun to arrive and a long one for a connection that is quietly kept
//! for the next request, so the connection keeps its own [`Activity`] and
//! a watchdog that checks it.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::respond::respond;
use super::{Open, Shared};

/// The largest request head (request line and headers) and the most a
/// connection buffers; hyper answers 431 past it.
pub(super) const MAX_HEAD: usize = 16 * 1024;

/// What a connection is doing, for its deadlines: a phase and when it
/// began, in milliseconds since the server started, packed in one atomic
/// (the reader and the service run in the same task, but must be `Send`).
pub(super) struct Activity {
    state: AtomicU64,
    base: Instant,
}

/// Waiting for the next request on a kept-alive connection.
const IDLE: u64 = 0;
/// A request head has begun to arrive (or the connection is new).
const HEAD: u64 = 1;
/// A request is being answered: its own deadlines apply (the body's, the
/// handler's upstream timeouts).
const BUSY: u64 = 2;

impl Activity {
    fn new(base: Instant) -> Activity {
        let activity = Activity {
            state: AtomicU64::new(0),
            base,
        };
        // A new connection must send its first head within the head deadline.
        activity.set(HEAD);
        activity
    }

    fn set(&self, phase: u64) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.state.store(ms << 2 | phase, Ordering::Relaxed);
    }

    fn get(&self) -> (u64, Instant) {
        let state = self.state.load(Ordering::Relaxed);
        (state & 3, self.base + Duration::from_millis(state >> 2))
    }

    /// Bytes arrived: an idle connection is now receiving a head.
    fn received(&self) {
        if self.state.load(Ordering::Relaxed) & 3 == IDLE {
            self.set(HEAD);
        }
    }

    /// A request head is complete and being answered.
    pub(super) fn busy(&self) {
        self.set(BUSY);
    }

    /// The answer is ready; the connection waits for the next request.
    pub(super) fn idle(&self) {
        self.set(IDLE);
    }

    /// When the watchdog looks next, or `None` if the deadline has passed.
    /// A head may begin at any moment while idle or busy, so the watchdog
    /// looks at least every head deadline: a slow head is cut off within
    /// twice the head deadline at worst.
    fn next_look(&self, shared: &Shared, now: Instant) -> Option<Instant> {
        let (phase, since) = self.get();
        let head = shared.settings.header_read_timeout;
        let deadline = match phase {
            HEAD => since + head,
            IDLE => (since + shared.settings.idle_timeout).min(now + head),
            _ => now + head,
        };
        let expired = match phase {
            HEAD => now >= since + head,
            IDLE => now >= since + shared.settings.idle_timeout,
            _ => false,
        };
        (!expired).then_some(deadline.max(now + Duration::from_millis(10)))
    }
}

/// The socket, telling [`Activity`] when bytes arrive (TLS records
/// included: a handshake or a head under way is the same deadline).
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Serves `stream` until the client closes it, a deadline passes, or the
/// server stops (then the request in progress is finished first). With
/// TLS, the handshake comes first, within the head deadline.
pub(super) async fn serve(open: Open, stream: TcpStream, stop: watch::Receiver<bool>) {
    // ok because a socket that refuses the option is served without it
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new(open.shared.started));
    let watched = Watched {
        stream,
        activity: activity.clone(),
    };
    let Some(tls) = open.shared.tls.clone() else {
        return drive(open, watched, activity, stop).await;
    };
    let deadline = open.shared.settings.header_read_timeout;
    // ok because a failed or slow handshake is the client's: dropping
    // the socket is the whole answer (rustls has sent its alert)
    if let Ok(Ok(stream)) = tokio::time::timeout(deadline, tls.acceptor().accept(watched)).await {
        drive(open, stream, activity, stop).await;
    }
}

/// hyper's HTTP/1.1 over `io`, with the head and idle deadlines.
async fn drive<I>(open: Open, io: I, activity: Arc<Activity>, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = &open.shared;
    let io = TokioIo::new(io);
    let service = {
        let (shared, activity) = (shared.clone(), activity.clone());
        service_fn(move |req| respond(shared.clone(), activity.clone(), req))
    };
    let conn = http1::Builder::new()
        .keep_alive(true)
        // A client may shut down its side once it has sent its request.
        .half_close(true)
        .max_buf_size(MAX_HEAD)
        // The watchdog below keeps the head and idle deadlines.
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let now = Instant::now();
        let Some(look) = activity.next_look(shared, now) else {
            // Dropping the connection closes the socket.
            return;
        };
        tokio::select! {
            // ok because an error here is the client's (a malformed
            // request hyper already answered, a reset): nothing to report
            _ = conn.as_mut() => return,
            () = tokio::time::sleep_until(look.into()) => {}
            changed = stop.changed(), if !stopping => {
                // A closed channel means the server is gone: stop too.
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Answers a connection over the cap with 503 and closes it at once,
/// without reading: refusing quickly beats queueing. Over TLS it is only
/// closed: a 503 in clear text would reach the client as a broken
/// handshake, and a handshake is the work the cap saves.
pub(super) fn refuse(stream: TcpStream, tls: bool) {
    if tls {
        return;
    }
    // ok because a client that cannot take the answer sees the close
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_keep_when_they_began() {
        let base = Instant::now();
        let activity = Activity::new(base);
        assert_eq!(activity.get().0, HEAD);
        activity.busy();
        activity.received();
        assert_eq!(activity.get().0, BUSY, "body bytes do not start a head");
        activity.idle();
        assert_eq!(activity.get().0, IDLE);
        activity.received();
        let (phase, since) = activity.get();
        assert_eq!(phase, HEAD);
        assert!(since >= base && since <= Instant::now());
    }
}
