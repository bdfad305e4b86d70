"""``netgpt calibrate``: records (Redis stream or spool) → fit → file → loaded by the gateway."""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis

from gateway.config import Settings
from gateway.dataset.record import DatasetRecord, encode
from gateway.metrics import GatewayMetrics
from gateway.policy import calibrate_cli
from gateway.policy import calibration_store as calibrate
from gateway.routing.calibration import Calibration

REDIS_URL = os.environ.get("NETGPT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _call(city: str) -> dict:
    return {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": json.dumps({"city": city})},
    }


def _record(i: int, rng: random.Random, **overrides) -> dict:
    """A dataset record as the gateway writes it; the edge agrees with the cloud more often
    when its tokens were more likely."""
    mean_lp = -rng.uniform(0.0, 2.0)
    agree = rng.random() < math.exp(mean_lp)
    raw = {
        "id": f"r{i}:routed",
        "request_id": f"r{i}",
        "kind": "routed" if i % 3 else "shadow",
        "created_at": 1.7e9 + i,
        "route": "cloud",
        "reason": "score_below_threshold",
        "score": 0.4,
        "threshold": 0.6,
        "request": {"model": "auto", "messages": [{"role": "user", "content": "weather?"}]},
        "edge_draft": {
            "message": {"role": "assistant", "tool_calls": [_call("Oslo" if agree else "Bergen")]},
            "schema_valid": True,
            "mean_logprob": mean_lp,
            "min_logprob": mean_lp * 2,
        },
        "cloud_response": {"message": {"role": "assistant", "tool_calls": [_call("Oslo")]}},
        "price": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
        "tokens": {"input": 100, "output": 20},
        "cost_usd": 2.7e-5,
        "models": {"edge": "edge-small", "cloud": "cloud-large"},
    }
    raw.update(overrides)
    return DatasetRecord.model_validate(raw).model_dump(mode="json")  # the real schema


def _records(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [_record(i, rng) for i in range(n)]


def test_examples_skip_records_that_cannot_teach() -> None:
    rng = random.Random(1)
    good = _record(1, rng)
    invalid = _record(2, rng, edge_draft={**good["edge_draft"], "schema_valid": False})
    offload = _record(3, rng, reason="offload_requested")
    no_edge = _record(4, rng, edge_draft=None)
    no_cloud = _record(5, rng, cloud_response=None)
    scores, labels, skipped = calibrate.examples([good, invalid, offload, no_edge, no_cloud])
    assert len(scores) == 1 and skipped == 4
    assert 0 < scores[0] <= 1
    assert labels[0] == (
        good["edge_draft"]["message"]["tool_calls"][0]["function"]["arguments"]
        == json.dumps({"city": "Oslo"})
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netgpt")
    calibrate_cli.register(parser.add_subparsers(dest="command"))
    return parser


def test_cli_fits_from_spool_and_gateway_loads_it(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("NETGPT_REDIS_URL", raising=False)
    monkeypatch.delenv("NETGPT_CALIBRATION_FILE", raising=False)
    spool = tmp_path / "var" / "dataset"
    spool.mkdir(parents=True)
    records = _records(300)
    (spool / "spool.jsonl").write_bytes(
        b"".join(encode(DatasetRecord.model_validate(r)) + b"\n" for r in records) + b"not json\n"
    )
    args = _parser().parse_args(["calibrate", "--data-dir", str(tmp_path / "var"), "--no-progress"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "fitted isotonic calibration on 300 records" in out
    path = tmp_path / "var" / "calibration.json"
    calibration, meta = calibrate.load_calibration(path)
    assert isinstance(calibration, Calibration)
    assert meta["loaded"] is True and meta["n"] == 300 and meta["method"] == "isotonic"
    # agreement grows with the raw score, and the fit says so
    assert calibration(0.2) < calibration(0.9)


def test_cli_refuses_too_few_records_and_says_what_to_do(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("NETGPT_REDIS_URL", raising=False)
    args = _parser().parse_args(
        [
            "calibrate",
            "--from-spool",
            "--data-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "c.json"),
        ]
    )
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "only 0 usable records" in err and "NETGPT_CALIBRATION_MIN_RECORDS" in err
    assert not (tmp_path / "c.json").exists()


def test_cli_without_redis_configured(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("NETGPT_REDIS_URL", raising=False)
    args = _parser().parse_args(["calibrate", "--from-redis", "--data-dir", str(tmp_path)])
    assert args.func(args) == 1
    assert "NETGPT_REDIS_URL" in capsys.readouterr().err


@pytest.mark.integration
async def test_refit_reads_the_redis_stream(tmp_path: Path) -> None:
    key = f"test:pairs:{uuid.uuid4().hex}"
    settings = Settings(
        redis_url=REDIS_URL,
        data_dir=tmp_path,
        dataset={"stream_key": key},
        calibration={"method": "platt", "min_records": 100},
    )
    redis = Redis.from_url(REDIS_URL)
    try:
        # more than one XRANGE page, plus an entry that is not a record
        for record in _records(1200, seed=3):
            await redis.xadd(key, {"record": encode(DatasetRecord.model_validate(record))})
        await redis.xadd(key, {"other": "x"})
        holder = calibrate.CalibrationHolder(settings, GatewayMetrics())
        state = await holder.refit(redis)
    finally:
        await redis.delete(key)
        await redis.aclose()
    assert state["fitted"] and state["n"] == 1200 and state["method"] == "platt"
    assert state["source"] == f"redis stream {key}"
    loaded, stored = calibrate.load_calibration(settings.calibration_file)
    assert loaded is not None and loaded.a > 0
    assert holder(0.3) == loaded(0.3)
    assert stored["fitted_at"] == state["fitted_at"]


@pytest.mark.integration
def test_cli_reads_redis(tmp_path: Path, monkeypatch, capsys) -> None:
    import asyncio

    key = f"test:pairs:{uuid.uuid4().hex}"

    async def fill() -> None:
        redis = Redis.from_url(REDIS_URL)
        for record in _records(80, seed=5):
            await redis.xadd(key, {"record": encode(DatasetRecord.model_validate(record))})
        await redis.aclose()

    async def drop() -> None:
        redis = Redis.from_url(REDIS_URL)
        await redis.delete(key)
        await redis.aclose()

    asyncio.run(fill())
    monkeypatch.setenv("NETGPT_DATASET_STREAM_KEY", key)
    try:
        args = _parser().parse_args(
            ["calibrate", "--redis-url", REDIS_URL, "--data-dir", str(tmp_path), "--no-progress"]
        )
        assert args.func(args) == 0
    finally:
        asyncio.run(drop())
    assert "on 80 records" in capsys.readouterr().out
    assert calibrate.load_calibration(tmp_path / "calibration.json")[0] is not None


def test_load_missing_or_damaged_file(tmp_path: Path) -> None:
    calibration, meta = calibrate.load_calibration(tmp_path / "none.json")
    assert calibration is None and meta["loaded"] is False and "error" not in meta
    bad = tmp_path / "bad.json"
    bad.write_text('{"calibration": {"method": "isotonic", "xs": [0.5, 0.1], "ys": [0, 1]}}')
    calibration, meta = calibrate.load_calibration(bad)
    assert calibration is None and "increasing" in meta["error"]
    bad.write_text("{")
    assert calibrate.load_calibration(bad)[0] is None


def test_calibration_age_metric_and_state() -> None:
    metrics = GatewayMetrics()
    now = [1000.0]
    meta = {"fitted_at": 900.0, "n": 10}
    calibrate.bind_calibration_age(metrics, meta, clock=lambda: now[0])
    assert metrics.registry.get_sample_value("netgpt_calibration_age_seconds") == 100.0
    now[0] = 1060.0
    assert metrics.registry.get_sample_value("netgpt_calibration_age_seconds") == 160.0
    assert calibrate.calibration_state(meta, 1060.0)["age_s"] == 160.0
    calibrate.bind_calibration_age(metrics, {"loaded": False})
    assert metrics.registry.get_sample_value("netgpt_calibration_age_seconds") == -1.0
