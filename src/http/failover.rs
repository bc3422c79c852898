//! Backup hosts: a call whose request never left (the name was not
//! resolved, the connection or the proxy's tunnel was refused, the connect
//! timeout was reached) is sent to the next base URL of the list, WeChat's
//! documented backup domains by default. A call that may have reached a
//! host (a reset, a timeout after connecting, any answer) is never sent to
//! another: WeChat may have acted on it.
//!
//! The list applies to every request whose URL starts with one of its base
//! URLs, token fetches and API calls alike, since they share the client's
//! [`Http`](super::Http). Each call starts from the host its URL names.

/// The base URLs of one client, its own first, then the backups in order.
#[derive(Debug)]
pub(crate) struct Failover {
    /// `scheme://host[:port][/prefix]` each, as `Origin::base_url` writes
    /// them, no two the same.
    bases: Vec<String>,
}

impl Failover {
    /// `primary`, then each of `backups` not already listed; `None` when
    /// that leaves nothing to fail over to.
    pub fn new(primary: &str, backups: impl IntoIterator<Item = String>) -> Option<Failover> {
        let mut bases = vec![primary.to_string()];
        for backup in backups {
            if !bases.contains(&backup) {
                bases.push(backup);
            }
        }
        (bases.len() > 1).then_some(Failover { bases })
    }

    /// The position in the list of the base URL `url` starts with, and the
    /// rest of `url` after it (path and query).
    pub fn position<'a>(&self, url: &'a str) -> Option<(usize, &'a str)> {
        self.bases.iter().enumerate().find_map(|(i, base)| {
            let rest = url.strip_prefix(base.as_str())?;
            (rest.is_empty() || rest.starts_with(['/', '?'])).then_some((i, rest))
        })
    }

    /// The base URL after position `at`, if any.
    pub fn next(&self, at: usize) -> Option<&str> {
        self.bases.get(at + 1).map(String::as_str)
    }

    /// The base URL at position `at`.
    pub fn base(&self, at: usize) -> &str {
        &self.bases[at]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_fails_over_from_the_base_it_starts_with() {
        let list = Failover::new(
            "https://api.weixin.qq.com",
            [
                "https://api2.weixin.qq.com".to_string(),
                "https://api.weixin.qq.com".to_string(),
                "https://sh.api.weixin.qq.com".to_string(),
            ],
        )
        .unwrap();
        assert_eq!(
            list.position("https://api.weixin.qq.com/cgi-bin/token?x=1"),
            Some((0, "/cgi-bin/token?x=1"))
        );
        assert_eq!(list.next(0), Some("https://api2.weixin.qq.com"));
        assert_eq!(
            list.position("https://api2.weixin.qq.com/a").map(|p| p.0),
            Some(1)
        );
        assert_eq!(list.next(1), Some("https://sh.api.weixin.qq.com"));
        assert_eq!(list.next(2), None);
        assert_eq!(list.position("https://api.weixin.qq.com.evil/a"), None);
        assert_eq!(list.position("http://127.0.0.1:1/a"), None);
        assert!(Failover::new("https://h", ["https://h".to_string()]).is_none());
    }
}
