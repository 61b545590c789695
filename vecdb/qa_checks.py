"""Argument checks for the QA memory. Each returns a clean value or raises `InvalidArgumentError` naming
the bad value, before anything is read or written (so a bad call changes nothing)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import validate as v
from .errors import InvalidArgumentError
from .qa_results import RESERVED
from .types import MAX_ID

#: Memory names become collection names "qa.NAME.passages", which must fit in 128 characters.
MAX_NAME = 128 - len("qa.") - len(".passages")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_MAX_IDS = 1 << 30


def check_memory_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > MAX_NAME:
        raise InvalidArgumentError(
            f"invalid QA memory name {name!r}: use 1-{MAX_NAME} characters from A-Z a-z 0-9 _ . - "
            "(not starting with . or -)"
        )
    return name


def check_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgumentError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def check_similarity(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1.0 <= value <= 1.0:
        raise InvalidArgumentError(f"{what} must be a cosine similarity in [-1, 1], got {value!r}")
    return float(value)


def check_fraction(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidArgumentError(f"{what} must be a number in [0, 1], got {value!r}")
    return float(value)


def check_small_int(value: Any, what: str, hi: int = 10) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise InvalidArgumentError(f"{what} must be an integer from 1 to {hi}, got {value!r}")
    return value


def check_query(query: Any) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidArgumentError(f"query must be a non-empty string, got {query!r}")
    return query


def check_texts(texts: Any, what: str, n: int | None = None) -> list[str]:
    """A non-empty list of non-empty strings (exactly `n` of them when given)."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidArgumentError(f"{what} must be a list of strings, got {type(texts).__name__}")
    if n is None and not texts:
        raise InvalidArgumentError(f"{what} is empty")
    if n is not None and len(texts) != n:
        raise InvalidArgumentError(f"{what} has {len(texts)} entries for {n} questions")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise InvalidArgumentError(f"{what} at position {i} must be a non-empty string, got {t!r}")
    return list(texts)


def check_reason(reason: Any) -> str | None:
    if reason is not None and not isinstance(reason, str):
        raise InvalidArgumentError(f"reason must be a string, got {reason!r}")
    return reason


def per_item(values: Any, n: int, what: str) -> list[Any]:
    """None -> n Nones; otherwise a list with exactly one entry per item."""
    if values is None:
        return [None] * n
    if isinstance(values, (str, dict)) or not isinstance(values, Sequence) or len(values) != n:
        raise InvalidArgumentError(f"{what} must be a list with one entry per item ({n}), got {values!r}")
    return list(values)


def check_passage_sources(sources: Any, n: int) -> list[str | None]:
    srcs = per_item(sources, n, "sources")
    for i, s in enumerate(srcs):
        if s is not None and not isinstance(s, str):
            raise InvalidArgumentError(f"source at position {i} must be a string or None, got {s!r}")
    return srcs


def check_source(src: Any, i: int) -> dict[str, Any]:
    """A QA pair's source -> the stored fields {"src", "off", "pid"} (absent keys mean unknown)."""
    if src is None:
        return {}
    if isinstance(src, str):
        return {"src": src}
    if not isinstance(src, dict) or set(src) - {"source", "offset", "passage_id"}:
        raise InvalidArgumentError(
            f"source at position {i} must be None, a string or a dict with keys source, offset, passage_id; got {src!r}"
        )
    out: dict[str, Any] = {}
    if src.get("source") is not None:
        if not isinstance(src["source"], str):
            raise InvalidArgumentError(f"source at position {i}: 'source' must be a string, got {src['source']!r}")
        out["src"] = src["source"]
    for key, short in (("offset", "off"), ("passage_id", "pid")):
        val = src.get(key)
        if val is not None:
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or not 0 <= int(val) <= MAX_ID:
                raise InvalidArgumentError(
                    f"source at position {i}: {key!r} must be a non-negative integer, got {val!r}"
                )
            out[short] = int(val)
    return out


def check_user_meta(metadata: Any, n: int) -> list[dict | None]:
    """One JSON object (or None) per item, none using the reserved key."""
    metas = v.check_metadata(metadata, n)
    for i, m in enumerate(metas):
        if m and RESERVED in m:
            raise InvalidArgumentError(f"metadata at position {i} uses the reserved key {RESERVED!r}")
    return metas


def check_ids(ids: Any, unique: bool = True) -> np.ndarray:
    """Ids -> int64 array; an empty list is allowed (and means "nothing")."""
    if isinstance(ids, (list, tuple)) and not ids:
        return np.zeros(0, dtype=np.int64)
    return v.check_ids(ids, _MAX_IDS, unique=unique)


def check_one_id(id_: Any) -> int:
    return int(check_ids([id_])[0])
