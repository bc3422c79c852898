//! What the menu events that send something carry: a scanned code
//! (`scancode_push`, `scancode_waitmsg`), pictures (`pic_sysphoto`,
//! `pic_photo_or_album`, `pic_weixin`) and a location (`location_select`).
//! WeChat pushes them to official accounts, in XML; a JSON twin with the
//! same field paths (`SendPicsInfo/PicList/item[2]/PicMd5Sum`) reads the
//! same.

use super::fields::Fields;

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

pub(super) fn scan_code_info(f: &Fields<'_>) -> Option<ScanCodeInfo> {
    let info = f.at("ScanCodeInfo");
    Some(ScanCodeInfo {
        scan_type: info.text("ScanType")?,
        scan_result: info.text("ScanResult")?,
    })
}

pub(super) fn send_pics_info(f: &Fields<'_>) -> Option<SendPicsInfo> {
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

pub(super) fn send_location_info(f: &Fields<'_>) -> Option<SendLocationInfo> {
    let info = f.at("SendLocationInfo");
    Some(SendLocationInfo {
        latitude: info.number("Location_X")?,
        longitude: info.number("Location_Y")?,
        scale: info.optional_number("Scale")?,
        label: info.text("Label"),
        poiname: info.text("Poiname"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_support::{event_xml, json_kind, twins, xml_kind};
    use crate::{Event, MessageKind};

    fn event_of(name: &str, extra: &str) -> MessageKind {
        xml_kind(&event_xml(name, extra))
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
}
