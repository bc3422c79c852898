//! Step 3-5 of a secured call (feature `api-security`): the body sealed and
//! signed in this process, sent through the same door, the answer verified
//! and decrypted before the usual parse, so a decrypted errcode (40001, -1)
//! is retried as any other.

use super::Core;
use crate::api_security::{request_fields, ApiSecurity, HEADER_SIGNATURE};
use crate::error::{ApiSecurityErrorKind, Error, Result};
use crate::http::{with_query, Incoming, OutBody, Outgoing, LARGE_BODY_CAP};
use crate::options::{Body, Method, RequestOptions};
use crate::response::{self, Response};

/// Seals `options` for `appid` at the client's clock's time, sends it to `url` with only the token in
/// the query (the other pairs go into the sealed body, as WeChat says), and
/// opens the answer, its skew measured by the same clock.
///
/// An answer WeChat did not sign is accepted only as the error it carries
/// (WeChat refuses a bad signature, 40234, in plain JSON); an unsigned
/// answer that is not an error is refused.
pub(super) fn send<'a>(
    core: &Core,
    keys: &ApiSecurity,
    options: &RequestOptions,
    url: &str,
    appid: &str,
    query: impl Iterator<Item = (&'a str, &'a str)>,
    token_name: &str,
) -> Result<Response> {
    let (token, rest): (Vec<_>, Vec<_>) = query.partition(|(name, _)| *name == token_name);
    let body = match &options.body {
        Body::Json(value) => Some(value),
        _ => None,
    };
    let fields = request_fields(body, rest.into_iter())?;
    let sealed = keys.seal(url, appid, to_i64(core.clock.unix_secs()), &fields);
    let incoming = core.http.send(Outgoing {
        // The data travels in the body, so the call is a POST whatever the
        // options said.
        method: Method::Post,
        url: with_query(url, token),
        headers: sealed.headers().to_vec(),
        body: OutBody::Json(sealed.body().as_bytes().to_vec()),
        timeout: options.timeout,
        max_body: LARGE_BODY_CAP,
    })?;
    if !incoming.headers.contains_key(HEADER_SIGNATURE) {
        response::parse(incoming)?;
        return Err(Error::api_security(ApiSecurityErrorKind::MissingHeader(
            HEADER_SIGNATURE,
        )));
    }
    let header = |name: &'static str| {
        incoming
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let opened = keys.open(
        url,
        appid,
        &header,
        &incoming.body,
        to_i64(core.clock.unix_secs()),
    )?;
    response::parse(Incoming {
        content_type: Some("application/json".into()),
        body: opened.to_string().into_bytes(),
        ..incoming
    })
}

fn to_i64(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX)
}
