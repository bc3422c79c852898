//! Subscription message events: a user's answer to a subscription popup,
//! a change in their settings, and a message's delivery, each a list of
//! templates.
//!
//! In XML the list is repeated `<List>` elements inside a wrapper named for
//! the event (`SubscribeMsgPopupEvent/List`, `.../List[2]`); in JSON it is
//! `List`, an array, or one object when there is one item (WeChat sends
//! both). Either is read, whichever the push holds. An event whose list is
//! empty or has an item missing a field is [`Event::Other`](crate::Event::Other).

use super::fields::{closed_set, Fields};

closed_set! {
    /// `SubscribeStatusString`: what became of a template in a subscription
    /// popup or the user's settings. `Other` keeps a value this crate does
    /// not know, as sent.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::SubscribeStatus;
    ///
    /// assert_eq!(SubscribeStatus::from("accept"), SubscribeStatus::Accept);
    /// assert_eq!(SubscribeStatus::Reject.as_str(), "reject");
    /// assert_eq!(
    ///     SubscribeStatus::from("acceptWithAudio"),
    ///     SubscribeStatus::Other("acceptWithAudio".into())
    /// );
    /// ```
    pub enum SubscribeStatus {
        /// `accept`: the user agreed to receive the template's messages.
        Accept = "accept",
        /// `reject`: the user refused them.
        Reject = "reject",
        /// `ban`: WeChat banned the template; the user was not asked.
        Ban = "ban",
        /// `filter`: WeChat filtered the template out (its title repeats
        /// another's); the user was not asked.
        Filter = "filter",
    }
}

/// One template of a `subscribe_msg_popup_event`.
///
/// # Example
///
/// ```
/// use weixin::{Event, Message, MessageKind, SubscribeStatus};
///
/// // One item: WeChat sends an object rather than an array.
/// let json = r#"{"MsgType":"event","Event":"subscribe_msg_popup_event",
///     "List":{"TemplateId":"t1","SubscribeStatusString":"accept","PopupScene":"0"}}"#;
/// let MessageKind::Event(Event::SubscribeMsgPopup { list }) = Message::parse_json(json)?.into_kind()
/// else {
///     panic!("not typed");
/// };
/// assert_eq!(list.len(), 1);
/// assert_eq!(list[0].template_id, "t1");
/// assert_eq!(list[0].status, SubscribeStatus::Accept);
/// assert_eq!(list[0].popup_scene, 0);
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeMsgPopup {
    /// `TemplateId`.
    pub template_id: String,
    /// `SubscribeStatusString`, the user's answer.
    pub status: SubscribeStatus,
    /// `PopupScene`, where the popup was shown: `0` a mini program page,
    /// `1` a web page, `2` a message of an official account.
    pub popup_scene: u32,
}

/// One template of a `subscribe_msg_change_event`.
///
/// # Example
///
/// ```
/// use weixin::{Event, Message, MessageKind, SubscribeStatus};
///
/// let xml = "<xml><MsgType>event</MsgType><Event>subscribe_msg_change_event</Event>\
///     <SubscribeMsgChangeEvent><List><TemplateId>t1</TemplateId>\
///     <SubscribeStatusString>reject</SubscribeStatusString></List>\
///     </SubscribeMsgChangeEvent></xml>";
/// let MessageKind::Event(Event::SubscribeMsgChange { list }) = Message::parse(xml)?.into_kind()
/// else {
///     panic!("not typed");
/// };
/// assert_eq!(list[0].template_id, "t1");
/// assert_eq!(list[0].status, SubscribeStatus::Reject);
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeMsgChange {
    /// `TemplateId`.
    pub template_id: String,
    /// `SubscribeStatusString`, the user's new choice.
    pub status: SubscribeStatus,
}

/// One message of a `subscribe_msg_sent_event`.
///
/// # Example
///
/// ```
/// use weixin::{Event, Message, MessageKind};
///
/// let json = r#"{"MsgType":"event","Event":"subscribe_msg_sent_event","List":[
///     {"TemplateId":"t1","MsgID":"1864323726461255680","ErrorCode":"0","ErrorStatus":"success"}]}"#;
/// let MessageKind::Event(Event::SubscribeMsgSent { list }) = Message::parse_json(json)?.into_kind()
/// else {
///     panic!("not typed");
/// };
/// assert_eq!(list[0].msg_id, 1864323726461255680);
/// assert_eq!((list[0].error_code, list[0].error_status.as_str()), (0, "success"));
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeMsgSent {
    /// `TemplateId`.
    pub template_id: String,
    /// `MsgID`, as answered by the send call.
    pub msg_id: u64,
    /// `ErrorCode`: `0` when the message was delivered.
    pub error_code: i64,
    /// `ErrorStatus`: `success` when delivered, else why not, as WeChat
    /// words it.
    pub error_status: String,
}

impl SubscribeMsgPopup {
    pub(super) fn read_list(f: &Fields<'_>) -> Option<Vec<SubscribeMsgPopup>> {
        read_list(f, "SubscribeMsgPopupEvent", |item| {
            Some(SubscribeMsgPopup {
                template_id: item.text("TemplateId")?,
                status: status(item)?,
                popup_scene: item.number("PopupScene")?,
            })
        })
    }
}

impl SubscribeMsgChange {
    pub(super) fn read_list(f: &Fields<'_>) -> Option<Vec<SubscribeMsgChange>> {
        read_list(f, "SubscribeMsgChangeEvent", |item| {
            Some(SubscribeMsgChange {
                template_id: item.text("TemplateId")?,
                status: status(item)?,
            })
        })
    }
}

impl SubscribeMsgSent {
    pub(super) fn read_list(f: &Fields<'_>) -> Option<Vec<SubscribeMsgSent>> {
        read_list(f, "SubscribeMsgSentEvent", |item| {
            Some(SubscribeMsgSent {
                template_id: item.text("TemplateId")?,
                msg_id: item.number("MsgID")?,
                error_code: item.number("ErrorCode")?,
                error_status: item.text("ErrorStatus")?,
            })
        })
    }
}

fn status(item: &Fields<'_>) -> Option<SubscribeStatus> {
    item.get("SubscribeStatusString").map(SubscribeStatus::from)
}

/// The items of `wrapper/List` (XML) or `List` (JSON), each read by `read`;
/// `None` when there is none or one does not fit.
fn read_list<T>(
    f: &Fields<'_>,
    wrapper: &str,
    read: impl Fn(&Fields<'_>) -> Option<T>,
) -> Option<Vec<T>> {
    let items = f.first_list(&[&format!("{wrapper}/List"), "List"]);
    if items.is_empty() {
        return None;
    }
    items.iter().map(read).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_support::{assert_untyped_event, event_xml, json_kind, xml_kind};
    use crate::{Event, Message, MessageKind};

    fn popup(template_id: &str, status: SubscribeStatus, popup_scene: u32) -> SubscribeMsgPopup {
        SubscribeMsgPopup {
            template_id: template_id.into(),
            status,
            popup_scene,
        }
    }

    fn change(template_id: &str, status: SubscribeStatus) -> SubscribeMsgChange {
        SubscribeMsgChange {
            template_id: template_id.into(),
            status,
        }
    }

    fn sent(
        template_id: &str,
        msg_id: u64,
        error_code: i64,
        error_status: &str,
    ) -> SubscribeMsgSent {
        SubscribeMsgSent {
            template_id: template_id.into(),
            msg_id,
            error_code,
            error_status: error_status.into(),
        }
    }

    const POPUP_XML: &str = "<xml>\n    <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>\n    \
        <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>\n    \
        <CreateTime>1610969440</CreateTime>\n    <MsgType><![CDATA[event]]></MsgType>\n    \
        <Event><![CDATA[subscribe_msg_popup_event]]></Event>\n    <SubscribeMsgPopupEvent>\n        \
        <List>\n            \
        <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\n            \
        <SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>\n            \
        <PopupScene>2</PopupScene>\n        </List>\n        <List>\n            \
        <TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>\n            \
        <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>\n            \
        <PopupScene>2</PopupScene>\n        </List>\n    </SubscribeMsgPopupEvent>\n</xml>";

    #[test]
    fn types_the_popup_event_from_wechats_xml_and_json_samples() {
        assert_eq!(
            xml_kind(POPUP_XML),
            MessageKind::Event(Event::SubscribeMsgPopup {
                list: vec![
                    popup(
                        "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc",
                        SubscribeStatus::Accept,
                        2
                    ),
                    popup(
                        "9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI",
                        SubscribeStatus::Reject,
                        2
                    ),
                ]
            })
        );
        // The mini program's sample (without the trailing comma it shows,
        // which is no JSON): one item in an array, numbers as strings.
        let json = r#"{
            "ToUserName": "gh_123456789abc",
            "FromUserName": "o7esq5OI1Uej6Xixw1lA2H7XDVbc",
            "CreateTime": "1620973045",
            "MsgType": "event",
            "Event": "subscribe_msg_popup_event",
            "List": [ {
                "TemplateId": "hD-ixGOhYmUfjOnI8MCzQMPshzGVeux_2vzyvQu7O68",
                "SubscribeStatusString": "accept",
                "PopupScene": "0"
            }]
        }"#;
        let message = Message::parse_json(json).unwrap();
        assert_eq!(message.create_time(), Some(1620973045));
        assert_eq!(
            message.into_kind(),
            MessageKind::Event(Event::SubscribeMsgPopup {
                list: vec![popup(
                    "hD-ixGOhYmUfjOnI8MCzQMPshzGVeux_2vzyvQu7O68",
                    SubscribeStatus::Accept,
                    0
                )]
            })
        );
    }

    #[test]
    fn a_json_list_is_an_array_or_one_object_and_numbers_may_be_numbers() {
        let object = r#"{"MsgType":"event","Event":"subscribe_msg_popup_event",
            "List":{"TemplateId":"t1","SubscribeStatusString":"reject","PopupScene":1}}"#;
        let array = r#"{"MsgType":"event","Event":"subscribe_msg_popup_event",
            "List":[{"TemplateId":"t1","SubscribeStatusString":"reject","PopupScene":"1"}]}"#;
        let expected = MessageKind::Event(Event::SubscribeMsgPopup {
            list: vec![popup("t1", SubscribeStatus::Reject, 1)],
        });
        assert_eq!(json_kind(object), expected);
        assert_eq!(json_kind(array), expected);

        // Several, in order, every documented status and one unknown kept.
        let several = r#"{"MsgType":"event","Event":"subscribe_msg_popup_event","List":[
            {"TemplateId":"t1","SubscribeStatusString":"accept","PopupScene":"0"},
            {"TemplateId":"t2","SubscribeStatusString":"reject","PopupScene":"0"},
            {"TemplateId":"t3","SubscribeStatusString":"ban","PopupScene":"0"},
            {"TemplateId":"t4","SubscribeStatusString":"filter","PopupScene":"0"},
            {"TemplateId":"t5","SubscribeStatusString":"acceptWithAlert","PopupScene":"0"}]}"#;
        assert_eq!(
            json_kind(several),
            MessageKind::Event(Event::SubscribeMsgPopup {
                list: vec![
                    popup("t1", SubscribeStatus::Accept, 0),
                    popup("t2", SubscribeStatus::Reject, 0),
                    popup("t3", SubscribeStatus::Ban, 0),
                    popup("t4", SubscribeStatus::Filter, 0),
                    popup("t5", SubscribeStatus::Other("acceptWithAlert".into()), 0),
                ]
            })
        );
        // The XML wrapper sent in JSON is read too.
        let wrapped = r#"{"MsgType":"event","Event":"subscribe_msg_popup_event",
            "SubscribeMsgPopupEvent":{"List":{"TemplateId":"t1","SubscribeStatusString":"reject",
            "PopupScene":"1"}}}"#;
        assert_eq!(json_kind(wrapped), expected);
    }

    #[test]
    fn types_the_change_event_from_wechats_samples_and_real_pushes() {
        let rejected = |template_ids: &[&str]| {
            MessageKind::Event(Event::SubscribeMsgChange {
                list: template_ids
                    .iter()
                    .map(|id| change(id, SubscribeStatus::Reject))
                    .collect(),
            })
        };
        let xml = "<xml>\n    <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>\n    \
            <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>\n    \
            <CreateTime>1610969440</CreateTime>\n    <MsgType><![CDATA[event]]></MsgType>\n    \
            <Event><![CDATA[subscribe_msg_change_event]]></Event>\n    \
            <SubscribeMsgChangeEvent>\n        <List>\n            \
            <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\n            \
            <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>\n        \
            </List>\n    </SubscribeMsgChangeEvent>\n</xml>";
        assert_eq!(
            xml_kind(xml),
            rejected(&["VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc"])
        );
        let json = r#"{
            "ToUserName": "gh_123456789abc",
            "FromUserName": "o7esq5OI1Uej6Xixw1lA2H7XDVbc",
            "CreateTime": "1610968440",
            "MsgType": "event",
            "Event": "subscribe_msg_change_event",
            "List": [{
                "TemplateId": "BEwX0BOT3MqK3Uc5oTU3CGBqzjpndk2jzUf7VfExd8",
                "SubscribeStatusString": "reject"
            }]
        }"#;
        assert_eq!(
            json_kind(json),
            rejected(&["BEwX0BOT3MqK3Uc5oTU3CGBqzjpndk2jzUf7VfExd8"])
        );
        // As reported from production on WeChat's forum: one item as an
        // object, two as an array.
        let one = r#"{"ToUserName":"xxxxx","FromUserName":"xxxxx","CreateTime":1625575518,
            "MsgType":"event","Event":"subscribe_msg_change_event","List":{"SubscribeStatusString":
            "reject","TemplateId":"NQezXFstp4zZV2q7u5aSprQZEx061ODkFJGLdungfoI"}}"#;
        assert_eq!(
            json_kind(one),
            rejected(&["NQezXFstp4zZV2q7u5aSprQZEx061ODkFJGLdungfoI"])
        );
        let two = r#"{"ToUserName":"xxxxx","FromUserName":"xxxxx","CreateTime":1625575681,
            "MsgType":"event","Event":"subscribe_msg_change_event","List":[
            {"SubscribeStatusString":"reject","TemplateId":"savKN0g_My3T-Hb6t5yUJ2HfG6Wj56HRJzxGOyU2z_Y"},
            {"SubscribeStatusString":"reject","TemplateId":"gIg6LaccfJuD1IAKzSdodAT7U3Z4ZEHZbPcLo1Q-VUo"}]}"#;
        assert_eq!(
            json_kind(two),
            rejected(&[
                "savKN0g_My3T-Hb6t5yUJ2HfG6Wj56HRJzxGOyU2z_Y",
                "gIg6LaccfJuD1IAKzSdodAT7U3Z4ZEHZbPcLo1Q-VUo"
            ])
        );
    }

    #[test]
    fn types_the_sent_event_from_wechats_xml_and_json_samples() {
        let xml = "<xml>\n    <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>\n    \
            <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>\n    \
            <CreateTime>1610969468</CreateTime>\n    <MsgType><![CDATA[event]]></MsgType>\n    \
            <Event><![CDATA[subscribe_msg_sent_event]]></Event>\n    <SubscribeMsgSentEvent>\n        \
            <List>\n            \
            <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\n            \
            <MsgID>1700827132819554304</MsgID>\n            <ErrorCode>0</ErrorCode>\n            \
            <ErrorStatus><![CDATA[success]]></ErrorStatus>\n        </List>\n    \
            </SubscribeMsgSentEvent>\n</xml>";
        assert_eq!(
            xml_kind(xml),
            MessageKind::Event(Event::SubscribeMsgSent {
                list: vec![sent(
                    "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc",
                    1700827132819554304,
                    0,
                    "success"
                )]
            })
        );
        // WeChat's JSON sample sends its one item as an object.
        let json = r#"{
            "ToUserName": "gh_123456789abc",
            "FromUserName": "o7esq5OI1Uej6Xixw1lA2H7XDVbc",
            "CreateTime": "1620963428",
            "MsgType": "event",
            "Event": "subscribe_msg_sent_event",
            "List": {
                "TemplateId": "BEwX0BOT3MqK3Uc5oTU3CGBqzjpndk2jzUf7VfExd8",
                "MsgID": "1864323726461255680",
                "ErrorCode": "0",
                "ErrorStatus": "success"
            }
        }"#;
        assert_eq!(
            json_kind(json),
            MessageKind::Event(Event::SubscribeMsgSent {
                list: vec![sent(
                    "BEwX0BOT3MqK3Uc5oTU3CGBqzjpndk2jzUf7VfExd8",
                    1864323726461255680,
                    0,
                    "success"
                )]
            })
        );
        // Several in XML, numbers as JSON numbers, a failure kept as sent.
        let several = event_xml(
            "subscribe_msg_sent_event",
            "<SubscribeMsgSentEvent><List><TemplateId>t1</TemplateId><MsgID>1</MsgID>\
             <ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List>\
             <List><TemplateId>t2</TemplateId><MsgID>2</MsgID><ErrorCode>20004</ErrorCode>\
             <ErrorStatus>fail:user refuse to accept the msg</ErrorStatus></List>\
             </SubscribeMsgSentEvent>",
        );
        let expected = MessageKind::Event(Event::SubscribeMsgSent {
            list: vec![
                sent("t1", 1, 0, "success"),
                sent("t2", 2, 20004, "fail:user refuse to accept the msg"),
            ],
        });
        assert_eq!(xml_kind(&several), expected);
        let numbers = r#"{"MsgType":"event","Event":"subscribe_msg_sent_event","List":[
            {"TemplateId":"t1","MsgID":1,"ErrorCode":0,"ErrorStatus":"success"},
            {"TemplateId":"t2","MsgID":2,"ErrorCode":20004,
             "ErrorStatus":"fail:user refuse to accept the msg"}]}"#;
        assert_eq!(json_kind(numbers), expected);
    }

    #[test]
    fn a_list_that_is_empty_or_has_an_item_missing_a_field_is_other() {
        let xml = [
            // No list at all, or an empty one.
            event_xml("subscribe_msg_popup_event", "<EventKey>k</EventKey>"),
            event_xml(
                "subscribe_msg_popup_event",
                "<SubscribeMsgPopupEvent></SubscribeMsgPopupEvent>",
            ),
            // The second item has no status.
            event_xml(
                "subscribe_msg_popup_event",
                "<SubscribeMsgPopupEvent><List><TemplateId>t1</TemplateId>\
                 <SubscribeStatusString>accept</SubscribeStatusString><PopupScene>0</PopupScene>\
                 </List><List><TemplateId>t2</TemplateId><PopupScene>0</PopupScene></List>\
                 </SubscribeMsgPopupEvent>",
            ),
            event_xml(
                "subscribe_msg_change_event",
                "<SubscribeMsgChangeEvent><List><SubscribeStatusString>reject\
                 </SubscribeStatusString></List></SubscribeMsgChangeEvent>",
            ),
            // A message id that is no number.
            event_xml(
                "subscribe_msg_sent_event",
                "<SubscribeMsgSentEvent><List><TemplateId>t</TemplateId><MsgID>x1</MsgID>\
                 <ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List>\
                 </SubscribeMsgSentEvent>",
            ),
        ];
        for (i, xml) in xml.iter().enumerate() {
            let message = Message::parse(xml).unwrap();
            assert_untyped_event(&message, (i == 0).then_some("k"));
        }
        let json = [
            r#"{"MsgType":"event","Event":"subscribe_msg_change_event","List":[]}"#,
            r#"{"MsgType":"event","Event":"subscribe_msg_sent_event","List":{"TemplateId":"t",
                "MsgID":"1","ErrorStatus":"success"}}"#,
            r#"{"MsgType":"event","Event":"subscribe_msg_popup_event","List":[
                {"TemplateId":"t","SubscribeStatusString":"accept","PopupScene":"page"}]}"#,
        ];
        for json in json {
            let message = Message::parse_json(json).unwrap();
            assert_untyped_event(&message, None);
        }
        let message = Message::parse_json(json[1]).unwrap();
        assert_eq!(message.field("List/MsgID"), Some("1"));
    }
}
