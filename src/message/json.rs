//! The one JSON reader for pushes and encrypted envelopes (mini programs,
//! mini games and Channels choose JSON), and the writer of JSON replies.
//!
//! The JSON comes from the network, so the reader has the XML reader's
//! limits: a size limit checked before parsing, a depth limit checked by
//! a scan before serde_json recurses, and a cap on the flattened paths.
//! Values are kept as WeChat wrote them: a number's text is not rounded
//! through `f64` (serde_json's `RawValue`), so `Message::field` gives the
//! digits that were sent.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{CallbackErrorKind, Error, Result};

/// Documents larger than this are refused before parsing, and so are
/// documents whose field paths add up to more. WeChat's pushes are a few
/// kilobytes.
pub(crate) const MAX_JSON_BYTES: usize = 1 << 20;

/// Objects and arrays nested deeper than this (the outer object counts) are
/// refused. WeChat nests three levels at most.
pub(crate) const MAX_JSON_DEPTH: usize = 32;

pub(crate) fn json_error(why: impl Into<String>) -> Error {
    Error::callback(CallbackErrorKind::Json(why.into()))
}

/// Reads every leaf value of a JSON object into a map of path -> text,
/// with the paths [`parse_fields`](super::parse_fields) gives its XML twin:
/// nested objects joined by `/`, the second and later elements of an array
/// indexed (`List[2]/TemplateId`), as repeated XML elements are.
///
/// Strings are unescaped; numbers, `true` and `false` are their JSON text;
/// `null`, `{}` and `[]` are an empty value (the field is there, as an
/// empty XML element). Two values that would land on one path (a key
/// holding `/`, a key sent twice) are refused rather than one dropped.
pub(crate) fn parse_json_fields(json: &str) -> Result<BTreeMap<String, String>> {
    if json.len() > MAX_JSON_BYTES {
        return Err(Error::callback(CallbackErrorKind::JsonTooLarge));
    }
    check_depth(json)?;
    let root: Entries<'_> = serde_json::from_str(json).map_err(|e| json_error(e.to_string()))?;
    let mut fields = Fields::default();
    for (name, value) in root.0 {
        fields.flatten(name, value)?;
    }
    Ok(fields.map)
}

/// Refuses nesting deeper than [`MAX_JSON_DEPTH`] in one linear scan, so
/// that no parser recursion ever sees it. Brackets inside strings do not
/// count; malformed input is left to the parser.
fn check_depth(json: &str) -> Result<()> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in json.as_bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(Error::callback(CallbackErrorKind::JsonTooDeep));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// An object's members in order, each value still as its JSON text.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<Self::Value, M::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// The fields read so far, and the total length of the paths built to
/// reach them, leaves and the objects above them alike (each path repeats
/// its ancestors' names, so a long name over many children, or over many
/// levels, would otherwise turn 1 MiB into gigabytes of keys).
#[derive(Default)]
struct Fields {
    map: BTreeMap<String, String>,
    path_bytes: usize,
}

impl Fields {
    /// Adds `value` found at `path`: a leaf as one field, an object or an
    /// array as the fields below it.
    fn flatten(&mut self, path: String, value: &RawValue) -> Result<()> {
        let text = value.get();
        let parse_error = |e: serde_json::Error| json_error(e.to_string());
        match text.as_bytes().first() {
            Some(b'{') => {
                let members: Entries<'_> = serde_json::from_str(text).map_err(parse_error)?;
                if members.0.is_empty() {
                    return self.insert(path, String::new());
                }
                for (name, value) in members.0 {
                    self.charge(path.len() + 1 + name.len())?;
                    self.flatten(format!("{path}/{name}"), value)?;
                }
                Ok(())
            }
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(text).map_err(parse_error)?;
                if items.is_empty() {
                    return self.insert(path, String::new());
                }
                for (i, item) in items.into_iter().enumerate() {
                    // An index adds at most 22 bytes: `[` and `]` around a u64.
                    self.charge(path.len() + 22)?;
                    let item_path = match i {
                        0 => path.clone(),
                        i => format!("{path}[{}]", i + 1),
                    };
                    self.flatten(item_path, item)?;
                }
                Ok(())
            }
            Some(b'"') => {
                let string: String = serde_json::from_str(text).map_err(parse_error)?;
                self.insert(path, string)
            }
            Some(b'n') => self.insert(path, String::new()),
            // A number, `true` or `false`: as written.
            _ => self.insert(path, text.to_string()),
        }
    }

    /// Counts `bytes` of a path about to be built, refused past the cap
    /// before it is allocated.
    fn charge(&mut self, bytes: usize) -> Result<()> {
        self.path_bytes = self.path_bytes.saturating_add(bytes);
        if self.path_bytes > MAX_JSON_BYTES {
            return Err(Error::callback(CallbackErrorKind::JsonTooLarge));
        }
        Ok(())
    }

    fn insert(&mut self, path: String, value: String) -> Result<()> {
        if self.map.insert(path, value).is_some() {
            return Err(json_error("two values for one field path"));
        }
        Ok(())
    }
}

/// Writes one JSON object, members in the order written: WeChat's field
/// names first, as its documentation shows them.
pub(crate) struct JsonWriter {
    out: String,
    empty: bool,
}

impl JsonWriter {
    pub(crate) fn new() -> JsonWriter {
        JsonWriter {
            out: String::from("{"),
            empty: true,
        }
    }

    fn name(&mut self, name: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_string(&mut self.out, name);
        self.out.push(':');
    }

    /// `"name":"value"`, escaped.
    pub(crate) fn string(&mut self, name: &str, value: &str) -> &mut JsonWriter {
        self.name(name);
        push_string(&mut self.out, value);
        self
    }

    /// `"name":digits`.
    pub(crate) fn number(&mut self, name: &str, value: u64) -> &mut JsonWriter {
        self.name(name);
        self.out.push_str(&value.to_string());
        self
    }

    /// `"name":{...}`, the inner object written by `inner`.
    pub(crate) fn object(
        &mut self,
        name: &str,
        inner: impl FnOnce(&mut JsonWriter),
    ) -> &mut JsonWriter {
        self.name(name);
        self.out.push_str(&JsonWriter::build(inner));
        self
    }

    /// `"name":[{...},...]`: `count` objects, the i-th written by `inner`.
    pub(crate) fn objects(
        &mut self,
        name: &str,
        count: usize,
        mut inner: impl FnMut(&mut JsonWriter, usize),
    ) -> &mut JsonWriter {
        self.name(name);
        self.out.push('[');
        for i in 0..count {
            if i > 0 {
                self.out.push(',');
            }
            self.out
                .push_str(&JsonWriter::build(|object| inner(object, i)));
        }
        self.out.push(']');
        self
    }

    /// The object `inner` writes.
    pub(crate) fn build(inner: impl FnOnce(&mut JsonWriter)) -> String {
        let mut writer = JsonWriter::new();
        inner(&mut writer);
        writer.out.push('}');
        writer.out
    }
}

/// `text` as a JSON string: quotes, backslashes and control characters
/// escaped, so no content can end the string or add a member.
fn push_string(out: &mut String, text: &str) {
    // ok because serializing a str to JSON cannot fail
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_support::{fields, kind};
    use proptest::prelude::*;

    #[test]
    fn flattens_as_the_xml_reader_does_and_keeps_numbers_as_written() {
        let json = r#"{"MsgType":"event","CreateTime":1700000000,"Lat":23.1345210,
            "Big":123456789012345678901234567890,"Exp":1e5,"Neg":-0.0,"Ok":true,"Nothing":null,
            "Text":"a \"q\" \u4e2d\n","Empty":{},"None":[],
            "SendPicsInfo":{"Count":"2","PicList":[{"PicMd5Sum":"aa"},{"PicMd5Sum":"bb"}]}}"#;
        assert_eq!(
            parse_json_fields(json).unwrap(),
            fields(&[
                ("Big", "123456789012345678901234567890"),
                ("CreateTime", "1700000000"),
                ("Empty", ""),
                ("Exp", "1e5"),
                ("Lat", "23.1345210"),
                ("MsgType", "event"),
                ("Neg", "-0.0"),
                ("None", ""),
                ("Nothing", ""),
                ("Ok", "true"),
                ("SendPicsInfo/Count", "2"),
                ("SendPicsInfo/PicList/PicMd5Sum", "aa"),
                ("SendPicsInfo/PicList[2]/PicMd5Sum", "bb"),
                ("Text", "a \"q\" 中\n"),
            ])
        );
        assert!(parse_json_fields("  {}  ").unwrap().is_empty());
    }

    #[test]
    fn refuses_what_is_not_one_object() {
        for json in [
            "",
            "   ",
            "[]",
            "\"text\"",
            "1",
            "null",
            "{",
            "{\"a\":1,}",
            "{\"a\":1}{}",
            "{\"a\":1} x",
            "<xml><A>1</A></xml>",
            "{'a':1}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\ud800\"}",
        ] {
            let err = parse_json_fields(json).unwrap_err();
            assert!(matches!(kind(err), CallbackErrorKind::Json(_)), "{json:?}");
        }
    }

    #[test]
    fn refuses_two_values_on_one_path() {
        for json in [
            r#"{"a":1,"a":2}"#,
            r#"{"a/b":1,"a":{"b":2}}"#,
            r#"{"a[2]":1,"a":[0,2]}"#,
            r#"{"a":[[1,2],3]}"#,
        ] {
            assert_eq!(
                kind(parse_json_fields(json).unwrap_err()),
                CallbackErrorKind::Json("two values for one field path".into()),
                "{json}"
            );
        }
    }

    #[test]
    fn limits_depth_before_parsing() {
        let nested = |depth: usize| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        assert_eq!(parse_json_fields(&nested(MAX_JSON_DEPTH)).unwrap().len(), 1);
        for json in [
            nested(MAX_JSON_DEPTH + 1),
            nested(100_000),
            // Arrays count as levels too, and an unclosed document is
            // refused for its depth before the parser sees it.
            format!("{{\"a\":{}", "[".repeat(MAX_JSON_DEPTH)),
        ] {
            assert_eq!(
                kind(parse_json_fields(&json).unwrap_err()),
                CallbackErrorKind::JsonTooDeep
            );
        }
        // Brackets inside strings, escaped quotes included, are text.
        let text = format!("{{\"a\":\"\\\"{}\"}}", "[{".repeat(100));
        assert_eq!(
            parse_json_fields(&text).unwrap()["a"],
            format!("\"{}", "[{".repeat(100))
        );
    }

    #[test]
    fn limits_size_and_flattened_paths() {
        let filler = "a".repeat(MAX_JSON_BYTES);
        let at_limit = format!("{{\"C\":\"{}\"}}", &filler[..MAX_JSON_BYTES - 8]);
        assert_eq!(at_limit.len(), MAX_JSON_BYTES);
        assert!(parse_json_fields(&at_limit).is_ok());
        let err = parse_json_fields(&format!("{at_limit} ")).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::JsonTooLarge);

        let long = "n".repeat(200_000);
        let json = format!("{{\"{long}\":[{}0]}}", "0,".repeat(100_000));
        assert!(json.len() < MAX_JSON_BYTES);
        assert_eq!(
            kind(parse_json_fields(&json).unwrap_err()),
            CallbackErrorKind::JsonTooLarge
        );

        // One long name over 31 levels of objects with one leaf: the leaf's
        // path alone is under the cap, the paths built on the way are not
        // (each level held a copy of the long name: 31 of them).
        let long = "n".repeat(600_000);
        let json = format!("{{\"{long}\":{}1{}}}", "{\"a\":".repeat(30), "}".repeat(30));
        assert!(json.len() < MAX_JSON_BYTES);
        assert_eq!(
            kind(parse_json_fields(&json).unwrap_err()),
            CallbackErrorKind::JsonTooLarge
        );
    }

    #[test]
    fn writes_objects_in_order_with_every_string_escaped() {
        let json = JsonWriter::build(|o| {
            o.string("To", "a\"}\\\u{1}").number("Time", 7);
            o.object("Info", |o| {
                o.string("K", "v");
            });
            o.objects("List", 2, |o, i| {
                o.string("T", ["x", "y"][i]);
            });
        });
        assert_eq!(
            json,
            r#"{"To":"a\"}\\\u0001","Time":7,"Info":{"K":"v"},"List":[{"T":"x"},{"T":"y"}]}"#
        );
        assert_eq!(JsonWriter::build(|_| {}), "{}");
    }

    proptest! {
        #[test]
        fn any_string_round_trips_and_any_input_is_fields_or_an_error(
            name in any::<String>(),
            value in any::<String>(),
            garbage in any::<String>(),
        ) {
            let json = JsonWriter::build(|o| { o.string(&name, &value); });
            prop_assert_eq!(&parse_json_fields(&json).unwrap()[&name], &value);
            let _ = parse_json_fields(&garbage);
        }
    }
}
