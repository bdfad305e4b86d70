"""The request an edge server gets, per flavour (vLLM, llama.cpp's llama-server, plain OpenAI).

Pure functions: the body the gateway forwards in, the body the edge gets out.

Every flavour: one complete, non-streamed answer (the score needs the whole draft; llama-server
also refuses stream + tools + logprobs) with token log-probabilities, and a bounded draft: the
output is capped at ``draft_max_tokens`` (the client's own ``max_tokens`` when smaller) and stops
at the draft's stop sequences, so a rambling edge costs a bounded time before the fallback.

Call prefill (``NETGPT_EDGE_CALL_PREFILL``, e.g. ``"<tool_call>\\n"``): for models that never open
a tool call by themselves (SmolLM2-135M), the assistant turn is pre-filled with the template's
call opener and the call is forced: ``tool_choice`` "auto" becomes "required", one call
(``parallel_tool_calls`` false), stop at ``</tool_call>``, greedy decoding. A request that offers
no tools, or says ``tool_choice: "none"``, is sent unchanged. The cost: on an "auto" request where
the right answer is prose, the edge still answers with a call; the router then has to prefer the
cloud (a low score) — see the README, "Edge box without a GPU".
"""

from __future__ import annotations

from typing import Any, Literal

Flavor = Literal["vllm", "llamacpp", "openai"]
FLAVORS: tuple[Flavor, ...] = ("vllm", "llamacpp", "openai")
CALL_CLOSER = "</tool_call>"


def detect_flavor(models_listing: Any) -> Flavor:
    """The flavour of a server from its ``GET /v1/models`` answer.

    llama-server lists ``owned_by: "llamacpp"`` (and adds a top-level ``models`` list); vLLM
    lists ``owned_by: "vllm"``; anything else is plain OpenAI-compatible.
    """
    if isinstance(models_listing, dict):
        for item in models_listing.get("data") or ():
            owner = str(item.get("owned_by", "")).lower() if isinstance(item, dict) else ""
            if owner in ("llamacpp", "llama.cpp"):
                return "llamacpp"
            if owner == "vllm":
                return "vllm"
        if "models" in models_listing:
            return "llamacpp"
    return "openai"


def stop_sequences(call_prefill: str, configured: list[str] | None) -> list[str]:
    """``NETGPT_EDGE_DRAFT_STOP`` when set; else the call closer when a prefill is on."""
    if configured is not None:
        return list(configured)
    return [CALL_CLOSER] if call_prefill else []


def wants_prefill(body: dict[str, Any], call_prefill: str) -> bool:
    """Whether this request gets the pre-filled call opener."""
    if not call_prefill or not body.get("tools"):
        return False
    if body.get("tool_choice") == "none":
        return False
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return False
    last = messages[-1]
    return not (isinstance(last, dict) and last.get("role") == "assistant")


def shape_request(
    body: dict[str, Any],
    *,
    flavor: Flavor,
    model: str,
    top_logprobs: int,
    draft_max_tokens: int,
    call_prefill: str = "",
    stop: list[str] | None = None,
) -> dict[str, Any]:
    """The body the edge gets for BODY (a shallow copy; BODY is not changed)."""
    out = dict(body)
    out["model"] = model
    out["logprobs"] = True
    out["top_logprobs"] = top_logprobs
    out["stream"] = False
    out.pop("stream_options", None)
    out.pop("n", None)
    asked = [v for v in (out.pop("max_completion_tokens", None), out.get("max_tokens"))
             if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    out["max_tokens"] = min([draft_max_tokens, *asked])
    stops = stop_sequences(call_prefill, stop)
    if stops:
        theirs = out.get("stop")
        theirs = [theirs] if isinstance(theirs, str) else list(theirs or ())
        out["stop"] = list(dict.fromkeys([*theirs, *stops]))[:4]  # OpenAI allows up to 4
    if wants_prefill(body, call_prefill):
        out["messages"] = [*body["messages"], {"role": "assistant", "content": call_prefill}]
        if body.get("tool_choice") in (None, "auto"):
            out["tool_choice"] = "required"
        out["parallel_tool_calls"] = False
        out["temperature"] = 0.0
        if flavor == "vllm":
            # vLLM continues the last assistant message only when told to
            out["add_generation_prompt"] = False
            out["continue_final_message"] = True
    return out
