"""Run every fault scenario and write the table of docs/faults.md.

    python -m tests.faults.report                 # writes docs/faults.md
    python -m tests.faults.report --out OTHER.md  # elsewhere
    python -m tests.faults.report --no-real-edge  # leave the llama.cpp scenario out

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

Regenerate: `python -m tests.faults.report` (about a minute, plus the real edge). The same checks
run in CI: `pytest tests/faults` (the real-edge one under the `llamacpp` marker).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


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
        checks = "; ".join(f"{'✓' if ok else '✗'} {text}" for text, ok in out.checks) or "-"
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
        '*sse error event, no [DONE]* is a stream cut short by the upstream that ends with '
        '`data: {"error": {...}}` (the OpenAI SDK raises `APIError` on it) and never with `[DONE]`.',
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write (default docs/faults.md)")
    parser.add_argument("--no-real-edge", action="store_true", help="skip the real llama.cpp edge scenario")
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
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
                task = bar.add_task("faults", total=len(SCENARIOS))
                for scenario in SCENARIOS:
                    if scenario.run is real_edge_restart and args.no_real_edge:
                        continue
                    bar.update(task, description=f"scenario {scenario.name}")
                    rig.clean()
                    outcomes.append(scenario.run(rig))
                    bar.advance(task)
        finally:
            if edge is not None:
                edge.stop()
    text = table(outcomes, started, time.monotonic() - t0)
    args.out.write_text(text)
    bad = [o.name for o in outcomes if o.failed or o.lost]
    console.print(f"written: {args.out}; {len(outcomes)} scenarios, "
                  + (f"FAILED: {', '.join(bad)}" if bad else "every check passed, nothing lost"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
