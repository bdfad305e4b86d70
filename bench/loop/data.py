"""The loop's requests: BFCL v1 AST requests split once, by a hash of their id, into traffic and a
held-out test set that no training step ever reads.

- **held-out**: ``sha256(salt:id)`` as a fraction below ``held_out_ratio``. Only the measurement
  step sends these, through a gateway that logs nothing (so they never reach Redis or an
  export); :func:`assert_disjoint` checks every training set against them.
- **traffic**: the rest, in hash order, cut into one slice per round (round r's users send slice
  r; a request is never sent as traffic twice).

BFCL v1 only: the cloud replays gpt-4o's answers recorded on v1 (the outcomes), and v4 re-uses
many v1 questions, so mixing them would leak near-duplicates across the split.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common.bfcl import DataError, Request, load_requests
from gateway.dataset.record import request_hash

CLOUD_MODEL = "gpt-4o-2024-08-06-FC"
SALT = "netgpt-loop-v1"


def check_loop_data(data: Path) -> Path:
    """The folder must hold BFCL v1 (questions + answers) and the recorded outcomes."""
    needed = [data / "bfcl" / "v1", data / "outcomes"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise DataError(
            f"data directory {data} lacks {', '.join(missing)}; pass --data DIR pointing at the "
            "folder that holds bfcl/v1 and outcomes/ (../shared/data on the development box)"
        )
    return data


def hash_fraction(prompt_id: str, salt: str = SALT) -> float:
    digest = hashlib.sha256(f"{salt}:{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def body(request: Request) -> dict[str, Any]:
    """The chat request a user sends for this BFCL item (``x_replay_id`` steers the replay)."""
    return {
        "model": "auto",
        "messages": [{"role": "user", "content": request.question}],
        "tools": list(request.tools),
        "x_replay_id": request.prompt_id,
    }


@dataclass(frozen=True)
class Split:
    traffic: list[Request]  # hash order
    held_out: list[Request]  # hash order

    def traffic_slice(self, round_index: int, size: int, start: int | None = None) -> list[Request]:
        """Round ``round_index``'s users: ``size`` requests from ``start`` (default: after
        ``round_index`` slices of ``size``), never sent before."""
        start = round_index * size if start is None else start
        if start + size > len(self.traffic):
            raise DataError(
                f"round {round_index} needs traffic {start}..{start + size} but only "
                f"{len(self.traffic)} traffic requests exist; lower --traffic or --rounds"
            )
        return self.traffic[start : start + size]

    def held_out_sample(self, size: int) -> list[Request]:
        return self.held_out[:size]

    def held_out_hashes(self) -> dict[str, str]:
        """request hash (as the dataset export computes it) -> BFCL id, for every held-out item."""
        return {request_hash(body(r)): r.prompt_id for r in self.held_out}


def split_requests(
    requests: Iterable[Request], held_out_ratio: float, salt: str = SALT
) -> Split:
    ranked = sorted(requests, key=lambda r: hash_fraction(r.prompt_id, salt))
    held = [r for r in ranked if hash_fraction(r.prompt_id, salt) < held_out_ratio]
    # a question asked in two categories (BFCL repeats a few) stays on the held-out side only
    held_questions = {r.question.strip() for r in held}
    traffic = [
        r for r in ranked
        if hash_fraction(r.prompt_id, salt) >= held_out_ratio
        and r.question.strip() not in held_questions
    ]
    return Split(traffic=traffic, held_out=held)


def load_split(data: Path, held_out_ratio: float) -> Split:
    """All BFCL v1 AST requests that have gpt-4o's recorded outcome, split."""
    check_loop_data(data)
    # the loader joins an edge and a cloud outcome; the loop's edge is the real model, so the
    # cloud's outcome stands in for both (the edge side of the replay is never served)
    requests = load_requests(data, CLOUD_MODEL, CLOUD_MODEL)
    return split_requests(requests, held_out_ratio)


class LeakError(AssertionError):
    """A training set holds a held-out request."""


def training_hashes(data_dir: Path) -> set[str]:
    out: set[str] = set()
    for path in sorted(data_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    out.add(str(json.loads(line).get("request_hash")))
    return out


def assert_disjoint(data_dir: Path, split: Split) -> int:
    """Raise :class:`LeakError` if an exported training file holds a held-out request.

    Checked by the export's own request hash and, independently, by the user's question text
    (a hash that differs only because a field was normalised differently still gets caught).
    Returns how many training records were checked.
    """
    held = split.held_out_hashes()
    questions = {r.question.strip(): r.prompt_id for r in split.held_out}
    checked = 0
    for path in sorted(data_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = json.loads(line)
                checked += 1
                leak = held.get(str(record.get("request_hash")))
                if leak is None:
                    users = [m.get("content") for m in record.get("messages", [])
                             if m.get("role") == "user"]
                    leak = next((questions[u.strip()] for u in users
                                 if isinstance(u, str) and u.strip() in questions), None)
                if leak is not None:
                    raise LeakError(f"{path.name} holds held-out request {leak}")
    return checked
