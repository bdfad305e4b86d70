"""``netgpt dataset export`` / ``stats`` against a real redis-server and a real spool."""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import datasets
import jsonschema
import orjson
import pytest

from gateway.dataset import cli as dataset_cli
from gateway.dataset.export import split_of
from gateway.dataset.writer import DatasetWriter
from gateway.metrics import GatewayMetrics
from tests.gateway.dataset.test_writer import wait_until
from tests.support.factories import CLIENT_KEY, CLOUD_KEY, TOOLS, make_record, make_settings

KEY = "netgpt:pairs"
NESTED_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "schedule",
            "parameters": {
                "type": "object",
                "properties": {
                    "slot": {"type": "object", "properties": {"hour": {"type": "integer", "enum": [9, 10]}}},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["slot"],
            },
        },
    }
]


def corpus() -> list[dict[str, Any]]:
    """47 records: 42 exportable, 1 duplicate request, 4 without a valid tool-call answer."""
    records = [make_record(i) for i in range(40)]
    dup = make_record(40, text="What is the weather in   City5? ")  # = request 5, normalised
    dup["request"]["temperature"] = 0.9
    dup["cloud_response"]["message"]["tool_calls"][0]["function"]["arguments"] = (
        '{"city": "City5", "unit": "celsius"}'
    )
    records.append(dup)
    records.append(make_record(41, call=("get_weather", '{"city": "Oslo"}')))  # misses "unit"
    records.append(make_record(42, call=("send_money", "{}")))  # not an offered tool
    text_only = make_record(43)
    text_only["cloud_response"]["message"] = {"role": "assistant", "content": "It is sunny."}
    records.append(text_only)
    records.append(make_record(44, cloud_response=None, cloud_schema_valid=None))
    leaky = make_record(
        45,
        text=f"I am bob@example.com, my key is {CLOUD_KEY}; Authorization: Bearer {CLIENT_KEY}",
        call=("book_table", f'{{"restaurant": "note {CLOUD_KEY}", "people": 2}}'),
    )
    leaky["request"]["metadata"] = {"authorization": f"Bearer {CLIENT_KEY}"}
    records.append(leaky)
    records.append(
        make_record(46, tools=NESTED_TOOLS, call=("schedule", '{"slot": {"hour": 9}, "tags": ["a"]}'))
    )
    return records


async def fill(settings, records: list[dict[str, Any]]) -> None:
    writer = DatasetWriter(settings, GatewayMetrics())
    await writer.start()
    for record in records:
        writer.submit(copy.deepcopy(record))
    await writer.stop()
    stats = writer.stats()
    assert stats["invalid"] == 0 and stats["dropped"] == 0
    assert stats["records"]["redis"] + stats["records"]["spool"] >= len(records)


async def run_cli(capsys, *argv: str) -> dict[str, Any]:
    """``netgpt dataset ...`` in a worker thread (the command runs its own event loop)."""
    parser = argparse.ArgumentParser(prog="netgpt")
    dataset_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dataset", *argv, "--json", "--no-progress"])
    capsys.readouterr()
    assert await asyncio.to_thread(args.func, args) == 0
    return json.loads(capsys.readouterr().out)


def shard_files(out: Path) -> dict[str, list[str]]:
    return {
        split: sorted(str(p) for p in out.glob(f"{split}-*.jsonl")) for split in ("train", "validation")
    }


def check_rows(out: Path, cache: Path) -> list[dict[str, Any]]:
    """Load with datasets exactly as a training script would, and check every target."""
    files = shard_files(out)
    loaded = datasets.load_dataset("json", data_files=files, cache_dir=str(cache))
    rows: list[dict[str, Any]] = []
    for split, paths in files.items():
        on_disk = [orjson.loads(line) for path in paths for line in Path(path).read_bytes().splitlines()]
        assert [dict(row) for row in loaded[split]] == on_disk  # nothing lost or added by Arrow
        for row in on_disk:
            assert split_of(row["request_hash"], 0.3) == split
            target = row["messages"][-1]
            assert target["role"] == "assistant" and target["content"] is None
            schemas = {t["function"]["name"]: t["function"]["parameters"] for t in row["tools"]}
            for call in target["tool_calls"]:
                jsonschema.validate(json.loads(call["function"]["arguments"]), schemas[call["function"]["name"]])
            rows.append(row)
    return rows


async def test_export_through_a_consumer_group(tmp_path: Path, redis_server, capsys) -> None:
    settings = make_settings(tmp_path / "data", redis_server.url)
    records = corpus()
    await fill(settings, records)
    out = tmp_path / "export"
    base = ["export", "--out", str(out), "--redis-url", redis_server.url, "--validation-ratio", "0.3"]

    report = await run_cli(capsys, *base, "--shard-size", "10")
    assert report["read"] == 47
    assert sum(report["written"].values()) == 42
    assert report["skipped"] == {
        "duplicate_request": 1, "schema_invalid": 2, "no_tool_calls": 1, "no_cloud_answer": 1,
    }
    assert report["lag_after"] == 0
    assert len(shard_files(out)["train"]) >= 3  # 10 examples per shard
    rows = check_rows(out, tmp_path / "hf")
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == {r["id"] for r in records[:40]} | {"req-000045:routed", "req-000046:routed"}
    assert by_id["req-000046:routed"]["tools"] == NESTED_TOOLS
    assert by_id["req-000003:routed"]["tools"] == TOOLS
    assert by_id["req-000003:routed"]["messages"][:-1] == records[3]["request"]["messages"]

    before = shard_files(out)
    again = await run_cli(capsys, *base)
    assert again["read"] == 0 and again["written"] == {} and again["files"] == []
    assert shard_files(out) == before

    await fill(settings, [make_record(100), make_record(101), make_record(102, text="What is the weather in City7?")])
    third = await run_cli(capsys, *base)
    assert third["read"] == 3 and sum(third["written"].values()) == 2
    assert third["skipped"] == {"duplicate_request": 1}
    assert all(Path(f).name not in {Path(b).name for v in before.values() for b in v} for f in third["files"])


async def test_interrupted_export_resumes_from_pending_entries(tmp_path: Path, redis_server, capsys) -> None:
    settings = make_settings(tmp_path / "data", redis_server.url)
    await fill(settings, [make_record(i) for i in range(12)])
    client = redis_server.client()
    client.xgroup_create(KEY, "resume", id="0")
    delivered = client.xreadgroup("resume", dataset_cli.DEFAULT_CONSUMER, {KEY: ">"}, count=5)
    assert len(delivered[0][1]) == 5  # a run that died before XACK
    out = tmp_path / "export"
    report = await run_cli(capsys, "export", "--out", str(out), "--redis-url", redis_server.url, "--group", "resume")
    assert report["read"] == 12 and sum(report["written"].values()) == 12
    assert client.xpending(KEY, "resume")["pending"] == 0
    client.close()


async def test_export_and_stats_from_the_spool(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    await fill(make_settings(data, None), corpus())
    out = tmp_path / "export"
    base = ["export", "--out", str(out), "--from-spool", "--data-dir", str(data), "--validation-ratio", "0.3"]
    report = await run_cli(capsys, *base)
    assert report["read"] == 47 and sum(report["written"].values()) == 42
    assert len(check_rows(out, tmp_path / "hf")) == 42
    assert (await run_cli(capsys, *base))["read"] == 0  # once per group

    stats = await run_cli(capsys, "stats", "--from-spool", "--data-dir", str(data))
    assert stats["total"] == 47
    assert stats["route"] == {"cloud": 47}
    assert stats["tool"]["get_weather"] == 42 and stats["tool"]["(no tool call)"] == 2
    assert stats["day"] == {"2026-09-21": 47}


async def test_stats_from_redis(tmp_path: Path, redis_server, capsys) -> None:
    settings = make_settings(tmp_path / "data", redis_server.url)
    await fill(settings, [make_record(i) for i in range(5)] + [make_record(i, kind="shadow") for i in range(3)])
    stats = await run_cli(capsys, "stats", "--redis-url", redis_server.url)
    assert stats["total"] == 8
    assert stats["kind"] == {"routed": 5, "shadow": 3}
    assert stats["route"] == {"cloud": 5, "edge": 3}
    assert stats["reason"] == {"score_below_threshold": 8}


async def test_no_key_in_stream_spool_or_export(tmp_path: Path, redis_server, capsys) -> None:
    """Grep every byte the pipeline wrote: the AOF of the stream, the spool, the shards."""
    data = tmp_path / "data"
    records = corpus()
    await fill(make_settings(data, redis_server.url), records[:30])
    redis_server.stop()  # the rest is spooled (and so is written to disk while Redis is down)
    await fill(make_settings(data, redis_server.url, reconnect_max_s=0.1), records[30:])
    spool_text = (data / "dataset" / "spool.jsonl").read_bytes()
    assert b"req-000045" in spool_text  # the leaky record went through the spool
    for secret in (CLOUD_KEY, CLIENT_KEY):
        assert secret.encode() not in spool_text
    redis_server.start()
    writer = DatasetWriter(make_settings(data, redis_server.url), GatewayMetrics())
    await writer.start()
    await wait_until(lambda: writer.stats()["spool_depth"] == 0)
    await writer.stop()
    await run_cli(capsys, "export", "--out", str(tmp_path / "export"), "--redis-url", redis_server.url)
    await run_cli(capsys, "export", "--out", str(tmp_path / "export-spool"), "--from-spool", "--data-dir", str(data))
    redis_server.stop()  # flush the AOF

    scanned = 0
    for path in tmp_path.rglob("*"):
        if path.is_file() and "hf" not in path.parts:
            blob = path.read_bytes()
            scanned += len(blob)
            for secret in (CLOUD_KEY, CLIENT_KEY, "bob@example.com"):
                assert secret.encode() not in blob, f"{secret} leaked into {path}"
    assert scanned > 50_000  # the AOF, the spool history and the shards were really read
    redis_server.start()
    client = redis_server.client()
    assert client.xlen(KEY) == 47
    client.close()


def test_export_without_redis_configured_says_what_to_do(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("NETGPT_REDIS_URL", raising=False)
    parser = argparse.ArgumentParser(prog="netgpt")
    dataset_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dataset", "export", "--out", str(tmp_path / "o"), "--data-dir", str(tmp_path)])
    assert args.func(args) == 2
    assert "--from-spool" in capsys.readouterr().err


def test_export_with_redis_down_says_what_to_do(tmp_path: Path, capsys) -> None:
    from tests.support.redis_server import free_port

    parser = argparse.ArgumentParser(prog="netgpt")
    dataset_cli.register(parser.add_subparsers(dest="command", required=True))
    url = f"redis://user:hunter2pass@127.0.0.1:{free_port()}/0"
    args = parser.parse_args(["dataset", "export", "--out", str(tmp_path / "o"), "--redis-url", url, "--no-progress"])
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "cannot reach Redis" in err and "--from-spool" in err and "hunter2pass" not in err


@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.5])
def test_split_is_a_stable_function_of_the_hash(ratio: float) -> None:
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(4000)]
    splits = [split_of(d, ratio) for d in digests]
    assert splits == [split_of(d, ratio) for d in digests]
    assert abs(splits.count("validation") / len(splits) - ratio) < 0.03
