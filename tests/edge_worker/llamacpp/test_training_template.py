"""Training renders prompts exactly as the served llama.cpp edge does.

The loop trains on prompts rendered by the tokenizer read from the edge's GGUF with the template
the server is started with (``--chat-template``); llama-server renders its own prompt with its
own Jinja engine. If the two ever differ, the model is trained on text it is never served.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

pytestmark = [pytest.mark.llamacpp, pytest.mark.train]

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather forecast for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "days": {"type": "integer"}},
                   "required": ["city"]}}}]


def test_training_prompt_equals_the_servers(real_edge: Any) -> None:
    pytest.importorskip("transformers")
    from edge_worker.llamacpp.models import ensure_model, template_path
    from edge_worker.training.data import Example
    from edge_worker.training.encode import prompt_text
    from edge_worker.training.modeling import load_tokenizer

    tokenizer = load_tokenizer(ensure_model("smollm2"), template_path("smollm2"))
    for messages in (
        [{"role": "user", "content": "Weather in Oslo for 3 days?"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    ):
        ours = prompt_text(tokenizer, Example("t", messages, TOOLS, {}))
        request = urllib.request.Request(
            real_edge.root_url + "/apply-template",
            data=json.dumps({"messages": messages, "tools": TOOLS}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            theirs = json.loads(resp.read())["prompt"]
        assert ours == theirs
