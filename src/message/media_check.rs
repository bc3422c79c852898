//! The asynchronous content check's result (`wxa_media_check`), pushed up
//! to 30 minutes after `/wxa/media_check_async` (version 2) answered a
//! `trace_id`.
//!
//! WeChat sends `label` as a number in its documentation and as a string in
//! some real pushes: both are read. The version 1 push (`isrisky`, no
//! `result`) does not fit this model and is [`Event::Other`](crate::Event::Other).

use super::fields::{closed_set, Fields};

closed_set! {
    /// `suggest`: what WeChat advises doing with the checked content.
    /// `Other` keeps a value this crate does not know, as sent.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::MediaCheckSuggest;
    ///
    /// assert_eq!(MediaCheckSuggest::from("risky"), MediaCheckSuggest::Risky);
    /// assert_eq!(MediaCheckSuggest::Pass.as_str(), "pass");
    /// assert_eq!(MediaCheckSuggest::from("Pass"), MediaCheckSuggest::Other("Pass".into()));
    /// ```
    pub enum MediaCheckSuggest {
        /// `pass`: nothing found.
        Pass = "pass",
        /// `review`: uncertain, a person should look.
        Review = "review",
        /// `risky`: the content breaks the rules.
        Risky = "risky",
    }
}

/// The result of an asynchronous content check (`Event` `wxa_media_check`).
///
/// # Example
///
/// ```
/// use weixin::{Event, MediaCheckSuggest, Message, MessageKind};
///
/// let json = r#"{"ToUserName":"gh_38cc49f9733b","FromUserName":"oH1fu0FdHqpToe2T6gBj0WyB8iS1",
///     "CreateTime":1626959646,"MsgType":"event","Event":"wxa_media_check",
///     "appid":"wx8f16a5e5c8b7e3a1","trace_id":"60f96f1d-3845297a-1976a3ae","version":2,
///     "detail":[{"strategy":"content_model","errcode":0,"suggest":"pass","label":100,"prob":90}],
///     "errcode":0,"errmsg":"ok","result":{"suggest":"pass","label":100}}"#;
/// let MessageKind::Event(Event::MediaCheck(check)) = Message::parse_json(json)?.into_kind() else {
///     panic!("not typed");
/// };
/// assert_eq!(check.trace_id, "60f96f1d-3845297a-1976a3ae");
/// assert_eq!(check.result.suggest, MediaCheckSuggest::Pass);
/// assert_eq!(check.result.label, 100);
/// assert_eq!(check.detail[0].prob, Some(90.0));
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MediaCheck {
    /// `appid`, the mini program that asked for the check.
    pub app_id: String,
    /// `trace_id`, as answered by `/wxa/media_check_async`: the key to the
    /// content checked.
    pub trace_id: String,
    /// `version` of the check (2).
    pub version: u32,
    /// `result`, the verdict.
    pub result: MediaCheckResult,
    /// `detail`, one entry per strategy WeChat applied, in order (may be
    /// empty).
    pub detail: Vec<MediaCheckDetail>,
}

/// `result` of a [`MediaCheck`]: the verdict over every strategy.
///
/// # Example
///
/// ```
/// use weixin::{Event, MediaCheckSuggest, Message, MessageKind};
///
/// let json = r#"{"MsgType":"event","Event":"wxa_media_check","appid":"wx1","trace_id":"t",
///     "version":2,"result":{"suggest":"risky","label":"20002"},"detail":[]}"#;
/// let MessageKind::Event(Event::MediaCheck(check)) = Message::parse_json(json)?.into_kind() else {
///     panic!("not typed");
/// };
/// assert_eq!(check.result.suggest, MediaCheckSuggest::Risky);
/// assert_eq!(check.result.label, 20002);
/// assert!(check.detail.is_empty());
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaCheckResult {
    /// `suggest`.
    pub suggest: MediaCheckSuggest,
    /// `label`, the category found: `100` normal, `10001` advertising,
    /// `20001` politics, `20002` pornography, `20003` abuse, `20006` crime,
    /// `20008` fraud, `20012` vulgarity, `20013` copyright, `21000` other.
    pub label: u32,
}

/// One strategy's finding in a [`MediaCheck`]'s `detail`.
///
/// # Example
///
/// ```
/// use weixin::{Event, MediaCheckSuggest, Message, MessageKind};
///
/// let json = r#"{"MsgType":"event","Event":"wxa_media_check","appid":"wx1","trace_id":"t",
///     "version":2,"result":{"suggest":"pass","label":100},
///     "detail":[{"strategy":"content_model","errcode":0,"suggest":"pass","label":100,"prob":90},
///               {"strategy":"keyword","errcode":0}]}"#;
/// let MessageKind::Event(Event::MediaCheck(check)) = Message::parse_json(json)?.into_kind() else {
///     panic!("not typed");
/// };
/// let keyword = &check.detail[1];
/// assert_eq!((keyword.strategy.as_str(), keyword.errcode), ("keyword", 0));
/// assert_eq!((keyword.suggest.clone(), keyword.label, keyword.prob), (None, None, None));
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MediaCheckDetail {
    /// `strategy`: `content_model`, `keyword`...
    pub strategy: String,
    /// `errcode`: `0` when this strategy ran; its other fields count only
    /// then.
    pub errcode: i64,
    /// `suggest`, when the strategy gives one.
    pub suggest: Option<MediaCheckSuggest>,
    /// `label`, when the strategy gives one (see [`MediaCheckResult::label`]).
    pub label: Option<u32>,
    /// `prob`, the confidence from 0 to 100, when the strategy gives one.
    pub prob: Option<f64>,
}

impl MediaCheck {
    pub(super) fn read(f: &Fields<'_>) -> Option<MediaCheck> {
        let result = f.at("result");
        Some(MediaCheck {
            app_id: f.text("appid")?,
            trace_id: f.text("trace_id")?,
            version: f.number("version")?,
            result: MediaCheckResult {
                suggest: suggest(&result)?,
                label: result.number("label")?,
            },
            detail: f
                .list("detail")
                .iter()
                .map(|item| {
                    Some(MediaCheckDetail {
                        strategy: item.text("strategy")?,
                        errcode: item.number("errcode")?,
                        suggest: suggest(item),
                        label: item.optional_number("label")?,
                        prob: item.optional_number("prob")?,
                    })
                })
                .collect::<Option<_>>()?,
        })
    }
}

fn suggest(f: &Fields<'_>) -> Option<MediaCheckSuggest> {
    f.get("suggest").map(MediaCheckSuggest::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::test_support::{assert_untyped_event, json_kind, twins, xml_kind};
    use crate::{Event, Message, MessageKind};

    /// WeChat's documented push (version 2).
    const DOC_JSON: &str = r#"{
        "ToUserName": "gh_38cc49f9733b",
        "FromUserName": "oH1fu0FdHqpToe2T6gBj0WyB8iS1",
        "CreateTime": 1626959646,
        "MsgType": "event",
        "Event": "wxa_media_check",
        "appid": "wx8f16a5e5c8b7e3a1",
        "trace_id": "60f96f1d-3845297a-1976a3ae",
        "version": 2,
        "detail": [{
            "strategy": "content_model",
            "errcode": 0,
            "suggest": "pass",
            "label": 100,
            "prob": 90
        }],
        "errcode": 0,
        "errmsg": "ok",
        "result": {
            "suggest": "pass",
            "label": 100
        }
    }"#;

    /// The same push in XML, as a mini program set to XML receives it.
    const DOC_XML: &str = "<xml><ToUserName><![CDATA[gh_38cc49f9733b]]></ToUserName>\
        <FromUserName><![CDATA[oH1fu0FdHqpToe2T6gBj0WyB8iS1]]></FromUserName>\
        <CreateTime>1626959646</CreateTime><MsgType><![CDATA[event]]></MsgType>\
        <Event><![CDATA[wxa_media_check]]></Event><appid><![CDATA[wx8f16a5e5c8b7e3a1]]></appid>\
        <trace_id><![CDATA[60f96f1d-3845297a-1976a3ae]]></trace_id><version>2</version>\
        <detail><strategy><![CDATA[content_model]]></strategy><errcode>0</errcode>\
        <suggest><![CDATA[pass]]></suggest><label>100</label><prob>90</prob></detail>\
        <errcode>0</errcode><errmsg><![CDATA[ok]]></errmsg>\
        <result><suggest><![CDATA[pass]]></suggest><label>100</label></result></xml>";

    fn check(kind: MessageKind) -> MediaCheck {
        match kind {
            MessageKind::Event(Event::MediaCheck(check)) => check,
            other => panic!("not a media check: {other:?}"),
        }
    }

    #[test]
    fn types_wechats_documented_push_in_json_and_xml() {
        let expected = MediaCheck {
            app_id: "wx8f16a5e5c8b7e3a1".into(),
            trace_id: "60f96f1d-3845297a-1976a3ae".into(),
            version: 2,
            result: MediaCheckResult {
                suggest: MediaCheckSuggest::Pass,
                label: 100,
            },
            detail: vec![MediaCheckDetail {
                strategy: "content_model".into(),
                errcode: 0,
                suggest: Some(MediaCheckSuggest::Pass),
                label: Some(100),
                prob: Some(90.0),
            }],
        };
        assert_eq!(check(twins(DOC_XML, DOC_JSON)), expected);
        let message = Message::parse_json(DOC_JSON).unwrap();
        assert_eq!(message.field("errmsg"), Some("ok"));
        assert_eq!(message.field("detail/strategy"), Some("content_model"));
    }

    #[test]
    fn reads_labels_sent_as_strings_and_every_detail_in_order() {
        // A real push as reported on WeChat's forum: labels as strings.
        let real = r#"{"ToUserName":"gh_7bf1f1389686","FromUserName":"or9bw69jaWwJlF-6u0z3qT3KmO2k",
            "CreateTime":1762329554,"MsgType":"event","Event":"wxa_media_check",
            "appid":"wxb04d1be1ede56d47","trace_id":"690b03d2-301f6111-35ffbd44","version":2,
            "result":{"suggest":"pass","label":"100"},"detail":[{"strategy":"content_model",
            "errcode":0,"suggest":"pass","label":"100","prob":90}]}"#;
        let real = check(json_kind(real));
        assert_eq!(real.result.label, 100);
        assert_eq!(real.detail[0].label, Some(100));
        assert_eq!(real.trace_id, "690b03d2-301f6111-35ffbd44");

        let several = r#"{"MsgType":"event","Event":"wxa_media_check","appid":"wx1",
            "trace_id":"t1","version":"2","result":{"suggest":"risky","label":20002},"detail":[
            {"strategy":"content_model","errcode":0,"suggest":"risky","label":20002,"prob":97.5},
            {"strategy":"keyword","errcode":0},
            {"strategy":"people_check","errcode":-1008,"suggest":"unsure","label":21000}]}"#;
        let several = check(json_kind(several));
        assert_eq!(
            several.result,
            MediaCheckResult {
                suggest: MediaCheckSuggest::Risky,
                label: 20002
            }
        );
        assert_eq!(
            several.detail,
            [
                MediaCheckDetail {
                    strategy: "content_model".into(),
                    errcode: 0,
                    suggest: Some(MediaCheckSuggest::Risky),
                    label: Some(20002),
                    prob: Some(97.5),
                },
                MediaCheckDetail {
                    strategy: "keyword".into(),
                    errcode: 0,
                    suggest: None,
                    label: None,
                    prob: None,
                },
                MediaCheckDetail {
                    strategy: "people_check".into(),
                    errcode: -1008,
                    suggest: Some(MediaCheckSuggest::Other("unsure".into())),
                    label: Some(21000),
                    prob: None,
                },
            ]
        );

        // Repeated <detail> elements in XML, and a review.
        let xml = "<xml><MsgType>event</MsgType><Event>wxa_media_check</Event>\
            <appid>wx1</appid><trace_id>t2</trace_id><version>2</version>\
            <result><suggest>review</suggest><label>10001</label></result>\
            <detail><strategy>a</strategy><errcode>0</errcode></detail>\
            <detail><strategy>b</strategy><errcode>1</errcode></detail></xml>";
        let xml = check(xml_kind(xml));
        assert_eq!(xml.result.suggest, MediaCheckSuggest::Review);
        let strategies: Vec<(&str, i64)> = xml
            .detail
            .iter()
            .map(|d| (d.strategy.as_str(), d.errcode))
            .collect();
        assert_eq!(strategies, [("a", 0), ("b", 1)]);
    }

    #[test]
    fn a_push_that_does_not_fit_is_other_with_every_field_kept() {
        for json in [
            // The version 1 push, as reported on WeChat's forum.
            r#"{"ToUserName":"gh_406d9032","FromUserName":"oiRBY5ba","CreateTime":1658730632,
                "MsgType":"event","Event":"wxa_media_check","isrisky":0,"extra_info_json":"",
                "appid":"wxffc3ff3f1d","trace_id":"bd8117e7041fd2424bdac93effdb745f",
                "status_code":0,"detail":[]}"#,
            // No trace id.
            r#"{"MsgType":"event","Event":"wxa_media_check","appid":"wx1","version":2,
                "result":{"suggest":"pass","label":100}}"#,
            // A label that is no number.
            r#"{"MsgType":"event","Event":"wxa_media_check","appid":"wx1","trace_id":"t",
                "version":2,"result":{"suggest":"pass","label":"normal"}}"#,
            // A detail without its errcode.
            r#"{"MsgType":"event","Event":"wxa_media_check","appid":"wx1","trace_id":"t",
                "version":2,"result":{"suggest":"pass","label":100},
                "detail":[{"strategy":"keyword"}]}"#,
        ] {
            let message = Message::parse_json(json).unwrap();
            assert_untyped_event(&message, None);
            assert!(message.field("appid").is_some());
        }
    }
}
