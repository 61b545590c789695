"""The LMDB environment and its transactions, plus the key encodings every storage module shares."""

from __future__ import annotations

import fcntl
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import lmdb
import numpy as np

from ..config import Settings
from ..errors import FailedPreconditionError, ResourceExhaustedError
from .residency import MapReleaser

#: Named sub-databases, each owned by one module (in parentheses).
SUBDBS = (
    b"catalog",  # (catalog) collection name -> JSON info; counters
    b"vectors",  # (vectors) cid|id -> float32[dim] as stored (not normalised)
    b"metadata",  # (metadata) cid|id -> JSON object
    b"tenant_names",  # (tenants) cid|utf8 name -> tenant number
    b"tenant_info",  # (tenants) cid|tno -> count u64 + utf8 name
    b"access",  # (tenants) cid|id -> sorted uint32 tenant numbers (the vector's access list)
    b"members",  # (tenants) cid|tno|id -> b"" (a tenant's ids, in id order)
    b"index",  # (index/*) cid|index-specific key -> index state
    b"tombstones",  # (tombstones) cid|D|id, cid|R|tno|id -> b"" (deletes and revokes not yet applied)
)

_CID = struct.Struct(">I")

#: Every open Store holds a shared flock on this file in its directory, and `vecdb.maintenance.compact` an
#: exclusive one, so compaction never replaces data.mdb under a live environment. flock, unlike the fcntl
#: locks LMDB takes on lock.mdb, belongs to the open file, so it also sees handles in the same process.
OPEN_LOCK = "vecdb.lock"


def lock_dir(path: Path, exclusive: bool) -> IO[bytes] | None:
    """Take the directory's OPEN_LOCK without waiting: the open file holding it (close it to release), or
    None when it is held the other way."""
    f = open(path / OPEN_LOCK, "ab")  # noqa: SIM115 - kept open as long as the lock is held
    try:
        fcntl.flock(f.fileno(), (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def cid_prefix(cid: int) -> bytes:
    return _CID.pack(cid)


def id_keys(prefix: bytes, ids: np.ndarray) -> list[bytes]:
    """prefix + big-endian id for each id: big-endian keeps LMDB's byte order equal to numeric order."""
    if len(ids) == 0:
        return []
    be = np.ascontiguousarray(ids, dtype=">u8").view(np.uint8).reshape(-1, 8)
    return [prefix + row.tobytes() for row in be]


def decode_id(key: bytes, offset: int) -> int:
    return int.from_bytes(key[offset : offset + 8], "big")


def scan_ids(txn: lmdb.Transaction, db, prefix: bytes, start: int = 0, limit: int | None = None) -> np.ndarray:
    """The ids encoded right after `prefix` in keys of one sub-database, >= start, ascending, at most
    `limit` of them (int64)."""
    cur = txn.cursor(db)
    out: list[int] = []
    n = len(prefix)
    if cur.set_range(prefix + start.to_bytes(8, "big")):
        for key in cur.iternext(keys=True, values=False):
            if key[:n] != prefix or len(out) == limit:
                break
            out.append(decode_id(key, n))
    return np.array(out, dtype=np.int64)


class Store:
    """An LMDB environment with one writer at a time and any number of readers.

    ``with store.write() as txn`` commits when the block ends and aborts (re-raising the original error)
    when it raises, so a failed call leaves nothing half-written.
    """

    def __init__(self, path: str | Path, settings: Settings):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self._open_lock = lock_dir(self.path, exclusive=False)
        if self._open_lock is None:
            raise FailedPreconditionError(f"database at {str(self.path)!r} is being compacted; open it when that ends")
        try:
            self.env = lmdb.open(
                str(self.path),
                map_size=settings.map_size,
                max_dbs=len(SUBDBS) + 4,
                max_readers=settings.max_readers,
                sync=settings.durable,
                metasync=settings.durable,
                readahead=False,  # random access to vectors: readahead only evicts useful pages
            )
        except lmdb.Error as e:
            self._open_lock.close()
            raise FailedPreconditionError(f"cannot open database at {str(self.path)!r}: {e}") from e
        self.dbs = {name.decode(): self.env.open_db(name) for name in SUBDBS}
        # The newest committed transaction whose in-memory consequences (an index's publish step) are
        # done: a reader whose snapshot is newer must not trust in-memory caches of LMDB data yet.
        self.published = self._committed = self.env.info()["last_txnid"]
        self.map_pages = MapReleaser(self.path / "data.mdb")
        # LMDB allows one write transaction anyway; holding a Python lock as well lets in-memory index
        # state be published after commit in the same order the commits happened.
        self.write_lock = threading.RLock()
        self.closed = False

    @contextmanager
    def write(self, publish_later: bool = False) -> Iterator[lmdb.Transaction]:
        """A write transaction, committed when the block ends. `publish_later`: the caller updates
        in-memory state after the commit and then calls mark_published(), still under write_lock."""
        with self.write_lock:
            self._check_open()
            txn = self.env.begin(write=True)
            try:
                yield txn
            except BaseException:
                txn.abort()
                raise
            try:
                txn.commit()
                self._committed = self.env.info()["last_txnid"]  # (a commit that changed nothing takes no id)
                if not publish_later:
                    self.mark_published()
                # Writes read B-tree pages through the map too: keep what they leave resident in bounds.
                self.map_pages.maybe_release(self.settings.map_resident_budget)
            except lmdb.MapFullError as e:
                raise ResourceExhaustedError(
                    f"database at {str(self.path)!r} reached its map size of {self.settings.map_size} bytes; "
                    "reopen it with a larger Settings.map_size"
                ) from e

    @property
    def committed(self) -> int:
        """The newest transaction this process committed (or found when it opened)."""
        return self._committed

    def mark_published(self) -> None:
        """The last commit's in-memory consequences are done (called under write_lock)."""
        self.published = max(self.published, self._committed)

    @contextmanager
    def read(self, buffers: bool = False) -> Iterator[lmdb.Transaction]:
        """A read transaction; `buffers=True` returns values as zero-copy views of the map (valid until
        the transaction ends)."""
        self._check_open()
        txn = self.env.begin(write=False, buffers=buffers)
        try:
            yield txn
        finally:
            txn.abort()

    def delete_prefix(self, txn: lmdb.Transaction, db: str, prefix: bytes) -> int:
        """Delete every key that starts with prefix in one sub-database; returns how many."""
        cur = txn.cursor(self.dbs[db])
        n = 0
        if cur.set_range(prefix):
            while cur.key()[: len(prefix)] == prefix:
                cur.delete()  # moves to the next key
                n += 1
                if not cur.key():
                    break
        return n

    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.glob("*.mdb"))

    def used_bytes(self) -> int:
        info, stat = self.env.info(), self.env.stat()
        return (info["last_pgno"] + 1) * stat["psize"]

    def _check_open(self) -> None:
        if self.closed:
            raise FailedPreconditionError(f"database at {str(self.path)!r} is closed")

    def close(self) -> None:
        with self.write_lock:
            if not self.closed:
                self.closed = True
                self.env.close()
                self._open_lock.close()
