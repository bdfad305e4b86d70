"""Generate the Grafana dashboards in ``deploy/grafana/dashboards/`` from code.

The dashboards are plain Grafana JSON (schema 39), built here with small helpers instead of a
library so the repository needs no extra dependency; the generated files are committed and
``tests/deploy/test_dashboards.py`` checks that they equal this script's output.

    python deploy/grafana/generate_dashboards.py          # rewrite the JSON files
    python deploy/grafana/generate_dashboards.py --check  # exit 1 if they are out of date

Every metric a panel queries must be exported by the gateway's ``/metrics`` or be listed in
``deploy/metrics-external.txt`` (vLLM's own series); tests/deploy checks that too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "[$__rate_interval]"

Panel = dict[str, Any]


def target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}


def timeseries(
    title: str,
    description: str,
    queries: list[tuple[str, str]],
    *,
    unit: str = "short",
    right_axis: dict[str, str] | None = None,
    stack: bool = False,
    min_zero: bool = True,
) -> Panel:
    """A time-series panel; ``right_axis`` maps a legend regex to the unit of a second axis."""
    overrides = []
    for legend_regex, right_unit in (right_axis or {}).items():
        overrides.append(
            {
                "matcher": {"id": "byRegexp", "options": legend_regex},
                "properties": [
                    {"id": "custom.axisPlacement", "value": "right"},
                    {"id": "unit", "value": right_unit},
                    {"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}},
                ],
            }
        )
    defaults: dict[str, Any] = {
        "unit": unit,
        "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 20 if stack else 0,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
        },
    }
    if min_zero:
        defaults["min"] = 0
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(e, lg, chr(ord("A") + i)) for i, (e, lg) in enumerate(queries)],
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title: str, description: str, expr: str, *, unit: str, decimals: int = 2) -> Panel:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(expr, "", "A")],
        "fieldConfig": {"defaults": {"unit": unit, "decimals": decimals}, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        },
    }


def heatmap(title: str, description: str, expr: str) -> Panel:
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [{**target(expr, "{{le}}", "A"), "format": "heatmap"}],
        "options": {
            "calculate": False,
            "yAxis": {"axisPlacement": "left", "unit": "short"},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
            "tooltip": {"mode": "single", "yHistogram": True},
        },
        "fieldConfig": {"defaults": {}, "overrides": []},
    }


def row(title: str) -> Panel:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def quantiles(metric: str, by: str, legend: str) -> list[tuple[str, str]]:
    return [
        (
            f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{RATE})))",
            f"p{round(q * 100)} {legend}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


def layout(panels: list[Panel]) -> list[Panel]:
    """Place panels on Grafana's 24-column grid: rows full width, others two or three a line."""
    y, x, out = 0, 0, []
    for i, panel in enumerate(panels, start=1):
        panel = {"id": i, **panel}
        if panel["type"] == "row":
            y, x = y + (8 if x else 0), 0
            panel["gridPos"] = {"h": 1, "w": 24, "x": 0, "y": y}
            y += 1
        else:
            w = 8 if panel["type"] == "stat" else 12
            if x + w > 24:
                y, x = y + 8, 0
            panel["gridPos"] = {"h": 8, "w": w, "x": x, "y": y}
            x += w
        out.append(panel)
    return out


def dashboard(uid: str, title: str, description: str, panels: list[Panel]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["netgpt"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-3h", "to": "now"},
        "links": [
            {"type": "dashboards", "tags": ["netgpt"], "title": "NetGPT", "asDropdown": True}
        ],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "panels": layout(panels),
    }


def gateway_dashboard() -> dict[str, Any]:
    req = "netgpt_requests_total"
    panels: list[Panel] = [
        row("Traffic and routing"),
        timeseries(
            "Request rate by route",
            "Chat completion requests per second answered by the edge model and by the cloud.",
            [(f"sum by (route) (rate({req}{RATE}))", "{{route}}")],
            unit="reqps",
            stack=True,
        ),
        timeseries(
            "Edge share",
            "Share of answered requests that got the edge draft (rejected requests, route none, "
            "left out). It rises as the edge model improves and falls when the cloud gets "
            "faster or cheaper.",
            [
                (
                    f'sum(rate({req}{{route="edge"}}{RATE}))'
                    f' / sum(rate({req}{{route=~"edge|cloud"}}{RATE}))',
                    "edge share",
                )
            ],
            unit="percentunit",
        ),
        timeseries(
            "Latency by route (p50, p95, p99)",
            "Time from request received to response complete, by the route that answered.",
            quantiles("netgpt_request_duration_seconds", "route", "{{route}}"),
            unit="s",
        ),
        timeseries(
            "Routing reasons",
            "Why each request went where it did (x-netgpt-reason).",
            [(f"sum by (reason) (rate({req}{RATE}))", "{{reason}}")],
            unit="reqps",
            stack=True,
        ),
        row("Decision: score against threshold"),
        heatmap(
            "Score distribution",
            "How many edge drafts scored in each band of s (0 to 1) per interval. Drafts below "
            "the threshold tau (next panel) went to the cloud.",
            f"sum by (le) (increase(netgpt_route_score_bucket{RATE}))",
        ),
        timeseries(
            "Score quantiles and threshold",
            "Quartiles of the edge draft score s with the fallback threshold tau: a draft is "
            "answered from the edge when s >= tau.",
            [
                (
                    f"histogram_quantile({q}, sum by (le) (rate(netgpt_route_score_bucket{RATE})))",
                    f"score p{round(q * 100)}",
                )
                for q in (0.25, 0.5, 0.75)
            ]
            + [("avg(netgpt_fallback_threshold)", "threshold tau")],
            unit="percentunit",
        ),
        timeseries(
            "Threshold with RTT",
            "tau moves with the live network: it falls as the RTT to the cloud grows. "
            "RTT on the right axis, per target.",
            [
                ("avg(netgpt_fallback_threshold)", "threshold tau"),
                ("avg by (target) (netgpt_network_rtt_seconds)", "RTT {{target}}"),
            ],
            unit="percentunit",
            right_axis={"^RTT.*": "s"},
        ),
        timeseries(
            "Threshold with bandwidth",
            "tau rises with the bandwidth to the cloud. Bandwidth on the right axis; a stale "
            "estimate (probes failing) is replaced by the conservative NETGPT_ROUTING_STALE_* "
            "state.",
            [
                ("avg(netgpt_fallback_threshold)", "threshold tau"),
                (
                    "avg by (target) (netgpt_network_bandwidth_bytes_per_second)",
                    "bandwidth {{target}}",
                ),
                ("max by (target) (netgpt_network_estimate_stale)", "stale {{target}}"),
            ],
            unit="percentunit",
            right_axis={"^bandwidth.*": "Bps"},
        ),
        row("Cost and budget"),
        timeseries(
            "Cloud spend",
            "US dollars per hour spent on cloud calls (shadow calls included).",
            [(f"sum(rate(netgpt_cloud_cost_usd_total{RATE})) * 3600", "USD per hour")],
            unit="currencyUSD",
        ),
        timeseries(
            "Budget multiplier and cloud share",
            "The dual variable mu raises the cloud's effective price while the cloud share "
            "(right axis) is above its target; 0 when the budget does not bind.",
            [
                ("max(netgpt_budget_multiplier)", "multiplier mu"),
                ("max(netgpt_budget_cloud_share)", "cloud share"),
            ],
            unit="short",
            right_axis={"^cloud share$": "percentunit"},
        ),
        stat(
            "Cloud spend in range",
            "US dollars spent on the cloud over the dashboard's time range.",
            "sum(increase(netgpt_cloud_cost_usd_total[$__range]))",
            unit="currencyUSD",
        ),
        stat(
            "Cloud tokens in range",
            "Tokens billed by the cloud over the dashboard's time range.",
            "sum(increase(netgpt_cloud_tokens_total[$__range]))",
            unit="short",
            decimals=0,
        ),
        stat(
            "Calibration age",
            "Time since the score calibration was last fitted.",
            "max(netgpt_calibration_age_seconds)",
            unit="s",
            decimals=0,
        ),
        row("Quality and training data"),
        timeseries(
            "Schema-invalid tool calls by source",
            "Tool calls that failed the request's JSON Schemas, per second, from the edge model "
            "and from the cloud.",
            [(f"sum by (source) (rate(netgpt_schema_invalid_total{RATE}))", "{{source}}")],
            unit="ops",
        ),
        timeseries(
            "Dataset records and spool depth",
            "Cloud-routed pairs written per second by sink; the spool (right axis) only fills "
            "while Redis is unreachable.",
            [
                (f"sum by (sink) (rate(netgpt_dataset_records_total{RATE}))", "written {{sink}}"),
                (f"sum(rate(netgpt_dataset_dropped_total{RATE}))", "dropped"),
                ("sum(netgpt_dataset_spool_depth)", "spool depth"),
                ("sum(netgpt_dataset_queue_depth)", "queue depth"),
            ],
            unit="ops",
            right_axis={".*depth$": "short"},
        ),
        timeseries(
            "Shadow requests",
            "Background cloud calls on edge-confident requests, used as calibration labels.",
            [(f"sum by (outcome) (rate(netgpt_shadow_requests_total{RATE}))", "{{outcome}}")],
            unit="ops",
        ),
        row("Upstreams"),
        timeseries(
            "Upstream errors",
            "Failed calls to the edge model and the cloud, by kind (timeout, unreachable, HTTP).",
            [
                (
                    f"sum by (upstream, kind) (rate(netgpt_upstream_errors_total{RATE}))",
                    "{{upstream}} {{kind}}",
                )
            ],
            unit="ops",
        ),
        timeseries(
            "Upstream latency (p50, p95, p99)",
            "Duration of calls to the edge model and the cloud.",
            quantiles("netgpt_upstream_duration_seconds", "upstream", "{{upstream}}"),
            unit="s",
        ),
        timeseries(
            "Requests in flight",
            "Requests being handled, per gateway instance.",
            [("sum by (instance) (netgpt_requests_in_flight)", "{{instance}}")],
            unit="short",
        ),
        row("Edge experts"),
        timeseries(
            "Placements by expert",
            "Which edge expert drafted, by placement policy; 'cloud': no expert could meet the "
            "request's SLO but the cloud could (slo_cloud); 'none': no expert was up.",
            [(f"sum by (expert, policy) (rate(netgpt_placements_total{RATE}))", "{{expert}} ({{policy}})")],
            unit="ops",
            stack=True,
        ),
        timeseries(
            "SLO misses",
            "Requests that missed their SLO (x-slo-ttft-ms, x-slo-tpot-ms, x-netgpt-deadline-ms or "
            "the NETGPT_SLO_* default), by the expert (or cloud) that answered.",
            [(f"sum by (expert, policy) (rate(netgpt_slo_misses_total{RATE}))", "{{expert}} ({{policy}})")],
            unit="ops",
        ),
        timeseries(
            "Expert load and health",
            "Edge calls in flight to each expert from the gateways, and whether it answered its "
            "last scrape or call (1 up, 0 down: avoided until it answers again).",
            [
                ("sum by (expert) (netgpt_expert_in_flight)", "{{expert}} in flight"),
                ("min by (expert) (netgpt_expert_up)", "up {{expert}}"),
            ],
            right_axis={"up .*": "short"},
        ),
        timeseries(
            "Expert latency: predicted at placement and measured (p50, p95, p99)",
            "The latency model's prediction for the chosen expert next to the measured edge call.",
            quantiles("netgpt_expert_latency_seconds", "expert, kind", "{{expert}} {{kind}}"),
            unit="s",
        ),
        timeseries(
            "Latency model error (MAPE)",
            "Mean absolute percentage error of each expert's online latency model, scored on "
            "each prediction before it learns from the call (target: at most 15%).",
            [("max by (expert) (netgpt_latency_model_mape)", "{{expert}}")],
            unit="percentunit",
        ),
    ]
    return dashboard(
        "netgpt-gateway",
        "NetGPT gateway",
        "Routing between the edge model and the cloud: traffic, score against threshold, "
        "network, spend and budget, schema validity, training data, upstreams.",
        panels,
    )


def vllm_dashboard() -> dict[str, Any]:
    panels: list[Panel] = [
        row("Edge model (vLLM)"),
        timeseries(
            "Running and waiting requests",
            "Requests vLLM is decoding and requests queued for a slot.",
            [
                ("sum by (model_name) (vllm:num_requests_running)", "running {{model_name}}"),
                ("sum by (model_name) (vllm:num_requests_waiting)", "waiting {{model_name}}"),
            ],
            unit="short",
        ),
        timeseries(
            "KV-cache usage",
            "Share of KV-cache blocks in use (vLLM >= 0.10.2 names it kv_cache_usage_perc, "
            "older releases gpu_cache_usage_perc). Near 100% requests wait or get preempted.",
            [
                (
                    "max by (model_name) (vllm:kv_cache_usage_perc or vllm:gpu_cache_usage_perc)",
                    "{{model_name}}",
                )
            ],
            unit="percentunit",
        ),
        timeseries(
            "Token throughput",
            "Prompt tokens prefilled and tokens generated per second.",
            [
                (f"sum(rate(vllm:prompt_tokens_total{RATE}))", "prompt"),
                (f"sum(rate(vllm:generation_tokens_total{RATE}))", "generation"),
            ],
            unit="short",
        ),
        timeseries(
            "Time to first token (p50, p95, p99)",
            "From request arrival at vLLM to its first token.",
            quantiles("vllm:time_to_first_token_seconds", "model_name", "{{model_name}}"),
            unit="s",
        ),
        timeseries(
            "End-to-end request latency (p50, p95, p99)",
            "From request arrival at vLLM to its last token.",
            quantiles("vllm:e2e_request_latency_seconds", "model_name", "{{model_name}}"),
            unit="s",
        ),
        timeseries(
            "Preemptions",
            "Requests preempted for lack of KV-cache, per second.",
            [(f"sum(rate(vllm:num_preemptions_total{RATE}))", "preemptions")],
            unit="ops",
        ),
    ]
    return dashboard(
        "netgpt-vllm",
        "NetGPT edge model (vLLM)",
        "vLLM's own series for the edge model: load, KV-cache, throughput and latency.",
        panels,
    )


def build() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON object."""
    return {
        "netgpt-gateway.json": gateway_dashboard(),
        "netgpt-vllm.json": vllm_dashboard(),
    }


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a committed dashboard differs from the generated one",
    )
    parser.add_argument(
        "--out", type=Path, default=OUT_DIR, help=f"output folder (default: {OUT_DIR})"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, board in build().items():
        path = args.out / name
        text = render(board)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        sys.stderr.write(
            f"out of date: {', '.join(stale)}; run python deploy/grafana/generate_dashboards.py\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
