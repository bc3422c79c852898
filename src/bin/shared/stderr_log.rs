//! The SDK's warnings as a binary's own lines on stderr, for both binaries
//! (`wechat-hub` and `wechat`), which include this file.

/// Writes the SDK's warnings (two processes fetching tokens with one
/// secret, a daily quota running out, a refresh ahead failing) to stderr
/// as `<program>: warning: <message>`, without the SDK's own `wechat: ` or
/// `wechat hub: ` prefix. Lower levels are left out, and so are the
/// records of other crates: rustls, say, warns of alerts a peer sends,
/// which anyone who can connect could repeat to bury the hub's own lines.
pub struct StderrLog {
    program: &'static str,
}

impl StderrLog {
    pub const fn new(program: &'static str) -> StderrLog {
        StderrLog { program }
    }

    /// Makes this the process's logger, at warning level.
    pub fn install(&'static self) {
        // ok because nothing else installs a logger in these binaries: a
        // second call would only keep the first logger.
        let _ = log::set_logger(self).map(|()| log::set_max_level(log::LevelFilter::Warn));
    }
}

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn && is_ours(metadata.target())
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let message = record.args().to_string();
            let message = ["wechat: ", "wechat hub: "]
                .iter()
                .find_map(|prefix| message.strip_prefix(prefix))
                .unwrap_or(&message);
            let level = match record.level() {
                log::Level::Error => "error",
                _ => "warning",
            };
            eprintln!("{}: {level}: {message}", self.program);
        }
    }

    fn flush(&self) {}
}

/// Whether a record's target (its module path, by default) is the SDK's or
/// one of its binaries'.
fn is_ours(target: &str) -> bool {
    ["weixin", "wechat", "wechat_hub"].iter().any(|name| {
        target
            .strip_prefix(name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

#[cfg(test)]
mod tests {
    use super::is_ours;

    #[test]
    fn only_the_sdks_and_the_binaries_records_are_printed() {
        for ours in ["weixin", "weixin::hub::door", "wechat_hub", "wechat::batch"] {
            assert!(is_ours(ours), "{ours}");
        }
        for theirs in [
            "rustls::conn",
            "tokio_rustls",
            "weixinx",
            "hyper::proto",
            "",
        ] {
            assert!(!is_ours(theirs), "{theirs}");
        }
    }
}
