"""Is an answer right? BFCL v1's AST rule against the request's ground truth.

The rule itself lives in ``bench.common.ast_check`` (written after BFCL's checker: function
name, required and unexpected parameters, Python types with int accepted for float, strings
compared after BFCL's standardisation, parallel calls matched in any order, no call for a
relevance request); this module applies it to a ``bench.common.bfcl.Request``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.common.ast_check import check
from bench.common.bfcl import Request


def is_correct(request: Request, tool_calls: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether ``tool_calls`` (OpenAI shape) answer ``request`` right."""
    return check(request.category, request.tools, request.ground_truth, tool_calls).correct
