"""LMDB storage. One environment per database directory; each named sub-database belongs to exactly one
module here (see vecdb/ARCHITECTURE.md for the layout). Keys start with the collection's 4-byte id, so a
collection is a contiguous key range in every sub-database."""

from .env import Store

__all__ = ["Store"]
