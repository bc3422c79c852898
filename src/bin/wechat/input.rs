//! What a command reads besides its flags: `@FILE` / `@-` arguments,
//! bodies from a file or stdin, `NAME=VALUE` pairs and query strings.

use std::io::Read;
use std::path::Path;

use crate::exit::Failure;

/// The most a body read from a file or stdin may hold: WeChat's largest
/// uploads (videos) are 10 MiB, and a push is a few KiB.
const MAX_INPUT: u64 = 64 << 20;

/// The bytes of `path`, or of stdin for `-`, at most 64 MiB.
pub fn read_file_or_stdin(path: &Path) -> Result<Vec<u8>, Failure> {
    let shown = path.display();
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| Failure::usage(format!("cannot read {shown}: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(Failure::usage(format!("{shown} is larger than 64 MiB")));
    }
    Ok(bytes)
}

/// The text of `path` (or stdin for `-`).
pub fn read_text(path: &Path) -> Result<String, Failure> {
    String::from_utf8(read_file_or_stdin(path)?)
        .map_err(|_| Failure::usage(format!("{} is not UTF-8", path.display())))
}

/// An argument that is the value itself, `@FILE` for a file's content, or
/// `@-` for stdin's.
pub fn value_or_file(arg: &str) -> Result<String, Failure> {
    match arg.strip_prefix('@') {
        Some(path) => read_text(Path::new(path)),
        None => Ok(arg.to_string()),
    }
}

/// `NAME=VALUE`, for clap.
pub fn pair(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("{arg:?} is not NAME=VALUE")),
    }
}

/// The decoded pairs of a query string, or of a URL's query.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    let query = query.split_once('?').map_or(query, |(_, q)| q);
    let query = query.split('#').next().unwrap_or(query);
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            query_pairs("https://h/cb?signature=a%2Bb&nonce=x+y&flag#frag"),
            [
                ("signature".to_string(), "a+b".to_string()),
                ("nonce".to_string(), "x y".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
        assert!(query_pairs("").is_empty());
    }

    #[test]
    fn pairs_need_a_name() {
        assert_eq!(pair("a=b=c").unwrap(), ("a".to_string(), "b=c".to_string()));
        assert!(pair("=x").is_err());
        assert!(pair("novalue").is_err());
    }
}
