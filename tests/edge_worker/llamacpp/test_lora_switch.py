"""``netgpt edge load-adapter --flavor llamacpp`` against the real llama-server.

Switching a trained adapter on is exercised end to end by the micro-loop (tests/bench/test_loop.py:
the adapter GGUF produced there is loaded off, switched on, and the gateway switched). Here: the
listing and the refusal a user gets when the server never loaded the adapter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_worker.cli import register
from edge_worker.lora_llamacpp import LoraError, enable_adapter, list_adapters, root_url

pytestmark = pytest.mark.llamacpp


def test_root_url_drops_v1() -> None:
    assert root_url("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000"
    assert root_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"


def test_a_server_without_adapters_lists_none(real_edge: Any) -> None:
    assert list_adapters(real_edge.base_url) == []


def test_an_adapter_the_server_did_not_load_is_refused_with_what_to_do(real_edge: Any, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter.gguf"
    with pytest.raises(LoraError, match="--lora-init-without-apply"):
        enable_adapter(real_edge.base_url, adapter)


def test_command_detects_llamacpp_and_fails_cleanly(real_edge: Any, tmp_path: Path, capsys: Any) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["edge", "load-adapter", str(tmp_path / "a.gguf"), "--name", "x",
                              "--edge-base-url", real_edge.base_url, "--gateway",
                              "http://127.0.0.1:9"])
    assert args.func(args) == 1  # detected from GET /v1/models: no vLLM call was tried
    err = capsys.readouterr().err
    assert "llama-server did not load" in err and "Traceback" not in err
