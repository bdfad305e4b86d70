"""Loaders for the recorded data: BFCL v1 requests and answers, per-model outcomes.

The data lives outside the repository (``../shared/data`` by default, or ``--data DIR``); nothing
here copies it. BFCL files are JSON Lines despite the ``.json`` name. Schemas use BFCL's own type
names, converted here to JSON Schema the way BFCL's OpenAI handler does (``dict``→``object``,
``float``→``number``, ``tuple``→``array``, ``.`` in names → ``_``).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# the AST-checked BFCL v1 categories the outcomes were recorded on, in file-name form
CATEGORIES = (
    "simple",
    "multiple_function",
    "parallel_function",
    "parallel_multiple_function",
    "relevance",
)
OUTCOMES_LONG = "outcomes/bfcl_2024-08-11_selected_long.csv"
_TYPE_MAP = {"dict": "object", "float": "number", "tuple": "array"}


class DataError(Exception):
    """The data directory is missing or incomplete; the message says what to pass."""


def default_data_dir(cwd: Path | None = None) -> Path:
    """``../shared/data`` next to the repository root (or the current directory)."""
    repo_root = Path(__file__).resolve().parents[2]
    for base in (repo_root, (cwd or Path.cwd()).resolve()):
        candidate = base.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return repo_root.parent / "shared" / "data"


def check_data_dir(data: Path) -> Path:
    needed = [data / "bfcl" / "v1", data / OUTCOMES_LONG, data / "traces"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise DataError(
            f"data directory {data} lacks {', '.join(missing)}; pass --data DIR pointing at the "
            "folder that holds bfcl/, outcomes/ and traces/ (see its README.md)"
        )
    return data


def openai_name(name: str) -> str:
    return name.replace(".", "_")


def to_json_schema(node: Any) -> Any:
    """BFCL parameter schema → JSON Schema (recursively; ``any`` drops the type)."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type":
            if value == "any":
                continue
            out[key] = _TYPE_MAP.get(value, value)
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {name: to_json_schema(prop) for name, prop in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = to_json_schema(value)
        elif key in ("optional", "requried", "format"):
            # BFCL-only or unvalidated keys; ``format`` would make the validator stricter than
            # BFCL's own checker
            continue
        else:
            out[key] = value
    return out


def to_openai_tools(functions: Any) -> list[dict[str, Any]]:
    funcs = functions if isinstance(functions, list) else [functions]
    return [
        {
            "type": "function",
            "function": {
                "name": openai_name(f["name"]),
                "description": f.get("description", ""),
                "parameters": to_json_schema(f.get("parameters") or {"type": "dict"}),
            },
        }
        for f in funcs
    ]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One model's recorded result on one request (BFCL-Result, 2024-08-11)."""

    correct: bool
    error_type: str  # "" when correct
    latency_s: float | None  # API-served models only
    input_tokens: int | None
    output_tokens: int | None


@dataclass(frozen=True, slots=True)
class Request:
    """One BFCL v1 request with its tools, ground truth and the two models' outcomes."""

    prompt_id: str
    category: str
    question: str
    tools: tuple[dict[str, Any], ...]
    ground_truth: dict[str, Any] | None  # None for relevance (the right answer is no call)
    edge: Outcome
    cloud: Outcome

    @property
    def request_bytes(self) -> int:
        body = {"messages": [{"role": "user", "content": self.question}], "tools": self.tools}
        return len(json.dumps(body, separators=(",", ":")).encode())


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _num(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def load_outcomes(data: Path, models: set[str]) -> dict[tuple[str, str], Outcome]:
    """(model, prompt_id) → Outcome for the given models, AST categories only."""
    out: dict[tuple[str, str], Outcome] = {}
    with (data / OUTCOMES_LONG).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["model"] not in models or row["category"] not in CATEGORIES:
                continue
            tin, tout = _num(row["input_tokens"]), _num(row["output_tokens"])
            out[(row["model"], row["prompt_id"])] = Outcome(
                correct=row["correct"] == "1",
                error_type=row["error_type"] or "",
                latency_s=_num(row["latency_s"]),
                input_tokens=int(tin) if tin is not None else None,
                output_tokens=int(tout) if tout is not None else None,
            )
    return out


def available_models(data: Path) -> tuple[set[str], set[str]]:
    """(all models in the long table, those with recorded latency: usable as the cloud)."""
    every: set[str] = set()
    timed: set[str] = set()
    with (data / OUTCOMES_LONG).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            every.add(row["model"])
            if row["latency_s"]:
                timed.add(row["model"])
    return every, timed


def load_requests(data: Path, edge_model: str, cloud_model: str) -> list[Request]:
    """BFCL v1 AST requests joined with the edge and cloud model's recorded outcomes."""
    every, timed = available_models(data)
    if edge_model not in every:
        raise DataError(
            f"no recorded outcomes for edge model {edge_model!r}; pick one of {sorted(every)}"
        )
    if cloud_model not in timed:
        raise DataError(
            f"cloud model {cloud_model!r} has no recorded latency; pick one of {sorted(timed)}"
        )
    outcomes = load_outcomes(data, {edge_model, cloud_model})
    requests: list[Request] = []
    for category in CATEGORIES:
        questions = data / "bfcl" / "v1" / f"gorilla_openfunctions_v1_test_{category}.json"
        answers_path = questions.parent / "possible_answer" / questions.name
        answers = (
            {a["id"]: a["ground_truth"] for a in _jsonl(answers_path)}
            if answers_path.exists()
            else {}
        )
        for q in _jsonl(questions):
            pid = q["id"]
            edge, cloud = outcomes.get((edge_model, pid)), outcomes.get((cloud_model, pid))
            if edge is None or cloud is None:
                continue
            requests.append(
                Request(
                    prompt_id=pid,
                    category=category,
                    question=q["question"],
                    tools=tuple(to_openai_tools(q["function"])),
                    ground_truth=answers.get(pid),
                    edge=edge,
                    cloud=cloud,
                )
            )
    if not requests:
        raise DataError(f"no BFCL v1 requests matched the outcomes under {data}")
    return requests


_SUFFIX = re.compile(r"[_ ]\d+$")


def ground_truth_calls(request: Request) -> list[tuple[str, dict[str, Any]]]:
    """The reference calls as (OpenAI tool name, arguments), one acceptable value each.

    Parallel answers key the same function as ``name_1``, ``name_2``; the suffix is dropped when
    the bare name is an offered tool. ``""`` among acceptable values means "may be omitted".
    """
    offered = {t["function"]["name"] for t in request.tools}
    calls: list[tuple[str, dict[str, Any]]] = []
    for raw_name, params in (request.ground_truth or {}).items():
        if not isinstance(params, Mapping):
            continue  # one malformed answer in BFCL v1 (parallel_multiple_function_179)
        name = openai_name(raw_name)
        if name not in offered:
            name = openai_name(_SUFFIX.sub("", raw_name))
        if name not in offered:
            # a few answers name the tool without its namespace ("find_closest")
            name = next((o for o in sorted(offered) if o.endswith("_" + name)), name)
        picked = {k: _pick(v) for k, v in params.items()}
        calls.append((name, {k: v for k, v in picked.items() if v is not _OMIT}))
    return calls


_OMIT = object()


def _pick(values: Any) -> Any:
    if isinstance(values, dict):
        picked = {k: _pick(v) for k, v in values.items()}
        return {k: v for k, v in picked.items() if v is not _OMIT}
    if not isinstance(values, list):
        return values
    for value in values:
        if value == "":
            continue
        if isinstance(value, dict):
            return _pick(value)
        if isinstance(value, list):  # an array argument whose items may be nested answers
            return [_pick(v) if isinstance(v, dict) else v for v in value]
        return value
    return _OMIT
