"""Turn the chunks of a streamed chat completion back into one ``chat.completion`` object.

Content pieces are concatenated, tool-call deltas are joined by their ``index`` (the first delta
of a call carries ``id``, ``type`` and ``function.name``; later ones carry argument pieces), and
the usage chunk (``choices: []``) sets ``usage``. The result has the shape of a non-streamed
answer, so the dataset record of a streamed cloud answer matches a non-streamed one.

    acc = StreamAssembler()
    for payload in payloads: acc.add(orjson.loads(payload))
    acc.result()  # {"object": "chat.completion", "choices": [{"message": {...}}], "usage": ...}
"""

from __future__ import annotations

from typing import Any


class StreamAssembler:
    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.role = "assistant"
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.logprobs: list[Any] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def add(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        for key in ("id", "created", "model", "system_fingerprint"):
            if key in chunk and key not in self.head:
                self.head[key] = chunk[key]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._add_choice(choice)

    def _add_choice(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        if isinstance(delta.get("role"), str):
            self.role = delta["role"]
        if isinstance(delta.get("content"), str):
            self.content.append(delta["content"])
        if isinstance(delta.get("refusal"), str):
            self.refusal.append(delta["refusal"])
        for call in delta.get("tool_calls") or ():
            self._add_call(call)
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
            self.logprobs.extend(logprobs["content"])
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]

    def _add_call(self, call: Any) -> None:
        if not isinstance(call, dict):
            return
        index = call.get("index", len(self.calls))
        slot = self.calls.setdefault(
            index, {"id": None, "type": "function", "function": {"name": "", "arguments": []}}
        )
        if call.get("id"):
            slot["id"] = call["id"]
        if call.get("type"):
            slot["type"] = call["type"]
        function = call.get("function") or {}
        if function.get("name") and not slot["function"]["name"]:
            slot["function"]["name"] = function["name"]
        if isinstance(function.get("arguments"), str):
            slot["function"]["arguments"].append(function["arguments"])

    def result(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role,
            "content": "".join(self.content) if self.content else None,
        }
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        if self.calls:
            message["tool_calls"] = [
                {
                    "id": slot["id"],
                    "type": slot["type"],
                    "function": {
                        "name": slot["function"]["name"],
                        "arguments": "".join(slot["function"]["arguments"]),
                    },
                }
                for _, slot in sorted(self.calls.items())
            ]
        choice = {
            "index": 0,
            "message": message,
            "logprobs": {"content": self.logprobs} if self.logprobs else None,
            "finish_reason": self.finish_reason,
        }
        return {
            **self.head,
            "object": "chat.completion",
            "choices": [choice],
            "usage": self.usage,
        }
