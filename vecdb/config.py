"""All tunables in one frozen object. Library code receives a Settings; only entry points build one."""

from __future__ import annotations

from dataclasses import dataclass, replace


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
    #: RAM budget, in bytes, for cached vectors (tenant matrices, posting blocks); None: 1 GiB.
    cache_bytes: int | None = None

    # ---- limits (checked on every call, library and server alike) ------------------------------
    max_k: int = 10_000
    max_batch: int = 1_000_000
    max_dim: int = 65_536

    # ---- filtered search -----------------------------------------------------------------------
    #: A `where` filter widens the candidate list until k results match or this many candidates
    #: were examined; past it the result says `complete=False`.
    filter_budget: int = 100_000

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    @property
    def cache_budget(self) -> int:
        return self.cache_bytes if self.cache_bytes is not None else 1 << 30
