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
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from edge_worker.llamacpp.models import DEFAULT_MODEL, spec, template_path
from edge_worker.llamacpp.paths import cache_root
from edge_worker.llamacpp.server import free_port
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


class ServerStartError(RuntimeError):
    """vLLM exited or did not become healthy in time; the message has its log tail."""


class VllmServer:
    """The vLLM OpenAI server on a free loopback port; a context manager.

    Installs vLLM and converts the model first when needed (minutes, once). ``kill()`` and
    ``start()`` let fault tests take it down and bring it back on the same port.
    """

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
        self.spec = spec(model)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.kv_cache_gib = kv_cache_gib
        self.max_model_len = max_model_len
        self.extra_args = tuple(extra_args)
        self.ready_timeout_s = ready_timeout_s
        self.log_path = log_path or (cache_root() / "logs" / f"vllm-{self.port}.log")
        self.device: Device = "cpu"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (ends in /v1)."""
        return self.root_url + "/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

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

    def start(self) -> VllmServer:
        if self.running():
            return self
        cmd = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        try:
            self._proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=server_env(self.device, self.kv_cache_gib), start_new_session=True,
            )
        finally:
            log.close()
        self.wait_ready()
        return self

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                code = self._proc.returncode
                self._signal_group(signal.SIGKILL)
                raise ServerStartError(f"vLLM exited with {code}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.root_url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise ServerStartError(
            f"vLLM not healthy after {self.ready_timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM to the server's process group, then SIGKILL after TIMEOUT_S."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
        self._signal_group(signal.SIGKILL)  # the engine child too, whatever the parent did
        self._reap()

    def kill(self) -> None:
        """SIGKILL to the whole group at once (a crash, for fault tests)."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self._reap()

    def _signal_group(self, sig: int) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, sig)  # start_new_session: the group id is the pid
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.wait()
        # the engine child is in the same group; wait until the group is gone (its memory freed)
        if proc is not None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _group_alive(proc.pid):
                time.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["DEFAULT_KV_CACHE_GIB", "DEFAULT_MAX_MODEL_LEN", "ServerStartError", "VllmServer",
           "server_command", "server_env"]
