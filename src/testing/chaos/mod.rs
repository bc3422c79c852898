//! `Chaos`: `wechat-hub` replicas on a Redis of their own behind a
//! round-robin [`Balancer`], many client threads, and a seeded schedule of
//! faults; the [`ChaosReport`] says whether the token lineage survived.

mod backend;
mod children;
mod probe;
mod report;
mod schedule;
mod timeline;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use self::backend::{Backend, Progress};
use self::children::HubChild;
use self::probe::{lineage, probe_hubs, serial};
use self::report::{Failure, Judge, Windows, FAILOVER_GRACE};
use self::schedule::{plan, Action, Shape};
use self::timeline::Timeline;
use super::{Balancer, FakeWechat};
use crate::clock::millis;
#[cfg(doc)]
use crate::testing::SentinelTopology;
use crate::{BusyRetry, Client, HubSource, RefreshLimit, Token};

pub use self::report::{ChaosReport, FailureTally};

/// The account every client uses.
const APPID: &str = "wxchaos";
/// The variable that hands the hubs the account's secret.
const SECRET_ENV: &str = "CHAOS_WECHAT_SECRET";
/// The API every client calls.
const PATH: &str = "/cgi-bin/get_api_domain_ip";
/// Each client HTTP request's time limit.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The time one hub has to answer the balancer before it tries another.
const BACKEND_TIMEOUT: Duration = Duration::from_secs(4);
/// Failed calls kept for judging; a run that fails more is broken anyway.
const MAX_FAILURES: usize = 500_000;

/// A chaos run: `hubs` `wechat-hub` processes (built with features `hub`
/// and `redis`) share one `redis-server` the run starts on a random high
/// port; a [`Balancer`] spreads requests over them; `threads` threads,
/// each with its own [`Client`] whose [`HubSource`] points at the
/// balancer, call `/cgi-bin/get_api_domain_ip` of a [`FakeWechat`] for
/// `duration`. Meanwhile a schedule drawn from `seed` invalidates tokens,
/// opens windows in which WeChat answers 40001 to every token or -1 to
/// every call, kills hubs (SIGKILL) and starts them again, and restarts
/// Redis (empty) on its port.
///
/// With [`sentinel`](Chaos::sentinel), Redis is a [`SentinelTopology`]
/// instead (primary, replica, three sentinels) that the hubs reach through
/// the sentinels, and the schedule fails it over instead of restarting it:
/// `SENTINEL FAILOVER` and `kill -9` of the primary in turn (the killed
/// node restarted as a replica once the other is promoted).
///
/// A watchdog counts calls that take longer than the hang threshold, and a
/// prober asks each hub directly for the token (a read, and a refresh
/// reporting a token never issued) and compares the answer with the
/// store's. After the run, the store must hold the token the fake WeChat
/// issued last. Every wait is bounded: a run ends within `duration` plus the
/// hang threshold plus a few seconds, even when calls never return (their
/// threads are left behind).
///
/// # Errors
///
/// [`run`](Chaos::run) fails only if the run cannot start: a binary that
/// will not run, no port for Redis. Faults that hit the harness later
/// (a hub that does not start again) are in
/// [`ChaosReport::harness_errors`].
///
/// # Example
///
/// ```no_run
/// let report = weixin::testing::Chaos::new()
///     .hub_bin("target/debug/wechat-hub")
///     .seed(42)
///     .duration(std::time::Duration::from_secs(600))
///     .threads(64)
///     .run()?;
/// println!("{report}");
/// assert!(report.problems().is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Chaos {
    hub_bin: PathBuf,
    redis_bin: PathBuf,
    seed: u64,
    duration: Duration,
    hubs: usize,
    threads: usize,
    pause: Duration,
    new_hub_keys: bool,
    refresh_burst: u32,
    refresh_floor: Duration,
    max_staleness: Duration,
    hang_after: Duration,
    busy_retry: BusyRetry,
    busy_max: Duration,
    sentinel: bool,
    timeline: bool,
}

impl Default for Chaos {
    fn default() -> Chaos {
        Chaos {
            hub_bin: PathBuf::from("target/debug/wechat-hub"),
            redis_bin: PathBuf::from("redis-server"),
            seed: 1,
            duration: Duration::from_secs(60),
            hubs: 3,
            threads: 16,
            pause: Duration::from_millis(25),
            new_hub_keys: true,
            refresh_burst: RefreshLimit::default().burst(),
            refresh_floor: RefreshLimit::default().floor(),
            max_staleness: Duration::from_secs(1),
            hang_after: Duration::from_secs(20),
            busy_retry: BusyRetry {
                retries: 6,
                base: Duration::from_millis(100),
                max: Duration::from_millis(800),
            },
            busy_max: Duration::from_millis(500),
            sentinel: false,
            timeline: false,
        }
    }
}

impl Chaos {
    /// A run with the defaults.
    pub fn new() -> Chaos {
        Chaos::default()
    }

    /// The `wechat-hub` binary, built with features `hub` and `redis`.
    ///
    /// Defaults to `target/debug/wechat-hub`.
    pub fn hub_bin(mut self, path: impl Into<PathBuf>) -> Chaos {
        self.hub_bin = path.into();
        self
    }

    /// The `redis-server` binary.
    ///
    /// Defaults to `redis-server` (found on `PATH`).
    pub fn redis_bin(mut self, path: impl Into<PathBuf>) -> Chaos {
        self.redis_bin = path.into();
        self
    }

    /// The seed of the fault schedule: one seed, one schedule.
    ///
    /// Defaults to 1.
    pub fn seed(mut self, seed: u64) -> Chaos {
        self.seed = seed;
        self
    }

    /// How long clients call. The first and last 2 seconds have no faults.
    ///
    /// Defaults to 60 seconds.
    pub fn duration(mut self, duration: Duration) -> Chaos {
        self.duration = duration;
        self
    }

    /// How many hub replicas run (at least 1).
    ///
    /// Defaults to 3.
    pub fn hubs(mut self, hubs: usize) -> Chaos {
        self.hubs = hubs.max(1);
        self
    }

    /// How many client threads call, each with its own [`Client`] (at
    /// least 1).
    ///
    /// Defaults to 16.
    pub fn threads(mut self, threads: usize) -> Chaos {
        self.threads = threads.max(1);
        self
    }

    /// How long each client thread waits between calls.
    ///
    /// Defaults to 25 ms.
    pub fn pause(mut self, pause: Duration) -> Chaos {
        self.pause = pause;
        self
    }

    /// Whether the hubs' configuration carries `refresh_burst`,
    /// `refresh_floor_secs` and `max_staleness_ms`. Turn it off to run
    /// against a `wechat-hub` that does not know them.
    ///
    /// Defaults to `true`.
    pub fn new_hub_keys(mut self, on: bool) -> Chaos {
        self.new_hub_keys = on;
        self
    }

    /// The upstream refreshes allowed at once per key (hubs and clients),
    /// and so per 40001 window in the bound on upstream calls.
    ///
    /// Defaults to the [`RefreshLimit`]'s: 3.
    pub fn refresh_burst(mut self, burst: u32) -> Chaos {
        self.refresh_burst = burst;
        self
    }

    /// The hubs' refresh floor (see [`RefreshLimit`]): storms (a 40001
    /// window and an invalidation after it) are scheduled further apart
    /// than this. Whole seconds in the hubs' configuration.
    ///
    /// Defaults to the [`RefreshLimit`]'s: 30 seconds.
    pub fn refresh_floor(mut self, floor: Duration) -> Chaos {
        self.refresh_floor = floor;
        self
    }

    /// The hubs' stated bound on serving a token the store has replaced.
    ///
    /// Defaults to 1 second.
    pub fn max_staleness(mut self, bound: Duration) -> Chaos {
        self.max_staleness = bound;
        self
    }

    /// A client call that takes longer than this is a hang.
    ///
    /// Defaults to 20 seconds.
    pub fn hang_after(mut self, after: Duration) -> Chaos {
        self.hang_after = after;
        self
    }

    /// How the clients retry errcode -1; the schedule keeps -1 windows
    /// shorter than the least time these retries cover.
    ///
    /// Defaults to 6 retries from 100 ms up to 800 ms.
    pub fn busy_retry(mut self, busy: BusyRetry) -> Chaos {
        self.busy_retry = busy;
        self
    }

    /// Whether Redis runs under Sentinel: a [`SentinelTopology`] of the
    /// run's own (`redis-server` on `PATH`, whatever
    /// [`redis_bin`](Chaos::redis_bin) says), failed over by the schedule
    /// (`SENTINEL FAILOVER`, `kill -9` of the primary) instead of
    /// restarted. A failed call is expected from a failover's start until
    /// 1 s after the sentinels all name the new primary.
    ///
    /// Defaults to `false`: one `redis-server`.
    pub fn sentinel(mut self, on: bool) -> Chaos {
        self.sentinel = on;
        self
    }

    /// Whether the run prints its timeline to stderr as it goes, each line
    /// stamped with the seconds since it began: the faults as they are
    /// applied, the fake WeChat's latest token (by serial, looked at every
    /// 50 ms), each failover's promotion, every hub's log lines (tagged
    /// with the hub's process id), and each stale answer found, with the
    /// store topology that hub's `/status` shows. For finding out why a run was not
    /// clean; the report is the same either way.
    ///
    /// Defaults to `false`.
    ///
    /// # Example
    ///
    /// ```
    /// let chaos = weixin::testing::Chaos::new().timeline(true);
    /// assert!(format!("{chaos:?}").contains("timeline: true"));
    /// ```
    pub fn timeline(mut self, on: bool) -> Chaos {
        self.timeline = on;
        self
    }

    /// The least time a client's busy retries cover: each backoff sleeps
    /// at least half its step.
    fn busy_ride(&self) -> Duration {
        (0..self.busy_retry.retries)
            .map(|n| {
                let step = self
                    .busy_retry
                    .base
                    .saturating_mul(2u32.saturating_pow(n.min(30)));
                step.min(self.busy_retry.max) / 2
            })
            .sum()
    }

    /// Runs the schedule and reports what happened.
    ///
    /// # Errors
    ///
    /// If the run cannot start: the fake WeChat, Redis, a hub or the
    /// balancer does not start.
    pub fn run(&self) -> std::io::Result<ChaosReport> {
        let fake = FakeWechat::start()?;
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let secret = format!("chaos-secret-{nonce}");
        fake.register(APPID, &secret);
        let dir = std::env::temp_dir().join(format!("wechat-chaos-{}-{nonce}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let report = self.run_in(&fake, &secret, &dir);
        // ok because a temp dir left behind is harmless
        let _ = std::fs::remove_dir_all(&dir);
        report
    }

    #[cfg(test)]
    fn hub_config(&self, upstream: &str, redis: &str, prefix: &str) -> String {
        self.hub_config_at(upstream, &format!("url = \"{redis}\"\n"), prefix)
    }

    /// The hubs' configuration, `store` the lines that say where Redis is.
    fn hub_config_at(&self, upstream: &str, store: &str, prefix: &str) -> String {
        let mut config =
            format!("bind = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nworkers = 64\n");
        if self.new_hub_keys {
            config.push_str(&format!(
                "refresh_burst = {}\nrefresh_floor_secs = {}\nmax_staleness_ms = {}\n",
                self.refresh_burst,
                self.refresh_floor.as_secs().max(1),
                self.max_staleness.as_millis()
            ));
        }
        config.push_str(&format!(
            "\n[store]\nkind = \"redis\"\n{store}prefix = \"{prefix}\"\n\n[[account]]\nappid = \"{APPID}\"\nsecret_env = \"{SECRET_ENV}\"\n"
        ));
        config
    }

    fn client(&self, fake: &FakeWechat, balancer: &str) -> crate::Result<Client> {
        Client::builder()
            .appid(APPID)
            .base_url(fake.url())
            .connect_timeout(Duration::from_secs(2))
            .timeout(CALL_TIMEOUT)
            .busy_retry(self.busy_retry)
            // No client-side refresh limit: HubSource is limited by the hubs.
            .token_source(HubSource::new(balancer)?)
            .build()
    }

    fn run_in(&self, fake: &FakeWechat, secret: &str, dir: &Path) -> std::io::Result<ChaosReport> {
        let to_io = |e: crate::Error| std::io::Error::other(e.to_string());
        let timeline = Timeline::new(self.timeline);
        let mut redis = Backend::start(self.sentinel, &self.redis_bin, dir)?;
        let prefix = format!("chaos:{}:{}:", std::process::id(), self.seed);
        let config = dir.join("hub.toml");
        std::fs::write(
            &config,
            self.hub_config_at(&fake.url(), &redis.store_settings(), &prefix),
        )?;
        let mut hubs = Vec::new();
        for _ in 0..self.hubs {
            hubs.push(Some(HubChild::start(
                &self.hub_bin,
                &config,
                (SECRET_ENV, secret),
                timeline,
            )?));
        }
        let urls: Vec<String> = hubs.iter().flatten().map(|h| h.url.clone()).collect();
        let balancer = Balancer::start(urls.clone())?;
        balancer.set_timeout(BACKEND_TIMEOUT);
        let store = Arc::new(
            redis
                .store()
                .map_err(to_io)?
                .prefix(prefix)
                .timeout(Duration::from_millis(500)),
        );

        let run = Arc::new(Run {
            origin: Instant::now(),
            timeline,
            stop: AtomicBool::new(false),
            stop_watchers: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            hangs: AtomicU64::new(0),
            failures: Mutex::new(Vec::new()),
            slots: (0..self.threads).map(|_| Slot::default()).collect(),
            live: Mutex::new(urls.into_iter().map(Some).collect()),
            probes: AtomicU64::new(0),
            seen: Mutex::new(HashMap::new()),
            stale: AtomicU64::new(0),
            worst_ms: AtomicU64::new(0),
            invalidated_at: AtomicU64::new(0),
            longest_replacement_ms: AtomicU64::new(0),
        });
        // Every client is built before any thread starts, so that a failure
        // here leaves no thread calling forever.
        let built = (0..self.threads)
            .map(|_| self.client(fake, &balancer.url()))
            .collect::<crate::Result<Vec<Client>>>()
            .map_err(to_io)?;
        let mut clients = Vec::new();
        for (i, client) in built.into_iter().enumerate() {
            let (run, pause) = (run.clone(), self.pause);
            clients.push(std::thread::spawn(move || {
                call_loop(&run, i, &client, pause)
            }));
        }
        let watchdog = {
            let (run, after) = (run.clone(), self.hang_after);
            std::thread::spawn(move || watch_calls(&run, after))
        };
        let prober = {
            let (run, bound, store) = (run.clone(), self.max_staleness, store.clone());
            std::thread::spawn(move || probe_hubs(&run, &store, bound))
        };

        let shape = Shape {
            duration: self.duration,
            hubs: self.hubs,
            floor: self.refresh_floor,
            busy_max: self.busy_max.min(self.busy_ride().mul_f64(0.8)),
            sentinel: self.sentinel,
        };
        let mut driver = Driver {
            run: &run,
            fake,
            balancer: &balancer,
            hubs,
            starting: (0..self.hubs).map(|_| None).collect(),
            want_up: vec![true; self.hubs],
            last_try: vec![Instant::now(); self.hubs],
            redis: &mut redis,
            deferred: Vec::new(),
            hub_bin: &self.hub_bin,
            config: &config,
            env: (SECRET_ENV, secret),
            faults: Faults {
                windows: Windows {
                    hub_down: vec![Vec::new(); self.hubs],
                    ..Windows::default()
                },
                ..Faults::default()
            },
            last_serial: String::new(),
        };
        for (at, action) in plan(self.seed, &shape) {
            driver.watch_until(at);
            driver.apply(action);
        }
        driver.watch_until(self.duration);
        driver.settle_failover();

        // Calls in progress get the hang threshold to finish; the watchdog
        // counts those that do not, and their threads are left behind.
        run.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + self.hang_after + Duration::from_secs(1);
        while run.slots.iter().any(|s| !s.done.load(Ordering::SeqCst)) && Instant::now() < deadline
        {
            driver.watch_crashes();
            std::thread::sleep(Duration::from_millis(50));
        }
        driver.watch_crashes();
        driver.settle_failover();
        let upstream_token_calls = fake.count("/cgi-bin/token");
        let restarted_empty = faults_restarted(&driver);
        let (lineage_kept, lineage_note) = lineage(fake, &store, restarted_empty);
        let elapsed = run.now();
        // An invalidation never followed by a successful call waited all
        // the rest of the run.
        run.replaced(millis(elapsed) + 1);
        run.stop_watchers.store(true, Ordering::SeqCst);
        for (slot, handle) in run.slots.iter().zip(clients) {
            if slot.done.load(Ordering::SeqCst) && handle.join().is_err() {
                run.panics.fetch_add(1, Ordering::SeqCst);
            }
        }
        for handle in [watchdog, prober] {
            if handle.join().is_err() {
                run.panics.fetch_add(1, Ordering::SeqCst);
            }
        }
        driver.finish_starts();
        let Driver { hubs, faults, .. } = driver;
        drop(hubs);
        drop(redis);

        let judge = Judge::new(&faults.windows, elapsed, self.busy_ride());
        let (expected, unexpected) = judge.tally(&run.failures.lock());
        Ok(ChaosReport {
            seed: self.seed,
            elapsed,
            hubs: self.hubs,
            threads: self.threads,
            calls: run.calls.load(Ordering::SeqCst),
            succeeded: run.succeeded.load(Ordering::SeqCst),
            expected,
            unexpected,
            upstream_token_calls,
            invalidations: faults.invalidations,
            redis_restarts: faults.redis_restarts,
            reject_windows: faults.reject_windows,
            busy_windows: faults.busy_windows,
            hub_kills: faults.hub_kills,
            failovers: faults.failovers,
            primary_kills: faults.primary_kills,
            longest_promotion: faults.longest_promotion,
            sentinel: self.sentinel,
            refresh_burst: self.refresh_burst,
            hangs: run.hangs.load(Ordering::SeqCst),
            panics: run.panics.load(Ordering::SeqCst),
            hub_crashes: faults.crash_logs.len(),
            crash_logs: faults.crash_logs,
            probes: run.probes.load(Ordering::SeqCst),
            stale_served: run.stale.load(Ordering::SeqCst),
            worst_staleness: Duration::from_millis(run.worst_ms.load(Ordering::SeqCst)),
            longest_replacement: Duration::from_millis(
                run.longest_replacement_ms.load(Ordering::SeqCst),
            ),
            staleness_bound: self.max_staleness,
            lineage_kept,
            lineage_note,
            balancer_retries: balancer.retried(),
            balancer_502: balancer.failed(),
            harness_errors: faults.errors,
        })
    }
}

/// What the threads of a run share.
struct Run {
    origin: Instant,
    timeline: Timeline,
    /// Client threads stop calling.
    stop: AtomicBool,
    /// The watchdog and the prober stop.
    stop_watchers: AtomicBool,
    calls: AtomicU64,
    succeeded: AtomicU64,
    panics: AtomicU64,
    hangs: AtomicU64,
    failures: Mutex<Vec<Failure>>,
    slots: Vec<Slot>,
    /// Each hub's URL while it is up, for the prober.
    live: Mutex<Vec<Option<String>>>,
    probes: AtomicU64,
    /// When the prober first read each token in the store, by value.
    seen: Mutex<HashMap<String, Instant>>,
    stale: AtomicU64,
    worst_ms: AtomicU64,
    /// When the last invalidation not yet followed by a successful call
    /// was made, in ms from the run's start plus one; 0 when none is.
    invalidated_at: AtomicU64,
    /// The longest time from an invalidation to the end of the first call
    /// that started after it and succeeded.
    longest_replacement_ms: AtomicU64,
}

impl Run {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// When the prober first read `token` in the store (now, if this is
    /// the first time).
    fn first_seen(&self, token: &Token) -> Instant {
        *self
            .seen
            .lock()
            .entry(token.expose().to_string())
            .or_insert_with(Instant::now)
    }

    /// A call that ended at `end_ms` (from the start, plus one) proved the
    /// token was replaced after the invalidation pending at `since_ms`, if
    /// it started after it.
    fn replaced_since(&self, since_ms: u64, end_ms: u64) {
        let pending = self.invalidated_at.load(Ordering::SeqCst);
        if pending != 0
            && since_ms >= pending
            && self
                .invalidated_at
                .compare_exchange(pending, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            self.longest_replacement_ms
                .fetch_max(end_ms.saturating_sub(pending), Ordering::SeqCst);
        }
    }

    /// Ends the pending invalidation, if any, at `end_ms`.
    fn replaced(&self, end_ms: u64) {
        self.replaced_since(u64::MAX, end_ms);
    }

    /// An invalidation at `at_ms`: one still pending counts as replaced
    /// now, at the latest.
    fn invalidated(&self, at_ms: u64) {
        self.replaced(at_ms);
        self.invalidated_at.store(at_ms, Ordering::SeqCst);
    }
}

/// One client thread's call in progress.
#[derive(Default)]
struct Slot {
    /// When the call in progress started, in ms from the run's start plus
    /// one; 0 when idle.
    started: AtomicU64,
    /// The `started` of the last call counted as a hang.
    counted: AtomicU64,
    /// The thread has returned (or unwound).
    done: AtomicBool,
}

/// Sets a flag when dropped, even by a panic.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn call_loop(run: &Run, i: usize, client: &Client, pause: Duration) {
    let slot = &run.slots[i];
    let _done = SetOnDrop(&slot.done);
    while !run.stop.load(Ordering::SeqCst) {
        let start = run.now();
        slot.started.store(millis(start) + 1, Ordering::SeqCst);
        run.calls.fetch_add(1, Ordering::SeqCst);
        let result = catch_unwind(AssertUnwindSafe(|| client.request(PATH)));
        let end = run.now();
        slot.started.store(0, Ordering::SeqCst);
        match result {
            Ok(Ok(_)) => {
                run.succeeded.fetch_add(1, Ordering::SeqCst);
                run.replaced_since(millis(start) + 1, millis(end) + 1);
            }
            Ok(Err(error)) => {
                let mut failures = run.failures.lock();
                if failures.len() < MAX_FAILURES {
                    failures.push(Failure { start, end, error });
                }
            }
            Err(_) => {
                run.panics.fetch_add(1, Ordering::SeqCst);
            }
        }
        std::thread::sleep(pause);
    }
}

/// Counts each call that runs longer than `after`, once.
fn watch_calls(run: &Run, after: Duration) {
    while !run.stop_watchers.load(Ordering::SeqCst) {
        let now = millis(run.now()) + 1;
        for slot in &run.slots {
            let started = slot.started.load(Ordering::SeqCst);
            if started != 0
                && now.saturating_sub(started) > millis(after)
                && slot.counted.swap(started, Ordering::SeqCst) != started
            {
                run.hangs.fetch_add(1, Ordering::SeqCst);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a Redis restart emptied the store during the run.
fn faults_restarted(driver: &Driver<'_>) -> bool {
    !driver.faults.windows.redis_down.is_empty()
}

/// What the schedule did, as it happened.
#[derive(Default)]
struct Faults {
    invalidations: usize,
    reject_windows: usize,
    busy_windows: usize,
    hub_kills: usize,
    redis_restarts: usize,
    failovers: usize,
    primary_kills: usize,
    longest_promotion: Duration,
    crash_logs: Vec<String>,
    errors: Vec<String>,
    windows: Windows,
}

/// Carries out the schedule and watches the hubs.
struct Driver<'a> {
    run: &'a Run,
    fake: &'a FakeWechat,
    balancer: &'a Balancer,
    hubs: Vec<Option<HubChild>>,
    /// Each hub's start in progress, on a thread of its own: a hub waits
    /// for its store before it listens (up to a failover's wait), and the
    /// schedule's other faults must keep their times meanwhile.
    starting: Vec<Option<JoinHandle<std::io::Result<HubChild>>>>,
    /// Whether each hub should be up (not killed by the schedule).
    want_up: Vec<bool>,
    last_try: Vec<Instant>,
    redis: &'a mut Backend,
    /// Failover faults (`true`: a kill) waiting for the one under way.
    deferred: Vec<bool>,
    hub_bin: &'a Path,
    config: &'a Path,
    env: (&'a str, &'a str),
    faults: Faults,
    /// The serial of the token the fake issued last, for the timeline.
    last_serial: String,
}

impl Driver<'_> {
    /// Notes on the timeline a token the fake issued since last asked.
    fn note_issued(&mut self) {
        if !self.run.timeline.is_on() {
            return;
        }
        let serial = serial(&self.fake.current_token(APPID).unwrap_or_default());
        if serial != self.last_serial {
            self.run
                .timeline
                .note(format_args!("the fake issued token #{serial}"));
            self.last_serial = serial;
        }
    }

    /// Waits until `at` (from the run's start), watching the hubs.
    fn watch_until(&mut self, at: Duration) {
        loop {
            self.note_issued();
            self.watch_crashes();
            let now = self.run.now();
            if now >= at {
                return;
            }
            std::thread::sleep((at - now).min(Duration::from_millis(50)));
        }
    }

    /// Counts hubs that exited by themselves, and starts again every hub
    /// that should be up.
    fn watch_crashes(&mut self) {
        self.watch_failover();
        for i in 0..self.hubs.len() {
            if self.starting[i]
                .as_ref()
                .is_some_and(JoinHandle::is_finished)
            {
                self.started(i);
            }
            if let Some(status) = self.hubs[i].as_mut().and_then(HubChild::exited) {
                let tail = self.hubs[i].as_ref().map(HubChild::log_tail);
                self.faults.crash_logs.push(format!(
                    "hub {i} exited ({status}) at {:.1} s:\n{}",
                    self.run.now().as_secs_f64(),
                    tail.unwrap_or_default()
                ));
                self.down(i);
            }
            if self.want_up[i]
                && self.hubs[i].is_none()
                && self.starting[i].is_none()
                && self.last_try[i].elapsed() > Duration::from_secs(1)
            {
                self.up(i);
            }
        }
    }

    fn down(&mut self, i: usize) {
        let now = self.run.now();
        let spans = &mut self.faults.windows.hub_down[i];
        // A hub killed again before its start was over is down already.
        if spans.last().is_none_or(|s| s.end.is_some()) {
            Windows::open(spans, now);
        }
        self.run.live.lock()[i] = None;
        self.hubs[i] = None;
    }

    /// Starts hub `i` on a thread of its own, unless it is starting.
    fn up(&mut self, i: usize) {
        self.last_try[i] = Instant::now();
        if self.starting[i].is_some() || self.hubs[i].is_some() {
            return;
        }
        let (bin, config) = (self.hub_bin.to_path_buf(), self.config.to_path_buf());
        let timeline = self.run.timeline;
        let env = (self.env.0.to_string(), self.env.1.to_string());
        self.starting[i] = Some(std::thread::spawn(move || {
            HubChild::start(&bin, &config, (&env.0, &env.1), timeline)
        }));
    }

    /// Takes hub `i` into the run once its start is over, if it should
    /// still be up (a hub killed while it started is dropped: killed).
    fn started(&mut self, i: usize) {
        let Some(handle) = self.starting[i].take() else {
            return;
        };
        let started = handle
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("its starter panicked")));
        match started {
            Ok(hub) if self.want_up[i] && self.hubs[i].is_none() => {
                self.balancer.set_backend(i, hub.url.clone());
                self.run.live.lock()[i] = Some(hub.url.clone());
                self.hubs[i] = Some(hub);
                let now = self.run.now();
                Windows::close(&mut self.faults.windows.hub_down[i], now);
            }
            Ok(unwanted) => drop(unwanted),
            Err(e) => self.error(format!("hub {i} did not start again: {e}")),
        }
    }

    /// Waits for the starts in progress (each bounded), so that no hub is
    /// left behind.
    fn finish_starts(&mut self) {
        for i in 0..self.starting.len() {
            if let Some(handle) = self.starting[i].take() {
                // ok because the run is over: whatever started is killed
                let _ = handle.join();
            }
        }
    }

    fn error(&mut self, message: String) {
        if self.faults.errors.len() < 20 {
            self.faults.errors.push(message);
        }
    }

    fn apply(&mut self, action: Action) {
        self.run.timeline.note(format_args!("fault {action:?}"));
        let now = self.run.now();
        let windows = &mut self.faults.windows;
        match action {
            Action::Invalidate => {
                windows.invalidated.push(now);
                self.fake.invalidate_current(APPID);
                self.run.invalidated(millis(self.run.now()) + 1);
                self.faults.invalidations += 1;
            }
            Action::RejectTokens(on) => {
                // The window opens before the switch and closes after it.
                if on {
                    Windows::open(&mut windows.reject, now);
                    self.faults.reject_windows += 1;
                }
                self.fake.reject_tokens(on);
                if !on {
                    Windows::close(&mut windows.reject, self.run.now());
                }
            }
            Action::Busy(on) => {
                if on {
                    Windows::open(&mut windows.busy, now);
                    self.faults.busy_windows += 1;
                }
                self.fake.busy(on);
                if !on {
                    Windows::close(&mut windows.busy, self.run.now());
                }
            }
            Action::KillHub(i) => {
                self.want_up[i] = false;
                self.faults.hub_kills += 1;
                // Dropping it kills it (SIGKILL).
                self.down(i);
            }
            Action::StartHub(i) => {
                self.want_up[i] = true;
                self.up(i);
            }
            Action::StopRedis => {
                Windows::open(&mut windows.redis_down, now);
                if let Some(redis) = self.redis.single() {
                    redis.stop();
                }
            }
            Action::StartRedis => match self.redis.single().map(|r| r.restart()) {
                Some(Ok(())) => {
                    self.faults.redis_restarts += 1;
                    Windows::close(&mut self.faults.windows.redis_down, self.run.now());
                }
                Some(Err(e)) => self.error(format!("Redis did not start again: {e}")),
                None => self.error("a Redis restart without one Redis".into()),
            },
            Action::Failover | Action::KillPrimary => {
                let kill = action == Action::KillPrimary;
                // One failover at a time: one still under way defers this
                // one until it is over, and the other faults keep their
                // times meanwhile.
                if self.redis.failing_over() {
                    self.deferred.push(kill);
                } else {
                    self.begin_failover(kill);
                }
            }
        }
    }

    fn begin_failover(&mut self, kill: bool) {
        let now = self.run.now();
        Windows::open(&mut self.faults.windows.failover, now);
        match self.redis.begin_failover(kill, self.run.origin) {
            Ok(()) => self.faults.primary_kills += usize::from(kill),
            Err(e) => {
                Windows::close(&mut self.faults.windows.failover, self.run.now());
                self.error(format!("the failover did not start: {e}"));
            }
        }
    }

    /// Notes what the failover in progress did: its window closes
    /// [`FAILOVER_GRACE`] after the promotion.
    fn watch_failover(&mut self) {
        loop {
            match self.redis.progress() {
                Progress::Pending => return,
                Progress::Promoted(at) => {
                    self.run.timeline.note(format_args!(
                        "promoted (at {:.3} s of the run)",
                        at.as_secs_f64()
                    ));
                    if let Some(span) = self.faults.windows.failover.last() {
                        let took = at.saturating_sub(span.start);
                        self.faults.longest_promotion = self.faults.longest_promotion.max(took);
                    }
                    Windows::close(&mut self.faults.windows.failover, at + FAILOVER_GRACE);
                }
                Progress::Done(result) => {
                    self.run
                        .timeline
                        .note(format_args!("failover over: {result:?}"));
                    // A failover that failed before its promotion closes now.
                    Windows::close(&mut self.faults.windows.failover, self.run.now());
                    match result {
                        Ok(()) => self.faults.failovers += 1,
                        Err(e) => self.error(format!("a failover failed: {e}")),
                    }
                    if !self.deferred.is_empty() {
                        let kill = self.deferred.remove(0);
                        self.begin_failover(kill);
                    }
                    return;
                }
            }
        }
    }

    /// Waits (each wait of the topology's bounded) until no failover is in
    /// progress, watching the hubs meanwhile.
    fn settle_failover(&mut self) {
        loop {
            if !self.redis.failing_over() {
                if self.deferred.is_empty() {
                    return;
                }
                let kill = self.deferred.remove(0);
                self.begin_failover(kill);
                continue;
            }
            self.watch_crashes();
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_ride_is_the_least_time_the_retries_cover() {
        // Half of 100, 200, 400, 800, 800, 800 ms.
        assert_eq!(Chaos::new().busy_ride(), Duration::from_millis(1550));
    }

    #[test]
    fn new_hub_keys_only_when_asked() {
        let with = Chaos::new().hub_config("http://up", "redis://r/", "p:");
        assert!(
            with.contains("refresh_burst = 3\nrefresh_floor_secs = 30\nmax_staleness_ms = 1000\n")
        );
        let without = Chaos::new()
            .new_hub_keys(false)
            .hub_config("http://up", "redis://r/", "p:");
        assert!(!without.contains("refresh_"), "{without}");
        assert!(without.contains("kind = \"redis\""));
    }
}
