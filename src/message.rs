//! Push messages WeChat sends to the developer's server, parsed from XML, and
//! the passive replies sent back.
//!
//! The XML comes from the network (and, in encrypted mode, is only as
//! trustworthy as the EncodingAESKey), so the reader is strict: no DOCTYPE
//! (and so no entity can ever be declared or expanded), a depth limit and a
//! size limit checked before any parsing.

use std::collections::BTreeMap;
use std::fmt;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::error::{CallbackErrorKind, Error, Result};
use crate::secret::Secret;

/// Documents larger than this are refused before parsing, and so are
/// documents whose field paths add up to more. WeChat's pushes are a few
/// kilobytes.
pub(crate) const MAX_XML_BYTES: usize = 1 << 20;

/// Elements nested deeper than this are refused. WeChat nests three levels at
/// most (`<xml><SendPicsInfo><PicList><item>`).
pub(crate) const MAX_XML_DEPTH: usize = 32;

/// Field names whose values are credentials, masked in `Debug`.
const SENSITIVE_FIELDS: &[&str] = &["ComponentVerifyTicket", "AuthorizationCode", "PreAuthCode"];

/// A push message from WeChat: a user message, an event, or a third-party
/// platform notification, with every field it carried.
///
/// [`Message::kind`] gives the typed view; [`Message::field`] and
/// [`Message::fields`] give every field as sent, including those of kinds
/// this crate does not model. Nested elements are flattened to paths joined
/// with `/` (`ScanCodeInfo/ScanType`); the second and later siblings of the
/// same name get an index (`PicList/item[2]/PicMd5Sum`).
///
/// `Debug` masks the values of `ComponentVerifyTicket`, `AuthorizationCode`
/// and `PreAuthCode`.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    fields: BTreeMap<String, String>,
    kind: MessageKind,
}

/// What a [`Message`] is, with the fields that matter for that kind.
///
/// The fields common to user messages and events (`ToUserName`,
/// `FromUserName`, `CreateTime`, `MsgType`) are read through [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageKind {
    /// A text message from a user (`MsgType` `text`).
    Text {
        /// `Content`, the text the user sent.
        content: String,
        /// `MsgId`, WeChat's 64-bit id of the message, used to drop retries.
        msg_id: Option<u64>,
    },
    /// An event (`MsgType` `event`): subscribe, unsubscribe, a menu click, a
    /// location report...
    Event {
        /// `Event`, as sent (`subscribe`, `CLICK`, `LOCATION`...).
        event: String,
        /// `EventKey`, when the event has one.
        event_key: Option<String>,
    },
    /// A third-party platform notification (it has an `InfoType`).
    Component(ComponentPush),
    /// Any other message (an image, a voice message, an `InfoType` this
    /// crate does not model...): read its fields through [`Message::fields`].
    Other,
}

/// A notification WeChat pushes to a third-party platform's authorization
/// event URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ComponentPush {
    /// `component_verify_ticket`, pushed every 10 minutes and valid 12 hours:
    /// the platform needs it to get a component access token.
    VerifyTicket {
        /// `AppId`, the third-party platform's own appid.
        app_id: String,
        /// `CreateTime`, seconds since the Unix epoch.
        create_time: u64,
        /// `ComponentVerifyTicket`.
        ticket: Secret,
    },
    /// `authorized`: an account authorized the platform.
    Authorized(Authorization),
    /// `updateauthorized`: an account changed the permissions it granted.
    UpdateAuthorized(Authorization),
    /// `unauthorized`: an account withdrew its authorization.
    Unauthorized {
        /// `AppId`, the third-party platform's own appid.
        app_id: String,
        /// `CreateTime`, seconds since the Unix epoch.
        create_time: u64,
        /// `AuthorizerAppid`, the account that withdrew.
        authorizer_app_id: String,
    },
}

/// The fields of an `authorized` or `updateauthorized` notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authorization {
    /// `AppId`, the third-party platform's own appid.
    pub app_id: String,
    /// `CreateTime`, seconds since the Unix epoch.
    pub create_time: u64,
    /// `AuthorizerAppid`, the account that authorized.
    pub authorizer_app_id: String,
    /// `AuthorizationCode`, to exchange through `api_query_auth` for the
    /// authorizer's tokens.
    pub authorization_code: Secret,
    /// `AuthorizationCodeExpiredTime`, when the code expires, in seconds
    /// since the Unix epoch.
    pub authorization_code_expired_time: Option<u64>,
}

impl Message {
    /// Parses a push message, decrypted or sent in plain mode.
    ///
    /// # Errors
    ///
    /// All of kind [`ErrorKind::Callback`](crate::ErrorKind::Callback):
    /// [`CallbackErrorKind::XmlTooLarge`] for a document over 1 MiB (or
    /// whose field paths, flattened, add up to more),
    /// [`CallbackErrorKind::XmlDoctype`] when it declares a DOCTYPE,
    /// [`CallbackErrorKind::XmlTooDeep`] when elements nest deeper than 32,
    /// and [`CallbackErrorKind::Xml`] when it is not well-formed XML with one
    /// root element, or when a modelled kind lacks a field it needs (a
    /// `text` message without `Content`, a `component_verify_ticket` without
    /// `ComponentVerifyTicket`) or has a number that is not one.
    ///
    /// # Example
    ///
    /// ```
    /// use wechat::{Message, MessageKind};
    ///
    /// let xml = "<xml><ToUserName><![CDATA[gh_123]]></ToUserName>\
    ///     <FromUserName><![CDATA[openid]]></FromUserName><CreateTime>1348831860</CreateTime>\
    ///     <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content>\
    ///     <MsgId>1234567890123456</MsgId></xml>";
    /// let message = Message::parse(xml)?;
    /// assert_eq!(message.from_user_name(), Some("openid"));
    /// assert_eq!(message.create_time(), Some(1348831860));
    /// assert_eq!(
    ///     message.kind(),
    ///     &MessageKind::Text { content: "hi".into(), msg_id: Some(1234567890123456) }
    /// );
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn parse(xml: &str) -> Result<Message> {
        let fields = parse_fields(xml)?;
        let kind = MessageKind::from_fields(&fields)?;
        Ok(Message { fields, kind })
    }

    /// The typed view of the message.
    ///
    /// # Example
    ///
    /// ```
    /// use wechat::{ComponentPush, Message, MessageKind};
    ///
    /// let xml = "<xml><AppId>wx_component</AppId><CreateTime>1413192605</CreateTime>\
    ///     <InfoType>component_verify_ticket</InfoType>\
    ///     <ComponentVerifyTicket>ticket@@@x</ComponentVerifyTicket></xml>";
    /// match Message::parse(xml)?.kind() {
    ///     MessageKind::Component(ComponentPush::VerifyTicket { app_id, ticket, .. }) => {
    ///         assert_eq!(app_id, "wx_component");
    ///         assert_eq!(ticket.expose(), "ticket@@@x");
    ///     }
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn kind(&self) -> &MessageKind {
        &self.kind
    }

    /// The typed view of the message, by value.
    ///
    /// # Example
    ///
    /// ```
    /// use wechat::{Message, MessageKind};
    ///
    /// let xml = "<xml><MsgType>event</MsgType><Event>subscribe</Event></xml>";
    /// assert_eq!(
    ///     Message::parse(xml)?.into_kind(),
    ///     MessageKind::Event { event: "subscribe".into(), event_key: None }
    /// );
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn into_kind(self) -> MessageKind {
        self.kind
    }

    /// Every field as sent, by element name (nested ones by path).
    ///
    /// # Example
    ///
    /// ```
    /// let xml = "<xml><MsgType>image</MsgType><MediaId>m1</MediaId></xml>";
    /// let message = wechat::Message::parse(xml)?;
    /// let names: Vec<&str> = message.fields().keys().map(String::as_str).collect();
    /// assert_eq!(names, ["MediaId", "MsgType"]);
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn fields(&self) -> &BTreeMap<String, String> {
        &self.fields
    }

    /// Every field as [`fields`](Message::fields) gives them, except that
    /// the values of credentials (`ComponentVerifyTicket`,
    /// `AuthorizationCode`, `PreAuthCode`) read `[redacted]`: the fields to
    /// log or print. `Debug` shows these.
    ///
    /// # Example
    ///
    /// ```
    /// let xml = "<xml><AppId>wx_component</AppId><CreateTime>1413192605</CreateTime>\
    ///     <InfoType>component_verify_ticket</InfoType>\
    ///     <ComponentVerifyTicket>ticket@@@x</ComponentVerifyTicket></xml>";
    /// let message = wechat::Message::parse(xml)?;
    /// let shown = message.redacted_fields();
    /// assert_eq!(shown["ComponentVerifyTicket"], "[redacted]");
    /// assert_eq!(shown["AppId"], "wx_component");
    /// assert_eq!(message.field("ComponentVerifyTicket"), Some("ticket@@@x"));
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn redacted_fields(&self) -> BTreeMap<&str, &str> {
        self.fields
            .iter()
            .map(|(name, value)| {
                let shown = if SENSITIVE_FIELDS.contains(&name.as_str()) {
                    "[redacted]"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect()
    }

    /// One field as sent, for example `field("Event")` or
    /// `field("ScanCodeInfo/ScanResult")`.
    ///
    /// # Example
    ///
    /// ```
    /// let xml = "<xml><MsgType>event</MsgType><Event>scancode_push</Event>\
    ///     <ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo></xml>";
    /// let message = wechat::Message::parse(xml)?;
    /// assert_eq!(message.field("ScanCodeInfo/ScanType"), Some("qrcode"));
    /// assert_eq!(message.field("EventKey"), None);
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// `ToUserName`: the official account's original id (`gh_...`).
    ///
    /// # Example
    ///
    /// ```
    /// let xml = "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
    ///     <CreateTime>1348831860</CreateTime><MsgType>voice</MsgType></xml>";
    /// let message = wechat::Message::parse(xml)?;
    /// assert_eq!(message.to_user_name(), Some("gh_123"));
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn to_user_name(&self) -> Option<&str> {
        self.field("ToUserName")
    }

    /// `FromUserName`: the sender's openid.
    ///
    /// # Example
    ///
    /// ```
    /// let xml = "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
    ///     <CreateTime>1348831860</CreateTime><MsgType>voice</MsgType></xml>";
    /// let message = wechat::Message::parse(xml)?;
    /// assert_eq!(message.from_user_name(), Some("openid"));
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn from_user_name(&self) -> Option<&str> {
        self.field("FromUserName")
    }

    /// `CreateTime` in seconds since the Unix epoch, when present and a
    /// number.
    ///
    /// # Example
    ///
    /// ```
    /// let xml = "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
    ///     <CreateTime>1348831860</CreateTime><MsgType>voice</MsgType></xml>";
    /// let message = wechat::Message::parse(xml)?;
    /// assert_eq!(message.create_time(), Some(1348831860));
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn create_time(&self) -> Option<u64> {
        self.field("CreateTime").and_then(|t| t.trim().parse().ok())
    }

    /// `MsgType`: `text`, `image`, `event`...
    ///
    /// # Example
    ///
    /// ```
    /// let xml = "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
    ///     <CreateTime>1348831860</CreateTime><MsgType>voice</MsgType></xml>";
    /// let message = wechat::Message::parse(xml)?;
    /// assert_eq!(message.msg_type(), Some("voice"));
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn msg_type(&self) -> Option<&str> {
        self.field("MsgType")
    }

    /// A text reply to this message: addressed to its sender, from the
    /// account it was sent to. `None` when the message lacks `ToUserName` or
    /// `FromUserName` (third-party platform notifications do).
    ///
    /// # Example
    ///
    /// ```
    /// use wechat::Message;
    ///
    /// let xml = "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>";
    /// let reply = Message::parse(xml)?.text_reply("hello").unwrap().create_time(2);
    /// assert_eq!(
    ///     reply.to_xml(),
    ///     "<xml><ToUserName><![CDATA[openid]]></ToUserName>\
    ///      <FromUserName><![CDATA[gh_123]]></FromUserName><CreateTime>2</CreateTime>\
    ///      <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content></xml>"
    /// );
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn text_reply(&self, content: impl Into<String>) -> Option<TextReply> {
        Some(TextReply::new(
            self.from_user_name()?,
            self.to_user_name()?,
            content,
        ))
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("kind", &self.kind)
            .field("fields", &self.redacted_fields())
            .finish()
    }
}

impl MessageKind {
    fn from_fields(fields: &BTreeMap<String, String>) -> Result<MessageKind> {
        let get = |name: &str| fields.get(name).map(String::as_str);
        let require = |name: &str, what: &str| {
            get(name).ok_or_else(|| xml_error(format!("{what} without <{name}>")))
        };
        let number = |name: &str, what: &str| {
            let value = require(name, what)?;
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| xml_error(format!("<{name}> of {what} is not a number")))
        };
        let optional_number = |name: &str, what: &str| match get(name) {
            Some(_) => number(name, what).map(Some),
            None => Ok(None),
        };

        if let Some(info_type) = get("InfoType") {
            let what = info_type;
            let push = match info_type {
                "component_verify_ticket" => ComponentPush::VerifyTicket {
                    app_id: require("AppId", what)?.to_string(),
                    create_time: number("CreateTime", what)?,
                    ticket: Secret::new(require("ComponentVerifyTicket", what)?),
                },
                "authorized" | "updateauthorized" => {
                    let authorization = Authorization {
                        app_id: require("AppId", what)?.to_string(),
                        create_time: number("CreateTime", what)?,
                        authorizer_app_id: require("AuthorizerAppid", what)?.to_string(),
                        authorization_code: Secret::new(require("AuthorizationCode", what)?),
                        authorization_code_expired_time: optional_number(
                            "AuthorizationCodeExpiredTime",
                            what,
                        )?,
                    };
                    if info_type == "authorized" {
                        ComponentPush::Authorized(authorization)
                    } else {
                        ComponentPush::UpdateAuthorized(authorization)
                    }
                }
                "unauthorized" => ComponentPush::Unauthorized {
                    app_id: require("AppId", what)?.to_string(),
                    create_time: number("CreateTime", what)?,
                    authorizer_app_id: require("AuthorizerAppid", what)?.to_string(),
                },
                _ => return Ok(MessageKind::Other),
            };
            return Ok(MessageKind::Component(push));
        }

        match get("MsgType") {
            Some("text") => Ok(MessageKind::Text {
                content: require("Content", "a text message")?.to_string(),
                msg_id: optional_number("MsgId", "a text message")?,
            }),
            Some("event") => Ok(MessageKind::Event {
                event: require("Event", "an event")?.to_string(),
                event_key: get("EventKey").map(str::to_string),
            }),
            _ => Ok(MessageKind::Other),
        }
    }
}

/// A passive text reply: the body answered to a push to send a text back to
/// the user at once.
///
/// In encrypted mode, pass [`TextReply::to_xml`] to
/// [`MessageCrypto::encrypt`](crate::MessageCrypto::encrypt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextReply {
    to_user_name: String,
    from_user_name: String,
    create_time: u64,
    content: String,
}

impl TextReply {
    /// A reply to the user `to_user_name` (an openid) from the account
    /// `from_user_name` (its `gh_...` original id).
    ///
    /// [`Message::text_reply`] fills both from the message being answered.
    ///
    /// # Example
    ///
    /// ```
    /// let reply = wechat::TextReply::new("openid", "gh_123", "hello");
    /// assert!(reply.to_xml().starts_with("<xml><ToUserName><![CDATA[openid]]></ToUserName>"));
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn new(
        to_user_name: impl Into<String>,
        from_user_name: impl Into<String>,
        content: impl Into<String>,
    ) -> TextReply {
        // A clock before 1970 is a broken host; 0 still makes a valid reply.
        let now = crate::token::unix_now();
        TextReply {
            to_user_name: to_user_name.into(),
            from_user_name: from_user_name.into(),
            create_time: now,
            content: content.into(),
        }
    }

    /// Sets `CreateTime`, seconds since the Unix epoch. Defaults to the
    /// current time.
    ///
    /// # Example
    ///
    /// ```
    /// let reply = wechat::TextReply::new("openid", "gh_123", "hello").create_time(1348831860);
    /// assert!(reply.to_xml().contains("<CreateTime>1348831860</CreateTime>"));
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn create_time(mut self, create_time: u64) -> TextReply {
        self.create_time = create_time;
        self
    }

    /// The reply as XML. Every string is in CDATA, with any `]]>` inside it
    /// split across two sections so that it cannot end the section early.
    ///
    /// # Example
    ///
    /// ```
    /// let reply = wechat::TextReply::new("openid", "gh_123", "a]]>b").create_time(7);
    /// assert!(reply.to_xml().contains("<Content><![CDATA[a]]]]><![CDATA[>b]]></Content>"));
    /// # Ok::<(), wechat::Error>(())
    /// ```
    pub fn to_xml(&self) -> String {
        format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
             <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
             <Content>{}</Content></xml>",
            cdata(&self.to_user_name),
            cdata(&self.from_user_name),
            self.create_time,
            cdata(&self.content),
        )
    }
}

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
    use crate::error::ErrorKind;

    fn kind(err: Error) -> CallbackErrorKind {
        match err.kind() {
            ErrorKind::Callback(kind) => kind.clone(),
            other => panic!("not a callback error: {other:?}"),
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_a_text_message_in_cdata_or_plain_text() {
        let xml = "<xml>\n  <ToUserName><![CDATA[gh_123]]></ToUserName>\n  \
            <FromUserName>openid</FromUserName>\n  <CreateTime>1348831860</CreateTime>\n  \
            <MsgType><![CDATA[text]]></MsgType>\n  <Content><![CDATA[ a <b> & ]]]]></Content>\n  \
            <MsgId>1234567890123456</MsgId>\n</xml>";
        let message = Message::parse(xml).unwrap();
        assert_eq!(message.to_user_name(), Some("gh_123"));
        assert_eq!(message.from_user_name(), Some("openid"));
        assert_eq!(message.create_time(), Some(1348831860));
        assert_eq!(message.msg_type(), Some("text"));
        assert_eq!(
            message.kind(),
            &MessageKind::Text {
                content: " a <b> & ]]".into(),
                msg_id: Some(1234567890123456)
            }
        );

        // Escaped text reads the same as CDATA.
        let xml = "<xml><MsgType>text</MsgType><Content>a &lt;b&gt; &amp; &#x4e2d;</Content></xml>";
        assert_eq!(
            Message::parse(xml).unwrap().into_kind(),
            MessageKind::Text {
                content: "a <b> & 中".into(),
                msg_id: None
            }
        );
    }

    #[test]
    fn parses_events_and_keeps_their_other_fields() {
        let xml = "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
            <CreateTime>1</CreateTime><MsgType>event</MsgType><Event>scancode_push</Event>\
            <EventKey>rselfmenu_0_1</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType>\
            <ScanResult>1</ScanResult></ScanCodeInfo></xml>";
        let message = Message::parse(xml).unwrap();
        assert_eq!(
            message.kind(),
            &MessageKind::Event {
                event: "scancode_push".into(),
                event_key: Some("rselfmenu_0_1".into())
            }
        );
        assert_eq!(message.field("ScanCodeInfo/ScanType"), Some("qrcode"));
        assert_eq!(message.field("ScanCodeInfo/ScanResult"), Some("1"));
        assert_eq!(message.field("ScanCodeInfo"), None);
    }

    #[test]
    fn keeps_every_field_of_kinds_it_does_not_model() {
        let xml = "<xml><ToUserName>gh_1</ToUserName><MsgType>image</MsgType>\
            <PicUrl>http://x/y</PicUrl><MediaId/><SendPicsInfo><Count>2</Count><PicList>\
            <item><PicMd5Sum>aa</PicMd5Sum></item><item><PicMd5Sum>bb</PicMd5Sum></item>\
            </PicList></SendPicsInfo></xml>";
        let message = Message::parse(xml).unwrap();
        assert_eq!(message.kind(), &MessageKind::Other);
        assert_eq!(
            message.fields(),
            &fields(&[
                ("MediaId", ""),
                ("MsgType", "image"),
                ("PicUrl", "http://x/y"),
                ("SendPicsInfo/Count", "2"),
                ("SendPicsInfo/PicList/item/PicMd5Sum", "aa"),
                ("SendPicsInfo/PicList/item[2]/PicMd5Sum", "bb"),
                ("ToUserName", "gh_1"),
            ])
        );
    }

    #[test]
    fn parses_the_component_verify_ticket_push() {
        let xml = "<xml><AppId>wx_component</AppId><CreateTime>1413192605</CreateTime>\
            <InfoType>component_verify_ticket</InfoType>\
            <ComponentVerifyTicket><![CDATA[ticket@@@abc]]></ComponentVerifyTicket></xml>";
        let message = Message::parse(xml).unwrap();
        assert_eq!(
            message.kind(),
            &MessageKind::Component(ComponentPush::VerifyTicket {
                app_id: "wx_component".into(),
                create_time: 1413192605,
                ticket: Secret::new("ticket@@@abc"),
            })
        );
        let shown = format!("{message:?}");
        assert!(!shown.contains("ticket@@@abc"), "{shown}");
        assert!(
            shown.contains("\"ComponentVerifyTicket\": \"[redacted]\""),
            "{shown}"
        );
        assert_eq!(message.text_reply("x"), None);
    }

    #[test]
    fn parses_authorization_pushes() {
        let body = "<AppId>wx_component</AppId><CreateTime>1413192760</CreateTime>\
            <AuthorizerAppid>wx_authorizer</AuthorizerAppid>\
            <AuthorizationCode>code@@@</AuthorizationCode>\
            <AuthorizationCodeExpiredTime>1413196360</AuthorizationCodeExpiredTime>\
            <PreAuthCode>preauthcode@@@</PreAuthCode>";
        let authorization = Authorization {
            app_id: "wx_component".into(),
            create_time: 1413192760,
            authorizer_app_id: "wx_authorizer".into(),
            authorization_code: Secret::new("code@@@"),
            authorization_code_expired_time: Some(1413196360),
        };
        let parse = |info_type: &str| {
            Message::parse(&format!(
                "<xml>{body}<InfoType>{info_type}</InfoType></xml>"
            ))
            .unwrap()
            .into_kind()
        };
        assert_eq!(
            parse("authorized"),
            MessageKind::Component(ComponentPush::Authorized(authorization.clone()))
        );
        assert_eq!(
            parse("updateauthorized"),
            MessageKind::Component(ComponentPush::UpdateAuthorized(authorization))
        );
        assert_eq!(
            parse("unauthorized"),
            MessageKind::Component(ComponentPush::Unauthorized {
                app_id: "wx_component".into(),
                create_time: 1413192760,
                authorizer_app_id: "wx_authorizer".into(),
            })
        );
        assert_eq!(parse("notify_third_fasteregister"), MessageKind::Other);
    }

    #[test]
    fn modelled_kinds_missing_a_field_are_errors() {
        for (xml, why) in [
            (
                "<xml><MsgType>text</MsgType></xml>",
                "a text message without <Content>",
            ),
            (
                "<xml><MsgType>event</MsgType></xml>",
                "an event without <Event>",
            ),
            (
                "<xml><MsgType>text</MsgType><Content>x</Content><MsgId>12a</MsgId></xml>",
                "<MsgId> of a text message is not a number",
            ),
            (
                "<xml><InfoType>component_verify_ticket</InfoType><AppId>a</AppId>\
                 <CreateTime>1</CreateTime></xml>",
                "component_verify_ticket without <ComponentVerifyTicket>",
            ),
            (
                "<xml><InfoType>unauthorized</InfoType><AppId>a</AppId>\
                 <CreateTime>soon</CreateTime><AuthorizerAppid>b</AuthorizerAppid></xml>",
                "<CreateTime> of unauthorized is not a number",
            ),
        ] {
            let err = Message::parse(xml).unwrap_err();
            assert_eq!(kind(err), CallbackErrorKind::Xml(why.into()), "{xml}");
        }
    }

    #[test]
    fn refuses_any_doctype_so_entities_never_expand() {
        let billion_laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
            <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\
            <xml><Content>&lol2;</Content></xml>";
        let external = "<!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
            <xml><Content>&xxe;</Content></xml>";
        for xml in [billion_laughs, external, "<!DOCTYPE xml><xml/>"] {
            let err = Message::parse(xml).unwrap_err();
            assert_eq!(kind(err), CallbackErrorKind::XmlDoctype);
        }
        // Without a DOCTYPE an entity reference is undefined, not expanded.
        let err = Message::parse("<xml><Content>&xxe;</Content></xml>").unwrap_err();
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
            let err = Message::parse(xml).unwrap_err();
            assert!(matches!(kind(err), CallbackErrorKind::Xml(_)), "{xml:?}");
        }
        assert!(Message::parse("<?xml version=\"1.0\"?><!-- c --><xml/>").is_ok());
    }

    #[test]
    fn text_reply_is_exact_and_survives_cdata_terminators() {
        let reply = TextReply::new("openid", "gh_123", "1 < 2 ]]> 3").create_time(1348831860);
        assert_eq!(
            reply.to_xml(),
            "<xml><ToUserName><![CDATA[openid]]></ToUserName>\
             <FromUserName><![CDATA[gh_123]]></FromUserName>\
             <CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>\
             <Content><![CDATA[1 < 2 ]]]]><![CDATA[> 3]]></Content></xml>"
        );
        let parsed = Message::parse(&reply.to_xml()).unwrap();
        assert_eq!(
            parsed.kind(),
            &MessageKind::Text {
                content: "1 < 2 ]]> 3".into(),
                msg_id: None
            }
        );

        let incoming = Message::parse(
            "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
             <MsgType>text</MsgType><Content>hi</Content></xml>",
        )
        .unwrap();
        assert_eq!(
            incoming.text_reply("]]>").unwrap().create_time(5),
            TextReply::new("openid", "gh_123", "]]>").create_time(5)
        );
    }

    proptest::proptest! {
        #[test]
        fn text_replies_parse_back_to_their_content(
            content in proptest::prelude::any::<String>(),
            to in "[a-zA-Z0-9_\\-\\]>]{0,28}",
        ) {
            let xml = TextReply::new(to.as_str(), "gh_123", content.as_str()).to_xml();
            let message = Message::parse(&xml).unwrap();
            proptest::prop_assert_eq!(message.to_user_name(), Some(to.as_str()));
            proptest::prop_assert_eq!(
                message.into_kind(),
                MessageKind::Text { content, msg_id: None }
            );
        }
    }
}
