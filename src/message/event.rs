//! Events (`MsgType` `event`): the typed ones, in one table
//! ([`TYPED_EVENTS`]), and what their models read.
//!
//! As for every kind, an event is typed when every field its model reads
//! is present (and a number where the model has one); otherwise it is
//! [`Event::Other`] with its name and key, and all its fields are still in
//! [`Message::fields`](crate::Message::fields). Fields WeChat's documented
//! samples always carry are required; fields WeChat documents as sent only
//! in some cases are `Option`s. Values are kept as sent (an empty
//! `Poiname` is `Some("")`).

use super::fields::Fields;
use super::media_check::MediaCheck;
use super::subscription::{SubscribeMsgChange, SubscribeMsgPopup, SubscribeMsgSent};

/// An event WeChat pushes (`MsgType` `event`), by its `Event` field.
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

/// `ScanCodeInfo` of a `scancode_push` or `scancode_waitmsg` event.
///
/// # Example
///
/// ```
/// use weixin::{Event, Message, MessageKind};
///
/// let xml = "<xml><MsgType>event</MsgType><Event>scancode_waitmsg</Event>\
///     <EventKey>rselfmenu_0_0</EventKey><ScanCodeInfo><ScanType>barcode</ScanType>\
///     <ScanResult>EAN_13,6901234567892</ScanResult></ScanCodeInfo></xml>";
/// let MessageKind::Event(Event::ScanCodeWaitMsg { info, .. }) = Message::parse(xml)?.into_kind()
/// else {
///     panic!("not typed");
/// };
/// assert_eq!(info.scan_type, "barcode");
/// assert_eq!(info.scan_result, "EAN_13,6901234567892");
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanCodeInfo {
    /// `ScanType`: `qrcode`, or a barcode's type.
    pub scan_type: String,
    /// `ScanResult`: the code's content.
    pub scan_result: String,
}

/// `SendPicsInfo` of a `pic_sysphoto`, `pic_photo_or_album` or
/// `pic_weixin` event.
///
/// # Example
///
/// ```
/// use weixin::{Event, Message, MessageKind};
///
/// let xml = "<xml><MsgType>event</MsgType><Event>pic_weixin</Event><EventKey>6</EventKey>\
///     <SendPicsInfo><Count>2</Count><PicList>\
///     <item><PicMd5Sum>aa</PicMd5Sum></item><item><PicMd5Sum>bb</PicMd5Sum></item>\
///     </PicList></SendPicsInfo></xml>";
/// let MessageKind::Event(Event::PicWeixin { pics, .. }) = Message::parse(xml)?.into_kind() else {
///     panic!("not typed");
/// };
/// assert_eq!(pics.count, 2);
/// assert_eq!(pics.pic_md5_sums, ["aa", "bb"]);
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendPicsInfo {
    /// `Count`, the number of pictures as WeChat states it.
    pub count: u32,
    /// `PicList/item/PicMd5Sum` of each picture, in order.
    pub pic_md5_sums: Vec<String>,
}

/// `SendLocationInfo` of a `location_select` event.
///
/// # Example
///
/// ```
/// use weixin::{Event, Message, MessageKind};
///
/// let xml = "<xml><MsgType>event</MsgType><Event>location_select</Event>\
///     <EventKey>6</EventKey><SendLocationInfo><Location_X>23</Location_X>\
///     <Location_Y>113</Location_Y><Scale>15</Scale><Label>广州市</Label>\
///     <Poiname></Poiname></SendLocationInfo></xml>";
/// let MessageKind::Event(Event::LocationSelect { location, .. }) = Message::parse(xml)?.into_kind()
/// else {
///     panic!("not typed");
/// };
/// assert_eq!((location.latitude, location.longitude), (23.0, 113.0));
/// assert_eq!(location.scale, Some(15));
/// assert_eq!(location.label.as_deref(), Some("广州市"));
/// assert_eq!(location.poiname.as_deref(), Some(""));
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SendLocationInfo {
    /// `Location_X`, the latitude.
    pub latitude: f64,
    /// `Location_Y`, the longitude.
    pub longitude: f64,
    /// `Scale`, the map's zoom level.
    pub scale: Option<u32>,
    /// `Label`, the place's address.
    pub label: Option<String>,
    /// `Poiname`, the point of interest picked, if any.
    pub poiname: Option<String>,
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
        let info = f.at("SendLocationInfo");
        Some(Event::LocationSelect {
            key: f.text("EventKey")?,
            location: SendLocationInfo {
                latitude: info.number("Location_X")?,
                longitude: info.number("Location_Y")?,
                scale: info.optional_number("Scale")?,
                label: info.text("Label"),
                poiname: info.text("Poiname"),
            },
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

fn scan_code_info(f: &Fields<'_>) -> Option<ScanCodeInfo> {
    let info = f.at("ScanCodeInfo");
    Some(ScanCodeInfo {
        scan_type: info.text("ScanType")?,
        scan_result: info.text("ScanResult")?,
    })
}

fn send_pics_info(f: &Fields<'_>) -> Option<SendPicsInfo> {
    let info = f.at("SendPicsInfo");
    Some(SendPicsInfo {
        count: info.number("Count")?,
        pic_md5_sums: info
            .list("PicList/item")
            .iter()
            .map(|item| item.text("PicMd5Sum"))
            .collect::<Option<_>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_support::{
        assert_untyped_event, event_xml, json_kind, twins, xml_kind as kind,
    };
    use crate::{Message, MessageKind};

    fn event_of(name: &str, extra: &str) -> MessageKind {
        kind(&event_xml(name, extra))
    }

    /// WeChat's sample of a menu event: its common fields, then `extra`.
    fn menu_xml(event: &str, create_time: u64, extra: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>\n\
             <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>\n\
             <CreateTime>{create_time}</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n\
             <Event><![CDATA[{event}]]></Event>\n<EventKey><![CDATA[6]]></EventKey>\n{extra}\n</xml>"
        )
    }

    /// The same, in JSON, `extra` being its members after `EventKey`.
    fn menu_json(event: &str, create_time: u64, extra: &str) -> String {
        format!(
            r#"{{"ToUserName":"gh_e136c6e50636","FromUserName":"oMgHVjngRipVsoxg6TuX3vz6glDg",
                "CreateTime":{create_time},"MsgType":"event","Event":"{event}","EventKey":"6",{extra}}}"#
        )
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
    fn types_the_scan_code_menu_events_from_wechats_samples() {
        for (event, create_time, result) in [
            ("scancode_push", 1408090502, "1"),
            ("scancode_waitmsg", 1408090606, "2"),
        ] {
            let xml = menu_xml(
                event,
                create_time,
                &format!(
                    "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\n\
                     <ScanResult><![CDATA[{result}]]></ScanResult>\n</ScanCodeInfo>"
                ),
            );
            let json = menu_json(
                event,
                create_time,
                &format!(r#""ScanCodeInfo":{{"ScanType":"qrcode","ScanResult":"{result}"}}"#),
            );
            let info = ScanCodeInfo {
                scan_type: "qrcode".into(),
                scan_result: result.into(),
            };
            let expected = if event == "scancode_push" {
                Event::ScanCodePush {
                    key: "6".into(),
                    info,
                }
            } else {
                Event::ScanCodeWaitMsg {
                    key: "6".into(),
                    info,
                }
            };
            assert_eq!(twins(&xml, &json), MessageKind::Event(expected));
        }
    }

    #[test]
    fn types_the_picture_menu_events_from_wechats_samples() {
        for (event, create_time, md5) in [
            (
                "pic_sysphoto",
                1408090651,
                "1b5f7c23b5bf75682a53e7b6d163e185",
            ),
            (
                "pic_photo_or_album",
                1408090816,
                "5a75aaca956d97be686719218f275c6b",
            ),
            ("pic_weixin", 1408090816, "5a75aaca956d97be686719218f275c6b"),
        ] {
            let xml = menu_xml(
                event,
                create_time,
                &format!(
                    "<SendPicsInfo><Count>1</Count>\n<PicList><item><PicMd5Sum><![CDATA[{md5}]]>\
                     </PicMd5Sum>\n</item>\n</PicList>\n</SendPicsInfo>"
                ),
            );
            let json = menu_json(
                event,
                create_time,
                &format!(
                    r#""SendPicsInfo":{{"Count":1,"PicList":{{"item":[{{"PicMd5Sum":"{md5}"}}]}}}}"#
                ),
            );
            let pics = SendPicsInfo {
                count: 1,
                pic_md5_sums: vec![md5.into()],
            };
            let key = "6".to_string();
            let expected = match event {
                "pic_sysphoto" => Event::PicSysPhoto { key, pics },
                "pic_photo_or_album" => Event::PicPhotoOrAlbum { key, pics },
                _ => Event::PicWeixin { key, pics },
            };
            assert_eq!(twins(&xml, &json), MessageKind::Event(expected));
        }
    }

    #[test]
    fn reads_every_picture_of_the_list_in_order() {
        let several = event_of(
            "pic_photo_or_album",
            "<EventKey>6</EventKey><SendPicsInfo><Count>3</Count><PicList>\
             <item><PicMd5Sum>a1</PicMd5Sum></item><item><PicMd5Sum>b2</PicMd5Sum></item>\
             <item><PicMd5Sum>c3</PicMd5Sum></item></PicList></SendPicsInfo>",
        );
        assert_eq!(
            several,
            MessageKind::Event(Event::PicPhotoOrAlbum {
                key: "6".into(),
                pics: SendPicsInfo {
                    count: 3,
                    pic_md5_sums: vec!["a1".into(), "b2".into(), "c3".into()],
                },
            })
        );
        // None sent: an empty list, the count as WeChat states it.
        assert_eq!(
            event_of(
                "pic_weixin",
                "<EventKey>6</EventKey><SendPicsInfo><Count>0</Count><PicList/></SendPicsInfo>"
            ),
            MessageKind::Event(Event::PicWeixin {
                key: "6".into(),
                pics: SendPicsInfo {
                    count: 0,
                    pic_md5_sums: vec![],
                },
            })
        );
    }

    #[test]
    fn types_location_select_from_wechats_sample() {
        let xml = menu_xml(
            "location_select",
            1408091189,
            "<SendLocationInfo><Location_X><![CDATA[23]]></Location_X>\n\
             <Location_Y><![CDATA[113]]></Location_Y>\n<Scale><![CDATA[15]]></Scale>\n\
             <Label><![CDATA[ 广州市海珠区客村艺苑路 106号]]></Label>\n\
             <Poiname><![CDATA[]]></Poiname>\n</SendLocationInfo>",
        );
        let json = menu_json(
            "location_select",
            1408091189,
            r#""SendLocationInfo":{"Location_X":"23","Location_Y":"113","Scale":"15",
                "Label":" 广州市海珠区客村艺苑路 106号","Poiname":""}"#,
        );
        assert_eq!(
            twins(&xml, &json),
            MessageKind::Event(Event::LocationSelect {
                key: "6".into(),
                location: SendLocationInfo {
                    latitude: 23.0,
                    longitude: 113.0,
                    scale: Some(15),
                    label: Some(" 广州市海珠区客村艺苑路 106号".into()),
                    poiname: Some(String::new()),
                },
            })
        );
        // Numbers as JSON numbers, decimals kept; no scale, label or POI.
        assert_eq!(
            json_kind(
                r#"{"MsgType":"event","Event":"location_select","EventKey":"k",
                    "SendLocationInfo":{"Location_X":23.134521,"Location_Y":113.358803}}"#
            ),
            MessageKind::Event(Event::LocationSelect {
                key: "k".into(),
                location: SendLocationInfo {
                    latitude: 23.134521,
                    longitude: 113.358803,
                    scale: None,
                    label: None,
                    poiname: None,
                },
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
