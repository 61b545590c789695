"""Offline maintenance of a database directory: `compact` rewrites data.mdb without its free pages."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import lmdb

from .errors import FailedPreconditionError, InternalError, NotFoundError
from .storage.env import SUBDBS, lock_dir

# Inside the data directory rather than beside it: always the same filesystem as data.mdb (so the final
# rename is atomic) even when the directory is a mount point, and no write access to its parent is needed.
# LMDB ignores subdirectories, so one left by a crash is harmless; the next compaction removes it.
_TMP = ".compact-tmp"


def compact(path: str | Path, *, durable: bool = True) -> dict[str, int]:
    """Rewrite the closed database in directory `path` without its free pages, in place.

    LMDB never returns freed pages to the filesystem, so after many deletes the file stays at its peak
    size. This writes a compacted copy into a temporary directory inside `path`, checks it, fsyncs it and
    renames it over data.mdb: a crash at any point leaves the old or the new database, both complete.
    durable=False skips the fsyncs (a process crash is still safe; a power loss may not be).

    Returns ``{"before_bytes": ..., "after_bytes": ...}``, the sizes of data.mdb.

    Raises
    ------
    NotFoundError
        `path` holds no database.
    FailedPreconditionError
        The database is open, in this process or another (`vecdb.open`, `vecdb serve`): close it first.

    Examples
    --------
    >>> sizes = vecdb.compact("vecdb-data")         # nothing may have it open
    >>> sizes["before_bytes"] - sizes["after_bytes"]  # bytes given back to the filesystem
    """
    path = Path(path)
    data = path / "data.mdb"
    if not data.is_file():
        raise NotFoundError(f"no database at {str(path)!r} (no data.mdb there)")
    lock = lock_dir(path, exclusive=True)
    if lock is None:
        raise FailedPreconditionError(
            f"database at {str(path)!r} is open (in this process or another); close it, then compact"
        )
    tmp = path / _TMP
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        before = data.stat().st_size
        try:
            _copy_checked(path, tmp)
        except lmdb.Error as e:
            raise FailedPreconditionError(f"cannot compact database at {str(path)!r}: {e}") from e
        if durable:
            _fsync(tmp / "data.mdb")
        # The one step that changes the database: atomic, and nothing has the environment open. lock.mdb
        # stays; LMDB resets it from the new file when the next process opens the directory.
        os.replace(tmp / "data.mdb", data)
        if durable:
            _fsync(path)  # makes the rename itself durable
        return {"before_bytes": before, "after_bytes": data.stat().st_size}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        lock.close()


def _copy_checked(src: Path, dest: Path) -> None:
    """LMDB's compacting copy of `src` into `dest`, then a check that every sub-database kept its count."""
    env = lmdb.open(str(src), readonly=True, max_dbs=len(SUBDBS) + 4)
    try:
        expected = _entries(env)
        env.copy(str(dest), compact=True)
    finally:
        env.close()
    env = lmdb.open(str(dest), readonly=True, max_dbs=len(SUBDBS) + 4)
    try:
        got = _entries(env)
    finally:
        env.close()
    if got != expected:
        raise InternalError(f"compacted copy of {str(src)!r} differs (entries {got} != {expected}); nothing changed")


def _entries(env: lmdb.Environment) -> dict[bytes, int]:
    """Entries per named sub-database (the main database's keys are their names)."""
    with env.begin() as txn:
        names = list(txn.cursor().iternext(values=False))
        return {name: txn.stat(env.open_db(name, txn=txn, create=False))["entries"] for name in names}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
