"""The spool file: append, read, commit, truncation, torn tails, cap, lock, compaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.dataset import spool as spool_module
from gateway.dataset.spool import Spool, SpoolLocked, committed_offset, iter_lines


def lines(n: int, start: int = 0) -> list[bytes]:
    return [b'{"id": "r%d"}' % i for i in range(start, start + n)]


def test_append_read_commit_truncate(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.open()
    assert spool.append(lines(5)) == 5
    got, end = spool.read(3)
    assert got == lines(3) and spool.pending == 5
    spool.commit(end, 3)
    assert spool.pending == 2 and committed_offset(tmp_path) == (end, 0)
    got, end = spool.read(10)
    assert got == lines(2, 3)
    spool.commit(end, 2)
    assert spool.pending == 0 and spool.path.stat().st_size == 0  # fully drained: truncated
    assert committed_offset(tmp_path) == (0, 1)  # new generation
    spool.close()


def test_reopen_counts_pending_and_drops_a_torn_tail(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.open()
    spool.append(lines(4))
    _, end = spool.read(1)
    spool.commit(end, 1)
    spool.close()
    with spool.path.open("ab") as handle:
        handle.write(b'{"id": "torn')  # a crash in the middle of an append
    again = Spool(tmp_path, 1 << 20)
    again.open()
    assert again.pending == 3
    assert again.read(10)[0] == lines(3, 1)
    assert [line for _, line in iter_lines(tmp_path)] == lines(4)
    again.close()


def test_cap_drops_and_reports(tmp_path: Path) -> None:
    dropped: list[int] = []
    record = lines(1)[0]
    spool = Spool(tmp_path, 3 * (len(record) + 1), on_drop=dropped.append)
    spool.open()
    assert spool.append(lines(5)) == 3
    assert dropped == [2]
    _, end = spool.read(2)
    spool.commit(end, 2)
    assert spool.append(lines(1, 10)) == 1  # room again after draining
    spool.close()


def test_second_process_is_refused(tmp_path: Path) -> None:
    first = Spool(tmp_path, 1 << 20)
    first.open()
    with pytest.raises(SpoolLocked):
        Spool(tmp_path, 1 << 20).open()
    first.close()
    second = Spool(tmp_path, 1 << 20)
    second.open()  # released with the first
    second.close()


def test_compaction_keeps_the_undrained_tail(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(spool_module, "COMPACT_MIN_BYTES", 64)
    spool = Spool(tmp_path, 1 << 20)
    spool.open()
    spool.append(lines(20))
    _, end = spool.read(15)
    spool.commit(end, 15)
    assert committed_offset(tmp_path) == (0, 1)
    assert [line for _, line in iter_lines(tmp_path)] == lines(5, 15)
    spool.append(lines(1, 99))
    assert spool.read(10)[0] == [*lines(5, 15), *lines(1, 99)]
    spool.close()


def test_unreadable_offset_replays_from_start(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    spool.open()
    spool.append(lines(3))
    _, end = spool.read(1)
    spool.commit(end, 1)
    spool.close()
    (tmp_path / "spool.offset").write_bytes(b"garbage")
    again = Spool(tmp_path, 1 << 20)
    again.open()
    assert again.pending == 3  # replays are harmless: Redis skips ids it has seen
    again.close()
