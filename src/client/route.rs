//! Routing: which token a call carries, under which name, with which
//! extra parameters, and to which URL. Decided here, from the options
//! alone, with no I/O.

use crate::error::{redact_url, Error, Result};
use crate::options::{Body, RequestOptions};
use crate::origin::{base_url, default_port, Origin};
use crate::token::TokenKey;

/// How a call carries its credentials, decided from the options alone.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The token to append, and the query name it goes under.
    pub token: Option<(TokenKey, &'static str)>,
    /// Query pairs the SDK adds (component OAuth calls).
    pub query: Vec<(&'static str, String)>,
    /// A `component_appid` to put into the JSON body when it has none.
    pub body_component_appid: Option<String>,
}

/// The call's appid, else the client's.
pub(super) fn appid_or<'a>(appid: Option<&'a str>, default: Option<&'a str>) -> Result<&'a str> {
    appid
        .or(default)
        .ok_or_else(|| Error::invalid("no appid: set one on the call or the client"))
}

/// Step 1: which token does this call need, under which name, and
/// which parameters come with it? `appid` is the client's. Pure.
pub(super) fn plan(options: &RequestOptions, appid: Option<&str>) -> Result<Plan> {
    let path = path_of(&options.url);
    if options.no_token || NO_TOKEN_PATHS.contains(&path) {
        return Ok(Plan::default());
    }
    let inline = options
        .url
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(q))
        .into_iter()
        .flat_map(|q| q.split('&'))
        .map(|pair| pair.split('=').next().unwrap_or(pair));
    let names = options.query.iter().map(|(k, _)| k.as_str()).chain(inline);
    if let Some(name) = names
        .into_iter()
        .find(|k| *k == "access_token" || *k == "component_access_token")
    {
        return Err(Error::invalid(format!(
            "the query already has {name}: the client appends it"
        )));
    }
    let appid = appid_or(options.appid.as_deref(), appid)?;
    let component = || {
        (
            TokenKey::component_access_token(appid),
            "component_access_token",
        )
    };
    if path == "/cgi-bin/component/api_component_token" {
        return Ok(Plan {
            body_component_appid: Some(appid.to_string()),
            ..Plan::default()
        });
    }
    if path.starts_with("/cgi-bin/component/") {
        return Ok(Plan {
            token: Some(component()),
            query: Vec::new(),
            body_component_appid: Some(appid.to_string()),
        });
    }
    if path.starts_with("/sns/oauth2/component/") || path.starts_with("/sns/component/") {
        let authorizer = options.authorizer_appid.as_deref().ok_or_else(|| {
            Error::invalid(format!(
                "{path} needs the authorizer's appid (authorizer_appid)"
            ))
        })?;
        return Ok(Plan {
            token: Some(component()),
            query: vec![
                ("appid", authorizer.to_string()),
                ("component_appid", appid.to_string()),
            ],
            body_component_appid: None,
        });
    }
    let key = TokenKey::access_token(appid);
    let key = match &options.authorizer_appid {
        Some(authorizer) => key.for_authorizer(authorizer),
        None => key,
    };
    Ok(Plan {
        token: Some((key, "access_token")),
        ..Plan::default()
    })
}

/// The URL a call goes to, without its query: `origin` (its path prefix
/// included) unless the call names its own; a call that names its own
/// scheme, host or port leaves the client's base URL, prefix and all.
/// Pure.
pub(super) fn url_of(options: &RequestOptions, origin: &Origin) -> Result<String> {
    let url = options.url.as_str();
    if url.starts_with("http://") || url.starts_with("https://") {
        let rest = url.split_once("://").map_or("", |(_, r)| r);
        if rest.is_empty() || rest.starts_with('/') {
            return Err(Error::invalid(format!("bad url {:?}", redact_url(url))));
        }
        return Ok(url.to_string());
    }
    if !url.starts_with('/') {
        return Err(Error::invalid(format!(
            "url must be a path starting with / or a full http(s) url, got {:?}",
            redact_url(url)
        )));
    }
    if options.scheme.is_none() && options.host.is_none() && options.port.is_none() {
        let base = origin.base_url();
        let mut out = String::with_capacity(base.len() + url.len());
        out.push_str(base);
        out.push_str(url);
        return Ok(out);
    }
    let scheme = options.scheme.as_deref().unwrap_or(origin.scheme());
    if scheme != "http" && scheme != "https" {
        return Err(Error::invalid(format!(
            "scheme must be http or https, got {scheme:?}"
        )));
    }
    let host = options.host.as_deref().unwrap_or(origin.host());
    // A call that names its scheme gets that scheme's port.
    let port = options.port.unwrap_or(match options.scheme {
        Some(_) => default_port(scheme),
        None => origin.port(),
    });
    Ok(base_url(scheme, host, port) + url)
}

/// Paths that authenticate by appid + secret, by a user's code or by a
/// user's own token, never by the account's `access_token`: calls to them
/// need no appid, no token source and no token fetch. The component
/// variants (`/sns/oauth2/component/*`, `/sns/component/*`) carry the
/// component token and are routed apart.
pub(crate) const NO_TOKEN_PATHS: &[&str] = &[
    "/cgi-bin/token",
    "/cgi-bin/stable_token",
    "/cgi-bin/clear_quota/v2",
    "/sns/oauth2/access_token",
    "/sns/oauth2/refresh_token",
    "/sns/jscode2session",
    "/sns/userinfo",
    "/sns/auth",
];

/// Puts `component_appid` into a JSON object body that lacks it (or into a
/// new body when a POST has none), as the component APIs require.
pub(super) fn fill_component_appid(options: &mut RequestOptions, component_appid: &str) {
    match &mut options.body {
        Body::Json(serde_json::Value::Object(map)) => {
            map.entry("component_appid")
                .or_insert_with(|| component_appid.into());
        }
        Body::Empty if options.method == crate::options::Method::Post => {
            options.body = Body::Json(serde_json::json!({ "component_appid": component_appid }));
        }
        _ => {}
    }
}

/// The path of a URL or path, without query or fragment.
pub(super) fn path_of(url: &str) -> &str {
    // A bare path, the usual call, needs no search for an origin.
    let without_origin = if url.starts_with('/') {
        url
    } else {
        match url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => url,
        }
    };
    let end = without_origin
        .bytes()
        .position(|b| b == b'?' || b == b'#')
        .unwrap_or(without_origin.len());
    &without_origin[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_of_ignores_origin_query_and_fragment() {
        assert_eq!(path_of("/a/b?x=http://y/z"), "/a/b");
        assert_eq!(path_of("/a#f"), "/a");
        assert_eq!(path_of("https://h:1/a?b#c"), "/a");
        assert_eq!(path_of("https://h"), "/");
    }
    use crate::ErrorKind;

    /// Plans a call of a client whose appid is `wxA`.
    fn plan_a(o: &RequestOptions) -> Result<Plan> {
        plan(o, Some("wxA"))
    }

    fn token_of(o: RequestOptions) -> Option<(TokenKey, &'static str)> {
        plan_a(&o).unwrap().token
    }

    #[test]
    fn resolves_which_token_a_call_needs() {
        assert_eq!(
            plan_a(&RequestOptions::get("/sns/userinfo")).unwrap(),
            Plan::default()
        );
        assert_eq!(
            plan_a(&RequestOptions::get(
                "https://api.weixin.qq.com/sns/auth?x=1"
            ))
            .unwrap(),
            Plan::default()
        );
        assert_eq!(
            token_of(RequestOptions::get("/cgi-bin/user/get")),
            Some((TokenKey::access_token("wxA"), "access_token"))
        );
        assert_eq!(
            token_of(RequestOptions::get("/cgi-bin/user/get").appid("wxB")),
            Some((TokenKey::access_token("wxB"), "access_token"))
        );
        let err = plan(&RequestOptions::get("/cgi-bin/x"), None).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidRequest { .. }));
    }

    #[test]
    fn routes_component_calls() {
        let component = Some((
            TokenKey::component_access_token("wxA"),
            "component_access_token",
        ));
        let plan = plan_a(&RequestOptions::post(
            "/cgi-bin/component/api_create_preauthcode",
        ))
        .unwrap();
        assert_eq!(plan.token, component);
        assert_eq!(plan.body_component_appid.as_deref(), Some("wxA"));

        let plan = plan_a(
            &RequestOptions::get("/sns/oauth2/component/access_token").authorizer_appid("wxAuth"),
        )
        .unwrap();
        assert_eq!(plan.token, component);
        assert_eq!(
            plan.query,
            vec![
                ("appid", "wxAuth".to_string()),
                ("component_appid", "wxA".to_string())
            ]
        );
        assert!(plan_a(&RequestOptions::get("/sns/component/jscode2session")).is_err());

        assert_eq!(
            token_of(RequestOptions::get("/cgi-bin/user/get").authorizer_appid("wxAuth")),
            Some((
                TokenKey::access_token("wxA").for_authorizer("wxAuth"),
                "access_token"
            ))
        );
        let plan = plan_a(&RequestOptions::post(
            "/cgi-bin/component/api_component_token",
        ))
        .unwrap();
        assert_eq!(plan.token, None);
    }

    #[test]
    fn fills_component_appid_only_when_absent() {
        let mut o = RequestOptions::post("/x").json(serde_json::json!({"a": 1}));
        fill_component_appid(&mut o, "wxC");
        assert!(
            matches!(&o.body, Body::Json(v) if v == &serde_json::json!({"a": 1, "component_appid": "wxC"}))
        );
        let mut o = RequestOptions::post("/x").json(serde_json::json!({"component_appid": "mine"}));
        fill_component_appid(&mut o, "wxC");
        assert!(matches!(&o.body, Body::Json(v) if v["component_appid"] == "mine"));
        let mut o = RequestOptions::post("/x");
        fill_component_appid(&mut o, "wxC");
        assert!(
            matches!(&o.body, Body::Json(v) if v == &serde_json::json!({"component_appid": "wxC"}))
        );
    }

    #[test]
    fn builds_urls_from_path_host_scheme_port() {
        let origin = Origin::new("https", "api.weixin.qq.com", None, "").unwrap();
        let url = |o: RequestOptions| url_of(&o, &origin);
        assert_eq!(
            url(RequestOptions::get("/a")).unwrap(),
            "https://api.weixin.qq.com/a"
        );
        assert_eq!(
            url(RequestOptions::get("/a")
                .host("127.0.0.1")
                .scheme("http")
                .port(8080))
            .unwrap(),
            "http://127.0.0.1:8080/a"
        );
        assert_eq!(
            url(RequestOptions::get("/a").host("api2.weixin.qq.com")).unwrap(),
            "https://api2.weixin.qq.com/a"
        );
        assert_eq!(
            url(RequestOptions::get("http://h:1/x?y=1")).unwrap(),
            "http://h:1/x?y=1"
        );
        for bad in ["cgi-bin/x", "ftp://h/x", "http:///x", ""] {
            assert!(
                matches!(
                    url(RequestOptions::get(bad)).unwrap_err().kind(),
                    ErrorKind::InvalidRequest { .. }
                ),
                "{bad}"
            );
        }
        assert!(url(RequestOptions::get("/a").scheme("gopher")).is_err());
    }

    #[test]
    fn a_base_urls_path_goes_before_the_calls_unless_it_leaves_the_base() {
        let origin = Origin::parse("http://proxy.internal:8080/wechat/").unwrap();
        let url = |o: RequestOptions| url_of(&o, &origin).unwrap();
        assert_eq!(
            url(RequestOptions::get("/cgi-bin/token")),
            "http://proxy.internal:8080/wechat/cgi-bin/token"
        );
        assert_eq!(
            url(RequestOptions::get("/a").host("api2.weixin.qq.com")),
            "http://api2.weixin.qq.com:8080/a"
        );
        assert_eq!(
            url(RequestOptions::get("https://h/x")),
            "https://h/x",
            "a full url is taken as it is"
        );
    }
}
