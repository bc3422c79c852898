//! The typed view of a push: user messages, events and third-party platform
//! notifications, read from the flat field map.
//!
//! A push is typed when every field its model reads is present (and a
//! number where the model has one); otherwise it is
//! [`MessageKind::Other`] (or [`Event::Other`] for an event), and its fields
//! are still all in [`Message::fields`](crate::Message::fields). WeChat
//! adds fields and kinds over time: a push that does not fit a model still
//! reaches the application rather than failing the request.

use std::collections::BTreeMap;

use super::event::Event;
use super::fields::Fields;
use crate::secret::Secret;

/// What a [`Message`](crate::Message) is, with the fields that matter for
/// that kind.
///
/// The fields common to user messages and events (`ToUserName`,
/// `FromUserName`, `CreateTime`, `MsgType`, `MsgId`) are read through
/// [`Message`](crate::Message).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MessageKind {
    /// A text message from a user (`MsgType` `text`).
    Text {
        /// `Content`, the text the user sent.
        content: String,
    },
    /// A picture from a user (`MsgType` `image`).
    Image {
        /// `PicUrl`, where WeChat serves the picture.
        pic_url: String,
        /// `MediaId`, to download it through `/cgi-bin/media/get`.
        media_id: String,
    },
    /// A voice message from a user (`MsgType` `voice`).
    Voice {
        /// `MediaId`, to download it through `/cgi-bin/media/get`.
        media_id: String,
        /// `Format`: `amr`, `speex`...
        format: String,
        /// `Recognition`: WeChat's transcript, when speech recognition is
        /// on for the account.
        recognition: Option<String>,
    },
    /// A video from a user (`MsgType` `video`).
    Video {
        /// `MediaId`, to download it through `/cgi-bin/media/get`.
        media_id: String,
        /// `ThumbMediaId`, the video's thumbnail.
        thumb_media_id: String,
    },
    /// A short video from a user (`MsgType` `shortvideo`).
    ShortVideo {
        /// `MediaId`, to download it through `/cgi-bin/media/get`.
        media_id: String,
        /// `ThumbMediaId`, the video's thumbnail.
        thumb_media_id: String,
    },
    /// A location a user sent (`MsgType` `location`).
    Location {
        /// `Location_X`, the latitude.
        latitude: f64,
        /// `Location_Y`, the longitude.
        longitude: f64,
        /// `Scale`, the map's zoom level.
        scale: Option<u32>,
        /// `Label`, the place's description.
        label: Option<String>,
    },
    /// A link a user sent (`MsgType` `link`).
    Link {
        /// `Title`.
        title: String,
        /// `Description`.
        description: String,
        /// `Url`.
        url: String,
    },
    /// A mini program page card a user sent in a customer service session
    /// (`MsgType` `miniprogrampage`). Its `MsgId` is read through
    /// [`Message::msg_id`](crate::Message::msg_id).
    MiniProgramPage {
        /// `Title`, the card's title.
        title: String,
        /// `AppId`, the mini program's appid.
        app_id: String,
        /// `PagePath`, the page the card opens.
        page_path: String,
        /// `ThumbUrl`, the card's picture, as WeChat serves it.
        thumb_url: String,
        /// `ThumbMediaId`, the card's picture, to download through
        /// `/cgi-bin/media/get`.
        thumb_media_id: String,
    },
    /// An event (`MsgType` `event`).
    Event(Event),
    /// A third-party platform notification (it has an `InfoType`).
    Component(ComponentPush),
    /// Anything else: a kind this crate does not model, or a modelled kind
    /// missing a field its model needs. Read it through
    /// [`Message::fields`](crate::Message::fields).
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

impl MessageKind {
    pub(super) fn from_fields(fields: &BTreeMap<String, String>) -> MessageKind {
        typed(&Fields::new(fields)).unwrap_or(MessageKind::Other)
    }
}

fn typed(f: &Fields<'_>) -> Option<MessageKind> {
    if let Some(info_type) = f.get("InfoType") {
        return component(f, info_type).map(MessageKind::Component);
    }
    Some(match f.get("MsgType")? {
        "text" => MessageKind::Text {
            content: f.text("Content")?,
        },
        "image" => MessageKind::Image {
            pic_url: f.text("PicUrl")?,
            media_id: f.text("MediaId")?,
        },
        "voice" => MessageKind::Voice {
            media_id: f.text("MediaId")?,
            format: f.text("Format")?,
            recognition: f.text("Recognition"),
        },
        "video" => MessageKind::Video {
            media_id: f.text("MediaId")?,
            thumb_media_id: f.text("ThumbMediaId")?,
        },
        "shortvideo" => MessageKind::ShortVideo {
            media_id: f.text("MediaId")?,
            thumb_media_id: f.text("ThumbMediaId")?,
        },
        "location" => MessageKind::Location {
            latitude: f.number("Location_X")?,
            longitude: f.number("Location_Y")?,
            scale: f.optional_number("Scale")?,
            label: f.text("Label"),
        },
        "link" => MessageKind::Link {
            title: f.text("Title")?,
            description: f.text("Description")?,
            url: f.text("Url")?,
        },
        "miniprogrampage" => MessageKind::MiniProgramPage {
            title: f.text("Title")?,
            app_id: f.text("AppId")?,
            page_path: f.text("PagePath")?,
            thumb_url: f.text("ThumbUrl")?,
            thumb_media_id: f.text("ThumbMediaId")?,
        },
        "event" => MessageKind::Event(Event::read(f, f.get("Event")?)),
        _ => return None,
    })
}

fn component(f: &Fields<'_>, info_type: &str) -> Option<ComponentPush> {
    Some(match info_type {
        "component_verify_ticket" => ComponentPush::VerifyTicket {
            app_id: f.text("AppId")?,
            create_time: f.number("CreateTime")?,
            ticket: Secret::new(f.text("ComponentVerifyTicket")?),
        },
        "authorized" | "updateauthorized" => {
            let authorization = Authorization {
                app_id: f.text("AppId")?,
                create_time: f.number("CreateTime")?,
                authorizer_app_id: f.text("AuthorizerAppid")?,
                authorization_code: Secret::new(f.text("AuthorizationCode")?),
                authorization_code_expired_time: f
                    .optional_number("AuthorizationCodeExpiredTime")?,
            };
            if info_type == "authorized" {
                ComponentPush::Authorized(authorization)
            } else {
                ComponentPush::UpdateAuthorized(authorization)
            }
        }
        "unauthorized" => ComponentPush::Unauthorized {
            app_id: f.text("AppId")?,
            create_time: f.number("CreateTime")?,
            authorizer_app_id: f.text("AuthorizerAppid")?,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::message::test_support::{event_xml, twins, xml_kind as kind};
    use crate::{Message, MessageKind};

    use super::*;

    /// A user message of type `msg_type` with `extra` fields, as WeChat
    /// sends it.
    fn user(msg_type: &str, extra: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_123]]></ToUserName>\
             <FromUserName><![CDATA[openid]]></FromUserName><CreateTime>1348831860</CreateTime>\
             <MsgType><![CDATA[{msg_type}]]></MsgType>{extra}<MsgId>1234567890123456</MsgId></xml>"
        )
    }

    #[test]
    fn types_every_user_message_wechat_documents() {
        assert_eq!(
            kind(&user("text", "<Content><![CDATA[hi]]></Content>")),
            MessageKind::Text {
                content: "hi".into()
            }
        );
        assert_eq!(
            kind(&user(
                "image",
                "<PicUrl>http://mmbiz/p.jpg</PicUrl><MediaId>m1</MediaId>"
            )),
            MessageKind::Image {
                pic_url: "http://mmbiz/p.jpg".into(),
                media_id: "m1".into()
            }
        );
        assert_eq!(
            kind(&user(
                "voice",
                "<MediaId>m2</MediaId><Format>amr</Format><Recognition>你好</Recognition>"
            )),
            MessageKind::Voice {
                media_id: "m2".into(),
                format: "amr".into(),
                recognition: Some("你好".into())
            }
        );
        assert_eq!(
            kind(&user(
                "voice",
                "<MediaId>m2</MediaId><Format>speex</Format>"
            )),
            MessageKind::Voice {
                media_id: "m2".into(),
                format: "speex".into(),
                recognition: None
            }
        );
        let video = "<MediaId>m3</MediaId><ThumbMediaId>t3</ThumbMediaId>";
        assert_eq!(
            kind(&user("video", video)),
            MessageKind::Video {
                media_id: "m3".into(),
                thumb_media_id: "t3".into()
            }
        );
        assert_eq!(
            kind(&user("shortvideo", video)),
            MessageKind::ShortVideo {
                media_id: "m3".into(),
                thumb_media_id: "t3".into()
            }
        );
        assert_eq!(
            kind(&user(
                "location",
                "<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y>\
                 <Scale>20</Scale><Label><![CDATA[位置信息]]></Label>"
            )),
            MessageKind::Location {
                latitude: 23.134521,
                longitude: 113.358803,
                scale: Some(20),
                label: Some("位置信息".into())
            }
        );
        assert_eq!(
            kind(&user(
                "link",
                "<Title>t</Title><Description>d</Description><Url>https://u</Url>"
            )),
            MessageKind::Link {
                title: "t".into(),
                description: "d".into(),
                url: "https://u".into()
            }
        );
    }

    #[test]
    fn types_the_mini_program_page_card_from_wechats_xml_and_json_samples() {
        // WeChat's samples (customer service messages of a mini program).
        let xml = "<xml>\n  <ToUserName><![CDATA[toUser]]></ToUserName>\n  \
            <FromUserName><![CDATA[fromUser]]></FromUserName>\n  <CreateTime>1482048670</CreateTime>\n  \
            <MsgType><![CDATA[miniprogrampage]]></MsgType>\n  <MsgId>1234567890123456</MsgId>\n  \
            <Title><![CDATA[Title]]></Title>\n  <AppId><![CDATA[AppId]]></AppId>\n  \
            <PagePath><![CDATA[PagePath]]></PagePath>\n  <ThumbUrl><![CDATA[ThumbUrl]]></ThumbUrl>\n  \
            <ThumbMediaId><![CDATA[ThumbMediaId]]></ThumbMediaId>\n</xml>";
        let message = Message::parse(xml).unwrap();
        assert_eq!(message.msg_id(), Some(1234567890123456));
        assert_eq!(
            message.kind(),
            &MessageKind::MiniProgramPage {
                title: "Title".into(),
                app_id: "AppId".into(),
                page_path: "PagePath".into(),
                thumb_url: "ThumbUrl".into(),
                thumb_media_id: "ThumbMediaId".into(),
            }
        );
        let json = r#"{
            "ToUserName": "toUser",
            "FromUserName": "fromUser",
            "CreateTime": 1482048670,
            "MsgType": "miniprogrampage",
            "MsgId": 1234567890123456,
            "Title":"title",
            "AppId":"appid",
            "PagePath":"path",
            "ThumbUrl":"",
            "ThumbMediaId":""
        }"#;
        let message = Message::parse_json(json).unwrap();
        assert_eq!(message.msg_id(), Some(1234567890123456));
        assert_eq!(
            message.kind(),
            &MessageKind::MiniProgramPage {
                title: "title".into(),
                app_id: "appid".into(),
                page_path: "path".into(),
                thumb_url: String::new(),
                thumb_media_id: String::new(),
            }
        );
        // The XML sample written as JSON is the same message.
        let twin = r#"{"ToUserName":"toUser","FromUserName":"fromUser","CreateTime":1482048670,
            "MsgType":"miniprogrampage","MsgId":1234567890123456,"Title":"Title","AppId":"AppId",
            "PagePath":"PagePath","ThumbUrl":"ThumbUrl","ThumbMediaId":"ThumbMediaId"}"#;
        assert_eq!(twins(xml, twin), Message::parse(xml).unwrap().into_kind());
    }

    #[test]
    fn a_push_that_does_not_fit_its_model_is_other_and_keeps_its_fields() {
        for xml in [
            "<xml><MsgType>text</MsgType></xml>".to_string(),
            user("image", "<MediaId>m1</MediaId>"),
            user(
                "location",
                "<Location_X>north</Location_X><Location_Y>1</Location_Y>",
            ),
            user(
                "location",
                "<Location_X>1</Location_X><Location_Y>1</Location_Y><Scale>x</Scale>",
            ),
            "<xml><MsgType>event</MsgType></xml>".into(),
            "<xml><InfoType>component_verify_ticket</InfoType><AppId>a</AppId>\
             <CreateTime>1</CreateTime></xml>"
                .into(),
            "<xml><InfoType>unauthorized</InfoType><AppId>a</AppId>\
             <CreateTime>soon</CreateTime><AuthorizerAppid>b</AuthorizerAppid></xml>"
                .into(),
            "<xml><InfoType>notify_third_fasteregister</InfoType></xml>".into(),
            user("miniprogrampage", "<Title>t</Title>"),
            user(
                "miniprogrampage",
                "<Title>t</Title><AppId>wx1</AppId><PagePath>p</PagePath><ThumbUrl>u</ThumbUrl>",
            ),
        ] {
            let message = Message::parse(&xml).unwrap();
            assert_eq!(message.kind(), &MessageKind::Other, "{xml}");
            assert!(!message.fields().is_empty());
        }
        // An event keeps its name and key when its own fields do not fit.
        assert_eq!(
            kind(&event_xml(
                "TEMPLATESENDJOBFINISH",
                "<EventKey>k</EventKey><MsgID>x</MsgID>"
            )),
            MessageKind::Event(Event::Other {
                event: "TEMPLATESENDJOBFINISH".into(),
                event_key: Some("k".into())
            })
        );
    }

    #[test]
    fn parses_the_component_verify_ticket_push() {
        let xml = "<xml><AppId>wx_component</AppId><CreateTime>1413192605</CreateTime>\
            <InfoType>component_verify_ticket</InfoType>\
            <ComponentVerifyTicket><![CDATA[ticket@@@abc]]></ComponentVerifyTicket></xml>";
        assert_eq!(
            kind(xml),
            MessageKind::Component(ComponentPush::VerifyTicket {
                app_id: "wx_component".into(),
                create_time: 1413192605,
                ticket: Secret::new("ticket@@@abc"),
            })
        );
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
            kind(&format!(
                "<xml>{body}<InfoType>{info_type}</InfoType></xml>"
            ))
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
    }
}
