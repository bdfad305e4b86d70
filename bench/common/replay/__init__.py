"""Replays of what real models answered to BFCL v1, decoded as each model's tool parser would.

Public surface::

    from bench.common.replay import decode, format_for, load_replays

    replays = load_replays(data_dir, "Salesforce_xLAM-1b-fc-r")   # {"simple_0": Replayed, ...}
    replays["simple_0"].answer.tool_calls                          # OpenAI-shaped, or ()
    replays["simple_0"].answer.message()                           # the assistant message
"""

from bench.common.replay.formats import FORMATS, Decoded, decode, format_for, openai_name, tool_call
from bench.common.replay.loader import (
    CATEGORIES,
    ReplayDataError,
    Replayed,
    load_replays,
    recorded_models,
)

__all__ = [
    "CATEGORIES",
    "FORMATS",
    "Decoded",
    "ReplayDataError",
    "Replayed",
    "decode",
    "format_for",
    "load_replays",
    "openai_name",
    "recorded_models",
    "tool_call",
]
