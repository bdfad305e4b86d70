"""A tiny Qwen2-style model with random weights and a tokenizer trained here, offline.

For tests and for trying the pipeline on a laptop: no download, seconds to build. The tokenizer
is a byte-level BPE trained with ``tokenizers`` on chat text rendered by the hermes template
(tools, calls, the offload marker), so tool-call boilerplate costs few tokens; ``<tool_call>``
and friends are added (not special) tokens, as in Qwen2.5, so they survive decoding and the
hermes parser sees them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from edge_worker.training.chat_format import HERMES_TEMPLATE, OFFLOAD_TEXT
from edge_worker.training.toy import CITIES, PROMPTS, TOOLS

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
ADDED = ["<tool_call>", "</tool_call>", "<tools>", "</tools>", "<tool_response>", "</tool_response>"]
_WORDS = (
    "the a of to and in is it for on with as at by from this that what how when where which "
    "please call function tool tools result answer question user assistant system weather time "
    "city timezone country search book flight email send read file list get set name arguments "
    "type object string integer number boolean array properties required description enum"
).split()


def _corpus(seed: int, n: int = 400) -> list[str]:
    """Chat text in the template's shape plus generic words: what the tokenizer should compress."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=False, lstrip_blocks=False)
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    template = env.from_string(HERMES_TEMPLATE)
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        city = rng.choice(CITIES)
        call = {"function": {"name": "get_weather", "arguments": {"city": city}}}
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": rng.choice(PROMPTS).format(city=city)},
            {"role": "assistant", "content": "", "tool_calls": [call]},
        ]
        texts.append(template.render(messages=messages, tools=TOOLS, add_generation_prompt=False))
        texts.append(OFFLOAD_TEXT)
        texts.append(" ".join(rng.choice(_WORDS) for _ in range(24)))
    return texts


def build_tokenizer(seed: int = 0, vocab_size: int = 1024) -> Any:
    """A ``PreTrainedTokenizerFast`` with ChatML special tokens and the hermes chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_corpus(seed), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.add_tokens(ADDED)
    tokenizer.chat_template = HERMES_TEMPLATE
    tokenizer.padding_side = "left"  # generation pads on the left
    return tokenizer


def make_tiny_model(
    out: Path,
    *,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vocab_size: int = 1024,
    initializer_range: float = 0.3,
    seed: int = 0,
) -> Path:
    """Write a random Qwen2ForCausalLM and its tokenizer to ``out`` (``from_pretrained`` loads it)."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tokenizer(seed, vocab_size)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        # LoRA cannot touch the embeddings or the final norm: with the usual 0.02 init the logits
        # of a 64-wide model stay within about +-1.3, so no adapter could make them confident
        initializer_range=initializer_range,
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, bos_token_id=pad)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
