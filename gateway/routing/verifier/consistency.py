"""Self-consistency: how k sampled drafts (temperature > 0) agree with the draft. Pure, no I/O.

A small model that answers the same way when asked again is more often right; one whose samples
scatter over functions and values is guessing. The gateway (``NETGPT_EDGE_SAMPLES``) draws the
samples beside the greedy draft; ``summarise`` turns them into the ``sc_`` features
(``features.SAMPLE_DOCS``). Calls are compared after BFCL's string standardisation
(``label._norm``: case, spaces and ``,./-_*^`` ignored; numbers as numbers), as a multiset: the
order of parallel calls does not matter.

>>> a = [{"function": {"name": "f", "arguments": '{"city": "Paris"}'}}]
>>> b = [{"function": {"name": "f", "arguments": '{"city": "paris"}'}}]
>>> c = [{"function": {"name": "g", "arguments": '{}'}}]
>>> s = summarise(a, [b, b, c])
>>> (s.k, round(s.agreement, 3), round(s.name_agreement, 3), round(s.distinct, 3))
(3, 0.667, 0.667, 0.5)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.routing.verifier.label import _norm, _parsed


@dataclass(frozen=True, slots=True)
class SampleSummary:
    """The agreement of ``k`` sampled drafts with the draft (see ``features.SAMPLE_DOCS``)."""

    k: int
    agreement: float  # share of samples making exactly the draft's calls
    name_agreement: float  # share of samples calling the same functions (values may differ)
    distinct: float  # distinct answers among the draft and its samples, over k + 1

    def to_dict(self) -> dict[str, float | int]:
        return {
            "k": self.k,
            "agreement": self.agreement,
            "name_agreement": self.name_agreement,
            "distinct": self.distinct,
        }

    @classmethod
    def from_dict(cls, data: Any) -> SampleSummary | None:
        """From ``to_dict``'s shape (a dataset record); None when absent or malformed."""
        if not isinstance(data, Mapping):
            return None
        try:
            summary = cls(
                k=int(data["k"]),
                agreement=float(data["agreement"]),
                name_agreement=float(data["name_agreement"]),
                distinct=float(data["distinct"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        shares = (summary.agreement, summary.name_agreement, summary.distinct)
        return summary if summary.k > 0 and all(0.0 <= v <= 1.0 for v in shares) else None


def answer_key(tool_calls: Sequence[Mapping[str, Any]] | None) -> tuple[str, ...]:
    """A draft's calls as a sorted tuple of canonical ``name(arguments)`` strings; calls whose
    arguments are not a JSON object keep their name and a marker (they agree with nothing but
    the same broken call)."""
    keys = []
    for name, args in _parsed(tool_calls):
        body = "!unparsed" if args is None else json.dumps(_norm(args), sort_keys=True)
        keys.append(f"{name}({body})")
    return tuple(sorted(keys))


def _names(key: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(k.split("(", 1)[0] for k in key))


def summarise(
    draft_calls: Sequence[Mapping[str, Any]] | None,
    samples: Sequence[Sequence[Mapping[str, Any]] | None],
) -> SampleSummary | None:
    """The agreement of ``samples`` (each one sampled draft's ``tool_calls``) with the draft;
    None without samples."""
    if not samples:
        return None
    draft = answer_key(draft_calls)
    keys = [answer_key(s) for s in samples]
    names = _names(draft)
    k = len(keys)
    return SampleSummary(
        k=k,
        agreement=sum(key == draft for key in keys) / k,
        name_agreement=sum(_names(key) == names for key in keys) / k,
        distinct=len({draft, *keys}) / (k + 1),
    )
