"""Plain result types returned by the public API (and rebuilt by the gRPC client)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: ids are unsigned 64-bit integers limited to the non-negative int64 range, so that they round-trip
#: through int64 result arrays where -1 marks padding.
MAX_ID = (1 << 63) - 1
DEFAULT_TENANT = "default"
METRICS = ("l2", "ip", "cosine")


@dataclass
class SearchResult:
    """Nearest neighbours of one query, best first.

    ``ids`` is an int64 array, ``distances`` a float32 array of the same length (smaller is better).
    ``complete`` is False only when a metadata filter ran out of budget before k results matched.
    """

    ids: np.ndarray
    distances: np.ndarray
    complete: bool = True

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Record:
    """One stored vector with its tenants and metadata."""

    id: int
    vector: np.ndarray
    tenants: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CollectionInfo:
    """What the catalog knows about a collection."""

    name: str
    dim: int
    metric: str
    index: str
    id: int
    options: dict[str, Any] = field(default_factory=dict)
