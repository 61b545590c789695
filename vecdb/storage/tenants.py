"""Tenants of a collection: the registry (name <-> number, vector count) and the access lists.

Sub-databases:
- `tenant_names`: cid|utf8 name -> tno (u32 big-endian). Numbers keep access lists small and are never
  reused within a collection.
- `tenant_info`: cid|tno -> count (u64 little-endian) + utf8 name; cid|0xffffffff -> next tno.
- `access`: cid|id -> the vector's tenant numbers, sorted little-endian u32 (its access list).
- `members`: cid|tno|id -> b"": the same relation indexed by tenant, so one tenant's ids are one range scan.
"""

from __future__ import annotations

import struct

import lmdb
import numpy as np

from .env import Store, cid_prefix, id_keys, scan_ids

_NEXT = b"\xff\xff\xff\xff"
_U64 = struct.Struct("<Q")
EMPTY = np.zeros(0, dtype=np.uint32)


def tno_bytes(tno: int) -> bytes:
    return tno.to_bytes(4, "big")


# ---- registry ------------------------------------------------------------------------------------

def lookup(store: Store, txn: lmdb.Transaction, cid: int, name: str) -> int | None:
    raw = txn.get(cid_prefix(cid) + name.encode(), db=store.dbs["tenant_names"])
    return None if raw is None else int.from_bytes(raw, "big")


def ensure(store: Store, txn: lmdb.Transaction, cid: int, names: set[str]) -> dict[str, int]:
    """Tenant numbers for names, registering the new ones."""
    out = {}
    prefix = cid_prefix(cid)
    info_db = store.dbs["tenant_info"]
    for name in sorted(names):
        tno = lookup(store, txn, cid, name)
        if tno is None:
            raw = txn.get(prefix + _NEXT, db=info_db)
            tno = 0 if raw is None else int.from_bytes(raw, "big")
            txn.put(prefix + _NEXT, tno_bytes(tno + 1), db=info_db)
            txn.put(prefix + name.encode(), tno_bytes(tno), db=store.dbs["tenant_names"])
            txn.put(prefix + tno_bytes(tno), _U64.pack(0) + name.encode(), db=info_db)
        out[name] = tno
    return out


def name_of(store: Store, txn: lmdb.Transaction, cid: int, tno: int) -> str:
    raw = txn.get(cid_prefix(cid) + tno_bytes(tno), db=store.dbs["tenant_info"])
    return bytes(raw[8:]).decode()


def count(store: Store, txn: lmdb.Transaction, cid: int, tno: int) -> int:
    raw = txn.get(cid_prefix(cid) + tno_bytes(tno), db=store.dbs["tenant_info"])
    return 0 if raw is None else _U64.unpack(raw[:8])[0]


def add_counts(store: Store, txn: lmdb.Transaction, cid: int, deltas: dict[int, int]) -> None:
    db = store.dbs["tenant_info"]
    for tno, delta in deltas.items():
        if delta:
            key = cid_prefix(cid) + tno_bytes(tno)
            raw = bytes(txn.get(key, db=db))
            txn.put(key, _U64.pack(_U64.unpack(raw[:8])[0] + delta) + raw[8:], db=db)


def list_all(store: Store, txn: lmdb.Transaction, cid: int) -> list[tuple[str, int, int]]:
    """-> [(name, tno, vector count)] in name order."""
    prefix = cid_prefix(cid)
    cur = txn.cursor(store.dbs["tenant_names"])
    out = []
    if cur.set_range(prefix):
        for key, value in cur:
            if key[:4] != prefix:
                break
            tno = int.from_bytes(value, "big")
            out.append((bytes(key[4:]).decode(), tno, count(store, txn, cid, tno)))
    return out


# ---- access lists --------------------------------------------------------------------------------

def get_access(store: Store, txn: lmdb.Transaction, cid: int, ids: np.ndarray) -> list[np.ndarray | None]:
    """Each id's tenant numbers (sorted uint32), or None where the id is absent."""
    db = store.dbs["access"]
    out: list[np.ndarray | None] = []
    for key in id_keys(cid_prefix(cid), ids):
        raw = txn.get(key, db=db)
        out.append(None if raw is None else np.frombuffer(raw, dtype="<u4").astype(np.uint32))
    return out


def set_access(store: Store, txn: lmdb.Transaction, cid: int, ids: np.ndarray,
               old: list[np.ndarray | None], new: list[np.ndarray | None]) -> dict[int, int]:
    """Replace access lists (None deletes one); keeps `members` in step. -> per-tenant count deltas."""
    prefix = cid_prefix(cid)
    access_db, members_db = store.dbs["access"], store.dbs["members"]
    ids = np.asarray(ids, dtype=np.int64)
    before, after = _pairs(old), _pairs(new)
    gone = np.setdiff1d(before, after, assume_unique=True)
    came = np.setdiff1d(after, before, assume_unique=True)
    for key in _member_keys(prefix, ids, gone):
        txn.delete(key, db=members_db)
    txn.cursor(members_db).putmulti((key, b"") for key in _member_keys(prefix, ids, came))
    keys = id_keys(prefix, ids)
    for key, acc in zip(keys, new, strict=True):
        if acc is None:
            txn.delete(key, db=access_db)
    txn.cursor(access_db).putmulti(
        (key, acc.astype("<u4").tobytes()) for key, acc in zip(keys, new, strict=True) if acc is not None)
    deltas: dict[int, int] = {}
    for codes, sign in ((gone, -1), (came, 1)):
        tnos, counts = np.unique(codes & 0xFFFFFFFF, return_counts=True)
        for tno, c in zip(tnos.tolist(), counts.tolist(), strict=True):
            deltas[tno] = deltas.get(tno, 0) + sign * c
    return deltas


def _pairs(lists: list[np.ndarray | None]) -> np.ndarray:
    """(position << 32 | tno) for every tenant of every access list: sorted and unique, as each list is."""
    lens = np.array([0 if a is None else len(a) for a in lists], dtype=np.int64)
    if not lens.any():
        return np.zeros(0, dtype=np.int64)
    tnos = np.concatenate([a for a in lists if a is not None and len(a)]).astype(np.int64)
    return (np.repeat(np.arange(len(lists), dtype=np.int64), lens) << 32) | tnos


def _member_keys(prefix: bytes, ids: np.ndarray, pairs: np.ndarray) -> list[bytes]:
    """`members` keys (prefix|tno|id) of _pairs codes, in key order (neighbouring keys share pages)."""
    tnos, vids = pairs & 0xFFFFFFFF, ids[pairs >> 32]
    order = np.lexsort((vids, tnos))
    rec = np.empty(len(pairs), dtype=[("tno", ">u4"), ("id", ">u8")])
    rec["tno"], rec["id"] = tnos[order], vids[order]
    raw = rec.tobytes()
    return [prefix + raw[j:j + 12] for j in range(0, len(raw), 12)]


def members(store: Store, txn: lmdb.Transaction, cid: int, tno: int, start: int = 0,
            limit: int | None = None) -> np.ndarray:
    """A tenant's ids >= start, ascending (int64), at most `limit` of them."""
    return scan_ids(txn, store.dbs["members"], cid_prefix(cid) + tno_bytes(tno), start, limit)


def drop(store: Store, txn: lmdb.Transaction, cid: int) -> None:
    for db in ("tenant_names", "tenant_info", "access", "members"):
        store.delete_prefix(txn, db, cid_prefix(cid))
