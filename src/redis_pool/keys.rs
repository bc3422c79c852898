//! Key names in a Redis Cluster hash tag: the stores on Redis (the hub's
//! `RedisStore`, the callbacks' `RedisDedup`) name their keys here, so that
//! the keys a script or a multi-key command touches share one slot
//! whatever the topology, and one layout serves one server, Sentinel and
//! a cluster alike.

/// `<prefix><name>`, the text after the last colon of `name` in braces (a
/// hash tag): `tagged("wechat:hub:", "token:access_token:wx1")` is
/// `wechat:hub:token:access_token:{wx1}`. A name without a colon is not
/// tagged.
pub(crate) fn tagged(prefix: &str, name: &str) -> String {
    match name.rsplit_once(':') {
        Some((head, tag)) => format!("{prefix}{head}:{{{tag}}}"),
        None => format!("{prefix}{name}"),
    }
}

#[cfg(test)]
/// The hash tag Redis Cluster hashes `name` by: the text between its first
/// `{` and the first `}` after it, if not empty; else the whole name.
pub(crate) fn hash_tag(name: &str) -> &str {
    if let Some(open) = name.find('{') {
        if let Some(len) = name[open + 1..].find('}') {
            if len > 0 {
                return &name[open + 1..open + 1 + len];
            }
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_after_the_last_colon_is_the_tag() {
        assert_eq!(
            tagged("wechat:hub:", "token:access_token:wx1"),
            "wechat:hub:token:access_token:{wx1}"
        );
        assert_eq!(tagged("p:", "msg:5e1f"), "p:msg:{5e1f}");
        assert_eq!(hash_tag(&tagged("p:", "msg:5e1f")), "5e1f");
        assert_eq!(tagged("p:", "served"), "p:served");
    }

    #[test]
    fn hash_tags_are_read_as_redis_reads_them() {
        assert_eq!(hash_tag("a{b}c"), "b");
        assert_eq!(hash_tag("a{}c{d}"), "a{}c{d}");
        assert_eq!(hash_tag("a{b"), "a{b");
        assert_eq!(hash_tag("{x}{y}"), "x");
        assert_eq!(hash_tag("plain"), "plain");
    }
}
