"""From a GGUF edge model to trainable weights and back: what the learning loop ships.

- :func:`export_hf` de-quantises a GGUF (transformers reads it) into an ordinary Hugging Face
  directory (safetensors, fp32, tokenizer with the served chat template): the base that LoRA
  trains on and that ``convert_lora_to_gguf.py`` needs as ``--base``.
- :func:`merge_adapter` folds a LoRA adapter into its base (the next round's base).
- :func:`convert_model` / :func:`convert_adapter` run llama.cpp's own converters
  (``convert_hf_to_gguf.py``, ``convert_lora_to_gguf.py`` from the llama.cpp source,
  :func:`edge_worker.llamacpp.build.source_dir`): a merged model becomes a GGUF llama-server
  loads with ``--model``; an adapter one it loads with ``--lora`` and switches at run time
  (``POST /lora-adapters``).

transformers reads GGUF with the ``gguf`` package; the converters use the tree's own ``gguf-py``
and need ``sentencepiece`` (both in the ``train`` extra). They run as a subprocess of this
Python, so they see the same packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from edge_worker.training.modeling import clear_gguf_quantizer, load_base, load_tokenizer


class ConvertError(RuntimeError):
    """A llama.cpp converter failed; the message carries its last lines."""


def llama_cpp_source() -> Path:
    """The llama.cpp tree with the converters (``NETGPT_LLAMA_CPP_SOURCE`` overrides it)."""
    override = os.environ.get("NETGPT_LLAMA_CPP_SOURCE")
    if override:
        return Path(override).expanduser()
    from edge_worker.llamacpp.build import source_dir

    return source_dir()


def export_hf(gguf: Path, out: Path, chat_template: Path | None = None) -> Path:
    """Write the GGUF's weights (de-quantised, fp32) and tokenizer as a HF model directory."""
    tokenizer = load_tokenizer(gguf, chat_template)
    model = load_base(gguf, "cpu")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def merge_adapter(base: Path, adapter: Path, out: Path) -> Path:
    """``base`` with the LoRA ``adapter`` folded in, saved as a plain HF directory."""
    from peft import PeftModel

    model: Any = PeftModel.from_pretrained(load_base(base, "cpu"), str(adapter))
    merged = model.merge_and_unload()
    clear_gguf_quantizer(merged)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out))
    load_tokenizer(adapter).save_pretrained(str(out))
    return out


def _run(cmd: list[str]) -> None:
    # the scripts put the tree's own gguf-py first on sys.path: the version they were written for
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise ConvertError(f"{Path(cmd[1]).name} failed (exit {proc.returncode}):\n{tail}")


def convert_model(hf_dir: Path, out: Path, outtype: str = "q8_0") -> Path:
    """``convert_hf_to_gguf.py``: a HF directory -> one GGUF file (``outtype`` f32|f16|q8_0...)."""
    script = llama_cpp_source() / "convert_hf_to_gguf.py"
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, str(script), str(hf_dir), "--outfile", str(out), "--outtype", outtype])
    return out


def convert_adapter(adapter_dir: Path, base_dir: Path, out: Path, outtype: str = "f32") -> Path:
    """``convert_lora_to_gguf.py``: a PEFT adapter (trained on ``base_dir``) -> a GGUF adapter."""
    script = llama_cpp_source() / "convert_lora_to_gguf.py"
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, str(script), str(adapter_dir), "--base", str(base_dir),
          "--outfile", str(out), "--outtype", outtype])
    return out
