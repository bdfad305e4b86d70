"""The model card every run writes beside its adapter (``model_card.json``).

It records what is needed to trust and reproduce the adapter: the base model, the adapter it
started from, a hash of the data, every setting, library versions and the held-out metrics
before and after the run.
"""

from __future__ import annotations

import json
import math
import time
from importlib import metadata
from pathlib import Path
from typing import Any

CARD_FILE = "model_card.json"
CARD_VERSION = 1
LOG_FILE = "train_log.jsonl"


def _versions() -> dict[str, str]:
    out = {}
    for name in ("torch", "transformers", "trl", "peft", "netgpt-gateway"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _clean(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        # argparse namespaces carry the command's function: not a setting
        return {k: _clean(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_card(
    out: Path,
    *,
    kind: str,
    base_model: str,
    init_adapter: str | None,
    data: dict[str, Any],
    settings: dict[str, Any],
    before: dict[str, float],
    after: dict[str, float],
    training: dict[str, Any],
) -> Path:
    card = {
        "card_version": CARD_VERSION,
        "kind": kind,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "base_model": base_model,
        "init_adapter": init_adapter,
        "adapter_dir": str(out),
        "data": data,
        "settings": settings,
        "versions": _versions(),
        "metrics": {"split": "validation", "before": before, "after": after},
        "training": training,
    }
    path = out / CARD_FILE
    path.write_text(json.dumps(_clean(card), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_card(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CARD_FILE
    if not path.exists():
        raise SystemExit(f"{path} not found: pass the output directory of `netgpt train sft`")
    card: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return card


class TrainLog:
    """One JSON line per step in ``train_log.jsonl``."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOG_FILE
        self.path.write_text("", encoding="utf-8")
        self.rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(_clean(row)) + "\n")
