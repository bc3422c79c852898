//! Passive replies: the XML or JSON body answered to a push to send
//! something back to the user at once.

use std::fmt::Write as _;

use super::json::{json_error, JsonWriter};
use super::xml::{cdata, xml_error};
use super::{Message, PushFormat};
use crate::error::{CallbackErrorKind, Error, Result};

/// The most articles a news reply may carry when answering an event. A
/// reply to a user's own message (text, image, location...) may carry one.
pub(crate) const MAX_ARTICLES: usize = 8;

/// A passive reply, addressed: from the account to the user who sent the
/// push.
///
/// [`Message::reply`] addresses one from the message it answers and checks
/// WeChat's limit on articles; a
/// [`CallbackHandler`](crate::CallbackHandler) does that for you and
/// encrypts the result. [`Reply::to_xml`] is the body to answer with in
/// plain mode; in encrypted mode pass it to
/// [`MessageCrypto::encrypt`](crate::MessageCrypto::encrypt).
///
/// # Example
///
/// ```
/// use weixin::{Reply, ReplyKind};
///
/// let reply = Reply::new("openid", "gh_123", ReplyKind::image("media-1")).create_time(7);
/// assert_eq!(
///     reply.to_xml()?,
///     "<xml><ToUserName><![CDATA[openid]]></ToUserName>\
///      <FromUserName><![CDATA[gh_123]]></FromUserName><CreateTime>7</CreateTime>\
///      <MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[media-1]]></MediaId></Image></xml>"
/// );
/// assert_eq!(Reply::parse(&reply.to_xml()?)?, reply);
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    to_user_name: String,
    from_user_name: String,
    create_time: u64,
    kind: ReplyKind,
}

/// What a [`Reply`] says: every passive reply type WeChat accepts.
///
/// Optional fields left `None` are left out of the XML.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyKind {
    /// `text`: a text message.
    Text {
        /// `Content`.
        content: String,
    },
    /// `image`: a picture uploaded as media.
    Image {
        /// `Image/MediaId`.
        media_id: String,
    },
    /// `voice`: a voice message uploaded as media.
    Voice {
        /// `Voice/MediaId`.
        media_id: String,
    },
    /// `video`: a video uploaded as media.
    Video {
        /// `Video/MediaId`.
        media_id: String,
        /// `Video/Title`.
        title: Option<String>,
        /// `Video/Description`.
        description: Option<String>,
    },
    /// `music`: a music message.
    Music {
        /// `Music/Title`.
        title: Option<String>,
        /// `Music/Description`.
        description: Option<String>,
        /// `Music/MusicUrl`.
        music_url: Option<String>,
        /// `Music/HQMusicUrl`, played on Wi-Fi.
        hq_music_url: Option<String>,
        /// `Music/ThumbMediaId`, the cover uploaded as media.
        thumb_media_id: String,
    },
    /// `news`: articles that open a URL. At most 8 when answering an
    /// event, and 1 when answering a user's message.
    News {
        /// `Articles/item`, in order.
        articles: Vec<Article>,
    },
    /// `transfer_customer_service`: hands the user's message to the
    /// customer service system, to one agent or to any.
    TransferCustomerService {
        /// `TransInfo/KfAccount`, the agent (`account@gh_...`).
        kf_account: Option<String>,
    },
}

/// One article of a news reply.
///
/// # Example
///
/// ```
/// use weixin::{Article, ReplyKind};
///
/// let article = Article {
///     title: "Hello".into(),
///     url: "https://example.com/a".into(),
///     ..Article::default()
/// };
/// let kind = ReplyKind::news([article]);
/// assert!(matches!(kind, ReplyKind::News { articles } if articles.len() == 1));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Article {
    /// `Title`.
    pub title: String,
    /// `Description`.
    pub description: String,
    /// `PicUrl`: the picture, 360x200 for the first article, 200x200 for
    /// the others.
    pub pic_url: String,
    /// `Url`: what a tap opens.
    pub url: String,
}

impl ReplyKind {
    /// A `text` reply.
    ///
    /// # Example
    ///
    /// ```
    /// let kind = weixin::ReplyKind::text("hello");
    /// assert_eq!(kind, weixin::ReplyKind::Text { content: "hello".into() });
    /// ```
    pub fn text(content: impl Into<String>) -> ReplyKind {
        ReplyKind::Text {
            content: content.into(),
        }
    }

    /// An `image` reply of uploaded media.
    ///
    /// # Example
    ///
    /// ```
    /// let kind = weixin::ReplyKind::image("media-1");
    /// assert_eq!(kind, weixin::ReplyKind::Image { media_id: "media-1".into() });
    /// ```
    pub fn image(media_id: impl Into<String>) -> ReplyKind {
        ReplyKind::Image {
            media_id: media_id.into(),
        }
    }

    /// A `voice` reply of uploaded media.
    ///
    /// # Example
    ///
    /// ```
    /// let kind = weixin::ReplyKind::voice("media-2");
    /// assert_eq!(kind, weixin::ReplyKind::Voice { media_id: "media-2".into() });
    /// ```
    pub fn voice(media_id: impl Into<String>) -> ReplyKind {
        ReplyKind::Voice {
            media_id: media_id.into(),
        }
    }

    /// A `news` reply of `articles`.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Article, ReplyKind};
    ///
    /// let kind = ReplyKind::news(vec![Article::default(); 2]);
    /// assert!(matches!(kind, ReplyKind::News { articles } if articles.len() == 2));
    /// ```
    pub fn news(articles: impl IntoIterator<Item = Article>) -> ReplyKind {
        ReplyKind::News {
            articles: articles.into_iter().collect(),
        }
    }

    /// The reply's `MsgType`.
    fn msg_type(&self) -> &'static str {
        match self {
            ReplyKind::Text { .. } => "text",
            ReplyKind::Image { .. } => "image",
            ReplyKind::Voice { .. } => "voice",
            ReplyKind::Video { .. } => "video",
            ReplyKind::Music { .. } => "music",
            ReplyKind::News { .. } => "news",
            ReplyKind::TransferCustomerService { .. } => "transfer_customer_service",
        }
    }
}

impl Reply {
    /// A reply to the user `to_user_name` (an openid) from the account
    /// `from_user_name` (its `gh_...` original id), dated now.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Reply, ReplyKind};
    ///
    /// let reply = Reply::new("openid", "gh_123", ReplyKind::text("hello"));
    /// assert_eq!(reply.to_user_name(), "openid");
    /// assert_eq!(reply.from_user_name(), "gh_123");
    /// assert_eq!(reply.kind(), &ReplyKind::text("hello"));
    /// ```
    pub fn new(
        to_user_name: impl Into<String>,
        from_user_name: impl Into<String>,
        kind: ReplyKind,
    ) -> Reply {
        Reply {
            to_user_name: to_user_name.into(),
            from_user_name: from_user_name.into(),
            // A clock before 1970 is a broken host; 0 still makes a valid reply.
            create_time: crate::token::unix_now(),
            kind,
        }
    }

    /// Sets `CreateTime`, seconds since the Unix epoch. Defaults to the
    /// current time.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Reply, ReplyKind};
    ///
    /// let reply = Reply::new("openid", "gh_123", ReplyKind::text("hi")).create_time(1348831860);
    /// assert!(reply.to_xml()?.contains("<CreateTime>1348831860</CreateTime>"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn create_time(mut self, create_time: u64) -> Reply {
        self.create_time = create_time;
        self
    }

    /// `ToUserName`: the user the reply goes to.
    ///
    /// # Example
    ///
    /// ```
    /// let reply = weixin::Reply::new("openid", "gh_123", weixin::ReplyKind::text("hi"));
    /// assert_eq!(reply.to_user_name(), "openid");
    /// ```
    pub fn to_user_name(&self) -> &str {
        &self.to_user_name
    }

    /// `FromUserName`: the account the reply comes from.
    ///
    /// # Example
    ///
    /// ```
    /// let reply = weixin::Reply::new("openid", "gh_123", weixin::ReplyKind::text("hi"));
    /// assert_eq!(reply.from_user_name(), "gh_123");
    /// ```
    pub fn from_user_name(&self) -> &str {
        &self.from_user_name
    }

    /// What the reply says.
    ///
    /// # Example
    ///
    /// ```
    /// let reply = weixin::Reply::new("openid", "gh_123", weixin::ReplyKind::voice("m"));
    /// assert_eq!(reply.kind(), &weixin::ReplyKind::voice("m"));
    /// ```
    pub fn kind(&self) -> &ReplyKind {
        &self.kind
    }

    /// The reply as XML. Every string is in CDATA, with any `]]>` inside it
    /// split across two sections so that no content can end the section
    /// early or add elements.
    ///
    /// # Errors
    ///
    /// [`CallbackErrorKind::ArticleCount`] for a news reply with no article
    /// or more than 8.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Article, CallbackErrorKind, ErrorKind, Reply, ReplyKind};
    ///
    /// let reply = Reply::new("openid", "gh_123", ReplyKind::text("a]]>b")).create_time(7);
    /// assert!(reply.to_xml()?.contains("<Content><![CDATA[a]]]]><![CDATA[>b]]></Content>"));
    ///
    /// let nine = Reply::new("openid", "gh_123", ReplyKind::news(vec![Article::default(); 9]));
    /// assert_eq!(
    ///     nine.to_xml().unwrap_err().kind(),
    ///     &ErrorKind::Callback(CallbackErrorKind::ArticleCount { count: 9, max: 8 })
    /// );
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn to_xml(&self) -> Result<String> {
        check_articles(&self.kind, MAX_ARTICLES)?;
        let mut xml = XmlSink(String::with_capacity(256));
        xml.0.push_str("<xml>");
        self.write_to(&mut xml);
        xml.0.push_str("</xml>");
        Ok(xml.0)
    }

    /// The reply as JSON, for a push that came in JSON (a mini program's):
    /// the fields of [`Reply::to_xml`] under the same names, `CreateTime`
    /// and `ArticleCount` as numbers, `Articles` as an array of objects.
    /// Every string is escaped, so no content can add a member.
    ///
    /// # Errors
    ///
    /// [`CallbackErrorKind::ArticleCount`] for a news reply with no article
    /// or more than 8.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Reply, ReplyKind};
    ///
    /// let kind = ReplyKind::TransferCustomerService { kf_account: Some("kf@gh_1".into()) };
    /// let reply = Reply::new("openid", "gh_1", kind).create_time(7);
    /// assert_eq!(
    ///     reply.to_json()?,
    ///     r#"{"ToUserName":"openid","FromUserName":"gh_1","CreateTime":7,"MsgType":"transfer_customer_service","TransInfo":{"KfAccount":"kf@gh_1"}}"#
    /// );
    /// assert_eq!(Reply::parse_json(&reply.to_json()?)?, reply);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn to_json(&self) -> Result<String> {
        check_articles(&self.kind, MAX_ARTICLES)?;
        Ok(JsonWriter::build(|o| self.write_to(o)))
    }

    /// Every member of the reply, in WeChat's order, to either format.
    fn write_to(&self, o: &mut impl Sink) {
        o.text("ToUserName", &self.to_user_name);
        o.text("FromUserName", &self.from_user_name);
        o.number("CreateTime", self.create_time);
        o.text("MsgType", self.kind.msg_type());
        match &self.kind {
            ReplyKind::Text { content } => o.text("Content", content),
            ReplyKind::Image { media_id } => o.nested("Image", |o| o.text("MediaId", media_id)),
            ReplyKind::Voice { media_id } => o.nested("Voice", |o| o.text("MediaId", media_id)),
            ReplyKind::Video {
                media_id,
                title,
                description,
            } => o.nested("Video", |o| {
                o.text("MediaId", media_id);
                o.optional("Title", title.as_deref());
                o.optional("Description", description.as_deref());
            }),
            ReplyKind::Music {
                title,
                description,
                music_url,
                hq_music_url,
                thumb_media_id,
            } => o.nested("Music", |o| {
                o.optional("Title", title.as_deref());
                o.optional("Description", description.as_deref());
                o.optional("MusicUrl", music_url.as_deref());
                o.optional("HQMusicUrl", hq_music_url.as_deref());
                o.text("ThumbMediaId", thumb_media_id);
            }),
            ReplyKind::News { articles } => {
                o.number("ArticleCount", articles.len() as u64);
                o.list("Articles", articles.len(), |o, i| {
                    let article = &articles[i];
                    o.text("Title", &article.title);
                    o.text("Description", &article.description);
                    o.text("PicUrl", &article.pic_url);
                    o.text("Url", &article.url);
                });
            }
            ReplyKind::TransferCustomerService { kf_account } => {
                if let Some(kf_account) = kf_account {
                    o.nested("TransInfo", |o| o.text("KfAccount", kf_account));
                }
            }
        }
    }

    /// The reply in `format` ([`Reply::to_json`] for JSON, else
    /// [`Reply::to_xml`]).
    pub(crate) fn to_format(&self, format: PushFormat) -> Result<String> {
        match format {
            PushFormat::Json => self.to_json(),
            _ => self.to_xml(),
        }
    }

    /// Reads a reply back from its XML (through [`Message::parse`], with
    /// its limits): for tests that check what a server answered.
    ///
    /// # Errors
    ///
    /// The errors of [`Message::parse`]; [`CallbackErrorKind::Xml`] when
    /// the document is not a passive reply (an unknown `MsgType`, a field
    /// its type needs is missing, `CreateTime` or `ArticleCount` is not a
    /// number, or `ArticleCount` does not match the articles).
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Reply, ReplyKind};
    ///
    /// let xml = "<xml><ToUserName>openid</ToUserName><FromUserName>gh_1</FromUserName>\
    ///     <CreateTime>5</CreateTime><MsgType>transfer_customer_service</MsgType></xml>";
    /// let reply = Reply::parse(xml)?;
    /// assert_eq!(reply.kind(), &ReplyKind::TransferCustomerService { kf_account: None });
    /// assert!(Reply::parse("<xml><MsgType>event</MsgType></xml>").is_err());
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn parse(xml: &str) -> Result<Reply> {
        Reply::from_message(&Message::parse(xml)?, PushFormat::Xml)
    }

    /// Reads a reply back from its JSON (through [`Message::parse_json`],
    /// with its limits): for tests that check what a mini program's server
    /// answered.
    ///
    /// # Errors
    ///
    /// The errors of [`Message::parse_json`]; [`CallbackErrorKind::Json`]
    /// when the document is not a passive reply, as for [`Reply::parse`].
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Reply, ReplyKind};
    ///
    /// let json = r#"{"ToUserName":"openid","FromUserName":"gh_1","CreateTime":5,
    ///     "MsgType":"transfer_customer_service"}"#;
    /// let reply = Reply::parse_json(json)?;
    /// assert_eq!(reply.kind(), &ReplyKind::TransferCustomerService { kf_account: None });
    /// assert!(Reply::parse_json(r#"{"MsgType":"event"}"#).is_err());
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn parse_json(json: &str) -> Result<Reply> {
        Reply::from_message(&Message::parse_json(json)?, PushFormat::Json)
    }

    /// The reply `message` holds, read as `format` writes it.
    fn from_message(message: &Message, format: PushFormat) -> Result<Reply> {
        let json = format == PushFormat::Json;
        let error = |why: String| {
            if json {
                json_error(why)
            } else {
                xml_error(why)
            }
        };
        let msg_type = message.msg_type().unwrap_or_default().to_string();
        let get = |name: &str| message.field(name).map(str::to_string);
        let require = |name: &str| {
            get(name).ok_or_else(|| error(format!("a {msg_type} reply without <{name}>")))
        };
        let number = |name: &str| -> Result<u64> {
            require(name)?
                .trim()
                .parse()
                .map_err(|_| error(format!("<{name}> of a reply is not a number")))
        };
        // The i-th article: `Articles/item[i]` in XML, `Articles[i]` in JSON.
        let item = |i: u64| match (json, i) {
            (true, 1) => "Articles".to_string(),
            (true, i) => format!("Articles[{i}]"),
            (false, 1) => "Articles/item".to_string(),
            (false, i) => format!("Articles/item[{i}]"),
        };
        let kind = match msg_type.as_str() {
            "text" => ReplyKind::text(require("Content")?),
            "image" => ReplyKind::image(require("Image/MediaId")?),
            "voice" => ReplyKind::voice(require("Voice/MediaId")?),
            "video" => ReplyKind::Video {
                media_id: require("Video/MediaId")?,
                title: get("Video/Title"),
                description: get("Video/Description"),
            },
            "music" => ReplyKind::Music {
                title: get("Music/Title"),
                description: get("Music/Description"),
                music_url: get("Music/MusicUrl"),
                hq_music_url: get("Music/HQMusicUrl"),
                thumb_media_id: require("Music/ThumbMediaId")?,
            },
            "news" => {
                let count = number("ArticleCount")?;
                let articles = (1..=count)
                    .map(|i| {
                        let part = |name: &str| require(&format!("{}/{name}", item(i)));
                        Ok(Article {
                            title: part("Title")?,
                            description: part("Description")?,
                            pic_url: part("PicUrl")?,
                            url: part("Url")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let beyond = format!("{}/Title", item(count + 1));
                if message.field(&beyond).is_some() {
                    return Err(error("more articles than <ArticleCount>".into()));
                }
                ReplyKind::News { articles }
            }
            "transfer_customer_service" => ReplyKind::TransferCustomerService {
                kf_account: get("TransInfo/KfAccount"),
            },
            other => return Err(error(format!("not a passive reply: MsgType {other:?}"))),
        };
        Ok(Reply {
            to_user_name: require("ToUserName")?,
            from_user_name: require("FromUserName")?,
            create_time: number("CreateTime")?,
            kind,
        })
    }
}

/// Refuses a news reply with no article or more than `max`.
pub(crate) fn check_articles(kind: &ReplyKind, max: usize) -> Result<()> {
    match kind {
        ReplyKind::News { articles } if articles.is_empty() || articles.len() > max => {
            Err(Error::callback(CallbackErrorKind::ArticleCount {
                count: articles.len(),
                max,
            }))
        }
        _ => Ok(()),
    }
}

/// Refuses a reply a mini program does not take: everything but
/// `transfer_customer_service` (a mini program's user gets other answers
/// as customer service messages, sent through the API).
pub(crate) fn check_mini_program(kind: &ReplyKind) -> Result<()> {
    match kind {
        ReplyKind::TransferCustomerService { .. } => Ok(()),
        other => Err(Error::callback(CallbackErrorKind::MiniProgramReply {
            msg_type: other.msg_type(),
        })),
    }
}

/// Where a reply's members are written: one walk over a reply
/// ([`Reply::write_to`]) serves the XML and the JSON writer.
trait Sink {
    /// A string member (CDATA in XML, escaped in JSON).
    fn text(&mut self, name: &str, value: &str);
    /// A number member.
    fn number(&mut self, name: &str, value: u64);
    /// A member holding the members `inner` writes.
    fn nested(&mut self, name: &str, inner: impl FnOnce(&mut Self));
    /// `count` items under `name`, the i-th written by `item`: XML's
    /// `<name><item>..</item>..</name>`, JSON's `"name":[{..},..]`.
    fn list(&mut self, name: &str, count: usize, item: impl FnMut(&mut Self, usize));
    /// A string member when there is a value.
    fn optional(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.text(name, value);
        }
    }
}

/// A reply's XML, written into the string.
struct XmlSink(String);

impl Sink for XmlSink {
    fn text(&mut self, name: &str, value: &str) {
        // ok because writing to a String cannot fail
        let _ = write!(self.0, "<{name}>{}</{name}>", cdata(value));
    }

    fn number(&mut self, name: &str, value: u64) {
        let _ = write!(self.0, "<{name}>{value}</{name}>");
    }

    fn nested(&mut self, name: &str, inner: impl FnOnce(&mut Self)) {
        let _ = write!(self.0, "<{name}>");
        inner(self);
        let _ = write!(self.0, "</{name}>");
    }

    fn list(&mut self, name: &str, count: usize, mut item: impl FnMut(&mut Self, usize)) {
        self.nested(name, |x| {
            for i in 0..count {
                x.nested("item", |x| item(x, i));
            }
        });
    }
}

impl Sink for JsonWriter {
    fn text(&mut self, name: &str, value: &str) {
        self.string(name, value);
    }

    fn number(&mut self, name: &str, value: u64) {
        JsonWriter::number(self, name, value);
    }

    fn nested(&mut self, name: &str, inner: impl FnOnce(&mut Self)) {
        self.object(name, inner);
    }

    fn list(&mut self, name: &str, count: usize, item: impl FnMut(&mut Self, usize)) {
        self.objects(name, count, item);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::ErrorKind;

    fn addressed(kind: ReplyKind) -> Reply {
        Reply::new("openid", "gh_123", kind).create_time(1348831860)
    }

    const HEAD: &str = "<xml><ToUserName><![CDATA[openid]]></ToUserName>\
        <FromUserName><![CDATA[gh_123]]></FromUserName><CreateTime>1348831860</CreateTime>";

    #[test]
    fn every_reply_type_is_the_documented_xml() {
        let some = |s: &str| Some(s.to_string());
        for (kind, body) in [
            (
                ReplyKind::text("hi"),
                "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content>",
            ),
            (
                ReplyKind::image("m1"),
                "<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[m1]]></MediaId></Image>",
            ),
            (
                ReplyKind::voice("m2"),
                "<MsgType><![CDATA[voice]]></MsgType><Voice><MediaId><![CDATA[m2]]></MediaId></Voice>",
            ),
            (
                ReplyKind::Video {
                    media_id: "m3".into(),
                    title: some("t"),
                    description: None,
                },
                "<MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[m3]]></MediaId>\
                 <Title><![CDATA[t]]></Title></Video>",
            ),
            (
                ReplyKind::Music {
                    title: some("t"),
                    description: some("d"),
                    music_url: some("http://m"),
                    hq_music_url: some("http://hq"),
                    thumb_media_id: "th".into(),
                },
                "<MsgType><![CDATA[music]]></MsgType><Music><Title><![CDATA[t]]></Title>\
                 <Description><![CDATA[d]]></Description><MusicUrl><![CDATA[http://m]]></MusicUrl>\
                 <HQMusicUrl><![CDATA[http://hq]]></HQMusicUrl><ThumbMediaId><![CDATA[th]]></ThumbMediaId></Music>",
            ),
            (
                ReplyKind::news([Article {
                    title: "t".into(),
                    description: "d".into(),
                    pic_url: "http://p".into(),
                    url: "http://u".into(),
                }]),
                "<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><item>\
                 <Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description>\
                 <PicUrl><![CDATA[http://p]]></PicUrl><Url><![CDATA[http://u]]></Url></item></Articles>",
            ),
            (
                ReplyKind::TransferCustomerService { kf_account: None },
                "<MsgType><![CDATA[transfer_customer_service]]></MsgType>",
            ),
            (
                ReplyKind::TransferCustomerService {
                    kf_account: some("kf2001@gh_123"),
                },
                "<MsgType><![CDATA[transfer_customer_service]]></MsgType><TransInfo>\
                 <KfAccount><![CDATA[kf2001@gh_123]]></KfAccount></TransInfo>",
            ),
        ] {
            let reply = addressed(kind);
            assert_eq!(reply.to_xml().unwrap(), format!("{HEAD}{body}</xml>"));
            assert_eq!(Reply::parse(&reply.to_xml().unwrap()).unwrap(), reply);
        }
    }

    #[test]
    fn every_reply_type_is_json_with_the_xml_names() {
        let some = |s: &str| Some(s.to_string());
        const HEAD: &str =
            r#"{"ToUserName":"openid","FromUserName":"gh_123","CreateTime":1348831860,"MsgType":"#;
        for (kind, body) in [
            (ReplyKind::text("h\"i"), r#""text","Content":"h\"i"}"#),
            (
                ReplyKind::image("m1"),
                r#""image","Image":{"MediaId":"m1"}}"#,
            ),
            (
                ReplyKind::voice("m2"),
                r#""voice","Voice":{"MediaId":"m2"}}"#,
            ),
            (
                ReplyKind::Video {
                    media_id: "m3".into(),
                    title: some("t"),
                    description: None,
                },
                r#""video","Video":{"MediaId":"m3","Title":"t"}}"#,
            ),
            (
                ReplyKind::Music {
                    title: None,
                    description: some("d"),
                    music_url: None,
                    hq_music_url: some("http://hq"),
                    thumb_media_id: "th".into(),
                },
                r#""music","Music":{"Description":"d","HQMusicUrl":"http://hq","ThumbMediaId":"th"}}"#,
            ),
            (
                ReplyKind::news(vec![
                    Article {
                        title: "t".into(),
                        ..Article::default()
                    },
                    Article::default(),
                ]),
                r#""news","ArticleCount":2,"Articles":[{"Title":"t","Description":"","PicUrl":"","Url":""},{"Title":"","Description":"","PicUrl":"","Url":""}]}"#,
            ),
            (
                ReplyKind::TransferCustomerService { kf_account: None },
                r#""transfer_customer_service"}"#,
            ),
        ] {
            let reply = addressed(kind);
            assert_eq!(reply.to_json().unwrap(), format!("{HEAD}{body}"));
            assert_eq!(Reply::parse_json(&reply.to_json().unwrap()).unwrap(), reply);
        }
        let err = addressed(ReplyKind::news([])).to_json().unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::Callback(CallbackErrorKind::ArticleCount { count: 0, max: 8 })
        );
        let err = Reply::parse_json(r#"{"MsgType":"image","Image":{}}"#).unwrap_err();
        assert_eq!(
            err.kind(),
            &ErrorKind::Callback(CallbackErrorKind::Json(
                "a image reply without <Image/MediaId>".into()
            ))
        );
    }

    #[test]
    fn a_mini_program_takes_only_the_transfer_to_customer_service() {
        assert!(
            check_mini_program(&ReplyKind::TransferCustomerService { kf_account: None }).is_ok()
        );
        for (kind, msg_type) in [
            (ReplyKind::text("hi"), "text"),
            (ReplyKind::image("m"), "image"),
            (ReplyKind::news([Article::default()]), "news"),
        ] {
            let err = check_mini_program(&kind).unwrap_err();
            assert_eq!(
                err.kind(),
                &ErrorKind::Callback(CallbackErrorKind::MiniProgramReply { msg_type })
            );
        }
        assert_eq!(
            Error::callback(CallbackErrorKind::MiniProgramReply { msg_type: "text" }).to_string(),
            "callback rejected: a mini program takes no passive text reply, only \
             transfer_customer_service: send it as a customer service message"
        );
    }

    #[test]
    fn news_needs_one_to_eight_articles() {
        for count in [0, 9, 100] {
            let err = addressed(ReplyKind::news(vec![Article::default(); count]))
                .to_xml()
                .unwrap_err();
            assert_eq!(
                err.kind(),
                &ErrorKind::Callback(CallbackErrorKind::ArticleCount { count, max: 8 })
            );
            assert_eq!(
                err.to_string(),
                format!("callback rejected: a news reply has {count} articles; WeChat takes 1 to 8 here")
            );
        }
        let eight = addressed(ReplyKind::news(vec![Article::default(); 8]));
        assert_eq!(Reply::parse(&eight.to_xml().unwrap()).unwrap(), eight);
    }

    #[test]
    fn parse_refuses_what_is_not_a_reply() {
        for (xml, why) in [
            (
                "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>\
                 <MsgType>event</MsgType></xml>",
                "not a passive reply: MsgType \"event\"",
            ),
            (
                "<xml><ToUserName>a</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>\
                 <Content>x</Content></xml>",
                "a text reply without <FromUserName>",
            ),
            (
                "<xml><MsgType>image</MsgType><MediaId>m</MediaId></xml>",
                "a image reply without <Image/MediaId>",
            ),
            (
                "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>\
                 <MsgType>news</MsgType><ArticleCount>1</ArticleCount><Articles>\
                 <item><Title>t</Title><Description>d</Description><PicUrl>p</PicUrl><Url>u</Url></item>\
                 <item><Title>t</Title><Description>d</Description><PicUrl>p</PicUrl><Url>u</Url></item>\
                 </Articles></xml>",
                "more articles than <ArticleCount>",
            ),
            (
                "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>now</CreateTime>\
                 <MsgType>text</MsgType><Content>x</Content></xml>",
                "<CreateTime> of a reply is not a number",
            ),
        ] {
            let err = Reply::parse(xml).unwrap_err();
            assert_eq!(
                err.kind(),
                &ErrorKind::Callback(CallbackErrorKind::Xml(why.into())),
                "{xml}"
            );
        }
    }

    fn text() -> impl Strategy<Value = String> {
        // Any string, with the CDATA terminator and markup made likely.
        prop_oneof![
            any::<String>(),
            "[a-z<>&\\]\\[!]{0,12}(\\]\\]>)[a-z<>&\\]]{0,12}",
        ]
    }

    fn article() -> impl Strategy<Value = Article> {
        (text(), text(), text(), text()).prop_map(|(title, description, pic_url, url)| Article {
            title,
            description,
            pic_url,
            url,
        })
    }

    fn reply_kind() -> impl Strategy<Value = ReplyKind> {
        let optional = || proptest::option::of(text());
        prop_oneof![
            text().prop_map(ReplyKind::text),
            text().prop_map(ReplyKind::image),
            text().prop_map(ReplyKind::voice),
            (text(), optional(), optional()).prop_map(|(media_id, title, description)| {
                ReplyKind::Video {
                    media_id,
                    title,
                    description,
                }
            }),
            (optional(), optional(), optional(), optional(), text()).prop_map(
                |(title, description, music_url, hq_music_url, thumb_media_id)| ReplyKind::Music {
                    title,
                    description,
                    music_url,
                    hq_music_url,
                    thumb_media_id,
                }
            ),
            proptest::collection::vec(article(), 1..=MAX_ARTICLES).prop_map(ReplyKind::news),
            optional().prop_map(|kf_account| ReplyKind::TransferCustomerService { kf_account }),
        ]
    }

    proptest! {
        #[test]
        fn every_reply_round_trips_through_message_parse(
            kind in reply_kind(),
            to in text(),
            from in text(),
            create_time in any::<u64>(),
        ) {
            let reply = Reply::new(to, from, kind).create_time(create_time);
            let xml = reply.to_xml().unwrap();
            let message = Message::parse(&xml).unwrap();
            prop_assert_eq!(message.to_user_name(), Some(reply.to_user_name()));
            prop_assert_eq!(message.create_time(), Some(create_time));
            prop_assert_eq!(Reply::parse(&xml).unwrap(), reply.clone());
            let json = reply.to_json().unwrap();
            let message = Message::parse_json(&json).unwrap();
            prop_assert_eq!(message.create_time(), Some(create_time));
            prop_assert_eq!(Reply::parse_json(&json).unwrap(), reply);
        }
    }
}
