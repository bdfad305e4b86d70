"""``netgpt edge check``: a new user's first check of a running edge, through the gateway.

Only argparse is imported at registration.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="send handwritten tool-calling requests to the edge through the gateway (model=edge)",
        description=(
            "A first check of a running edge: about 30 handwritten tool-calling requests (one "
            "tool, several, nested objects, enums, arrays, a follow-up after a tool result, "
            "prose with tools offered, tool_choice variants, streaming) sent with model=edge, "
            "so the edge answers every one. Prints per request the status, latency, number of "
            "calls, whether each call is valid against the request's own schema, and a summary. "
            "With --gateway it uses that running gateway; without, it starts `netgpt serve` here "
            "on a free loopback port with your NETGPT_* edge settings (NETGPT_EDGE_BASE_URL, "
            "NETGPT_EDGE_MODEL, NETGPT_EDGE_FLAVOR, NETGPT_EDGE_CALL_PREFILL, as `netgpt edge "
            "run` prints them; NETGPT_EDGE_TIMEOUT_S 60 unless set) and the cloud, probes, shadow "
            "calls, Redis and logging off."
        ),
        epilog="Exit status 0 when every request was answered 200, 1 otherwise, 2 when the "
               "gateway could not start. Start an edge first: `netgpt edge run`.",
    )
    p.add_argument("--gateway", default=None, metavar="URL",
                   help="a running gateway's base URL (e.g. http://127.0.0.1:8080); default: "
                        "start one here against the edge")
    p.add_argument("--gateway-key", default=None, metavar="KEY",
                   help="client key for --gateway when it requires one")
    p.add_argument("--edge-url", default=None, metavar="URL",
                   help="the edge's OpenAI base URL ending in /v1, for the gateway started here "
                        "(default: NETGPT_EDGE_BASE_URL, else http://127.0.0.1:8000/v1)")
    p.add_argument("--edge-model", default=None, metavar="NAME",
                   help="the edge's model name (default: NETGPT_EDGE_MODEL)")
    p.add_argument("--flavor", choices=["vllm", "llamacpp", "openai"], default=None,
                   help="the edge's flavour (default: NETGPT_EDGE_FLAVOR, else detected)")
    p.add_argument("--prefill", default=None, metavar="TEXT",
                   help="assistant-turn prefill that opens a tool call, e.g. '<tool_call>\\n' "
                        "for SmolLM2 on llama.cpp (default: NETGPT_EDGE_CALL_PREFILL)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds to wait for each answer (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="also write the per-request rows as JSON")
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    pairs = {"NETGPT_EDGE_BASE_URL": args.edge_url, "NETGPT_EDGE_MODEL": args.edge_model,
             "NETGPT_EDGE_FLAVOR": args.flavor, "NETGPT_EDGE_CALL_PREFILL": args.prefill}
    return {k: v for k, v in pairs.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    from edge_worker.check.gateway import CheckGateway, GatewayFailed, check_env, environ

    if args.gateway:
        return _check(args.gateway.rstrip("/"), args)
    with tempfile.TemporaryDirectory(prefix="netgpt-edge-check-") as tmp:
        env = check_env(environ(), Path(tmp) / "var", _overrides(args))
        _say(f"starting `netgpt serve` against the edge at "
             f"{env.get('NETGPT_EDGE_BASE_URL', 'http://127.0.0.1:8000/v1')} (cloud off)")
        try:
            with CheckGateway(env, Path(tmp) / "gateway.log") as gw:
                return _check(gw.url, args)
        except GatewayFailed as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2


def _check(gateway: str, args: argparse.Namespace) -> int:
    from edge_worker.check.run import as_json, run_checks, summary

    rows = run_checks(gateway, _say, key=args.gateway_key, timeout_s=args.timeout)
    _say("\n" + summary(rows))
    if not any(r.status for r in rows):
        sys.stderr.write(f"error: no answer from the gateway at {gateway}: is it running, and "
                         "is the edge up (`netgpt edge run`)?\n")
    if args.out:
        args.out.write_text(as_json(rows), encoding="utf-8")
    return 0 if all(r.status == 200 for r in rows) else 1


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
