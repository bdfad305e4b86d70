"""`netgpt learn round` for real on this CPU: a real Redis stream written by the gateway's own
dataset writer, the export, SFT of a tiny model; then the same command resumes without redoing
anything. (The llama.cpp convert and switch run in the micro-loop, tests/bench/test_loop.py.)"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.dataset.writer import DatasetWriter
from gateway.metrics import GatewayMetrics
from tests.support.factories import make_record, make_settings
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.train, pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


async def _fill(settings: Any, records: list[dict[str, Any]]) -> None:
    writer = DatasetWriter(settings, GatewayMetrics())
    await writer.start()
    for record in records:
        writer.submit(copy.deepcopy(record))
    await writer.stop()


async def test_a_round_exports_trains_and_resumes(tmp_path: Path, redis_server: RedisServer,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    model = tmp_path / "tiny"
    assert main(["train", "make-tiny-model", "--out", str(model)]) == 0
    await _fill(make_settings(tmp_path / "data", redis_server.url),
                [make_record(i) for i in range(24)])
    out = tmp_path / "round"
    argv = ["learn", "round", "--out", str(out), "--redis-url", redis_server.url,
            "--stream", "netgpt:pairs", "--flavor", "vllm", "--model", str(model),
            "--name", "edge-r1", "--variant", "sft", "--no-switch", "--device", "cpu",
            "--sft-steps", "2", "--batch-size", "2", "--eval-limit", "1",
            "--max-new-tokens", "8", "--max-length", "512"]
    capsys.readouterr()
    assert main(argv) == 0
    first = capsys.readouterr()
    assert f"adapter ready: {out / 'sft'}" in first.out
    state = json.loads((out / "state.json").read_text())
    assert set(state["steps"]) == {"export", "train-sft"}
    assert state["steps"]["export"]["n_train"] > 0
    card = json.loads((out / "sft" / "model_card.json").read_text())
    assert card["training"]  # the card of a real SFT run
    assert (out / "sft" / "adapter_config.json").is_file()
    assert main(argv) == 0  # resumed: nothing redone
    again = capsys.readouterr()
    assert again.err.count("done earlier, skipped") == 2
    assert json.loads((out / "state.json").read_text())["steps"] == state["steps"]
