"""How faithful the replays are: per recorded model, how many of the 1,240 answers decode, and
how often the project's BFCL AST checker on the decoded answer gives the recorded verdict.

``python -m bench.common.replay [--data DIR] [--model NAME ...]`` prints the table.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.common.replay.loader import Replayed, load_replays, recorded_models

WIDE = Path("outcomes") / "bfcl_2024-08-11_correctness_wide.csv"


def recorded_correctness(data: Path, models: list[str]) -> dict[str, dict[str, bool]]:
    """``{model: {request id: recorded AST verdict}}`` from the wide correctness table."""
    out: dict[str, dict[str, bool]] = {m: {} for m in models}
    with (data / WIDE).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            for m in models:
                value = row.get(m)
                if value in ("0", "1"):
                    out[m][row["prompt_id"]] = value == "1"
    return out


@dataclass
class Agreement:
    model: str
    fmt: str = ""
    total: int = 0
    parsed: int = 0  # the model's parser accepted the output
    with_calls: int = 0  # … and it held at least one call
    agree: int = 0
    recorded_correct: int = 0
    checked_correct: int = 0
    disagreements: Counter[str] = field(default_factory=Counter)  # category → count
    examples: list[str] = field(default_factory=list)


def measure(data: Path, models: list[str] | None = None) -> list[Agreement]:
    from bench.common.ast_check import check
    from bench.common.items import load_items

    models = models or recorded_models(data)
    items = {item.prompt_id: item for item in load_items(data)}
    truth = recorded_correctness(data, models)
    rows = []
    for model in models:
        replays: dict[str, Replayed] = load_replays(data, model)
        row = Agreement(model)
        for rid, rep in replays.items():
            item = items.get(rid)
            recorded = truth[model].get(rid)
            if item is None or recorded is None:
                continue
            row.fmt = rep.answer.format
            row.total += 1
            row.parsed += rep.answer.parsed
            row.with_calls += bool(rep.answer.tool_calls)
            verdict = check(item.category, item.tools, item.ground_truth, rep.answer.tool_calls)
            row.recorded_correct += recorded
            row.checked_correct += verdict.correct
            if verdict.correct == recorded:
                row.agree += 1
            else:
                row.disagreements[item.category] += 1
                if len(row.examples) < 5:
                    row.examples.append(f"{rid}: recorded {recorded}, checker {verdict}")
        rows.append(row)
    return rows


def table(rows: list[Agreement]) -> str:
    lines = [
        "| model | format | requests | parsed | with calls | recorded correct | checker correct "
        "| agree |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.fmt} | {r.total} | {r.parsed} | {r.with_calls} | "
            f"{r.recorded_correct} | {r.checked_correct} | {r.agree}/{r.total} |"
        )
    return "\n".join(lines)
