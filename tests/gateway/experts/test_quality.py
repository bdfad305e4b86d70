"""Quality per expert and request type from logged records (the calibration's label)."""

from __future__ import annotations

from typing import Any

from gateway.experts.quality import (
    ANY,
    DEFAULT_PRIOR,
    QualityHolder,
    QualityTable,
    RequestType,
    label,
    request_type,
)
from tests.conftest import TOOLS

CALL = {"function": {"name": "get_weather", "arguments": '{"city": "Oslo", "unit": "celsius"}'}}
OTHER = {"function": {"name": "get_weather", "arguments": '{"city": "Bergen", "unit": "celsius"}'}}


def record(model: str, edge_calls: list[Any], *, valid: bool = True, tools: list[Any] | None = None,
           parallel: bool | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"messages": [{"role": "user", "content": "weather?"}], "tools": tools or TOOLS}
    if parallel is not None:
        request["parallel_tool_calls"] = parallel
    return {
        "request": request,
        "edge_draft": {"message": {"role": "assistant", "tool_calls": edge_calls}, "schema_valid": valid},
        "cloud_response": {"message": {"role": "assistant", "tool_calls": [CALL]}},
        "models": {"edge": model, "cloud": "big"},
    }


def test_the_label_is_agreement_with_the_cloud_and_an_invalid_draft_fails():
    assert label(record("m", [CALL]))[2] is True
    assert label(record("m", [OTHER]))[2] is False
    assert label(record("m", [CALL], valid=False))[2] is False
    assert label({"request": {}, "edge_draft": None, "cloud_response": {}, "models": {"edge": "m"}}) is None


def test_request_types_bucket_tools_and_find_the_domain_in_tool_names():
    rtype = request_type({"tools": TOOLS, "parallel_tool_calls": True}, ("booking", "weather"))
    assert rtype == RequestType("weather", "2-4", True)
    assert request_type({"tools": TOOLS[:1]}, ("finance",)) == RequestType(ANY, "1", False)
    assert request_type({}, ()).tools == "0"


def test_quality_follows_the_records_and_backs_off_to_the_prior():
    records = [record("good", [CALL])] * 40 + [record("bad", [OTHER])] * 30 + [record("bad", [CALL])] * 10
    table = QualityTable.from_records([*records, {"nonsense": True}], ("weather",))
    rtype = request_type(records[0]["request"], ("weather",))
    good, bad = table.quality("good", rtype, 0.5), table.quality("bad", rtype, 0.5)
    assert good > 0.9 and 0.2 < bad < 0.35
    assert table.records == 80 and table.skipped == 1
    assert table.quality("unseen", rtype, 0.7) == 0.7  # no records: the configured prior
    # a type never seen for a known model: its domain and model counts still speak
    other = RequestType("weather", "5+", True)
    assert table.quality("good", other, DEFAULT_PRIOR) > 0.85


async def test_the_holder_refits_from_the_spool_and_keeps_the_prior_without_records(tmp_path):
    holder = QualityHolder(["Weather"])
    state = await holder.refit(None, "netgpt:pairs", tmp_path)
    assert state["records"] == 0 and state["domains"] == ["weather"]
    assert holder.quality("m", RequestType(ANY, "1", False), 0.6) == 0.6
