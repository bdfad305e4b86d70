"""Is the ``train`` extra installed? Asked before a command starts, never after its first step.

``netgpt learn round`` and ``netgpt loop`` train the edge model (torch, transformers, trl, peft).
Without this check they would export data or send minutes of traffic and then die with
``ModuleNotFoundError: torch``; with it they stop at once with what to install.
"""

from __future__ import annotations

import importlib.util

TRAIN_MODULES: tuple[str, ...] = ("torch", "transformers", "trl", "peft")
TRAIN_INSTALL = "pip install -e '.[train]'"


class MissingExtra(RuntimeError):
    """An optional extra a command needs is not installed; the message says what to install."""


def missing_modules(modules: tuple[str, ...] = TRAIN_MODULES) -> list[str]:
    """The modules of ``modules`` that cannot be imported (found without importing them)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken install, or a stub module without a spec
            found = False
        if not found:
            missing.append(name)
    return missing


def require_train_extra(command: str) -> None:
    """Raise :class:`MissingExtra` naming the install command when the train extra is missing."""
    missing = missing_modules()
    if missing:
        raise MissingExtra(
            f"`{command}` trains the edge model and needs the train extra, which is not "
            f"installed (missing: {', '.join(missing)}). Install it first: {TRAIN_INSTALL} "
            "(on a CPU-only box install the CPU build of torch before it; see the README, "
            "'Training the edge model'), then run the same command again."
        )
