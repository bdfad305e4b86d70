"""Profile the gateway's hot path under load with py-spy.

    python -m bench.load.profile --path edge --seconds 15 --out out/bench-load/profile

Starts the canned upstream (nginx), a private redis and one gateway on CPU 0, drives it with wrk
from CPU 1 at saturation while ``py-spy record`` samples it (py-spy also on CPU 1), then prints
the functions with the most samples, by own time and including callees, the share of each part
of the request path (``PARTS``), and writes the collapsed stacks and the flame graph drawn from
them (SVG, ``bench.load.flame``) next to each other.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import procs
from bench.common.bodies import request_bytes
from bench.load import configs, flame, loadgen, targets, upstream

# the parts of a request's CPU, by the frames that do them: a marker is a substring of py-spy's
# "func (path/file.py:line)" frame (paths relative to sys.path: "(aiohttp/" is the package), a sample goes to the innermost frame that names a part
# (bench.load.flame.breakdown); where one frame names several, the first part below wins
PARTS: dict[str, tuple[str, ...]] = {
    "logging (request log line)": ("(logging/", "gateway/server/logs.py"),
    "metrics (prometheus_client)": ("(prometheus_client/",),
    "dataset record (build, redact, validate, encode, write)": (
        "gateway/dataset/", "gateway/service/record.py", "(concurrent/futures/thread.py"),
    "tenancy (key, limits)": ("gateway/tenancy/",),
    "Redis client (lease settlement, experts' counts, response store)": ("(redis/",),
    "request JSON parse + validation (pydantic)": (
        "parse_request (", "parse_responses_request (", "admit_and_read (", "read_body (", "gateway/protocol/"),
    "upstream answer parse (orjson + shape)": ("parse_completion (", "token_logprobs"),
    "schema guard (fastjsonschema)": ("gateway/routing/schema_guard.py", "(fastjsonschema/"),
    "experts placement": ("gateway/experts/", "gateway/routing/placement/"),
    "score, verifier, threshold, network estimate": (
        "gateway/service/judge.py", "gateway/routing/", "gateway/network/", "gateway/policy/"),
    "upstream HTTP clients (aiohttp, edge and cloud adapters)": (
        "(aiohttp/", "(yarl/", "(multidict/", "gateway/infra/upstream_http.py", "edge_worker/", "cloud_adapter/"),
    "response encode + headers": (
        "gateway/api/encode.py", "gateway/api/responses_encode.py", "starlette/responses.py",
        "Observer.headers", "gateway/protocol/sse.py"),
    "HTTP server (uvicorn, httptools, ASGI)": (
        "(uvicorn/", "(httptools/", "(starlette/", "(fastapi/", "gateway/server/", "ChatFastLane"),
    "event loop, tasks": ("(asyncio/", "uvloop", "Runner.run"),
    # last: the gateway's own request code between those parts (the routes, the service stages)
    "route handlers and service stages (own time)": ("gateway/api/", "gateway/service/"),
}


def top(collapsed: Path, n: int, skip_idle: bool = True) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """(own, inclusive, total) sample counts per function from py-spy's raw (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")" if " (" in f else f
                  for f in stack.split(";")]
        if skip_idle and frames and ("select" in frames[-1] or "poll" in frames[-1]) and len(frames) < 12:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            incl[frame] += count
    return own.most_common(n), incl.most_common(n), total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", choices=["edge", "fallback", *configs.ALL], default="edge",
                        help="which gateway path to load, or an operator configuration of bench/load/configs.py "
                        "(default %(default)s)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds of load and sampling (default %(default)s)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default %(default)s)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second (default %(default)s)")
    parser.add_argument("--native", action="store_true", help="include native (C) frames")
    parser.add_argument("--top", type=int, default=30, help="functions to print (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("out/bench-load/profile"), help="folder for the SVG and stacks")
    args = parser.parse_args(argv)
    pyspy = shutil.which("py-spy")
    if pyspy is None:
        print("py-spy not found: pip install py-spy", file=sys.stderr)  # noqa: T201
        return 2
    rundir = (args.out / "run").resolve()
    shutil.rmtree(rundir, ignore_errors=True)
    rundir.mkdir(parents=True)
    servers: list[procs.Server] = []
    try:
        up = upstream.start_nginx(upstream.capture(rundir), rundir, "1")
        servers += up.servers
        redis, redis_port = targets.start_redis(rundir, "1")
        servers.append(redis)
        route = "invalid" if args.path == "fallback" else "edge"
        cfg = configs.build((args.path,), up, rundir)[0] if args.path in configs.ALL else configs.Config(
            args.path, body=request_bytes())
        gw, port = targets.start_gateway("gateway", up, route, rundir, cpus="0", redis_port=redis_port,
                                         extra_env=cfg.env)
        servers.append(gw)
        target = targets.Target("gateway", port, cfg.path, cfg.body, gw,
                                {"edge": "edge", "fallback": "cloud"}.get(args.path), cfg.headers)
        target.check()
        script = rundir / "wrk.lua"
        script.write_text(loadgen.lua_script(target.body, target.headers))
        loadgen.run_wrk(target.url, script, 2, args.connections, "1")  # warm up
        stem = args.out / f"{args.path}-{time.strftime('%H%M%S')}"
        record = procs.pinned(
            [pyspy, "record", "--pid", str(gw.proc.pid), "--rate", str(args.rate), "--duration",
             str(int(args.seconds)), "--format", "raw", "-o", f"{stem}.txt",
             # py-spy reads native stacks only while the process is stopped
             *(["--native"] if args.native else ["--nonblocking"])],
            "1",
        )
        spy = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        sat = loadgen.run_wrk(target.url, script, args.seconds, args.connections, "1")
        _, spy_err = spy.communicate(timeout=60)
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {spy_err.decode(errors='replace')[-300:]}")
    finally:
        for server in reversed(servers):
            server.stop()
    stacks = flame.read(Path(f"{stem}.txt"))
    Path(f"{stem}.svg").write_text(flame.svg(flame.tree(stacks), f"gateway, {args.path} path, under wrk ({sat.rps:.0f} RPS)"))
    own, incl, total = top(Path(f"{stem}.txt"), args.top)
    print(f"{args.path} path under wrk: {sat.rps:.0f} RPS (while sampled), {total} busy samples")  # noqa: T201
    print("\nown time:")  # noqa: T201
    for name, count in own:
        print(f"{100 * count / total:6.1f}%  {name}")  # noqa: T201
    print("\nincluding callees:")  # noqa: T201
    for name, count in incl:
        print(f"{100 * count / total:6.1f}%  {name}")  # noqa: T201
    print("\nby part of the request path (innermost frame that names a part):")  # noqa: T201
    for part, share in sorted(flame.breakdown(stacks, PARTS).items(), key=lambda kv: -kv[1]):
        print(f"{share:6.1f}%  {part}")  # noqa: T201
    print(f"\nstacks: {stem}.txt, flame graph: {stem}.svg")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
