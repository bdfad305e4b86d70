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

vLLM has a second way to get a call out of such a model (``NETGPT_EDGE_CALL_STRATEGY=guided``,
and what ``auto``, the default, picks on a vLLM edge with a call prefill configured):
no prefill; ``tool_choice`` "auto" becomes "required" and every offered function is marked
``"strict": true`` in the draft's copy of the tools, so vLLM's guided decoding forces the call
envelope *and* arguments that follow each function's schema (without ``strict`` only the envelope
is forced). The client's own request is untouched. docs/vllm-edge.md compares the two.

With the prefill on vLLM, its tool parser sees only the generated text, so the call comes back as
JSON in ``content``; :func:`recover_prefilled_call` turns it into ``tool_calls``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

Flavor = Literal["vllm", "llamacpp", "openai"]
FLAVORS: tuple[Flavor, ...] = ("vllm", "llamacpp", "openai")
CallStrategy = Literal["auto", "prefill", "guided"]
CALL_CLOSER = "</tool_call>"


@dataclass(frozen=True, slots=True)
class Sampling:
    """Sampled drafts beside the greedy one (``NETGPT_EDGE_SAMPLES``): ``n`` choices in one
    request at ``temperature``, from ``seed`` (llama-server seeds its i-th choice ``seed + i``
    and processes the prompt once for all of them; vLLM shares it through its prefix cache)."""

    n: int
    temperature: float
    seed: int


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


def effective_strategy(
    call_strategy: CallStrategy, flavor: Flavor, call_prefill: str
) -> Literal["prefill", "guided"]:
    """``auto``: guided on vLLM when calls are forced (a prefill is configured), else prefill.

    Measured on SmolLM2 (docs/vllm-edge.md): guided drafts were schema-valid 81% of the time
    against 0% with the prefill on vLLM, in about half the time; llama.cpp keeps the prefill.
    """
    if call_strategy == "auto":
        return "guided" if flavor == "vllm" and call_prefill else "prefill"
    return call_strategy


def _named_tool_only(tools: list[Any], choice: dict[str, Any]) -> list[Any]:
    """The offered tool ``tool_choice`` names (all of them when it names none offered)."""
    function = choice.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    named = [t for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)
             and t["function"].get("name") == name]
    return named or list(tools)


def wants_prefill(body: dict[str, Any], call_prefill: str) -> bool:
    """Whether this request gets the pre-filled call opener."""
    return bool(call_prefill) and wants_forced_call(body)


def wants_forced_call(body: dict[str, Any]) -> bool:
    """Whether a call may be forced: tools offered, not ``tool_choice: "none"``, and the last
    turn is not already the assistant's."""
    if not body.get("tools"):
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
    call_strategy: CallStrategy = "prefill",
    sampling: Sampling | None = None,
) -> dict[str, Any]:
    """The body the edge gets for BODY (a shallow copy; BODY is not changed).

    ``call_strategy="guided"`` applies to the vLLM flavour only (the others keep the prefill);
    ``"auto"`` is :func:`effective_strategy`. ``sampling``: the same draft shape (prefill or
    guided call, cap, stops) asked ``n`` times at a temperature, from a seed (self-consistency).
    """
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
    guided = effective_strategy(call_strategy, flavor, call_prefill) == "guided" and flavor == "vllm"
    if guided:
        call_prefill = ""  # the guided strategy replaces the prefill
    stops = stop_sequences(call_prefill, stop)
    if stops:
        theirs = out.get("stop")
        theirs = [theirs] if isinstance(theirs, str) else list(theirs or ())
        out["stop"] = list(dict.fromkeys([*theirs, *stops]))[:4]  # OpenAI allows up to 4
    if wants_prefill(body, call_prefill):
        out["messages"] = [*body["messages"], {"role": "assistant", "content": call_prefill}]
        choice = body.get("tool_choice")
        if choice in (None, "auto"):
            out["tool_choice"] = "required"
        elif flavor == "llamacpp" and isinstance(choice, dict):
            # llama-server cannot continue a prefilled call under a named tool_choice (500: "the
            # model produced output that does not match the expected ... format"): offer the
            # named function alone and require a call, which asks for the same thing
            out["tools"], out["tool_choice"] = _named_tool_only(body["tools"], choice), "required"
        out["parallel_tool_calls"] = False
        out["temperature"] = 0.0
        if flavor == "vllm":
            # vLLM continues the last assistant message only when told to
            out["add_generation_prompt"] = False
            out["continue_final_message"] = True
    elif guided and wants_forced_call(body):
        out["tools"] = strict_tools(body["tools"])
        choice = body.get("tool_choice")
        if choice in (None, "auto"):
            out["tool_choice"] = "required"
        elif flavor == "llamacpp" and isinstance(choice, dict):
            # llama-server cannot continue a prefilled call under a named tool_choice (500: "the
            # model produced output that does not match the expected ... format"): offer the
            # named function alone and require a call, which asks for the same thing
            out["tools"], out["tool_choice"] = _named_tool_only(body["tools"], choice), "required"
        out["parallel_tool_calls"] = False
        out["temperature"] = 0.0
    if sampling is not None:
        out.update(n=sampling.n, temperature=sampling.temperature, seed=sampling.seed)
    return out


def strict_tools(tools: Any) -> Any:
    """Copies of the function tools with ``"strict": true`` (vLLM then guides the arguments by
    each function's schema); anything that is not a function tool is passed as it is."""
    if not isinstance(tools, list):
        return tools
    out = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and tool.get("type", "function") == "function":
            out.append({**tool, "function": {**fn, "strict": True}})
        else:
            out.append(tool)
    return out


def recover_prefilled_call(response: dict[str, Any], call_prefill: str) -> dict[str, Any]:
    """RESPONSE with a call that the prefill opened moved from ``content`` into ``tool_calls``.

    vLLM's tool parser sees only the generated text, never the prefilled opener, so a call the
    model finished after ``<tool_call>\\n`` arrives as ``{"name": ..., "arguments": ...}`` text
    in ``content``. A response that already has ``tool_calls``, or whose content is not one such
    object (prose, a cut-off call), is returned unchanged; the schema guard judges it then.
    """
    choices = response.get("choices")
    if not call_prefill or not isinstance(choices, list) or not choices:
        return response
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict) or message.get("tool_calls"):
        return response
    call = _call_from_text(message.get("content"))
    if call is None:
        return response
    tool_call = {"id": f"chatcmpl-tool-{uuid.uuid4().hex[:24]}", "type": "function",
                 "function": call}
    new_choice = {**first, "message": {**message, "content": None, "tool_calls": [tool_call]},
                  "finish_reason": "tool_calls"}
    return {**response, "choices": [new_choice, *choices[1:]]}


def _call_from_text(text: Any) -> dict[str, str] | None:
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text.endswith(CALL_CLOSER):  # the stop was not applied (e.g. a configured stop list)
        text = text[: -len(CALL_CLOSER)].rstrip()
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    arguments = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    return {"name": obj["name"], "arguments": arguments}
