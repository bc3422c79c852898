//! The key a token is cached under: its kind, the account's appid and, for
//! an authorizer, the authorizer's appid.

use std::fmt;
use std::sync::Arc;

use crate::token::TicketType;

/// Which kind of credential a [`TokenKey`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// An account's `access_token` (or an authorizer's, when the key has an
    /// authorizer appid).
    AccessToken,
    /// A third-party platform's `component_access_token`.
    ComponentAccessToken,
    /// A ticket of an account or authorizer.
    Ticket(TicketType),
}

/// What a token is for: its kind, the account's appid and, for a
/// third-party platform's authorizer, the authorizer's appid.
///
/// For an authorizer, `appid` is the component appid.
///
/// A key holds its appids in place when together they take at most 36
/// bytes (WeChat's appids take 18), so building, cloning, hashing and
/// comparing one allocates nothing and follows no pointer; longer appids
/// live in one shared allocation.
///
/// # Example
///
/// ```
/// use weixin::{TokenKey, TokenKind};
///
/// let key = TokenKey::access_token("wx0123456789abcdef").for_authorizer("wxfedcba9876543210");
/// assert_eq!(key.kind(), TokenKind::AccessToken);
/// assert_eq!(key.appid(), "wx0123456789abcdef");
/// assert_eq!(key.authorizer_appid(), Some("wxfedcba9876543210"));
/// assert_ne!(key, TokenKey::access_token("wx0123456789abcdef"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenKey(Repr);

/// Bytes of appids a key holds in place: an account's and an authorizer's
/// as WeChat issues them (`wx` and 16 hex digits) fit, and the key stays 40
/// bytes.
const INLINE: usize = 36;

/// One key has one representation (in place exactly when it fits), so the
/// derived equality and hash are those of the appids.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// The appid, then the authorizer's, in `names`.
    Inline {
        kind: TokenKind,
        appid_len: u8,
        /// 0 for none, else the authorizer appid's length plus one.
        authorizer: u8,
        names: [u8; INLINE],
    },
    Shared(Arc<Shared>),
}

#[derive(PartialEq, Eq, Hash)]
struct Shared {
    kind: TokenKind,
    appid: Box<str>,
    authorizer_appid: Option<Box<str>>,
}

impl TokenKey {
    fn new(kind: TokenKind, appid: &str, authorizer_appid: Option<&str>) -> TokenKey {
        let authorizer_len = authorizer_appid.map_or(0, str::len);
        match (
            u8::try_from(appid.len()),
            u8::try_from(authorizer_len + usize::from(authorizer_appid.is_some())),
        ) {
            (Ok(appid_len), Ok(authorizer)) if appid.len() + authorizer_len <= INLINE => {
                let mut names = [0; INLINE];
                names[..appid.len()].copy_from_slice(appid.as_bytes());
                if let Some(a) = authorizer_appid {
                    names[appid.len()..appid.len() + a.len()].copy_from_slice(a.as_bytes());
                }
                TokenKey(Repr::Inline {
                    kind,
                    appid_len,
                    authorizer,
                    names,
                })
            }
            _ => TokenKey(Repr::Shared(Arc::new(Shared {
                kind,
                appid: appid.into(),
                authorizer_appid: authorizer_appid.map(Into::into),
            }))),
        }
    }

    /// The `access_token` of account `appid`.
    pub fn access_token(appid: &str) -> TokenKey {
        TokenKey::new(TokenKind::AccessToken, appid, None)
    }

    /// The `component_access_token` of third-party platform `component_appid`.
    pub fn component_access_token(component_appid: &str) -> TokenKey {
        TokenKey::new(TokenKind::ComponentAccessToken, component_appid, None)
    }

    /// A ticket of account `appid`.
    pub fn ticket(appid: &str, ticket: TicketType) -> TokenKey {
        TokenKey::new(TokenKind::Ticket(ticket), appid, None)
    }

    /// The same key for `authorizer_appid`, an authorizer of this key's
    /// (component) appid.
    pub fn for_authorizer(self, authorizer_appid: &str) -> TokenKey {
        TokenKey::new(self.kind(), self.appid(), Some(authorizer_appid))
    }

    /// The kind of credential.
    pub fn kind(&self) -> TokenKind {
        match &self.0 {
            Repr::Inline { kind, .. } => *kind,
            Repr::Shared(shared) => shared.kind,
        }
    }

    /// The account's appid (the component appid for an authorizer).
    pub fn appid(&self) -> &str {
        match &self.0 {
            Repr::Inline {
                appid_len, names, ..
            } => text(&names[..usize::from(*appid_len)]),
            Repr::Shared(shared) => &shared.appid,
        }
    }

    /// The authorizer's appid, if the key is an authorizer's.
    pub fn authorizer_appid(&self) -> Option<&str> {
        match &self.0 {
            Repr::Inline {
                appid_len,
                authorizer,
                names,
                ..
            } => {
                let start = usize::from(*appid_len);
                let len = usize::from(authorizer.checked_sub(1)?);
                Some(text(&names[start..start + len]))
            }
            Repr::Shared(shared) => shared.authorizer_appid.as_deref(),
        }
    }

    /// The access-token key of the same account (or authorizer): the token a
    /// ticket is fetched with.
    pub fn access_token_key(&self) -> TokenKey {
        match &self.0 {
            Repr::Inline {
                appid_len,
                authorizer,
                names,
                ..
            } => TokenKey(Repr::Inline {
                kind: TokenKind::AccessToken,
                appid_len: *appid_len,
                authorizer: *authorizer,
                names: *names,
            }),
            Repr::Shared(_) => TokenKey::new(
                TokenKind::AccessToken,
                self.appid(),
                self.authorizer_appid(),
            ),
        }
    }
}

/// The text of bytes copied whole from a `&str`.
fn text(bytes: &[u8]) -> &str {
    // ok because the bytes were copied from whole `&str`s, so they are UTF-8
    std::str::from_utf8(bytes).unwrap_or_default()
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({}", self.kind(), self.appid())?;
        if let Some(a) = self.authorizer_appid() {
            write!(f, "/{a}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_forty_bytes() {
        assert_eq!(std::mem::size_of::<TokenKey>(), 40);
    }

    #[test]
    fn appids_read_back_in_place_and_shared() {
        let wx = "wx0123456789abcdef";
        let long = "a-test-appid-longer-than-wechat-issues";
        for (appid, authorizer, inline) in [
            (wx, None, true),
            (wx, Some(wx), true),
            (wx, Some(""), true),
            ("", Some(""), true),
            (long, None, false),
            (wx, Some("wx0123456789abcdef0"), false),
            (long, Some(wx), false),
        ] {
            let mut key = TokenKey::ticket(appid, TicketType::WxCard);
            if let Some(a) = authorizer {
                key = key.for_authorizer(a);
            }
            assert_eq!(matches!(key.0, Repr::Inline { .. }), inline, "{key:?}");
            assert_eq!(key.kind(), TokenKind::Ticket(TicketType::WxCard));
            assert_eq!(key.appid(), appid);
            assert_eq!(key.authorizer_appid(), authorizer);
            let access = key.access_token_key();
            assert_eq!(access.kind(), TokenKind::AccessToken);
            assert_eq!(
                (access.appid(), access.authorizer_appid()),
                (appid, authorizer)
            );
            assert_eq!(
                access,
                TokenKey::new(TokenKind::AccessToken, appid, authorizer)
            );
        }
    }

    #[test]
    fn keys_differ_by_kind_appid_and_authorizer() {
        let keys = [
            TokenKey::access_token("wx1"),
            TokenKey::access_token("wx2"),
            TokenKey::component_access_token("wx1"),
            TokenKey::ticket("wx1", TicketType::Jsapi),
            TokenKey::ticket("wx1", TicketType::WxCard),
            TokenKey::access_token("wx1").for_authorizer(""),
            TokenKey::access_token("wx1").for_authorizer("wx2"),
            // The same bytes split differently between the two appids.
            TokenKey::access_token("wx").for_authorizer("1wx2"),
        ];
        let set: std::collections::HashSet<_> = keys.iter().cloned().collect();
        assert_eq!(set.len(), keys.len());
        for key in &keys {
            assert!(set.contains(&key.clone()));
        }
        assert_eq!(format!("{:?}", keys[6]), "AccessToken(wx1/wx2)");
    }
}
