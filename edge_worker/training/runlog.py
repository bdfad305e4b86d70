"""Console, progress bars and library log levels shared by the training commands."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )


def quiet_libraries() -> None:
    """Keep transformers' info chatter and weight-loading bars out of the command's output."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


# Deprecation notices that transformers 5 raises from inside peft and TRL (not from our calls);
# silenced by exact message so any other warning still surfaces.
_LIBRARY_NOTICES = [
    r"`is_gradient_checkpointing` is deprecated",
    r"`gradient_checkpointing\w*` is deprecated",
]


@contextmanager
def library_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        for message in _LIBRARY_NOTICES:
            warnings.filterwarnings("ignore", message=message, category=FutureWarning)
        yield
