//! Every other account API: tickets, media upload and download, the
//! mini program's phone number, and the echo of any path the fake does not
//! know. A canned answer replaces any of them once the token passed.

use serde_json::{json, Value};

use super::canned;
use super::oauth::{find_code, use_code, BadCode};
use super::state::{err, Code, CodeKind, Shared, State};
use super::token::check_token;
use crate::testing::server::{Req, Resp};
use crate::token::unix_now;

pub(super) fn api(shared: &Shared, req: &Req) -> Resp {
    let mut st = shared.state.lock();
    let appid = match check_token(&st, req) {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    #[cfg(feature = "api-security")]
    if let Some(sec) = st.secured.get(&appid).cloned() {
        if super::secured::is_secured(req) {
            return secured(&mut st, &sec, req, &appid);
        }
    }
    answer(&mut st, req, &appid)
}

/// A secured request opened, answered as a plain one with the fields it
/// carried as its JSON body, and the answer sealed.
#[cfg(feature = "api-security")]
fn secured(st: &mut State, sec: &super::secured::FakeApiSecurity, req: &Req, appid: &str) -> Resp {
    use super::secured::{open_request, seal_answer};
    let now = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    let fields = match open_request(sec, req, appid, now) {
        Ok(fields) => fields,
        Err(refusal) => return refusal,
    };
    let fields = Value::Object(fields);
    st.secured_seen.push((req.path.clone(), fields.clone()));
    let mut plain = req.clone();
    plain.body = fields.to_string().into_bytes();
    let resp = answer(st, &plain, appid);
    seal_answer(sec, req, appid, now, resp, st.tamper.as_ref())
}

/// The answer to a plain request (or a secured one, opened).
fn answer(st: &mut State, req: &Req, appid: &str) -> Resp {
    let appid = appid.to_string();
    if st.busy {
        return err(-1, "system error");
    }
    if let Some(resp) = canned::take(st, &req.path) {
        return resp;
    }
    match req.path.as_str() {
        "/cgi-bin/ticket/getticket" => ticket(st, req, &appid),
        "/wxa/business/getuserphonenumber" => phone_number(st, req, &appid),
        "/cgi-bin/media/upload" => upload(st, req),
        "/cgi-bin/media/get" => match req.param("media_id").and_then(|id| st.media.get(id)) {
            Some((file_name, bytes)) => Resp::new(200, "image/jpeg", bytes.clone()).with_header(
                "Content-disposition",
                format!("attachment; filename=\"{file_name}\""),
            ),
            None => err(40007, "invalid media_id"),
        },
        _ => {
            let query: serde_json::Map<String, Value> = req
                .query
                .iter()
                .filter(|(k, _)| k != "access_token")
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            Resp::json(
                200,
                &json!({
                    "errcode": 0,
                    "errmsg": "ok",
                    "method": req.method,
                    "path": req.path,
                    "appid": appid,
                    "query": query,
                    "json": req.json(),
                }),
            )
        }
    }
}

fn ticket(st: &mut State, req: &Req, appid: &str) -> Resp {
    let ty = req.param("type").unwrap_or("");
    if ty != "jsapi" && ty != "wx_card" {
        return err(40097, "invalid args");
    }
    let now = unix_now();
    let key = (appid.to_string(), ty.to_string());
    let lifetime = st.lifetime;
    let (ticket, expires_at) = match st.tickets.get(&key) {
        Some((t, at)) if *at > now => (t.clone(), *at),
        _ => {
            let t = format!("TICKET_{ty}_{appid}_{now}");
            st.tickets.insert(key, (t.clone(), now + lifetime));
            (t, now + lifetime)
        }
    };
    Resp::json(
        200,
        &json!({"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": expires_at - now}),
    )
}

/// The phone number behind the phone-number button's code. WeChat answers
/// a reused code 40029, like an unknown one.
fn phone_number(st: &mut State, req: &Req, appid: &str) -> Resp {
    if req.method != "POST" {
        return err(43002, "require POST method");
    }
    let body = req.json().unwrap_or(Value::Null);
    let code = body.get("code").and_then(Value::as_str);
    let number = match find_code(st, appid, code, |k| matches!(k, CodeKind::Phone { .. })) {
        Ok(Code {
            kind: CodeKind::Phone { number },
            ..
        }) => number,
        Err(BadCode::Missing) => return BadCode::Missing.resp(),
        _ => return BadCode::Unknown.resp(),
    };
    use_code(st, code);
    Resp::json(
        200,
        &json!({
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": number,
                "purePhoneNumber": number,
                "countryCode": "86",
                "watermark": {"timestamp": unix_now(), "appid": appid},
            },
        }),
    )
}

/// Reads the `media` part of a multipart body.
fn upload(st: &mut State, req: &Req) -> Resp {
    let Some(boundary) = req
        .header_value("content-type")
        .and_then(|ct| ct.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_string())
    else {
        return err(41005, "media data missing");
    };
    let delimiter = format!("--{boundary}");
    let body = &req.body;
    let mut found = None;
    for part in split_bytes(body, delimiter.as_bytes()) {
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]);
        if !head.contains("name=\"media\"") {
            continue;
        }
        let Some(file_name) = head
            .split("filename=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            return err(41005, "media data missing: no filename");
        };
        let mut data = &part[split + 4..];
        if data.ends_with(b"\r\n") {
            data = &data[..data.len() - 2];
        }
        found = Some((file_name.to_string(), data.to_vec()));
    }
    let Some((file_name, bytes)) = found else {
        return err(41005, "media data missing");
    };
    let media_id = format!(
        "MEDIA_{}",
        &sha1_smol::Sha1::from(&bytes).digest().to_string()[..16]
    );
    st.media.insert(media_id.clone(), (file_name, bytes));
    Resp::json(
        200,
        &json!({"type": req.param("type").unwrap_or("image"), "media_id": media_id, "created_at": unix_now()}),
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split_bytes<'a>(mut haystack: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(i) = find(haystack, delimiter) {
        parts.push(&haystack[..i]);
        haystack = &haystack[i + delimiter.len()..];
    }
    parts.push(haystack);
    parts
}
