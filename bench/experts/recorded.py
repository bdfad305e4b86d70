"""What the experts' and the cloud's models really answered, request by request (replays).

Where the data folder holds a model's recorded BFCL v1 outputs (``outcomes/results/<model>``,
decoded as the model's own parser would: ``bench.common.replay``) and the BFCL v1 requests
(``bfcl/v1``), each simulated request stands for one BFCL request of its type, and an expert
serving it is right exactly when the model's recorded output passes the BFCL AST checker
(``bench.common.ast_check``; it agrees with the recorded verdicts on 1,240/1,240). The cloud
model brings its recorded latency and token counts for that request too. A model without
recorded outputs (or no data) falls back to its per-category accuracy (``QualityTable``).

The gateway's *belief* about an expert (the ``quality`` placement reads) stays per category, as
the product learns it per domain; it is then the per-category mean of the same recorded
per-request outcomes, so belief and truth come from one source.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.common.bfcl import DataError
from bench.experts.workload import REQUEST_TYPES, QualityTable, SimRequest


@dataclass(frozen=True, slots=True)
class RecordedAnswer:
    """One model's answer to one BFCL request: right under the checker, and what it cost."""

    correct: bool
    latency_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(slots=True)
class Answers:
    """``model → {BFCL id → RecordedAnswer}`` plus, per model, where its quality comes from."""

    by_model: dict[str, dict[str, RecordedAnswer]] = field(default_factory=dict)
    ids_by_type: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, model: str, prompt_id: str | None) -> RecordedAnswer | None:
        if prompt_id is None:
            return None
        return self.by_model.get(model, {}).get(prompt_id)

    def quality(self, model: str, req: SimRequest, fallback: float) -> float:
        """1/0 from the recorded answer to the request's BFCL item, else ``fallback``."""
        answer = self.get(model, req.prompt_id)
        return fallback if answer is None else float(answer.correct)

    def recorded(self, model: str) -> bool:
        return bool(self.by_model.get(model))

    def beliefs(self, base: QualityTable) -> QualityTable:
        """``base`` with each recorded model's per-category accuracy from its recorded answers."""
        table = dict(base.table)
        for model, answers in self.by_model.items():
            for rtype, ids in self.ids_by_type.items():
                hits = [answers[i].correct for i in ids if i in answers]
                if hits:
                    table[(model, rtype)] = sum(hits) / len(hits)
        return QualityTable(table, "recorded: per-category accuracy of the models' recorded "
                            f"outputs (BFCL checker) where recorded, else {base.source}")

    def assign(self, requests: Sequence[SimRequest], rng: random.Random) -> None:
        """Give each request a BFCL item of its type (drawn with replacement)."""
        for req in requests:
            ids = self.ids_by_type.get(req.rtype)
            req.prompt_id = rng.choice(ids) if ids else None

    def notes(self, models: Iterable[str]) -> list[str]:
        return [f"{m}: {self.sources.get(m, 'per-category accuracy')}" for m in dict.fromkeys(models)]


def score_replays(
    items: Mapping[str, tuple[str, Sequence[Mapping[str, object]], Mapping[str, object] | None]],
    replays: Mapping[str, object],
) -> dict[str, RecordedAnswer]:
    """Each decoded recorded answer judged by the BFCL checker against its item.

    ``items``: BFCL id → (category, tools, ground truth); ``replays``: BFCL id → ``Replayed``.
    """
    from bench.common.ast_check import check
    from bench.common.replay import Replayed

    out: dict[str, RecordedAnswer] = {}
    for rid, rep in replays.items():
        item = items.get(rid)
        if item is None or not isinstance(rep, Replayed):
            continue
        category, tools, truth = item
        verdict = check(category, tools, truth, rep.answer.tool_calls)
        out[rid] = RecordedAnswer(verdict.correct, rep.latency_s, rep.input_tokens,
                                  rep.output_tokens)
    return out


def load_answers(data: Path | None, models: Sequence[str]) -> Answers:
    """The recorded answers of ``models`` that the data folder holds (none: an empty table)."""
    from bench.common.items import load_items
    from bench.common.replay import ReplayDataError, load_replays, recorded_models

    answers = Answers()
    if data is None:
        answers.sources = dict.fromkeys(models, "per-category accuracy (no --data)")
        return answers
    try:
        items = {i.prompt_id: (i.category, i.tools, i.ground_truth) for i in load_items(data)}
    except DataError:
        answers.sources = dict.fromkeys(models, "per-category accuracy (no BFCL v1 requests under --data)")
        return answers
    known = set(recorded_models(data))
    for model in dict.fromkeys(models):
        if model not in known:
            answers.sources[model] = "per-category accuracy (no recorded outputs for this model)"
            continue
        try:
            scored = score_replays(items, load_replays(data, model))
        except ReplayDataError as exc:
            answers.sources[model] = f"per-category accuracy (recorded outputs unreadable: {exc})"
            continue
        answers.by_model[model] = scored
        right = sum(a.correct for a in scored.values())
        answers.sources[model] = (
            f"recorded per-request outputs (outcomes/results/{model}, BFCL checker: "
            f"{right}/{len(scored)} right)"
        )
    recorded = [set(a) for a in answers.by_model.values()]
    common = set.intersection(*recorded) if recorded else set()
    answers.ids_by_type = {
        t: tuple(sorted(i for i in common if items[i][0] == t)) for t in REQUEST_TYPES
    }
    return answers
