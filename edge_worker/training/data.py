"""Training examples from the JSONL that ``netgpt dataset export`` writes.

Each line: ``{"messages": [..., {"role": "assistant", "content": null, "tool_calls": [...]}],
"tools": [...], "id": ..., "request_hash": ...}`` in ``DIR/train-*.jsonl`` and
``DIR/validation-*.jsonl``. The last assistant message is the cloud's answer: the reference the
edge model learns from; everything before it is the prompt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPLITS = ("train", "validation")


class DataError(Exception):
    """The dataset directory is missing, empty or malformed; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    prompt: list[dict[str, Any]]  # messages before the cloud's answer
    tools: list[dict[str, Any]]
    reference: dict[str, Any]  # the cloud's assistant message

    @property
    def reference_calls(self) -> list[dict[str, Any]]:
        return list(self.reference.get("tool_calls") or [])


def split_files(data_dir: Path, split: str) -> list[Path]:
    return sorted(Path(data_dir).glob(f"{split}-*.jsonl"))


def parse_line(record: dict[str, Any]) -> Example | None:
    """One exported record -> an example, or None when it has no final assistant answer."""
    messages = record.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return None
    if not last.get("tool_calls") and not last.get("content"):
        return None
    return Example(
        id=str(record.get("id") or record.get("request_hash") or ""),
        prompt=[dict(m) for m in messages[:-1]],
        tools=list(record.get("tools") or []),
        reference=dict(last),
    )


def load_split(data_dir: Path, split: str, limit: int | None = None) -> list[Example]:
    """Examples of one split, in file order; records without an answer are skipped."""
    files = split_files(data_dir, split)
    if not files:
        raise DataError(
            f"no {split}-*.jsonl in {data_dir}: run `netgpt dataset export --out {data_dir}` first "
            f"(or `netgpt train make-toy-data --out {data_dir}` to try the pipeline)"
        )
    out: list[Example] = []
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    raise DataError(f"{path}:{number} is not valid JSON; re-run the export") from None
                example = parse_line(record)
                if example is not None:
                    out.append(example)
                if limit is not None and len(out) >= limit:
                    return out
    if not out:
        raise DataError(f"{split} files in {data_dir} hold no record with an assistant answer")
    return out


def with_offload_tool(examples: list[Example], name: str | None) -> list[Example]:
    """Each example's tools plus the gateway's offload tool ``name`` (None: unchanged).

    With offloading on, the gateway offers the edge one more tool than the client did
    (``gateway.routing.offload.offload_tool_definition``); the prompts trained on must be the
    prompts the edge is served, so they get it too.
    """
    if not name:
        return examples
    from gateway.routing.offload import offload_tool_definition

    extra = offload_tool_definition(name)
    return [
        Example(ex.id, ex.prompt, [*ex.tools, extra], ex.reference)
        if ex.tools and all((t.get("function") or {}).get("name") != name for t in ex.tools)
        else ex
        for ex in examples
    ]


def data_hash(data_dir: Path) -> str:
    """sha256 over the split files' names and bytes: the model card's record of its data."""
    digest = hashlib.sha256()
    for split in SPLITS:
        for path in split_files(data_dir, split):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
