//! Resuming: the ids an earlier run already wrote to the output file are
//! done, and are not called again.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;

use super::call::id_key;
use super::lines::{next, Next};
use crate::exit::Failure;

/// What an earlier run left in the output file.
#[derive(Default)]
pub struct Done {
    /// The keys of the ids with a result line.
    pub ids: HashSet<String>,
    /// The file ends in the middle of a line (a run killed while writing):
    /// the next line must start on a new one.
    pub ends_mid_line: bool,
}

#[derive(Deserialize)]
struct Written {
    id: serde_json::Value,
}

/// Reads the ids in `path`; none if it does not exist. A line that is not a
/// result (the half-written last line of a killed run) is not done.
pub fn read(path: &Path) -> Result<Done, Failure> {
    let shown = path.display();
    let failed = |e: std::io::Error| Failure::usage(format!("cannot read {shown}: {e}"));
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Done::default()),
        Err(e) => return Err(failed(e)),
    };
    let mut done = Done::default();
    if file.metadata().map_err(failed)?.len() > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::End(-1)).map_err(failed)?;
        file.read_exact(&mut last).map_err(failed)?;
        done.ends_mid_line = last[0] != b'\n';
        file.rewind().map_err(failed)?;
    }
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    loop {
        match next(&mut reader, &mut buf).map_err(failed)? {
            Next::End => return Ok(done),
            Next::TooLong => {}
            Next::Line => {
                if let Ok(written) = serde_json::from_slice::<Written>(&buf) {
                    done.ids.insert(id_key(&written.id));
                }
            }
        }
    }
}
