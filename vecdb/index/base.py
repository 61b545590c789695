"""The contract between a Collection and its index.

The collection owns the durable records (vectors, metadata, access lists); an index owns whatever it
derives from them. Every write reaches the index as one `Change` inside the collection's LMDB write
transaction, so index state persisted in LMDB commits or aborts with the records; the in-memory part is
published by a callback the collection runs after the commit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import lmdb
import numpy as np

from ..errors import InvalidArgumentError


@dataclass
class Change:
    """One atomic write, in index space (vectors already normalised for cosine).

    Tenants are tenant numbers (sorted uint32 arrays). An upsert that replaces a vector shows up as its
    removal followed by its addition.
    """

    removed_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    removed_tenants: list[np.ndarray] = field(default_factory=list)
    added_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    added_vectors: np.ndarray | None = None
    added_tenants: list[np.ndarray] = field(default_factory=list)
    #: (tenant, ids, their vectors): existing vectors newly shared with a tenant.
    granted: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)
    #: (tenant, ids): existing vectors a tenant lost access to (the vectors stay).
    revoked: list[tuple[int, np.ndarray]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Vectors and (tenant, vector) pairs this write touches: a measure of its size."""
        return (len(self.removed_ids) + len(self.added_ids) + sum(len(ids) for _, ids, _ in self.granted)
                + sum(len(ids) for _, ids in self.revoked))

    def then(self, later: Change) -> Change:
        """One Change doing this one and then `later`. Indexes apply revokes, then removals, then additions
        and grants, so `later` may remove what this revokes and add back, as new, what this removes."""
        vecs = [c.added_vectors for c in (self, later) if c.added_vectors is not None]
        return Change(
            removed_ids=np.concatenate([self.removed_ids, later.removed_ids]),
            removed_tenants=self.removed_tenants + later.removed_tenants,
            added_ids=np.concatenate([self.added_ids, later.added_ids]),
            added_vectors=np.concatenate(vecs) if vecs else None,
            added_tenants=self.added_tenants + later.added_tenants,
            granted=self.granted + later.granted,
            revoked=self.revoked + later.revoked,
        )


class VectorIndex(ABC):
    """Finds a tenant's nearest vectors; kept current by `write` for every change."""

    #: Keyword options `search` accepts (anything else is an InvalidArgumentError at the API).
    SEARCH_OPTIONS: frozenset[str] = frozenset()

    @classmethod
    def check_options(cls, options: dict) -> dict:
        """Validate creation options (`create_collection(..., **options)`); -> the options to store."""
        if options:
            raise InvalidArgumentError(f"this index takes no options, got {sorted(options)}")
        return {}

    @abstractmethod
    def write(self, txn: lmdb.Transaction, change: Change) -> Callable[[], None]:
        """Persist `change` in `txn`; return the callback that publishes it in memory after commit."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int, tenant: int, **options) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of each query among the tenant's vectors: (ids int64[m, k] padded with -1, proxy
        distances float32[m, k] padded with +inf), best first."""

    @abstractmethod
    def stats(self) -> dict:
        """Sizes and memory of the index's own structures."""

    def drop(self, txn: lmdb.Transaction) -> None:  # noqa: B027 - most indexes persist nothing
        """Delete the index's persisted state (the collection is being dropped)."""

    def reset(self) -> None:  # noqa: B027 - indexes that change memory in write() override it
        """A write transaction failed after `write`: forget in-memory state derived from it."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release memory; the index is not used again."""


def group_by_tenant(tenant_lists: list[np.ndarray]) -> dict[int, np.ndarray]:
    """Rows per tenant number of tenant lists (a Change's `removed_tenants`, `added_tenants`), each
    tenant's rows ascending; one sort of all (row, tenant) pairs rather than a Python step per pair."""
    lengths = np.fromiter(map(len, tenant_lists), dtype=np.int64, count=len(tenant_lists))
    if not lengths.sum():
        return {}
    tnos = np.concatenate(tenant_lists)
    rows = np.repeat(np.arange(len(tenant_lists), dtype=np.int64), lengths)
    order = np.argsort(tnos, kind="stable")
    tnos, rows = tnos[order], rows[order]
    uniq, starts = np.unique(tnos, return_index=True)
    bounds = [*starts.tolist(), len(rows)]
    return {tno: rows[a:b] for tno, a, b in zip(uniq.tolist(), bounds[:-1], bounds[1:])}
