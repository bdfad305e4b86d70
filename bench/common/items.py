"""BFCL v1 AST requests for the measurement, and a stratified sample of them.

Only the questions, tools and reference answers are read (``bfcl/v1`` under the data folder);
the recorded outcomes of other models are not needed here. Tools are converted as BFCL's OpenAI
handler does (``bench.common.bfcl.to_openai_tools``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common.bfcl import CATEGORIES, DataError, _jsonl, to_openai_tools


@dataclass(frozen=True, slots=True)
class Item:
    prompt_id: str
    category: str
    question: str
    tools: tuple[dict[str, Any], ...]
    ground_truth: dict[str, Any] | None  # None for relevance (no call is right)

    def body(self) -> dict[str, Any]:
        """The client's request, as a BFCL user would send it to the gateway."""
        return {
            "model": "auto",
            "messages": [{"role": "user", "content": self.question}],
            "tools": list(self.tools),
        }


def bfcl_file(data: Path, category: str, answers: bool = False) -> Path:
    folder = data / "bfcl" / "v1"
    if answers:
        folder = folder / "possible_answer"
    return folder / f"gorilla_openfunctions_v1_test_{category}.json"


def load_items(data: Path) -> list[Item]:
    """Every BFCL v1 AST request under ``data`` (categories in file order)."""
    if not (data / "bfcl" / "v1").is_dir():
        raise DataError(
            f"{data} has no bfcl/v1 folder; pass --data DIR pointing at the folder that holds "
            "bfcl/ (the shared data folder, see its README.md)"
        )
    items: list[Item] = []
    for category in CATEGORIES:
        questions = bfcl_file(data, category)
        if not questions.exists():
            continue
        answers_path = bfcl_file(data, category, answers=True)
        answers = (
            {a["id"]: a["ground_truth"] for a in _jsonl(answers_path)}
            if answers_path.exists()
            else {}
        )
        for q in _jsonl(questions):
            question = q["question"]
            if isinstance(question, list):  # a v4-style list of turns: take the user text
                question = " ".join(
                    m.get("content", "") for turn in question for m in turn if isinstance(m, dict)
                )
            items.append(
                Item(
                    prompt_id=q["id"],
                    category=category,
                    question=str(question),
                    tools=tuple(to_openai_tools(q["function"])),
                    ground_truth=None if category == "relevance" else answers.get(q["id"]),
                )
            )
    if not items:
        raise DataError(f"no BFCL v1 request files under {data / 'bfcl' / 'v1'}")
    return items


def stratified_sample(items: list[Item], n: int | None, seed: int) -> list[Item]:
    """``n`` items, allotted to categories in proportion to their size (largest remainder),
    drawn without replacement with ``seed`` (for one seed, a smaller sample is contained in a
    larger one); ``None`` or ``n ≥ len`` keeps all. The result is in a seeded random order, so a
    run stopped early still covers every category."""
    rng = np.random.default_rng(seed)
    by_cat: dict[str, list[Item]] = {}
    for item in items:
        by_cat.setdefault(item.category, []).append(item)
    if n is None or n >= len(items):
        quota = {c: len(v) for c, v in by_cat.items()}
    else:
        exact = {c: n * len(v) / len(items) for c, v in by_cat.items()}
        quota = {c: int(x) for c, x in exact.items()}
        left = n - sum(quota.values())
        for c in sorted(exact, key=lambda c: (quota[c] - exact[c], c))[:left]:
            quota[c] += 1
    picked: list[Item] = []
    for category in sorted(by_cat):
        pool = by_cat[category]
        # a prefix of a seeded permutation: a smaller sample is part of a larger one
        idx = rng.permutation(len(pool))[: quota[category]]
        picked.extend(pool[i] for i in sorted(idx))
    order = rng.permutation(len(picked))
    return [picked[i] for i in order]
