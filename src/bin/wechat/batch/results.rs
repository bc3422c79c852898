//! The results: one line per answered call, appended to the output file
//! (or stdout) by whichever worker has one, and flushed often enough that
//! the file is never far behind the calls.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::ticker::Ticker;
use crate::exit::Failure;

/// How far behind the calls the file may be.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

pub struct Results {
    out: Mutex<Out>,
}

struct Out {
    writer: BufWriter<Box<dyn Write + Send>>,
    /// The first write that failed; no line is written after it.
    failed: Option<io::Error>,
}

impl Results {
    /// Appends to `path` (on a line of its own after a half-written one),
    /// or writes to stdout.
    pub fn open(path: Option<&Path>, ends_mid_line: bool) -> Result<Results, Failure> {
        let out: Box<dyn Write + Send> = match path {
            None => Box::new(io::stdout()),
            Some(path) => {
                let failed =
                    |e: io::Error| Failure::usage(format!("cannot write {}: {e}", path.display()));
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(failed)?;
                if ends_mid_line {
                    file.write_all(b"\n").map_err(failed)?;
                }
                Box::new(file)
            }
        };
        Ok(Results {
            out: Mutex::new(Out {
                writer: BufWriter::with_capacity(64 << 10, out),
                failed: None,
            }),
        })
    }

    /// Appends one line; false once the output has failed.
    pub fn write(&self, line: &[u8]) -> bool {
        let mut out = self.lock();
        if out.failed.is_none() {
            if let Err(e) = out.writer.write_all(line) {
                out.failed = Some(e);
            }
        }
        out.failed.is_none()
    }

    /// Flushes every 100 ms until the ticker is dropped.
    pub fn flush_periodically(self: &Arc<Results>) -> Ticker {
        let results = self.clone();
        Ticker::every(FLUSH_EVERY, move || results.flush())
    }

    fn flush(&self) {
        let mut out = self.lock();
        if out.failed.is_none() {
            if let Err(e) = out.writer.flush() {
                out.failed = Some(e);
            }
        }
    }

    /// Flushes what is left; the first error of the whole run, if any.
    pub fn finish(&self) -> io::Result<()> {
        self.flush();
        match self.lock().failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Out> {
        // ok because a worker that panicked mid-write left at worst a
        // half-written line, which a resumed run does not count as done
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }
}
