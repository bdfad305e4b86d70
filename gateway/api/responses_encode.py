"""Responses API encoding of a service :class:`~gateway.service.Outcome`.

:class:`Folder` folds ``chat.completion.chunk`` objects into Responses output items and the
server-sent events OpenAI sends for them::

    response.created, response.in_progress,
    per message:  response.output_item.added, response.content_part.added,
                  response.output_text.delta..., response.output_text.done,
                  response.content_part.done, response.output_item.done
    per call:     response.output_item.added, response.function_call_arguments.delta...,
                  response.function_call_arguments.done, response.output_item.done
    then          response.completed (response.incomplete when max_output_tokens cut it)
    or, when the upstream broke mid-answer: error, response.failed — never a completion.

A whole ``chat.completion`` (the edge draft, a cloud answer fetched whole) goes through the same
fold via its chunks, so the JSON answer and the streamed one cannot disagree.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.protocol.sse import completion_to_chunks
from gateway.service import StreamError

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


@dataclass(slots=True)
class ResponseMeta:
    """What the response object echoes of its request."""

    id: str
    model: str
    echo: dict[str, Any]  # instructions, tools, tool_choice, ... as the Responses shape names them
    created_at: int = field(default_factory=lambda: int(time.time()))


def usage_of(chat_usage: Any) -> dict[str, Any] | None:
    if not isinstance(chat_usage, dict):
        return None
    prompt = int(chat_usage.get("prompt_tokens") or 0)
    completion = int(chat_usage.get("completion_tokens") or 0)
    details = chat_usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(cached or 0)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": int(chat_usage.get("total_tokens") or prompt + completion),
    }


def response_object(meta: ResponseMeta, output: list[dict[str, Any]], *, status: str,
                    usage: dict[str, Any] | None = None, error: dict[str, Any] | None = None,
                    incomplete: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": meta.id, "object": "response", "created_at": meta.created_at, "status": status,
        "error": error, "incomplete_details": {"reason": incomplete} if incomplete else None,
        "model": meta.model, "output": output, "usage": usage,
    }
    body.update(meta.echo)
    return body


class Folder:
    """Chat chunks in, Responses events (bytes) out; ``response`` once finished."""

    def __init__(self, meta: ResponseMeta) -> None:
        self.meta = meta
        self.seq = 0
        self.output: list[dict[str, Any]] = []
        self._text: int | None = None  # output index of the open message
        self._calls: dict[int, int] = {}  # chat tool-call index -> output index
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        self.response: dict[str, Any] | None = None

    def _event(self, kind: str, **data: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.seq, **data}
        self.seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def start(self) -> list[bytes]:
        snapshot = response_object(self.meta, [], status="in_progress")
        return [self._event("response.created", response=snapshot),
                self._event("response.in_progress", response=snapshot)]

    def feed(self, chunk: Any) -> list[bytes]:
        out: list[bytes] = []
        if not isinstance(chunk, dict):
            return out
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            self.meta.model = chunk["model"]
        if chunk.get("usage"):
            self._usage = usage_of(chunk["usage"])
        choices = chunk.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        delta = choice.get("delta") or {}
        if delta.get("content"):
            out += self._text_delta(str(delta["content"]))
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                out += self._call_delta(call)
        if choice.get("finish_reason"):
            self._finish = choice["finish_reason"]
        return out

    def _added(self, item: dict[str, Any]) -> bytes:
        self.output.append(item)
        return self._event("response.output_item.added", output_index=len(self.output) - 1, item=item)

    def _text_delta(self, piece: str) -> list[bytes]:
        out = []
        if self._text is None:
            part: dict[str, Any] = {"type": "output_text", "text": "", "annotations": []}
            item: dict[str, Any] = {"type": "message", "id": new_id("msg"), "status": "in_progress",
                                    "role": "assistant", "content": []}
            out.append(self._added(item))
            self._text = len(self.output) - 1
            item["content"].append(part)
            out.append(self._event("response.content_part.added", item_id=item["id"],
                                   output_index=self._text, content_index=0, part=part))
        message = self.output[self._text]
        message["content"][0]["text"] += piece
        out.append(self._event("response.output_text.delta", item_id=message["id"], output_index=self._text,
                               content_index=0, delta=piece, logprobs=[]))
        return out

    def _call_delta(self, call: dict[str, Any]) -> list[bytes]:
        out = []
        index = call.get("index", 0)
        function = call.get("function") or {}
        if index not in self._calls:
            item = {"type": "function_call", "id": new_id("fc"), "call_id": call.get("id") or new_id("call"),
                    "name": function.get("name") or "", "arguments": "", "status": "in_progress"}
            out.append(self._added(item))
            self._calls[index] = len(self.output) - 1
        position = self._calls[index]
        item = self.output[position]
        if function.get("name") and not item["name"]:
            item["name"] = function["name"]
        piece = function.get("arguments")
        if piece:
            item["arguments"] += piece
            out.append(self._event("response.function_call_arguments.delta", item_id=item["id"],
                                   output_index=position, delta=piece))
        return out

    def finish(self) -> list[bytes]:
        """Close every item; ``response.completed`` (or ``.incomplete``)."""
        out = []
        for position, item in enumerate(self.output):
            item["status"] = "completed"
            if item["type"] == "message":
                part = item["content"][0]
                out.append(self._event("response.output_text.done", item_id=item["id"], output_index=position,
                                       content_index=0, text=part["text"], logprobs=[]))
                out.append(self._event("response.content_part.done", item_id=item["id"],
                                       output_index=position, content_index=0, part=part))
            else:
                out.append(self._event("response.function_call_arguments.done", item_id=item["id"],
                                       output_index=position, name=item["name"], arguments=item["arguments"]))
            out.append(self._event("response.output_item.done", output_index=position, item=item))
        incomplete = _INCOMPLETE.get(self._finish or "")
        self.response = response_object(self.meta, self.output, usage=self._usage,
                                        status="incomplete" if incomplete else "completed",
                                        incomplete=incomplete)
        kind = "response.incomplete" if incomplete else "response.completed"
        out.append(self._event(kind, response=self.response))
        return out

    def fail(self, envelope: dict[str, Any]) -> list[bytes]:
        """The upstream broke mid-answer: ``error`` then ``response.failed``; items stay incomplete."""
        found = envelope.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        code = error.get("code") or error.get("type") or "server_error"
        message = error.get("message") or "the upstream broke off the answer"
        for item in self.output:
            item["status"] = "incomplete"
        failed = response_object(self.meta, self.output, usage=self._usage, status="failed",
                                 error={"code": str(code), "message": str(message)})
        return [self._event("error", code=str(code), message=str(message), param=error.get("param")),
                self._event("response.failed", response=failed)]


def fold_completion(meta: ResponseMeta, completion: dict[str, Any]) -> tuple[Folder, list[bytes]]:
    """A whole chat.completion as Responses events; ``folder.response`` is the object."""
    folder = Folder(meta)
    events = folder.start()
    for chunk in completion_to_chunks(completion, include_usage=True):
        events += folder.feed(chunk)
    events += folder.finish()
    return folder, events


async def fold_stream(folder: Folder, items: AsyncIterator[bytes | StreamError]) -> AsyncIterator[bytes]:
    """Relay a cloud stream as Responses events. The items are read to their end, even after an
    error, so the service's bookkeeping finishes with the stream."""
    for event in folder.start():
        yield event
    failed = False
    async for item in items:
        if failed:
            continue
        if isinstance(item, StreamError):
            failed = True
            for event in folder.fail(item.envelope):
                yield event
            continue
        try:
            chunk = orjson.loads(item)
        except orjson.JSONDecodeError:
            continue
        for event in folder.feed(chunk):
            yield event
    if not failed:
        for event in folder.finish():
            yield event


async def replay(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event
