//! The one table of calls that send something to a user or change an
//! account's state: sent twice, they deliver a message twice or make a
//! change twice. [`Retry::for_path`](super::Retry::for_path) reads it to
//! give these calls [`Retry::IfNotSent`](super::Retry::IfNotSent); every
//! other path (reads, token and ticket calls) gets
//! [`Retry::Busy`](super::Retry::Busy).
//!
//! Paths are WeChat's own, from the official account, mini program and
//! third-party platform references
//! (<https://developers.weixin.qq.com/doc/service/api/>,
//! <https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/>,
//! <https://developers.weixin.qq.com/doc/oplatform/openApi/>): customer
//! service, template, subscription and mass messages; menus; materials,
//! drafts and publishing; tags and remarks; customer-service accounts and
//! sessions; comments; cards; QR codes; quota resets; a mini program's
//! code releases. An entry ending in `/` covers every path under it (all
//! of them send or change); the others are exact.
//!
//! The table is read only when a call fails, to decide whether it may be
//! sent again: a call that succeeds never looks at it.

/// Paths of calls that send or change something. Exact paths, and
/// prefixes ending in `/` whose every path sends or changes.
pub(crate) const SENDS: &[&str] = &[
    // Messages to users: customer service (and its typing state),
    // templates, one-time subscriptions, subscription notices, mass
    // sends, a mini program's subscription and updatable messages.
    "/cgi-bin/message/custom/",
    "/cgi-bin/message/template/",
    "/cgi-bin/message/subscribe/",
    "/cgi-bin/message/wxopen/",
    "/cgi-bin/message/device/subscribe/send",
    "/cgi-bin/message/mass/sendall",
    "/cgi-bin/message/mass/send",
    "/cgi-bin/message/mass/preview",
    "/cgi-bin/message/mass/delete",
    "/cgi-bin/message/mass/speed/set",
    // Templates kept by the account.
    "/cgi-bin/template/api_add_template",
    "/cgi-bin/template/del_private_template",
    "/cgi-bin/template/api_set_industry",
    "/wxaapi/newtmpl/addtemplate",
    "/wxaapi/newtmpl/deltemplate",
    // Menus.
    "/cgi-bin/menu/create",
    "/cgi-bin/menu/delete",
    "/cgi-bin/menu/addconditional",
    "/cgi-bin/menu/delconditional",
    // Materials, media uploads, drafts and publishing.
    "/cgi-bin/material/add_news",
    "/cgi-bin/material/add_material",
    "/cgi-bin/material/update_news",
    "/cgi-bin/material/del_material",
    "/cgi-bin/media/upload",
    "/cgi-bin/media/uploadimg",
    "/cgi-bin/media/uploadnews",
    "/cgi-bin/draft/add",
    "/cgi-bin/draft/update",
    "/cgi-bin/draft/delete",
    "/cgi-bin/freepublish/submit",
    "/cgi-bin/freepublish/delete",
    // Users' tags, remarks and the blacklist.
    "/cgi-bin/tags/create",
    "/cgi-bin/tags/update",
    "/cgi-bin/tags/delete",
    "/cgi-bin/tags/members/batchtagging",
    "/cgi-bin/tags/members/batchuntagging",
    "/cgi-bin/tags/members/batchblacklist",
    "/cgi-bin/tags/members/batchunblacklist",
    "/cgi-bin/user/info/updateremark",
    // Customer-service accounts and sessions.
    "/customservice/kfaccount/",
    "/customservice/kfsession/create",
    "/customservice/kfsession/close",
    // Comments on articles.
    "/cgi-bin/comment/open",
    "/cgi-bin/comment/close",
    "/cgi-bin/comment/markelect",
    "/cgi-bin/comment/unmarkelect",
    "/cgi-bin/comment/delete",
    "/cgi-bin/comment/reply/add",
    "/cgi-bin/comment/reply/delete",
    // Cards and their codes.
    "/card/create",
    "/card/update",
    "/card/delete",
    "/card/modifystock",
    "/card/qrcode/create",
    "/card/code/consume",
    "/card/code/update",
    "/card/code/unavailable",
    "/card/membercard/activate",
    "/card/membercard/updateuser",
    // QR codes (a permanent one counts against a lifetime limit).
    "/cgi-bin/qrcode/create",
    // Quota resets, a few a month.
    "/cgi-bin/clear_quota",
    "/cgi-bin/clear_quota/v2",
    // A platform's settings for an authorizer, open platform bindings.
    "/cgi-bin/component/api_set_authorizer_option",
    "/cgi-bin/open/create",
    "/cgi-bin/open/bind",
    "/cgi-bin/open/unbind",
    // A mini program's code, review and release (a few reviews a month).
    "/wxa/commit",
    "/wxa/submit_audit",
    "/wxa/undocodeaudit",
    "/wxa/release",
    "/wxa/revertcoderelease",
    "/wxa/grayrelease",
    "/wxa/change_visitstatus",
    "/wxa/modify_domain",
    "/wxa/setwebviewdomain",
    "/wxa/bind_tester",
    "/wxa/unbind_tester",
    // A mini program's shipping notes, virtual payments and express orders.
    "/wxa/sec/order/upload_shipping_info",
    "/xpay/notify_provide_goods",
    "/xpay/refund_order",
    "/xpay/currency_pay",
    "/xpay/cancel_currency_pay",
    "/xpay/present_currency",
    "/cgi-bin/express/business/order/add",
    "/cgi-bin/express/business/order/cancel",
];

/// Whether the call to `path` (no query) sends or changes something.
pub(crate) fn sends(path: &str) -> bool {
    SENDS.iter().any(|entry| match entry.strip_suffix('/') {
        Some(prefix) => path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/')),
        None => path == *entry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_and_changes_are_told_from_reads() {
        for send in [
            "/cgi-bin/message/custom/send",
            "/cgi-bin/message/custom/typing",
            "/cgi-bin/message/template/send",
            "/cgi-bin/message/subscribe/bizsend",
            "/cgi-bin/message/mass/sendall",
            "/cgi-bin/menu/create",
            "/cgi-bin/material/add_material",
            "/customservice/kfaccount/add",
            "/wxa/submit_audit",
        ] {
            assert!(sends(send), "{send}");
        }
        for read in [
            "/cgi-bin/token",
            "/cgi-bin/ticket/getticket",
            "/cgi-bin/user/get",
            "/cgi-bin/menu/get",
            "/cgi-bin/message/mass/get",
            "/cgi-bin/message/custom",
            "/cgi-bin/message/customx/send",
            "/cgi-bin/material/get_material",
            "/cgi-bin/component/api_component_token",
            "/cgi-bin/menu/create/",
        ] {
            assert!(!sends(read), "{read}");
        }
    }

    #[test]
    fn the_table_is_well_formed() {
        for entry in SENDS {
            assert!(entry.starts_with('/'), "{entry}");
            assert!(!entry.contains(['?', '#', ' ']), "{entry}");
        }
        let mut sorted = SENDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), SENDS.len(), "an entry is listed twice");
    }
}
