"""Sub-database `catalog`: collection name -> JSON info, plus counters under keys that no valid
collection name can take (they start with a NUL byte)."""

from __future__ import annotations

import json
import struct

import lmdb

from ..types import CollectionInfo
from .env import Store, cid_prefix

_NEXT_CID = b"\x00next_cid"
_COUNT = b"\x00count"
_U64 = struct.Struct("<Q")


def get(store: Store, txn: lmdb.Transaction, name: str) -> CollectionInfo | None:
    raw = txn.get(name.encode(), db=store.dbs["catalog"])
    return None if raw is None else _decode(raw)


def list_all(store: Store, txn: lmdb.Transaction) -> list[CollectionInfo]:
    cur = txn.cursor(store.dbs["catalog"])
    return [_decode(v) for k, v in cur if not k.startswith(b"\x00")]


def create(store: Store, txn: lmdb.Transaction, name: str, dim: int, metric: str, index: str,
           options: dict) -> CollectionInfo:
    db = store.dbs["catalog"]
    raw = txn.get(_NEXT_CID, db=db)
    # cids are never reused, so stale keys of a dropped collection could never be read as a new one's.
    cid = 1 if raw is None else int.from_bytes(raw, "big")
    txn.put(_NEXT_CID, (cid + 1).to_bytes(4, "big"), db=db)
    info = CollectionInfo(name=name, dim=dim, metric=metric, index=index, id=cid, options=dict(options))
    txn.put(name.encode(), json.dumps(info.__dict__).encode(), db=db)
    return info


def delete(store: Store, txn: lmdb.Transaction, info: CollectionInfo) -> None:
    db = store.dbs["catalog"]
    txn.delete(info.name.encode(), db=db)
    txn.delete(_COUNT + cid_prefix(info.id), db=db)


def vector_count(store: Store, txn: lmdb.Transaction, cid: int) -> int:
    raw = txn.get(_COUNT + cid_prefix(cid), db=store.dbs["catalog"])
    return 0 if raw is None else _U64.unpack(raw)[0]


def add_vector_count(store: Store, txn: lmdb.Transaction, cid: int, delta: int) -> None:
    if delta:
        key = _COUNT + cid_prefix(cid)
        txn.put(key, _U64.pack(vector_count(store, txn, cid) + delta), db=store.dbs["catalog"])


def _decode(raw: bytes) -> CollectionInfo:
    return CollectionInfo(**json.loads(bytes(raw)))
