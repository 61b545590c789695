"""Vector indexes. Each implements `VectorIndex` (base.py); `make_index` picks one by name."""

from __future__ import annotations

from ..config import Settings
from ..errors import InvalidArgumentError
from ..storage import Store
from ..types import CollectionInfo
from .base import Change, VectorIndex
from .curator import CuratorIndex
from .flat import FlatIndex

INDEXES: dict[str, type[VectorIndex]] = {"curator": CuratorIndex, "flat": FlatIndex}
DEFAULT_INDEX = "curator"


def check_index(name: str) -> str:
    if name not in INDEXES:
        raise InvalidArgumentError(f"unknown index {name!r}: expected one of {', '.join(sorted(INDEXES))}")
    return name


def make_index(store: Store, info: CollectionInfo, settings: Settings) -> VectorIndex:
    return INDEXES[info.index](store, info, settings)


__all__ = ["Change", "DEFAULT_INDEX", "INDEXES", "VectorIndex", "check_index", "make_index"]
