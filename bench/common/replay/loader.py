"""What a recorded model answered to each BFCL v1 request, decoded: request id → ``Replayed``.

Reads ``outcomes/results/<model>/gorilla_openfunctions_v1_test_<category>_result.json`` under
the shared data folder (JSON Lines ``{"id", "result", …}``, the question files' order). Nothing
is copied into the repository. API-served (``-FC``) models also carry ``latency`` (seconds) and
``input_token_count`` / ``output_token_count``; the open models were run in batch and have none
(``None`` here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common.replay.formats import Decoded, decode, format_for

CATEGORIES = (
    "simple",
    "multiple_function",
    "parallel_function",
    "parallel_multiple_function",
    "relevance",
)
RESULTS = Path("outcomes") / "results"


class ReplayDataError(Exception):
    """The recorded answers are missing or unreadable; the message says what to pass."""


@dataclass(frozen=True, slots=True)
class Replayed:
    """One recorded answer: the decoded reply plus the recorded latency and token counts."""

    request_id: str
    category: str
    model: str
    answer: Decoded
    latency_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


def recorded_models(data: Path) -> list[str]:
    """Models with recorded answers under ``data`` (sorted)."""
    root = data / RESULTS
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def result_file(data: Path, model: str, category: str) -> Path:
    return data / RESULTS / model / f"gorilla_openfunctions_v1_test_{category}_result.json"


def _number(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def load_replays(
    data: Path,
    model: str,
    *,
    fmt: str | None = None,
    openai_names: bool = True,
    categories: tuple[str, ...] = CATEGORIES,
) -> dict[str, Replayed]:
    """``{request id: Replayed}`` for ``model`` over the five AST categories (1,240 requests).

    ``fmt`` overrides the format guessed from the model's name; ``openai_names`` writes call
    names as the OpenAI tools the replay offers (``math.factorial`` → ``math_factorial``).
    """
    known = recorded_models(data)
    if model not in known:
        raise ReplayDataError(
            f"no recorded answers for model {model!r} under {data / RESULTS}; "
            f"pick one of {known or '(none: pass --data pointing at the shared data folder)'}"
        )
    try:
        fmt = fmt or format_for(model)
    except KeyError as exc:
        raise ReplayDataError(str(exc.args[0])) from None
    out: dict[str, Replayed] = {}
    for category in categories:
        path = result_file(data, model, category)
        if not path.exists():
            raise ReplayDataError(f"{path} is missing: the recorded answers are incomplete")
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    rid = str(record["id"])
                    raw = record["result"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise ReplayDataError(f"{path}:{number}: not a result record ({exc})") from None
                tokens_in = _number(record, "input_token_count")
                tokens_out = _number(record, "output_token_count")
                out[rid] = Replayed(
                    request_id=rid,
                    category=category,
                    model=model,
                    answer=decode(fmt, raw, openai_names=openai_names),
                    latency_s=_number(record, "latency"),
                    input_tokens=int(tokens_in) if tokens_in is not None else None,
                    output_tokens=int(tokens_out) if tokens_out is not None else None,
                )
    return out
