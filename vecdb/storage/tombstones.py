"""Sub-database `tombstones`: deletes and revokes that are acknowledged but not yet applied to the other
records and the index (vecdb/pending.py holds them in memory; Collection applies them in bulk).

    cid|b"D"|id      -> b""    the vector is deleted
    cid|b"R"|tno|id  -> b""    tenant `tno` lost access to the vector
"""

from __future__ import annotations

import lmdb
import numpy as np

from .env import Store, cid_prefix, decode_id, id_keys
from .tenants import tno_bytes


def put_deleted(store: Store, txn: lmdb.Transaction, cid: int, ids: np.ndarray) -> None:
    txn.cursor(store.dbs["tombstones"]).putmulti((key, b"") for key in id_keys(cid_prefix(cid) + b"D", ids))


def put_revoked(store: Store, txn: lmdb.Transaction, cid: int, tno: int, ids: np.ndarray) -> None:
    prefix = cid_prefix(cid) + b"R" + tno_bytes(tno)
    txn.cursor(store.dbs["tombstones"]).putmulti((key, b"") for key in id_keys(prefix, ids))


def load(store: Store, txn: lmdb.Transaction, cid: int) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """(deleted ids, [(tno, revoked ids)]), ids ascending."""
    prefix = cid_prefix(cid)
    deleted: list[int] = []
    revoked: dict[int, list[int]] = {}
    cur = txn.cursor(store.dbs["tombstones"])
    if cur.set_range(prefix):
        for key in cur.iternext(keys=True, values=False):
            if key[:4] != prefix:
                break
            if key[4:5] == b"D":
                deleted.append(decode_id(key, 5))
            else:
                revoked.setdefault(int.from_bytes(key[5:9], "big"), []).append(decode_id(key, 9))
    return (np.array(deleted, dtype=np.int64),
            [(tno, np.array(ids, dtype=np.int64)) for tno, ids in revoked.items()])


def drop(store: Store, txn: lmdb.Transaction, cid: int) -> None:
    store.delete_prefix(txn, "tombstones", cid_prefix(cid))
