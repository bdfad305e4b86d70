"""Loading models and adapters, sampling, and per-token log-probabilities (torch side)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch


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


def _body_and_head(model: Any) -> tuple[Any, Any]:
    """The transformer body (hidden states out) and the LM head of a causal LM, PEFT or not.

    LoRA layers are injected into the base model's modules, so calling the body of
    ``get_base_model()`` still runs them.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    for name in ("final_logit_softcapping", "logit_scale"):
        # applied by the model's own forward after the head: the shortcut here would skip it
        if getattr(config, name, None) not in (None, 1.0):
            raise NotImplementedError(f"{type(base).__name__} sets {name}: log-probs from the head "
                                      "alone would be wrong for it")
    return base.get_decoder(), base.get_output_embeddings()


def _right_padded(rows: list[list[int]], pad: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        attn[i, : len(row)] = 1
    return ids.to(device), attn.to(device)


def token_logprobs(
    model: Any,
    rows: list[list[int]],
    spans: list[tuple[int, int]],
    pad: int,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of ``rows[i][start:end]`` given what precedes them: ``[N, T]`` and mask.

    Only the hidden states at the scored positions go through the LM head: full logits of a
    real vocabulary (SmolLM2: 49,152) over ~1,000-token tool prompts are gigabytes per row,
    and with gradients they were what pushed one RL step on 16 rows to 23 GB here.
    """
    device = next(model.parameters()).device.type
    body, head = _body_and_head(model)
    ids, attn = _right_padded(rows, pad, device)
    hidden = body(input_ids=ids, attention_mask=attn).last_hidden_state
    longest = max(max(end - start for start, end in spans), 1)
    # logits at position t predict token t+1: scored token k is read at position k-1
    positions = torch.zeros((len(rows), longest), dtype=torch.long)
    targets = torch.full((len(rows), longest), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), longest))
    for i, (row, (start, end)) in enumerate(zip(rows, spans, strict=True)):
        if start < 1 and end > start:
            raise ValueError("token 0 has no context to be scored from: an empty prompt?")
        n = end - start
        positions[i, :n] = torch.arange(start - 1, end - 1)
        targets[i, :n] = torch.tensor(row[start:end])
        mask[i, :n] = 1.0
    positions, targets, mask = positions.to(device), targets.to(device), mask.to(device)
    picked = hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
    logits = head(picked).float() / temperature
    chosen = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (chosen - torch.logsumexp(logits, dim=-1)) * mask, mask


def completion_logprobs(
    model: Any,
    prompts: list[list[int]],
    completions: list[list[int]],
    pad: int,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of each completion token under ``model``: ``[N, T]`` values and mask."""
    rows = [p + c for p, c in zip(prompts, completions, strict=True)]
    spans = [(len(p), len(p) + len(c)) for p, c in zip(prompts, completions, strict=True)]
    return token_logprobs(model, rows, spans, pad, temperature)


def answer_span(labels: list[int]) -> tuple[int, int]:
    """First and one-past-last position whose label is not masked (-100): the answer tokens."""
    kept = [i for i, label in enumerate(labels) if label != -100]
    if not kept:
        return (len(labels), len(labels))
    return (max(kept[0], 1), kept[-1] + 1)


def nll_sum(model: Any, features: list[dict[str, list[int]]], pad: int) -> tuple[torch.Tensor, int]:
    """Summed negative log-likelihood of the answers in SFT features, and their token count.

    A sum, not a mean, so callers can split a batch into micro-batches and divide once.
    """
    spans = [answer_span(f["labels"]) for f in features]
    logp, mask = token_logprobs(model, [f["input_ids"] for f in features], spans, pad)
    return -(logp * mask).sum(), int(mask.sum().item())
