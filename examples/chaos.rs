//! The long chaos run: `wechat-hub` replicas on a Redis of the run's own
//! behind a round-robin balancer, many client threads, and a seeded
//! schedule of hub kills, Redis restarts, invalidations, -1 and 40001
//! windows. Prints the report; exits 1 if a figure breaks the promise.
//! With `--sentinel`, Redis is a Sentinel topology of the run's own
//! (primary, replica, three sentinels) failed over by the schedule
//! (`SENTINEL FAILOVER`, `kill -9` of the primary) instead of restarted.
//!
//! ```text
//! cargo build --features hub,redis --bin wechat-hub
//! cargo run --features hub,redis --example chaos -- \
//!     --seconds 600 --seed 7 --hub-bin target/debug/wechat-hub
//! cargo run --features hub,redis --example chaos -- \
//!     --seconds 300 --seed 7 --sentinel
//! ```
//!
//! Options: `--seconds N` (60), `--seed N` (1), `--hub-bin PATH`
//! (target/debug/wechat-hub), `--redis-bin PATH` (redis-server), `--hubs N`
//! (3), `--threads N` (64), `--floor-secs N` (30), `--burst N` (3),
//! `--staleness-ms N` (1000), `--old-hub` (leave the refresh and staleness
//! keys out of the hubs' configuration, for a `wechat-hub` without them),
//! `--sentinel` (Redis under Sentinel, failed over instead of restarted),
//! `--timeline` (print what happens to stderr as it happens: faults, the
//! tokens the fake issues, the hubs' logs, stale answers).
//! Nothing leaves this machine: WeChat is the crate's fake on 127.0.0.1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use weixin::testing::Chaos;

/// The run's options; each left out keeps `Chaos`'s default.
#[derive(Parser)]
#[command(
    name = "chaos",
    about = "The long chaos run (see the top of examples/chaos.rs)"
)]
struct Args {
    /// How long the run lasts, in seconds
    #[arg(long, value_name = "N")]
    seconds: Option<u64>,
    /// The schedule's seed
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// The wechat-hub binary to run
    #[arg(long, value_name = "PATH")]
    hub_bin: Option<PathBuf>,
    /// The redis-server binary to run
    #[arg(long, value_name = "PATH")]
    redis_bin: Option<PathBuf>,
    /// How many hub replicas
    #[arg(long, value_name = "N")]
    hubs: Option<usize>,
    /// How many client threads
    #[arg(long, value_name = "N", default_value_t = 64)]
    threads: usize,
    /// The hubs' refresh floor, in seconds
    #[arg(long, value_name = "N")]
    floor_secs: Option<u64>,
    /// The hubs' refresh burst
    #[arg(long, value_name = "N")]
    burst: Option<u32>,
    /// The hubs' max staleness, in milliseconds
    #[arg(long, value_name = "N")]
    staleness_ms: Option<u64>,
    /// Leave the refresh and staleness keys out of the hubs' configuration
    #[arg(long)]
    old_hub: bool,
    /// Run Redis under Sentinel and fail it over instead of restarting it
    #[arg(long)]
    sentinel: bool,
    /// Print the run's timeline to stderr (faults, tokens issued, hub logs,
    /// stale answers)
    #[arg(long)]
    timeline: bool,
}

fn parse() -> Chaos {
    let args = Args::parse();
    let mut chaos = Chaos::new().threads(args.threads);
    if let Some(secs) = args.seconds {
        chaos = chaos.duration(Duration::from_secs(secs));
    }
    if let Some(seed) = args.seed {
        chaos = chaos.seed(seed);
    }
    if let Some(path) = args.hub_bin {
        chaos = chaos.hub_bin(path);
    }
    if let Some(path) = args.redis_bin {
        chaos = chaos.redis_bin(path);
    }
    if let Some(hubs) = args.hubs {
        chaos = chaos.hubs(hubs);
    }
    if let Some(secs) = args.floor_secs {
        chaos = chaos.refresh_floor(Duration::from_secs(secs));
    }
    if let Some(burst) = args.burst {
        chaos = chaos.refresh_burst(burst);
    }
    if let Some(ms) = args.staleness_ms {
        chaos = chaos.max_staleness(Duration::from_millis(ms));
    }
    if args.old_hub {
        chaos = chaos.new_hub_keys(false);
    }
    if args.sentinel {
        chaos = chaos.sentinel(true);
    }
    if args.timeline {
        chaos = chaos.timeline(true);
    }
    chaos
}

fn main() -> ExitCode {
    let chaos = parse();
    match chaos.run() {
        Ok(report) => {
            println!("{report}");
            if report.problems().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("chaos: the run did not start: {e}");
            ExitCode::from(2)
        }
    }
}
