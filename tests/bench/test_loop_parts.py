"""The learning loop's parts that need no model: the honest split, the leak check, the figures,
the resumable state and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.loop.data import (
    LeakError,
    assert_disjoint,
    body,
    hash_fraction,
    load_split,
    split_requests,
)
from bench.loop.measure import Row, summarise
from bench.loop.report import target_notes, write_report, write_rounds
from edge_worker.learning.state import State
from gateway.dataset.record import request_hash
from tests.bench.loop_data import write_loop_data


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_loop_data(tmp_path_factory.mktemp("loopdata"))


def test_split_is_a_stable_partition_by_id(data: Path) -> None:
    a, b = load_split(data, 0.25), load_split(data, 0.25)
    assert [r.prompt_id for r in a.held_out] == [r.prompt_id for r in b.held_out]
    held = {r.prompt_id for r in a.held_out}
    traffic = {r.prompt_id for r in a.traffic}
    assert held and traffic and not held & traffic
    # a bigger held-out share only moves requests from traffic to held-out
    bigger = {r.prompt_id for r in load_split(data, 0.5).held_out}
    assert held <= bigger


def test_a_question_repeated_across_categories_stays_held_out_only(data: Path) -> None:
    split = load_split(data, 0.3)
    held, traffic = split.held_out[0], split.traffic[0]
    # an id the hash puts on the traffic side, asking a held-out question
    traffic_id = next(f"clone_{i}" for i in range(100) if hash_fraction(f"clone_{i}") >= 0.3)
    clone = type(traffic)(**{**{f: getattr(traffic, f) for f in traffic.__dataclass_fields__},
                             "question": held.question, "prompt_id": traffic_id})
    again = split_requests([*split.held_out, *split.traffic, clone], 0.3)
    assert clone.prompt_id not in {r.prompt_id for r in again.traffic}


def _export(tmp: Path, requests: list) -> Path:
    out = tmp / "export"
    out.mkdir(parents=True)
    lines = []
    for r in requests:
        b = body(r)
        lines.append(json.dumps({
            "messages": [*b["messages"], {"role": "assistant", "content": "x"}],
            "tools": b["tools"], "id": "gw-1", "request_hash": request_hash(b),
        }))
    (out / "train-00000.jsonl").write_text("\n".join(lines) + "\n")
    return out


def test_leak_check_passes_on_traffic_and_fails_on_a_held_out_request(data: Path, tmp_path: Path) -> None:
    split = load_split(data, 0.25)
    clean = _export(tmp_path / "a", split.traffic[:5])
    assert assert_disjoint(clean, split) == 5
    leaky = _export(tmp_path / "b", [*split.traffic[:3], split.held_out[0]])
    with pytest.raises(LeakError, match=split.held_out[0].prompt_id):
        assert_disjoint(leaky, split)


def test_leak_check_catches_the_question_even_when_the_hash_differs(data: Path, tmp_path: Path) -> None:
    split = load_split(data, 0.25)
    out = _export(tmp_path, [split.held_out[1]])
    path = out / "train-00000.jsonl"
    record = json.loads(path.read_text())
    record["request_hash"] = "0" * 64  # e.g. a differently normalised request
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(LeakError):
        assert_disjoint(out, split)


def _row(**kw: object) -> Row:
    base: dict[str, object] = {
        "prompt_id": "p", "category": "simple", "route": "edge",
        "reason": "score_above_threshold", "status": 200, "latency_s": 1.0, "e2e_correct": True,
        "edge_correct": True, "edge_calls": 1, "edge_schema_valid": True, "edge_offload": False,
        "unprompted_call": False, "unprompted_correct": False, "prefilled_correct": True,
        "score": 0.9, "threshold": 0.5,
    }
    base.update(kw)
    return Row(**base)  # type: ignore[arg-type]


def test_summary_figures() -> None:
    rows = [
        _row(),
        _row(route="cloud", reason="offload_requested", edge_offload=True, edge_correct=False,
             prefilled_correct=False, latency_s=3.0),
        _row(route="cloud", reason="score_below_threshold", edge_correct=False,
             edge_schema_valid=False, e2e_correct=False, latency_s=2.0, unprompted_call=True),
        _row(category="relevance", edge_correct=False, edge_schema_valid=False, latency_s=4.0),
    ]
    s = summarise(rows, spend_usd=0.01)
    assert s["edge_accuracy"] == 0.25
    assert s["offload_rate"] == 0.5
    assert s["e2e_accuracy"] == 0.75
    # schema-valid: tool requests where the edge did not ask for help -> rows 0 and 2
    assert s["schema_valid_rate"] == 0.5
    assert s["unprompted_call_rate"] == pytest.approx(1 / 3)
    # the one request that asked for help would have been wrong: precision 1
    assert s["offload_marker_precision"] == 1.0
    assert s["edge_accuracy_by_category"] == {"relevance": 0.0, "simple": 1 / 3}
    assert s["latency_p50_s"] == 3.0 and s["latency_p95_s"] == 4.0
    assert s["reasons"]["offload_requested"] == 1


def test_state_skips_finished_steps_and_redoes_lost_ones(tmp_path: Path) -> None:
    calls: list[str] = []
    artefact = tmp_path / "a.txt"

    def work() -> dict:
        calls.append("ran")
        artefact.write_text("x")
        return {"value": 1, "artefacts": [str(artefact)]}

    State(tmp_path).run("step", work, lambda _t: None)
    again = State(tmp_path)  # a new process reading the file
    assert again.run("step", work, lambda _t: None)["value"] == 1
    assert calls == ["ran"]
    artefact.unlink()  # an artefact that disappeared makes the step run again
    State(tmp_path).run("step", work, lambda _t: None)
    assert calls == ["ran", "ran"]


def test_report_and_rounds_json(tmp_path: Path) -> None:
    rounds = [
        {"round": 0, "model_gguf": "/m/base.gguf", "edge_accuracy": 0.2, "offload_rate": 0.9,
         "e2e_accuracy": 0.8, "schema_valid_rate": 0.9, "cloud_spend_usd": 0.05,
         "edge_accuracy_by_category": {"simple": 0.3}, "traffic": {}, "calibration": {"n": 30}},
        {"round": 1, "model_gguf": "/m/base.gguf", "adapter_gguf": "/m/r1/adapter.gguf",
         "edge_accuracy": 0.5, "offload_rate": 0.6, "e2e_accuracy": 0.81,
         "schema_valid_rate": 0.95, "cloud_spend_usd": 0.03, "kl_to_sft": 0.01,
         "edge_accuracy_by_category": {"simple": 0.6}, "traffic": {}, "calibration": {},
         "training": {"sft": {"seconds": 10.0, "peak_rss_mib": 900.0, "last_loss": 0.3}}},
    ]
    path = write_rounds(tmp_path, rounds)
    assert [r["round"] for r in json.loads(path.read_text())] == [0, 1]
    notes = target_notes(rounds)
    assert "offload -0.300" in notes[0] and "(met" in notes[0]
    report = write_report(tmp_path, rounds, {"command": "netgpt loop --out x", "notes": notes}).read_text()
    assert "replayed" in report and "| 1 | 50.0% |" in report
    assert "adapter.gguf" in report


def test_traffic_slices_are_new_requests_each_round(data: Path) -> None:
    split = load_split(data, 0.2)
    first = split.traffic_slice(0, 10)
    # a resumed run with a smaller --traffic starts after what round 0 already sent
    second = split.traffic_slice(1, 5, start=len(first))
    assert not {r.prompt_id for r in first} & {r.prompt_id for r in second}
    with pytest.raises(Exception, match="lower --traffic"):
        split.traffic_slice(5, 100)


def test_run_all_stops_sending_when_interrupted() -> None:
    # Ctrl-C (or a failed request) must not leave the rest of a round's requests queued
    import threading

    from bench.loop.measure import run_all

    sent: list[int] = []
    lock = threading.Lock()

    def work(item: int) -> int:
        with lock:
            sent.append(item)
        if item == 1:
            raise KeyboardInterrupt
        return item

    with pytest.raises(KeyboardInterrupt):
        run_all(list(range(50)), work, concurrency=2, tick=lambda: None)  # type: ignore[arg-type]
    assert len(sent) < 10, sent


def test_the_shipped_variant_cannot_be_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    assert main(["loop", "--out", str(tmp_path / "out"), "--skip-variant", "gapg"]) == 1
    assert "--skip-variant gapg: that is the variant --ship sends" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything ran


@pytest.mark.parametrize("required", [False, True])
def test_gateway_env_passes_the_calibration_requirement(data: Path, tmp_path: Path, required: bool) -> None:
    from bench.loop.run import Loop, LoopOptions

    loop = Loop.__new__(Loop)  # no model fetch: only the gateway's environment is built
    loop.o = LoopOptions(out=tmp_path, data=data, require_calibration=required)
    loop.out, loop.split, loop.stream_prefix = tmp_path, load_split(data, 0.2), "netgpt:loop:t"
    env = loop.gateway_env(1, "http://edge/v1", "http://cloud", logging=True, redis_url="redis://x")
    assert env["NETGPT_CALIBRATION_REQUIRED"] == ("true" if required else "false")
    assert env["NETGPT_REDIS_URL"] == "redis://x" and env["NETGPT_DATASET_ENABLED"] == "true"


def test_gateway_env_gives_each_round_its_verifier_file(data: Path, tmp_path: Path) -> None:
    from bench.loop.run import Loop, LoopOptions

    loop = Loop.__new__(Loop)
    loop.o = LoopOptions(out=tmp_path, data=data, min_records=7)
    loop.out, loop.split, loop.stream_prefix = tmp_path, load_split(data, 0.2), "netgpt:loop:t"
    traffic = loop.gateway_env(1, "http://e/v1", "http://c", logging=True, redis_url="redis://x")
    measure = loop.gateway_env(1, "http://e/v1", "http://c", logging=False, redis_url="")
    # the measuring gateway (another data dir, no Redis) loads the fit the traffic's refit wrote
    assert traffic["NETGPT_VERIFIER_FILE"] == measure["NETGPT_VERIFIER_FILE"] == str(
        tmp_path / "round-1" / "verifier.json")
    assert traffic["NETGPT_VERIFIER_MIN_RECORDS"] == "7"
    assert traffic["NETGPT_VERIFIER_REDIS_KEY"] == "netgpt:loop:t:verifier"
