//! Tickets through the cache, the JSSDK config and card signature helpers.

use weixin::{TicketType, TokenKey};

use crate::common::{self, APPID};

#[test]
fn jssdk_config_fetches_the_ticket_once_and_signs_it() {
    let fake = common::fake();
    let client = common::direct(&fake);
    let url = "https://example.com/page?x=1#section";
    let config = client.wx_config(url).unwrap();
    let again = client.wx_config(url).unwrap();
    assert_ne!(config.nonce_str, again.nonce_str);
    assert_eq!(fake.count("/cgi-bin/ticket/getticket"), 1);
    assert_eq!(fake.count("/cgi-bin/token"), 1);

    let ticket = client.jsapi_ticket().unwrap();
    assert_eq!(config.app_id, APPID);
    assert_eq!(
        config.signature,
        weixin::sign_jssdk_with(
            ticket.expose(),
            "https://example.com/page?x=1",
            &config.nonce_str,
            config.timestamp
        )
    );
}

#[test]
fn card_tickets_are_separate_and_survive_a_revoked_access_token() {
    let fake = common::fake();
    let client = common::direct(&fake);
    let jsapi = client.jsapi_ticket().unwrap();
    fake.invalidate_current(APPID);
    // getticket answers 40001 for the revoked token: the access token is
    // refreshed once and the ticket call retried.
    let card = client.ticket_for(APPID, TicketType::WxCard).unwrap();
    assert!(card.expose().starts_with("TICKET_wx_card_"));
    assert_ne!(jsapi.expose(), card.expose());
    assert_eq!(fake.count("/cgi-bin/ticket/getticket"), 3);
    assert_eq!(fake.count("/cgi-bin/token"), 2);
    assert_eq!(
        client
            .token(&TokenKey::ticket(APPID, TicketType::WxCard))
            .unwrap(),
        card
    );
}

/// `wx.addCard` signatures: the wx_card ticket fetched once (not the
/// jsapi one), each signature with its own nonce, the cardExt carrying
/// what was signed.
#[test]
fn card_signatures_fetch_the_card_ticket_once() {
    let fake = common::fake();
    let client = common::direct(&fake);
    let open = client.add_card_signature("p_card", None).unwrap();
    let bound = client.add_card_signature("p_card", Some("o_user")).unwrap();
    let other = client
        .add_card_signature_for(APPID, "p_other", None)
        .unwrap();
    assert_eq!(fake.count("/cgi-bin/ticket/getticket"), 1);
    assert_eq!(fake.count("/cgi-bin/token"), 1);
    let asked = fake.last_request("/cgi-bin/ticket/getticket").unwrap();
    assert_eq!(asked.param("type"), Some("wx_card"));
    assert_ne!(open.nonce_str, bound.nonce_str);

    let ticket = client.card_ticket().unwrap();
    assert!(ticket.expose().starts_with("TICKET_wx_card_"));
    for (sig, card_id, openid) in [
        (&open, "p_card", None),
        (&bound, "p_card", Some("o_user")),
        (&other, "p_other", None),
    ] {
        let mut values = vec![ticket.expose(), card_id, &sig.nonce_str];
        let timestamp = sig.timestamp.to_string();
        values.push(&timestamp);
        values.extend(openid);
        assert_eq!(sig.signature, weixin::sign_card(&values));
        let ext: serde_json::Value = serde_json::from_str(&sig.card_ext).unwrap();
        let mut want = serde_json::json!({
            "timestamp": timestamp,
            "nonce_str": sig.nonce_str,
            "signature": sig.signature,
        });
        if let Some(openid) = openid {
            want["openid"] = openid.into();
        }
        assert_eq!(ext, want);
    }
}

#[test]
fn jssdk_config_needs_an_appid() {
    let fake = common::fake();
    let client = weixin::Client::builder()
        .token_source(common::secret_source(&fake))
        .build()
        .unwrap();
    assert!(matches!(
        client.wx_config("https://e.com").unwrap_err().kind(),
        weixin::ErrorKind::InvalidRequest { .. }
    ));
}
