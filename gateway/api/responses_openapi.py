"""``/openapi.json`` for the Responses API routes (``gateway.api.responses``): the request schema
is the pydantic model the route validates with, the answers a ``response`` object or its SSE
events, errors OpenAI's envelope. ``gateway.api.openapi.build_openapi`` adds these paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.protocol.responses import ResponsesRequest

_RESPONSE: dict[str, Any] = {
    "type": "object",
    "description": "A response object: output items (message with output_text, function_call), "
    "usage, status",
    "required": ["id", "object", "status", "output"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "response"},
        "created_at": {"type": "integer"},
        "status": {"enum": ["completed", "incomplete", "failed", "in_progress"]},
        "model": {"type": "string"},
        "output": {"type": "array", "items": {"type": "object"}},
        "usage": {"type": ["object", "null"]},
    },
}
_DELETED: dict[str, Any] = {
    "type": "object",
    "required": ["id", "object", "deleted"],
    "properties": {"id": {"type": "string"}, "object": {"const": "response"}, "deleted": {"const": True}},
}
_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "One Responses event: event names its type (response.created, "
    "response.output_item.added, response.output_text.delta, response.function_call_arguments.delta, "
    "response.completed, error, response.failed, ...), data is the event as JSON",
    "required": ["data"],
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
}
_NOT_FOUND = "No stored response with this id for this key (expired, deleted, or created with store=false)"


def responses_paths(
    auth: bool, error: Callable[[str], dict[str, Any]], headers: dict[str, Any], error_ref: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas) for POST /v1/responses and GET/DELETE /v1/responses/{id}."""
    schema = ResponsesRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    not_found = {"description": _NOT_FOUND, "content": {"application/json": {"schema": error_ref}}}
    create: dict[str, Any] = {
        "summary": "Responses API (OpenAI-compatible), translated to chat completions and routed "
        "edge or cloud",
        "operationId": "create_response",
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ResponsesRequest"}}}},
        "responses": {
            "200": {"description": "The response: JSON, or Responses SSE events when stream is true",
                    "headers": headers,
                    "content": {"application/json": {"schema": _RESPONSE},
                                "text/event-stream": {"schema": _EVENT}}},
            "404": {"description": "previous_response_id names no stored response of this key",
                    "content": {"application/json": {"schema": error_ref}}},
        },
    }
    for code in ("400", *(("401", "429") if auth else ()), "413", "502", "503", "504"):
        create["responses"][code] = error(code)
    param = {"name": "response_id", "in": "path", "required": True, "schema": {"type": "string"}}
    get: dict[str, Any] = {
        "summary": "A stored response of this key", "operationId": "get_response", "parameters": [param],
        "responses": {"200": {"description": "The stored response",
                              "content": {"application/json": {"schema": _RESPONSE}}},
                      "404": not_found},
    }
    delete: dict[str, Any] = {
        "summary": "Delete a stored response of this key", "operationId": "delete_response",
        "parameters": [param],
        "responses": {"200": {"description": "Deleted", "content": {"application/json": {"schema": _DELETED}}},
                      "404": not_found},
    }
    for operation in (get, delete):
        operation["responses"]["503"] = {
            "description": "The response store (Redis) is unreachable",
            "content": {"application/json": {"schema": error_ref}}}
    if auth:
        for operation in (create, get, delete):
            operation["security"] = [{"bearer": []}]
        for operation in (get, delete):
            operation["responses"]["401"] = error("401")
            operation["responses"]["429"] = error("429")
    paths = {"/v1/responses": {"post": create},
             "/v1/responses/{response_id}": {"get": get, "delete": delete}}
    return paths, {"ResponsesRequest": schema, **defs}
