//! `wechat batch`: calls read as JSON lines, made on N threads sharing one
//! client (so one token fetch for all), written as JSON lines of results;
//! resumable, rate-limited, stopped cleanly by Ctrl-C and early by 45009.
//!
//! One thread reads and parses the input and hands the calls to the
//! workers in small chunks; a worker writes each answer's line itself: a
//! line is written only for a call that was answered, so the output file is
//! the record of what is done.

mod call;
mod lines;
mod pace;
mod progress;
mod queue;
mod results;
mod resume;
mod signals;
mod tally;
mod ticker;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use weixin::{Client, ErrorKind, TokenKey};

use crate::exit::{code_of, Failure, ANSWERED_ERROR, QUOTA};
use crate::output::note;
use crate::profile::Profile;
use call::{error_line, id_key, ok_line, Call};
use lines::{next, Next};
use pace::Pace;
use progress::Progress;
use queue::{Consumer, Queue};
use results::Results;
use resume::Done;
use signals::Signals;
use tally::Tally;

/// WeChat's "daily quota of this API used up": nothing after it can
/// succeed today.
const QUOTA_ERRCODE: i64 = 45009;

/// The most calls handed to a worker at once: few enough to spread a
/// small batch over the threads, enough to spare a wake-up per call.
const MAX_CHUNK: usize = 32;

/// The input, read through a buffer the reader can look into.
type Input = BufReader<Box<dyn Read + Send>>;

/// Run calls from JSON lines on N threads, one result line per call
#[derive(Args)]
#[command(after_help = "\
Each input line is one call:
  {\"id\": 1, \"method\": \"POST\", \"path\": \"/cgi-bin/message/custom/send\", \"body\": {...}}
  {\"id\": \"u2\", \"path\": \"/cgi-bin/user/info\", \"query\": {\"openid\": \"o_abc\"}}
method defaults to POST with a body, GET without; query and body are optional.

Each output line is one result, in the order calls finish:
  {\"id\": 1, \"status\": \"ok\", \"answer\": {...}}
  {\"id\": \"u2\", \"status\": \"error\", \"errcode\": 40003, \"error\": \"...\"}

A rerun with the same --output skips the ids already in it, so a batch
stopped by Ctrl-C (exit 130), SIGTERM (exit 143) or errcode 45009 (exit 5,
the API's daily quota is used up) goes on where it stopped. A signal stops
the batch whatever the input (a file, a pipe, a terminal): the calls in
flight finish, their lines are written and the summary is printed. Lines that are not calls are
reported with their line number and skipped; the exit code is then 1, as
when calls failed. A summary of errors by errcode ends the run.

Examples:
  wechat batch calls.jsonl -o results.jsonl -j 8 --rate 200
  jq -c '{id: .openid, path: \"/cgi-bin/user/info\", query: {openid: .openid}}' users.json \\
    | wechat batch -o info.jsonl")]
pub struct BatchArgs {
    /// The calls, one JSON object a line (- for stdin)
    #[arg(default_value = "-", value_name = "INPUT")]
    input: PathBuf,
    /// Append results to FILE, skipping the ids already in it [default: stdout]
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Calls at once, all sharing one client and its token
    #[arg(short = 'j', long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// At most this many calls a second, all threads together
    #[arg(long, value_name = "CALLS")]
    rate: Option<f64>,
    /// Seconds between progress lines when stderr is not a terminal (0: none)
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    progress_every: f64,
}

/// What the reader and the workers share.
struct Shared {
    client: Client,
    pace: Option<Pace>,
    tally: Arc<Tally>,
    progress: Progress,
    results: Arc<Results>,
    /// Set by Ctrl-C, SIGTERM, a halt or a failed write: no new call starts.
    stop: Arc<AtomicBool>,
    /// The calls read and not yet taken; stopped with `stop`, refusing
    /// calls once every worker is gone.
    queue: Arc<Queue<Vec<Call>>>,
    /// Why the batch halted before its end, when it did: the first call
    /// that showed nothing after it could succeed.
    halt: Mutex<Option<Failure>>,
    /// How to go on from where the batch stops.
    rerun: String,
}

impl Shared {
    /// No new call starts, and every thread waiting for calls wakes.
    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.queue.stop();
    }
}

pub fn run(profile: &Profile, args: &BatchArgs) -> Result<(), Failure> {
    let every = Duration::try_from_secs_f64(args.progress_every).map_err(|_| {
        Failure::usage(format!(
            "--progress-every {} is not a number of seconds",
            args.progress_every
        ))
    })?;
    let client = profile.client()?;
    // A wrong secret or a hub that is down fails here, once, rather than as
    // an error line for every call (which a rerun would skip as done).
    if let Ok(appid) = profile.appid() {
        match client.token(&TokenKey::access_token(appid)) {
            Err(e) if !matches!(e.kind(), ErrorKind::Config { .. }) => {
                return Err(Failure::from(e).note("batch: no call made"));
            }
            _ => {}
        }
    }
    let done = match &args.output {
        Some(path) => resume::read(path)?,
        None => Done::default(),
    };
    let stdin = args.input.as_path() == Path::new("-");
    let total = match stdin {
        true => None,
        false => Some(lines::count(open(&args.input)?).map_err(|e| read_failure(&args.input, &e))?),
    };
    let input: Input = BufReader::new(match stdin {
        true => Box::new(std::io::stdin()),
        false => Box::new(open(&args.input)?),
    });
    let results = Arc::new(Results::open(args.output.as_deref(), done.ends_mid_line)?);

    let stop = Arc::new(AtomicBool::new(false));
    let signals = Signals::register(&stop)?;
    let tally = Arc::new(Tally::default());
    let threads = usize::from(args.threads);
    let shared = Arc::new(Shared {
        client,
        pace: args.rate.map(Pace::new).transpose()?,
        tally: tally.clone(),
        progress: Progress::start(total, every, tally.clone()),
        results: results.clone(),
        stop: stop.clone(),
        queue: Arc::new(Queue::new(threads * 2)),
        halt: Mutex::new(None),
        rerun: match &args.output {
            Some(path) => format!("rerun with the same --output {}", path.display()),
            None => "rerun with --output FILE next time".to_string(),
        },
    });
    let started = Instant::now();
    let flusher = results.flush_periodically();
    let listener = {
        let shared = shared.clone();
        signals.listen(move || shared.stop())
    };

    let chunk = total.map_or(MAX_CHUNK, |t| {
        usize::try_from(t / args.threads as u64).map_or(MAX_CHUNK, |c| c.clamp(1, MAX_CHUNK))
    });
    // Taken before the reader starts, which pushes only while one lives.
    let consumers: Vec<_> = (0..threads).map(|_| shared.queue.consumer()).collect();
    let reader = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            read_calls(input, done, chunk, &shared);
            shared.queue.close();
        })
    };
    let workers: Vec<_> = consumers
        .into_iter()
        .map(|consumer| {
            let shared = shared.clone();
            std::thread::spawn(move || work(&shared, &consumer))
        })
        .collect();
    // A worker that panicked wrote no line for the calls it did not
    // finish: they are made by a rerun.
    let panicked = workers
        .into_iter()
        .map(|w| w.join())
        .filter(Result::is_err)
        .count();
    if panicked > 0 {
        // The reader may wait on a full queue or on stdin: let it be.
        shared.stop();
    }
    let interrupted = stop.load(Ordering::Relaxed);
    if !interrupted {
        // ok because a reader that panicked read fewer lines
        let _ = reader.join();
    }
    // A reader waiting for a line of stdin is left behind: the process ends.
    let signal = listener.finish();
    drop(flusher);
    let written = results.finish();
    shared.progress.finish();

    for line in tally.summary(started.elapsed()) {
        note(&line);
    }
    // ok because the lock guards an Option, which no panic leaves half-written
    let halt = shared.halt.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Err(e) = written {
        Err(Failure::usage(format!("cannot write the results: {e}")))
    } else if panicked > 0 {
        Err(Failure::new(
            ANSWERED_ERROR,
            format!(
                "batch stopped: {panicked} of {threads} threads failed (a bug, shown above): {} to make the calls not made",
                shared.rerun
            ),
        ))
    } else if let Some(halt) = halt {
        Err(halt)
    } else if let Some(signal) = signal {
        Err(Failure::new(
            signal.exit_code(),
            format!(
                "batch {}: {} to make the calls not made",
                signal.verb(),
                shared.rerun
            ),
        ))
    } else if tally.failures() + tally.not_calls() > 0 {
        Err(Failure::quiet(ANSWERED_ERROR)) // the summary said which
    } else {
        Ok(())
    }
}

fn open(path: &Path) -> Result<File, Failure> {
    File::open(path).map_err(|e| read_failure(path, &e))
}

fn read_failure(path: &Path, e: &std::io::Error) -> Failure {
    Failure::usage(format!("cannot read {}: {e}", path.display()))
}

/// The reader: every line parsed, checked against the ids done and seen,
/// and queued in chunks of at most `chunk` (a chunk goes as soon as the
/// input has no more lines at hand); a line that is not a call is reported
/// and skipped.
fn read_calls(mut input: Input, done: Done, chunk: usize, shared: &Shared) {
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut calls = Vec::with_capacity(chunk);
    let report = |line: u64, why: &str| {
        shared.progress.note(&format!("batch: line {line}: {why}"));
        shared.tally.not_a_call();
        shared.progress.advance();
    };
    while !shared.stop.load(Ordering::Relaxed) {
        if !calls.is_empty() && (calls.len() >= chunk || input.buffer().is_empty()) {
            let full = std::mem::replace(&mut calls, Vec::with_capacity(chunk));
            if !shared.queue.push(full) {
                return; // the batch stopped
            }
        }
        line += 1;
        match next(&mut input, &mut buf) {
            Ok(Next::End) => break,
            Err(e) => {
                shared
                    .progress
                    .note(&format!("batch: cannot read line {line}: {e}"));
                break;
            }
            Ok(Next::TooLong) => {
                report(line, "longer than 64 MiB");
                continue;
            }
            Ok(Next::Line) => {}
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            shared.progress.advance();
            continue;
        }
        let call = match call::parse(line, &buf) {
            Ok(call) => call,
            Err(why) => {
                report(line, &why);
                continue;
            }
        };
        let key = id_key(&call.id);
        let done_before = done.ids.contains(&key);
        if let Some(first) = seen.insert(key, line) {
            report(line, &format!("id {} repeats line {first}", call.id));
            continue;
        }
        if done_before {
            shared.tally.already_done();
            shared.progress.skip();
            continue;
        }
        calls.push(call);
    }
    if !calls.is_empty() {
        // ok because a refused push means the batch stopped already
        let _ = shared.queue.push(calls);
    }
}

/// A worker: calls until the queue is empty or the batch is stopped.
fn work(shared: &Shared, queue: &Consumer<Vec<Call>>) {
    // None: the input is read, or the batch stopped.
    while let Some(chunk) = queue.pop() {
        for call in chunk {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            if !call_one(shared, call) {
                shared.stop();
                return;
            }
        }
    }
}

/// Makes one call and writes its line; false when the batch must stop.
fn call_one(shared: &Shared, call: Call) -> bool {
    if let Some(pace) = &shared.pace {
        if !pace.wait(&shared.stop) {
            return true;
        }
    }
    let Call { line, id, options } = call;
    let written = match shared.client.request(options) {
        Ok(response) => {
            shared.tally.ok();
            ok_line(&id, &response)
        }
        Err(err) => {
            shared.tally.failed(&err);
            let at = format!("{err} (line {line}, id {id})");
            if let Some(halt) = halt(&err, &at, &shared.rerun) {
                // Not written: the call is made again when the batch is resumed.
                let mut first = shared.halt.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert(halt);
                return false;
            }
            error_line(&id, &err)
        }
    };
    shared.progress.advance();
    shared.results.write(&written)
}

/// Why the batch must stop at `err`, when nothing after it can succeed:
/// the API's daily quota is used up (45009), or no token can be had (the
/// token fetch failed, not the call). Such a call is not written, so a
/// rerun makes it. `at` says which call it was.
fn halt(err: &weixin::Error, at: &str, rerun: &str) -> Option<Failure> {
    if err.errcode() == Some(QUOTA_ERRCODE) {
        return Some(Failure::new(QUOTA, format!(
            "batch stopped early: {at}; the calls not made cannot succeed today: {rerun} once the quota is reset (tomorrow, or by `wechat quota clear`)"
        )));
    }
    let no_token = err.token_fetch().is_some()
        || matches!(
            err.kind(),
            ErrorKind::RefreshLimited { .. } | ErrorKind::Config { .. }
        );
    no_token.then(|| {
        Failure::new(
            code_of(err),
            format!("batch stopped: no token for the calls: {at}; {rerun} once one can be had"),
        )
    })
}
