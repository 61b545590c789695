"""All tunables in one frozen object. Library code receives a Settings; only entry points build one."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    # ---- storage -------------------------------------------------------------------------------
    #: LMDB map size. A reservation of address space, not of disk: the file grows as data arrives, so a
    #: huge default spares users from picking one.
    map_size: int = 1 << 40
    #: fsync on every commit. False trades the last commits before a power loss for speed; a process
    #: crash (kill -9) loses nothing either way because LMDB writes through the OS page cache.
    durable: bool = True
    #: LMDB reader slots: one per thread that reads concurrently.
    max_readers: int = 1024

    # ---- memory --------------------------------------------------------------------------------
    #: RAM budget, in bytes, for vectors held in memory, per collection. The tree index keeps every vector
    #: in RAM while they fit in it (memory mode, plus packed copies of small tenants in what is left) and
    #: otherwise reads postings from LMDB through a cache of this size (disk mode); the flat index caches
    #: tenant matrices within it. None: half of the machine's (or container's) memory.
    cache_bytes: int | None = None
    #: LMDB file pages that reads through the map (writes, index and tenant loads, disk-mode look-ups)
    #: may leave mapped into the process, counted in its RSS, before they are handed back; at most
    #: cache_bytes (storage/residency.py). They only spare a minor fault on the next read of data the OS
    #: page cache holds anyway. Memory mode hands back what its load read at once: the slab holds it.
    map_resident_bytes: int = 256 << 20

    # ---- limits (checked on every call, library and server alike) ------------------------------
    max_k: int = 10_000
    max_batch: int = 1_000_000
    max_dim: int = 65_536

    # ---- filtered search -----------------------------------------------------------------------
    #: A `where` filter widens the candidate list until k results match or this many candidates
    #: were examined; past it the result says `complete=False`.
    filter_budget: int = 100_000

    # ---- deletes ---------------------------------------------------------------------------------
    #: Deletes and revokes commit a tombstone and are applied to the index and records in bulk once this
    #: many tombstones (deleted ids plus revoked tenant/id pairs) wait, or when a write touches one of
    #: their ids (vecdb/pending.py). Applying costs about what an immediate delete did (the write that
    #: applies 20,000 takes one to two seconds at 1M vectors). 0 applies each one at once.
    reclaim_after: int = 20_000

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    @property
    def cache_budget(self) -> int:
        return self.cache_bytes if self.cache_bytes is not None else default_cache_bytes()

    @property
    def map_resident_budget(self) -> int:
        """Mapped file bytes reads may leave resident: map_resident_bytes, within the cache budget."""
        return min(self.map_resident_bytes, self.cache_budget)


def default_cache_bytes() -> int:
    """Half of physical memory, or of the cgroup limit when a container sets a lower one."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total // 2
