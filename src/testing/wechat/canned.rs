//! Canned answers: what a test makes `FakeWechat` answer on a path instead
//! of its own answer.

use serde_json::json;

use super::state::State;
use crate::testing::server::Resp;

/// An answer [`FakeWechat::answer`](super::FakeWechat::answer) gives on a
/// path instead of the fake's own: a JSON document or bytes with a content
/// type, for every call or for the next few only.
///
/// # Example
///
/// ```
/// use weixin::testing::Canned;
///
/// let followers = Canned::json(serde_json::json!({"total": 1, "count": 1}));
/// let once = Canned::error(45009, "reach max api daily quota limit").times(1);
/// let image = Canned::bytes("image/png", vec![0x89, b'P', b'N', b'G']);
/// assert_eq!(image.content_type(), "image/png");
/// assert_eq!(once.remaining(), Some(1));
/// assert_eq!(followers.remaining(), None, "answers every call");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canned {
    status: u16,
    content_type: String,
    body: Vec<u8>,
    times: Option<usize>,
}

impl Canned {
    /// Answers `value` as JSON, HTTP 200.
    pub fn json(value: serde_json::Value) -> Canned {
        Canned::bytes("application/json", value.to_string())
    }

    /// Answers WeChat's error document `{"errcode": .., "errmsg": ..}`,
    /// HTTP 200 (as WeChat does).
    pub fn error(errcode: i64, errmsg: &str) -> Canned {
        Canned::json(json!({"errcode": errcode, "errmsg": errmsg}))
    }

    /// Answers `body` with `content_type`, HTTP 200: a media file, a
    /// mini-program code image, a page that is not JSON.
    pub fn bytes(content_type: &str, body: impl Into<Vec<u8>>) -> Canned {
        Canned {
            status: 200,
            content_type: content_type.to_string(),
            body: body.into(),
            times: None,
        }
    }

    /// The HTTP status.
    ///
    /// Defaults to 200.
    pub fn status(mut self, status: u16) -> Canned {
        self.status = status;
        self
    }

    /// Answers the next `n` calls only; the fake's own answer (or the next
    /// canned one) follows.
    ///
    /// Defaults to every call.
    pub fn times(mut self, n: usize) -> Canned {
        self.times = Some(n);
        self
    }

    /// The content type it answers with.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// How many more calls it answers; `None` for every call.
    pub fn remaining(&self) -> Option<usize> {
        self.times
    }

    fn resp(&self) -> Resp {
        Resp::new(self.status, &self.content_type, self.body.clone())
    }
}

/// Queues `canned` for `path`; one that answers no call is dropped.
pub(super) fn push(st: &mut State, path: &str, canned: Canned) {
    if canned.times != Some(0) {
        st.canned
            .entry(path.to_string())
            .or_default()
            .push_back(canned);
    }
}

/// The answer queued for `path`, if any, counting it down.
pub(super) fn take(st: &mut State, path: &str) -> Option<Resp> {
    let queue = st.canned.get_mut(path)?;
    let front = queue.front_mut()?;
    let resp = front.resp();
    if let Some(left) = &mut front.times {
        *left -= 1;
        if *left == 0 {
            queue.pop_front();
        }
    }
    Some(resp)
}
