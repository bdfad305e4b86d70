"""The LiteLLM proxy as a comparison target: its own virtual environment, one worker, the same
canned upstream (as an OpenAI-compatible model).

The environment lives outside the repository (``--tools-dir``, default
``~/.cache/netgpt-bench``) and is created with ``pip install 'litellm[proxy]'`` on first use
(``--no-install`` refuses to; ``--skip-litellm`` leaves LiteLLM out).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.common import procs

MODEL = "edge"


def venv_bin(tools_dir: Path) -> Path:
    return tools_dir / "litellm-venv" / "bin"


def ensure_installed(tools_dir: Path, *, install: bool) -> Path:
    """The ``litellm`` executable, installing it into its own venv when allowed."""
    exe = venv_bin(tools_dir) / "litellm"
    if exe.exists():
        return exe
    if not install:
        raise RuntimeError(
            f"LiteLLM is not installed under {tools_dir}: drop --no-install to install it, "
            "or pass --skip-litellm"
        )
    venv = tools_dir / "litellm-venv"
    tools_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"], check=True)
    return exe


def version(tools_dir: Path) -> str:
    done = subprocess.run(
        [str(venv_bin(tools_dir) / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True, text=True, check=False,
    )
    return done.stdout.strip() or "unknown"


def config(api_base: str) -> str:
    """LiteLLM's proxy config: one OpenAI-compatible model, nothing else switched on."""
    return f"""model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: {api_base}
      api_key: bench-not-a-secret
litellm_settings:
  telemetry: false
  drop_params: true
"""


def start(exe: Path, api_base: str, rundir: Path, cpus: str | None) -> tuple[procs.Server, int]:
    conf = rundir / "litellm.yaml"
    conf.write_text(config(api_base))
    port = procs.free_port()
    env = dict(os.environ)
    env.update(LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False", NO_DOCS="True")
    # no client auth, like the gateway under test (NETGPT_API_KEYS unset): loopback only
    env["LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY"] = "true"
    # the venv's own python, not ours: its PATH entry comes first
    env["PATH"] = f"{exe.parent}:{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    cmd = [str(exe), "--config", str(conf), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    server = procs.start("litellm", cmd, cpus=cpus, logdir=rundir, env=env)
    try:
        procs.wait_ready(server, f"http://127.0.0.1:{port}/health/liveliness", timeout_s=300)
    except RuntimeError:
        server.stop()
        raise
    return server, port
