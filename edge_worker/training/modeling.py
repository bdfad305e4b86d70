"""Loading models and adapters, sampling, and per-token log-probabilities (torch side)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812


def seed_all(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible; use --device cpu")
    return name


def dtype_for(device: str) -> torch.dtype:
    # bf16 on GPUs that have it (the documented Qwen2.5 path); fp32 on the CPU
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def split_gguf(path: str | Path) -> tuple[str, dict[str, str]]:
    """``DIR/model.gguf`` -> (``DIR``, ``{"gguf_file": "model.gguf"}``); other paths unchanged.

    transformers reads a GGUF file (weights de-quantised to the requested dtype, tokenizer and
    chat template from its metadata) when ``from_pretrained`` gets the directory and the file.
    """
    p = Path(path)
    if p.suffix == ".gguf":
        return str(p.parent), {"gguf_file": p.name}
    return str(path), {}


def load_tokenizer(path: str | Path, chat_template: Path | None = None) -> Any:
    """The model's tokenizer; ``chat_template`` (a Jinja file) replaces the one it ships.

    Training must render prompts exactly as the edge server will: a GGUF's own template may
    differ from the one the server is started with (SmolLM2's has no tools at all).
    """
    from transformers import AutoTokenizer

    directory, gguf = split_gguf(path)
    tokenizer = AutoTokenizer.from_pretrained(directory, **gguf)
    if chat_template is not None:
        tokenizer.chat_template = Path(chat_template).read_text(encoding="utf-8")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_base(path: str | Path, device: str) -> Any:
    from transformers import AutoModelForCausalLM

    directory, gguf = split_gguf(path)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype_for(device), **gguf)
    if gguf:
        clear_gguf_quantizer(model)
    return model.to(device)


def clear_gguf_quantizer(model: Any) -> None:
    """Make a GGUF-loaded model an ordinary one (its weights are already de-quantised).

    transformers keeps a GGUF "quantizer" on the model and ``quantization_config`` on its
    config, and ``save_pretrained`` then refuses to write it (and a merged LoRA with it).
    """
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def load_with_adapter(base: str | Path, adapter: Path, device: str, *, trainable: bool) -> Any:
    """The base model with a saved LoRA adapter: trainable for the policy, merged and frozen
    for the reference (a merged copy runs as fast as the base)."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(load_base(base, device), str(adapter), is_trainable=trainable)
    if trainable:
        return model
    merged = model.merge_and_unload().eval()
    for param in merged.parameters():
        param.requires_grad_(False)
    return merged


def _pad_left(rows: list[list[int]], pad: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[list[int]],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    batch_size: int = 32,
) -> list[list[int]]:
    """One completion per prompt (greedy when ``temperature`` is 0), cut after the first EOS."""
    was_training = model.training
    model.eval()
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    device = next(model.parameters()).device.type
    out: list[list[int]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        ids, mask = _pad_left(chunk, pad, device)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
            if temperature > 0
            else {"do_sample": False}
        )
        generated = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            eos_token_id=eos,
            pad_token_id=pad,
            # TRL switches the KV cache off for training; without it every new token re-reads
            # the whole prompt (minutes per batch on a CPU with real-length prompts)
            use_cache=True,
            **sampling,
        )
        for row in generated[:, ids.shape[1] :].tolist():
            cut = row.index(eos) + 1 if eos in row else len(row)
            out.append(row[:cut])
    model.train(was_training)
    return out


def completion_logprobs(
    model: Any,
    prompts: list[list[int]],
    completions: list[list[int]],
    pad: int,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of each completion token under ``model``: ``[N, T]`` values and mask.

    Sequences are right-padded so positions start at 0 for every row; only the completion
    positions go through the softmax (the vocabulary of a real model makes full logits costly).
    """
    device = next(model.parameters()).device.type
    rows = [p + c for p, c in zip(prompts, completions, strict=True)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        attn[i, : len(row)] = 1
    ids, attn = ids.to(device), attn.to(device)
    logits = model(input_ids=ids, attention_mask=attn).logits
    longest = max(len(c) for c in completions)
    picked = logits.new_zeros((len(rows), longest, logits.shape[-1]))
    targets = torch.full((len(rows), longest), pad, dtype=torch.long, device=device)
    mask = torch.zeros((len(rows), longest), device=device)
    for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        # logits at position t predict token t+1
        picked[i, : len(c)] = logits[i, len(p) - 1 : len(p) - 1 + len(c)]
        targets[i, : len(c)] = torch.tensor(c, device=device)
        mask[i, : len(c)] = 1.0
    logp = F.log_softmax(picked.float() / temperature, dim=-1)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1), mask


def nll_loss(model: Any, features: list[dict[str, list[int]]], pad: int) -> torch.Tensor:
    """Mean negative log-likelihood of the answers in SFT features (prompt tokens masked)."""
    device = next(model.parameters()).device.type
    width = max(len(f["input_ids"]) for f in features)
    ids = torch.full((len(features), width), pad, dtype=torch.long)
    labels = torch.full((len(features), width), -100, dtype=torch.long)
    attn = torch.zeros((len(features), width), dtype=torch.long)
    for i, f in enumerate(features):
        n = len(f["input_ids"])
        ids[i, :n] = torch.tensor(f["input_ids"])
        labels[i, :n] = torch.tensor(f["labels"])
        attn[i, :n] = 1
    out = model(input_ids=ids.to(device), attention_mask=attn.to(device), labels=labels.to(device))
    loss: torch.Tensor = out.loss
    return loss
