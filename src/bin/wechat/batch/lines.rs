//! Reading JSON lines with a cap on each line, so that one runaway line
//! cannot take the memory of the whole batch.

use std::io::{self, BufRead, Read};

/// The longest line read: a call's body, or a result's answer (the client
/// reads at most 64 MiB of one).
pub const MAX_LINE: usize = 64 << 20;

/// What [`next`] read into the buffer.
pub enum Next {
    /// A line, with its newline if it had one.
    Line,
    /// A line longer than [`MAX_LINE`], skipped up to its newline.
    TooLong,
    /// The end of the input.
    End,
}

/// Reads the next line into `buf`.
pub fn next(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Next> {
    buf.clear();
    let n = reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Next::End);
    }
    if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
        buf.clear();
        loop {
            let mut rest = Vec::new();
            let n = reader
                .by_ref()
                .take(64 << 10)
                .read_until(b'\n', &mut rest)?;
            if n == 0 || rest.last() == Some(&b'\n') {
                return Ok(Next::TooLong);
            }
        }
    }
    Ok(Next::Line)
}

/// How many lines `reader` has (a last line without a newline counts).
pub fn count(mut reader: impl Read) -> io::Result<u64> {
    let mut chunk = vec![0u8; 64 << 10];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            return Ok(lines + u64::from(last != b'\n'));
        }
        lines += chunk[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        last = chunk[n - 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_and_counted() {
        let text = b"a\n\nb";
        let mut reader = &text[..];
        let mut buf = Vec::new();
        assert!(matches!(next(&mut reader, &mut buf).unwrap(), Next::Line));
        assert_eq!(buf, b"a\n");
        assert!(matches!(next(&mut reader, &mut buf).unwrap(), Next::Line));
        assert!(matches!(next(&mut reader, &mut buf).unwrap(), Next::Line));
        assert_eq!(buf, b"b");
        assert!(matches!(next(&mut reader, &mut buf).unwrap(), Next::End));
        assert_eq!(count(&text[..]).unwrap(), 3);
        assert_eq!(count(&b"a\nb\n"[..]).unwrap(), 2);
        assert_eq!(count(&b""[..]).unwrap(), 0);
    }
}
