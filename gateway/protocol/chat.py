"""The OpenAI Chat Completions request, as the gateway accepts it.

One base model for the protocol, ``extra="allow"`` so unknown fields are kept (and forwarded
upstream from the raw dict the request arrived as). Validation only checks; the gateway forwards
the original JSON object, so nothing is lost or reformatted on the way.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from gateway.errors import RequestError, UnsupportedParameter


def _integral(value: Any) -> Any:
    # JSON Schema counts 5.0 (and 1e300) as an integer; strict validation alone would not
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral)]
# constraints before the validator, or the JSON Schema gets pydantic's "ge" instead of "minimum"
PositiveInt = Annotated[int, Field(ge=1), BeforeValidator(_integral)]
TopLogprobs = Annotated[int, Field(ge=0, le=20), BeforeValidator(_integral)]


class OpenAIModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionCall(OpenAIModel):
    name: str
    arguments: str


class ToolCall(OpenAIModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


Content = str | list[dict[str, Any]]


class SystemMessage(OpenAIModel):
    role: Literal["system", "developer"]
    content: Content
    name: str | None = None


class UserMessage(OpenAIModel):
    role: Literal["user"]
    content: Content
    name: str | None = None


class AssistantMessage(OpenAIModel):
    # the JSON Schema of the check below, for /openapi.json and the clients generated from it
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["content"], "properties": {"content": {"not": {"type": "null"}}}},
                {"required": ["tool_calls"], "properties": {"tool_calls": {"type": "array", "minItems": 1}}},
                {"required": ["function_call"]},
            ]
        }
    )
    role: Literal["assistant"]
    content: Content | None = None
    tool_calls: list[ToolCall] | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _has_something(self) -> AssistantMessage:
        if self.content is None and not self.tool_calls and "function_call" not in (
            self.model_extra or {}
        ):
            raise ValueError("an assistant message needs content or tool_calls")
        return self


class ToolMessage(OpenAIModel):
    role: Literal["tool"]
    content: Content
    tool_call_id: str


class FunctionMessage(OpenAIModel):
    role: Literal["function"]
    content: str | None
    name: str


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage,
    Field(discriminator="role"),
]


class FunctionDefinition(OpenAIModel):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(OpenAIModel):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(OpenAIModel):
    name: str


class NamedToolChoice(OpenAIModel):
    type: Literal["function"]
    function: NamedFunction


class StreamOptions(OpenAIModel):
    include_usage: bool | None = None


class ResponseFormat(OpenAIModel):
    type: Literal["text", "json_object", "json_schema"]


class ChatCompletionRequest(OpenAIModel):
    # what parse_request checks beyond the fields, as far as JSON Schema can say it (unique tool
    # names and a named tool_choice naming an offered tool it cannot)
    model_config = ConfigDict(
        json_schema_extra={
            # tool_choice "required" or a named function needs tools
            "if": {
                "required": ["tool_choice"],
                "properties": {"tool_choice": {"anyOf": [{"const": "required"}, {"type": "object"}]}},
            },
            "then": {"required": ["tools"], "properties": {"tools": {"type": "array", "minItems": 1}}},
        }
    )
    model: str = "auto"
    messages: list[Message] = Field(min_length=1)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    n: JsonInt | None = Field(None, json_schema_extra={"enum": [1, None]})  # only 1 is supported
    logprobs: bool | None = None
    top_logprobs: TopLogprobs | None = None
    seed: JsonInt | None = None
    stop: str | list[str] | None = None

    @property
    def tool_names(self) -> list[str]:
        return [tool.function.name for tool in self.tools or []]

    @property
    def named_tool(self) -> str | None:
        if isinstance(self.tool_choice, NamedToolChoice):
            return self.tool_choice.function.name
        return None


_REQUEST = TypeAdapter(ChatCompletionRequest)


_UNION_TAG = re.compile(r"^(str|int|float|bool|none|[A-Z]\w*|\w+\[.*\]|function-\w+\[.*)$")


def _param(loc: tuple[int | str, ...]) -> str:
    # drop the discriminator tag pydantic inserts after messages[i] ("user", "tool", ...)
    if len(loc) > 2 and loc[0] == "messages" and isinstance(loc[1], int):
        loc = loc[:2] + loc[3:]
    out = ""
    for part in loc:
        if isinstance(part, str) and _UNION_TAG.match(part):
            continue  # a union member's type name ("str", "list[...]", "NamedToolChoice")
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_request(raw: Any) -> ChatCompletionRequest:
    """Validate a decoded JSON body; raise :class:`RequestError` naming the first bad field."""
    if not isinstance(raw, dict):
        raise RequestError("the request body must be a JSON object", param=None)
    try:
        # strict: the raw JSON is what goes upstream, so "max_tokens": "5" or "seed": false must
        # not pass as the int pydantic's lax mode would turn them into (found by schemathesis)
        request = _REQUEST.validate_python(raw, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = _param(tuple(first["loc"])) or None
        message = first["msg"]
        if first["type"] == "missing":
            message = f"'{param}' is a required property"
        elif param:
            message = f"invalid value for '{param}': {message}"
        raise RequestError(message, param=param) from None
    if request.n is not None and request.n != 1:
        raise UnsupportedParameter(
            f"n={request.n} is not supported: the gateway returns exactly one choice (use n=1)",
            param="n",
        )
    names = request.tool_names
    if len(set(names)) != len(names):
        raise RequestError("tool function names must be unique", param="tools")
    if request.named_tool is not None and request.named_tool not in names:
        raise RequestError(
            f"tool_choice names function '{request.named_tool}', which is not in 'tools'",
            param="tool_choice",
        )
    if request.tool_choice == "required" and not names:
        raise RequestError("tool_choice 'required' needs a non-empty 'tools'", param="tool_choice")
    return request
