"""Database: one LMDB directory holding any number of collections."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from . import validate as v
from .collection import Collection
from .config import Settings
from .errors import AlreadyExistsError, CollectionNotFound, InvalidArgumentError
from .index import DEFAULT_INDEX, INDEXES, check_index
from .storage import Store, catalog


class Database:
    """An embedded vecdb database. Safe to share between threads (many readers, one writer).

    Examples
    --------
    >>> with vecdb.open("data/") as db:
    ...     col = db.create_collection("docs", dim=384, metric="cosine")
    """

    def __init__(self, path: str | Path, settings: Settings | None = None):
        self.settings = settings or Settings()
        self._store = Store(path, self.settings)
        self._collections: dict[str, Collection] = {}
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._store.path

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- collections -----------------------------------------------------------------------------

    def create_collection(self, name: str, dim: int, metric: str = "l2", index: str = DEFAULT_INDEX,
                          exist_ok: bool = False, **options: Any) -> Collection:
        """Create a collection of `dim`-dimensional vectors compared by `metric` ("l2", "ip", "cosine").

        With exist_ok=True an existing collection of the same dim and metric is returned instead.

        Raises
        ------
        AlreadyExistsError, InvalidArgumentError
        """
        v.check_name(name)
        dim = v.check_dim(dim, self.settings.max_dim)
        v.check_metric(metric)
        check_index(index)
        options = INDEXES[index].check_options(options)
        with self._store.write() as txn:
            info = catalog.get(self._store, txn, name)
            if info is None:
                info = catalog.create(self._store, txn, name, dim, metric, index, options)
            elif not exist_ok:
                raise AlreadyExistsError(f"collection {name!r} already exists")
            elif (info.dim, info.metric) != (dim, metric):
                raise AlreadyExistsError(
                    f"collection {name!r} exists with dim={info.dim}, metric={info.metric!r}, "
                    f"not dim={dim}, metric={metric!r}"
                )
        return self.collection(name)

    def collection(self, name: str) -> Collection:
        """The collection called `name`. Raises CollectionNotFound if there is none."""
        v.check_name(name)
        with self._lock:
            col = self._collections.get(name)
            if col is None:
                with self._store.read() as txn:
                    info = catalog.get(self._store, txn, name)
                if info is None:
                    raise CollectionNotFound(f"collection {name!r} not found")
                col = self._collections[name] = Collection(self._store, info, self.settings)
            return col

    def list_collections(self) -> list[str]:
        """Names of all collections, sorted."""
        with self._store.read() as txn:
            return sorted(info.name for info in catalog.list_all(self._store, txn))

    def drop_collection(self, name: str) -> None:
        """Delete a collection and everything in it. Raises CollectionNotFound if there is none."""
        col = self.collection(name)
        with self._lock, self._store.write_lock:
            with self._store.write() as txn:
                col._drop(txn)
                catalog.delete(self._store, txn, col.info)
            col._close(dropped=True)
            self._collections.pop(name, None)

    def qa_memory(self, name: str, embedder: Any = None) -> Any:
        """The QA memory called `name` (created on first use); see vecdb.qa_memory.QAMemory.

        embedder: a `vecdb.embedders.Embedder`. None means the embedder the memory recorded when it was
        created, or, for a new memory, the built-in feature-hashing embedder (no model needed).
        """
        from .qa_memory import QAMemory

        return QAMemory.open(self, name, embedder)

    # ---- whole database --------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Collections with their sizes, and the database's disk use."""
        return {
            "path": str(self.path),
            "disk_bytes": self._store.disk_bytes(),
            "used_bytes": self._store.used_bytes(),
            "collections": {name: self.collection(name).stats() for name in self.list_collections()},
        }

    def backup(self, dest: str | Path) -> Path:
        """Write a compacted, consistent copy of the database to the new directory `dest` while it stays
        in use (free pages are left out, so the copy is also how a churned database shrinks)."""
        dest = Path(dest)
        if dest.exists() and any(dest.iterdir()):
            raise AlreadyExistsError(f"backup destination {str(dest)!r} is not empty")
        dest.mkdir(parents=True, exist_ok=True)
        if dest.resolve() == self.path.resolve():
            raise InvalidArgumentError("backup destination is the database itself")
        self._store._check_open()
        self._store.env.copy(str(dest), compact=True)
        return dest

    def close(self) -> None:
        """Close the database; later calls on it or its collections raise FailedPreconditionError."""
        with self._lock:
            try:
                for col in self._collections.values():
                    col._close()
            finally:
                self._collections.clear()
                self._store.close()


def open(path: str | Path = "vecdb-data", *, cache_bytes: int | None = None, durable: bool | None = None,
         settings: Settings | None = None) -> Database:  # noqa: A001 - mirrors sqlite3.connect / lmdb.open
    """Open (creating if absent) the embedded database in directory `path`.

    cache_bytes: RAM budget for cached vectors; durable=False skips fsync on commit (see Settings).
    """
    settings = settings or Settings()
    if cache_bytes is not None:
        if isinstance(cache_bytes, bool) or not isinstance(cache_bytes, int) or cache_bytes < 0:
            raise InvalidArgumentError(f"cache_bytes must be a non-negative integer, got {cache_bytes!r}")
        settings = settings.with_(cache_bytes=cache_bytes)
    if durable is not None:
        settings = settings.with_(durable=bool(durable))
    return Database(path, settings)
