//! The long chaos run: `wechat-hub` replicas on a Redis of the run's own
//! behind a round-robin balancer, many client threads, and a seeded
//! schedule of hub kills, Redis restarts, invalidations, -1 and 40001
//! windows. Prints the report; exits 1 if a figure breaks the promise.
//!
//! ```text
//! cargo build --features hub,redis --bin wechat-hub
//! cargo run --features hub,redis --example chaos -- \
//!     --seconds 600 --seed 7 --hub-bin target/debug/wechat-hub
//! ```
//!
//! Options: `--seconds N` (60), `--seed N` (1), `--hub-bin PATH`
//! (target/debug/wechat-hub), `--redis-bin PATH` (redis-server), `--hubs N`
//! (3), `--threads N` (64), `--floor-secs N` (2), `--burst N` (3),
//! `--staleness-ms N` (1000), `--old-hub` (leave the refresh and staleness
//! keys out of the hubs' configuration, for a `wechat-hub` without them).
//! Nothing leaves this machine: WeChat is the crate's fake on 127.0.0.1.

use std::process::ExitCode;
use std::time::Duration;

use wechat::testing::Chaos;

fn parse() -> Result<Chaos, lexopt::Error> {
    use lexopt::prelude::*;
    let mut chaos = Chaos::new().threads(64);
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        chaos = match arg {
            Long("seconds") => chaos.duration(Duration::from_secs(parser.value()?.parse()?)),
            Long("seed") => chaos.seed(parser.value()?.parse()?),
            Long("hub-bin") => chaos.hub_bin(parser.value()?),
            Long("redis-bin") => chaos.redis_bin(parser.value()?),
            Long("hubs") => chaos.hubs(parser.value()?.parse()?),
            Long("threads") => chaos.threads(parser.value()?.parse()?),
            Long("floor-secs") => {
                chaos.refresh_floor(Duration::from_secs(parser.value()?.parse()?))
            }
            Long("burst") => chaos.refresh_burst(parser.value()?.parse()?),
            Long("staleness-ms") => {
                chaos.max_staleness(Duration::from_millis(parser.value()?.parse()?))
            }
            Long("old-hub") => chaos.new_hub_keys(false),
            _ => return Err(arg.unexpected()),
        };
    }
    Ok(chaos)
}

fn main() -> ExitCode {
    let chaos = match parse() {
        Ok(chaos) => chaos,
        Err(e) => {
            eprintln!("chaos: {e}; see the top of examples/chaos.rs");
            return ExitCode::from(2);
        }
    };
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
