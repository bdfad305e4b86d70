"""The hermes chat format: how tools and tool calls are rendered and how calls are parsed back.

vLLM serves the edge model with ``--tool-call-parser hermes``: the model writes each call as
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` and the server turns those spans into
OpenAI ``tool_calls``. Training must score generated text the same way the server will read it,
so :func:`parse_hermes` mirrors that parser: the text before the first ``<tool_call>`` is the
content; any span that is not a JSON object with a ``name`` makes the whole answer unparsable
(vLLM then returns the raw text as content and no calls).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

TOOL_CALL_START = "<tool_call>"
TOOL_CALL_END = "</tool_call>"
# the paper's marker (SEEDS.md B); the gateway detects its prefix (NETGPT_ROUTING_OFFLOAD_MARKER)
OFFLOAD_TEXT = "<unknown> I need external assistance </unknown>"
OFFLOAD_MARKER = "<unknown>"

_CALL_RE = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)

# A Qwen2.5-style template (ChatML turns, tools in the system turn, hermes calls). Arguments may
# be a JSON string (the OpenAI wire format) or a dict (the Hugging Face convention): both render
# to the same text, so the template never double-encodes.
HERMES_TEMPLATE = """\
{%- if tools %}<|im_start|>system
{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}
{% endif %}# Tools
Call functions inside <tool_call></tool_call> tags. Available functions:
<tools>
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}</tools><|im_end|>
{% elif messages[0]['role'] == 'system' %}<|im_start|>system
{{ messages[0]['content'] }}<|im_end|>
{% endif %}
{%- for message in messages %}
{%- if message['role'] == 'system' %}
{%- elif message['role'] == 'tool' %}<|im_start|>user
<tool_response>
{{ message['content'] }}
</tool_response><|im_end|>
{% elif message['role'] == 'assistant' %}<|im_start|>assistant
{% if message['content'] %}{{ message['content'] }}{% endif %}
{%- if message['tool_calls'] %}{% for call in message['tool_calls'] %}
{%- set f = call['function'] if call['function'] is defined else call %}
{%- if message['content'] or not loop.first %}
{% endif %}<tool_call>
{"name": "{{ f['name'] }}", "arguments": {% if f['arguments'] is string %}{{ f['arguments'] }}\
{% else %}{{ f['arguments'] | tojson }}{% endif %}}
</tool_call>
{%- endfor %}{% endif %}<|im_end|>
{% else %}<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    """A generated answer as the gateway would receive it from vLLM."""

    content: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # OpenAI shape
    parse_error: bool = False  # a <tool_call> span that is not a JSON call
    offload: bool = False  # the model asked for the cloud's help

    def as_message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if self.tool_calls:
            msg["tool_calls"] = self.tool_calls
        return msg


def parse_hermes(text: str, offload_marker: str = OFFLOAD_MARKER) -> ParsedAnswer:
    """Split generated text into content and OpenAI ``tool_calls`` the way vLLM's hermes parser does."""
    offload = bool(offload_marker) and offload_marker in text
    if TOOL_CALL_START not in text:
        return ParsedAnswer(content=text.strip(), offload=offload)
    calls: list[dict[str, Any]] = []
    for index, match in enumerate(_CALL_RE.finditer(text)):
        raw = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            return ParsedAnswer(content=text.strip(), parse_error=True, offload=offload)
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            return ParsedAnswer(content=text.strip(), parse_error=True, offload=offload)
        arguments = obj.get("arguments", {})
        calls.append(
            {
                "id": f"call_{index}",
                "type": "function",
                "function": {"name": obj["name"], "arguments": json.dumps(arguments)},
            }
        )
    content = text[: text.index(TOOL_CALL_START)].strip()
    return ParsedAnswer(content=content, tool_calls=calls, offload=offload)


def normalise_for_template(message: dict[str, Any]) -> dict[str, Any]:
    """An assistant message with each call's ``arguments`` as a dict (what HF templates expect)."""
    calls = message.get("tool_calls")
    if not calls:
        return {"role": message.get("role", "assistant"), "content": message.get("content") or ""}
    out_calls = []
    for call in calls:
        function = dict(call.get("function") or {})
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                function["arguments"] = json.loads(arguments or "{}")
            except json.JSONDecodeError:
                pass  # keep the string: the template renders it verbatim
        out_calls.append({"type": "function", "function": function})
    return {"role": "assistant", "content": message.get("content") or "", "tool_calls": out_calls}
