"""Sub-database `metadata`: cid|id -> one JSON object. Vectors without metadata have no key."""

from __future__ import annotations

import json
from typing import Any

import lmdb
import numpy as np

from .env import Store, cid_prefix, id_keys


def put(store: Store, txn: lmdb.Transaction, cid: int, ids: np.ndarray, metadata: list[dict | None]) -> None:
    db = store.dbs["metadata"]
    for key, meta in zip(id_keys(cid_prefix(cid), ids), metadata, strict=True):
        if meta:
            txn.put(key, json.dumps(meta, separators=(",", ":")).encode(), db=db)
        else:
            txn.delete(key, db=db)  # an upsert replaces the whole record, metadata included


def get(store: Store, txn: lmdb.Transaction, cid: int, ids: np.ndarray) -> list[dict[str, Any]]:
    db = store.dbs["metadata"]
    out = []
    for key in id_keys(cid_prefix(cid), ids):
        raw = txn.get(key, db=db)
        out.append({} if raw is None else json.loads(bytes(raw)))
    return out


def delete(store: Store, txn: lmdb.Transaction, cid: int, ids: np.ndarray) -> None:
    db = store.dbs["metadata"]
    for key in id_keys(cid_prefix(cid), ids):
        txn.delete(key, db=db)


def drop(store: Store, txn: lmdb.Transaction, cid: int) -> None:
    store.delete_prefix(txn, "metadata", cid_prefix(cid))
