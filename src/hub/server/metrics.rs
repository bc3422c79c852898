//! `GET /metrics`: the server's own metrics and the handler's counts, in
//! the Prometheus text format (version 0.0.4) through `prometheus-client`.
//! Labels come from fixed sets (endpoints, statuses, kinds), never from a
//! query, an appid or a token.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    prometheus_text, DescriptorEncoder, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::hub::{HubHandler, HubResponse};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

/// Request latencies, from the request head to the answer, in seconds.
fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// The server's metrics, registered once; the handler's counts are read
/// at each scrape.
pub(super) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    /// Connections open now.
    pub open: Gauge,
    /// Connections accepted since start.
    pub accepted: Counter,
    /// Connections refused at the cap since start.
    pub refused: Counter,
}

impl Metrics {
    pub fn new(handler: Arc<HubHandler>) -> Metrics {
        let mut registry = Registry::with_prefix("wechat_hub");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let (open, accepted, refused) = (Gauge::default(), Counter::default(), Counter::default());
        registry.register(
            "requests",
            "Requests answered, by endpoint and HTTP status",
            requests.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from a request's head to its answer, by endpoint",
            Unit::Seconds,
            latency.clone(),
        );
        registry.register(
            "open_connections",
            "Client connections open now",
            open.clone(),
        );
        registry.register(
            "connections_accepted",
            "Client connections accepted",
            accepted.clone(),
        );
        registry.register(
            "connections_refused",
            "Client connections refused because max_connections were open",
            refused.clone(),
        );
        registry.register_collector(Box::new(HandlerCounts(handler)));
        Metrics {
            registry,
            requests,
            latency,
            open,
            accepted,
            refused,
        }
    }

    /// Counts one answered request.
    pub fn request(&self, endpoint: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels { endpoint, status })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels { endpoint })
            .observe(took.as_secs_f64());
    }

    /// The exposition.
    pub fn encode(&self) -> HubResponse {
        let mut text = String::new();
        match prometheus_text::encode(&mut text, &self.registry) {
            Ok(()) => HubResponse::new(200, prometheus_text::CONTENT_TYPE, text),
            // Writing to a String cannot fail; an encoder bug is answered.
            Err(_) => crate::hub::HubError::new(500, "hub_error", "metrics could not be encoded")
                .into_response(false),
        }
    }
}

/// The handler's counts, read at each scrape, and its used-up quotas,
/// read from the store at each scrape.
#[derive(Debug)]
struct HandlerCounts(Arc<HubHandler>);

impl Collector for HandlerCounts {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counts = self.0.counts();
        let mut calls = encoder.encode_descriptor(
            "upstream_calls",
            "Calls to WeChat, by kind (token, ticket, component, authorizer) and result.",
            None,
            MetricType::Counter,
        )?;
        for (kind, result, n) in counts.upstream_calls() {
            let labels = [("kind", kind), ("result", result)];
            ConstCounter::new(n).encode(calls.encode_family(&labels)?)?;
        }
        let mut today = encoder.encode_descriptor(
            "upstream_calls_today",
            "Calls to WeChat today (UTC+8) by kind and appid, counted in the store by every replica together, as this replica last saw them.",
            None,
            MetricType::Gauge,
        )?;
        for (kind, appid, n) in counts.upstream_calls_today() {
            let labels = [("kind", kind), ("appid", appid.as_str())];
            ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
                .encode(today.encode_family(&labels)?)?;
        }
        let mut used_up = encoder.encode_descriptor(
            "quota_exhausted",
            "Accounts whose daily quota WeChat answered used up (45009) today (UTC+8), by kind and appid (a platform's for its authorizers): no replica calls WeChat for them before midnight UTC+8 or a clear_quota. Read from the store, which every replica marks, at each scrape.",
            None,
            MetricType::Gauge,
        )?;
        for (kind, appid, n) in self.0.quotas_exhausted() {
            let labels = [("kind", kind), ("appid", appid.as_str())];
            ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
                .encode(used_up.encode_family(&labels)?)?;
        }
        let singles = [
            (
                "refreshes_without_upstream",
                "Refresh requests answered with the current token and no call to WeChat (compare-and-swap).",
                counts.refreshes_without_upstream(),
            ),
            (
                "store_errors",
                "Store calls that failed.",
                counts.store_errors(),
            ),
            (
                "refreshes_ahead",
                "Tokens and tickets replaced before they expired.",
                counts.refreshes_ahead().0,
            ),
            (
                "refresh_ahead_errors",
                "Refreshes ahead of expiry that failed (each retried after a bounded backoff).",
                counts.refreshes_ahead().1,
            ),
            (
                "start_push_tickets",
                "Calls to api_start_push_ticket (no verify ticket for 20 minutes) that succeeded.",
                counts.start_push_tickets().0,
            ),
            (
                "start_push_ticket_errors",
                "Calls to api_start_push_ticket that failed (each retried after a bounded backoff).",
                counts.start_push_tickets().1,
            ),
            (
                "authorizer_removals_heard",
                "Authorizer removals (unauthorized, on any replica) heard from the store and evicted from this replica's cache.",
                counts.removals_heard(),
            ),
            (
                "store_watch_errors",
                "Times listening to the store for other replicas' removals failed (retried after a bounded backoff; max_staleness bounds what is missed).",
                counts.watch_errors(),
            ),
        ];
        if let Some(t) = self.0.store_topology() {
            let gauges = [
                (
                    "store_redis_replicas",
                    "Redis replicas the store's primary reported connected when last asked.",
                    t.replicas.unwrap_or(0),
                ),
                (
                    "store_redis_read_only",
                    "1 while the store's Redis answers READONLY (a replica now: writes fail).",
                    u64::from(t.read_only_since.is_some()),
                ),
                (
                    "store_redis_last_failover_seconds",
                    "When (Unix seconds) the store's Redis primary last moved; 0 if never since start.",
                    t.last_failover.unwrap_or(0),
                ),
                (
                    "store_redis_persistence_warning",
                    "1 when a restart of the store's Redis would lose refresh tokens and verify tickets (or that could not be checked).",
                    u64::from(t.persistence_warning.is_some()),
                ),
            ];
            for (name, help, n) in gauges {
                let gauge = ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
            let counters = [
                (
                    "store_redis_failovers",
                    "Times the store's Redis primary moved since start.",
                    t.failovers,
                ),
                (
                    "store_redis_unacked_writes",
                    "Durable store writes (refresh tokens, tickets, locks) fewer Redis replicas acknowledged than asked within the wait: kept on the primary only.",
                    t.unacked_writes,
                ),
            ];
            for (name, help, n) in counters {
                let counter = ConstCounter::new(n);
                counter.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    counter.metric_type(),
                )?)?;
            }
        }
        for (name, help, n) in singles {
            let counter = ConstCounter::new(n);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        Ok(())
    }
}
