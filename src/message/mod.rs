//! Push messages WeChat sends to the developer's server, parsed from XML
//! or JSON, and the passive replies sent back.
//!
//! - [`Message`] (here): a push with every field it carried, and
//!   [`PushFormat`];
//! - `kind`: its typed view ([`MessageKind`], [`ComponentPush`]), and
//!   `event` the events' ([`Event`], with the table of typed events), with
//!   `menu`, `subscription` and `media_check` for what some events carry;
//! - `fields`: how the typed views read the field map (nested elements,
//!   lists, closed sets of values);
//! - `reply`: passive replies ([`Reply`], [`ReplyKind`], [`Article`]);
//! - `xml` and `json`: the one reader of each format, with its limits.

mod event;
mod fields;
mod json;
mod kind;
mod media_check;
mod menu;
mod reply;
mod subscription;
mod xml;

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{CallbackErrorKind, Error, Result};

pub use event::Event;
pub(crate) use json::{json_error, parse_json_fields, JsonWriter};
pub use kind::{Authorization, ComponentPush, MessageKind};
pub use media_check::{MediaCheck, MediaCheckDetail, MediaCheckResult, MediaCheckSuggest};
pub use menu::{ScanCodeInfo, SendLocationInfo, SendPicsInfo};
pub(crate) use reply::{check_articles, check_mini_program, MAX_ARTICLES};
pub use reply::{Article, Reply, ReplyKind};
pub use subscription::{SubscribeMsgChange, SubscribeMsgPopup, SubscribeMsgSent, SubscribeStatus};
pub(crate) use xml::{cdata, parse_fields, xml_error, MAX_XML_BYTES};

/// Field names whose values are credentials, masked in `Debug`.
const SENSITIVE_FIELDS: &[&str] = &["ComponentVerifyTicket", "AuthorizationCode", "PreAuthCode"];

/// The data format of an account's pushes, as configured next to its
/// encryption mode: official accounts push XML; mini programs and mini
/// games choose XML or JSON; Channels and WeChat Shop push JSON.
///
/// Replies go out in the format the push came in.
///
/// # Example
///
/// ```
/// use weixin::PushFormat;
///
/// assert_eq!(PushFormat::default(), PushFormat::Detect);
/// assert_eq!(PushFormat::Detect.of(b" {\"MsgType\":\"text\"}"), PushFormat::Json);
/// assert_eq!(PushFormat::Detect.of(b"<xml></xml>"), PushFormat::Xml);
/// assert_eq!(PushFormat::Xml.of(b"{}"), PushFormat::Xml);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushFormat {
    /// XML (`<xml>...</xml>`), the only format of official accounts.
    Xml,
    /// JSON (`{...}`), with the same field names as the XML.
    Json,
    /// Either, told from the body: JSON when its first character other
    /// than whitespace is `{`, XML otherwise.
    #[default]
    Detect,
}

impl PushFormat {
    /// The format `body` is read in: this one, or for
    /// [`PushFormat::Detect`] the one the body starts with (never
    /// `Detect`). Only leading whitespace is looked at.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::PushFormat;
    ///
    /// assert_eq!(PushFormat::Detect.of(b"\r\n {}"), PushFormat::Json);
    /// assert_eq!(PushFormat::Detect.of(b""), PushFormat::Xml);
    /// assert_eq!(PushFormat::Json.of(b"<xml/>"), PushFormat::Json);
    /// ```
    pub fn of(self, body: &[u8]) -> PushFormat {
        match self {
            PushFormat::Detect => match body.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'{') => PushFormat::Json,
                _ => PushFormat::Xml,
            },
            known => known,
        }
    }
}

/// A push message from WeChat: a user message, an event, or a third-party
/// platform notification, with every field it carried.
///
/// [`Message::kind`] gives the typed view; [`Message::field`] and
/// [`Message::fields`] give every field as sent, including those of kinds
/// this crate does not model. Nested elements are flattened to paths joined
/// with `/` (`ScanCodeInfo/ScanType`); the second and later siblings of the
/// same name get an index (`PicList/item[2]/PicMd5Sum`). A JSON push
/// ([`Message::parse_json`]) is flattened the same way, its arrays' second
/// and later elements indexed like repeated elements (`List[2]/TemplateId`).
///
/// `Debug` masks the values of `ComponentVerifyTicket`, `AuthorizationCode`
/// and `PreAuthCode`.
#[derive(Clone, PartialEq)]
pub struct Message {
    fields: BTreeMap<String, String>,
    kind: MessageKind,
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
    /// root element. A push that is well-formed but does not fit the model
    /// of its kind (a `text` message without `Content`, say) is no error: it
    /// is [`MessageKind::Other`], with every field kept.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Message, MessageKind};
    ///
    /// let xml = "<xml><ToUserName><![CDATA[gh_123]]></ToUserName>\
    ///     <FromUserName><![CDATA[openid]]></FromUserName><CreateTime>1348831860</CreateTime>\
    ///     <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content>\
    ///     <MsgId>1234567890123456</MsgId></xml>";
    /// let message = Message::parse(xml)?;
    /// assert_eq!(message.from_user_name(), Some("openid"));
    /// assert_eq!(message.create_time(), Some(1348831860));
    /// assert_eq!(message.msg_id(), Some(1234567890123456));
    /// assert_eq!(message.kind(), &MessageKind::Text { content: "hi".into() });
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn parse(xml: &str) -> Result<Message> {
        Ok(Message::from_fields(parse_fields(xml)?))
    }

    /// Parses a push message in JSON, decrypted or sent in plain mode, into
    /// the same [`Message`] as its XML twin: the same field names, nested
    /// objects joined by `/`, the second and later elements of an array
    /// indexed (`List[2]/TemplateId`).
    ///
    /// Values are kept as sent: a number is its JSON text (`1700000000`,
    /// `23.1345210`, never rounded), `true` and `false` their text, `null`,
    /// `{}` and `[]` an empty value. Typed views read numbers from either a
    /// JSON number or a string of digits, as WeChat sends both.
    ///
    /// # Errors
    ///
    /// All of kind [`ErrorKind::Callback`](crate::ErrorKind::Callback), in
    /// the order checked: [`CallbackErrorKind::JsonTooLarge`] for a document
    /// over 1 MiB, [`CallbackErrorKind::JsonTooDeep`] when objects and
    /// arrays nest deeper than 32 (the outer object counts),
    /// [`CallbackErrorKind::Json`] when it is not one well-formed object,
    /// or when two values land on one field path (a key sent twice, a key
    /// holding `/`), and `JsonTooLarge` again when the flattened paths add
    /// up to more than 1 MiB. As with XML, a push that does not fit the
    /// model of its kind is [`MessageKind::Other`], not an error.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Message, MessageKind};
    ///
    /// let json = r#"{"ToUserName":"gh_123","FromUserName":"openid","CreateTime":1348831860,
    ///     "MsgType":"text","Content":"hi","MsgId":1234567890123456}"#;
    /// let message = Message::parse_json(json)?;
    /// assert_eq!(message.create_time(), Some(1348831860));
    /// assert_eq!(message.kind(), &MessageKind::Text { content: "hi".into() });
    ///
    /// // The same message as XML is the same `Message`.
    /// let xml = "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
    ///     <CreateTime>1348831860</CreateTime><MsgType>text</MsgType><Content>hi</Content>\
    ///     <MsgId>1234567890123456</MsgId></xml>";
    /// assert_eq!(message, Message::parse(xml)?);
    ///
    /// // Nested values, by path.
    /// let json = r#"{"MsgType":"event","Event":"subscribe_msg_popup_event","List":[
    ///     {"TemplateId":"t1","SubscribeStatusString":"accept"},
    ///     {"TemplateId":"t2","SubscribeStatusString":"reject"}]}"#;
    /// let message = Message::parse_json(json)?;
    /// assert_eq!(message.field("List/TemplateId"), Some("t1"));
    /// assert_eq!(message.field("List[2]/SubscribeStatusString"), Some("reject"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn parse_json(json: &str) -> Result<Message> {
        Ok(Message::from_fields(parse_json_fields(json)?))
    }

    /// Parses `text` in `format` (XML for [`PushFormat::Detect`], which
    /// callers resolve first).
    pub(crate) fn parse_as(text: &str, format: PushFormat) -> Result<Message> {
        match format {
            PushFormat::Json => Message::parse_json(text),
            _ => Message::parse(text),
        }
    }

    fn from_fields(fields: BTreeMap<String, String>) -> Message {
        let kind = MessageKind::from_fields(&fields);
        Message { fields, kind }
    }

    /// The typed view of the message.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{ComponentPush, Message, MessageKind};
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
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn kind(&self) -> &MessageKind {
        &self.kind
    }

    /// The typed view of the message, by value.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Event, Message, MessageKind};
    ///
    /// let xml = "<xml><MsgType>event</MsgType><Event>subscribe</Event></xml>";
    /// assert_eq!(
    ///     Message::parse(xml)?.into_kind(),
    ///     MessageKind::Event(Event::Subscribe { scene: None, ticket: None })
    /// );
    /// # Ok::<(), weixin::Error>(())
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
    /// let message = weixin::Message::parse(xml)?;
    /// let names: Vec<&str> = message.fields().keys().map(String::as_str).collect();
    /// assert_eq!(names, ["MediaId", "MsgType"]);
    /// # Ok::<(), weixin::Error>(())
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
    /// let message = weixin::Message::parse(xml)?;
    /// let shown = message.redacted_fields();
    /// assert_eq!(shown["ComponentVerifyTicket"], "[redacted]");
    /// assert_eq!(shown["AppId"], "wx_component");
    /// assert_eq!(message.field("ComponentVerifyTicket"), Some("ticket@@@x"));
    /// # Ok::<(), weixin::Error>(())
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
    /// let message = weixin::Message::parse(xml)?;
    /// assert_eq!(message.field("ScanCodeInfo/ScanType"), Some("qrcode"));
    /// assert_eq!(message.field("EventKey"), None);
    /// # Ok::<(), weixin::Error>(())
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
    /// let message = weixin::Message::parse(xml)?;
    /// assert_eq!(message.to_user_name(), Some("gh_123"));
    /// # Ok::<(), weixin::Error>(())
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
    /// let message = weixin::Message::parse(xml)?;
    /// assert_eq!(message.from_user_name(), Some("openid"));
    /// # Ok::<(), weixin::Error>(())
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
    /// let message = weixin::Message::parse(xml)?;
    /// assert_eq!(message.create_time(), Some(1348831860));
    /// # Ok::<(), weixin::Error>(())
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
    /// let message = weixin::Message::parse(xml)?;
    /// assert_eq!(message.msg_type(), Some("voice"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn msg_type(&self) -> Option<&str> {
        self.field("MsgType")
    }

    /// `MsgId`: WeChat's 64-bit id of a user message, the key to drop
    /// the copies WeChat sends again when an answer is late. `None` for
    /// events, or when it is not a number.
    ///
    /// # Example
    ///
    /// ```
    /// let xml = "<xml><MsgType>text</MsgType><Content>hi</Content><MsgId>42</MsgId></xml>";
    /// assert_eq!(weixin::Message::parse(xml)?.msg_id(), Some(42));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn msg_id(&self) -> Option<u64> {
        self.field("MsgId").and_then(|t| t.trim().parse().ok())
    }

    /// A reply to this message: addressed to its sender, from the account
    /// it was sent to, dated now.
    ///
    /// # Errors
    ///
    /// [`CallbackErrorKind::NotReplyable`] when the message lacks
    /// `ToUserName` or `FromUserName` (third-party platform notifications
    /// do), and [`CallbackErrorKind::ArticleCount`] for a news reply with no
    /// article, or with more than WeChat takes in answer to this message: 1
    /// for a user's message (text, image, voice, video, location, link), 8
    /// for an event.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Article, CallbackErrorKind, ErrorKind, Message, ReplyKind};
    ///
    /// let xml = "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content></xml>";
    /// let message = Message::parse(xml)?;
    /// let reply = message.reply(ReplyKind::text("hello"))?.create_time(2);
    /// assert_eq!(
    ///     reply.to_xml()?,
    ///     "<xml><ToUserName><![CDATA[openid]]></ToUserName>\
    ///      <FromUserName><![CDATA[gh_123]]></FromUserName><CreateTime>2</CreateTime>\
    ///      <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content></xml>"
    /// );
    ///
    /// // WeChat takes one article in answer to a user's message.
    /// let err = message.reply(ReplyKind::news(vec![Article::default(); 2])).unwrap_err();
    /// assert_eq!(
    ///     err.kind(),
    ///     &ErrorKind::Callback(CallbackErrorKind::ArticleCount { count: 2, max: 1 })
    /// );
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn reply(&self, kind: ReplyKind) -> Result<Reply> {
        let (Some(to), Some(from)) = (self.from_user_name(), self.to_user_name()) else {
            return Err(Error::callback(CallbackErrorKind::NotReplyable));
        };
        let max = if self.msg_type() == Some("event") {
            MAX_ARTICLES
        } else {
            1
        };
        check_articles(&kind, max)?;
        Ok(Reply::new(to, from, kind))
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

/// What the unit tests of the push readers share.
#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeMap;

    use super::{Event, Message, MessageKind};
    use crate::error::{CallbackErrorKind, Error, ErrorKind};

    /// The callback error kind of `err`; any other error fails the test.
    pub(crate) fn kind(err: Error) -> CallbackErrorKind {
        match err.kind() {
            ErrorKind::Callback(kind) => kind.clone(),
            other => panic!("not a callback error: {other:?}"),
        }
    }

    /// A field map from `(path, value)` pairs.
    pub(crate) fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The typed view of an XML push.
    pub(crate) fn xml_kind(xml: &str) -> MessageKind {
        Message::parse(xml).unwrap().into_kind()
    }

    /// The typed view of a JSON push.
    pub(crate) fn json_kind(json: &str) -> MessageKind {
        Message::parse_json(json).unwrap().into_kind()
    }

    /// The typed view of an XML push and of its JSON twin, which must be
    /// the same `Message` (the same field paths and values).
    pub(crate) fn twins(xml: &str, json: &str) -> MessageKind {
        let message = Message::parse(xml).unwrap();
        assert_eq!(message, Message::parse_json(json).unwrap(), "{json}");
        message.into_kind()
    }

    /// An event `name` with `extra` fields, in XML.
    pub(crate) fn event_xml(name: &str, extra: &str) -> String {
        format!(
            "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
             <CreateTime>1</CreateTime><MsgType>event</MsgType><Event><![CDATA[{name}]]></Event>\
             {extra}</xml>"
        )
    }

    /// What a push that does not fit its event's model is: the event's
    /// name and key, every field still in the message.
    pub(crate) fn assert_untyped_event(message: &Message, event_key: Option<&str>) {
        assert_eq!(
            message.kind(),
            &MessageKind::Event(Event::Other {
                event: message.field("Event").unwrap().to_string(),
                event_key: event_key.map(str::to_string),
            }),
            "{message:?}"
        );
        assert!(message.fields().len() > 2, "{message:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::fields;
    use super::*;
    use crate::error::ErrorKind;
    use crate::secret::Secret;

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
        assert_eq!(message.msg_id(), Some(1234567890123456));
        assert_eq!(
            message.kind(),
            &MessageKind::Text {
                content: " a <b> & ]]".into(),
            }
        );

        // Escaped text reads the same as CDATA.
        let xml = "<xml><MsgType>text</MsgType><Content>a &lt;b&gt; &amp; &#x4e2d;</Content></xml>";
        assert_eq!(
            Message::parse(xml).unwrap().into_kind(),
            MessageKind::Text {
                content: "a <b> & 中".into(),
            }
        );
    }

    #[test]
    fn keeps_every_field_including_nested_ones() {
        let xml = "<xml><ToUserName>gh_1</ToUserName><MsgType>event</MsgType>\
            <Event>pic_sysphoto</Event><EventKey>6</EventKey><MediaId/><SendPicsInfo>\
            <Count>2</Count><PicList><item><PicMd5Sum>aa</PicMd5Sum></item>\
            <item><PicMd5Sum>bb</PicMd5Sum></item></PicList></SendPicsInfo></xml>";
        let message = Message::parse(xml).unwrap();
        let MessageKind::Event(Event::PicSysPhoto { key, pics }) = message.kind() else {
            panic!("{message:?}");
        };
        assert_eq!((key.as_str(), pics.count), ("6", 2));
        assert_eq!(pics.pic_md5_sums, ["aa", "bb"]);
        // Typed, and every field still there.
        assert_eq!(
            message.fields(),
            &fields(&[
                ("Event", "pic_sysphoto"),
                ("EventKey", "6"),
                ("MediaId", ""),
                ("MsgType", "event"),
                ("SendPicsInfo/Count", "2"),
                ("SendPicsInfo/PicList/item/PicMd5Sum", "aa"),
                ("SendPicsInfo/PicList/item[2]/PicMd5Sum", "bb"),
                ("ToUserName", "gh_1"),
            ])
        );
        assert_eq!(message.field("SendPicsInfo"), None);
    }

    #[test]
    fn debug_masks_credentials() {
        let xml = "<xml><AppId>wx_component</AppId><CreateTime>1413192605</CreateTime>\
            <InfoType>component_verify_ticket</InfoType>\
            <ComponentVerifyTicket><![CDATA[ticket@@@abc]]></ComponentVerifyTicket></xml>";
        let message = Message::parse(xml).unwrap();
        let shown = format!("{message:?}");
        assert!(!shown.contains("ticket@@@abc"), "{shown}");
        assert!(
            shown.contains("\"ComponentVerifyTicket\": \"[redacted]\""),
            "{shown}"
        );
        assert!(matches!(
            message.kind(),
            MessageKind::Component(ComponentPush::VerifyTicket { ticket, .. })
                if ticket == &Secret::new("ticket@@@abc")
        ));
    }

    #[test]
    fn replies_are_addressed_back_and_news_is_limited_by_what_is_answered() {
        let user = Message::parse(
            "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
             <MsgType>location</MsgType></xml>",
        )
        .unwrap();
        let event = Message::parse(
            "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
             <MsgType>event</MsgType><Event>subscribe</Event></xml>",
        )
        .unwrap();
        let news = |n: usize| ReplyKind::news(vec![Article::default(); n]);
        let count = |err: Error| match err.kind() {
            ErrorKind::Callback(CallbackErrorKind::ArticleCount { count, max }) => (*count, *max),
            other => panic!("{other:?}"),
        };

        let reply = user.reply(ReplyKind::text("]]>")).unwrap().create_time(5);
        assert_eq!(
            reply,
            Reply::new("openid", "gh_123", ReplyKind::text("]]>")).create_time(5)
        );
        assert!(user.reply(news(1)).is_ok());
        assert_eq!(count(user.reply(news(2)).unwrap_err()), (2, 1));
        assert_eq!(count(user.reply(news(0)).unwrap_err()), (0, 1));
        assert!(event.reply(news(8)).is_ok());
        assert_eq!(count(event.reply(news(9)).unwrap_err()), (9, 8));

        let push = Message::parse("<xml><AppId>wx</AppId><InfoType>x</InfoType></xml>").unwrap();
        assert_eq!(
            push.reply(ReplyKind::text("x")).unwrap_err().kind(),
            &ErrorKind::Callback(CallbackErrorKind::NotReplyable)
        );
    }
}
