"""The OpenAPI document (``GET /openapi.json``) of the surface the gateway really serves.

FastAPI documents only its own path operations, with the 422 its validation would answer. The
gateway answers differently, so the document is completed here:

- ``POST /v1/chat/completions`` (a plain Starlette route behind ``ChatFastLane``): its request
  schema is the pydantic model the route validates with, its answers JSON or an SSE stream;
- every 422 becomes the 400 the gateway answers, with OpenAI's error envelope;
- 401/403/429/413/5xx are declared where the gateway can answer them, all with the envelope;
- health, readiness and metrics are listed too; security follows the configured keys.

``tests/gateway/test_openapi_fuzz.py`` runs schemathesis against this document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway.api.responses_openapi import responses_paths
from gateway.protocol.chat import ChatCompletionRequest

ERROR = "ErrorEnvelope"
_REF = {"$ref": f"#/components/schemas/{ERROR}"}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "OpenAI's error envelope; every error the gateway answers has this shape",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "additionalProperties": False,
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}

_COMPLETION: dict[str, Any] = {
    "type": "object",
    "description": "A chat.completion object (the edge's or the cloud's answer)",
    "required": ["object", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object"}},
        "usage": {"type": ["object", "null"]},
    },
}

_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "One event: data is a chat.completion.chunk as JSON, an error envelope as JSON "
    "(a stream that broke), or [DONE]",
    "required": ["data"],
    "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
}

_WHY = {
    "400": "Malformed JSON, a bad field or an unsupported parameter",
    "401": "Missing or invalid API key",
    "403": "A client key on an admin endpoint (NETGPT_ADMIN_API_KEYS is set)",
    "413": "Body larger than NETGPT_MAX_BODY_BYTES",
    "429": "A limit of the key (requests or tokens per minute, or its cloud budget); see Retry-After",
    "502": "The upstream answered with an error",
    "503": "No upstream could be reached",
    "504": "The upstream timed out",
}

_ROUTE_HEADERS = {
    name: {"description": text, "schema": {"type": "string"}}
    for name, text in {
        "x-netgpt-route": "edge or cloud",
        "x-netgpt-reason": "why the route was taken",
        "x-netgpt-score": "the edge draft's score s",
        "x-netgpt-threshold": "the threshold tau",
        "x-request-id": "the request id",
    }.items()
}


def _error(code: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _WHY[code], "content": {"application/json": {"schema": _REF}}}
    if code == "429":
        response["headers"] = {
            "Retry-After": {"description": "seconds until the limit admits again", "schema": {"type": "string"}}
        }
    return response


def _chat_operation(auth: bool) -> dict[str, Any]:
    schema = ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    responses: dict[str, Any] = {
        "200": {
            "description": "The answer: JSON, or an SSE stream when stream is true",
            "headers": _ROUTE_HEADERS,
            "content": {
                "application/json": {"schema": _COMPLETION},
                # schemathesis (and OpenAPI 3.2's itemSchema) read it per event
                "text/event-stream": {"schema": _SSE_EVENT},
            },
        }
    }
    for code in ("400", *(("401", "429") if auth else ()), "413", "502", "503", "504"):
        responses[code] = _error(code)
    operation: dict[str, Any] = {
        "summary": "Chat Completions (OpenAI-compatible), routed edge or cloud",
        "operationId": "chat_completions",
        "parameters": [
            {"name": "x-request-id", "in": "header", "required": False,
             "schema": {"type": "string"}, "description": "echoed when it is 1-128 of [A-Za-z0-9._:-]"},
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
        },
        "responses": responses,
    }
    if auth:
        operation["security"] = [{"bearer": []}]
    return {"operation": operation, "schemas": {"ChatCompletionRequest": schema, **defs}}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    tenancy = app.state.tenancy
    client_auth = bool(tenancy.client_auth)
    admin_auth = client_auth or bool(tenancy.admin_keys)
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description="NetGPT gateway: OpenAI Chat Completions routed between an edge and a cloud model.",
        routes=app.routes,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas[ERROR] = ERROR_SCHEMA
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}

    admin_paths = {"/v1/router/state", "/v1/router/edge-model"}
    for path, item in doc.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            had_422 = responses.pop("422", None) is not None
            if had_422 or operation.get("requestBody"):
                responses["400"] = _error("400")
            is_admin = path in admin_paths or (path == "/metrics" and tenancy.metrics_require_admin)
            needs_auth = admin_auth if is_admin else (client_auth and path.startswith("/v1/"))
            if needs_auth:
                operation["security"] = [{"bearer": []}]
                responses["401"] = _error("401")
                if is_admin and tenancy.admin_keys:
                    responses["403"] = _error("403")
    chat = _chat_operation(client_auth)
    doc["paths"]["/v1/chat/completions"] = {"post": chat["operation"]}
    schemas.update(chat["schemas"])
    paths, more = responses_paths(client_auth, _error, _ROUTE_HEADERS, _REF)
    doc["paths"].update(paths)
    schemas.update(more)
    _document_cross_field_rules(schemas)
    return doc


# What the routes refuse beyond what JSON Schema can say (no "unique by field", no "a value in a
# sibling list"): stated on the fields, and as x-netgpt-unique-by for tools that read it
_UNIQUE = "function names must be unique within tools (400, param 'tools', otherwise)"
_NAMED = "a named function must be one of tools (400, param 'tool_choice', otherwise)"


def _document_cross_field_rules(schemas: dict[str, Any]) -> None:
    for name, unique_by in (("ChatCompletionRequest", "function.name"), ("ResponsesRequest", "name")):
        properties = schemas.get(name, {}).get("properties", {})
        if "tools" in properties:
            properties["tools"]["description"] = _UNIQUE
            properties["tools"]["x-netgpt-unique-by"] = unique_by
        if "tool_choice" in properties:
            properties["tool_choice"]["description"] = _NAMED


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
