//! One line of a batch: the call it asks for, and the result line written
//! for it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use weixin::{Method, RequestOptions, Response};

use crate::output::masked;

/// A line of input, as written: `{"id", "method", "path", "query", "body"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: Value,
    method: Option<String>,
    path: String,
    #[serde(default)]
    query: Map<String, Value>,
    body: Option<Value>,
}

/// A call to make.
pub struct Call {
    /// Its line in the input, counting from 1.
    pub line: u64,
    /// Its id as given.
    pub id: Value,
    pub options: RequestOptions,
}

/// The key an id is known by across runs: its JSON text (`1` and `"1"`
/// are two ids).
pub fn id_key(id: &Value) -> String {
    id.to_string()
}

/// Reads line `line` of the input. The method defaults to POST when there
/// is a body, GET otherwise.
pub fn parse(line: u64, text: &[u8]) -> Result<Call, String> {
    let parsed: Line = serde_json::from_slice(text).map_err(|e| {
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        match e.classify() {
            serde_json::error::Category::Data => format!("not a call: {message}"),
            _ => format!("not JSON: {message} at column {}", e.column()),
        }
    })?;
    if !(parsed.id.is_string() || parsed.id.is_number()) {
        return Err("the id must be a string or a number".into());
    }
    let method = match (&parsed.method, &parsed.body) {
        (Some(method), _) => method
            .parse::<Method>()
            .map_err(|e: weixin::Error| e.to_string())?,
        (None, Some(_)) => Method::Post,
        (None, None) => Method::Get,
    };
    let mut options = RequestOptions::new(method, parsed.path);
    for (name, value) in parsed.query {
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(format!("query {name}: not a string, number or boolean")),
        };
        options = options.query(name, value);
    }
    if let Some(body) = parsed.body {
        options = options.json(body);
    }
    Ok(Call {
        line,
        id: parsed.id,
        options,
    })
}

#[derive(Serialize)]
struct Answered<'a> {
    id: &'a Value,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<usize>,
}

#[derive(Serialize)]
struct Failed<'a> {
    id: &'a Value,
    status: &'static str,
    errcode: Option<i64>,
    error: String,
}

/// `{"id", "status": "ok", "answer"}` for a JSON answer, `{"id", "status":
/// "ok", "content_type", "bytes"}` for a binary one; with its newline.
pub fn ok_line(id: &Value, response: &Response) -> Vec<u8> {
    let answer = response.json().ok();
    let line = Answered {
        id,
        status: "ok",
        answer: answer.map(masked),
        content_type: answer
            .is_none()
            .then(|| response.content_type().unwrap_or("")),
        bytes: answer.is_none().then(|| response.bytes().len()),
    };
    with_newline(&line)
}

/// `{"id", "status": "error", "errcode", "error"}`, with its newline. The
/// error's text is the SDK's, which never holds a secret or a token.
pub fn error_line(id: &Value, err: &weixin::Error) -> Vec<u8> {
    with_newline(&Failed {
        id,
        status: "error",
        errcode: err.errcode(),
        error: err.to_string(),
    })
}

fn with_newline(line: &impl Serialize) -> Vec<u8> {
    // ok because these structs of JSON values always serialize
    let mut bytes = serde_json::to_vec(line).expect("a result line serializes");
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_calls() {
        let call = parse(
            1,
            br#"{"id": 7, "path": "/cgi-bin/x", "query": {"a": "b", "n": 2}}"#,
        )
        .unwrap();
        assert_eq!(call.options.method(), Method::Get);
        assert_eq!(call.id, 7);
        let call = parse(2, br#"{"id": "x", "path": "/p", "body": {}}"#).unwrap();
        assert_eq!(call.options.method(), Method::Post);
        assert_eq!(
            parse(3, b"{oops").err().unwrap(),
            "not JSON: key must be a string at column 2"
        );
        assert_eq!(
            parse(4, br#"{"id": 1, "path": "/p", "qeury": {}}"#).err().unwrap(),
            "not a call: unknown field `qeury`, expected one of `id`, `method`, `path`, `query`, `body`"
        );
        assert!(parse(5, br#"{"id": null, "path": "/p"}"#).is_err());
        assert!(parse(6, br#"{"id": 1, "path": "/p", "method": "FETCH"}"#).is_err());
    }
}
