"""Start the real llama-server: its flags, and a managed process for tests, benchmarks and demos.

    with LlamaServer(model="smollm2", parallel=2) as srv:
        client = OpenAI(base_url=srv.base_url, api_key="none")

The server listens on loopback, loads the GGUF, renders the project's tool-capable template
(``--jinja --chat-template-file``), exports Prometheus metrics (``--metrics``: the
``llamacpp:requests_processing`` / ``requests_deferred`` / ``predicted_tokens_seconds`` gauges
the gateway reads) and caps its prompt cache (``--cache-ram``) so its memory stays bounded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from edge_worker.llamacpp.build import ensure_llama_server
from edge_worker.llamacpp.models import DEFAULT_MODEL, ensure_model, spec, template_path
from edge_worker.server_process import ServerProcess

DEFAULT_CTX_PER_SLOT = 4096
DEFAULT_CACHE_RAM_MIB = 256


def server_command(
    binary: Path,
    model_path: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    parallel: int = 1,
    threads: int | None = None,
    ctx_per_slot: int = DEFAULT_CTX_PER_SLOT,
    template: Path | None = None,
    alias: str | None = None,
    lora: Sequence[Path] = (),
    lora_init_without_apply: bool = False,
    cache_ram_mib: int = DEFAULT_CACHE_RAM_MIB,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The llama-server command line the project runs (``netgpt edge run --dry-run`` prints it)."""
    cmd = [
        str(binary), "--model", str(model_path), "--host", host, "--port", str(port),
        "--parallel", str(parallel), "--ctx-size", str(ctx_per_slot * parallel),
        "--threads", str(threads or default_threads()),
        "--jinja", "--metrics", "--no-webui", "--cache-ram", str(cache_ram_mib),
    ]
    if template is not None:
        cmd += ["--chat-template-file", str(template)]
    if alias:
        cmd += ["--alias", alias]
    for adapter in lora:
        cmd += ["--lora", str(adapter)]
    if lora and lora_init_without_apply:
        cmd.append("--lora-init-without-apply")
    return [*cmd, *extra_args]


def default_threads() -> int:
    """All cores but one: the gateway shares the edge box with the model.

    Measured here (2 cores, machine shared with other jobs, load ~10): one BFCL-sized request
    took 69 s with 2 threads (llama.cpp's threads wait for each other at every step, and with
    more runnable threads than cores they mostly wait) against 14 s with 1 thread.
    """
    return max(1, (os.cpu_count() or 2) - 1)


class LlamaServer(ServerProcess):
    """A llama-server process on a free loopback port; a context manager.

    ``model`` names a model of :mod:`edge_worker.llamacpp.models`; ``model_path`` serves another
    GGUF (a trained one) with that model's template. ``kill()``/``start()`` let fault tests take
    it down and bring it back on the same port.
    """

    label = "llama-server"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        model_path: Path | None = None,
        port: int | None = None,
        parallel: int = 1,
        threads: int | None = None,
        ctx_per_slot: int = DEFAULT_CTX_PER_SLOT,
        lora: Sequence[Path] = (),
        lora_init_without_apply: bool = False,
        extra_args: Sequence[str] = (),
        alias: str | None = None,
        log_path: Path | None = None,
        ready_timeout_s: float = 120.0,
    ) -> None:
        super().__init__(port=port, log_path=log_path, ready_timeout_s=ready_timeout_s)
        self.spec = spec(model)
        self.model_path = Path(model_path) if model_path else None
        self.parallel = parallel
        self.threads = threads
        self.ctx_per_slot = ctx_per_slot
        self.lora = tuple(Path(p) for p in lora)
        self.lora_init_without_apply = lora_init_without_apply
        self.extra_args = tuple(extra_args)
        self.alias = alias or self.spec.name

    def command(self) -> list[str]:
        binary = ensure_llama_server()
        gguf = self.model_path or ensure_model(self.spec.name)
        return server_command(
            binary, gguf, host=self.host, port=self.port, parallel=self.parallel,
            threads=self.threads, ctx_per_slot=self.ctx_per_slot,
            template=template_path(self.spec.name), alias=self.alias, lora=self.lora,
            lora_init_without_apply=self.lora_init_without_apply, extra_args=self.extra_args,
        )

