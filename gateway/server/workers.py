"""Worker slots of ``netgpt serve --workers N``: each worker process holds one slot (a ``flock``)
and, past slot 0, its own data dir for the dataset spool."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import Settings

def claim_slot(data_dir: Path, workers: int) -> tuple[int, int]:
    """(slot, fd): the lowest worker slot no live process holds, locked with ``flock``.

    A dead worker's lock goes with it, so its replacement takes the same slot and finds (and
    drains) the spool the dead one left."""
    locks = data_dir / "workers"
    locks.mkdir(parents=True, exist_ok=True)
    for slot in range(4 * workers):
        fd = os.open(locks / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    raise RuntimeError(f"no free worker slot in {locks}: is another `netgpt serve` using this NETGPT_DATA_DIR?")


def worker_settings(settings: Settings, slot: int) -> Settings:
    """A worker's settings: its own data dir for the dataset spool (the spool admits one
    process), the calibration file still the shared one. Slot 0 keeps NETGPT_DATA_DIR, so
    ``netgpt dataset drain`` and one-worker setups see the same spool as before."""
    if slot == 0:
        return settings
    calibration = settings.calibration.model_copy(update={"file": settings.calibration_file})
    return settings.model_copy(
        update={"data_dir": settings.data_dir / "workers" / str(slot), "calibration": calibration}
    )
