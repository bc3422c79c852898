//! How an app proves itself on the calls that carry no account token (a
//! user's login): by its own secret, or through the third-party platform
//! that acts for it. Shared by [`OAuth`](crate::OAuth) and
//! [`MiniProgram`](crate::MiniProgram).

use std::fmt;

use crate::error::{Error, Result};
use crate::options::RequestOptions;
use crate::secret::Secret;

#[derive(Clone)]
enum Via {
    Nothing,
    Secret(Secret),
    Component(String),
}

/// An appid and how it authenticates.
#[derive(Clone)]
pub(crate) struct App {
    appid: String,
    via: Via,
}

impl App {
    pub(crate) fn new(appid: String) -> App {
        App {
            appid,
            via: Via::Nothing,
        }
    }

    pub(crate) fn appid(&self) -> &str {
        &self.appid
    }

    pub(crate) fn secret(&mut self, secret: Secret) {
        self.via = Via::Secret(secret);
    }

    pub(crate) fn component(&mut self, component_appid: String) {
        self.via = Via::Component(component_appid);
    }

    pub(crate) fn component_appid(&self) -> Option<&str> {
        match &self.via {
            Via::Component(component_appid) => Some(component_appid),
            _ => None,
        }
    }

    /// A login call: `own` with `appid` (and `secret` when `with_secret`),
    /// carrying no account token; or, through a platform, `component`, to
    /// which the client adds the authorizer's `appid`, `component_appid`
    /// and the component token.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the call needs
    /// the secret or a platform and the app has neither.
    pub(crate) fn login_call(
        &self,
        own: &str,
        component: &str,
        with_secret: bool,
        what: &str,
    ) -> Result<RequestOptions> {
        match &self.via {
            Via::Component(component_appid) => Ok(RequestOptions::get(component)
                .appid(component_appid.as_str())
                .authorizer_appid(self.appid.as_str())),
            // `.appid` routes nothing on a call without a token: it names
            // the app in the call's errors.
            Via::Secret(secret) => {
                let call = RequestOptions::get(own)
                    .no_token()
                    .appid(self.appid.as_str())
                    .query("appid", self.appid.as_str());
                Ok(if with_secret {
                    call.query("secret", secret.expose())
                } else {
                    call
                })
            }
            Via::Nothing if !with_secret => Ok(RequestOptions::get(own)
                .no_token()
                .appid(self.appid.as_str())
                .query("appid", self.appid.as_str())),
            Via::Nothing => Err(Error::config(format!(
                "{what} needs {}'s app secret or the platform acting for it: \
                 set .secret(..) or .component(..)",
                self.appid
            ))),
        }
    }

    /// An API call with the app's account token (the authorizer's, through
    /// a platform).
    pub(crate) fn account_call(&self, options: RequestOptions) -> RequestOptions {
        match &self.via {
            Via::Component(component_appid) => options
                .appid(component_appid.as_str())
                .authorizer_appid(self.appid.as_str()),
            _ => options.appid(self.appid.as_str()),
        }
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("App");
        d.field("appid", &self.appid);
        match &self.via {
            Via::Nothing => {}
            Via::Secret(secret) => {
                d.field("secret", secret);
            }
            Via::Component(component_appid) => {
                d.field("component_appid", component_appid);
            }
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_calls_carry_the_secret_or_go_through_the_platform() {
        let mut app = App::new("wxA".into());
        let err = app.login_call("/own", "/component", true, "x").unwrap_err();
        assert!(matches!(err.kind(), crate::ErrorKind::Config { .. }));
        let plain = app.login_call("/own", "/component", false, "x").unwrap();
        assert!(plain.is_no_token());
        assert_eq!(plain.query, [("appid".into(), "wxA".into())]);

        app.secret(Secret::new("S3CRET"));
        let own = app.login_call("/own", "/component", true, "x").unwrap();
        assert_eq!(own.url(), "/own");
        assert_eq!(own.query[1], ("secret".into(), "S3CRET".into()));
        assert!(!format!("{app:?}").contains("S3CRET"));

        app.component("wxC".into());
        let via = app.login_call("/own", "/component", true, "x").unwrap();
        assert_eq!(via.url(), "/component");
        assert!(!via.is_no_token());
        assert_eq!(via.appid.as_deref(), Some("wxC"));
        assert_eq!(via.authorizer_appid.as_deref(), Some("wxA"));
        assert!(via.query.is_empty());
    }
}
