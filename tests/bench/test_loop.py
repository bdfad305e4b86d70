"""CI's micro-loop: ``netgpt loop --quick`` end to end with the real model.

The real llama-server and SmolLM2 (built and fetched like ``netgpt edge install``), the real
gateway process, a redis-server the loop starts, training on the CPU from the GGUF, the adapter
converted back to GGUF and switched on in the running llama-server. The data is the test's own
BFCL-shaped set (tests/bench/loop_data.py) with a replayed cloud. It asserts the pipeline —
every artefact produced, loaded and served, the held-out figures computed — not an improvement:
a dozen examples and three steps are too few to show one (the benchmark in the README does).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.loop.data import assert_disjoint, load_split, training_hashes
from tests.bench.loop_data import write_loop_data

# the module fixture runs the whole micro-loop inside the first test's setup
pytestmark = [pytest.mark.loop, pytest.mark.slow, pytest.mark.timeout(2400)]

REQUIRED = ("round", "edge_accuracy", "schema_valid_rate", "offload_rate", "e2e_accuracy",
            "cloud_spend_usd", "model_gguf")


def _loop(data: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "loop", "--quick", "--data", str(data),
         "--out", str(out), "--seed", "1"],
        capture_output=True, text=True, timeout=1800, check=False,
    )


@pytest.fixture(scope="module")
def loop_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("loop")
    data = write_loop_data(root / "data")
    out = root / "out"
    return data, out, _loop(data, out)


def test_quick_loop_produces_every_artefact(loop_run: tuple[Path, Path, subprocess.CompletedProcess[str]]) -> None:
    data, out, proc = loop_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    rounds = json.loads((out / "rounds.json").read_text())
    assert [r["round"] for r in rounds] == [0, 1]
    for r in rounds:
        for key in REQUIRED:
            assert key in r, key
        for key in ("edge_accuracy", "schema_valid_rate", "offload_rate", "e2e_accuracy"):
            assert r[key] is None or 0.0 <= r[key] <= 1.0
        assert r["n_held_out"] == 8 and r["errors"] == 0
        assert Path(r["model_gguf"]).is_file()
        assert r["cloud_spend_usd"] >= 0
    # round 1 serves the trained adapter, converted to GGUF and switched on without a restart
    adapter = Path(rounds[1]["adapter_gguf"])
    assert adapter.is_file() and adapter.stat().st_size > 100_000
    shipped = (out / "round-1" / "load-adapter.log").read_text()
    assert "scale 1" in shipped and "gateway edge model:" in shipped
    # the merged model went back to GGUF too (the next round's base)
    assert (out / "round-1" / "merged-hf" / "config.json").is_file()
    assert (out / "round-1" / "merged.gguf").stat().st_size > 50_000_000
    # each training step wrote its adapter and card; the policy steps logged a KL to SFT
    for kind in ("sft", "rl", "gapg"):
        card = json.loads((out / "round-1" / kind / "model_card.json").read_text())
        assert card["kind"] == kind and card["training"]["steps"] >= 1
    assert rounds[1]["kl_to_sft"] is not None and rounds[1]["kl_to_sft"] >= 0
    assert rounds[1]["training"]["sft"]["peak_rss_mib"] > 100
    # the traffic went through Redis and the export: the training set holds no held-out request
    split = load_split(data, 0.2)
    export = out / "round-0" / "export"
    assert assert_disjoint(export, split) > 0
    assert not training_hashes(export) & set(split.held_out_hashes())
    assert rounds[0]["traffic"]["requests"] == 12
    # each round measured every held-out request, one row each
    for r in (0, 1):
        lines = (out / f"round-{r}" / "held_out.jsonl").read_text().splitlines()
        assert len(lines) == 8
        assert {json.loads(line)["prompt_id"] for line in lines} == {
            q.prompt_id for q in split.held_out_sample(8)
        }
    report = (out / "report.md").read_text()
    assert "replayed" in report and "rounds.png" in report
    assert (out / "rounds.png").stat().st_size > 1000


def test_rerun_resumes_and_skips_finished_steps(loop_run: tuple[Path, Path, subprocess.CompletedProcess[str]]) -> None:
    data, out, first = loop_run
    assert first.returncode == 0
    before = (out / "rounds.json").read_text()
    again = _loop(data, out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "done earlier, skipped" in again.stderr
    assert "train sft" not in again.stderr  # nothing was trained twice
    assert json.loads((out / "rounds.json").read_text()) == json.loads(before)
