"""The gateway's Prometheus metrics, in its own registry (names are a contract: ARCHITECTURE.md).

Dashboards and alert rules in ``deploy/`` query these names; ``tests/deploy`` checks that every
name they use is exported.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

# latency buckets from 0.5 ms (edge path overhead) to 60 s (slow cloud calls)
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)
SCORE_BUCKETS = tuple(i / 20 for i in range(1, 21))


class GatewayMetrics:
    """All metrics of one gateway process. Build one per app; tests read values back with
    ``registry.get_sample_value(name, labels)``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        p = "netgpt_"
        self.requests = Counter(
            p + "requests_total", "Chat completion requests answered, by route, reason and HTTP status",
            ["route", "reason", "status"], registry=r,
        )
        self.request_duration = Histogram(
            p + "request_duration_seconds", "Time from request received to response complete",
            ["route"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.upstream_duration = Histogram(
            p + "upstream_duration_seconds", "Duration of calls to an upstream model",
            ["upstream"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.upstream_errors = Counter(
            p + "upstream_errors_total", "Failed upstream calls by upstream and kind",
            ["upstream", "kind"], registry=r,
        )
        # the kinds the request path counts exist from the start at 0: a labelled counter that
        # first appears at 1 shows no increase to rate(), so the first errors would be missed
        # (seen in docs/dashboards-check.md: one cloud error read as a rate of 0)
        for upstream in ("edge", "cloud"):
            for kind in ("upstream_unreachable", "upstream_timeout", "upstream_error"):
                self.upstream_errors.labels(upstream, kind)
        self.route_score = Histogram(
            p + "route_score", "Score s of edge drafts", buckets=SCORE_BUCKETS, registry=r,
        )
        self.fallback_threshold = Gauge(
            p + "fallback_threshold", "Threshold tau of the last routed request", registry=r,
        )
        self.network_rtt = Gauge(
            p + "network_rtt_seconds", "Estimated round-trip time to an upstream", ["target"], registry=r,
        )
        self.network_bandwidth = Gauge(
            p + "network_bandwidth_bytes_per_second", "Estimated bandwidth to an upstream",
            ["target"], registry=r,
        )
        self.network_stale = Gauge(
            p + "network_estimate_stale", "1 when the network estimate of a target is stale",
            ["target"], registry=r,
        )
        self.probe_failures = Counter(
            p + "network_probe_failures_total", "Failed network probes", ["target", "kind"], registry=r,
        )
        self.cloud_cost = Counter(
            p + "cloud_cost_usd_total", "Money spent on cloud calls (US dollars)", registry=r,
        )
        self.cloud_tokens = Counter(
            p + "cloud_tokens_total", "Tokens billed by the cloud", ["kind"], registry=r,
        )
        self.schema_invalid = Counter(
            p + "schema_invalid_total", "Tool calls that failed the schema guard", ["source"], registry=r,
        )
        self.budget_multiplier = Gauge(
            p + "budget_multiplier", "Budget multiplier mu (dual variable)", registry=r,
        )
        self.budget_cloud_share = Gauge(
            p + "budget_cloud_share", "Cloud share over the budget window", registry=r,
        )
        self.calibration_age = Gauge(
            p + "calibration_age_seconds", "Age of the loaded score calibration", registry=r,
        )
        self.shadow_requests = Counter(
            p + "shadow_requests_total", "Shadow cloud calls by outcome", ["outcome"], registry=r,
        )
        # self-consistency (NETGPT_EDGE_SAMPLES): each request's k sampled drafts, one count per
        # request by outcome — drawn (their agreement reached the verifier), failed (the edge
        # erred or timed out), late (not back NETGPT_EDGE_SAMPLE_WAIT_S after the draft).
        # Not drafts: netgpt_upstream_* and the edge latency count the greedy draft alone.
        self.edge_samples = Counter(
            p + "edge_samples_total", "Requests whose sampled drafts were drawn, failed or late",
            ["outcome"], registry=r,
        )
        for outcome in ("drawn", "failed", "late"):
            self.edge_samples.labels(outcome)
        self.dataset_records = Counter(
            p + "dataset_records_total", "Dataset records written, by sink", ["sink"], registry=r,
        )
        self.dataset_spool_depth = Gauge(
            p + "dataset_spool_depth", "Records waiting in the local spool", registry=r,
        )
        self.dataset_dropped = Counter(
            p + "dataset_dropped_total", "Dataset records dropped (spool cap reached)", registry=r,
        )
        self.dataset_queue_depth = Gauge(
            p + "dataset_queue_depth", "Records waiting in the in-memory queue", registry=r,
        )
        self.dataset_export_lag = Gauge(
            p + "dataset_export_lag_records", "Stream entries not yet exported by the export group",
            registry=r,
        )
        self.in_flight = Gauge(
            p + "requests_in_flight", "Requests being handled", registry=r,
        )
        # several edge experts (gateway/experts): placement, live load, latency model
        # bumped on every request: plain integers read at scrape time, no lock per request
        self.placements = CountsCollector(
            p + "placements", "Requests placed on an edge expert, by expert and policy",
            ("expert", "policy"),
        )
        r.register(self.placements)
        self.slo_misses = Counter(
            p + "slo_misses_total", "Requests that missed their SLO, by the expert (or cloud) that served",
            ["expert", "policy"], registry=r,
        )
        self.expert_in_flight = Gauge(
            p + "expert_in_flight", "Edge calls in flight to an expert from this gateway", ["expert"],
            registry=r,
        )
        self.expert_up = Gauge(
            p + "expert_up", "1 when the expert answered its last scrape or call, 0 when it failed",
            ["expert"], registry=r,
        )
        self.latency_model_mape = Gauge(
            p + "latency_model_mape", "Mean absolute percentage error of an expert's latency model",
            ["expert"], registry=r,
        )
        self.expert_latency = Histogram(
            p + "expert_latency_seconds", "Edge call latency per expert: predicted at placement and measured",
            ["expert", "kind"], buckets=LATENCY_BUCKETS, registry=r,
        )
        # tenancy (gateway/tenancy): key names come from the operator's key file (bounded)
        self.rate_limited = Counter(
            p + "rate_limited_total", "Requests refused with 429, by client key name and limit",
            ["key", "limit"], registry=r,
        )
        self.api_keys = Gauge(
            p + "api_keys", "Client keys loaded from NETGPT_API_KEYS_FILE", registry=r,
        )
        # by API (chat stays counted in requests_total, whose labels are a contract)
        self.api_requests = Counter(
            p + "api_requests_total", "Requests answered by the Responses API route, by API and HTTP status",
            ["api", "status"], registry=r,
        )


class CountsCollector(Collector):
    """A labelled counter kept as plain integers (``counts[labels] += 1``, no lock: the request
    path runs on one event loop), exported at scrape time as ``<name>_total``."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.counts: dict[tuple[str, ...], int] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, value in list(self.counts.items()):
            family.add_metric(labels, value)
        yield family

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
