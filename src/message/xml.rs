//! The one XML reader for pushes and encrypted envelopes, and CDATA for
//! replies.
//!
//! The XML comes from the network (and, in encrypted mode, is only as
//! trustworthy as the EncodingAESKey), so the reader is strict: no DOCTYPE
//! (and so no entity can ever be declared or expanded), a depth limit and a
//! size limit checked before any parsing.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::{CallbackErrorKind, Error, Result};

/// Documents larger than this are refused before parsing, and so are
/// documents whose field paths add up to more. WeChat's pushes are a few
/// kilobytes.
pub(crate) const MAX_XML_BYTES: usize = 1 << 20;

/// Elements nested deeper than this are refused. WeChat nests three levels at
/// most (`<xml><SendPicsInfo><PicList><item>`).
pub(crate) const MAX_XML_DEPTH: usize = 32;

/// `text` as one or more CDATA sections: `]]>` cannot appear inside one, so
/// it is split as `]]` + `>` across two sections.
pub(crate) fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

pub(crate) fn xml_error(why: impl Into<String>) -> Error {
    Error::callback(CallbackErrorKind::Xml(why.into()))
}

/// Reads every leaf element of the document into a map of path -> text.
///
/// This is the one place XML is read, for pushes and for the encrypted
/// envelope alike, so the limits below apply to both.
pub(crate) fn parse_fields(xml: &str) -> Result<BTreeMap<String, String>> {
    if xml.len() > MAX_XML_BYTES {
        return Err(Error::callback(CallbackErrorKind::XmlTooLarge));
    }
    let mut reader = Reader::from_str(xml);
    // Whitespace inside CDATA and text is data (a user may send " hi ").
    reader.config_mut().trim_text(false);

    let mut fields = BTreeMap::new();
    let mut paths = Paths::default();
    let mut seen_root = false;
    let mut in_root = false;

    loop {
        let event = reader
            .read_event()
            .map_err(|e| xml_error(format!("{e} at byte {}", reader.error_position())))?;
        match event {
            Event::DocType(_) => return Err(Error::callback(CallbackErrorKind::XmlDoctype)),
            Event::Start(_) | Event::Empty(_) if !in_root && seen_root => {
                return Err(xml_error("more than one root element"));
            }
            Event::Start(_) if !in_root => {
                seen_root = true;
                in_root = true;
            }
            // An empty root (`<xml/>`) has no fields and is complete.
            Event::Empty(_) if !in_root => seen_root = true,
            Event::Start(start) => {
                let path = paths.child(&start)?;
                paths.open.push(OpenElement {
                    path,
                    text: String::new(),
                    children: BTreeMap::new(),
                });
            }
            Event::Empty(start) => {
                let path = paths.child(&start)?;
                fields.insert(path, String::new());
            }
            Event::End(_) => match paths.open.pop() {
                Some(element) => {
                    // A leaf is a field; a parent only when it also holds
                    // text of its own (mixed content), so no data is lost.
                    if element.children.is_empty() || !element.text.trim().is_empty() {
                        fields.insert(element.path, element.text);
                    }
                }
                None => in_root = false,
            },
            Event::Text(text) => {
                let text = text.unescape().map_err(|e| xml_error(e.to_string()))?;
                match paths.open.last_mut() {
                    Some(element) => element.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(xml_error("text outside any field")),
                }
            }
            Event::CData(data) => {
                let data = std::str::from_utf8(&data)
                    .map_err(|_| Error::callback(CallbackErrorKind::Utf8))?;
                match paths.open.last_mut() {
                    Some(element) => element.text.push_str(data),
                    None if data.trim().is_empty() => {}
                    None => return Err(xml_error("text outside any field")),
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if in_root || !paths.open.is_empty() {
        return Err(xml_error("document ends inside an element"));
    }
    if !seen_root {
        return Err(xml_error("no root element"));
    }
    Ok(fields)
}

/// The elements open below the root, and the paths given to their children.
///
/// The root's own name is not part of paths.
#[derive(Default)]
struct Paths {
    open: Vec<OpenElement>,
    /// How many children of each name the root has, to index repeated ones.
    root_children: BTreeMap<String, usize>,
    /// Total length of the paths handed out. Each path repeats its
    /// ancestors' names, so a long name with many children would otherwise
    /// turn a 1 MiB document into gigabytes of keys.
    path_bytes: usize,
}

struct OpenElement {
    path: String,
    text: String,
    /// How many children of each name were seen, to index repeated ones.
    children: BTreeMap<String, usize>,
}

impl Paths {
    /// The path of a new child of the innermost open element (or of the
    /// root), counting it among its parent's children.
    fn child(&mut self, start: &BytesStart<'_>) -> Result<String> {
        // The root and the new element count as one level each.
        if self.open.len() + 2 > MAX_XML_DEPTH {
            return Err(Error::callback(CallbackErrorKind::XmlTooDeep));
        }
        let qname = start.name();
        let name = std::str::from_utf8(qname.as_ref())
            .map_err(|_| Error::callback(CallbackErrorKind::Utf8))?;
        let (prefix, siblings) = match self.open.last_mut() {
            Some(parent) => (format!("{}/", parent.path), &mut parent.children),
            None => (String::new(), &mut self.root_children),
        };
        let count = siblings.entry(name.to_string()).or_insert(0);
        *count += 1;
        let path = if *count == 1 {
            format!("{prefix}{name}")
        } else {
            format!("{prefix}{name}[{count}]")
        };
        self.path_bytes += path.len();
        if self.path_bytes > MAX_XML_BYTES {
            return Err(Error::callback(CallbackErrorKind::XmlTooLarge));
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_support::kind;

    #[test]
    fn refuses_any_doctype_so_entities_never_expand() {
        let billion_laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
            <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\
            <xml><Content>&lol2;</Content></xml>";
        let external = "<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
            <xml><Content>&xxe;</Content></xml>";
        for xml in [billion_laughs, external, "<!DOCTYPE xml><xml/>"] {
            let err = parse_fields(xml).unwrap_err();
            assert_eq!(kind(err), CallbackErrorKind::XmlDoctype);
        }
        // Without a DOCTYPE an entity reference is undefined, not expanded.
        let err = parse_fields("<xml><Content>&xxe;</Content></xml>").unwrap_err();
        assert!(matches!(kind(err), CallbackErrorKind::Xml(_)));
    }

    #[test]
    fn limits_depth() {
        let nested = |depth: usize| {
            let open: String = (0..depth).map(|i| format!("<e{i}>")).collect();
            let close: String = (0..depth).rev().map(|i| format!("</e{i}>")).collect();
            format!("{open}x{close}")
        };
        let fields = parse_fields(&nested(MAX_XML_DEPTH)).unwrap();
        assert_eq!(fields.len(), 1);
        let err = parse_fields(&nested(MAX_XML_DEPTH + 1)).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::XmlTooDeep);
        let err = parse_fields(&nested(10_000)).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::XmlTooDeep);
        // A self-closing element counts as a level too.
        let deep_empty = nested(MAX_XML_DEPTH).replacen("x", "<leaf/>", 1);
        let err = parse_fields(&deep_empty).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::XmlTooDeep);
    }

    #[test]
    fn limits_size_before_parsing() {
        let filler = "a".repeat(MAX_XML_BYTES);
        let at_limit = format!("<xml><C>{}</C></xml>", &filler[..MAX_XML_BYTES - 18]);
        assert_eq!(at_limit.len(), MAX_XML_BYTES);
        assert!(parse_fields(&at_limit).is_ok());
        // One byte more is refused, even though it is not well-formed: the
        // size check comes first.
        let err = parse_fields(&format!("{at_limit}<")).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::XmlTooLarge);
    }

    #[test]
    fn limits_the_size_of_flattened_paths() {
        // Under 1 MiB of input, but every child's path repeats the long
        // parent name: 100,000 paths of 200 KB each if not capped.
        let long = "n".repeat(200_000);
        let xml = format!("<xml><{long}>{}</{long}></xml>", "<b/>".repeat(100_000));
        assert!(xml.len() < MAX_XML_BYTES);
        let err = parse_fields(&xml).unwrap_err();
        assert_eq!(kind(err), CallbackErrorKind::XmlTooLarge);
        // A long name alone is fine.
        let fields = parse_fields(&format!("<xml><{long}>v</{long}></xml>")).unwrap();
        assert_eq!(fields[&long], "v");
    }

    #[test]
    fn refuses_malformed_xml() {
        for xml in [
            "",
            "   ",
            "not xml",
            "<xml><A>1</A>",
            "<xml><A>1</B></xml>",
            "<xml><A>1</A></xml><xml/>",
            "<xml/><xml/>",
            "<xml>loose text<A>1</A></xml>",
            "<xml><A>1</A></xml>trailing",
            "<xml><A><![CDATA[x</A></xml>",
            "<xml><A>1</A></xml></xml>",
            "<xml><A>&#0;</A></xml>",
        ] {
            let err = parse_fields(xml).unwrap_err();
            assert!(matches!(kind(err), CallbackErrorKind::Xml(_)), "{xml:?}");
        }
        assert!(parse_fields("<?xml version=\"1.0\"?><!-- c --><xml/>").is_ok());
    }
}
