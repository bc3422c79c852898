//! What goes to stdout (answers, pretty or compact JSON) and stderr (notes,
//! each line prefixed `wechat: `).

use std::io::Write;

use crate::exit::{Failure, USAGE};

/// A line on stderr, prefixed so it is told apart from a pipe's output.
pub fn note(message: &str) {
    eprintln!("wechat: {message}");
}

/// WeChat's answer with its secrets masked ([`weixin::redact_json`]): a
/// member named like a credential (`access_token`, `ticket`,
/// `session_key`, ...) at any depth, a URL's `access_token`, a quoted
/// body's `secret` (`quota rid` answers with both). What the CLI prints or
/// writes of any answer goes through here; `token --show` alone prints one.
pub fn masked(answer: &serde_json::Value) -> serde_json::Value {
    weixin::redact_json(answer)
}

/// Prints WeChat's answer as JSON on stdout, its secrets masked.
pub fn print_answer(answer: &serde_json::Value, compact: bool) -> Result<(), Failure> {
    print_json(&masked(answer), compact)
}

/// `value` as JSON: indented, or on one line with `compact`.
pub fn json_text(value: &serde_json::Value, compact: bool) -> String {
    if compact {
        value.to_string()
    } else {
        // ok because a Value always serializes
        serde_json::to_string_pretty(value).expect("a json value serializes")
    }
}

/// Prints `value` as JSON on stdout.
pub fn print_json(value: &serde_json::Value, compact: bool) -> Result<(), Failure> {
    write_stdout(format!("{}\n", json_text(value, compact)).as_bytes())
}

/// Writes `bytes` to stdout. A closed pipe (`| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::new(USAGE, format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
