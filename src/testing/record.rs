//! What the fake servers received: every request, in order, for tests to
//! assert on.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use parking_lot::Mutex;
use serde_json::Value;

use super::server::Req;
use crate::error::redact_pairs;

/// The most requests a fake server keeps; older ones are dropped first, so
/// a long run (the chaos run's) holds bounded memory.
pub(crate) const RECORDED_REQUESTS: usize = 10_000;

/// A request as a fake server received it.
///
/// `Debug` masks the values of sensitive query parameters (`access_token`,
/// `secret`, ...) and prints the body's length only; the fields hold
/// everything as sent, for assertions.
#[derive(Clone)]
#[non_exhaustive]
pub struct Received {
    /// The method, upper case.
    pub method: String,
    /// The path, without its query.
    pub path: String,
    /// The decoded query pairs in order, token values included.
    pub query: Vec<(String, String)>,
    /// The headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: Vec<u8>,
    /// The body, if it was JSON.
    pub json: Option<Value>,
    /// When it arrived, before any hold or delay of the fake's: a test
    /// that times its own calls can tell which were in flight together.
    pub at: Instant,
}

impl Received {
    fn of(req: &Req) -> Received {
        Received {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
            json: req.json(),
            at: Instant::now(),
        }
    }

    /// The value of the first query parameter called `name`.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// let client = weixin::Client::builder()
    ///     .base_url(fake.url())
    ///     .build()?;
    /// let _ = client.request(weixin::RequestOptions::get("/sns/auth").query("openid", "o1"));
    /// assert_eq!(fake.received()[0].param("openid"), Some("o1"));
    /// assert_eq!(fake.received()[0].param("access_token"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the first header called `name` (ASCII case ignored).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &redact_pairs(&self.query))
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The requests one server received, the latest `RECORDED_REQUESTS`.
#[derive(Default)]
pub(crate) struct Recorder {
    requests: Mutex<VecDeque<Received>>,
}

impl Recorder {
    pub(crate) fn record(&self, req: &Req) {
        let received = Received::of(req);
        let mut requests = self.requests.lock();
        if requests.len() == RECORDED_REQUESTS {
            requests.pop_front();
        }
        requests.push_back(received);
    }

    /// Every request kept, oldest first.
    pub(crate) fn all(&self) -> Vec<Received> {
        self.requests.lock().iter().cloned().collect()
    }

    /// The requests to `path` kept, oldest first.
    pub(crate) fn to(&self, path: &str) -> Vec<Received> {
        self.requests
            .lock()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The latest request to `path`, if one is kept.
    pub(crate) fn last(&self, path: &str) -> Option<Received> {
        self.requests
            .lock()
            .iter()
            .rev()
            .find(|r| r.path == path)
            .cloned()
    }
}
