"""Token ids for prompts and answers, rendered by the model's own chat template.

The answer is tokenised apart from the prompt, as the text the template adds after the prompt's
generation header; the loss then falls on exactly those tokens (the assistant's answer) and the
sampled completions of RL live in the same token space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge_worker.training.chat_format import OFFLOAD_TEXT, normalise_for_template
from edge_worker.training.data import Example


@dataclass(frozen=True, slots=True)
class Encoded:
    prompt_ids: list[int]
    completion_ids: list[int]

    def features(self) -> dict[str, list[int]]:
        """``input_ids`` and ``labels`` with the prompt masked (-100): loss on the answer only."""
        return {
            "input_ids": self.prompt_ids + self.completion_ids,
            "labels": [-100] * len(self.prompt_ids) + self.completion_ids,
        }


def prompt_text(tokenizer: Any, example: Example) -> str:
    text: str = tokenizer.apply_chat_template(
        example.prompt, tools=example.tools or None, add_generation_prompt=True, tokenize=False
    )
    return text


def encode_prompt(tokenizer: Any, example: Example) -> list[int]:
    ids: list[int] = tokenizer(prompt_text(tokenizer, example), add_special_tokens=False)["input_ids"]
    return ids


def encode_example(tokenizer: Any, example: Example, *, offload: bool = False) -> Encoded:
    """Prompt ids and the cloud answer's ids (or the offload marker's when ``offload``)."""
    prompt = prompt_text(tokenizer, example)
    target = (
        {"role": "assistant", "content": OFFLOAD_TEXT}
        if offload
        else normalise_for_template(example.reference)
    )
    full: str = tokenizer.apply_chat_template(
        [*example.prompt, target], tools=example.tools or None, tokenize=False
    )
    if not full.startswith(prompt):
        raise ValueError(
            "the chat template renders the prompt differently with and without the answer; "
            "use a model whose template keeps the generation header as a prefix"
        )
    completion = full[len(prompt) :]
    return Encoded(
        tokenizer(prompt, add_special_tokens=False)["input_ids"],
        tokenizer(completion, add_special_tokens=False)["input_ids"],
    )
