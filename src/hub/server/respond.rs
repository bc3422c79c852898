//! One request: hyper's request made into a [`HubRequest`] (its body read
//! within a deadline and a cap), answered by the handler where blocking
//! is allowed, counted, logged, and made into hyper's response.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderName, HeaderValue, CONNECTION};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};

use super::connection::Activity;
use super::Shared;
use crate::hub::handler::{endpoint, METRICS_PATH};

use crate::hub::{HubError, HubRequest, HubResponse, MAX_BODY};

/// Answers `req`; never fails (every failure is an answer).
pub(super) async fn respond(
    shared: Arc<Shared>,
    activity: Arc<Activity>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    activity.busy();
    let started = Instant::now();
    let (head, body) = req.into_parts();
    let endpoint = endpoint(head.uri.path());
    // The path only: queries carry appids and tokens.
    let line = shared
        .settings
        .log
        .then(|| format!("{} {}", head.method, head.uri.path()));
    let (resp, close) = match read(&shared, head, body).await {
        Ok(req) => (answer(&shared, req).await, false),
        // The rest of the request is unread: the connection cannot carry
        // another one.
        Err(e) => (e.into_response(false), true),
    };
    let elapsed = started.elapsed();
    shared.metrics.request(endpoint, resp.status, elapsed);
    // Logged before answering, so that a client that has its answer finds
    // the line written.
    if let Some(line) = line {
        eprintln!(
            "{line} {} {:.1}ms",
            resp.status,
            elapsed.as_secs_f64() * 1000.0
        );
    }
    activity.idle();
    Ok(into_hyper(resp, close))
}

/// The request as the handler takes it, its body read whole.
async fn read(shared: &Shared, head: Parts, body: Incoming) -> Result<HubRequest, HubError> {
    let target = head.uri.path_and_query().map_or("/", |t| t.as_str());
    if !target.starts_with('/') {
        return Err(HubError::invalid("malformed request target"));
    }
    let mut out = HubRequest::new(head.method.as_str(), target);
    for (name, value) in &head.headers {
        let value = value
            .to_str()
            .map_err(|_| HubError::invalid("a header value is not visible ASCII"))?;
        out.headers
            .push((name.as_str().to_string(), value.to_string()));
    }
    // A declared length over the cap is refused before reading any of it.
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(too_large());
    }
    let reading = Limited::new(body, MAX_BODY).collect();
    out.body = match tokio::time::timeout(shared.settings.body_timeout, reading).await {
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Ok(Err(_)) => return Err(HubError::invalid("the body could not be read")),
        Err(_) => {
            return Err(HubError::new(
                408,
                "invalid_request",
                "the body did not arrive in time",
            ))
        }
    };
    Ok(out)
}

fn too_large() -> HubError {
    HubError::new(413, "invalid_request", "the body is too large")
}

/// The handler's answer: on the spot when it needs no I/O (a cached token
/// read, a health check, a refused request), else on the blocking pool,
/// at most `workers` at once. A metrics scrape is among the latter: it
/// reads the used-up quotas from the store.
async fn answer(shared: &Arc<Shared>, req: HubRequest) -> HubResponse {
    let handler = &shared.handler;
    let metrics = req.path == METRICS_PATH;
    if metrics {
        match (handler.authorize(&req), req.method.as_str()) {
            (Err(e), _) => return handler.error_response(e),
            (Ok(()), "GET" | "HEAD") => {}
            (Ok(()), method) => {
                return handler.error_response(HubError::method_not_allowed(
                    method,
                    METRICS_PATH,
                    "GET, HEAD",
                ))
            }
        }
    } else if let Some(resp) = handler.handle_at_once(&req) {
        return resp;
    }
    // The semaphore is never closed; the else branch is for form's sake.
    let Ok(permit) = shared.workers.clone().acquire_owned().await else {
        return HubError::new(503, "hub_error", "the hub is stopping").into_response(false);
    };
    let shared = shared.clone();
    let blocking = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        if metrics {
            shared.metrics.encode()
        } else {
            shared.handler.handle(&req)
        }
    });
    blocking.await.unwrap_or_else(|_| {
        // The handler panicked: a bug, answered rather than hung up on.
        HubError::new(500, "hub_error", "the handler failed").into_response(false)
    })
}

fn into_hyper(resp: HubResponse, close: bool) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(Bytes::from(resp.body)));
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (name, value) in resp.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    if close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    out
}
