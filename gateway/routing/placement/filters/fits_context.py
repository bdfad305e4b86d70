"""Filter ``fits_context``: drop an expert whose context cannot hold prompt + expected output."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from gateway.routing.placement.interfaces import Context


@dataclass(frozen=True, slots=True)
class FitsContext:
    name: ClassVar[str] = "fits_context"

    def filter(self, ctx: Context, candidates: Sequence[int]) -> list[int]:
        need = ctx.request.prompt_tokens + ctx.request.expected_output_tokens
        experts = ctx.experts
        return [
            i for i in candidates if (limit := experts[i].context_limit) is None or need <= limit
        ]
