//! The run's Redis: one `redis-server` of its own, or a Sentinel topology
//! (primary, replica, three sentinels); the hubs' `[store]` settings and
//! the prober's store for it; and a Sentinel run's failovers, carried out
//! on a thread of their own so that the schedule's other faults keep their
//! times.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::children::RedisChild;
use crate::clock::millis;
use crate::store::RedisStore;
use crate::testing::SentinelTopology;
use crate::RedisSentinel;

/// How long the hubs' and the prober's stores retry an operation through a
/// failover (`failover_wait_ms`).
const FAILOVER_WAIT: Duration = Duration::from_secs(5);

/// Where the run's store lives.
pub(super) enum Backend {
    Single(RedisChild),
    Sentinel {
        topology: Arc<SentinelTopology>,
        job: Option<Job>,
    },
}

/// A failover in progress.
pub(super) struct Job {
    handle: JoinHandle<std::io::Result<()>>,
    /// When the sentinels named the new primary, in ms from the run's
    /// start plus one; 0 until then.
    promoted_at: Arc<AtomicU64>,
    /// The promotion has been reported.
    reported: bool,
}

/// What a failover in progress has done since it was last asked.
pub(super) enum Progress {
    /// Nothing new.
    Pending,
    /// The new primary was named at this offset from the run's start.
    Promoted(Duration),
    /// It finished (the topology is healthy again), or failed.
    Done(std::io::Result<()>),
}

impl Backend {
    /// One `redis-server`, or with `sentinel` a topology of five.
    pub fn start(sentinel: bool, redis_bin: &Path, dir: &Path) -> std::io::Result<Backend> {
        if sentinel {
            Ok(Backend::Sentinel {
                topology: Arc::new(SentinelTopology::start()?),
                job: None,
            })
        } else {
            Ok(Backend::Single(RedisChild::start(redis_bin, dir)?))
        }
    }

    /// The lines of the hubs' `[store]` section that say where Redis is.
    pub fn store_settings(&self) -> String {
        match self {
            Backend::Single(redis) => format!("url = \"{}\"\n", redis.url()),
            Backend::Sentinel { topology, .. } => {
                let sentinels: Vec<String> =
                    topology.urls().iter().map(|u| format!("\"{u}\"")).collect();
                format!(
                    "master = \"{}\"\nsentinels = [{}]\nfailover_wait_ms = {}\n",
                    topology.master(),
                    sentinels.join(", "),
                    FAILOVER_WAIT.as_millis()
                )
            }
        }
    }

    /// A store of the prober's own on the same Redis.
    pub fn store(&self) -> crate::Result<RedisStore> {
        match self {
            Backend::Single(redis) => RedisStore::open(&redis.url()),
            Backend::Sentinel { topology, .. } => RedisStore::sentinel(
                RedisSentinel::new(topology.master(), topology.urls()).failover_wait(FAILOVER_WAIT),
            ),
        }
    }

    /// The single Redis, for restarts.
    pub fn single(&mut self) -> Option<&mut RedisChild> {
        match self {
            Backend::Single(redis) => Some(redis),
            Backend::Sentinel { .. } => None,
        }
    }

    /// Starts a failover on its own thread: `SENTINEL FAILOVER`, or with
    /// `kill` a kill -9 of the primary (here, before returning) that is
    /// restarted as a replica once the other node is promoted. The caller
    /// has seen the one before it [`Done`](Progress::Done).
    pub fn begin_failover(&mut self, kill: bool, origin: Instant) -> std::io::Result<()> {
        let Backend::Sentinel { topology, job } = self else {
            return Err(std::io::Error::other("a failover without Sentinel"));
        };
        let promoted_at = Arc::new(AtomicU64::new(0));
        let (topology, mark) = (topology.clone(), promoted_at.clone());
        let killed = if kill {
            Some(topology.kill_primary()?)
        } else {
            None
        };
        let handle = std::thread::spawn(move || {
            let new = match killed {
                Some(old) => topology.new_primary(old)?,
                None => topology.switched(topology.begin_failover()?)?,
            };
            mark.store(millis(origin.elapsed()) + 1, Ordering::SeqCst);

            if let Some(old) = killed {
                topology.promoted(old).map(|_| ())
            } else {
                topology.healthy()
            }
            .map_err(|e| std::io::Error::other(format!("after promoting {new}: {e}")))
        });
        *job = Some(Job {
            handle,
            promoted_at,
            reported: false,
        });
        Ok(())
    }

    /// Whether a failover is in progress.
    pub fn failing_over(&self) -> bool {
        matches!(self, Backend::Sentinel { job: Some(_), .. })
    }

    /// How the failover in progress, if any, went on.
    pub fn progress(&mut self) -> Progress {
        let Backend::Sentinel { job: slot, .. } = self else {
            return Progress::Pending;
        };
        let Some(job) = slot.as_mut() else {
            return Progress::Pending;
        };
        let at = job.promoted_at.load(Ordering::SeqCst);
        if at != 0 && !job.reported {
            job.reported = true;
            return Progress::Promoted(Duration::from_millis(at - 1));
        }
        if job.handle.is_finished() {
            // ok because `is_finished` said so
            let job = slot.take().expect("a job");
            return Progress::Done(job.handle.join().unwrap_or_else(panicked));
        }
        Progress::Pending
    }
}

fn panicked(_: Box<dyn std::any::Any + Send>) -> std::io::Result<()> {
    Err(std::io::Error::other("the failover thread panicked"))
}
