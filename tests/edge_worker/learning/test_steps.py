"""The production steps without training: export from a real Redis, the commands a round runs,
resumability and the llama.cpp switch that needs a restarted edge."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_worker.learning import LearnRound, RoundOptions, State, StepFailed, TrainSettings, steps
from gateway.dataset.writer import DatasetWriter
from gateway.metrics import GatewayMetrics
from tests.support.factories import make_record, make_settings
from tests.support.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


async def fill(settings: Any, records: list[dict[str, Any]]) -> None:
    writer = DatasetWriter(settings, GatewayMetrics())
    await writer.start()
    for record in records:
        writer.submit(copy.deepcopy(record))
    await writer.stop()


@pytest.mark.integration
async def test_export_pairs_writes_training_files_from_the_stream(
        tmp_path: Path, redis_server: RedisServer) -> None:
    records = [make_record(i) for i in range(12)]
    await fill(make_settings(tmp_path / "data", redis_server.url), records)
    target = tmp_path / "export"
    result = steps.export_pairs(redis_server.url, "netgpt:pairs", target, tmp_path / "export.log")
    lines = [line for p in target.glob("train-*.jsonl") for line in p.open() if line.strip()]
    assert result["n_train"] == len(lines) > 0
    assert result["peak_rss_mib"] > 0 and result["seconds"] >= 0
    assert all(Path(p).is_file() for p in result["artefacts"])


@pytest.mark.integration
def test_export_of_an_empty_stream_fails_with_its_log(tmp_path: Path,
                                                      redis_server: RedisServer) -> None:
    log = tmp_path / "export.log"
    with pytest.raises(StepFailed, match="wrote no training file") as caught:
        steps.export_pairs(redis_server.url, "netgpt:empty", tmp_path / "export", log,
                           label="round 3")
    assert str(log) in str(caught.value) and "round 3" in str(caught.value)


def test_train_commands_carry_the_settings(tmp_path: Path) -> None:
    opts = TrainSettings(sft_steps=7, batch_size=3, rho=0.4, device="cpu", seed=5)
    sft = steps.train_command("sft", tmp_path / "d", tmp_path / "o", base="base.gguf",
                              sft=tmp_path / "sft", template=tmp_path / "t.jinja", opts=opts)
    assert sft[1:5] == ["-m", "gateway.cli", "train", "sft"]
    for flag, value in (("--model", "base.gguf"), ("--max-steps", "7"), ("--batch-size", "3"),
                        ("--seed", "5"), ("--device", "cpu"),
                        ("--chat-template", str(tmp_path / "t.jinja"))):
        assert sft[sft.index(flag) + 1] == value
    gapg = steps.train_command("gapg", tmp_path / "d", tmp_path / "o", base="b",
                               sft=tmp_path / "sft", template=None, opts=opts)
    assert gapg[gapg.index("--rho") + 1] == "0.4"
    assert gapg[gapg.index("--sft") + 1] == str(tmp_path / "sft")
    assert gapg[gapg.index("--nll-batch") + 1] == "3"
    rl = steps.train_command("rl", tmp_path / "d", tmp_path / "o", base="b",
                             sft=tmp_path / "sft", template=None, opts=opts)
    assert "--rho" not in rl and "--model" not in rl


def test_a_failing_step_says_which_and_where_its_log_is(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    cmd = ["python3", "-c", "import sys; print('boom'); sys.exit(3)"]
    with pytest.raises(StepFailed, match="exit 3") as caught:
        steps.run_measured(cmd, log)
    assert "boom" in str(caught.value) and str(log) in str(caught.value)


def _opts(tmp_path: Path, **kw: Any) -> RoundOptions:
    base: dict[str, Any] = {
        "out": tmp_path / "round", "redis_url": "redis://127.0.0.1:1/0", "stream": "s",
        "gateway_url": "http://127.0.0.1:1", "edge_url": "http://127.0.0.1:1/v1",
        "flavor": "vllm", "model": str(tmp_path / "hf"), "name": "edge-r1"}
    return RoundOptions(**{**base, **kw})


def test_the_shipped_variant_must_be_trained(tmp_path: Path) -> None:
    with pytest.raises(StepFailed, match="--ship rl"):
        LearnRound(_opts(tmp_path, variants=("sft", "gapg"), ship="rl"), print)
    with pytest.raises(StepFailed, match="sft must be trained"):
        LearnRound(_opts(tmp_path, variants=("gapg",), ship="gapg"), print)


def _done(state: State, step: str, artefact: Path, **extra: Any) -> None:
    artefact.parent.mkdir(parents=True, exist_ok=True)
    artefact.write_text("{}")
    state.record(step, {"artefacts": [str(artefact)], **extra})


def test_a_finished_round_is_resumed_not_rerun(tmp_path: Path) -> None:
    """Every step done earlier is skipped; --no-switch returns the adapter to ship."""
    opts = _opts(tmp_path, switch=False)
    state = State(opts.out.mkdir(parents=True) or opts.out)
    _done(state, "export", opts.out / "export" / "train-0.jsonl", n_train=4)
    for kind in ("sft", "gapg"):
        _done(state, f"train-{kind}", opts.out / kind / "model_card.json")
    said: list[str] = []
    result = LearnRound(opts, said.append).run()
    assert result == {"adapter": str(opts.out / "gapg"), "switched": False}
    assert sum("done earlier, skipped" in s for s in said) == 3
    assert json.loads((opts.out / "state.json").read_text())["steps"].keys() == {
        "export", "train-sft", "train-gapg"}


@pytest.mark.llamacpp
@pytest.mark.integration
@pytest.mark.slow
def test_llamacpp_switch_needs_an_edge_started_with_the_adapter(real_edge: Any,
                                                                tmp_path: Path) -> None:
    """The real llama-server has no such adapter: the round stops before the switch and says
    how to restart the edge with it."""
    gguf = tmp_path / "base.gguf"
    gguf.write_bytes(b"GGUF")
    opts = _opts(tmp_path, flavor="llamacpp", model=str(gguf), edge_url=real_edge.base_url)
    state = State(opts.out.mkdir(parents=True) or opts.out)
    _done(state, "export", opts.out / "export" / "train-0.jsonl", n_train=4)
    _done(state, "base-hf", opts.out / "base-hf" / "config.json")
    for kind in ("sft", "gapg"):
        _done(state, f"train-{kind}", opts.out / kind / "model_card.json")
    _done(state, "convert", opts.out / "adapter.gguf")
    with pytest.raises(StepFailed) as caught:
        LearnRound(opts, print).run()
    message = str(caught.value)
    assert f"netgpt edge run --lora {opts.out / 'adapter.gguf'}" in message
    assert "netgpt edge load-adapter" in message
    assert "switch" not in json.loads((opts.out / "state.json").read_text())["steps"]
