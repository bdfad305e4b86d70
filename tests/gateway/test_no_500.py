"""No request can cause a 500: random bodies, near-valid and not, through the app."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
json_any = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "bogus"])},
    optional={
        "content": json_any,
        "tool_call_id": json_any,
        "tool_calls": json_any,
        "name": json_any,
    },
)
schema = st.one_of(
    json_any,
    st.just({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}),
    st.just({"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/x"}}}),
    st.just({"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}),
)
tool = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["function", "other"]),
        "function": st.fixed_dictionaries(
            {"name": st.text(min_size=1, max_size=10)}, optional={"parameters": schema}
        ),
    }
)
body = st.fixed_dictionaries(
    {"messages": st.one_of(st.lists(message, max_size=3), json_any)},
    optional={
        "model": st.sampled_from(["auto", "edge", "cloud", "x"]),
        "tools": st.one_of(st.lists(tool, max_size=2), json_any),
        "tool_choice": st.one_of(st.sampled_from(["none", "auto", "required"]), json_any),
        "n": json_any,
        "stream": st.booleans(),
        "temperature": json_any,
        "max_tokens": json_any,
        "parallel_tool_calls": json_any,
        "stream_options": json_any,
        "response_format": json_any,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=body)
async def test_random_bodies_never_get_a_500(gw, payload):
    resp = await gw.http.post(
        "/v1/chat/completions",
        content=json.dumps(payload),
        headers={"content-type": "application/json"},
    )
    assert resp.status_code != 500, resp.text
    if resp.status_code >= 400:
        assert set(resp.json()["error"]) == {"message", "type", "param", "code"}
