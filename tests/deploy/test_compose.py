"""docker-compose.yml, .env.example and the Dockerfile, read as data.

``scripts/check-deploy`` also runs ``docker-compose config`` and promtool on them; these tests
pin what those tools do not check: the contract between the files.
"""

from __future__ import annotations

import re

import pytest
import yaml
from pydantic_settings import BaseSettings

from gateway.config import Settings
from tests.deploy.promql import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")


def setting_env_names(cls: type[BaseSettings] = Settings, prefix: str = "NETGPT_") -> set[str]:
    names = set()
    for field, info in cls.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseSettings):
            names |= setting_env_names(ann, str(ann.model_config.get("env_prefix", "")))
        else:
            names.add((prefix + field).upper())
    return names


def documented(text: str) -> set[str]:
    """Variables .env.example sets or shows commented out (``# NAME=value``)."""
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, re.M))


def test_every_gateway_setting_is_documented_in_env_example():
    missing = setting_env_names() - documented(ENV_EXAMPLE)
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_env_example_names_no_setting_that_does_not_exist():
    netgpt = {n for n in documented(ENV_EXAMPLE) if n.startswith("NETGPT_")}
    assert netgpt - setting_env_names() == set()


def test_every_compose_variable_is_in_env_example():
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert used, "the compose file uses no variable?"
    assert used - documented(ENV_EXAMPLE) == set()


def test_every_service_has_a_healthcheck_and_a_pinned_image():
    for name, svc in SERVICES.items():
        assert svc["healthcheck"]["test"], name
        image = svc["image"]
        # images built here from the Dockerfile may be :latest; pulled ones are pinned
        assert not image.endswith(":latest}") or name in ("gateway", "edge-cpu"), name


def test_start_order_waits_for_healthy_dependencies():
    assert SERVICES["gateway"]["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert SERVICES["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}


def test_gateway_service_wiring():
    gw = SERVICES["gateway"]
    env = gw["environment"]
    assert env["NETGPT_EDGE_BASE_URL"] == "http://edge:8000/v1"
    assert env["NETGPT_REDIS_URL"].startswith("redis://redis:6379")
    assert "/healthz" in " ".join(gw["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/netgpt") for v in gw["volumes"])


def test_vllm_edge_service():
    edge = SERVICES["edge"]
    assert edge["profiles"] == ["gpu"]
    assert edge["image"].startswith("${VLLM_IMAGE:-vllm/vllm-openai:")
    args = edge["command"]
    for flag in ("--enable-auto-tool-choice", "--enable-lora", "--model", "--served-model-name"):
        assert flag in args
    assert args[args.index("--tool-call-parser") + 1] == "hermes"
    assert "EDGE_MODEL" in args[args.index("--model") + 1]
    assert "EDGE_SERVED_NAME" in args[args.index("--served-model-name") + 1]
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING" in edge["environment"]
    device = edge["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert any(v.startswith("hf-cache:") for v in edge["volumes"])
    assert "/health" in " ".join(edge["healthcheck"]["test"])
    assert "vllm" in edge["networks"]["default"]["aliases"]


def test_no_gpu_profile_runs_llama_cpp_as_netgpt_edge_run_does():
    cpu = SERVICES["edge-cpu"]
    assert cpu["profiles"] == ["nogpu"]
    assert cpu["networks"]["default"]["aliases"] == ["edge", "llamacpp"]
    assert cpu["build"]["target"] == "edge-llamacpp"
    cmd = cpu["command"]
    assert cmd[:2] == ["edge", "run"] and cmd[cmd.index("--port") + 1] == "8000"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert "/health" in " ".join(cpu["healthcheck"]["test"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "AS edge-llamacpp" in dockerfile and "netgpt edge install" in dockerfile


def test_host_edge_profile_forwards_to_a_server_on_the_box():
    host = SERVICES["edge-host"]
    assert host["profiles"] == ["hostedge"]
    assert host["networks"]["default"]["aliases"] == ["edge"]
    assert "host.docker.internal:host-gateway" in host["extra_hosts"]
    assert any("EDGE_HOST_PORT" in part for part in host["command"])


def test_redis_keeps_an_append_only_file_on_a_volume():
    redis = SERVICES["redis"]
    cmd = redis["command"]
    assert cmd[cmd.index("--appendonly") + 1] == "yes"
    assert cmd[cmd.index("--appendfsync") + 1] == "everysec"
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert redis["image"].startswith("${REDIS_IMAGE:-redis:7")


def test_prometheus_and_grafana():
    prom = SERVICES["prometheus"]
    for mount in prom["volumes"]:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).exists(), source
    grafana = SERVICES["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert re.search(r"^GRAFANA_ADMIN_PASSWORD=$", ENV_EXAMPLE, re.M), "no default password"
    prom_cfg = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prom_cfg["scrape_configs"]}
    assert jobs["netgpt-gateway"]["static_configs"][0]["targets"] == ["gateway:8080"]
    assert jobs["vllm"]["dns_sd_configs"][0]["names"] == ["vllm"]


DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in (raw.strip() for raw in joined.splitlines())
        if line and not line.startswith("#")
    ]


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck():
    ins = instructions(DOCKERFILE)
    froms = [arg for op, arg in ins if op == "FROM"]
    assert len(froms) >= 2 and all("slim" in f for f in froms)
    # the gateway's stage is `runtime` (compose builds it with target runtime; the llama.cpp and
    # fake-cloud stages come after it, so the classic builder never compiles llama.cpp for it)
    starts = [i for i, (op, _) in enumerate(ins) if op == "FROM"]
    runtime = next(i for i in starts if ins[i][1].endswith(" AS runtime"))
    tail = ins[runtime + 1:next((i for i in starts if i > runtime), len(ins))]
    users = [arg for op, arg in tail if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    health = [arg for op, arg in tail if op == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    assert ("CMD", '["serve", "--host", "0.0.0.0", "--port", "8080"]') in tail
    assert ("ENTRYPOINT", '["netgpt"]') in tail
    assert any(op == "COPY" and arg.startswith("--from=builder") for op, arg in tail)


@pytest.mark.parametrize("package", ["gateway", "cloud_adapter", "edge_worker", "bench"])
def test_build_context_keeps_the_packages(package):
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore and f"!{package}/" in ignore
    assert f"COPY {package} ./{package}" in DOCKERFILE
