"""OpenAI's Responses API request, as the gateway accepts it, and its translation to a Chat
Completions request (pure: no I/O).

The gateway serves ``POST /v1/responses`` by translating: the request becomes a chat completions
request dict that goes through the same routing pipeline as ``/v1/chat/completions`` (edge draft,
schema guard, score, τ, cloud fallback), and the answer is encoded back in the Responses shape
(``gateway.api.responses_encode``). Nothing is forwarded natively to an upstream ``/v1/responses``.

Served: ``input`` as a string or a list of items (messages with text or image parts,
``function_call``, ``function_call_output``), ``instructions``, function ``tools`` (the flat
Responses shape), ``tool_choice``, ``parallel_tool_calls``, ``max_output_tokens``,
``temperature``, ``top_p``, ``text.format``, ``user``, ``metadata``, ``stream``, ``store`` and
``previous_response_id``. Built-in tools (web search, file search, MCP, ...), background mode,
reasoning, conversations, prompt templates and reasoning or reference items get a 400 naming
the parameter (:func:`unsupported`), before validation, so the message says what to change.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from gateway.errors import RequestError, UnsupportedParameter
from gateway.protocol.chat import OpenAIModel, PositiveInt, _param

# fields of the Responses request the translation consumes: never forwarded to the chat upstream
# (unknown fields are, as on the chat route: x_fake, vLLM's sampling extras)
CONSUMED = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
    "max_output_tokens", "temperature", "top_p", "metadata", "stream", "store",
    "previous_response_id", "user", "text", "include", "truncation", "background", "reasoning",
    "service_tier", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options",
    "safety_identifier", "stream_options", "top_logprobs", "max_tool_calls", "conversation",
    "prompt", "context_management",
})
_BUILTIN_TOOLS = "function tools only (type 'function'); built-in tools such as web search, " \
    "file search, code interpreter, computer use, image generation and MCP servers are not served"


class InputText(OpenAIModel):
    type: Literal["input_text"]
    text: str


class OutputText(OpenAIModel):
    type: Literal["output_text"]
    text: str


class Refusal(OpenAIModel):
    type: Literal["refusal"]
    refusal: str


class InputImage(OpenAIModel):
    type: Literal["input_image"]
    image_url: str
    detail: Literal["low", "high", "auto"] | None = None


Part = Annotated[InputText | OutputText | Refusal | InputImage, Field(discriminator="type")]


class MessageItem(OpenAIModel):
    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: str | list[Part]


class FunctionCallItem(OpenAIModel):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    arguments: str


class FunctionCallOutputItem(OpenAIModel):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: str | list[InputText | OutputText]


def _item_kind(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("type", "message")
        return kind if isinstance(kind, str) else ""
    return getattr(value, "type", "")


Item = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")],
    Discriminator(_item_kind),
]


class FunctionTool(OpenAIModel):
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class NamedFunctionChoice(OpenAIModel):
    type: Literal["function"]
    name: str


class TextFormat(OpenAIModel):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class TextConfig(OpenAIModel):
    format: TextFormat | None = None


class ResponsesRequest(OpenAIModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        json_schema_extra={
            "if": {
                "required": ["tool_choice"],
                "properties": {"tool_choice": {"anyOf": [{"const": "required"}, {"type": "object"}]}},
            },
            "then": {"required": ["tools"], "properties": {"tools": {"type": "array", "minItems": 1}}},
        },
    )
    model: str = "auto"
    input: str | Annotated[list[Item], Field(min_length=1)]
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedFunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: PositiveInt | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    metadata: dict[str, str] | None = None
    stream: bool | None = False
    store: bool | None = True
    previous_response_id: str | None = None
    user: str | None = None
    text: TextConfig | None = None
    include: list[str] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    # true: 400 from unsupported() (background mode is not served); strict bool, so 0 is no false
    background: Annotated[bool, WithJsonSchema({"type": "boolean", "const": False})] | None = None
    # not served: null or absent only (unsupported() names them first)
    reasoning: None = None
    conversation: None = None
    prompt: None = None

    @property
    def tool_names(self) -> list[str]:
        return [tool.name for tool in self.tools or []]


_REQUEST = TypeAdapter(ResponsesRequest)
_ITEM_TAGS = frozenset({"message", "function_call", "function_call_output"})


def unsupported(raw: dict[str, Any]) -> UnsupportedParameter | None:
    """The first feature the gateway does not serve, as a 400 naming the parameter."""
    for index, tool in enumerate(raw.get("tools") or () if isinstance(raw.get("tools"), list) else ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if isinstance(kind, str) and kind != "function":
            return UnsupportedParameter(
                f"tools[{index}] has type '{kind}': the gateway serves {_BUILTIN_TOOLS}",
                param=f"tools[{index}].type")
    if raw.get("background") is True:
        return UnsupportedParameter("background mode is not supported: send background=false "
                                    "(or leave it out) and keep the connection open", param="background")
    for name, what in (("reasoning", "reasoning options are not supported (the models behind the "
                                     "gateway are not reasoning models): leave 'reasoning' out"),
                       ("conversation", "conversations are not supported: use previous_response_id"),
                       ("prompt", "prompt templates are not supported: send the prompt as input")):
        if raw.get(name) is not None:
            return UnsupportedParameter(what, param=name)
    items = raw.get("input")
    for index, item in enumerate(items if isinstance(items, list) else ()):
        kind = item.get("type") if isinstance(item, dict) else None
        if isinstance(kind, str) and kind not in ("message", "function_call", "function_call_output"):
            return UnsupportedParameter(
                f"input[{index}] has type '{kind}': the gateway takes message, function_call and "
                "function_call_output items (no reasoning, item references or built-in tool calls)",
                param=f"input[{index}].type")
        content = item.get("content") if isinstance(item, dict) else None
        for part_index, part in enumerate(content if isinstance(content, list) else ()):
            part_kind = part.get("type") if isinstance(part, dict) else None
            if part_kind in ("input_file", "input_audio"):
                return UnsupportedParameter(
                    f"input[{index}].content[{part_index}] has type '{part_kind}': only text and "
                    "image parts are served", param=f"input[{index}].content[{part_index}].type")
    return None


def parse_responses_request(raw: Any) -> ResponsesRequest:
    """Validate a decoded JSON body; raise a 400 naming the first bad or unsupported field."""
    if not isinstance(raw, dict):
        raise RequestError("the request body must be a JSON object", param=None)
    refused = unsupported(raw)
    if refused is not None:
        raise refused
    try:
        request = _REQUEST.validate_python(raw, strict=True, by_alias=True)
    except ValidationError as exc:
        # the deepest error: a bad item says more than "input is not a string"
        first = max(exc.errors(include_url=False), key=lambda error: len(error["loc"]))
        loc = tuple(part for part in first["loc"] if part not in _ITEM_TAGS)
        param = _param(loc) or None
        message = first["msg"]
        if first["type"] == "missing":
            message = f"'{param}' is a required property"
        elif param:
            message = f"invalid value for '{param}': {message}"
        raise RequestError(message, param=param) from None
    names = request.tool_names
    if isinstance(request.tool_choice, NamedFunctionChoice) and request.tool_choice.name not in names:
        raise RequestError(f"tool_choice names function '{request.tool_choice.name}', which is not "
                           "in 'tools'", param="tool_choice")
    if request.tool_choice == "required" and not names:
        raise RequestError("tool_choice 'required' needs a non-empty 'tools'", param="tool_choice")
    return request


def input_items(request: ResponsesRequest) -> list[dict[str, Any]]:
    """The request's input as a list of item dicts (a string input is one user message)."""
    if isinstance(request.input, str):
        return [{"type": "message", "role": "user", "content": request.input}]
    return [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in request.input]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text") or p.get("refusal") or "") for p in content or ()
                   if isinstance(p, dict))


def _chat_content(content: Any) -> Any:
    """A message's Responses content as chat content: a string, or text and image parts."""
    if isinstance(content, str):
        return content
    if not any(part.get("type") == "input_image" for part in content):
        return _text_of(content)
    parts: list[dict[str, Any]] = []
    for part in content:
        if part.get("type") == "input_image":
            image: dict[str, Any] = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            parts.append({"type": "text", "text": _text_of([part])})
    return parts


def to_messages(items: list[dict[str, Any]], instructions: str | None) -> list[dict[str, Any]]:
    """Responses items -> chat messages. Consecutive function calls (and the assistant text
    before them) become one assistant message with ``tool_calls``; outputs become tool messages."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for item in items:
        kind = item.get("type", "message")
        last = messages[-1] if messages else None
        if kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            elif last is not None and last["role"] == "assistant" and isinstance(last.get("content"), str):
                last["tool_calls"] = [call]
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item["output"]
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": output if isinstance(output, str) else _text_of(output)})
        else:
            role = item["role"]
            content = item["content"]
            messages.append({"role": role,
                             "content": _text_of(content) if role == "assistant" else _chat_content(content)})
    return messages


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, NamedFunctionChoice):
        return {"type": "function", "function": {"name": choice.name}}
    return choice


def _response_format(text: TextConfig | None) -> dict[str, Any] | None:
    fmt = text.format if text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    schema: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema_ or {}}
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": schema}


def to_chat(request: ResponsesRequest, history: list[dict[str, Any]], raw: dict[str, Any]) -> dict[str, Any]:
    """The chat completions request for ``request``, whose full conversation (the stored
    history of ``previous_response_id`` and this input) is ``history``."""
    chat: dict[str, Any] = {"model": request.model,
                            "messages": to_messages(history, request.instructions)}
    if request.tools:
        chat["tools"] = [
            {"type": "function", "function": tool.model_dump(mode="json", exclude={"type"}, exclude_none=True)}
            for tool in request.tools
        ]
    optional = {
        "tool_choice": _tool_choice(request.tool_choice),
        "parallel_tool_calls": request.parallel_tool_calls,
        # as it arrived (5.0 stays 5.0, 1e29 a float): what the chat route would forward
        "max_tokens": raw.get("max_output_tokens"),
        "temperature": request.temperature,
        "top_p": request.top_p,
        "user": request.user,
        "response_format": _response_format(request.text),
    }
    chat.update({key: value for key, value in optional.items() if value is not None})
    if request.stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    for key, value in raw.items():  # unknown fields travel on, as on the chat route
        if key not in CONSUMED and key not in chat:
            chat[key] = value
    return chat

