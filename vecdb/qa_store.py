"""How a QA memory keeps its records in ordinary collections: creation, content-hash ids, tenant-checked
reads, enumeration, metadata-only rewrites, search, and the per-memory write lock.

A memory NAME is three collections: ``qa.NAME.pairs`` and ``qa.NAME.passages`` (cosine, one vector per
QA pair question / passage text) and ``qa.NAME.meta`` (one 1-d record saying which embedder built it).
Every record's metadata holds the memory's own fields under the reserved key ``_qa``; ``_qa.t`` names
the tenant that added it and is checked on every read, whatever the access lists say.

Nothing here takes the memory lock: `vecdb.qa_memory.QAMemory` does, around each operation.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .embedders import Embedder, default_embedder, embedder_from_name
from .errors import CollectionNotFound, FailedPreconditionError, NotFoundError, TenantNotFound
from .qa_checks import check_ids
from .qa_results import RESERVED
from .types import MAX_ID

FORMAT = 1
META_TENANT = "_qa"
#: Records read per page when enumerating a tenant (ids() then get()): bounds memory, not correctness.
PAGE = 4096
#: Metadata rewrites that lose a race with a delete from another process are retried this often.
_RETRIES = 3


# ---- the memory's lock ------------------------------------------------------------------------------------

_LOCKS: weakref.WeakKeyDictionary[Any, dict[str, threading.RLock]] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def memory_lock(db: Any, name: str) -> threading.RLock:
    """One lock per (database object, memory name), shared by every QAMemory opened on it, so two
    handles of one memory in a process cannot lose each other's read-modify-write updates."""
    with _LOCKS_GUARD:
        try:
            per_db = _LOCKS.setdefault(db, {})
        except TypeError:  # not weak-referenceable: a lock per handle is the best we can do
            return threading.RLock()
        return per_db.setdefault(name, threading.RLock())


# ---- creation ---------------------------------------------------------------------------------------------


def open_or_create(db: Any, name: str, embedder: Embedder | None) -> Embedder:
    """The embedder of memory `name`, creating the memory (with `embedder` or the default) if absent.

    Raises
    ------
    FailedPreconditionError
        The memory was built with another embedder, or with a custom one and none was passed.
    """
    meta_name = f"qa.{name}.meta"
    try:
        recs = db.collection(meta_name).get([0])
    except CollectionNotFound:
        recs = []
    if not recs:
        embedder = embedder or default_embedder()
        _create(db, name, embedder)
        return embedder
    rec_name, rec_dim = recs[0].metadata.get("embedder"), recs[0].metadata.get("dim")
    if embedder is None:
        embedder = embedder_from_name(str(rec_name))
        if embedder is None:
            raise FailedPreconditionError(
                f"QA memory {name!r} was built with embedder {rec_name!r} (dim {rec_dim}), which cannot "
                "be rebuilt here: pass that embedder as embedder="
            )
    elif (embedder.name, int(embedder.dim)) != (rec_name, rec_dim):
        raise FailedPreconditionError(
            f"QA memory {name!r} was built with embedder {rec_name!r} (dim {rec_dim}), not "
            f"{embedder.name!r} (dim {embedder.dim}): open it with the same embedder or use another name"
        )
    return embedder


def _create(db: Any, name: str, embedder: Embedder) -> None:
    # The meta record is written last: a memory without it is recreated (exist_ok) on the next open.
    dim = int(embedder.dim)
    for kind in ("pairs", "passages"):
        db.create_collection(f"qa.{name}.{kind}", dim=dim, metric="cosine", exist_ok=True)
    meta_col = db.create_collection(f"qa.{name}.meta", dim=1, metric="l2", exist_ok=True)
    info = {"format": FORMAT, "embedder": embedder.name, "dim": dim, "created": time.time()}
    meta_col.upsert([0], [[0.0]], tenants=META_TENANT, metadata=[info])


# ---- content-hash ids -------------------------------------------------------------------------------------


def make_id(memory: str, kind: str, tenant: str, parts: tuple, salt: int) -> int:
    """blake2b of (memory, kind, tenant, *parts, salt), truncated to 63 bits."""
    payload = json.dumps([memory, kind, tenant, *parts, salt], ensure_ascii=False)
    digest = hashlib.blake2b(payload.encode("utf-8", "surrogatepass"), digest_size=8, person=b"vecdb-qa-id")
    return int.from_bytes(digest.digest(), "little") & MAX_ID


def ident(meta: dict, kind: str) -> tuple | None:
    """What a record's id hashes: (tenant, question, answer) for a pair, (tenant, text) for a passage."""
    qa = meta.get(RESERVED) or {}
    if qa.get("kind") != kind:
        return None
    return (qa.get("t"), qa.get("q"), qa.get("a")) if kind == "pair" else (qa.get("t"), qa.get("text"))


def allocate(col: Any, memory: str, kind: str, tenant: str, idents: list[tuple]) -> tuple[list[int], list[Any]]:
    """Content-hash ids for `idents`, with the record already stored under each (same content) or None.

    A hash already taken by other content (stored, or earlier in this batch) gets the next salt, so
    ids stay unique and deterministic."""
    ids: list[int] = [0] * len(idents)
    existing: list[Any] = [None] * len(idents)
    claimed: dict[int, tuple] = {}
    pending = {i: 0 for i in range(len(idents))}
    while pending:
        trial = {i: make_id(memory, kind, tenant, idents[i], salt) for i, salt in pending.items()}
        stored = {r.id: r for r in col.get(sorted(set(trial.values())))}
        retry = {}
        for i, id_ in trial.items():
            rec, owner = stored.get(id_), claimed.get(id_)
            same_stored = rec is not None and ident(rec.metadata, kind) == (tenant, *idents[i])
            if (rec is not None and not same_stored) or (owner is not None and owner != idents[i]):
                retry[i] = pending[i] + 1
                continue
            ids[i], existing[i] = id_, rec if same_stored else None
            claimed[id_] = idents[i]
        pending = retry
    return ids, existing


def new_indices(ids: list[int], existing: list[Any]) -> list[int]:
    """Positions of the ids to write: not stored yet, and first of their kind within the batch."""
    out, seen = [], set()
    for i, id_ in enumerate(ids):
        if existing[i] is None and id_ not in seen:
            out.append(i)
        seen.add(id_)
    return out


# ---- reads ------------------------------------------------------------------------------------------------


def get(col: Any, ids: Sequence[int], tenant: str) -> list[Any]:
    """The records of `ids` that `tenant` holds, in the order asked (repeats kept)."""
    arr = check_ids(ids, unique=False)
    if not len(arr):
        return []
    try:
        recs = col.get(arr, tenant=tenant)
    except TenantNotFound:
        return []
    # Defence in depth: a record must say it belongs to this tenant, whatever the access lists say.
    return [r for r in recs if r.metadata.get(RESERVED, {}).get("t") == tenant]


def pages(col: Any, tenant: str, page: int = PAGE) -> Iterator[list[Any]]:
    """Every record of `tenant` in `col`, a page at a time, in ascending id order."""
    after = None
    while True:
        try:
            ids = col.ids(tenant=tenant, after=after, limit=page)
        except TenantNotFound:
            return
        if not len(ids):
            return
        yield get(col, ids, tenant)
        if len(ids) < page:
            return
        after = int(ids[-1])


def scan(col: Any, tenant: str, keep: Callable[[dict], bool] | None = None) -> list[Any]:
    """Every record of `tenant` in `col` (those whose metadata passes `keep`), ascending ids."""
    return [r for recs in pages(col, tenant) for r in recs if keep is None or keep(r.metadata)]


def search(col: Any, qvec: np.ndarray, tenant: str, k: int, where: dict | None) -> list[tuple[int, dict, float]]:
    """(id, metadata, cosine similarity) of the k best records of `tenant`, best first."""
    try:
        res = col.search(qvec, k=k, tenant=tenant, where=where)
    except TenantNotFound:
        return []
    if not len(res.ids):
        return []
    recs = {r.id: r for r in get(col, res.ids.tolist(), tenant)}
    return [
        (i, recs[i].metadata, float(1.0 - d))
        for i, d in zip(res.ids.tolist(), res.distances.tolist(), strict=True)
        if i in recs
    ]


# ---- metadata-only writes ---------------------------------------------------------------------------------


def rewrite(col: Any, ids: Sequence[int], tenant: str, change: Callable[[dict], Any]) -> int:
    """Apply `change` to the ``_qa`` dict of each record of `tenant` among `ids` (each once) and write
    the metadata back; vectors, tenants and the index are untouched. Returns how many were written."""
    for attempt in range(_RETRIES):
        recs = get(col, ids, tenant)
        try:
            return write_metadata(col, recs, lambda meta: change(meta[RESERVED]))
        except NotFoundError:
            # Our process holds the memory lock, so another process deleted one of them between our
            # read and write; nothing was written, and the next read no longer sees it.
            if attempt == _RETRIES - 1:
                raise
    return 0


def write_metadata(col: Any, recs: Sequence[Any], change: Callable[[dict], Any]) -> int:
    """Apply `change` to a copy of each record's whole metadata and store it (one write, no index work).
    A record listed twice is changed once."""
    metas: dict[int, dict] = {}
    for r in recs:
        if r.id not in metas:
            meta = copy.deepcopy(r.metadata)
            change(meta)
            metas[r.id] = meta
    if metas:
        col.update_metadata(list(metas), list(metas.values()))
    return len(metas)
