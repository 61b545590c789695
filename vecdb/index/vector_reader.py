"""Exact vectors for the disk-mode rerank, read with pread by walking the `vectors` B-tree of the
query's snapshot (kernels/btree_read.py) instead of through LMDB's map, whose pages are handed back to
the OS and would each cost a page fault (about 12 us here; a pread, 2-3 us)."""

from __future__ import annotations

import struct

import numpy as np

from ..kernels.btree_read import read_values
from ..kernels.disk_query import exact_top_k, rerank
from ..kernels.postings import candidates
from ..storage import Store
from ..storage import vectors as vectors_store
from ..storage.env import cid_prefix

_DB_RECORD = struct.Struct("<IHHQQQQQ")  # LMDB's MDB_db: pad, flags, depth, branch/leaf/overflow pages, entries, root


class VectorReader:
    """Reads float32 vectors by id in one snapshot at a time, keeping that snapshot's branch pages (a few
    MB per million vectors, at most `max_bytes`)."""

    def __init__(self, store: Store, cid: int, dim: int, max_bytes: int):
        self.store, self.cid, self.dim = store, cid, dim
        self.prefix = np.frombuffer(cid_prefix(cid), np.uint8)
        self.psize = store.env.stat()["psize"]
        # a branch node is at least a 2-byte offset, an 8-byte header and a key of len(prefix) + 8 bytes
        self.max_nodes = (self.psize - 16) // (2 + 8 + len(self.prefix) + 8) + 1
        self.max_slots = max(64, max_bytes // (16 * self.max_nodes))
        self.ranks = np.zeros((0, self.max_nodes), np.uint64)
        self.kids = np.zeros((0, self.max_nodes), np.int64)
        self.counts = np.zeros(0, np.int64)
        self.tags = np.full(0, -1, np.int64)
        self.scratch = np.zeros(self.psize, np.uint8)
        self.snapshot = -1
        self.root = -1
        self.fallbacks = 0  # calls answered by LMDB itself (see read_values)

    @property
    def held_bytes(self) -> int:
        return self.ranks.nbytes + self.kids.nbytes

    def use_snapshot(self, txn) -> None:
        if txn.id() == self.snapshot:
            return
        self.snapshot = txn.id()
        record = txn.get(b"vectors")  # a named database's record in the main database
        if record is None or len(record) != _DB_RECORD.size:
            self.root = -1
            return
        _, _, _, branch_pages, _, _, entries, root = _DB_RECORD.unpack(bytes(record))
        self.root = root if entries else -1
        slots = min(self.max_slots, 1 << max(6, (2 * branch_pages).bit_length()))
        if slots != len(self.tags):
            self.ranks = np.zeros((slots, self.max_nodes), np.uint64)
            self.kids = np.zeros((slots, self.max_nodes), np.int64)
            self.counts = np.zeros(slots, np.int64)
            self.tags = np.full(slots, -1, np.int64)
        else:
            self.tags[:] = -1

    def get_many(self, txn, ids: np.ndarray, fd: int) -> np.ndarray:
        """float32[n, dim] of ids that must all exist, read from the data file open as fd."""
        self.use_snapshot(txn)
        n = len(ids)
        out = np.empty((n, self.dim * 4), np.uint8)
        if n == 0:
            return out.view(np.float32)
        if self.root < 0 or read_values(np.asarray(ids, np.int64), self.prefix, self.root, fd, self.psize, self.ranks,
                                        self.kids, self.counts, self.tags, self.scratch, out) >= 0:
            return self.from_lmdb(txn, ids)
        return out.view(np.float32)

    def top_k(self, txn, q: np.ndarray, state, k: int, fd: int, metric: int, cosine: bool
              ) -> tuple[np.ndarray, np.ndarray, int]:
        """The exact top k of a scan's candidates (kernels/disk_query.rerank), or, when the walk cannot
        read one of them, of all its candidates as LMDB gives them -> (ids, proxies, candidates read)."""
        self.use_snapshot(txn)
        if self.root >= 0:
            ids, dists, n = rerank(q, state, self.prefix, self.root, fd, self.psize, self.ranks, self.kids,
                                   self.counts, self.tags, self.scratch, k, metric, cosine)
            if n >= 0:
                return ids, dists, n
        found = candidates(state)[0]
        ids, dists = exact_top_k(q, found, self.from_lmdb(txn, found), k, metric, cosine)
        return ids, dists, len(found)

    def from_lmdb(self, txn, ids: np.ndarray) -> np.ndarray:
        """The same vectors asked of LMDB itself (when the walk could not read them; counted)."""
        self.fallbacks += 1
        return vectors_store.get_many(self.store, txn, self.cid, ids, self.dim)
