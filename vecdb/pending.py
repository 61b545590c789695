"""Deletes and revokes that are acknowledged but not yet applied: the overlay reads see them through.

A delete or revoke commits only what the caller can observe: a tombstone (storage/tombstones.py, so it
survives kill -9) and the counts. The index, the access lists, the members and the vector records still
hold the vector until the collection applies its tombstones in bulk (Collection._apply_pending): once
`Settings.reclaim_after` of them accumulate, when a write touches one of their ids, or on close. The
caller waits only for a read and one small write; the rest costs what it always did, later and in bulk.

Until then every read looks through a `Pending` state: access lists drop what it hides, `ids()` skips
it, and a search over-fetches by the tenant's hidden ids and filters them out. States are immutable;
a write stages a new one inside its transaction and publishes it after the commit, so a search holds one
consistent state however writes interleave.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .index.base import group_by_tenant

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class PendingState:
    #: Deleted ids, ascending.
    deleted: np.ndarray = field(default_factory=lambda: _EMPTY)
    #: tno -> ids that tenant lost by revoke (or by a tenant-scoped delete of a shared vector), ascending.
    revoked: dict[int, np.ndarray] = field(default_factory=dict)
    #: Every id in `revoked`, ascending (to find the few rows of a batch that need a closer look).
    revoked_ids: np.ndarray = field(default_factory=lambda: _EMPTY)
    #: tno -> chunks of ids hidden from that tenant (its deleted and revoked ones); see hidden_from().
    _hidden: dict[int, tuple[np.ndarray, ...]] = field(default_factory=dict)
    _sorted: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Tombstones: deleted ids plus revoked (tenant, id) pairs."""
        return len(self.deleted) + sum(len(r) for r in self.revoked.values())

    def with_deleted(self, ids: np.ndarray, access: list[np.ndarray]) -> PendingState:
        """This state plus deleted `ids`, whose tenants (before the delete) are `access`."""
        if not len(ids):
            return self
        hidden = dict(self._hidden)
        for tno, rows in group_by_tenant(access).items():
            hidden[tno] = _add_chunk(hidden.get(tno, ()), ids[rows])
        return PendingState(union(self.deleted, ids), self.revoked, self.revoked_ids, hidden)

    def with_revoked(self, tno: int, ids: np.ndarray) -> PendingState:
        if not len(ids):
            return self
        revoked = dict(self.revoked)
        revoked[tno] = union(revoked.get(tno, _EMPTY), ids)
        hidden = dict(self._hidden)
        hidden[tno] = _add_chunk(hidden.get(tno, ()), ids)
        return PendingState(self.deleted, revoked, union(self.revoked_ids, ids), hidden)

    def effective(self, ids: np.ndarray, access: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """Access lists as readers must see them: None for deleted ids, revoked tenants left out."""
        if not self.size:
            return access
        out = list(access)
        for i in np.flatnonzero(member(ids, self.deleted)).tolist():
            out[i] = None
        for i in np.flatnonzero(member(ids, self.revoked_ids)).tolist():
            acc, one = out[i], ids[i : i + 1]
            if acc is not None:
                lost = [t for t in acc.tolist() if t in self.revoked and member(one, self.revoked[t])[0]]
                out[i] = acc[~np.isin(acc, lost)] if lost else acc
        return out

    def touches(self, ids: np.ndarray) -> bool:
        """Does any tombstone name one of `ids`?"""
        if not self.size:
            return False
        return bool(member(ids, self.deleted).any() or member(ids, self.revoked_ids).any())

    def hidden_from(self, tno: int) -> np.ndarray:
        """Ids the index still gives tenant `tno` that it must not see, ascending."""
        out = self._sorted.get(tno)
        if out is None:
            chunks = self._hidden.get(tno)
            out = _EMPTY if chunks is None else union(*chunks)
            self._sorted[tno] = out  # a cache: concurrent readers at worst compute it twice
        return out


EMPTY_STATE = PendingState()


class Pending:
    """The published state, plus the one a write transaction is building (only under the write lock)."""

    def __init__(self, state: PendingState = EMPTY_STATE):
        self.state = state
        self._staged: PendingState | None = None

    def current(self) -> PendingState:
        """The state a write builds on: its own staged one, else the published one."""
        return self.state if self._staged is None else self._staged

    def stage(self, state: PendingState) -> None:
        self._staged = state

    def publish(self) -> None:
        """After the commit."""
        if self._staged is not None:
            self.state, self._staged = self._staged, None

    def discard(self) -> None:
        """After a failed write."""
        self._staged = None


def _add_chunk(chunks: tuple[np.ndarray, ...], ids: np.ndarray) -> tuple[np.ndarray, ...]:
    """Chunks plus `ids`; merged into one when they pile up (many small deletes), so hidden_from stays
    cheap for the next state's first search."""
    chunks += (ids,)
    return (union(*chunks),) if len(chunks) > 8 else chunks


def union(*arrays: np.ndarray) -> np.ndarray:
    """Sorted distinct ids of all `arrays` (np.union1d hashes: ~30x slower on a few thousand ids)."""
    out = np.concatenate(arrays).astype(np.int64)
    out.sort()
    return out[np.concatenate([[True], out[1:] != out[:-1]])] if len(out) else out


def member(ids: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """ids found in `sorted_ids` (np.isin sorts or hashes both sides; a batch is small next to them)."""
    if not len(sorted_ids):
        return np.zeros(len(ids), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return sorted_ids[pos] == ids
