//! The one table of calls WeChat lets be secured: "does this call get
//! signed and encrypted?" is answered here and nowhere else.
//!
//! WeChat keeps no single list. Its guide says only some APIs support the
//! scheme, "具体可参考各 API 文档", and that resource uploads do not
//! ("资源上传类API暂不支持加密"):
//! <https://developers.weixin.qq.com/miniprogram/dev/server/getting_started/api_signature.html>.
//! Each API page that supports it carries the note "支持加密请求：本接口支持服务通信
//! 二次加密和签名". The table is built from two sources, each row saying which:
//!
//! - `doc`: the API's own page in WeChat's mini program server docs
//!   (`https://developers.weixin.qq.com/miniprogram/dev/server/API/...`),
//!   read from stored copies of those pages (2026), carries the note;
//! - `wxjava`: binarywang/WxJava's list of the calls it secures,
//!   `urlPathSupportApiSignature` in
//!   `weixin-java-miniapp/src/main/java/cn/binarywang/wx/miniapp/api/impl/BaseWxMaServiceImpl.java`
//!   (compiled in 2024 from WeChat's OpenApiDoc), for pages no stored copy
//!   of the docs covers.
//!
//! Where the two disagree the docs win and the call is left plain: the
//! pages of `/cgi-bin/message/subscribe/send` and
//! `/cgi-bin/message/wxopen/updatablemsg/send` carry no note although
//! WxJava secures them. These pages carry no note either, so their calls
//! are plain: `/wxa/generatescheme`, `/wxa/queryscheme`,
//! `/wxa/generatenfcscheme`, `/wxa/generate_urllink`, `/wxa/query_urllink`,
//! `/wxa/genwxashortlink`, `/wxa/getpaidunionid`,
//! `/cgi-bin/message/wxopen/activityid/create`. No stored source (page or
//! SDK) says whether `/cgi-bin/message/custom/typing` supports the
//! scheme, so it is plain too.
//!
//! When unsure, a call is left out: its pages say an API "supports" the
//! scheme (intracity delivery aside, no stored source says a plain call
//! to such an API is refused), while a sealed body sent to an API that
//! does not read it cannot succeed. `RequestOptions::secure(true)` seals
//! a call the table does not name; `secure(false)` leaves a named one
//! plain. A form body (an upload) is never sealed, whatever its path.

/// Paths secured as they are, each with its source (see the module docs).
const EXACT: &[&str] = &[
    // User data and risk control.
    "/wxa/business/getuserphonenumber", // wxjava
    "/wxa/business/checkencryptedmsg",  // wxjava
    "/wxa/business/getuserencryptkey",  // doc: user-info/internet/api_getuserencryptkey (a GET)
    "/wxa/getpluginopenpid",            // wxjava
    "/wxa/getuserriskrank", // doc: sec-center/safety-control-capability/api_getuserriskrank, and the guide's own example
    // Mini program codes.
    "/wxa/getwxacode",                 // doc: qrcode-link/qr-code/api_getqrcode
    "/wxa/getwxacodeunlimit",          // doc: qrcode-link/qr-code/api_getunlimitedqrcode
    "/cgi-bin/wxaapp/createwxaqrcode", // doc: qrcode-link/qr-code/api_createqrcode
    // Customer-service messages and subscribe-message templates.
    "/cgi-bin/message/custom/send", // doc: kf-mgnt/kf-message/api_sendcustommessage
    "/wxaapi/newtmpl/addtemplate",  // wxjava
    "/wxaapi/newtmpl/deltemplate",  // wxjava
    // Content security.
    "/wxa/msg_sec_check",     // doc: sec-center/sec-check/api_msgseccheck
    "/wxa/media_check_async", // doc: sec-center/sec-check/api_mediacheckasync
    // API management.
    "/cgi-bin/clear_quota",       // wxjava
    "/cgi-bin/openapi/quota/get", // doc: getApiQuota
    "/cgi-bin/openapi/rid/get",   // doc: getRidInfo
    // Data analysis.
    "/datacube/getweanalysisappiddailyretaininfo", // doc: getDailyRetain
    "/datacube/getweanalysisappidweeklyretaininfo", // wxjava
    "/datacube/getweanalysisappidmonthlyretaininfo", // wxjava
    "/datacube/getweanalysisappiddailyvisittrend", // wxjava
    "/datacube/getweanalysisappidweeklyvisittrend", // wxjava
    "/datacube/getweanalysisappidmonthlyvisittrend", // wxjava
    "/datacube/getweanalysisappiddailysummarytrend", // wxjava
    "/datacube/getweanalysisappidvisitpage",       // wxjava
    "/datacube/getweanalysisappiduserportrait",    // wxjava
    "/datacube/getweanalysisappidvisitdistribution", // wxjava
    // Operations, performance and plugins.
    "/wxa/getwxadevinfo",             // doc: getDomainInfo
    "/wxa/business/performance/boot", // wxjava
    "/wxaapi/log/get_performance",    // wxjava
    "/wxaapi/log/jserr_detail",       // wxjava
    "/wxaapi/log/jserr_list",         // wxjava
    "/wxa/devplugin",                 // wxjava
    "/wxa/plugin",                    // wxjava
    // Logistics accounts (GETs), the service market, SOTER.
    "/cgi-bin/express/business/account/getall",  // wxjava
    "/cgi-bin/express/business/delivery/getall", // wxjava
    "/cgi-bin/express/business/printer/getall",  // wxjava
    "/wxa/servicemarket",                        // doc: invokeService
    "/cgi-bin/soter/verify_signature",           // wxjava
];

/// Path prefixes whose every call is secured, but for the exceptions in
/// [`PLAIN`].
const PREFIXES: &[&str] = &[
    // Intracity delivery: WeChat requires the scheme for it. WxJava's
    // `WxMaIntracityServiceImpl` seals every intracity call but `apply`
    // (the stored copies of these pages carry no note).
    "/cgi-bin/express/intracity/",
];

/// Calls under a [`PREFIXES`] entry that are sent plain.
const PLAIN: &[&str] = &[
    // Opening the store permission is a plain POST of `{}` in WxJava's
    // `WxMaIntracityServiceImpl::apply` ("无加密，可直接调用" in the
    // ledc intracity PHP SDK).
    "/cgi-bin/express/intracity/apply",
];

/// Whether WeChat lets the call to `path` (no query, no base URL) be signed
/// and encrypted, by the crate's table of WeChat's documented calls. With
/// [`ClientBuilder::api_security`](crate::ClientBuilder::api_security)
/// set, the client secures these calls (JSON or empty bodies; uploads
/// never) and leaves the others as they are;
/// [`RequestOptions::secure`](crate::RequestOptions::secure) decides for
/// one call instead.
///
/// # Example
///
/// ```
/// assert!(weixin::is_securable("/wxa/business/getuserphonenumber"));
/// assert!(weixin::is_securable("/cgi-bin/express/intracity/querystore"));
/// assert!(!weixin::is_securable("/cgi-bin/express/intracity/apply"));
/// assert!(!weixin::is_securable("/wxa/generate_urllink"));
/// assert!(!weixin::is_securable("/cgi-bin/media/upload"));
/// assert!(!weixin::is_securable("/cgi-bin/token"));
/// ```
pub fn is_securable(path: &str) -> bool {
    if PLAIN.contains(&path) {
        return false;
    }
    EXACT.contains(&path) || PREFIXES.iter().any(|prefix| path.starts_with(prefix))
}
