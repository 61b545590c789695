"""Posting lists on LMDB (SPANN): every tenant shortlist, stored as page-fitted chunks of ids and codes.

Key (sub-database `index`): cid | b"P" | tno (4) | node (4) | chunk (4), all big-endian, so one list is
one key range and its chunks come in order. Value: u32 n, u32 format, then n ids (int64), n reference
nodes (u32), n scales (float32), n squared norms (float32) and n codes (int8 or float32 rows, see
kernels/postings.py). Chunk
`c` holds list positions [c * cap, (c + 1) * cap) of the shortlist whose ids the `S` key stores, and
`cap` is chosen so that a full chunk fills a whole number of 4 KiB pages (the collection's `posting_pages`):
LMDB stores a value over half a page on overflow pages of its own (a 16-byte header, then the value), so a
full chunk wastes nothing. The trade: a chunk is one read (the pages of an overflow value are contiguous
in the file), and a cold read costs much the same for one page as for four (3.5 against 4.5 us here), but
a write rewrites the whole chunk, and runs of several pages need contiguous free space in LMDB's file
(single pages are always reused). All chunks of a list but the last are full, so a list's row count
follows from its chunk count and the last chunk's header.

Writes rewrite only the chunks whose ids changed (shortlists remove by swapping the last entry into the
hole, so a delete touches one chunk plus the last). Codes are moved, not recomputed: a rewritten chunk
takes each row from the write's own fresh rows, from the old chunks being replaced, or - rarely, for a
row moving between lists - encodes it again from the `vectors` sub-database.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

import lmdb
import numpy as np

from ..kernels.postings import FORMATS, encode

PAGE = 4096
_OVERFLOW_HEADER = 16
_HEADER = struct.Struct("<II")
_FORMAT_CODES = {name: i for i, name in enumerate(FORMATS)}
_FORMAT_NAMES = dict(enumerate(FORMATS))


_COLUMNS = ("ids", "refs", "scale", "sqnorm", "codes")


def row_bytes(dim: int, fmt: str) -> int:
    return 8 + 4 + 4 + 4 + dim * np.dtype(FORMATS[fmt]).itemsize


def chunk_capacity(dim: int, fmt: str, pages: int = 1) -> int:
    """Rows per chunk: the most that fit `pages` pages (for rows over that: the fewest pages holding one)."""
    rb = row_bytes(dim, fmt)
    pages = max(pages, -(-(rb + _HEADER.size + _OVERFLOW_HEADER) // PAGE))
    return (pages * PAGE - _OVERFLOW_HEADER - _HEADER.size) // rb


@dataclass
class Rows:
    """Posting rows, column-wise."""

    ids: np.ndarray
    refs: np.ndarray
    scale: np.ndarray
    sqnorm: np.ndarray
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, idx: np.ndarray) -> Rows:
        return Rows(*(getattr(self, f)[idx] for f in _COLUMNS))

    def copy(self) -> Rows:
        return Rows(*(getattr(self, f).copy() for f in _COLUMNS))

    @staticmethod
    def concat(parts: list[Rows], dim: int, fmt: str) -> Rows:
        if not parts:
            return Rows.empty(dim, fmt)
        return Rows(*(np.concatenate([getattr(p, f) for p in parts]) for f in _COLUMNS))

    @staticmethod
    def empty(dim: int, fmt: str) -> Rows:
        return Rows(np.zeros(0, np.int64), np.zeros(0, np.uint32), np.zeros(0, np.float32),
                    np.zeros(0, np.float32), np.zeros((0, dim), FORMATS[fmt]))

    @staticmethod
    def encode(ids: np.ndarray, vecs: np.ndarray, refs: np.ndarray, centroids: np.ndarray, fmt: str) -> Rows:
        """Rows of vectors `vecs`, int8 codes relative to centroids[refs] (refs: the vectors' leaves)."""
        scale, sqnorm, codes = encode(vecs, refs, centroids, fmt)
        return Rows(np.asarray(ids, dtype=np.int64), np.asarray(refs, dtype=np.uint32), scale, sqnorm, codes)

    def to_bytes(self, fmt: str) -> bytes:
        n = len(self.ids)
        return b"".join((_HEADER.pack(n, _FORMAT_CODES[fmt]), self.ids.astype("<i8").tobytes(),
                         self.refs.astype("<u4").tobytes(), self.scale.astype("<f4").tobytes(),
                         self.sqnorm.astype("<f4").tobytes(), np.ascontiguousarray(self.codes).tobytes()))

    @staticmethod
    def from_buffer(buf, dim: int) -> Rows:
        """Zero-copy view of one chunk value (valid as long as `buf` is)."""
        n, code = _HEADER.unpack_from(buf, 0)
        dtype = FORMATS[_FORMAT_NAMES[code]]
        off = _HEADER.size
        ids = np.frombuffer(buf, dtype="<i8", count=n, offset=off)
        refs = np.frombuffer(buf, dtype="<u4", count=n, offset=off + 8 * n)
        scale = np.frombuffer(buf, dtype="<f4", count=n, offset=off + 12 * n)
        sqnorm = np.frombuffer(buf, dtype="<f4", count=n, offset=off + 16 * n)
        codes = np.frombuffer(buf, dtype=dtype, count=n * dim, offset=off + 20 * n).reshape(n, dim)
        return Rows(ids, refs, scale, sqnorm, codes)


class PostingStore:
    """Reads and writes one collection's posting chunks."""

    def __init__(self, db, prefix: bytes, dim: int, fmt: str, pages: int = 1):
        self.db, self.dim, self.fmt = db, dim, fmt
        self.base = prefix + b"P"
        self.cap = chunk_capacity(dim, fmt, pages)

    def list_prefix(self, tno: int, node: int) -> bytes:
        return self.base + tno.to_bytes(4, "big") + node.to_bytes(4, "big")

    def read_values(self, txn: lmdb.Transaction, tno: int, node: int) -> list:
        """A list's chunk values, in order, as LMDB returns them (views of the map in a `buffers` txn)."""
        return [value for _, value in self._items(txn, self.list_prefix(tno, node))]

    def read_tenant(self, txn: lmdb.Transaction, tno: int) -> dict[int, list]:
        """Chunk values of every list of a tenant (node -> values in order), in one cursor pass."""
        prefix = self.base + tno.to_bytes(4, "big")
        out: dict[int, list] = {}
        for key, value in self._items(txn, prefix):
            out.setdefault(int.from_bytes(key[len(prefix):len(prefix) + 4], "big"), []).append(value)
        return out

    def _items(self, txn: lmdb.Transaction, prefix: bytes):
        """(key, value) of every chunk whose key starts with prefix, in key order."""
        cur = txn.cursor(self.db)
        if cur.set_range(prefix):
            for key, value in cur:
                if key[: len(prefix)] != prefix:
                    return
                yield key, value

    def read_many(self, txn: lmdb.Transaction, tno: int, lists: list[tuple[int, int]]) -> dict[int, list]:
        """Chunk values of several lists of one tenant, given (node, rows it holds in memory); -> node ->
        its values in order (lists with no chunk stored are left out). One B-tree descent per list, then
        LMDB's cursor steps through its chunks. A list that changed since the memory count (a write not
        yet committed) is read as LMDB has it."""
        cur = txn.cursor(self.db)
        out: dict[int, list] = {}
        for node, rows in lists:
            prefix = self.list_prefix(tno, node)
            if not cur.set_range(prefix):
                continue
            values = list(islice(cur.iternext(keys=False, values=True), -(-rows // self.cap)))
            if cur.key()[: len(prefix)] != prefix:  # fewer chunks than the count says: read it key by key
                values = self.read_values(txn, tno, node)
            if values:
                out[node] = values
        return out

    def sync(self, txn: lmdb.Transaction, lists: list[tuple[int, int, np.ndarray | None, np.ndarray | None]],
             fresh: Rows | None, encode_ids: Callable[[np.ndarray], Rows], reuse_old: bool = True,
             replaced: np.ndarray | None = None) -> None:
        """Bring the chunks of each (tno, node, old ids, new ids) list to `new ids` (None: the list is
        gone). Rows come from `fresh`, then (if `reuse_old`) the old chunks being replaced, then
        `encode_ids(ids)`. `replaced`: ids whose vectors changed, so chunks holding them are rewritten even
        where their ids stay the same."""
        replaced = np.zeros(0, np.int64) if replaced is None else replaced
        plans = [self._plan(tno, node, old, new, replaced) for tno, node, old, new in lists]
        pool = self._pool(txn, plans if reuse_old else [], fresh)
        keys, parts = [], []
        for tno, node, new, rewrite, drop in plans:
            for c in drop:
                txn.delete(self._key(tno, node, c), db=self.db)
            for c in rewrite:
                keys.append(self._key(tno, node, c))
                parts.append(new[c * self.cap:(c + 1) * self.cap])
        if not keys:
            return
        rows = pool.rows_for(np.concatenate(parts), encode_ids)  # one gather (and one encode) for all
        ends = np.cumsum([len(p) for p in parts])
        values = (rows.take(slice(end - len(p), end)).to_bytes(self.fmt) for end, p in zip(ends, parts, strict=True))
        txn.cursor(self.db).putmulti(zip(keys, values, strict=True))

    def _key(self, tno: int, node: int, chunk: int) -> bytes:
        return self.list_prefix(tno, node) + chunk.to_bytes(4, "big")

    def _plan(self, tno: int, node: int, old: np.ndarray | None, new: np.ndarray | None, replaced: np.ndarray):
        cap = self.cap
        old = np.zeros(0, np.int64) if old is None else old
        new = np.zeros(0, np.int64) if new is None else new
        n_old, n_new = -(-len(old) // cap), -(-len(new) // cap)
        stale = np.isin(new, replaced) if len(replaced) else np.zeros(len(new), dtype=bool)
        rewrite = [c for c in range(n_new)
                   if c >= n_old or stale[c * cap:(c + 1) * cap].any()
                   or not np.array_equal(old[c * cap:(c + 1) * cap], new[c * cap:(c + 1) * cap])]
        drop = list(range(n_new, n_old))
        return tno, node, new, rewrite, drop

    def _pool(self, txn: lmdb.Transaction, plans, fresh: Rows | None) -> _Pool:
        """Copies of the rows of every chunk about to be replaced (writes invalidate the map's buffers)."""
        parts = []
        for tno, node, _, rewrite, drop in plans:
            for c in (*rewrite, *drop):
                raw = txn.get(self._key(tno, node, c), db=self.db)
                if raw is not None:
                    parts.append(Rows.from_buffer(raw, self.dim).copy())
        if fresh is not None and len(fresh):
            parts.append(fresh)  # last, so a fresh vector wins over an old code of the same id
        return _Pool(Rows.concat(parts, self.dim, self.fmt))


class _Pool:
    """Rows by id, for filling rewritten chunks."""

    def __init__(self, rows: Rows):
        # Stable sort + taking the last of equal ids keeps the most recently added row of an id.
        order = np.argsort(rows.ids, kind="stable")
        ids = rows.ids[order]
        last = np.ones(len(ids), dtype=bool)
        last[:-1] = ids[1:] != ids[:-1]
        self.rows = rows.take(order[last])

    def rows_for(self, ids: np.ndarray, encode_ids: Callable[[np.ndarray], Rows]) -> Rows:
        n = len(self.rows)
        pos = np.minimum(np.searchsorted(self.rows.ids, ids), max(n - 1, 0))
        hit = self.rows.ids[pos] == ids if n else np.zeros(len(ids), dtype=bool)
        if hit.all():
            return self.rows.take(pos)
        if not hit.any():
            return encode_ids(ids)
        out = self.rows.take(np.where(hit, pos, 0))
        miss = np.flatnonzero(~hit)
        fill = encode_ids(ids[miss])
        for name in _COLUMNS:
            getattr(out, name)[miss] = getattr(fill, name)
        return out
