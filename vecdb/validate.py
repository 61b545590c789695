"""Input checks shared by every entry point. Each returns clean arrays or raises a typed error that
names the bad value, before anything is written."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import DimensionMismatch, InvalidArgumentError
from .kernels.distances import all_finite
from .types import DEFAULT_TENANT, MAX_ID, METRICS

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
MAX_TENANT_BYTES = 256


def check_name(name: Any, what: str = "collection") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidArgumentError(
            f"invalid {what} name {name!r}: use 1-128 characters from A-Z a-z 0-9 _ . - "
            "(not starting with . or -)"
        )
    return name


def check_metric(metric: Any) -> str:
    if metric not in METRICS:
        raise InvalidArgumentError(f"unknown metric {metric!r}: expected one of {', '.join(METRICS)}")
    return metric


def check_dim(dim: Any, max_dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= int(dim) <= max_dim:
        raise InvalidArgumentError(f"invalid dim {dim!r}: expected an integer from 1 to {max_dim}")
    return int(dim)


def check_tenant(tenant: Any) -> str:
    if tenant is None:
        return DEFAULT_TENANT
    if not isinstance(tenant, str) or not tenant:
        raise InvalidArgumentError(f"invalid tenant {tenant!r}: expected a non-empty string")
    if len(tenant.encode("utf-8", "surrogatepass")) > MAX_TENANT_BYTES:
        raise InvalidArgumentError(f"tenant {tenant[:40]!r}... is longer than {MAX_TENANT_BYTES} UTF-8 bytes")
    try:
        tenant.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidArgumentError(f"tenant {tenant!r} is not valid UTF-8") from e
    return tenant


def check_ids(ids: Any, max_batch: int, *, allow_empty: bool = False, unique: bool = True) -> np.ndarray:
    """ids -> int64 array of distinct values in [0, 2**63 - 1]."""
    if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
        ids = [ids]
    try:
        raw = np.asarray(ids)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"ids must be a sequence of integers: {e}") from e
    if raw.ndim != 1:
        raise InvalidArgumentError(f"ids must be one-dimensional, got shape {raw.shape}")
    if raw.size == 0:
        if allow_empty:
            return np.zeros(0, dtype=np.int64)
        raise InvalidArgumentError("empty batch: ids is empty")
    if raw.size > max_batch:
        raise InvalidArgumentError(f"batch of {raw.size} ids is over the limit of {max_batch}")
    if raw.dtype == object:
        bad = next((x for x in raw if isinstance(x, bool) or not isinstance(x, (int, np.integer))), None)
        if bad is not None:
            raise InvalidArgumentError(f"id {bad!r} is not an integer")
        too_big = next((int(x) for x in raw if not 0 <= int(x) <= MAX_ID), None)
        if too_big is not None:
            raise InvalidArgumentError(f"id {too_big} is out of range: expected 0 <= id <= {MAX_ID}")
        raw = raw.astype(np.int64)
    elif raw.dtype.kind == "b" or raw.dtype.kind not in "iu":
        raise InvalidArgumentError(f"ids must be integers, got dtype {raw.dtype}")
    if raw.dtype.kind == "u":
        over = raw > MAX_ID
        if over.any():
            raise InvalidArgumentError(f"id {int(raw[over][0])} is out of range: expected 0 <= id <= {MAX_ID}")
    out = raw.astype(np.int64)
    if (out < 0).any():
        raise InvalidArgumentError(f"id {int(out[out < 0][0])} is negative: ids are unsigned")
    if unique and len(np.unique(out)) != len(out):
        vals, counts = np.unique(out, return_counts=True)
        raise InvalidArgumentError(f"id {int(vals[counts > 1][0])} appears more than once in the batch")
    return out


def check_vectors(vectors: Any, dim: int, collection: str, max_batch: int) -> np.ndarray:
    """vectors -> C-contiguous float32 (n, dim) array of finite values."""
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"vectors must be numbers convertible to float32: {e}") from e
    if arr.ndim == 1 and arr.size == dim:
        arr = arr.reshape(1, dim)
    if arr.ndim != 2:
        raise InvalidArgumentError(f"vectors must be a 2-d (n, {dim}) array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InvalidArgumentError("empty batch: no vectors given")
    if arr.shape[0] > max_batch:
        raise InvalidArgumentError(f"batch of {arr.shape[0]} vectors is over the limit of {max_batch}")
    if arr.shape[1] != dim:
        raise DimensionMismatch(f"vector has dim {arr.shape[1]}, collection {collection!r} expects {dim}")
    finite = np.isfinite(arr)
    if not finite.all():
        row = int(np.argwhere(~finite)[0][0])
        raise InvalidArgumentError(f"vector at position {row} contains NaN or infinity")
    return np.ascontiguousarray(arr)


def check_query(query: Any, dim: int, collection: str) -> np.ndarray:
    """One query -> float32 (dim,) array."""
    if type(query) is np.ndarray and query.dtype == np.float32 and query.shape == (dim,):
        q = query  # the common case, without conversions
        if not all_finite(q):
            raise InvalidArgumentError("query contains NaN or infinity")
        return np.ascontiguousarray(q)
    try:
        q = np.asarray(query, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"query must be numbers convertible to float32: {e}") from e
    if q.ndim == 2 and q.shape[0] == 1:
        q = q[0]
    if q.ndim != 1:
        raise InvalidArgumentError(f"query must be one vector of dim {dim}, got shape {q.shape}")
    if q.shape[0] != dim:
        raise DimensionMismatch(f"query has dim {q.shape[0]}, collection {collection!r} expects {dim}")
    if not np.isfinite(q).all():
        raise InvalidArgumentError("query contains NaN or infinity")
    return np.ascontiguousarray(q)


def check_k(k: Any, max_k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InvalidArgumentError(f"k must be an integer, got {k!r}")
    if not 1 <= int(k) <= max_k:
        raise InvalidArgumentError(f"k={k} is out of range: expected 1 <= k <= {max_k}")
    return int(k)


def check_tenant_lists(tenants: Any, n: int) -> list[list[str]]:
    """`tenants` for an upsert of n vectors: one name for all, or one name / list of names per vector."""
    if tenants is None or isinstance(tenants, str):
        name = check_tenant(tenants)
        return [[name]] * n
    if not isinstance(tenants, Sequence) or isinstance(tenants, (bytes, bytearray)):
        raise InvalidArgumentError(f"tenants must be a name or a list with one entry per vector, got {tenants!r}")
    if len(tenants) != n:
        raise InvalidArgumentError(f"tenants has {len(tenants)} entries for {n} vectors")
    out: list[list[str]] = []
    for i, entry in enumerate(tenants):
        names = [entry] if isinstance(entry, str) else entry
        if not isinstance(names, Sequence) or isinstance(names, (bytes, bytearray)) or not names:
            raise InvalidArgumentError(f"tenants entry at position {i} must name at least one tenant, got {entry!r}")
        out.append(sorted({check_tenant(t) for t in names}))
    return out


def check_metadata(metadata: Any, n: int) -> list[dict | None]:
    if metadata is None:
        return [None] * n
    if isinstance(metadata, dict) or not isinstance(metadata, Sequence):
        raise InvalidArgumentError("metadata must be a list with one JSON object (or None) per vector")
    if len(metadata) != n:
        raise InvalidArgumentError(f"metadata has {len(metadata)} entries for {n} vectors")
    for i, m in enumerate(metadata):
        if m is None:
            continue
        if not isinstance(m, dict):
            raise InvalidArgumentError(f"metadata at position {i} must be a JSON object, got {type(m).__name__}")
        try:
            json.dumps(m, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"metadata at position {i} is not JSON-serialisable: {e}") from e
    return list(metadata)


def check_positive_float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"{what} must be a positive number, got {value!r}")
    return float(value)
