"""The `nogpu-vllm` compose profile (deploy/compose.vllm-cpu.yml) read as data: it runs what
`netgpt edge run --engine vllm` runs, from an image that ran `netgpt edge install --engine vllm`.
scripts/check-deploy runs `docker-compose config` on it with the main file."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[3]
OVERRIDE = yaml.safe_load((ROOT / "deploy" / "compose.vllm-cpu.yml").read_text())
DOCKERFILE = (ROOT / "deploy" / "vllm-cpu.Dockerfile").read_text()


def test_the_service_runs_the_cpu_vllm_edge_as_netgpt_edge_run_does() -> None:
    svc = OVERRIDE["services"]["edge-vllm-cpu"]
    assert svc["profiles"] == ["nogpu-vllm"]
    assert svc["build"]["dockerfile"] == "deploy/vllm-cpu.Dockerfile"
    assert svc["build"]["context"] == "."
    cmd = svc["command"]
    assert cmd[:4] == ["edge", "run", "--engine", "vllm"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0" and cmd[cmd.index("--port") + 1] == "8000"
    # the gateway reaches it as `edge`; Prometheus's vllm job as `vllm`
    assert svc["networks"]["default"]["aliases"] == ["edge", "vllm"]
    assert "/health" in " ".join(svc["healthcheck"]["test"])


def test_the_image_bakes_the_install_and_runs_unprivileged() -> None:
    assert "netgpt edge install --engine vllm --device cpu" in DOCKERFILE
    assert re.search(r"^USER 10001:10001$", DOCKERFILE, re.M)
    assert '"--engine", "vllm"' in DOCKERFILE.splitlines()[-1]


def test_its_variables_are_in_env_example() -> None:
    env = (ROOT / ".env.example").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "deploy" / "compose.vllm-cpu.yml").read_text()))
    documented = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", env, re.M))
    assert used and used <= documented, used - documented
