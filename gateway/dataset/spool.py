"""Durable local spool: an append-only, fsync'd JSON-lines file plus a committed offset.

Records land here while Redis is unreachable, while the in-memory queue is full, at shutdown
when Redis cannot take them, and always when no ``NETGPT_REDIS_URL`` is set (then the spool is
the sink). A drain reads from the committed offset, writes to Redis, and commits the new offset;
because each record has a stable id and Redis skips ids it has seen, replaying lines after a
crash between "written to Redis" and "offset committed" creates no duplicate.

Layout under ``DATA_DIR/dataset/``::

    spool.jsonl    one encoded record per line, appended and fsync'd per batch
    spool.offset   {"offset": bytes already drained, "generation": n}, replaced atomically

``generation`` increases each time the file is truncated or compacted, so a reader that keeps
its own position (``netgpt dataset export --from-spool``) knows when its position is void.

The cap (``NETGPT_DATASET_SPOOL_MAX_BYTES``) bounds the *pending* bytes; records beyond it are
dropped and reported through ``on_drop`` (metric ``dataset_dropped_total`` and a log line).
All methods are thread-safe: the writer calls them from a worker thread, ``submit`` from the
event loop on overflow.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

SPOOL_FILE = "spool.jsonl"
OFFSET_FILE = "spool.offset"
LOCK_FILE = "spool.lock"
READ_CHUNK = 1 << 20
COMPACT_MIN_BYTES = 64 << 20  # compact a partly drained file only when it saves this much


def spool_dir(data_dir: Path) -> Path:
    return data_dir / "dataset"


class SpoolLocked(RuntimeError):
    """Another process writes this spool (two writers would corrupt the offsets)."""


class Spool:
    """Append-only record spool with a committed read offset.

    Example::

        spool = Spool(Path("var/dataset"), max_bytes=1 << 30)
        spool.append([b'{"id": "r1:routed", ...}'])
        lines, end = spool.read(100)
        ...  # write lines to Redis
        spool.commit(end)
    """

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        *,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._size = 0
        self._offset = 0
        self._generation = 0
        self._pending = 0
        self._full = False

    @property
    def path(self) -> Path:
        return self.directory / SPOOL_FILE

    @property
    def pending(self) -> int:
        """Records appended and not yet committed as drained."""
        return self._pending

    @property
    def pending_bytes(self) -> int:
        return self._size - self._offset

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def offset(self) -> int:
        return self._offset

    def open(self) -> None:
        """Create or reopen the spool; drops a torn last line left by a crash mid-append."""
        with self._lock:
            if self._fd is not None:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _lock(self.directory)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            self._size = os.fstat(self._fd).st_size
            self._drop_torn_tail()
            self._offset, self._generation = self._load_offset()
            if self._offset > self._size:  # crashed between truncation and offset reset
                self._offset = 0
            self._pending = self._count_lines(self._offset)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    def append(self, lines: Sequence[bytes]) -> int:
        """Append encoded records (without newlines) and fsync; returns how many were kept.

        Records that would take the pending bytes over the cap are dropped, in order, and
        reported to ``on_drop``."""
        if not lines:
            return 0
        with self._lock:
            fd = self._require_open()
            room = self.max_bytes - (self._size - self._offset)
            kept: list[bytes] = []
            for line in lines:
                if len(line) + 1 > room:
                    break
                kept.append(line)
                room -= len(line) + 1
            dropped = len(lines) - len(kept)
            if kept:
                data = b"\n".join(kept) + b"\n"
                os.write(fd, data)
                os.fsync(fd)
                self._size += len(data)
                self._pending += len(kept)
            self._note_full(dropped)
        if dropped and self._on_drop is not None:
            self._on_drop(dropped)
        return len(kept)

    def read(self, max_records: int) -> tuple[list[bytes], int]:
        """Up to ``max_records`` lines from the committed offset, and the offset after them."""
        with self._lock:
            fd = self._require_open()
            lines: list[bytes] = []
            position = self._offset
            buffer = b""
            while len(lines) < max_records and position + len(buffer) < self._size:
                chunk = os.pread(fd, READ_CHUNK, position + len(buffer))
                if not chunk:
                    break
                buffer += chunk
                while len(lines) < max_records:
                    end = buffer.find(b"\n")
                    if end < 0:
                        break
                    lines.append(buffer[:end])
                    buffer = buffer[end + 1 :]
                    position += end + 1
            return lines, position

    def commit(self, end_offset: int, count: int) -> None:
        """Mark everything before ``end_offset`` (``count`` records) as drained."""
        with self._lock:
            self._require_open()
            self._offset = end_offset
            self._pending = max(0, self._pending - count)
            if self._offset >= self._size:
                self._truncate()
            elif self._offset >= COMPACT_MIN_BYTES and self._offset * 2 >= self._size:
                self._compact()
            else:
                self._store_offset()
            if self._size - self._offset < self.max_bytes:
                self._full = False

    # -- internals (lock held) ------------------------------------------------------------

    def _require_open(self) -> int:
        if self._fd is None:
            raise RuntimeError("spool is not open")
        return self._fd

    def _note_full(self, dropped: int) -> None:
        if dropped and not self._full:
            log.error(
                "dataset spool is full (%d bytes pending, cap %d): dropping records until it "
                "drains; check Redis (NETGPT_REDIS_URL) or raise NETGPT_DATASET_SPOOL_MAX_BYTES",
                self._size - self._offset,
                self.max_bytes,
            )
        self._full = self._full or dropped > 0

    def _drop_torn_tail(self) -> None:
        fd = self._require_open()
        if self._size == 0 or os.pread(fd, 1, self._size - 1) == b"\n":
            return
        position = self._size
        while position > 0:
            start = max(0, position - READ_CHUNK)
            chunk = os.pread(fd, position - start, start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                position = start + newline + 1
                break
            position = start
        log.warning("dataset spool: dropping a torn last line (%d bytes)", self._size - position)
        os.ftruncate(fd, position)
        os.fsync(fd)
        self._size = position

    def _count_lines(self, start: int) -> int:
        fd = self._require_open()
        count = 0
        position = start
        while position < self._size:
            chunk = os.pread(fd, READ_CHUNK, position)
            if not chunk:
                break
            count += chunk.count(b"\n")
            position += len(chunk)
        return count

    def _load_offset(self) -> tuple[int, int]:
        try:
            state = orjson.loads((self.directory / OFFSET_FILE).read_bytes())
            return int(state["offset"]), int(state["generation"])
        except FileNotFoundError:
            return 0, 0
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            # replaying from 0 is safe: Redis skips ids it has already seen
            log.warning("dataset spool: unreadable offset file, replaying from the start")
            return 0, 0

    def _store_offset(self) -> None:
        atomic_write(
            self.directory / OFFSET_FILE,
            orjson.dumps({"offset": self._offset, "generation": self._generation}),
        )

    def _truncate(self) -> None:
        fd = self._require_open()
        # offset first: a crash before the truncation replays lines, which is harmless
        self._offset = 0
        self._generation += 1
        self._store_offset()
        os.ftruncate(fd, 0)
        os.fsync(fd)
        self._size = 0
        self._pending = 0

    def _compact(self) -> None:
        fd = self._require_open()
        tmp = self.directory / (SPOOL_FILE + ".tmp")
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            position = self._offset
            while position < self._size:
                chunk = os.pread(fd, READ_CHUNK, position)
                os.write(out, chunk)
                position += len(chunk)
            os.fsync(out)
        finally:
            os.close(out)
        kept = self._size - self._offset
        self._offset = 0
        self._generation += 1
        self._store_offset()  # before the swap: a crash in between replays, never skips
        os.replace(tmp, self.path)
        _fsync_dir(self.directory)
        os.close(fd)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        self._size = kept


def _lock(directory: Path) -> int:
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SpoolLocked(
            f"the dataset spool in {directory} is in use by another process (a gateway or "
            "`netgpt dataset drain`); give each gateway its own NETGPT_DATA_DIR, or stop the "
            "other process first"
        ) from None
    return fd


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def iter_lines(directory: Path, *, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """Every complete line from byte ``start``, with the offset after each; read-only, for
    exporters and ``stats`` (which must not disturb a running gateway's spool)."""
    try:
        handle = (directory / SPOOL_FILE).open("rb")
    except FileNotFoundError:
        return
    with handle:
        handle.seek(start)
        position = start
        for line in handle:
            if not line.endswith(b"\n"):
                return  # torn tail being written right now
            position += len(line)
            yield position, line[:-1]


def committed_offset(directory: Path) -> tuple[int, int]:
    """(offset, generation) of a spool directory, without opening the spool."""
    try:
        state = orjson.loads((directory / OFFSET_FILE).read_bytes())
        return int(state["offset"]), int(state["generation"])
    except (FileNotFoundError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return 0, 0
