"""A small data directory in the shape of the shared BFCL/outcomes/traces data, generated per test session.

Tests never read the shared data; they write their own BFCL v1 files, outcome table and traces.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

EDGE = "Edge-Model-1b"
CLOUD = "gpt-4o-2024-08-06-FC"
CATEGORIES = (
    "simple",
    "multiple_function",
    "parallel_function",
    "parallel_multiple_function",
    "relevance",
)
EDGE_ERRORS = [
    "value_error:string",
    "ast_decoder:decoder_failed",
    "simple_function_checker:wrong_func_name",
    "simple_function_checker:missing_required",
    "type_error:simple",
    "parallel_function_checker_no_order:wrong_count",
]


def _function(name: str) -> dict:
    return {
        "name": name,
        "description": "test tool",
        "parameters": {
            "type": "dict",
            "properties": {
                "city": {"type": "string", "description": "a city"},
                "days": {"type": "integer", "description": "days"},
                "ratio": {"type": "float", "description": "a ratio", "optional": True},
            },
            "required": ["city", "days"],
        },
    }


def write_dataset(root: Path, per_category: int = 12, seed: int = 0) -> Path:
    rng = random.Random(seed)
    v1 = root / "bfcl" / "v1"
    (v1 / "possible_answer").mkdir(parents=True)
    rows = []
    for category in CATEGORIES:
        questions, answers = [], []
        for i in range(per_category):
            pid = f"{category}_{i}"
            funcs = (
                [_function("weather.get")]
                if category in ("simple", "parallel_function", "relevance")
                else [
                    _function("weather.get"),
                    _function("hotel.book"),
                ]
            )
            questions.append(
                {
                    "id": pid,
                    "question": f"question {pid}",
                    "function": funcs[0] if len(funcs) == 1 else funcs,
                }
            )
            if category != "relevance":
                truth = {"weather.get": {"city": ["Oslo"], "days": [3], "ratio": ["", 0.5]}}
                if category.startswith("parallel"):
                    truth = {
                        "weather.get_1": {"city": ["Oslo"], "days": [3]},
                        "weather.get_2": {"city": ["Cork"], "days": [1]},
                    }
                answers.append({"id": pid, "ground_truth": truth})
            edge_ok = i % 2 == 0  # every other answer wrong, cycling through the error types
            error = (
                "relevance_error:decoder_success"
                if category == "relevance"
                else EDGE_ERRORS[(i // 2) % len(EDGE_ERRORS)]
            )
            edge_error = "" if edge_ok else error
            cloud_ok = rng.random() < 0.9
            rows.append([EDGE, category, i, pid, int(edge_ok), edge_error, "", "", ""])
            rows.append(
                [
                    CLOUD,
                    category,
                    i,
                    pid,
                    int(cloud_ok),
                    "" if cloud_ok else "value_error:string",
                    f"{rng.uniform(0.3, 1.5):.3f}",
                    rng.randint(80, 400),
                    rng.randint(15, 60),
                ]
            )
        name = f"gorilla_openfunctions_v1_test_{category}.json"
        (v1 / name).write_text("\n".join(json.dumps(q) for q in questions) + "\n")
        if answers:
            (v1 / "possible_answer" / name).write_text(
                "\n".join(json.dumps(a) for a in answers) + "\n"
            )
    (root / "outcomes").mkdir()
    with (root / "outcomes" / "bfcl_2024-08-11_selected_long.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "model",
                "category",
                "index",
                "prompt_id",
                "correct",
                "error_type",
                "latency_s",
                "input_tokens",
                "output_tokens",
            ]
        )
        w.writerows(rows)
    traces = root / "traces"
    for folder in ("norway_hsdpa_3g", "fcc_broadband", "mahimahi_cellular", "ucc_5g"):
        (traces / folder).mkdir(parents=True)
    for k in range(2):
        (traces / "norway_hsdpa_3g" / f"norway_bus_{k}").write_text(
            "\n".join(f"{t * 1.0}\t{0.3 + (t % 7) * 0.5 + k}" for t in range(60))
        )
        (traces / "fcc_broadband" / f"trace_{k}.log").write_text(
            "\n".join(f"{t * 5.0}\t{2.0 + (t % 4) + k}" for t in range(36))
        )
        # 20 s of a mahimahi trace: 2 packets per ms in even seconds, 1 in odd ones
        lines = [str(ms) for ms in range(20_000) for _ in range(2 if (ms // 1000) % 2 == 0 else 1)]
        (traces / "mahimahi_cellular" / f"Carrier-LTE-{k}.down").write_text("\n".join(lines))
        with (traces / "ucc_5g" / f"Static_B_{k}.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(
                [
                    "t_s",
                    "dl_mbps",
                    "ul_mbps",
                    "ping_avg_ms",
                    "ping_loss",
                    "network_mode",
                    "speed_kmh",
                    "state",
                ]
            )
            for t in range(60):
                ping = f"{60 + 10 * (t // 14)}" if t % 14 == 4 else ""
                w.writerow([t, 5.0 + (t % 5) * 10, 1.0, ping, "0.0" if ping else "", "5G", 0, "D"])
    return root


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data"))
