//! The SDK's warnings as a binary's own lines on stderr, for both binaries
//! (`wechat-hub` and `wechat`), which include this file.

/// Writes the SDK's warnings (two processes fetching tokens with one
/// secret, a daily quota running out, a refresh ahead failing) to stderr
/// as `<program>: warning: <message>`, without the SDK's own `wechat: ` or
/// `wechat hub: ` prefix. Lower levels are left out.
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
        metadata.level() <= log::Level::Warn
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
