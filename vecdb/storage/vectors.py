"""Sub-database `vectors`: cid|id -> the vector as given (float32, dim * 4 bytes)."""

from __future__ import annotations

from collections.abc import Iterator

import lmdb
import numpy as np

from .env import Store, cid_prefix, decode_id, id_keys
from .env import scan_ids as env_scan_ids


def put(store: Store, txn: lmdb.Transaction, cid: int, ids: np.ndarray, vectors: np.ndarray) -> None:
    keys = id_keys(cid_prefix(cid), ids)
    vecs = np.ascontiguousarray(vectors, dtype=np.float32)
    txn.cursor(store.dbs["vectors"]).putmulti(zip(keys, (row.tobytes() for row in vecs), strict=True))


def get(store: Store, txn: lmdb.Transaction, cid: int, ids: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """-> (found bool[n], float32[n, dim]); rows of missing ids are zero."""
    out = np.zeros((len(ids), dim), dtype=np.float32)
    found = np.zeros(len(ids), dtype=bool)
    db = store.dbs["vectors"]
    for i, key in enumerate(id_keys(cid_prefix(cid), ids)):
        raw = txn.get(key, db=db)
        if raw is not None:
            out[i] = np.frombuffer(raw, dtype=np.float32)
            found[i] = True
    return found, out


def get_many(store: Store, txn: lmdb.Transaction, cid: int, ids: np.ndarray, dim: int) -> np.ndarray:
    """float32[n, dim] of ids that must all exist, in order (one cursor pass)."""
    pairs = txn.cursor(store.dbs["vectors"]).getmulti(id_keys(cid_prefix(cid), ids))
    if len(pairs) != len(ids):
        raise RuntimeError(f"collection {cid}: {len(ids) - len(pairs)} of {len(ids)} vectors are missing")
    return np.frombuffer(b"".join(v for _, v in pairs), dtype=np.float32).reshape(len(ids), dim)


def delete(store: Store, txn: lmdb.Transaction, cid: int, ids: np.ndarray) -> None:
    db = store.dbs["vectors"]
    for key in id_keys(cid_prefix(cid), ids):
        txn.delete(key, db=db)


def scan(store: Store, txn: lmdb.Transaction, cid: int, dim: int, chunk: int = 65536
         ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every vector of a collection in id order, as (ids int64[m], float32[m, dim]) chunks."""
    prefix = cid_prefix(cid)
    cur = txn.cursor(store.dbs["vectors"])
    ids: list[int] = []
    rows: list[bytes] = []
    if cur.set_range(prefix):
        for key, value in cur:
            if key[:4] != prefix:
                break
            ids.append(decode_id(key, 4))
            rows.append(value)
            if len(ids) == chunk:
                yield _chunk(ids, rows, dim)
                ids, rows = [], []
    if ids:
        yield _chunk(ids, rows, dim)


def scan_ids(store: Store, txn: lmdb.Transaction, cid: int, start: int = 0, limit: int | None = None) -> np.ndarray:
    """A collection's ids >= start, ascending, at most `limit` of them."""
    return env_scan_ids(txn, store.dbs["vectors"], cid_prefix(cid), start, limit)


def _chunk(ids: list[int], rows: list[bytes], dim: int) -> tuple[np.ndarray, np.ndarray]:
    mat = np.frombuffer(b"".join(rows), dtype=np.float32).reshape(len(ids), dim)
    return np.array(ids, dtype=np.int64), mat


def drop(store: Store, txn: lmdb.Transaction, cid: int) -> None:
    store.delete_prefix(txn, "vectors", cid_prefix(cid))
