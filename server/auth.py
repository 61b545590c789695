"""API keys: who is calling, and what that key may touch.

keys.json::

    {"keys": [{"key": "s3cret-admin", "admin": true},
              {"key": "acme-key", "tenants": ["acme"]}]}

An admin key may do everything. A tenant key may only name its own tenants, on every RPC; the servicer asks
the `Principal` before each library call. Keys are compared through their SHA-256 digests, so a lookup
takes the same time whichever key is tried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vecdb.errors import InvalidArgumentError, PermissionDeniedError, UnauthenticatedError

#: Metadata keys a client may send its key in.
AUTH_HEADER = "authorization"
API_KEY_HEADER = "x-api-key"


@dataclass(frozen=True)
class Principal:
    """The caller behind one key: an admin, or the set of tenants a tenant key is scoped to."""

    admin: bool
    tenants: frozenset[str] = frozenset()
    name: str = ""

    def require_admin(self, what: str) -> None:
        """Raise PermissionDeniedError unless this is an admin key."""
        if not self.admin:
            raise PermissionDeniedError(f"{what} needs an admin key; this key is scoped to tenants {self._names()}")

    def check_tenants(self, names: Iterable[str]) -> None:
        """Raise PermissionDeniedError if any name is not one of this key's tenants."""
        if self.admin:
            return
        for name in sorted(set(names)):
            if name not in self.tenants:
                raise PermissionDeniedError(f"this key may not access tenant {name!r}; it is scoped to {self._names()}")

    def scoped_tenant(self, tenant: str | None, what: str) -> str | None:
        """The tenant an all-tenants-by-default call (get, delete, count) runs for.

        Admins may pass None (all tenants); a tenant key must name one of its own tenants.
        """
        if tenant is None:
            if not self.admin:
                raise PermissionDeniedError(
                    f"{what} with a tenant-scoped key must name a tenant (tenant=...), one of {self._names()}"
                )
            return None
        self.check_tenants([tenant])
        return tenant

    def visible(self) -> set[str] | None:
        """Tenant names this key may see, or None for all."""
        return None if self.admin else set(self.tenants)

    def _names(self) -> list[str]:
        return sorted(self.tenants)


#: The caller when the server runs without a keys file (loopback only).
OPEN_ACCESS = Principal(admin=True, name="no-auth")


class KeyStore:
    """API keys loaded from a keys.json file (or given as dicts)."""

    def __init__(self, entries: Sequence[dict[str, Any]]):
        self._by_digest: dict[bytes, Principal] = {}
        for i, entry in enumerate(entries):
            key = entry.get("key") if isinstance(entry, dict) else None
            if not isinstance(key, str) or not key:
                raise InvalidArgumentError(f"keys entry {i}: 'key' must be a non-empty string")
            admin = entry.get("admin", False)
            tenants = entry.get("tenants", [])
            if not isinstance(admin, bool):
                raise InvalidArgumentError(f"keys entry {i}: 'admin' must be true or false")
            if not isinstance(tenants, list) or not all(isinstance(t, str) and t for t in tenants):
                raise InvalidArgumentError(f"keys entry {i}: 'tenants' must be a list of tenant names")
            if not admin and not tenants:
                raise InvalidArgumentError(f"keys entry {i}: give either \"admin\": true or a \"tenants\" list")
            digest = _digest(key)
            if digest in self._by_digest:
                raise InvalidArgumentError(f"keys entry {i}: the same key appears twice")
            self._by_digest[digest] = Principal(admin=admin, tenants=frozenset(tenants),
                                                name=str(entry.get("name", f"key{i}")))

    @classmethod
    def load(cls, path: str | Path) -> KeyStore:
        """Read keys.json: ``{"keys": [{"key": ..., "admin": true} | {"key": ..., "tenants": [...]}]}``."""
        try:
            doc = json.loads(Path(path).read_text())
        except OSError as e:
            raise InvalidArgumentError(f"cannot read keys file {str(path)!r}: {e.strerror}") from e
        except ValueError as e:
            raise InvalidArgumentError(f"keys file {str(path)!r} is not valid JSON: {e}") from e
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise InvalidArgumentError(f'keys file {str(path)!r} must be {{"keys": [...]}}')
        return cls(doc["keys"])

    def __len__(self) -> int:
        return len(self._by_digest)

    def authenticate(self, metadata: Iterable[tuple[str, Any]]) -> Principal:
        """The Principal for the key in the call metadata; UnauthenticatedError if missing or unknown."""
        key = extract_key(metadata)
        if key is None:
            raise UnauthenticatedError(
                "missing API key: send metadata 'authorization: Bearer <key>' (vecdb.connect(api_key=...))"
            )
        principal = self._by_digest.get(_digest(key))
        if principal is None:
            raise UnauthenticatedError("invalid API key")
        return principal


def extract_key(metadata: Iterable[tuple[str, Any]]) -> str | None:
    """The API key from 'authorization: Bearer <key>' or 'x-api-key: <key>' metadata, if any."""
    for name, value in metadata or ():
        if not isinstance(value, str):
            continue
        if name == AUTH_HEADER:
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == API_KEY_HEADER and value:
            return value
    return None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()
