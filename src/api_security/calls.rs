//! The one table of calls WeChat lets be secured: "does this call get
//! signed and encrypted?" is answered here and nowhere else.
//!
//! From WeChat's mini program server API docs, where each API says whether
//! it supports 加密 (the "API security" column): intracity delivery (which
//! requires it), phone number and user data, mini program codes and links,
//! customer-service and subscribe messages, content checks, risk control.
//! Resource uploads (multipart) are excluded by WeChat, and a form body is
//! never sealed whatever its path.

/// Paths secured as they are.
const EXACT: &[&str] = &[
    // User data.
    "/wxa/business/getuserphonenumber",
    "/wxa/business/checkencryptedmsg",
    "/wxa/business/getuserencryptkey",
    "/wxa/getpluginopenpid",
    "/wxa/getpaidunionid",
    "/wxa/getuserriskrank",
    // Mini program codes, schemes and links.
    "/wxa/getwxacode",
    "/wxa/getwxacodeunlimit",
    "/cgi-bin/wxaapp/createwxaqrcode",
    "/wxa/generatescheme",
    "/wxa/query_scheme",
    "/wxa/generatenfcscheme",
    "/wxa/generate_urllink",
    "/wxa/query_urllink",
    "/wxa/genwxashortlink",
    // Customer-service and subscribe messages.
    "/cgi-bin/message/custom/send",
    "/cgi-bin/message/custom/typing",
    "/cgi-bin/message/subscribe/send",
    "/cgi-bin/message/wxopen/updatablemsg/send",
    "/cgi-bin/message/wxopen/activityid/create",
    // Content checks (text; the image check is an upload).
    "/wxa/msg_sec_check",
    "/wxa/media_check_async",
];

/// Path prefixes whose every call is secured.
const PREFIXES: &[&str] = &[
    // Intracity delivery: WeChat requires API security for all of it.
    "/cgi-bin/express/intracity/",
];

/// Whether WeChat lets the call to `path` (no query, no base URL) be signed
/// and encrypted. With [`ClientBuilder::api_security`](crate::ClientBuilder::api_security)
/// set, the client secures these calls (JSON or empty bodies; uploads
/// never) and leaves the others as they are.
///
/// # Example
///
/// ```
/// assert!(weixin::is_securable("/wxa/business/getuserphonenumber"));
/// assert!(weixin::is_securable("/cgi-bin/express/intracity/querystore"));
/// assert!(!weixin::is_securable("/cgi-bin/media/upload"));
/// assert!(!weixin::is_securable("/cgi-bin/token"));
/// ```
pub fn is_securable(path: &str) -> bool {
    EXACT.contains(&path) || PREFIXES.iter().any(|prefix| path.starts_with(prefix))
}
