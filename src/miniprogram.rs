//! A mini program's login (`code2session`) and the calls that come right
//! after it: the user's phone number and an unlimited mini-program code.

use std::fmt;

use serde::Deserialize;

use crate::app::App;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::options::RequestOptions;
use crate::response::api_error;
use crate::secret::Secret;

/// The longest `scene` of an unlimited mini-program code, in characters.
const MAX_SCENE: usize = 32;

/// A mini program, for its server side: the login of `wx.login`'s code
/// ([`code2session`](MiniProgram::code2session)), the phone number, the
/// unlimited code and (feature `crypto`) the decryption of the data the
/// mini program hands over.
///
/// `code2session` authenticates by the app's secret
/// ([`secret`](MiniProgram::secret)) or through the third-party platform
/// acting for it ([`component`](MiniProgram::component)) and carries no
/// account token. The phone number and the mini-program code use the
/// mini program's account token, from the client's token source.
///
/// `Debug` prints the secret as `[redacted]`.
///
/// # Example
///
/// ```
/// use weixin::testing::FakeWechat;
/// use weixin::MiniProgram;
///
/// let fake = FakeWechat::start()?; // stands in for api.weixin.qq.com
/// let secret = std::env::var("WECHAT_SECRET").unwrap_or_else(|_| "demo-secret".into());
/// fake.register("wx_mini", &secret);
/// let client = weixin::Client::builder()
///     .base_url(fake.url())
///     .build()?;
/// let mini = MiniProgram::new("wx_mini").secret(secret);
///
/// // The mini program called wx.login() and sent its code to your server.
/// let code = fake.js_code("wx_mini", "o_user_1");
/// let session = mini.code2session(&client, &code)?;
/// assert_eq!(session.openid, "o_user_1");
/// assert!(!format!("{session:?}").contains(session.session_key.expose()));
/// // A code works once.
/// let err = mini.code2session(&client, &code).unwrap_err();
/// assert_eq!(err.errcode(), Some(40163));
/// assert_eq!(fake.count("/cgi-bin/token"), 0, "a login needs no account token");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct MiniProgram {
    app: App,
}

/// What `code2session` answers: who the user is, and the session key that
/// decrypts what the mini program hands over.
///
/// `Debug` prints the session key as `[redacted]`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MiniProgramSession {
    /// The user's id within the mini program.
    pub openid: String,
    /// The key of this login's session; a later `wx.login` replaces it.
    pub session_key: Secret,
    /// The user's id across the apps of one open platform account, when the
    /// mini program is bound to one.
    pub unionid: Option<String>,
}

/// A user's phone number, from the code of the mini program's
/// phone-number button.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PhoneNumber {
    /// The number with its country code when outside mainland China.
    pub phone_number: String,
    /// The number without country code.
    pub pure_phone_number: String,
    /// The country code, for example `86`.
    pub country_code: String,
}

/// What to draw in an unlimited mini-program code
/// (`/wxa/getwxacodeunlimit`): the `scene` the page receives, and options
/// that default to WeChat's.
///
/// # Example
///
/// ```
/// let code = weixin::UnlimitedCode::new("order=42")
///     .page("pages/order/order")
///     .env_version("trial")
///     .width(430);
/// assert_eq!(code.scene(), "order=42");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct UnlimitedCode {
    scene: String,
    body: serde_json::Map<String, serde_json::Value>,
}

/// A mini-program code image.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MiniProgramCode {
    /// The image's content type, as WeChat sent it (`image/jpeg` unless
    /// [`UnlimitedCode::hyaline`] asked for a PNG).
    pub content_type: String,
    /// The image.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for MiniProgramCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MiniProgramCode")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl MiniProgram {
    /// Mini program `appid`, with neither secret nor platform yet: enough
    /// for the calls with an account token.
    pub fn new(appid: impl Into<String>) -> MiniProgram {
        MiniProgram {
            app: App::new(appid.into()),
        }
    }

    /// The mini program's secret, for
    /// [`code2session`](MiniProgram::code2session). Replaces
    /// [`component`](MiniProgram::component).
    ///
    /// Defaults to none.
    pub fn secret(mut self, secret: impl Into<Secret>) -> MiniProgram {
        self.app.secret(secret.into());
        self
    }

    /// Goes through third-party platform `component_appid`:
    /// `code2session` becomes `/sns/component/jscode2session` with the
    /// platform's token, and the other calls carry the mini program's
    /// authorizer token. Replaces [`secret`](MiniProgram::secret).
    ///
    /// Defaults to none.
    pub fn component(mut self, component_appid: impl Into<String>) -> MiniProgram {
        self.app.component(component_appid.into());
        self
    }

    /// The mini program's appid.
    pub fn appid(&self) -> &str {
        self.app.appid()
    }

    /// Logs a user in: exchanges the code of `wx.login()` for the user's
    /// openid and session key (`/sns/jscode2session`). A code works once,
    /// for 5 minutes.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::Config`](crate::ErrorKind::Config) when the mini
    ///   program has neither secret nor platform;
    /// - [`ErrorKind::Api`](crate::ErrorKind::Api) with WeChat's errcode:
    ///   40029 (unknown or expired code), 40163 (code already used), 45011
    ///   (more than 100 logins of this user in a minute), 40226 (a user
    ///   WeChat blocks as high-risk), 40125 (wrong secret), ...;
    /// - [`ErrorKind::Decode`](crate::ErrorKind::Decode) for an answer
    ///   without openid or session key;
    /// - otherwise as for [`Client::request`].
    pub fn code2session(&self, client: &Client, js_code: &str) -> Result<MiniProgramSession> {
        #[derive(Deserialize)]
        struct Answer {
            openid: String,
            session_key: String,
            #[serde(default)]
            unionid: Option<String>,
        }
        let call = self.app.login_call(
            "/sns/jscode2session",
            "/sns/component/jscode2session",
            true,
            "code2session",
        )?;
        let call = call
            .query("js_code", js_code)
            .query("grant_type", "authorization_code");
        client.call(call, |answer| {
            let answer: Answer = answer.decode()?;
            if answer.openid.is_empty() || answer.session_key.is_empty() {
                return Err(Error::decode(
                    "code2session answer: the openid or session key is empty",
                ));
            }
            Ok(MiniProgramSession {
                openid: answer.openid,
                session_key: Secret::new(answer.session_key),
                unionid: answer.unionid.filter(|u| !u.is_empty()),
            })
        })
    }

    /// The user's phone number, from the code the phone-number button
    /// (`open-type="getPhoneNumber"`) gave the mini program
    /// (`/wxa/business/getuserphonenumber`, with the account token).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Api`](crate::ErrorKind::Api) 40029 for an unknown,
    /// expired or used code; [`ErrorKind::Decode`](crate::ErrorKind::Decode)
    /// for an answer without `phone_info`; otherwise as for
    /// [`Client::request`].
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::FakeWechat;
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx_mini", "demo-secret");
    /// let client = weixin::Client::builder()
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx_mini", "demo-secret"))
    ///     .build()?;
    /// let mini = weixin::MiniProgram::new("wx_mini");
    /// let phone = mini.phone_number(&client, &fake.phone_code("wx_mini", "13800138000"))?;
    /// assert_eq!(phone.pure_phone_number, "13800138000");
    /// assert_eq!(phone.country_code, "86");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn phone_number(&self, client: &Client, code: &str) -> Result<PhoneNumber> {
        #[derive(Deserialize)]
        struct Answer {
            phone_info: Info,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Info {
            phone_number: String,
            pure_phone_number: String,
            // A string in the reference, a number in its example.
            country_code: serde_json::Value,
        }
        let call = RequestOptions::post("/wxa/business/getuserphonenumber")
            .json(serde_json::json!({ "code": code }));
        let info = client.call(self.app.account_call(call), |answer| {
            Ok(answer.decode::<Answer>()?.phone_info)
        })?;
        let country_code = match info.country_code {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        Ok(PhoneNumber {
            phone_number: info.phone_number,
            pure_phone_number: info.pure_phone_number,
            country_code,
        })
    }

    /// An unlimited mini-program code image (`/wxa/getwxacodeunlimit`,
    /// with the account token) that opens the mini program with `code`'s
    /// scene.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest)
    ///   when the scene is empty, longer than 32 characters or not visible
    ///   ASCII, or the width is outside 280..=1280;
    /// - [`ErrorKind::Api`](crate::ErrorKind::Api) when WeChat answers its
    ///   JSON error instead of an image (41030 for a page that does not
    ///   exist, ...), whatever content type it declares;
    /// - [`ErrorKind::Decode`](crate::ErrorKind::Decode) for an empty answer
    ///   or a JSON one that is no error;
    /// - otherwise as for [`Client::request`].
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::testing::{Canned, FakeWechat};
    ///
    /// let fake = FakeWechat::start()?;
    /// fake.register("wx_mini", "demo-secret");
    /// let client = weixin::Client::builder()
    ///     .base_url(fake.url())
    ///     .token_source(weixin::SecretSource::new("wx_mini", "demo-secret"))
    ///     .build()?;
    /// let png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    /// fake.answer("/wxa/getwxacodeunlimit", Canned::bytes("image/png", png.clone()).times(1));
    /// fake.answer("/wxa/getwxacodeunlimit", Canned::error(41030, "invalid page"));
    ///
    /// let mini = weixin::MiniProgram::new("wx_mini");
    /// let code = weixin::UnlimitedCode::new("order=42").page("pages/order/order").hyaline(true);
    /// assert_eq!(mini.unlimited_code(&client, &code)?.bytes, png);
    /// assert_eq!(mini.unlimited_code(&client, &code).unwrap_err().errcode(), Some(41030));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlimited_code(&self, client: &Client, code: &UnlimitedCode) -> Result<MiniProgramCode> {
        let body = code.body()?;
        let call = RequestOptions::post("/wxa/getwxacodeunlimit").json(body);
        client.call(self.app.account_call(call), |answer| {
            image(answer.content_type(), answer.bytes())
        })
    }
}

/// Reads an answer that should be an image. WeChat has declared its JSON
/// errors with image and text content types over the years, and an image
/// never starts with `{`, so a body that does is read as JSON whatever its
/// declared type. Pure.
fn image(content_type: Option<&str>, body: &[u8]) -> Result<MiniProgramCode> {
    if body.first() == Some(&b'{') {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| Error::decode("mini-program code: a body starting with { is no image"))?;
        return Err(api_error(&value, 200).unwrap_or_else(|| {
            Error::decode("mini-program code: a JSON answer without errcode instead of an image")
        }));
    }
    if body.is_empty() {
        return Err(Error::decode("mini-program code: an empty answer"));
    }
    Ok(MiniProgramCode {
        content_type: content_type.unwrap_or("image/jpeg").to_string(),
        bytes: body.to_vec(),
    })
}

impl UnlimitedCode {
    /// A code whose page receives `scene` (at most 32 visible ASCII
    /// characters), for example `order=42`.
    pub fn new(scene: impl Into<String>) -> UnlimitedCode {
        UnlimitedCode {
            scene: scene.into(),
            body: serde_json::Map::new(),
        }
    }

    /// The scene.
    pub fn scene(&self) -> &str {
        &self.scene
    }

    fn set(mut self, name: &str, value: impl Into<serde_json::Value>) -> UnlimitedCode {
        self.body.insert(name.to_string(), value.into());
        self
    }

    /// The page opened, such as `pages/index/index` (no leading `/`).
    ///
    /// Defaults to the mini program's home page.
    pub fn page(self, page: impl Into<String>) -> UnlimitedCode {
        self.set("page", page.into())
    }

    /// Whether WeChat checks that the page exists in the published
    /// version (41030 when it does not).
    ///
    /// Defaults to true.
    pub fn check_path(self, check: bool) -> UnlimitedCode {
        self.set("check_path", check)
    }

    /// Which version opens: `release`, `trial` or `develop`.
    ///
    /// Defaults to `release`.
    pub fn env_version(self, version: impl Into<String>) -> UnlimitedCode {
        self.set("env_version", version.into())
    }

    /// The width in pixels, 280 to 1280.
    ///
    /// Defaults to 430.
    pub fn width(self, width: u32) -> UnlimitedCode {
        self.set("width", width)
    }

    /// Whether the lines take the image's main color.
    ///
    /// Defaults to false.
    pub fn auto_color(self, auto: bool) -> UnlimitedCode {
        self.set("auto_color", auto)
    }

    /// The lines' color when not [`auto_color`](UnlimitedCode::auto_color).
    ///
    /// Defaults to black.
    pub fn line_color(self, r: u8, g: u8, b: u8) -> UnlimitedCode {
        self.set("line_color", serde_json::json!({"r": r, "g": g, "b": b}))
    }

    /// A transparent background (the image is then a PNG).
    ///
    /// Defaults to false.
    pub fn hyaline(self, hyaline: bool) -> UnlimitedCode {
        self.set("is_hyaline", hyaline)
    }

    /// The JSON body, checked. Pure.
    fn body(&self) -> Result<serde_json::Value> {
        let chars = self.scene.chars().count();
        if chars == 0 || chars > MAX_SCENE || !self.scene.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::invalid(format!(
                "scene must be 1 to {MAX_SCENE} visible ASCII characters, got {:?}",
                self.scene
            )));
        }
        if let Some(width) = self.body.get("width").and_then(|w| w.as_u64()) {
            if !(280..=1280).contains(&width) {
                return Err(Error::invalid(format!(
                    "width must be 280 to 1280, got {width}"
                )));
            }
        }
        let mut body = self.body.clone();
        body.insert("scene".into(), self.scene.clone().into());
        Ok(serde_json::Value::Object(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn unlimited_code_bodies_are_checked() {
        let body = UnlimitedCode::new("a=1")
            .page("pages/x")
            .check_path(false)
            .line_color(1, 2, 3)
            .body()
            .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"scene": "a=1", "page": "pages/x", "check_path": false,
                "line_color": {"r": 1, "g": 2, "b": 3}})
        );
        for bad in [
            UnlimitedCode::new(""),
            UnlimitedCode::new("x".repeat(33)),
            UnlimitedCode::new("a b"),
            UnlimitedCode::new("场景"),
            UnlimitedCode::new("a").width(279),
            UnlimitedCode::new("a").width(1281),
        ] {
            let err = bad.body().unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::InvalidRequest { .. }),
                "{bad:?}"
            );
        }
        assert!(UnlimitedCode::new("x".repeat(32))
            .width(1280)
            .body()
            .is_ok());
    }

    #[test]
    fn json_in_place_of_an_image_is_an_error_whatever_its_type() {
        let err = image(
            Some("image/jpeg"),
            br#"{"errcode":41030,"errmsg":"invalid page"}"#,
        )
        .unwrap_err();
        assert_eq!(err.errcode(), Some(41030));
        let err = image(Some("image/jpeg"), br#"{"ok":true}"#).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Decode { .. }));
        let err = image(Some("image/jpeg"), b"{broken").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Decode { .. }));
        assert!(matches!(
            image(None, b"").unwrap_err().kind(),
            ErrorKind::Decode { .. }
        ));
        let jpeg = image(None, &[0xff, 0xd8, 0xff]).unwrap();
        assert_eq!(jpeg.content_type, "image/jpeg");
        assert_eq!(
            format!("{jpeg:?}"),
            r#"MiniProgramCode { content_type: "image/jpeg", len: 3 }"#
        );
    }
}
