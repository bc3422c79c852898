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
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    kind: TokenKind,
    appid: Arc<str>,
    authorizer_appid: Option<Arc<str>>,
}

impl TokenKey {
    /// The `access_token` of account `appid`.
    pub fn access_token(appid: &str) -> TokenKey {
        TokenKey {
            kind: TokenKind::AccessToken,
            appid: appid.into(),
            authorizer_appid: None,
        }
    }

    /// The `component_access_token` of third-party platform `component_appid`.
    pub fn component_access_token(component_appid: &str) -> TokenKey {
        TokenKey {
            kind: TokenKind::ComponentAccessToken,
            appid: component_appid.into(),
            authorizer_appid: None,
        }
    }

    /// A ticket of account `appid`.
    pub fn ticket(appid: &str, ticket: TicketType) -> TokenKey {
        TokenKey {
            kind: TokenKind::Ticket(ticket),
            appid: appid.into(),
            authorizer_appid: None,
        }
    }

    /// The same key for `authorizer_appid`, an authorizer of this key's
    /// (component) appid.
    pub fn for_authorizer(mut self, authorizer_appid: &str) -> TokenKey {
        self.authorizer_appid = Some(authorizer_appid.into());
        self
    }

    /// The kind of credential.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The account's appid (the component appid for an authorizer).
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The authorizer's appid, if the key is an authorizer's.
    pub fn authorizer_appid(&self) -> Option<&str> {
        self.authorizer_appid.as_deref()
    }

    /// The access-token key of the same account (or authorizer): the token a
    /// ticket is fetched with.
    pub fn access_token_key(&self) -> TokenKey {
        TokenKey {
            kind: TokenKind::AccessToken,
            appid: self.appid.clone(),
            authorizer_appid: self.authorizer_appid.clone(),
        }
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({}", self.kind, self.appid)?;
        if let Some(a) = &self.authorizer_appid {
            write!(f, "/{a}")?;
        }
        f.write_str(")")
    }
}
