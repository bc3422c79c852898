//! The SDK's warnings in this test binary, captured by one logger
//! installed once for the binary. Tests run in parallel: each reads only
//! the lines that name an appid of its own.

use std::sync::{Mutex, Once};

/// Every warning the SDK logged in this test binary.
static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            LOGS.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

/// Installs the capturing logger (once for the binary).
pub fn capture() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
    });
}

/// The warnings logged so far whose text names `appid`.
pub fn warnings_naming(appid: &str) -> Vec<String> {
    LOGS.lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains(appid))
        .cloned()
        .collect()
}
