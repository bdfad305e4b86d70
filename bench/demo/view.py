"""What the demo shows: a live dashboard (rich), a plain status line for logs, a final table.

All three read the same two sources: the load generator's ``Stats`` (what clients saw) and the
``GatewayWatch`` (what the gateway says about itself, next to the link's true values).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bench.demo.load import Stats
from bench.demo.watch import GatewayWatch

BARS = "▁▂▃▄▅▆▇█"
ROUTE_STYLE = {"edge": "green", "cloud": "yellow", "error": "red"}


@dataclass(frozen=True, slots=True)
class DemoInfo:
    gateway_url: str
    edge_model: str
    cloud_model: str
    network: str  # the trace or schedule the link follows
    speed: float
    data_note: str  # where the requests and outcomes come from
    synthetic: bool
    auc: float
    rate: float
    arrivals: str
    edge_real: bool = False  # --edge real: SmolLM2 runs here under llama-server

    @property
    def footer(self) -> str:
        if self.edge_real:
            return (
                f"edge is REAL: {self.edge_model} running on this CPU (llama-server), its score "
                f"from its real token log-probs; cloud is REPLAYED from recorded {self.cloud_model} "
                f"answers (no internet); network is trace-shaped: {self.network} at "
                f"{self.speed:g}× speed. Ctrl-C stops."
            )
        models = (
            "models are SIMULATED (synthetic requests and outcomes)"
            if self.synthetic
            else f"models are replayed: what {self.edge_model} (edge) and {self.cloud_model} "
            "(cloud) answered when BFCL recorded them, decoded as their parsers would, where the "
            "data holds their outputs (else rebuilt from the recorded outcomes)"
        )
        return (
            f"{models}; edge confidence is simulated (AUC {self.auc:g}); the network follows "
            f"{self.network} at {self.speed:g}× speed. Ctrl-C stops."
        )


# --------------------------------------------------------------------------- formatting


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:,.0f} ms"


def secs(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.2f} s"


def rate(bps: float | None) -> str:
    if bps is None:
        return "—"
    for unit, size in (("MB/s", 1e6), ("kB/s", 1e3)):
        if bps >= size:
            return f"{bps / size:,.1f} {unit}"
    return f"{bps:,.0f} B/s"


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


def num(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def bar(value: float) -> str:
    """One block character for ``value`` in [0, 1]."""
    value = min(max(value, 0.0), 1.0)
    return BARS[min(len(BARS) - 1, int(value * len(BARS)))]


def sparkline(values: Sequence[float | None], low: float, high: float, *, log: bool = False) -> str:
    def scale(v: float) -> float:
        if log:
            v, lo, hi = (
                math.log10(max(v, 1.0)),
                math.log10(max(low, 1.0)),
                math.log10(max(high, 1.0)),
            )
        else:
            lo, hi = low, high
        return 0.0 if hi <= lo else (v - lo) / (hi - lo)

    return "".join(" " if v is None else bar(scale(v)) for v in values)


# --------------------------------------------------------------------------- panels


def _routes(stats: Stats) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(width=7)
    table.add_column(justify="right", width=6)
    table.add_column(justify="right", width=5)
    table.add_column(width=20)
    answered = stats.answered
    for route in ("edge", "cloud"):
        n = stats.routes[route]
        share = n / answered if answered else 0.0
        table.add_row(
            Text(route, style=ROUTE_STYLE[route]),
            str(n),
            pct(share if answered else None),
            Text("█" * round(share * 20), style=ROUTE_STYLE[route]),
        )
    errors = sum(stats.errors.values())
    if errors:
        table.add_row(Text("errors", style="red"), str(errors), "", "")
    return table


def _reasons(stats: Stats) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True, overflow="ellipsis")
    table.add_column(justify="right")
    for reason, n in stats.reasons.most_common(5):
        table.add_row(Text(reason, style="dim"), str(n))
    return table


def _network(watch: GatewayWatch, width: int) -> Table:
    history = list(watch.history)[-width:]
    latest = watch.latest
    table = Table.grid(padding=(0, 1))
    table.add_column(width=10)
    table.add_column(justify="right", width=11)
    table.add_column(justify="right", width=11)
    table.add_column()
    table.add_row(
        "",
        Text("gateway", style="bold cyan"),
        Text("trace", style="bold"),
        "",
    )
    if latest is None:
        table.add_row("waiting", watch.error or "for the first probe", "", "")
        return table
    rtts = [s.true_rtt_s for s in history] + [s.rtt_s or 0.0 for s in history]
    bws = [s.true_bandwidth for s in history] + [s.bandwidth or 1.0 for s in history]
    table.add_row(
        "RTT",
        ms(latest.rtt_s),
        ms(latest.true_rtt_s),
        Text(sparkline([s.rtt_s for s in history], 0.0, max(rtts)), style="cyan"),
    )
    table.add_row(
        "", "", "", Text(sparkline([s.true_rtt_s for s in history], 0.0, max(rtts)), style="dim")
    )
    table.add_row(
        "bandwidth",
        rate(latest.bandwidth),
        rate(latest.true_bandwidth),
        Text(sparkline([s.bandwidth for s in history], min(bws), max(bws), log=True), style="cyan"),
    )
    table.add_row(
        "",
        "",
        "",
        Text(
            sparkline([s.true_bandwidth for s in history], min(bws), max(bws), log=True),
            style="dim",
        ),
    )
    state = Text("STALE: fallback", style="red") if latest.stale else Text("fresh", style="green")
    table.add_row("estimate", state, Text(f"t={latest.trace_t:,.0f} s", style="dim"), "")
    return table


def _scores(stats: Stats, watch: GatewayWatch, width: int) -> Table:
    recent = [r for r in stats.recent if r.route != "error"][-width:]
    s_line, t_line = Text(), Text()
    for r in recent:
        if r.score is None or r.score == 0.0:
            s_line.append("×", style="red")  # schema-invalid (or offload): s = 0
        else:
            s_line.append(bar(r.score), style=ROUTE_STYLE[r.route])
        t_line.append(bar(r.tau or 0.0), style="magenta")
    table = Table.grid(padding=(0, 1))
    table.add_column(width=3)
    table.add_column()
    table.add_row("s", s_line)
    table.add_row("τ", t_line)
    latest = watch.latest
    if latest is not None and latest.tau is not None:
        explain = Text.assemble(
            ("τ now ", "bold"),
            (f"{latest.tau:.2f}", "bold magenta"),
            f"  = q_c − latency {num(latest.latency_penalty)} − cost {num(latest.cost_penalty)}",
            f"   (μ {latest.mu:.2f}, cloud compute {secs(latest.compute_s)})",
        )
        table.add_row("", explain)
    table.add_row(
        "",
        Text(
            "green: answered at the edge (s ≥ τ), yellow: cloud (s < τ), "
            "red ×: schema-invalid draft",
            style="dim",
        ),
    )
    return table


def _outcome(stats: Stats, watch: GatewayWatch) -> Table:
    latest = watch.latest
    spend = latest.spend_usd if latest is not None else None
    elapsed = max(time.monotonic() - stats.started, 1e-9)
    table = Table.grid(padding=(0, 2))
    for _ in range(4):
        table.add_column()
    table.add_row(
        "accuracy",
        f"all {pct(stats.accuracy())}",
        Text(f"edge {pct(stats.accuracy('edge'))}", style="green"),
        Text(f"cloud {pct(stats.accuracy('cloud'))}", style="yellow"),
    )
    table.add_row(
        "latency p50 / p95",
        f"all {secs(stats.percentile(0.5))} / {secs(stats.percentile(0.95))}",
        Text(
            f"edge {secs(stats.percentile(0.5, 'edge'))} / {secs(stats.percentile(0.95, 'edge'))}",
            style="green",
        ),
        Text(
            f"cloud {secs(stats.percentile(0.5, 'cloud'))} / {secs(stats.percentile(0.95, 'cloud'))}",
            style="yellow",
        ),
    )
    if latest is not None and (latest.edge_latency_s is not None or latest.edge_tokens_per_s):
        table.add_row(
            "real edge",
            f"draft {secs(latest.edge_latency_s)}",
            Text(f"{num(latest.edge_tokens_per_s, 0)} tokens/s decode", style="green"),
            Text("llama-server, this CPU", style="dim"),
        )
    per_k = spend / stats.answered * 1000 if spend is not None and stats.answered else None
    table.add_row(
        "cloud spend",
        "—" if spend is None else f"${spend:.4f}",
        "—" if per_k is None else f"${per_k:.3f} per 1k requests",
        f"{stats.answered / elapsed:.1f} req/s, {stats.in_flight} in flight",
    )
    return table


def dashboard(
    info: DemoInfo, stats: Stats, watch: GatewayWatch, width: int = 100
) -> RenderableType:
    elapsed = time.monotonic() - stats.started
    spark = max(20, width - 16)
    title = Text.assemble(
        ("NetGPT demo", "bold"),
        f"  gateway {info.gateway_url}  ",
        (f"{int(elapsed // 60):02d}:{int(elapsed % 60):02d}", "bold"),
    )
    parts: list[RenderableType] = []
    if info.synthetic:
        parts.append(
            Panel(Text(info.data_note, style="bold white"), style="on red", title="SYNTHETIC DATA")
        )
    top = Table.grid(padding=(0, 1), expand=True)
    top.add_column(ratio=2)
    top.add_column(ratio=3)
    top.add_row(
        Panel(
            Group(_routes(stats), Text(""), _reasons(stats)), title="routes", border_style="green"
        ),
        Panel(
            _network(watch, max(10, width * 3 // 5 - 45)),
            title="cloud link: gateway's estimate (upper) vs trace (lower)",
            border_style="cyan",
        ),
    )
    parts += [
        top,
        Panel(
            _scores(stats, watch, spark),
            title=f"score s vs threshold τ, last {spark} requests",
            border_style="magenta",
        ),
        Panel(_outcome(stats, watch), title="outcome", border_style="blue"),
        Text(info.footer, style="italic dim"),
    ]
    return Panel(Group(*parts), title=title, border_style="bold")


def status_line(stats: Stats, watch: GatewayWatch) -> str:
    """One plain line (``--no-live``): what the dashboard shows, for logs and CI."""
    latest = watch.latest
    elapsed = time.monotonic() - stats.started
    fields = [
        f"t={elapsed:5.1f}s",
        f"answered={stats.answered}",
        f"edge={stats.routes['edge']}",
        f"cloud={stats.routes['cloud']}",
        f"edge_share={pct(stats.edge_share())}",
        f"errors={sum(stats.errors.values())}",
        f"acc={pct(stats.accuracy())}",
        f"p50={secs(stats.percentile(0.5))}",
        f"p95={secs(stats.percentile(0.95))}",
    ]
    if latest is not None:
        fields += [
            f"tau={num(latest.tau)}",
            f"rtt={ms(latest.rtt_s)}(true {ms(latest.true_rtt_s)})",
            f"bw={rate(latest.bandwidth)}(true {rate(latest.true_bandwidth)})",
            f"spend=${latest.spend_usd or 0.0:.4f}",
        ]
        if latest.edge_tokens_per_s is not None:
            fields += [
                f"edge_draft={secs(latest.edge_latency_s)}",
                f"edge_tok/s={num(latest.edge_tokens_per_s, 0)}",
            ]
    return "  ".join(fields)


def summary(info: DemoInfo, stats: Stats, watch: GatewayWatch) -> Table:
    """The final table printed after the demo stops."""
    latest = watch.latest
    table = Table(title="NetGPT demo: summary", show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("all", justify="right")
    table.add_column("edge", justify="right", style="green")
    table.add_column("cloud", justify="right", style="yellow")
    n = stats.answered
    table.add_row(
        "requests answered", str(n), str(stats.routes["edge"]), str(stats.routes["cloud"])
    )
    edge_share = stats.edge_share()
    table.add_row(
        "share",
        "100%" if n else "—",
        pct(edge_share),
        pct(None if edge_share is None else 1 - edge_share),
    )
    table.add_row(
        "accuracy (BFCL AST check)",
        pct(stats.accuracy()),
        pct(stats.accuracy("edge")),
        pct(stats.accuracy("cloud")),
    )
    for q, name in ((0.5, "latency p50"), (0.95, "latency p95")):
        table.add_row(name, *(secs(stats.percentile(q, k)) for k in ("all", "edge", "cloud")))
    if latest is not None and latest.edge_tokens_per_s is not None:
        table.add_row(
            "real edge: last draft time, decode rate",
            "",
            f"{secs(latest.edge_latency_s)}, {num(latest.edge_tokens_per_s, 0)} tok/s",
            "",
        )
    spend = latest.spend_usd if latest is not None else None
    table.add_row("cloud spend", "—" if spend is None else f"${spend:.4f}", "", "")
    table.add_row("errors", str(sum(stats.errors.values())), "", "")
    for reason, count in stats.reasons.most_common():
        table.add_row(f"  reason: {reason}", str(count), "", "")
    table.caption = info.footer.removesuffix(" Ctrl-C stops.")
    return table
