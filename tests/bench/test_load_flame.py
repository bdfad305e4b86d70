"""Flame graphs and the CPU breakdown drawn from py-spy's collapsed stacks (bench/load/flame.py)."""

from __future__ import annotations

import xml.dom.minidom
from pathlib import Path

import pytest

from bench.load import flame
from bench.load.profile import PARTS

STACKS = """\
main (gateway/cli.py:80);Runner.run (asyncio/runners.py:118);chat_completions (gateway/api/chat.py:110);parse_request (gateway/protocol/chat.py:40);validate_python (pydantic/type_adapter.py:412) 30
main (gateway/cli.py:80);Runner.run (asyncio/runners.py:118);chat_completions (gateway/api/chat.py:110);ChatService.handle (gateway/service/chat.py:90);EdgeClient.draft (edge_worker/client.py:120);parse_completion (gateway/infra/upstream_http.py:111) 20
main (gateway/cli.py:80);Runner.run (asyncio/runners.py:118);chat_completions (gateway/api/chat.py:110);ChatService.handle (gateway/service/chat.py:90);EdgeClient.draft (edge_worker/client.py:120);ClientSession._request (aiohttp/client.py:700) 25
main (gateway/cli.py:80);_worker (concurrent/futures/thread.py:83);DatasetWriter._encode (gateway/dataset/writer.py:325);model_validate (pydantic/main.py:500) 15
main (gateway/cli.py:80);Runner.run (asyncio/runners.py:118);chat_completions (gateway/api/chat.py:110) 10
main (gateway/cli.py:80);Runner.run (asyncio/runners.py:118);select (selectors.py:468) 99
"""


@pytest.fixture
def stacks(tmp_path: Path) -> list[tuple[list[str], int]]:
    path = tmp_path / "stacks.txt"
    path.write_text(STACKS)
    return flame.read(path)


def test_idle_waits_are_left_out(stacks: list[tuple[list[str], int]]) -> None:
    assert sum(count for _, count in stacks) == 100


def test_a_sample_counts_for_the_innermost_frame_that_names_a_part(stacks: list[tuple[list[str], int]]) -> None:
    shares = flame.breakdown(stacks, PARTS)
    # pydantic names no part: its samples count for the caller (request parse, dataset record)
    assert shares["request JSON parse + validation (pydantic)"] == pytest.approx(30.0)
    assert shares["dataset record (build, redact, validate, encode, write)"] == pytest.approx(15.0)
    # parse_completion lives in the client module but is the answer's parse
    assert shares["upstream answer parse (orjson + shape)"] == pytest.approx(20.0)
    assert shares["upstream HTTP clients (aiohttp, edge and cloud adapters)"] == pytest.approx(25.0)
    assert shares["route handlers and service stages (own time)"] == pytest.approx(10.0)
    assert shares["other"] == 0.0
    assert sum(shares.values()) == pytest.approx(100.0)


def test_the_flame_graph_is_svg_with_a_box_per_frame(stacks: list[tuple[list[str], int]]) -> None:
    root = flame.tree(stacks)
    assert root.count == 100
    handler = root.children["main (cli.py)"].children["Runner.run (runners.py)"].children["chat_completions (chat.py)"]
    assert handler.count == 85
    doc = xml.dom.minidom.parseString(flame.svg(root, "edge <path>"))
    titles = [t.firstChild.data for t in doc.getElementsByTagName("title")]
    assert "chat_completions (chat.py): 85 samples, 85.0%" in titles
    assert any("parse_completion (upstream_http.py)" in t for t in titles)
