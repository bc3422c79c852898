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
use std::str::FromStr;

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
    /// An event (`MsgType` `event`).
    Event(Event),
    /// A third-party platform notification (it has an `InfoType`).
    Component(ComponentPush),
    /// Anything else: a kind this crate does not model, or a modelled kind
    /// missing a field its model needs. Read it through
    /// [`Message::fields`](crate::Message::fields).
    Other,
}

/// An event WeChat pushes (`MsgType` `event`), by its `Event` field.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `subscribe`: a user followed the account, directly or by scanning a
    /// QR code with a scene.
    Subscribe {
        /// The QR code's scene: `EventKey` without its `qrscene_` prefix,
        /// `None` for a follow that came from no QR code.
        scene: Option<String>,
        /// `Ticket`, the QR code's ticket, when there was one.
        ticket: Option<String>,
    },
    /// `unsubscribe`: a user unfollowed the account.
    Unsubscribe,
    /// `SCAN`: a follower scanned a QR code with a scene.
    Scan {
        /// `EventKey`, the QR code's scene.
        scene: String,
        /// `Ticket`, the QR code's ticket.
        ticket: Option<String>,
    },
    /// `LOCATION`: the location a follower's client reports.
    Location {
        /// `Latitude`.
        latitude: f64,
        /// `Longitude`.
        longitude: f64,
        /// `Precision`, in metres.
        precision: Option<f64>,
    },
    /// `CLICK`: a click on a menu button of type `click`.
    Click {
        /// `EventKey`, the button's key.
        key: String,
    },
    /// `VIEW`: a click on a menu button that opens a URL.
    View {
        /// `EventKey`, the URL.
        url: String,
        /// `MenuId`, when the menu is a personalised one.
        menu_id: Option<String>,
    },
    /// `TEMPLATESENDJOBFINISH`: a template message was delivered or not.
    TemplateSendJobFinish {
        /// `MsgID`, as answered by the template send call.
        msg_id: u64,
        /// `Status`: `success`, `failed:user block`, `failed: system failed`.
        status: String,
    },
    /// `MASSSENDJOBFINISH`: a mass send finished.
    MassSendJobFinish {
        /// `MsgID`, as answered by the mass send call.
        msg_id: u64,
        /// `Status`, for example `send success`.
        status: String,
        /// `TotalCount`: the followers addressed.
        total_count: u64,
        /// `FilterCount`: those left after filtering.
        filter_count: u64,
        /// `SentCount`: those the message reached.
        sent_count: u64,
        /// `ErrorCount`: those it did not.
        error_count: u64,
    },
    /// Any other event (or a modelled one missing a field), with its name
    /// and key; the rest is in [`Message::fields`](crate::Message::fields).
    Other {
        /// `Event`, as sent (`scancode_push`, `view_miniprogram`...).
        event: String,
        /// `EventKey`, when the event has one.
        event_key: Option<String>,
    },
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

/// The field map, read by name. Each reader answers `None` when the model
/// cannot be filled, which turns the whole push into `Other`.
struct Fields<'a>(&'a BTreeMap<String, String>);

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).map(String::as_str)
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    fn number<T: FromStr>(&self, name: &str) -> Option<T> {
        self.get(name)?.trim().parse().ok()
    }

    /// `Some(None)` when absent, `None` when present but not a number.
    fn optional_number<T: FromStr>(&self, name: &str) -> Option<Option<T>> {
        match self.get(name) {
            None => Some(None),
            Some(_) => self.number(name).map(Some),
        }
    }
}

impl MessageKind {
    pub(super) fn from_fields(fields: &BTreeMap<String, String>) -> MessageKind {
        typed(&Fields(fields)).unwrap_or(MessageKind::Other)
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
        "event" => {
            let name = f.get("Event")?;
            MessageKind::Event(event(f, name).unwrap_or_else(|| Event::Other {
                event: name.to_string(),
                event_key: f.text("EventKey"),
            }))
        }
        _ => return None,
    })
}

fn event(f: &Fields<'_>, name: &str) -> Option<Event> {
    let is = |known: &str| name.eq_ignore_ascii_case(known);
    Some(if is("subscribe") {
        Event::Subscribe {
            scene: f
                .get("EventKey")
                .and_then(|key| key.strip_prefix("qrscene_"))
                .map(str::to_string),
            ticket: f.text("Ticket").filter(|t| !t.is_empty()),
        }
    } else if is("unsubscribe") {
        Event::Unsubscribe
    } else if is("SCAN") {
        Event::Scan {
            scene: f.text("EventKey")?,
            ticket: f.text("Ticket").filter(|t| !t.is_empty()),
        }
    } else if is("LOCATION") {
        Event::Location {
            latitude: f.number("Latitude")?,
            longitude: f.number("Longitude")?,
            precision: f.optional_number("Precision")?,
        }
    } else if is("CLICK") {
        Event::Click {
            key: f.text("EventKey")?,
        }
    } else if is("VIEW") {
        Event::View {
            url: f.text("EventKey")?,
            menu_id: f.text("MenuId"),
        }
    } else if is("TEMPLATESENDJOBFINISH") {
        Event::TemplateSendJobFinish {
            msg_id: f.number("MsgID")?,
            status: f.text("Status")?,
        }
    } else if is("MASSSENDJOBFINISH") {
        Event::MassSendJobFinish {
            msg_id: f.number("MsgID")?,
            status: f.text("Status")?,
            total_count: f.number("TotalCount")?,
            filter_count: f.number("FilterCount")?,
            sent_count: f.number("SentCount")?,
            error_count: f.number("ErrorCount")?,
        }
    } else {
        return None;
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
    use crate::{Message, MessageKind};

    use super::*;

    fn kind(xml: &str) -> MessageKind {
        Message::parse(xml).unwrap().into_kind()
    }

    /// A user message of type `msg_type` with `extra` fields, as WeChat
    /// sends it.
    fn user(msg_type: &str, extra: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_123]]></ToUserName>\
             <FromUserName><![CDATA[openid]]></FromUserName><CreateTime>1348831860</CreateTime>\
             <MsgType><![CDATA[{msg_type}]]></MsgType>{extra}<MsgId>1234567890123456</MsgId></xml>"
        )
    }

    fn event_of(name: &str, extra: &str) -> MessageKind {
        kind(&format!(
            "<xml><ToUserName>gh_123</ToUserName><FromUserName>openid</FromUserName>\
             <CreateTime>1</CreateTime><MsgType>event</MsgType><Event><![CDATA[{name}]]></Event>\
             {extra}</xml>"
        ))
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
    fn types_the_documented_events() {
        assert_eq!(
            event_of("subscribe", "<EventKey><![CDATA[]]></EventKey>"),
            MessageKind::Event(Event::Subscribe {
                scene: None,
                ticket: None
            })
        );
        assert_eq!(
            event_of(
                "subscribe",
                "<EventKey>qrscene_123123</EventKey><Ticket>TICKET</Ticket>"
            ),
            MessageKind::Event(Event::Subscribe {
                scene: Some("123123".into()),
                ticket: Some("TICKET".into())
            })
        );
        assert_eq!(
            event_of("unsubscribe", ""),
            MessageKind::Event(Event::Unsubscribe)
        );
        assert_eq!(
            event_of("SCAN", "<EventKey>123123</EventKey><Ticket>TICKET</Ticket>"),
            MessageKind::Event(Event::Scan {
                scene: "123123".into(),
                ticket: Some("TICKET".into())
            })
        );
        assert_eq!(
            event_of(
                "LOCATION",
                "<Latitude>23.137466</Latitude><Longitude>113.352425</Longitude>\
                 <Precision>119.385040</Precision>"
            ),
            MessageKind::Event(Event::Location {
                latitude: 23.137466,
                longitude: 113.352425,
                precision: Some(119.38504)
            })
        );
        assert_eq!(
            event_of("CLICK", "<EventKey>V1001_TODAY_MUSIC</EventKey>"),
            MessageKind::Event(Event::Click {
                key: "V1001_TODAY_MUSIC".into()
            })
        );
        assert_eq!(
            event_of(
                "VIEW",
                "<EventKey>https://www.qq.com/</EventKey><MenuId>7</MenuId>"
            ),
            MessageKind::Event(Event::View {
                url: "https://www.qq.com/".into(),
                menu_id: Some("7".into())
            })
        );
        assert_eq!(
            event_of(
                "TEMPLATESENDJOBFINISH",
                "<MsgID>200163836</MsgID><Status><![CDATA[failed:user block]]></Status>"
            ),
            MessageKind::Event(Event::TemplateSendJobFinish {
                msg_id: 200163836,
                status: "failed:user block".into()
            })
        );
        assert_eq!(
            event_of(
                "MASSSENDJOBFINISH",
                "<MsgID>1988</MsgID><Status>sendsuccess</Status><TotalCount>100</TotalCount>\
                 <FilterCount>80</FilterCount><SentCount>75</SentCount><ErrorCount>5</ErrorCount>\
                 <CopyrightCheckResult><Count>0</Count></CopyrightCheckResult>"
            ),
            MessageKind::Event(Event::MassSendJobFinish {
                msg_id: 1988,
                status: "sendsuccess".into(),
                total_count: 100,
                filter_count: 80,
                sent_count: 75,
                error_count: 5
            })
        );
        assert_eq!(
            event_of(
                "scancode_push",
                "<EventKey>rselfmenu_0_1</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo>"
            ),
            MessageKind::Event(Event::Other {
                event: "scancode_push".into(),
                event_key: Some("rselfmenu_0_1".into())
            })
        );
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
        ] {
            let message = Message::parse(&xml).unwrap();
            assert_eq!(message.kind(), &MessageKind::Other, "{xml}");
            assert!(!message.fields().is_empty());
        }
        // An event keeps its name and key when its own fields do not fit.
        assert_eq!(
            event_of(
                "TEMPLATESENDJOBFINISH",
                "<EventKey>k</EventKey><MsgID>x</MsgID>"
            ),
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
