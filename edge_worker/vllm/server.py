"""Start the real vLLM OpenAI server: its command line, and a managed process for tests and benches.

    with VllmServer("smollm2") as srv:
        client = OpenAI(base_url=srv.base_url, api_key="none")

The settings that work on a CPU box (measured here, 2 cores with AVX2): ``--dtype float32``
(bfloat16 prefills about 3x slower without AVX-512 BF16), ``--enforce-eager`` (ready in about a
minute instead of 3-4 with graph compilation), ``--max-model-len 2048``, the KV cache capped by
``VLLM_CPU_KVCACHE_SPACE`` (GiB), and tool calls on: the project's tools-aware ChatML template,
``--enable-auto-tool-choice --tool-call-parser hermes`` (without them vLLM refuses every request
that has ``tools``). ``vllm serve`` does not work with the CPU build (its distribution is named
``vllm-cpu``, so ``vllm serve`` fails looking up ``vllm``): the module entry point is used.

vLLM runs its engine in a child process: the server is started in its own process group and
stopped or killed as a group, so no engine is left holding gigabytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from edge_worker.llamacpp.models import DEFAULT_MODEL, spec, template_path
from edge_worker.server_process import ServerProcess, ServerStartError
from edge_worker.vllm.install import Device

DEFAULT_MAX_MODEL_LEN = 2048
DEFAULT_KV_CACHE_GIB = 2
ENTRY_POINT = "vllm.entrypoints.openai.api_server"


def server_command(
    python: Path,
    model_dir: Path,
    *,
    served_name: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    device: Device = "cpu",
    max_model_len: int = DEFAULT_MAX_MODEL_LEN,
    template: Path | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The vLLM command line the project runs (``netgpt edge run --engine vllm --dry-run``)."""
    cmd = [
        str(python), "-m", ENTRY_POINT, "--model", str(model_dir),
        "--served-model-name", served_name, "--host", host, "--port", str(port),
        "--max-model-len", str(max_model_len),
        "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
    ]
    if device == "cpu":
        cmd += ["--dtype", "float32", "--enforce-eager"]
    if template is not None:
        cmd += ["--chat-template", str(template)]
    return [*cmd, *extra_args]


def server_env(device: Device = "cpu", kv_cache_gib: int = DEFAULT_KV_CACHE_GIB) -> dict[str, str]:
    """The environment of the server: the caller's, plus the KV cache size on a CPU box."""
    env = dict(os.environ)
    if device == "cpu":
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
    env.setdefault("VLLM_NO_USAGE_STATS", "1")  # no usage report to a server outside
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never ask a model hub
    return env


class VllmServer(ServerProcess):
    """The vLLM OpenAI server on a free loopback port; a context manager.

    Installs vLLM and converts the model first when needed (minutes, once). ``kill()`` and
    ``start()`` let fault tests take it down and bring it back on the same port.
    """

    label = "vllm"
    poll_s = 0.25
    stop_timeout_s = 20.0

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        port: int | None = None,
        kv_cache_gib: int = DEFAULT_KV_CACHE_GIB,
        max_model_len: int = DEFAULT_MAX_MODEL_LEN,
        extra_args: Sequence[str] = (),
        log_path: Path | None = None,
        ready_timeout_s: float = 600.0,
    ) -> None:
        super().__init__(port=port, log_path=log_path, ready_timeout_s=ready_timeout_s)
        self.spec = spec(model)
        self.kv_cache_gib = kv_cache_gib
        self.max_model_len = max_model_len
        self.extra_args = tuple(extra_args)
        self.device: Device = "cpu"

    def env(self) -> dict[str, str]:
        return server_env(self.device, self.kv_cache_gib)

    def command(self) -> list[str]:
        from edge_worker.vllm.convert import ensure_converted
        from edge_worker.vllm.install import ensure_vllm

        found = ensure_vllm()
        self.device = found.device
        model_dir = ensure_converted(found.python, self.spec.name)
        return server_command(
            found.python, model_dir, served_name=self.spec.name, host=self.host, port=self.port,
            device=found.device, max_model_len=self.max_model_len,
            template=template_path(self.spec.name), extra_args=self.extra_args,
        )


__all__ = ["DEFAULT_KV_CACHE_GIB", "DEFAULT_MAX_MODEL_LEN", "ServerStartError", "VllmServer",
           "server_command", "server_env"]
