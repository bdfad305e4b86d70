"""Run every fault scenario and write the table of docs/faults.md.

    python -m tests.faults.report                 # writes docs/faults.md
    python -m tests.faults.report --out OTHER.md  # elsewhere
    python -m tests.faults.report --no-real-edge  # leave the llama.cpp scenario out
    python -m tests.faults.report --no-shutdown   # leave the SIGTERM runs out

The scenarios and their checks are those of ``tests/faults/test_faults.py``; the real llama.cpp
edge scenario runs when llama-server is built (``netgpt edge install``). Exit status 1 when a
check failed or a record was lost.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tests.faults.harness import Outcome, Rig
from tests.faults.scenarios import SCENARIOS, real_edge_restart
from tests.faults.shutdown import ShutdownRun, fmt_s, run_under_load

DEFAULT_OUT = Path(__file__).parents[2] / "docs" / "faults.md"

HEAD = """# Fault suite

What the gateway does when the things around it misbehave. Each row is one scenario of
`tests/faults/scenarios.py`: a fault injected between the gateway and an upstream, Redis or the
client, requests driven through a fresh gateway, and what came out of it. **Lost** counts the
requests answered by the cloud (a complete 200) whose dataset record is in neither the Redis
stream nor the spool after the gateway stopped: it must be 0.

How: a fault-injecting TCP proxy (`tests/faults/proxy.py`, in the spirit of toxiproxy: latency,
bandwidth, blackhole, reset before the answer, reset after N bytes, slow close) sits in every
link; a listener with a full accept queue stands in for an address that never answers a connect.
The gateway runs as `netgpt serve` runs it (uvicorn, httptools with the header deadline, the chat
fast lane, lifespan on) in a thread; the LLMs are the project's fakes (vLLM and OpenAI shapes),
except the last scenario, which kills the real llama-server (SmolLM2-135M). Redis is a real
`redis-server` on its own port. Gateway settings of the rig: cloud connect timeout 0.5 s, read
timeout 1 s, 1 retry (backoff 0.05 s, `Retry-After` honoured up to 1 s), edge timeout 1 s.

What the suite found, fixed with it: (1) Redis restarting killed the dataset writer task and
failed the shutdown: under uvloop, redis-py writing to a connection reset under it raised
`RuntimeError` instead of `ConnectionError` (`gateway/infra/redis.py` now maps it), and an earlier
failing stop skipped the dataset flush (now always run); (2) a cloud stream broken mid-answer
ended with an error event *and* `[DONE]`, and one that ended cleanly without a `finish_reason`
looked complete; (3) uvicorn has no deadline for request headers, so a slow-loris client held a
connection as long as it liked, and a client gone before its body was logged as an unhandled
ERROR; (4) a request outliving the shutdown grace period got uvicorn's bare 500; (5) a cloud 429
that survived the retries reached the client as a 502 without `Retry-After` (now 503
`upstream_rate_limited` with the cloud's `Retry-After`, which the OpenAI SDK waits out).

Every scenario also checks that nothing was logged at ERROR (a background task that died, a
failed shutdown). Regenerate: `python -m tests.faults.report` (about a minute, plus the real edge). The same checks
run in CI: `pytest tests/faults` (the real-edge one under the `llamacpp` marker).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


SHUTDOWN_HEAD = """## Graceful shutdown: SIGTERM to `netgpt serve` under load

`tests/faults/shutdown.py`: a real `netgpt serve` process (its dataset writer to its own
`redis-server`), 6 lanes of cloud-routed requests on kept-alive connections, a newcomer opening
a fresh connection every 100 ms and a `/readyz` poller every 50 ms; SIGTERM after the load has
run a while. *Refused*: connection refused (the listener is closed). *Closed before being read*:
a kept-alive connection uvicorn closed as idle just as the client sent on it (the request never
reached the app: no record). *Lost*: an answered request without its record in Redis or the
spool, or a processed request (record present) whose client got no answer. The same runs are
asserted by `tests/gateway/dataset/test_serve_sigterm.py`.
"""


def shutdown_table(runs: list[ShutdownRun]) -> str:
    lines = [
        SHUTDOWN_HEAD,
        "| settings | answered | in flight at SIGTERM | sent after SIGTERM, answered | refused | 503 shutting_down | closed before being read | lost | /readyz 503 after | first refusal after | exit after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| drain {run.drain_s:g} s, grace {run.grace_s:g} s, cloud answers in {run.cloud_delay_s:g} s "
            f"| {len(run.outcome('answered'))} | {len(run.in_flight)} ({', '.join(sorted({r[3] for r in run.in_flight}))}) "
            f"| {len(run.served_after_term)} | {len(run.outcome('refused'))} | {len(run.outcome('503'))} "
            f"| {len(run.outcome('no answer'))} | **{len(run.lost)}** | {fmt_s(run.first_503_s)} "
            f"| {fmt_s(run.first_refused_s)} | {run.exit_s:.1f} s |"
        )
    lines += [
        "",
        "In-flight requests that outlive the grace period are cancelled by uvicorn; the "
        "gateway answers them `503` with code `shutting_down` (retry elsewhere) and writes "
        "no record for them, since no cloud answer came.",
        "",
    ]
    return "\n".join(lines)


def table(outcomes: list[Outcome], started: str, seconds: float) -> str:
    lines = [
        HEAD,
        f"Generated {started} on {platform.node()} ({platform.machine()}, Python "
        f"{platform.python_version()}), {seconds:.0f} s. Times are wall-clock on a shared 2-core "
        "machine.",
        "",
        "| fault | what the client saw (status, body) | time to answer | logged (warnings, errors) | lost | checks |",
        "|---|---|---|---|---|---|",
    ]
    for out in outcomes:
        logged = "; ".join(out.logged) or "nothing above info"
        checks = (
            "; ".join(
                f"{'✓' if ok else '✗'} {text}"
                for text, ok in out.checks
                if not text.startswith("nothing logged at ERROR")
            )
            or "-"
        )
        if any(text.startswith("nothing logged at ERROR") for text, _ in out.checks):
            checks = ("✓" if not out.errors else "✗") + " nothing at ERROR; " + checks
        saw = out.saw() or "-"
        if out.notes:
            saw += " — " + "; ".join(out.notes)
        lost = f"**{len(out.lost)}** of {len(out.answered_cloud)}"
        lines.append(
            f"| **{_cell(out.name)}**: {_cell(out.fault)} | {_cell(saw)} | {out.times()} | "
            f"{_cell(logged)} | {lost} | {_cell(checks)} |"
        )
    lines += [
        "",
        "Body shapes: *completion* is a `chat.completion`; *error envelope* is OpenAI's "
        '`{"error": {"message", "type", "param", "code"}}`; *sse complete* ends with `data: [DONE]`; '
        "*sse error event, no [DONE]* is a stream cut short by the upstream that ends with "
        '`data: {"error": {...}}` (the OpenAI SDK raises `APIError` on it) and never with `[DONE]`.',
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults.report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="where to write (default docs/faults.md)"
    )
    parser.add_argument(
        "--no-real-edge", action="store_true", help="skip the real llama.cpp edge scenario"
    )
    parser.add_argument(
        "--no-shutdown", action="store_true", help="skip the SIGTERM-under-load runs"
    )
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.monotonic()
    outcomes: list[Outcome] = []
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as tmp, Rig(Path(tmp)) as rig:
        edge = None
        if not args.no_real_edge:
            from edge_worker.llamacpp.build import installed

            if installed():
                from edge_worker.llamacpp.server import LlamaServer

                edge = LlamaServer("smollm2", parallel=2, ctx_per_slot=4096).start()
        rig.real_edge = edge
        try:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("faults", total=len(SCENARIOS))
                for scenario in SCENARIOS:
                    if scenario.run is real_edge_restart and args.no_real_edge:
                        continue
                    bar.update(task, description=f"scenario {scenario.name}")
                    rig.clean()
                    outcomes.append(scenario.run(rig))
                    bar.advance(task)
            runs: list[ShutdownRun] = []
            if not args.no_shutdown:
                edge_url, cloud_url = rig.fake_urls()
                for i, (drain, grace, delay) in enumerate(((1.5, 10.0, 0.4), (0.0, 1.0, 8.0))):
                    console.print(f"shutdown run {i + 1}/2: drain {drain:g} s, grace {grace:g} s")
                    workdir = Path(tmp) / f"shutdown-{i}"
                    workdir.mkdir()
                    runs.append(
                        run_under_load(
                            edge_url,
                            cloud_url,
                            workdir,
                            drain_s=drain,
                            grace_s=grace,
                            cloud_delay_s=delay,
                            lanes=6 if delay < 1 else 3,
                            min_answered=10 if delay < 1 else 0,
                        )
                    )
        finally:
            if edge is not None:
                edge.stop()
    text = table(outcomes, started, time.monotonic() - t0)
    if runs:
        text += "\n" + shutdown_table(runs)
    args.out.write_text(text)
    bad = [o.name for o in outcomes if o.failed or o.lost] + [
        f"shutdown {r.summary()}" for r in runs if r.lost
    ]
    console.print(
        f"written: {args.out}; {len(outcomes)} scenarios, "
        + (f"FAILED: {', '.join(bad)}" if bad else "every check passed, nothing lost")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
