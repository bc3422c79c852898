//! Replies that come later: `LaterReplies` sends customer-service messages
//! on a bounded pool, never twice, with WeChat's limits typed.

use std::time::Duration;

use crate::common::{direct, fake, wait_until, APPID};
use weixin::testing::Canned;
use weixin::{CustomMessage, ErrorKind, LaterReplies, RequestOptions};

const SEND: &str = "/cgi-bin/message/custom/send";
const HELD: Duration = Duration::from_secs(10);

/// The JSON bodies the fake received on the send path, as sent.
fn sent(fake: &weixin::testing::FakeWechat) -> Vec<String> {
    fake.received_on(SEND)
        .into_iter()
        .map(|r| String::from_utf8(r.body).unwrap())
        .collect()
}

#[cfg(feature = "crypto")]
#[test]
fn a_slow_handler_answers_success_at_once_and_sends_one_message() {
    use weixin::{CallbackHandler, MessageKind};

    let fake = fake();
    let replies = LaterReplies::new(direct(&fake), 2, 16).unwrap();
    let token = "callback-token";
    let signature = weixin::sha1_sorted(&[token, "1714037059", "486452656"]);
    let query = format!("signature={signature}&timestamp=1714037059&nonce=486452656");
    let body = b"<xml><ToUserName>gh_1</ToUserName><FromUserName>o_alice</FromUserName>\
        <CreateTime>1714037059</CreateTime><MsgType>text</MsgType><Content>why?</Content>\
        <MsgId>7</MsgId></xml>";
    // The slow part (a model, a lookup) waits at this gate: the push is
    // answered while it has not even started.
    let (go, gate) = std::sync::mpsc::channel::<()>();
    let mut pending = None;
    let response = CallbackHandler::new(token).handle("POST", &query, body, |message| {
        let MessageKind::Text { content } = message.kind() else {
            panic!("a text message")
        };
        let user = message.from_user_name().unwrap().to_string();
        let question = content.clone();
        pending = Some(replies.later(move || {
            gate.recv().unwrap();
            Ok(Some(CustomMessage::text(
                &user,
                &format!("about {question}: 42"),
            )))
        })?);
        Ok(None)
    });
    assert_eq!((response.status(), response.body()), (200, "success"));
    assert_eq!(
        fake.count(SEND),
        0,
        "nothing sent before the slow part ends"
    );
    assert_eq!(replies.pending(), 1);

    go.send(()).unwrap();
    pending.unwrap().wait().unwrap();
    assert_eq!(
        sent(&fake),
        [r#"{"msgtype":"text","text":{"content":"about why?: 42"},"touser":"o_alice"}"#]
    );
    let token_sent = &fake.received_on(SEND)[0].query;
    assert!(token_sent.iter().any(|(k, _)| k == "access_token"));
    assert_eq!(replies.shutdown(), 0);
}

#[test]
fn every_kind_of_message_goes_out_as_wechat_documents_it() {
    let fake = fake();
    let client = direct(&fake);
    for message in [
        CustomMessage::image("o1", "MEDIA"),
        CustomMessage::link(
            "o1",
            "T",
            "D",
            "https://example.com/a",
            "https://example.com/t.jpg",
        ),
        CustomMessage::miniprogram_page("o1", "T", "pages/index/index?foo=bar", "THUMB"),
    ] {
        client.send_custom_message(&message).unwrap();
    }
    assert_eq!(
        sent(&fake),
        [
            r#"{"image":{"media_id":"MEDIA"},"msgtype":"image","touser":"o1"}"#,
            r#"{"link":{"description":"D","thumb_url":"https://example.com/t.jpg","title":"T","url":"https://example.com/a"},"msgtype":"link","touser":"o1"}"#,
            r#"{"miniprogrampage":{"pagepath":"pages/index/index?foo=bar","thumb_media_id":"THUMB","title":"T"},"msgtype":"miniprogrampage","touser":"o1"}"#,
        ]
    );
}

#[test]
fn the_48_hour_window_and_the_reply_count_limit_come_back_typed() {
    let fake = fake();
    let replies = LaterReplies::new(direct(&fake), 1, 4).unwrap();
    fake.answer(
        SEND,
        Canned::error(45015, "response out of time limit").times(1),
    );
    fake.answer(
        SEND,
        Canned::error(45047, "out of response count limit").times(1),
    );

    let late = replies
        .send(CustomMessage::text("o1", "late"))
        .unwrap()
        .wait();
    let late = late.unwrap_err();
    assert_eq!(late.errcode(), Some(45015));
    assert!(late.is_outside_reply_window() && !late.is_too_many_replies());
    assert_eq!(late.call().map(|c| c.path()), Some(SEND));
    assert!(
        late.to_string().contains("more than 48 hours ago"),
        "{late}"
    );

    let many = replies
        .send(CustomMessage::text("o1", "again"))
        .unwrap()
        .wait();
    let many = many.unwrap_err();
    assert_eq!(many.errcode(), Some(45047));
    assert!(many.is_too_many_replies() && !many.is_outside_reply_window());
    assert_eq!(fake.count(SEND), 2, "neither limit is retried");
    assert_eq!(replies.shutdown(), 0);
}

#[test]
fn a_busy_answer_to_a_send_is_not_sent_again_but_a_read_is_retried() {
    let fake = fake();
    let client = direct(&fake);
    let replies = LaterReplies::new(client.clone(), 1, 4).unwrap();
    fake.fail_next(SEND, -1, "system error", 1);
    let err = replies
        .send(CustomMessage::text("o1", "once"))
        .unwrap()
        .wait()
        .unwrap_err();
    assert_eq!((err.errcode(), err.attempts()), (Some(-1), None));
    assert_eq!(fake.count(SEND), 1, "WeChat may have delivered it");

    fake.fail_next(SEND, -1, "system error", 1);
    let direct_err = client
        .send_custom_message(&CustomMessage::text("o1", "once"))
        .unwrap_err();
    assert_eq!(direct_err.errcode(), Some(-1));
    assert_eq!(fake.count(SEND), 2);

    // The same path as a plain request is a send too (`Retry::for_path`);
    // a caller who accepts a second delivery opts in.
    fake.fail_next(SEND, -1, "system error", 1);
    let plain = client.request(RequestOptions::post(SEND)).unwrap_err();
    assert_eq!(plain.not_retried(), Some(weixin::NotRetried::MayHaveActed));
    assert_eq!(fake.count(SEND), 3);
    fake.fail_next(SEND, -1, "system error", 1);
    client
        .request(RequestOptions::post(SEND).retry(weixin::Retry::Always))
        .unwrap();
    assert_eq!(fake.count(SEND), 5);

    fake.fail_next("/cgi-bin/user/get", -1, "system error", 2);
    client.request("/cgi-bin/user/get").unwrap();
    assert_eq!(fake.count("/cgi-bin/user/get"), 3);
    assert_eq!(replies.shutdown(), 0);
}

#[test]
fn a_rejected_token_is_still_refreshed_and_the_send_made_once() {
    let fake = fake();
    let client = direct(&fake);
    client
        .send_custom_message(&CustomMessage::text("o1", "first"))
        .unwrap();
    fake.invalidate_current(APPID);
    client
        .send_custom_message(&CustomMessage::text("o1", "second"))
        .unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 2);
    assert_eq!(fake.count(SEND), 3, "the 40001 one and its retry");
    assert_eq!(
        sent(&fake)[2],
        r#"{"msgtype":"text","text":{"content":"second"},"touser":"o1"}"#
    );
}

#[test]
fn a_full_queue_is_refused_at_once() {
    let fake = fake();
    let replies = LaterReplies::new(direct(&fake), 1, 1).unwrap();
    let hold = fake.hold(SEND);
    let first = replies.send(CustomMessage::text("o1", "1")).unwrap();
    assert!(hold.wait_held(1, HELD), "the one worker is busy");
    let second = replies.send(CustomMessage::text("o1", "2")).unwrap();
    let full = replies.send(CustomMessage::text("o1", "3")).unwrap_err();
    assert_eq!(full.kind(), &ErrorKind::QueueFull { capacity: 1 });
    assert!(full.is_queue_full());
    assert_eq!(
        full.to_string(),
        "not queued: the queue holds 1 items already"
    );
    assert_eq!(replies.pending(), 2);

    hold.release();
    first.wait().unwrap();
    second.wait().unwrap();
    assert_eq!(fake.count(SEND), 2, "the refused one was never sent");
    assert_eq!(replies.shutdown(), 0);
}

#[test]
fn shutdown_sends_what_was_queued_refuses_the_rest_and_joins_its_workers() {
    let fake = fake();
    let replies = LaterReplies::new(direct(&fake), 1, 8).unwrap();
    let hold = fake.hold(SEND);
    let queued: Vec<_> = (0..3)
        .map(|n| {
            replies
                .send(CustomMessage::text("o1", &n.to_string()))
                .unwrap()
        })
        .collect();
    assert!(hold.wait_held(1, HELD));
    let refused = |replies: &LaterReplies| {
        matches!(
            replies.later(|| Ok(None)),
            Err(e) if e.kind() == &ErrorKind::QueueFull { capacity: 0 }
        )
    };
    std::thread::scope(|s| {
        let closing = s.spawn(|| replies.shutdown());
        wait_until("the pool stops taking work", || refused(&replies));
        hold.release();
        assert!(closing.join().unwrap() >= 3);
    });
    for pending in queued {
        pending.wait().unwrap();
    }
    assert_eq!(fake.count(SEND), 3, "all queued sends went out");
    assert_eq!(replies.pending(), 0);
    assert!(format!("{replies:?}").contains("workers: 0"), "{replies:?}");
    assert_eq!(replies.shutdown(), 0, "a second shutdown has nothing to do");
}

#[test]
fn a_pool_needs_a_worker_and_room() {
    let fake = fake();
    for (workers, capacity) in [(0, 1), (1, 0)] {
        let err = LaterReplies::new(direct(&fake), workers, capacity).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err}");
    }
}

#[test]
fn a_send_that_could_not_connect_is_tried_again_within_the_bound() {
    let fake = fake();
    let client = direct(&fake);
    client.request("/cgi-bin/user/get").unwrap(); // the token is cached
                                                  // The fake stops listening: its port refuses, so the request never left.
    drop(fake);
    let err = client
        .send_custom_message(&CustomMessage::text("o1", "hi"))
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::Transport {
            kind: weixin::TransportKind::Connect,
            ..
        }
    ));
    assert_eq!(err.attempts(), Some(4), "1 + the builder's 3 retries");
    // The same path as a plain request is a send too: tried again.
    let plain = client.request(RequestOptions::post(SEND)).unwrap_err();
    assert_eq!(plain.attempts(), Some(4));
    // A read is not retried on a connect failure, as before.
    let read = client.request("/cgi-bin/user/get").unwrap_err();
    assert_eq!(read.attempts(), None);
}

#[test]
fn a_send_that_timed_out_after_it_left_is_not_sent_again() {
    let fake = fake();
    let client = crate::common::builder(&fake)
        .timeout(Duration::from_millis(500))
        .token_source(crate::common::secret_source(&fake))
        .build()
        .unwrap();
    client.request("/cgi-bin/user/get").unwrap(); // the token is cached
                                                  // WeChat got the request and has not answered when the client gives up.
    let hold = fake.hold(SEND);
    let err = client
        .send_custom_message(&CustomMessage::text("o1", "hi"))
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.attempts(), None);
    hold.release();
    assert_eq!(fake.count(SEND), 1, "it may have been delivered");
}
