"""NETGPT_EDGE_EXPERTS_FILE: the experts file, its errors (naming the field), and `netgpt serve`
refusing to start on a bad one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, EdgeSettings, Settings
from gateway.experts.config import SINGLE_EXPERT, check_experts, load_experts, read_experts_file

GOOD = """
[[expert]]
name = "smol-p1"
base_url = "http://127.0.0.1:8081/v1"
model = "smollm2"
flavor = "llamacpp"
slots = 1
context_limit = 4096
tags = ["weather"]

[[expert]]
name = "big"
base_url = "http://10.0.0.2:8000/v1"
model = "qwen-7b"
flavor = "vllm"
api_key = "sk-expert-secret"
metrics_url = "http://10.0.0.2:9000/metrics"
quality = 0.8

[expert.latency]
ttft_s = 0.2
tpot_s = 0.03
tpot_s_per_extra = 0.01
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experts.toml"
    path.write_text(text)
    return path


def test_a_good_file_gives_one_expert_per_table_with_its_own_edge_settings(tmp_path):
    settings = Settings(edge=EdgeSettings(experts_file=write(tmp_path, GOOD), timeout_s=3.0))
    experts = load_experts(settings)
    assert [e.name for e in experts] == ["smol-p1", "big"]
    smol, big = experts
    assert str(smol.edge.base_url) == "http://127.0.0.1:8081/v1" and smol.edge.model == "smollm2"
    assert smol.edge.flavor == "llamacpp" and smol.edge.timeout_s == 3.0  # the rest inherited
    assert big.edge.api_key is not None and big.edge.api_key.get_secret_value() == "sk-expert-secret"
    assert smol.config.scrape_url() == "http://127.0.0.1:8081/metrics"
    assert big.config.scrape_url() == "http://10.0.0.2:9000/metrics"
    assert big.config.quality == 0.8 and smol.config.tags == ["weather"]
    assert big.config.latency is not None and big.config.latency.tpot_s == 0.03
    assert smol.config.latency is None


def test_without_a_file_the_one_edge_is_a_list_of_one_unchanged():
    settings = Settings(edge=EdgeSettings(base_url="http://127.0.0.1:9999/v1", model="m"))
    (only,) = load_experts(settings)
    assert only.name == SINGLE_EXPERT
    assert only.edge is settings.edge  # the very settings: flavor detection etc. unchanged


def test_an_openai_expert_without_metrics_is_probed_on_models():
    from gateway.experts.config import ExpertConfig

    cfg = ExpertConfig(name="o", base_url="http://h:1/v1", model="m", flavor="openai")
    assert cfg.scrape_url() is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace('flavor = "vllm"', 'flavor = "tgi"'), "expert[1].flavor"),
        (GOOD.replace('model = "qwen-7b"\n', ""), "expert[1].model: Field required"),
        (GOOD.replace('name = "big"', 'name = "smol-p1"'), "used twice"),
        (GOOD.replace("slots = 1", "slots = 0"), "expert[0].slots"),
        (GOOD.replace('base_url = "http://10.0.0.2:8000/v1"', 'base_url = "not a url"'), "expert[1].base_url"),
        (GOOD.replace("quality = 0.8", "quality = 1.5"), "expert[1].quality"),
        (GOOD.replace("tpot_s = 0.03", "tpot_s = -1"), "expert[1].latency.tpot_s"),
        (GOOD + 'colour = "red"\n', "expert[1].latency.colour: Extra inputs are not permitted"),
        ('name = "x"\n', "expert: Field required"),
        ("expert = []\n", "expert: List should have at least 1 item"),
        ("[[expert]\nname=", "is not valid TOML"),
        (GOOD.replace('name = "big"', 'name = "big expert!"'), "expert[1].name"),
    ],
)
def test_a_bad_file_is_a_config_error_naming_the_variable_and_the_field(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        read_experts_file(path)
    message = str(err.value)
    assert message.startswith(f"NETGPT_EDGE_EXPERTS_FILE: {path}")
    assert expected in message


def test_a_missing_file_says_it_cannot_be_read(tmp_path):
    with pytest.raises(ConfigError, match="NETGPT_EDGE_EXPERTS_FILE: cannot read"):
        read_experts_file(tmp_path / "nope.toml")


def test_an_unknown_placement_policy_is_refused():
    settings = Settings(routing={"placement_policy": "fastest"})
    with pytest.raises(ConfigError, match="NETGPT_ROUTING_PLACEMENT_POLICY: unknown policy 'fastest'"):
        check_experts(settings)


def _serve(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NETGPT_")}
    full.update(env, NETGPT_DATA_DIR=str(tmp_path / "var"))
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", "1"],
        env=full, capture_output=True, text=True, timeout=60,
    )


def test_netgpt_serve_exits_2_naming_the_field_of_a_bad_experts_file(tmp_path):
    path = write(tmp_path, GOOD.replace("slots = 1", 'slots = "two"'))
    done = _serve({"NETGPT_EDGE_EXPERTS_FILE": str(path)}, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "netgpt: invalid configuration: NETGPT_EDGE_EXPERTS_FILE" in done.stderr
    assert "expert[0].slots" in done.stderr
    assert "Traceback" not in done.stderr


def test_netgpt_serve_exits_2_on_an_unknown_policy_or_a_bad_slo(tmp_path):
    done = _serve({"NETGPT_ROUTING_PLACEMENT_POLICY": "nope"}, tmp_path)
    assert done.returncode == 2 and "NETGPT_ROUTING_PLACEMENT_POLICY" in done.stderr
    done = _serve({"NETGPT_SLO_TTFT_MS": "-5"}, tmp_path)
    assert done.returncode == 2 and "NETGPT_SLO_TTFT_MS" in done.stderr


def test_a_latency_prior_is_where_the_experts_model_starts(tmp_path):
    from gateway.experts.load import LiveLoad
    from gateway.experts.placer import ExpertPlacer
    from gateway.experts.quality import QualityHolder
    from gateway.metrics import GatewayMetrics

    settings = Settings(edge=EdgeSettings(experts_file=write(tmp_path, GOOD)))
    experts = load_experts(settings)
    metrics = GatewayMetrics()
    placer = ExpertPlacer(settings, experts, {}, LiveLoad(experts, settings.experts, metrics),
                          QualityHolder(), metrics)
    assert placer.models["big"].coefficients["tpot_s"] == 0.03
    assert placer.models["big"].coefficients["ttft_s"] == 0.2
    assert placer.models["smol-p1"].coefficients["tpot_s"] == 0.02  # the generic default
