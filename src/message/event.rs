//! Events (`MsgType` `event`): the typed ones, in one table
//! ([`TYPED_EVENTS`]), and the readers of their own fields. What an event
//! carries beyond a few fields is in `menu`, `subscription` and
//! `media_check`; when an event is typed and when it is [`Event::Other`]
//! is said once, on [`Event`].

use super::fields::Fields;
use super::media_check::MediaCheck;
use super::menu::{
    scan_code_info, send_location_info, send_pics_info, ScanCodeInfo, SendLocationInfo,
    SendPicsInfo,
};
use super::subscription::{SubscribeMsgChange, SubscribeMsgPopup, SubscribeMsgSent};

/// An event WeChat pushes (`MsgType` `event`), by its `Event` field.
///
/// An event is typed when every field its model reads is there, and a
/// number where the model has one (sent as a JSON number or as a string:
/// both are read). Otherwise it is [`Event::Other`], never an error, and
/// every field stays in [`Message::fields`](crate::Message::fields): a
/// push WeChat changed still reaches the application. Fields WeChat's
/// samples always carry are required; those it sends only in some cases
/// are `Option`s; values are kept as sent (an empty `Poiname` is
/// `Some("")`). Lists (pictures, subscription templates, check details)
/// are read from repeated XML elements and from JSON arrays alike.
///
/// # Example
///
/// ```
/// use weixin::{Event, Message, MessageKind};
///
/// let xml = "<xml><ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>\
///     <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>\
///     <CreateTime>1408090502</CreateTime><MsgType><![CDATA[event]]></MsgType>\
///     <Event><![CDATA[scancode_push]]></Event><EventKey><![CDATA[6]]></EventKey>\
///     <ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\
///     <ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo></xml>";
/// match Message::parse(xml)?.into_kind() {
///     MessageKind::Event(Event::ScanCodePush { key, info }) => {
///         assert_eq!(key, "6");
///         assert_eq!((info.scan_type.as_str(), info.scan_result.as_str()), ("qrcode", "1"));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
///
/// // Without its `ScanResult`: not typed, and nothing lost.
/// let xml = "<xml><MsgType>event</MsgType><Event>scancode_push</Event>\
///     <EventKey>6</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo></xml>";
/// let message = Message::parse(xml)?;
/// assert_eq!(
///     message.kind(),
///     &MessageKind::Event(Event::Other {
///         event: "scancode_push".into(),
///         event_key: Some("6".into())
///     })
/// );
/// assert_eq!(message.field("ScanCodeInfo/ScanType"), Some("qrcode"));
/// # Ok::<(), weixin::Error>(())
/// ```
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
    /// `view_miniprogram`: a click on a menu button that opens a mini
    /// program.
    ViewMiniProgram {
        /// `EventKey`, the mini program page the button opens.
        page_path: String,
        /// `MenuId`, when the menu is a personalised one.
        menu_id: Option<String>,
    },
    /// `scancode_push`: a menu button made the user's client scan a code
    /// and act on it (open the URL, say); the result is pushed too.
    ScanCodePush {
        /// `EventKey`, the button's key.
        key: String,
        /// `ScanCodeInfo`, what was scanned.
        info: ScanCodeInfo,
    },
    /// `scancode_waitmsg`: a menu button made the user's client scan a code
    /// and wait for the account's answer ("receiving" is shown).
    ScanCodeWaitMsg {
        /// `EventKey`, the button's key.
        key: String,
        /// `ScanCodeInfo`, what was scanned.
        info: ScanCodeInfo,
    },
    /// `pic_sysphoto`: a menu button made the user take a photo.
    PicSysPhoto {
        /// `EventKey`, the button's key.
        key: String,
        /// `SendPicsInfo`, the pictures sent.
        pics: SendPicsInfo,
    },
    /// `pic_photo_or_album`: a menu button made the user take a photo or
    /// pick pictures from the album.
    PicPhotoOrAlbum {
        /// `EventKey`, the button's key.
        key: String,
        /// `SendPicsInfo`, the pictures sent.
        pics: SendPicsInfo,
    },
    /// `pic_weixin`: a menu button made the user pick pictures from the
    /// WeChat album.
    PicWeixin {
        /// `EventKey`, the button's key.
        key: String,
        /// `SendPicsInfo`, the pictures sent.
        pics: SendPicsInfo,
    },
    /// `location_select`: a menu button made the user pick a location.
    LocationSelect {
        /// `EventKey`, the button's key.
        key: String,
        /// `SendLocationInfo`, the location sent.
        location: SendLocationInfo,
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
    /// `subscribe_msg_popup_event`: the user answered a subscription
    /// message popup, for one or more templates. The list is
    /// `SubscribeMsgPopupEvent/List` in XML and `List` in JSON.
    SubscribeMsgPopup {
        /// One entry per template, in the order sent; never empty.
        list: Vec<SubscribeMsgPopup>,
    },
    /// `subscribe_msg_change_event`: the user changed their subscription
    /// in the service notifications' settings (WeChat pushes refusals
    /// only). The list is `SubscribeMsgChangeEvent/List` in XML and `List`
    /// in JSON.
    SubscribeMsgChange {
        /// One entry per template, in the order sent; never empty.
        list: Vec<SubscribeMsgChange>,
    },
    /// `subscribe_msg_sent_event`: a subscription message was delivered or
    /// not. The list is `SubscribeMsgSentEvent/List` in XML and `List` in
    /// JSON.
    SubscribeMsgSent {
        /// One entry per message, in the order sent; never empty.
        list: Vec<SubscribeMsgSent>,
    },
    /// `kf_create_session`: a customer service agent took the user's
    /// session.
    KfCreateSession {
        /// `KfAccount`, the agent (`name@account`).
        kf_account: String,
    },
    /// `kf_close_session`: a customer service session was closed.
    KfCloseSession {
        /// `KfAccount`, the agent (`name@account`).
        kf_account: String,
        /// `CloseType`, how the session ended, when WeChat says.
        close_type: Option<String>,
    },
    /// `kf_switch_session`: the user's session passed from one agent to
    /// another.
    KfSwitchSession {
        /// `FromKfAccount`, the agent who had it.
        from_kf_account: String,
        /// `ToKfAccount`, the agent who has it now.
        to_kf_account: String,
    },
    /// `user_enter_tempsession`: a user opened a customer service session
    /// from a mini program.
    UserEnterTempSession {
        /// `SessionFrom`: the `session-from` of the mini program's contact
        /// button, when it had one.
        session_from: Option<String>,
    },
    /// `wxa_media_check`: the result of an asynchronous content check
    /// (`/wxa/media_check_async`, version 2).
    MediaCheck(MediaCheck),
    /// Any other event (or a modelled one missing a field), with its name
    /// and key; the rest is in [`Message::fields`](crate::Message::fields).
    Other {
        /// `Event`, as sent (`debug_demo`, `poi_check_notify`...).
        event: String,
        /// `EventKey`, when the event has one.
        event_key: Option<String>,
    },
}

/// Reads an event's own model.
type Reader = fn(&Fields<'_>) -> Option<Event>;

/// Which events are typed: WeChat's `Event` value, compared without regard
/// to ASCII case (WeChat writes some in capitals, `SCAN`, `CLICK`), and the
/// reader that fills its model. An event not in this table, or whose
/// reader answers `None`, is [`Event::Other`].
const TYPED_EVENTS: &[(&str, Reader)] = &[
    ("subscribe", |f| {
        Some(Event::Subscribe {
            scene: f
                .get("EventKey")
                .and_then(|key| key.strip_prefix("qrscene_"))
                .map(str::to_string),
            ticket: f.text("Ticket").filter(|t| !t.is_empty()),
        })
    }),
    ("unsubscribe", |_| Some(Event::Unsubscribe)),
    ("SCAN", |f| {
        Some(Event::Scan {
            scene: f.text("EventKey")?,
            ticket: f.text("Ticket").filter(|t| !t.is_empty()),
        })
    }),
    ("LOCATION", |f| {
        Some(Event::Location {
            latitude: f.number("Latitude")?,
            longitude: f.number("Longitude")?,
            precision: f.optional_number("Precision")?,
        })
    }),
    ("CLICK", |f| {
        Some(Event::Click {
            key: f.text("EventKey")?,
        })
    }),
    ("VIEW", |f| {
        Some(Event::View {
            url: f.text("EventKey")?,
            menu_id: f.text("MenuId"),
        })
    }),
    ("view_miniprogram", |f| {
        Some(Event::ViewMiniProgram {
            page_path: f.text("EventKey")?,
            menu_id: f.text("MenuId"),
        })
    }),
    ("scancode_push", |f| {
        Some(Event::ScanCodePush {
            key: f.text("EventKey")?,
            info: scan_code_info(f)?,
        })
    }),
    ("scancode_waitmsg", |f| {
        Some(Event::ScanCodeWaitMsg {
            key: f.text("EventKey")?,
            info: scan_code_info(f)?,
        })
    }),
    ("pic_sysphoto", |f| {
        Some(Event::PicSysPhoto {
            key: f.text("EventKey")?,
            pics: send_pics_info(f)?,
        })
    }),
    ("pic_photo_or_album", |f| {
        Some(Event::PicPhotoOrAlbum {
            key: f.text("EventKey")?,
            pics: send_pics_info(f)?,
        })
    }),
    ("pic_weixin", |f| {
        Some(Event::PicWeixin {
            key: f.text("EventKey")?,
            pics: send_pics_info(f)?,
        })
    }),
    ("location_select", |f| {
        Some(Event::LocationSelect {
            key: f.text("EventKey")?,
            location: send_location_info(f)?,
        })
    }),
    ("TEMPLATESENDJOBFINISH", |f| {
        Some(Event::TemplateSendJobFinish {
            msg_id: f.number("MsgID")?,
            status: f.text("Status")?,
        })
    }),
    ("MASSSENDJOBFINISH", |f| {
        Some(Event::MassSendJobFinish {
            msg_id: f.number("MsgID")?,
            status: f.text("Status")?,
            total_count: f.number("TotalCount")?,
            filter_count: f.number("FilterCount")?,
            sent_count: f.number("SentCount")?,
            error_count: f.number("ErrorCount")?,
        })
    }),
    ("subscribe_msg_popup_event", |f| {
        Some(Event::SubscribeMsgPopup {
            list: SubscribeMsgPopup::read_list(f)?,
        })
    }),
    ("subscribe_msg_change_event", |f| {
        Some(Event::SubscribeMsgChange {
            list: SubscribeMsgChange::read_list(f)?,
        })
    }),
    ("subscribe_msg_sent_event", |f| {
        Some(Event::SubscribeMsgSent {
            list: SubscribeMsgSent::read_list(f)?,
        })
    }),
    ("kf_create_session", |f| {
        Some(Event::KfCreateSession {
            kf_account: f.text("KfAccount")?,
        })
    }),
    ("kf_close_session", |f| {
        Some(Event::KfCloseSession {
            kf_account: f.text("KfAccount")?,
            close_type: f.text("CloseType"),
        })
    }),
    ("kf_switch_session", |f| {
        Some(Event::KfSwitchSession {
            from_kf_account: f.text("FromKfAccount")?,
            to_kf_account: f.text("ToKfAccount")?,
        })
    }),
    ("user_enter_tempsession", |f| {
        Some(Event::UserEnterTempSession {
            session_from: f.text("SessionFrom"),
        })
    }),
    ("wxa_media_check", |f| {
        MediaCheck::read(f).map(Event::MediaCheck)
    }),
];

impl Event {
    /// The event named `name`, typed when [`TYPED_EVENTS`] has a model for
    /// it that the fields fill, else [`Event::Other`].
    pub(super) fn read(f: &Fields<'_>, name: &str) -> Event {
        TYPED_EVENTS
            .iter()
            .find(|(known, _)| name.eq_ignore_ascii_case(known))
            .and_then(|(_, read)| read(f))
            .unwrap_or_else(|| Event::Other {
                event: name.to_string(),
                event_key: f.text("EventKey"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_support::{assert_untyped_event, event_xml, twins, xml_kind as kind};
    use crate::{Message, MessageKind};

    fn event_of(name: &str, extra: &str) -> MessageKind {
        kind(&event_xml(name, extra))
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
    fn types_view_miniprogram_from_wechats_sample() {
        let xml = "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n\
            <FromUserName><![CDATA[FromUser]]></FromUserName>\n<CreateTime>123456789</CreateTime>\n\
            <MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[view_miniprogram]]></Event>\n\
            <EventKey><![CDATA[pages/index/index]]></EventKey>\n<MenuId>MENUID</MenuId>\n</xml>";
        let json = r#"{"ToUserName":"toUser","FromUserName":"FromUser","CreateTime":123456789,
            "MsgType":"event","Event":"view_miniprogram","EventKey":"pages/index/index",
            "MenuId":"MENUID"}"#;
        assert_eq!(
            twins(xml, json),
            MessageKind::Event(Event::ViewMiniProgram {
                page_path: "pages/index/index".into(),
                menu_id: Some("MENUID".into()),
            })
        );
        assert_eq!(
            event_of("view_miniprogram", "<EventKey>pages/a</EventKey>"),
            MessageKind::Event(Event::ViewMiniProgram {
                page_path: "pages/a".into(),
                menu_id: None,
            })
        );
    }

    #[test]
    fn types_customer_service_session_events_from_wechats_samples() {
        let session = |event: &str, extra: &str| {
            format!(
                "<xml>\n <ToUserName><![CDATA[touser]]></ToUserName>\n \
                 <FromUserName><![CDATA[fromuser]]></FromUserName>\n \
                 <CreateTime>1399197672</CreateTime>\n <MsgType><![CDATA[event]]></MsgType>\n \
                 <Event><![CDATA[{event}]]></Event>\n {extra}\n</xml>"
            )
        };
        let session_json = |event: &str, extra: &str| {
            format!(
                r#"{{"ToUserName":"touser","FromUserName":"fromuser","CreateTime":1399197672,
                    "MsgType":"event","Event":"{event}",{extra}}}"#
            )
        };
        assert_eq!(
            twins(
                &session(
                    "kf_create_session",
                    "<KfAccount><![CDATA[test1@test]]></KfAccount>"
                ),
                &session_json("kf_create_session", r#""KfAccount":"test1@test""#)
            ),
            MessageKind::Event(Event::KfCreateSession {
                kf_account: "test1@test".into()
            })
        );
        assert_eq!(
            twins(
                &session(
                    "kf_close_session",
                    "<KfAccount><![CDATA[test1@test]]></KfAccount>"
                ),
                &session_json("kf_close_session", r#""KfAccount":"test1@test""#)
            ),
            MessageKind::Event(Event::KfCloseSession {
                kf_account: "test1@test".into(),
                close_type: None,
            })
        );
        assert_eq!(
            twins(
                &session(
                    "kf_close_session",
                    "<KfAccount><![CDATA[test1@test]]></KfAccount>\
                     <CloseType><![CDATA[KF]]></CloseType>"
                ),
                &session_json(
                    "kf_close_session",
                    r#""KfAccount":"test1@test","CloseType":"KF""#
                )
            ),
            MessageKind::Event(Event::KfCloseSession {
                kf_account: "test1@test".into(),
                close_type: Some("KF".into()),
            })
        );
        assert_eq!(
            twins(
                &session(
                    "kf_switch_session",
                    "<FromKfAccount><![CDATA[test1@test]]></FromKfAccount>\n \
                     <ToKfAccount><![CDATA[test2@test]]></ToKfAccount>"
                ),
                &session_json(
                    "kf_switch_session",
                    r#""FromKfAccount":"test1@test","ToKfAccount":"test2@test""#
                )
            ),
            MessageKind::Event(Event::KfSwitchSession {
                from_kf_account: "test1@test".into(),
                to_kf_account: "test2@test".into(),
            })
        );
    }

    #[test]
    fn types_user_enter_tempsession_from_wechats_samples() {
        let xml = "<xml>\n  <ToUserName><![CDATA[toUser]]></ToUserName>\n  \
            <FromUserName><![CDATA[fromUser]]></FromUserName>\n  <CreateTime>1482048670</CreateTime>\n  \
            <MsgType><![CDATA[event]]></MsgType>\n  <Event><![CDATA[user_enter_tempsession]]></Event>\n  \
            <SessionFrom><![CDATA[sessionFrom]]></SessionFrom>\n</xml>";
        let json = r#"{
            "ToUserName": "toUser",
            "FromUserName": "fromUser",
            "CreateTime": 1482048670,
            "MsgType": "event",
            "Event": "user_enter_tempsession",
            "SessionFrom": "sessionFrom"
        }"#;
        assert_eq!(
            twins(xml, json),
            MessageKind::Event(Event::UserEnterTempSession {
                session_from: Some("sessionFrom".into())
            })
        );
        assert_eq!(
            event_of("user_enter_tempsession", ""),
            MessageKind::Event(Event::UserEnterTempSession { session_from: None })
        );
    }

    #[test]
    fn a_known_event_missing_a_field_is_other_with_every_field_kept() {
        for (name, extra, key) in [
            ("scancode_push", "<EventKey>6</EventKey>", Some("6")),
            (
                "scancode_waitmsg",
                "<ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>1</ScanResult></ScanCodeInfo>",
                None,
            ),
            (
                "pic_sysphoto",
                "<EventKey>6</EventKey><SendPicsInfo><Count>many</Count></SendPicsInfo>",
                Some("6"),
            ),
            (
                "pic_weixin",
                "<EventKey>6</EventKey><SendPicsInfo><Count>2</Count><PicList>\
                 <item><PicMd5Sum>a</PicMd5Sum></item><item><Other>b</Other></item>\
                 </PicList></SendPicsInfo>",
                Some("6"),
            ),
            (
                "location_select",
                "<EventKey>6</EventKey><SendLocationInfo><Location_X>23</Location_X>\
                 </SendLocationInfo>",
                Some("6"),
            ),
            (
                "location_select",
                "<EventKey>6</EventKey><SendLocationInfo><Location_X>23</Location_X>\
                 <Location_Y>113</Location_Y><Scale>near</Scale></SendLocationInfo>",
                Some("6"),
            ),
            ("view_miniprogram", "<MenuId>1</MenuId>", None),
            ("kf_create_session", "<Kf>x</Kf>", None),
            ("kf_close_session", "<CloseType>KF</CloseType>", None),
            (
                "kf_switch_session",
                "<FromKfAccount>a@b</FromKfAccount>",
                None,
            ),
        ] {
            let message = Message::parse(&event_xml(name, extra)).unwrap();
            assert_untyped_event(&message, key);
            assert!(message.fields().len() >= 6, "{message:?}");
        }
    }

    #[test]
    fn event_names_are_matched_without_regard_to_ascii_case_as_before() {
        assert_eq!(
            event_of("click", "<EventKey>k</EventKey>"),
            MessageKind::Event(Event::Click { key: "k".into() })
        );
        assert_eq!(
            event_of("KF_CREATE_SESSION", "<KfAccount>a@b</KfAccount>"),
            MessageKind::Event(Event::KfCreateSession {
                kf_account: "a@b".into()
            })
        );
    }
}
