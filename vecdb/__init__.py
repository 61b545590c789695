"""vecdb: a multi-tenant vector database (embedded, over gRPC, and from the shell).

>>> import vecdb
>>> db = vecdb.open("data/")
>>> col = db.create_collection("docs", dim=3)
"""

import os as _os

# Numba's OpenMP workers spin while idle; on a small shared machine that starves the calling thread and made
# batch kernels 1.5-4x slower (measured). Sleeping workers cost nothing noticeable. Must precede numba's
# first parallel call; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .collection import Collection  # noqa: E402
from .config import Settings
from .database import Database, open
from .errors import (
    AlreadyExistsError,
    CollectionNotFound,
    DimensionMismatch,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    TenantNotFound,
    UnauthenticatedError,
    UnavailableError,
    VecDBError,
)
from .maintenance import compact
from .qa_memory import QAMemory
from .types import Record, SearchResult

__version__ = "0.1.0"


def connect(address: str = "localhost:7431", *, api_key: str | None = None, tls: bool | bytes = False,
            timeout: float | None = 30.0):
    """A gRPC client with the same API as `Database` (needs the `server` extra)."""
    from .client import connect as _connect

    return _connect(address, api_key=api_key, tls=tls, timeout=timeout)


__all__ = [
    "AlreadyExistsError",
    "Collection",
    "CollectionNotFound",
    "Database",
    "DimensionMismatch",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "QAMemory",
    "Record",
    "ResourceExhaustedError",
    "SearchResult",
    "Settings",
    "TenantNotFound",
    "UnauthenticatedError",
    "UnavailableError",
    "VecDBError",
    "compact",
    "connect",
    "open",
]
