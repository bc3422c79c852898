//! Exit codes, and the one way a command fails: a message (and notes) on
//! stderr and the code that says what kind of failure it was.

use std::process::ExitCode;

use weixin::ErrorKind;

/// WeChat or the hub answered an error; a batch had failed calls.
pub const ANSWERED_ERROR: u8 = 1;
/// Bad arguments or configuration (clap's own code for usage errors too).
pub const USAGE: u8 = 2;
/// No answer to read: network, timeout, HTTP status, an answer not WeChat's.
pub const NO_ANSWER: u8 = 3;
/// A signature or an encrypted push did not verify.
pub const NOT_VERIFIED: u8 = 4;
/// A batch stopped early on errcode 45009.
pub const QUOTA: u8 = 5;

/// The exit codes as `--help` and the README show them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    WeChat or the hub answered an error (errcode and errmsg on stderr);
       batch: some calls failed or some lines were not calls
  2    bad arguments or configuration (a missing secret, an unreadable file)
  3    no answer: network, timeout, an HTTP error status, an answer not WeChat's
  4    a signature or an encrypted push did not verify
  5    batch: stopped early by errcode 45009 (the API's daily quota is used up)
  130  interrupted by Ctrl-C; batch: rerun with the same --output to resume
  143  batch: stopped by SIGTERM; rerun with the same --output to resume
";

/// Why a command failed: printed as `wechat: <message>` and one
/// `wechat: <note>` line per note, then the process exits with `code`.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub notes: Vec<String>,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            notes: Vec::new(),
        }
    }

    /// A failure whose reason was already printed.
    pub fn quiet(code: u8) -> Failure {
        Failure::new(code, "")
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(USAGE, message)
    }

    pub fn note(mut self, note: impl Into<String>) -> Failure {
        self.notes.push(note.into());
        self
    }

    /// Prints the failure and gives the code to exit with.
    pub fn report(self) -> ExitCode {
        if !self.message.is_empty() {
            crate::output::note(&self.message);
        }
        for note in &self.notes {
            crate::output::note(note);
        }
        ExitCode::from(self.code)
    }
}

/// The exit code for an SDK error.
pub fn code_of(err: &weixin::Error) -> u8 {
    match err.kind() {
        ErrorKind::Api { .. } | ErrorKind::Hub { .. } | ErrorKind::RefreshLimited { .. } => {
            ANSWERED_ERROR
        }
        ErrorKind::InvalidRequest { .. } | ErrorKind::Config { .. } => USAGE,
        ErrorKind::Callback(_) => NOT_VERIFIED,
        _ => NO_ANSWER,
    }
}

/// The request id WeChat puts at the end of an errmsg (`... rid: 6630...`).
fn rid_of(err: &weixin::Error) -> Option<&str> {
    let ErrorKind::Api { errmsg, .. } = err.kind() else {
        return None;
    };
    let (_, rest) = errmsg.rsplit_once("rid: ")?;
    rest.split_whitespace().next()
}

impl From<weixin::Error> for Failure {
    fn from(err: weixin::Error) -> Failure {
        // The error's Display carries the crate's hint for the errcode and
        // never a secret or token.
        let mut failure = Failure::new(code_of(&err), err.to_string());
        if let Some(rid) = rid_of(&err) {
            failure = failure.note(format!("what this request was: wechat quota rid {rid}"));
        }
        if matches!(err.kind(), ErrorKind::Config { reason } if reason.contains("no token source"))
        {
            failure = failure.note(
                "tokens come from a hub (--hub, $WECHAT_HUB) or the app secret ($WECHAT_SECRET, --secret-file): see wechat --help",
            );
        }
        failure
    }
}
