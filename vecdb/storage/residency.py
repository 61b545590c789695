"""Handing memory back to the OS: the LMDB map's pages (MapReleaser) and the C allocator's free heap
(trim_heap).

LMDB reads through a shared, read-only memory map, so every page a search touches stays mapped into the
process (RssFile) until the kernel needs the memory back. In disk mode that would make the process look
as big as everything it ever read, whatever `cache_bytes` says. `release` tells the kernel to unmap the
resident pages (madvise MADV_DONTNEED): for a shared file mapping the data stays in the OS page cache and
the next read maps it back with a minor fault, so nothing is lost and nothing is re-read from disk that
the OS still caches. Linux only (glibc for trim_heap); elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

_MADV_DONTNEED = 4


def map_ranges(data_file: Path) -> list[tuple[int, int]]:
    """Address ranges where this process maps `data_file` (from /proc/self/maps)."""
    target = str(data_file.resolve())
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5] == target:
            start, end = (int(x, 16) for x in parts[0].split("-"))
            out.append((start, end))
    return out


def shared_resident_bytes() -> int:
    """This process's resident file-backed (and shared) memory, from /proc/self/statm; 0 elsewhere."""
    global _statm
    try:
        if _statm is None or _statm[0] != os.getpid():  # kept open (a read is on the query path), per process
            if _statm is not None:
                os.close(_statm[1])  # the parent's, inherited by this forked child
            _statm = (os.getpid(), os.open("/proc/self/statm", os.O_RDONLY))
        return int(os.pread(_statm[1], 256, 0).split()[2]) * _PAGE
    except OSError:
        return 0


_statm: tuple[int, int] | None = None  # (pid, fd): /proc/self resolves when opened, so a forked child reopens


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class MapReleaser:
    """Releases the resident pages of one LMDB data file's map.

    The kernel maps neighbouring cached pages along with each one a read faults in (fault-around), so how
    much a search makes resident cannot be counted from what it reads; `maybe_release` measures it
    instead (on every CHECK_EVERY-th call, so the hot paths calling it pay for a /proc read rarely): it
    releases once the process's file-backed resident memory has grown `limit` bytes past where the last
    release left it.
    """

    CHECK_EVERY = 8

    def __init__(self, data_file: Path):
        self.data_file = data_file
        self._ranges: list[tuple[int, int]] | None = None
        self._madvise = _madvise
        self._floor = shared_resident_bytes()
        self._calls = 0
        self.releases = 0

    def maybe_release(self, limit: int) -> None:
        self._calls += 1
        if self._calls % self.CHECK_EVERY:
            return
        if shared_resident_bytes() - self._floor > limit:
            self.release()
            self._floor = shared_resident_bytes()

    def release(self) -> None:
        if self._madvise is None:
            return
        if self._ranges is None:  # the map never moves while the environment is open
            self._ranges = map_ranges(self.data_file)
        try:  # the map reserves the whole map size; only the file's length can be resident
            length = self.data_file.stat().st_size
        except OSError:
            return
        for start, end in self._ranges:
            self._madvise(ctypes.c_void_p(start), ctypes.c_size_t(min(end - start, length)), _MADV_DONTNEED)
        self.releases += 1


def trim_heap() -> None:
    """Hand the C allocator's free memory back to the OS (glibc's malloc_trim; elsewhere nothing).

    After a large write glibc keeps the freed temporaries' pages: it raises its mmap threshold each time
    a large block is freed, so later blocks of that size come from its heap, and free heap pages in the
    middle are only returned by malloc_trim. A 20k x 384 bulk load kept 89 MB that way, against 33 MB
    of index structures. One call takes about 1 ms at 20k vectors, 6-9 ms at 1M."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _libc_function(name: str, argtypes: list, restype):
    """A libc function with its C signature, or None off Linux or where libc lacks it (musl has no
    malloc_trim)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = getattr(ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = argtypes, restype
    return fn


_madvise = _libc_function("madvise", [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int)
_malloc_trim = _libc_function("malloc_trim", [ctypes.c_size_t], ctypes.c_int)
