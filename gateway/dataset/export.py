"""Export of logged pairs as JSON-lines shards in TRL's conversational format with tools.

Each exported line::

    {"messages": [...request messages..., {"role": "assistant", "content": null,
                                           "tool_calls": [...the cloud's calls...]}],
     "tools": [...the request's tools...], "id": "<record id>", "request_hash": "<sha256>"}

which ``datasets.load_dataset("json", data_files=...)`` loads and ``trl.SFTTrainer`` trains on
(the cloud's assistant turn is the target). Rules:

- only records with a cloud answer whose tool calls pass the schema guard against the request's
  own tools and ``tool_choice`` are kept (text-only answers with ``include_text``);
- a request seen before (same normalised request, :func:`gateway.dataset.record.request_hash`)
  is dropped, across runs too: the hashes already in ``DIR``'s shards count;
- the split is a pure function of the request hash, so a request always lands in the same split;
- shards are ``DIR/train-00000.jsonl``, ``DIR/validation-00000.jsonl``...; a run starts new
  shards after the existing ones and creates none when it has nothing new.

Sources: a Redis consumer group (``XREADGROUP``/``XACK``: a record is exported once per group;
a run interrupted before ``XACK`` re-reads its pending entries) or the local spool (the group's
position is kept beside the spool in ``export-<group>.json``).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from gateway.dataset.record import DatasetRecord, decode, request_hash
from gateway.routing.schema_guard import ValidatorCache, check_tool_calls, tool_schemas

Split = Literal["train", "validation"]
SPLITS: tuple[Split, ...] = ("train", "validation")
_SHARD = re.compile(r"^(train|validation)-(\d{5,})\.jsonl$")
_MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


def split_of(digest: str, validation_ratio: float) -> Split:
    """Deterministic split from the request hash (its first 64 bits as a fraction)."""
    return "validation" if int(digest[:16], 16) / 2**64 < validation_ratio else "train"


def _text_content(content: Any) -> str | None:
    """Plain text of a message's content; None when it holds non-text parts (images...)."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                return None
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    return None


def _call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {"name": function.get("name"), "arguments": function.get("arguments") or "{}"},
    }


def _message(message: dict[str, Any]) -> dict[str, Any] | None:
    """A request message with only the keys chat templates read, content as text."""
    out = {key: message[key] for key in _MESSAGE_KEYS if message.get(key) is not None}
    content = message.get("content")
    text = _text_content(content)
    if text is None and content is not None:
        return None
    out["content"] = text
    if out.get("tool_calls"):
        out["tool_calls"] = [_call(c) for c in out["tool_calls"]]
    return out


@dataclass(slots=True)
class Example:
    line: bytes
    split: Split
    digest: str


class Formatter:
    """Record -> TRL example, or the reason it is skipped."""

    def __init__(self, *, validation_ratio: float = 0.05, include_text: bool = False) -> None:
        self.validation_ratio = validation_ratio
        self.include_text = include_text
        self._cache = ValidatorCache()

    def __call__(self, record: DatasetRecord) -> Example | str:
        cloud = record.cloud_response
        if cloud is None:
            return "no_cloud_answer"
        request = record.request
        calls = cloud.message.get("tool_calls") or []
        if not calls and not (self.include_text and cloud.message.get("content")):
            return "no_tool_calls"
        tools = request.get("tools") or []
        check = check_tool_calls(
            calls,
            tool_schemas(tools),
            self._cache,
            tool_choice=request.get("tool_choice"),
            parallel_tool_calls=request.get("parallel_tool_calls"),
        )
        if not check.valid:
            return "schema_invalid"
        messages = [_message(m) for m in request.get("messages") or [] if isinstance(m, dict)]
        if not messages or any(m is None for m in messages):
            return "non_text_content"
        target: dict[str, Any] = {"role": "assistant", "content": None}
        if calls:
            target["tool_calls"] = [_call(c) for c in calls]
        else:
            target["content"] = _text_content(cloud.message.get("content"))
        digest = request_hash(request)
        example = {
            "messages": [*messages, target],
            "tools": tools,
            "id": record.id,
            "request_hash": digest,
        }
        return Example(orjson.dumps(example), split_of(digest, self.validation_ratio), digest)


class ShardWriter:
    """Appends lines to ``DIR/<split>-NNNNN.jsonl``, ``shard_size`` lines per file."""

    def __init__(self, out_dir: Path, split: Split, shard_size: int, first_index: int) -> None:
        self.out_dir = out_dir
        self.split = split
        self.shard_size = shard_size
        self.index = first_index
        self.files: list[Path] = []
        self._handle: Any = None
        self._in_shard = 0

    def write(self, line: bytes) -> None:
        if self._handle is None or self._in_shard >= self.shard_size:
            self._rotate()
        self._handle.write(line + b"\n")
        self._in_shard += 1

    def flush(self) -> None:
        """Make what was written durable (before the source is told it was exported)."""
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self.flush()
            self._handle.close()
            self._handle = None

    def _rotate(self) -> None:
        self.close()
        path = self.out_dir / f"{self.split}-{self.index:05d}.jsonl"
        self.index += 1
        self._handle = path.open("ab")
        self._in_shard = 0
        self.files.append(path)


def existing_shards(out_dir: Path) -> dict[Split, list[Path]]:
    found: dict[Split, list[Path]] = {"train": [], "validation": []}
    if out_dir.is_dir():
        for path in sorted(out_dir.iterdir()):
            match = _SHARD.match(path.name)
            if match:
                found["train" if match.group(1) == "train" else "validation"].append(path)
    return found


def _seen_hashes(shards: Iterable[Path]) -> set[str]:
    seen: set[str] = set()
    for path in shards:
        with path.open("rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    break  # torn by an interrupted run; its records were not acknowledged
                try:
                    seen.add(orjson.loads(line)["request_hash"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue
    return seen


def _drop_torn_tail(path: Path) -> None:
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


@dataclass
class ExportReport:
    read: int = 0
    written: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    files: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "written": dict(self.written),
            "skipped": dict(self.skipped),
            "files": [str(p) for p in self.files],
        }


class Exporter:
    """Formats, dedups and splits records into shards under ``out_dir``.

    Call :meth:`add` for each stored entry (raw JSON bytes), :meth:`flush` before
    acknowledging a batch to its source, and :meth:`close` at the end.
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        shard_size: int = 10_000,
        validation_ratio: float = 0.05,
        include_text: bool = False,
    ) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        shards = existing_shards(out_dir)
        for paths in shards.values():
            for path in paths:
                _drop_torn_tail(path)
        self._seen = _seen_hashes(p for paths in shards.values() for p in paths)
        self._format = Formatter(validation_ratio=validation_ratio, include_text=include_text)
        self._writers = {
            split: ShardWriter(out_dir, split, shard_size, _next_index(shards[split]))
            for split in SPLITS
        }
        self.report = ExportReport()

    def add(self, raw: bytes) -> None:
        self.report.read += 1
        try:
            record = decode(raw)
        except (orjson.JSONDecodeError, ValidationError):
            self.report.skipped["unreadable"] += 1
            return
        outcome = self._format(record)
        if isinstance(outcome, str):
            self.report.skipped[outcome] += 1
            return
        if outcome.digest in self._seen:
            self.report.skipped["duplicate_request"] += 1
            return
        self._seen.add(outcome.digest)
        self._writers[outcome.split].write(outcome.line)
        self.report.written[outcome.split] += 1

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> ExportReport:
        for writer in self._writers.values():
            writer.close()
            self.report.files.extend(writer.files)
        return self.report


def _next_index(paths: list[Path]) -> int:
    indexes = [int(m.group(2)) for p in paths if (m := _SHARD.match(p.name))]
    return max(indexes) + 1 if indexes else 0

