"""Collection: a named set of vectors of one dimension and metric, each visible to one or more tenants.

Every write is one LMDB transaction that updates the records (vectors, metadata, access lists, counts)
and hands the index one `Change`; it is validated completely before the transaction starts, so a bad
call writes nothing. Deletes and revokes commit tombstones and counts and are applied to the rest in bulk
later (vecdb/pending.py); reads look through them. Reads never take the write lock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import lmdb
import numpy as np

from . import validate as v
from .config import Settings
from .errors import CollectionNotFound, InvalidArgumentError, NotFoundError, PermissionDeniedError, TenantNotFound
from .filters import compile_filter
from .index import Change, VectorIndex, make_index
from .kernels.distances import normalize_rows
from .pending import EMPTY_STATE, Pending, PendingState, member
from .storage import Store, catalog, tombstones
from .storage import metadata as metadata_mod
from .storage import tenants as tenants_mod
from .storage import vectors as vectors_mod
from .storage.residency import trim_heap
from .types import CollectionInfo, Record, SearchResult

#: Writes of at least this many rows (Change.rows) hand the allocator's free memory back afterwards.
TRIM_AFTER_ROWS = 1024


def _hands_back_memory(write: Callable) -> Callable:
    """A write method that, once a large write's arguments and temporaries are freed (on return), hands
    the C allocator's free memory back to the OS (storage/residency.trim_heap)."""

    @functools.wraps(write)
    def method(self: Collection, *args: Any, **kwargs: Any) -> Any:
        try:
            return write(self, *args, **kwargs)
        finally:
            if self._trim_due:
                self._trim_due = False
                trim_heap()

    return method


class Collection:
    """Vectors of one dimension and metric, shared among tenants. Get one from `Database`.

    Examples
    --------
    >>> col = db.create_collection("docs", dim=3, metric="cosine")
    >>> col.upsert([1, 2], [[1, 0, 0], [0, 1, 0]], tenants=[["acme"], ["acme", "globex"]])
    2
    >>> col.search([1, 0, 0], k=1, tenant="acme").ids
    array([1])
    """

    def __init__(self, store: Store, info: CollectionInfo, settings: Settings):
        self._store, self.info, self._settings = store, info, settings
        self._index: VectorIndex = make_index(store, info, settings)
        # Tenant numbers never change once given, so name <-> number lookups are cached for good.
        self._tno_by_name: dict[str, int] = {}
        self._name_by_tno: dict[int, str] = {}
        self._dropped = False
        self._trim_due = False  # a large write committed: trim the heap when its method returns
        with store.read() as txn:
            self._pending = Pending(self._load_pending(txn))

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def dim(self) -> int:
        return self.info.dim

    @property
    def metric(self) -> str:
        return self.info.metric

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, dim={self.dim}, metric={self.metric!r}, index={self.info.index!r})"

    # ---- writes ----------------------------------------------------------------------------------

    @_hands_back_memory
    def upsert(self, ids: Any, vectors: Any, tenants: Any = None, metadata: Any = None,
               scope: Any = None) -> int:
        """Insert vectors, or replace them (vector, tenants and metadata) where the id exists.

        Parameters
        ----------
        ids : sequence of int, each in [0, 2**63 - 1], distinct.
        vectors : (n, dim) array-like of finite floats.
        tenants : one tenant name for every vector, or one name / list of names per vector.
            None means the tenant "default".
        metadata : None, or one JSON object (or None) per vector.
        scope : None, or the tenant names the caller acts for (a tenant-scoped API key): every tenant
            named must be in it, and an existing id may be replaced only if no tenant outside it can see
            the vector. Checked inside the write transaction.

        Returns the number of vectors written.

        Raises
        ------
        InvalidArgumentError, DimensionMismatch, PermissionDeniedError
        """
        self._check_live()
        ids_arr = v.check_ids(ids, self._settings.max_batch)
        vecs = v.check_vectors(vectors, self.dim, self.name, self._settings.max_batch)
        if len(vecs) != len(ids_arr):
            raise InvalidArgumentError(f"got {len(ids_arr)} ids but {len(vecs)} vectors")
        names = v.check_tenant_lists(tenants, len(ids_arr))
        metas = v.check_metadata(metadata, len(ids_arr))
        allowed = self._check_scope_names(scope, set().union(*map(set, names)))
        index_vecs = self._to_index_space(vecs)

        def build(txn: lmdb.Transaction) -> tuple[Change, int]:
            cid = self.info.id
            before = self._apply_pending(txn) if self._pending.current().touches(ids_arr) else Change()
            old = tenants_mod.get_access(self._store, txn, cid, ids_arr)
            self._check_outside(txn, ids_arr, old, allowed)
            tmap = self._store_tenants(txn, set().union(*map(set, names)))
            new = _tenant_arrays(names, tmap)
            vectors_mod.put(self._store, txn, cid, ids_arr, vecs)
            metadata_mod.put(self._store, txn, cid, ids_arr, metas)
            self._set_access(txn, ids_arr, old, new)
            catalog.add_vector_count(self._store, txn, cid, sum(o is None for o in old))
            existing = [i for i, o in enumerate(old) if o is not None]
            change = Change(removed_ids=ids_arr[existing], removed_tenants=[old[i] for i in existing],
                            added_ids=ids_arr, added_vectors=index_vecs, added_tenants=new)
            return before.then(change), len(ids_arr)

        return self._commit(build)

    @_hands_back_memory
    def delete(self, ids: Any, tenant: str | None = None) -> int:
        """Delete vectors; ids that do not exist are skipped. Returns how many were affected.

        With `tenant`, acts only on vectors that tenant can see: a vector only that tenant holds is
        deleted, a vector shared with others just stops being visible to it (so a tenant can never
        delete another tenant's data).

        Visible to every read once it returns, and durable; the space and the index entries are
        reclaimed in bulk later (see `Settings.reclaim_after`).
        """
        self._check_live()
        ids_arr = v.check_ids(ids, self._settings.max_batch)
        name = None if tenant is None else v.check_tenant(tenant)

        def build(txn: lmdb.Transaction) -> tuple[Change, int]:
            tno = None if name is None else self._require_tenant(txn, name)
            old = self._access(txn, ids_arr)
            gone, unshared = [], []
            for i, acc in enumerate(old):
                if acc is None or (tno is not None and tno not in acc.tolist()):
                    continue
                (gone if tno is None or len(acc) == 1 else unshared).append(i)
            lost = [old[i] for i in gone]
            catalog.add_vector_count(self._store, txn, self.info.id, -len(gone))
            self._count_lost(txn, lost, tno, len(unshared))
            state = self._pending.current().with_deleted(ids_arr[gone], lost)
            tombstones.put_deleted(self._store, txn, self.info.id, ids_arr[gone])
            if unshared:
                state = state.with_revoked(tno, ids_arr[unshared])
                tombstones.put_revoked(self._store, txn, self.info.id, tno, ids_arr[unshared])
            return self._defer(txn, state), len(gone) + len(unshared)

        return self._commit(build)

    @_hands_back_memory
    def grant(self, ids: Any, tenant: str, scope: Any = None) -> int:
        """Share existing vectors with a tenant. Returns how many were not shared with it before.

        With `scope` (the tenants a scoped caller acts for), `tenant` must be in it and the ids must be
        visible to one of its tenants; others count as absent. Raises NotFoundError (writing nothing) if
        any id does not exist.
        """
        self._check_live()
        ids_arr = v.check_ids(ids, self._settings.max_batch)
        name = v.check_tenant(tenant)
        allowed = self._check_scope_names(scope, {name})

        def build(txn: lmdb.Transaction) -> tuple[Change, int]:
            # Access lists are rewritten below from what the API sees, so no tombstone may name these ids.
            before = self._apply_pending(txn) if self._pending.current().touches(ids_arr) else Change()
            old = self._existing_access(txn, ids_arr, allowed)
            tno = self._store_tenants(txn, {name})[name]
            todo = [i for i, acc in enumerate(old) if tno not in acc.tolist()]
            new = [np.array(sorted([*old[i].tolist(), tno]), dtype=np.uint32) for i in todo]
            self._set_access(txn, ids_arr[todo], [old[i] for i in todo], new)
            _, raw = vectors_mod.get(self._store, txn, self.info.id, ids_arr[todo], self.dim)
            granted = [(tno, ids_arr[todo], self._to_index_space(raw))] if todo else []
            return before.then(Change(granted=granted)), len(todo)

        return self._commit(build)

    @_hands_back_memory
    def revoke(self, ids: Any, tenant: str) -> int:
        """Stop sharing vectors with a tenant; the vectors stay (a vector no tenant holds any more is kept,
        invisible to every search, until deleted or granted again). Returns how many lost access.

        Like delete, visible to every read once it returns and applied to the index in bulk later."""
        self._check_live()
        ids_arr = v.check_ids(ids, self._settings.max_batch)
        name = v.check_tenant(tenant)

        def build(txn: lmdb.Transaction) -> tuple[Change, int]:
            tno = self._require_tenant(txn, name)
            old = self._existing_access(txn, ids_arr)
            todo = [i for i, acc in enumerate(old) if tno in acc.tolist()]  # `in` on an ndarray: 1.6 us a call
            self._count_lost(txn, [], tno, len(todo))
            tombstones.put_revoked(self._store, txn, self.info.id, tno, ids_arr[todo])
            return self._defer(txn, self._pending.current().with_revoked(tno, ids_arr[todo])), len(todo)

        return self._commit(build)

    @_hands_back_memory
    def update_metadata(self, ids: Any, metadata: Any, scope: Any = None) -> int:
        """Replace the metadata of existing vectors, leaving vectors, tenants and the index alone.

        metadata: one JSON object (or None, clearing it) per id. With `scope`, the ids must be visible
        to one of its tenants (others count as absent) and to none outside it. Raises NotFoundError
        (writing nothing) if any id does not exist. Returns how many were updated.
        """
        self._check_live()
        ids_arr = v.check_ids(ids, self._settings.max_batch)
        metas = v.check_metadata(metadata, len(ids_arr))
        allowed = self._check_scope_names(scope, set())

        def build(txn: lmdb.Transaction) -> tuple[Change, int]:
            old = self._existing_access(txn, ids_arr, allowed)
            self._check_outside(txn, ids_arr, old, allowed)
            metadata_mod.put(self._store, txn, self.info.id, ids_arr, metas)
            return Change(), len(ids_arr)

        return self._commit(build)

    @_hands_back_memory
    def drop_tenant(self, tenant: str) -> int:
        """Remove a tenant's access to all its vectors in one call; vectors it alone held are deleted.
        Returns how many vectors it lost."""
        self._check_live()
        name = v.check_tenant(tenant)

        def build(txn: lmdb.Transaction) -> tuple[Change, int]:
            tno = self._require_tenant(txn, name)
            before = self._apply_pending(txn) if self._pending.current().size else Change()
            ids_arr = tenants_mod.members(self._store, txn, self.info.id, tno)
            old = tenants_mod.get_access(self._store, txn, self.info.id, ids_arr)
            alone = np.array([len(a) == 1 for a in old], dtype=bool)
            shared = np.flatnonzero(~alone)
            change = self._remove(txn, ids_arr[alone], [a for a, x in zip(old, alone, strict=True) if x])
            self._set_access(txn, ids_arr[shared], [old[i] for i in shared], [old[i][old[i] != tno] for i in shared])
            if len(shared):
                change.revoked = [(tno, ids_arr[shared])]
            return before.then(change), len(ids_arr)

        return self._commit(build)

    # ---- reads -----------------------------------------------------------------------------------

    def search(self, query: Any, k: int = 10, tenant: str | None = None, where: dict | None = None,
               **options: Any) -> SearchResult:
        """The k vectors nearest to `query` among those `tenant` can see, best first.

        Returns min(k, vectors the tenant can see) results; with `where`, the search widens until k
        results match the filter or `Settings.filter_budget` candidates were examined (then
        `complete` is False).

        Raises
        ------
        TenantNotFound, DimensionMismatch, InvalidArgumentError
        """
        self._check_live()
        queries = self._to_index_space(v.check_query(query, self.dim, self.name)[None, :])
        k = v.check_k(k, self._settings.max_k)
        tno = self._tenant_for_read(tenant)
        if options:
            self._check_options(options)
        if where is not None:
            return self._search_filtered(queries[0], k, tno, compile_filter(where), options)
        ids, dists = self._search_index(queries, k, tno, options)
        # Padding (-1) sorts last; a full row, the usual case, needs no counting.
        n = k if ids[0, -1] >= 0 else int(np.count_nonzero(ids[0] >= 0))
        return SearchResult(ids[0, :n], self._to_distance(dists[0, :n]))

    def search_batch(self, queries: Any, k: int = 10, tenant: str | None = None, where: dict | None = None,
                     **options: Any) -> tuple[np.ndarray, np.ndarray]:
        """search() for many queries at once, on all cores: (ids int64[nq, k], distances float32[nq, k]),
        rows padded with -1 / inf where the tenant has fewer than k vectors (or matches)."""
        self._check_live()
        qs = self._to_index_space(v.check_vectors(queries, self.dim, self.name, self._settings.max_batch))
        k = v.check_k(k, self._settings.max_k)
        tno = self._tenant_for_read(tenant)
        self._check_options(options)
        if where is None:
            ids, dists = self._search_index(qs, k, tno, options)
            return ids, self._to_distance(dists)
        pred = compile_filter(where)
        ids = np.full((len(qs), k), -1, dtype=np.int64)
        dists = np.full((len(qs), k), np.inf, dtype=np.float32)
        for row, q in enumerate(qs):
            res = self._search_filtered(q, k, tno, pred, options)
            ids[row, : len(res)] = res.ids
            dists[row, : len(res)] = res.distances
        return ids, dists

    def get(self, ids: Any, tenant: str | None = None) -> list[Record]:
        """The records of the ids that exist (and, with `tenant`, that it can see), in the order asked."""
        self._check_live()
        ids_arr = v.check_ids(ids, self._settings.max_batch, unique=False)
        name = None if tenant is None else v.check_tenant(tenant)
        state = self._pending.state  # before the snapshot: tombstones applied since are in the snapshot
        with self._store.read() as txn:
            tno = None if name is None else self._require_tenant(txn, name)
            access = self._access(txn, ids_arr, state)
            keep = [i for i, a in enumerate(access) if a is not None and (tno is None or tno in a)]
            found = ids_arr[keep]
            _, vecs = vectors_mod.get(self._store, txn, self.info.id, found, self.dim)
            metas = metadata_mod.get(self._store, txn, self.info.id, found)
            names = [[self._tenant_name(txn, int(t)) for t in access[i]] for i in keep]
        return [Record(int(i), vec, ns, m) for i, vec, ns, m in zip(found, vecs, names, metas, strict=True)]

    def ids(self, tenant: str | None = None, after: int | None = None, limit: int | None = None) -> np.ndarray:
        """Ids in ascending order: all of them, or those `tenant` can see; page with `after` (exclusive)
        and `limit`.

        Examples
        --------
        >>> page = col.ids(tenant="acme", limit=1000)
        >>> more = col.ids(tenant="acme", after=int(page[-1]), limit=1000)
        """
        self._check_live()
        start = 0 if after is None else int(v.check_ids([after], 1)[0]) + 1
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidArgumentError(f"limit must be a positive integer, got {limit!r}")
        state = self._pending.state  # (as in get)
        with self._store.read() as txn:
            if tenant is None:
                hidden = state.deleted
                found = vectors_mod.scan_ids(self._store, txn, self.info.id, start, _widen(limit, hidden))
            else:
                tno = self._require_tenant(txn, v.check_tenant(tenant))
                hidden = state.hidden_from(tno)
                found = tenants_mod.members(self._store, txn, self.info.id, tno, start, _widen(limit, hidden))
        return found[~member(found, hidden)][:limit] if len(hidden) else found

    def count(self, tenant: str | None = None) -> int:
        """Vectors in the collection, or visible to one tenant."""
        self._check_live()
        with self._store.read() as txn:
            if tenant is None:
                return catalog.vector_count(self._store, txn, self.info.id)
            tno = self._require_tenant(txn, v.check_tenant(tenant))
            return tenants_mod.count(self._store, txn, self.info.id, tno)

    def tenants(self) -> list[str]:
        """Names of the tenants that can see at least one vector, sorted."""
        self._check_live()
        with self._store.read() as txn:
            return [name for name, _, n in tenants_mod.list_all(self._store, txn, self.info.id) if n > 0]

    def stats(self) -> dict[str, Any]:
        """Sizes, memory and disk: {"vectors", "tenants", "dim", "metric", "index", "disk_bytes", ...}."""
        self._check_live()
        with self._store.read() as txn:
            n = catalog.vector_count(self._store, txn, self.info.id)
            n_tenants = sum(1 for *_, c in tenants_mod.list_all(self._store, txn, self.info.id) if c > 0)
        return {
            "name": self.name, "dim": self.dim, "metric": self.metric, "index": self.info.index,
            "vectors": n, "tenants": n_tenants, "raw_vector_bytes": n * self.dim * 4,
            "database_disk_bytes": self._store.disk_bytes(), "index_stats": self._index.stats(),
            "pending_tombstones": self._pending.state.size,
        }

    # ---- internals -------------------------------------------------------------------------------

    def _commit(self, build: Callable[[lmdb.Transaction], tuple[Change, int]]) -> int:
        # The write lock spans commit and publish, so indexes see changes in commit order.
        with self._store.write_lock:
            index_written = False
            try:
                with self._store.write(publish_later=True) as txn:
                    change, result = build(txn)
                    index_written = True
                    publish = self._index.write(txn, change)
            except BaseException:
                self._pending.discard()
                if index_written:
                    self._index.reset()  # its memory may be ahead of what LMDB kept
                raise
            try:
                publish()
                self._pending.publish()
            finally:
                self._store.mark_published()
            self._trim_due |= change.rows >= TRIM_AFTER_ROWS
        return result

    def _remove(self, txn: lmdb.Transaction, ids: np.ndarray, old: list[np.ndarray], counted: bool = False) -> Change:
        """Delete whole records; returns the Change that removes them from the index. `counted`: the
        counts already left them out (a tombstone being applied)."""
        cid = self.info.id
        vectors_mod.delete(self._store, txn, cid, ids)
        metadata_mod.delete(self._store, txn, cid, ids)
        self._set_access(txn, ids, old, [None] * len(ids), counted)
        if not counted:
            catalog.add_vector_count(self._store, txn, cid, -len(ids))
        return Change(removed_ids=ids, removed_tenants=old)

    def _set_access(self, txn: lmdb.Transaction, ids: np.ndarray, old: list, new: list, counted: bool = False) -> None:
        deltas = tenants_mod.set_access(self._store, txn, self.info.id, ids, old, new)
        if not counted:
            tenants_mod.add_counts(self._store, txn, self.info.id, deltas)

    # ---- tombstones (vecdb/pending.py) -------------------------------------------------------------

    def _load_pending(self, txn: lmdb.Transaction) -> PendingState:
        deleted, revoked = tombstones.load(self._store, txn, self.info.id)
        access = tenants_mod.get_access(self._store, txn, self.info.id, deleted)
        state = EMPTY_STATE.with_deleted(deleted, access)  # type: ignore[arg-type]
        for tno, ids in revoked:
            state = state.with_revoked(tno, ids)
        return state

    def _access(self, txn: lmdb.Transaction, ids: np.ndarray, state: PendingState | None = None
                ) -> list[np.ndarray | None]:
        """Access lists as the API sees them (None: no such id): the stored ones minus the tombstones of
        `state` (default: the one this write is building)."""
        state = self._pending.current() if state is None else state
        return state.effective(ids, tenants_mod.get_access(self._store, txn, self.info.id, ids))

    def _count_lost(self, txn: lmdb.Transaction, lost: list[np.ndarray], tno: int | None, n: int) -> None:
        """Counts drop at once for deleted vectors (their tenants `lost`) and `n` revoked from `tno`."""
        deltas: dict[int, int] = {}
        if lost:
            tnos, counts = np.unique(np.concatenate(lost), return_counts=True)
            deltas = dict(zip(tnos.tolist(), (-counts).tolist(), strict=True))
        if n:
            deltas[tno] = deltas.get(tno, 0) - n  # type: ignore[index]
        tenants_mod.add_counts(self._store, txn, self.info.id, deltas)

    def _defer(self, txn: lmdb.Transaction, state: PendingState) -> Change:
        """Stage `state`, whose new tombstones this write has stored; past `reclaim_after` tombstones,
        apply them all now instead."""
        self._pending.stage(state)
        if state.size > self._settings.reclaim_after:
            return self._apply_pending(txn)
        return Change()

    def _apply_pending(self, txn: lmdb.Transaction) -> Change:
        """Apply every tombstone to the records; returns the Change that applies them to the index."""
        state, cid = self._pending.current(), self.info.id
        dead = state.deleted
        change = self._remove(txn, dead, tenants_mod.get_access(self._store, txn, cid, dead), counted=True)
        for tno, ids in state.revoked.items():
            ids = np.setdiff1d(ids, dead, assume_unique=True)
            old = tenants_mod.get_access(self._store, txn, cid, ids)  # after earlier tenants' revokes
            self._set_access(txn, ids, old, [a[a != tno] for a in old], counted=True)
            if len(ids):
                change.revoked.append((tno, ids))
        tombstones.drop(self._store, txn, cid)
        self._pending.stage(EMPTY_STATE)
        return change

    def _search_index(self, queries: np.ndarray, k: int, tno: int, options: dict) -> tuple[np.ndarray, np.ndarray]:
        """The index's top k without the ids tombstones hide from `tno`: it still holds them, so ask it
        for a few more, and for all it could need where the hidden ones crowd a query's results."""
        hidden = self._pending.state.hidden_from(tno)  # (before the index opens its snapshot, as in get)
        if not len(hidden):
            return self._index.search(queries, k, tno, **options)
        ids, dists = self._index.search(queries, k + min(k, len(hidden)), tno, **options)
        keep = ~member(ids.ravel(), hidden).reshape(ids.shape)
        short = np.flatnonzero((keep.sum(axis=1) < k) & (ids[:, -1] >= 0))
        if len(short) and len(hidden) > k:
            more_ids, more_dists = self._index.search(queries[short], k + len(hidden), tno, **options)
            ids, dists = _pad_columns(ids, dists, k + len(hidden))
            ids[short], dists[short] = more_ids, more_dists
            keep = ~member(ids.ravel(), hidden).reshape(ids.shape)
        # Kept entries first, in their order; a row with fewer than k left ends in padding.
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
        rows = np.arange(len(ids))[:, None]
        out_ids, out_dists = ids[rows, order], dists[rows, order]
        blank = ~keep[rows, order]
        out_ids[blank], out_dists[blank] = -1, np.inf
        return out_ids, out_dists

    def _existing_access(self, txn: lmdb.Transaction, ids: np.ndarray,
                         scope: set[str] | None = None) -> list[np.ndarray]:
        """Access lists of ids that must exist (and, with a scope, be visible to one of its tenants)."""
        old = self._access(txn, ids)
        visible = None if scope is None else self._scope_tnos(txn, scope)
        for i, acc in zip(ids.tolist(), old, strict=True):
            if acc is None or (visible is not None and not visible.intersection(acc.tolist())):
                raise NotFoundError(f"id {i} not found in collection {self.name!r}")
        return old  # type: ignore[return-value]

    def _check_scope_names(self, scope: Any, names: set[str]) -> set[str] | None:
        """Validate a caller's scope; every tenant a write names must be inside it."""
        if scope is None:
            return None
        if isinstance(scope, str):
            scope = [scope]
        allowed = {v.check_tenant(t) for t in scope}
        outside = sorted(names - allowed)
        if outside:
            raise PermissionDeniedError(f"tenant {outside[0]!r} is outside the caller's scope {sorted(allowed)}")
        return allowed

    def _scope_tnos(self, txn: lmdb.Transaction, scope: set[str]) -> set[int]:
        tnos = (tenants_mod.lookup(self._store, txn, self.info.id, name) for name in scope)
        return {t for t in tnos if t is not None}

    def _check_outside(self, txn: lmdb.Transaction, ids: np.ndarray, old: list, scope: set[str] | None) -> None:
        """A scoped caller may not overwrite a vector that a tenant outside its scope can see."""
        if scope is None:
            return
        inside = self._scope_tnos(txn, scope)
        for i, acc in zip(ids.tolist(), old, strict=True):
            if acc is not None and not set(acc.tolist()) <= inside:
                raise PermissionDeniedError(
                    f"id {i} exists and is visible to tenants outside the caller's scope: use another id")

    def _store_tenants(self, txn: lmdb.Transaction, names: set[str]) -> dict[str, int]:
        known = {n: self._tno_by_name[n] for n in names if n in self._tno_by_name}
        # Numbers created here only become cacheable once the transaction commits.
        return known | tenants_mod.ensure(self._store, txn, self.info.id, names - known.keys())

    def _require_tenant(self, txn: lmdb.Transaction, name: str) -> int:
        tno = self._tno_by_name.get(name)
        if tno is None:
            tno = tenants_mod.lookup(self._store, txn, self.info.id, name)
            if tno is None:
                raise TenantNotFound(f"tenant {name!r} not found in collection {self.name!r}")
            self._tno_by_name[name] = tno
        return tno

    def _tenant_for_read(self, name: Any) -> int:
        tno = self._tno_by_name.get(name) if isinstance(name, str) else None
        if tno is not None:
            return tno  # only valid names ever enter the cache
        name = v.check_tenant(name)
        with self._store.read() as txn:
            return self._require_tenant(txn, name)

    def _tenant_name(self, txn: lmdb.Transaction, tno: int) -> str:
        name = self._name_by_tno.get(tno)
        if name is None:
            name = self._name_by_tno[tno] = tenants_mod.name_of(self._store, txn, self.info.id, tno)
        return name

    def _search_filtered(self, q: np.ndarray, k: int, tno: int, pred, options: dict) -> SearchResult:
        """Widen the candidate list x4 at a time until k candidates match or the budget is spent."""
        with self._store.read() as txn:
            visible = tenants_mod.count(self._store, txn, self.info.id, tno)
        budget = self._settings.filter_budget
        verdict: dict[int, bool] = {}
        want = min(max(4 * k, 64), max(visible, 1), budget)
        while True:
            ids, dists = self._search_index(q[None, :], want, tno, options)
            ids, dists = ids[0][ids[0] >= 0], dists[0][ids[0] >= 0]
            unseen = np.array([i for i in ids.tolist() if i not in verdict], dtype=np.int64)
            if len(unseen):
                with self._store.read() as txn:
                    metas = metadata_mod.get(self._store, txn, self.info.id, unseen)
                verdict.update(zip(unseen.tolist(), map(pred, metas), strict=True))
            match = np.array([verdict[i] for i in ids.tolist()], dtype=bool)
            exhausted = want >= visible
            if match.sum() >= k or exhausted or want >= budget:
                sel = np.flatnonzero(match)[:k]
                complete = bool(len(sel) >= k or exhausted)
                return SearchResult(ids[sel], self._to_distance(dists[sel]), complete=complete)
            want = min(want * 4, visible, budget)

    def _check_options(self, options: dict) -> None:
        allowed = self._index.SEARCH_OPTIONS
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise InvalidArgumentError(
                f"unknown search option(s) {unknown} for index {self.info.index!r}: "
                f"expected {sorted(allowed) or 'none'}")

    def _to_index_space(self, vecs: np.ndarray) -> np.ndarray:
        return normalize_rows(vecs) if self.metric == "cosine" else vecs

    def _to_distance(self, proxies: np.ndarray) -> np.ndarray:
        """Index proxies -> API distances (see kernels.distances)."""
        if self.metric == "l2":
            return proxies.copy()  # results own their arrays, not views of the index's buffers
        out = proxies + np.float32(1.0)
        return np.maximum(out, 0) if self.metric == "cosine" else out

    def _check_live(self) -> None:
        if self._dropped:
            raise CollectionNotFound(f"collection {self.name!r} was dropped")

    def _drop(self, txn: lmdb.Transaction) -> None:
        cid = self.info.id
        tombstones.drop(self._store, txn, cid)
        vectors_mod.drop(self._store, txn, cid)
        metadata_mod.drop(self._store, txn, cid)
        tenants_mod.drop(self._store, txn, cid)
        self._index.drop(txn)

    def _close(self, dropped: bool = False) -> None:
        self._dropped = self._dropped or dropped
        try:
            if not self._dropped and self._pending.state.size:  # a clean close leaves no tombstones
                self._commit(lambda txn: (self._apply_pending(txn), 0))
        finally:
            self._index.close()


def _widen(limit: int | None, hidden: np.ndarray) -> int | None:
    """A page size that still fills `limit` after the hidden ids in it are skipped."""
    return None if limit is None else limit + len(hidden)


def _pad_columns(ids: np.ndarray, dists: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    out_ids = np.full((len(ids), width), -1, dtype=ids.dtype)
    out_dists = np.full((len(ids), width), np.inf, dtype=dists.dtype)
    out_ids[:, : ids.shape[1]], out_dists[:, : ids.shape[1]] = ids, dists
    return out_ids, out_dists


def _tenant_arrays(names: list[list[str]], tmap: dict[str, int]) -> list[np.ndarray]:
    cache: dict[tuple[str, ...], np.ndarray] = {}
    out = []
    for ns in names:
        key = tuple(ns)
        arr = cache.get(key)
        if arr is None:
            arr = cache[key] = np.array(sorted(tmap[n] for n in ns), dtype=np.uint32)
        out.append(arr)
    return out

