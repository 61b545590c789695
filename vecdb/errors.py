"""One error hierarchy for the library, the server and the client.

Each class names the gRPC status code it travels as (``grpc_code``, a ``grpc.StatusCode`` member name), so
the server maps errors in one place and the client raises the same class on the other side. The library
never imports grpc: the code is a plain string.
"""

from __future__ import annotations


class VecDBError(Exception):
    """Base class of every error vecdb raises on purpose."""

    grpc_code = "UNKNOWN"


class InvalidArgumentError(VecDBError, ValueError):
    """An argument has the wrong type, shape or value."""

    grpc_code = "INVALID_ARGUMENT"


class DimensionMismatch(InvalidArgumentError):
    """A vector's dimension differs from the collection's."""


class NotFoundError(VecDBError, KeyError):
    """A named collection, tenant or id does not exist."""

    grpc_code = "NOT_FOUND"

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class CollectionNotFound(NotFoundError):
    """No collection has that name."""


class TenantNotFound(NotFoundError):
    """The collection has never held a vector for that tenant."""


class AlreadyExistsError(VecDBError):
    """Something with that name exists already."""

    grpc_code = "ALREADY_EXISTS"


class PermissionDeniedError(VecDBError):
    """The caller may not touch that tenant or operation."""

    grpc_code = "PERMISSION_DENIED"


class UnauthenticatedError(VecDBError):
    """No valid credentials were given."""

    grpc_code = "UNAUTHENTICATED"


class ResourceExhaustedError(VecDBError):
    """A request or the store is over a configured limit."""

    grpc_code = "RESOURCE_EXHAUSTED"


class FailedPreconditionError(VecDBError):
    """The operation cannot run in the current state (for example on a closed database)."""

    grpc_code = "FAILED_PRECONDITION"


class UnavailableError(VecDBError):
    """The server cannot be reached."""

    grpc_code = "UNAVAILABLE"


class InternalError(VecDBError):
    """A bug or a corrupted store: please report it."""

    grpc_code = "INTERNAL"


ALL_ERRORS = (
    VecDBError,
    InvalidArgumentError,
    DimensionMismatch,
    NotFoundError,
    CollectionNotFound,
    TenantNotFound,
    AlreadyExistsError,
    PermissionDeniedError,
    UnauthenticatedError,
    ResourceExhaustedError,
    FailedPreconditionError,
    UnavailableError,
    InternalError,
)
