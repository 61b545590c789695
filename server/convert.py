"""Protobuf <-> vecdb conversion, in one place, for the server and the client alike.

Every function is pure: ``to_proto_*`` builds messages from library values, ``from_proto_*`` turns messages
back into library values (numpy arrays, `Record`, `SearchResult`, plain dicts). Vectors travel as packed
little-endian float32 bytes (``tobytes`` / ``frombuffer``, no per-element work). Errors travel as a status
code, a message and the error class name in the trailing metadata key `ERROR_CLASS_KEY`
(`to_status` / `from_status`), so a client re-raises the exact class the library raised.

Imports only numpy, protobuf stubs and vecdb's plain modules (errors, types): never numba or lmdb.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from vecdb import errors
from vecdb._proto.v1 import qa_memory_pb2, types_pb2, vecdb_pb2
from vecdb.qa_memory import AskResult, Hit, Passage
from vecdb.types import CollectionInfo, Record, SearchResult

#: Trailing-metadata key naming the vecdb error class of a failed call.
ERROR_CLASS_KEY = "vecdb-error"

_F32 = np.dtype("<f4")
_I64 = np.dtype("<i8")
_ERRORS_BY_NAME: dict[str, type[errors.VecDBError]] = {cls.__name__: cls for cls in errors.ALL_ERRORS}
#: The class a status code becomes when the server names no (known) class: the base class for the code.
_ERRORS_BY_CODE: dict[str, type[errors.VecDBError]] = {
    "INVALID_ARGUMENT": errors.InvalidArgumentError,
    "OUT_OF_RANGE": errors.InvalidArgumentError,
    "NOT_FOUND": errors.NotFoundError,
    "ALREADY_EXISTS": errors.AlreadyExistsError,
    "PERMISSION_DENIED": errors.PermissionDeniedError,
    "UNAUTHENTICATED": errors.UnauthenticatedError,
    "RESOURCE_EXHAUSTED": errors.ResourceExhaustedError,
    "FAILED_PRECONDITION": errors.FailedPreconditionError,
    "UNAVAILABLE": errors.UnavailableError,
    "DEADLINE_EXCEEDED": errors.UnavailableError,
    "CANCELLED": errors.UnavailableError,
    "INTERNAL": errors.InternalError,
    "DATA_LOSS": errors.InternalError,
}


# ---- vectors ---------------------------------------------------------------------------------------


def to_proto_vectors(vectors: np.ndarray) -> types_pb2.Vectors:
    """(n, dim) array -> Vectors(dim, packed little-endian float32 bytes)."""
    arr = np.ascontiguousarray(vectors, dtype=_F32)
    if arr.ndim != 2:
        raise errors.InvalidArgumentError(f"vectors must be a 2-d (n, dim) array, got shape {arr.shape}")
    return types_pb2.Vectors(dim=arr.shape[1], data=arr.tobytes())


def from_proto_vectors(msg: types_pb2.Vectors, what: str = "vectors") -> np.ndarray:
    """Vectors -> read-only float32 (n, dim) array over the message bytes (no copy)."""
    if msg.dim == 0:
        raise errors.InvalidArgumentError(f"{what}: dim must be positive, got 0")
    row = 4 * msg.dim
    if len(msg.data) % row:
        raise errors.InvalidArgumentError(
            f"{what}: {len(msg.data)} bytes is not a whole number of dim-{msg.dim} float32 rows ({row} bytes each)"
        )
    return np.frombuffer(msg.data, dtype=_F32).reshape(-1, msg.dim)


def to_proto_query(query: np.ndarray) -> bytes:
    """One query vector -> packed float32 bytes."""
    return np.ascontiguousarray(query, dtype=_F32).ravel().tobytes()


def from_proto_query(data: bytes) -> np.ndarray:
    """Packed float32 bytes -> float32 (dim,) array."""
    if len(data) % 4:
        raise errors.InvalidArgumentError(f"query: {len(data)} bytes is not a whole number of float32 values")
    return np.frombuffer(data, dtype=_F32)


# ---- JSON, options, tenants, metadata --------------------------------------------------------------


def to_proto_json(value: Any) -> str:
    """A JSON-serialisable value -> JSON text ("" for None)."""
    if value is None:
        return ""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise errors.InvalidArgumentError(f"not JSON-serialisable: {e}") from e


def from_proto_json(text: str, what: str) -> Any:
    """JSON text -> value (None for ""). Raises InvalidArgumentError naming `what` on bad JSON."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as e:
        raise errors.InvalidArgumentError(f"{what} is not valid JSON: {e}") from e


def to_proto_options(options: Mapping[str, Any]) -> dict[str, str]:
    """Search tuning keywords -> map of JSON texts."""
    return {str(key): to_proto_json(value) for key, value in options.items()}


#: Search arguments that travel in their own fields and so may not appear among the tuning options.
SEARCH_ARGUMENTS = frozenset({"query", "queries", "k", "tenant", "where"})


def from_proto_options(options: Mapping[str, str]) -> dict[str, Any]:
    """Map of JSON texts -> keywords; a value that is not JSON is taken as a bare string."""
    out: dict[str, Any] = {}
    for key, text in options.items():
        if key in SEARCH_ARGUMENTS or not key.isidentifier():
            raise errors.InvalidArgumentError(f"invalid search option name {key!r}")
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


def to_proto_tenants(tenants: Any) -> dict[str, Any]:
    """The `tenants` argument of upsert -> UpsertRequest fields (``tenants`` or ``tenant_lists``)."""
    if tenants is None:
        return {}
    if isinstance(tenants, str):
        return {"tenants": [tenants]}
    if not isinstance(tenants, Sequence) and not isinstance(tenants, np.ndarray):
        raise errors.InvalidArgumentError(
            f"tenants must be a name or a list with one entry per vector, got {tenants!r}"
        )
    lists = []
    for i, entry in enumerate(tenants):
        names = [entry] if isinstance(entry, str) else entry
        if not isinstance(names, Sequence) or any(not isinstance(n, str) for n in names):
            raise errors.InvalidArgumentError(
                f"tenants entry at position {i} must be a name or a list of names, got {entry!r}"
            )
        lists.append(list(names))
    if lists and all(names == lists[0] for names in lists):  # the common case: one list for the whole batch
        return {"tenants": lists[0]}
    return {"tenant_lists": [types_pb2.TenantList(names=names) for names in lists]}


def from_proto_tenants(req: vecdb_pb2.UpsertRequest) -> Any:
    """UpsertRequest tenant fields -> the `tenants` argument of Collection.upsert."""
    if req.tenant_lists:
        return [list(t.names) for t in req.tenant_lists]
    if len(req.tenants) == 1:
        return req.tenants[0]
    if req.tenants:
        return [list(req.tenants)] * len(req.ids)
    return None


def to_proto_metadata(metadata: Any) -> list[str]:
    """None or one dict (or None) per vector -> list of JSON texts ("" for None)."""
    if metadata is None:
        return []
    if isinstance(metadata, dict) or not isinstance(metadata, Sequence):
        raise errors.InvalidArgumentError("metadata must be a list with one JSON object (or None) per vector")
    return [to_proto_json(m) for m in metadata]


def from_proto_metadata(texts: Sequence[str]) -> list[Any] | None:
    """List of JSON texts -> list of dicts / None (the library checks they are objects)."""
    if not texts:
        return None
    return [from_proto_json(t, f"metadata at position {i}") for i, t in enumerate(texts)]


def tenant_names(tenants: Any, n: int) -> set[str]:
    """Every tenant name an upsert's `tenants` argument mentions (None means "default")."""
    if tenants is None:
        return {"default"}
    if isinstance(tenants, str):
        return {tenants}
    return {t for entry in tenants for t in ([entry] if isinstance(entry, str) else entry)}


# ---- collections, records, results -----------------------------------------------------------------


def to_proto_collection_info(info: CollectionInfo) -> types_pb2.CollectionInfo:
    return types_pb2.CollectionInfo(name=info.name, dim=info.dim, metric=info.metric, index=info.index,
                                    id=info.id, options_json=to_proto_json(dict(info.options)))


def from_proto_collection_info(msg: types_pb2.CollectionInfo) -> CollectionInfo:
    return CollectionInfo(name=msg.name, dim=msg.dim, metric=msg.metric, index=msg.index, id=msg.id,
                          options=from_proto_json(msg.options_json, "options") or {})


def to_proto_record(record: Record, visible: set[str] | None = None) -> types_pb2.Record:
    """Record -> message; with `visible`, tenant names outside it are left out (tenant-scoped keys)."""
    tenants = record.tenants if visible is None else [t for t in record.tenants if t in visible]
    return types_pb2.Record(id=record.id, vector=to_proto_query(record.vector), tenants=tenants,
                            metadata_json=to_proto_json(record.metadata or {}))


def from_proto_record(msg: types_pb2.Record) -> Record:
    return Record(id=msg.id, vector=np.frombuffer(msg.vector, dtype=_F32).astype(np.float32),
                  tenants=list(msg.tenants), metadata=from_proto_json(msg.metadata_json, "metadata") or {})


def to_proto_search_result(res: SearchResult) -> vecdb_pb2.SearchResponse:
    return vecdb_pb2.SearchResponse(ids=res.ids.tolist(), distances=res.distances.tolist(), complete=res.complete)


def from_proto_search_result(msg: vecdb_pb2.SearchResponse) -> SearchResult:
    return SearchResult(np.array(msg.ids, dtype=np.int64), np.array(msg.distances, dtype=np.float32),
                        complete=msg.complete)


def to_proto_search_batch(ids: np.ndarray, distances: np.ndarray) -> vecdb_pb2.SearchBatchResponse:
    nq, k = ids.shape
    return vecdb_pb2.SearchBatchResponse(num_queries=nq, k=k, ids=np.ascontiguousarray(ids, _I64).tobytes(),
                                         distances=np.ascontiguousarray(distances, _F32).tobytes())


def from_proto_search_batch(msg: vecdb_pb2.SearchBatchResponse) -> tuple[np.ndarray, np.ndarray]:
    shape = (msg.num_queries, msg.k)
    ids = np.frombuffer(msg.ids, dtype=_I64).astype(np.int64).reshape(shape)
    dists = np.frombuffer(msg.distances, dtype=_F32).astype(np.float32).reshape(shape)
    return ids, dists


def to_proto_id_array(ids: np.ndarray) -> bytes:
    """int64 ids -> packed little-endian bytes."""
    return np.ascontiguousarray(ids, dtype=_I64).tobytes()


def from_proto_id_array(data: bytes) -> np.ndarray:
    """Packed little-endian int64 bytes -> writable int64 array."""
    return np.frombuffer(data, dtype=_I64).astype(np.int64)


def from_proto_ids(ids: Iterable[int]) -> np.ndarray:
    """Repeated uint64 -> int64 array (values over 2**63 - 1 stay as Python ints for the library to reject)."""
    values = list(ids)
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        return np.array(values, dtype=object)


# ---- QA memory -------------------------------------------------------------------------------------


def to_proto_hit(hit: Hit) -> qa_memory_pb2.QAHit:
    return qa_memory_pb2.QAHit(
        id=hit.id, question=hit.question, answer=hit.answer, score=hit.score, source=hit.source,
        offset=hit.offset, passage_id=hit.passage_id, metadata_json=to_proto_json(hit.metadata or {}),
        strength=hit.strength, created_at=hit.created_at, recalled_at=hit.recalled_at, retention=hit.retention,
        links=hit.links, merged_from=hit.merged_from, versions=hit.versions,
    )


def from_proto_hit(msg: qa_memory_pb2.QAHit) -> Hit:
    return Hit(id=msg.id, question=msg.question, answer=msg.answer, score=_opt(msg, "score"),
               source=_opt(msg, "source"), offset=_opt(msg, "offset"), passage_id=_opt(msg, "passage_id"),
               metadata=from_proto_json(msg.metadata_json, "metadata") or {}, strength=msg.strength,
               created_at=msg.created_at, recalled_at=msg.recalled_at, retention=msg.retention,
               links=list(msg.links), merged_from=list(msg.merged_from), versions=msg.versions)


def to_proto_passage(p: Passage) -> qa_memory_pb2.QAPassage:
    return qa_memory_pb2.QAPassage(id=p.id, text=p.text, score=p.score, source=p.source,
                                   metadata_json=to_proto_json(p.metadata or {}), links=p.links)


def from_proto_passage(msg: qa_memory_pb2.QAPassage) -> Passage:
    return Passage(id=msg.id, text=msg.text, score=_opt(msg, "score"), source=_opt(msg, "source"),
                   metadata=from_proto_json(msg.metadata_json, "metadata") or {}, links=list(msg.links))


def to_proto_ask_result(res: AskResult) -> qa_memory_pb2.QAAskResponse:
    return qa_memory_pb2.QAAskResponse(
        query=res.query, answer=res.answer, answer_id=res.answer_id, hits=[to_proto_hit(h) for h in res.hits],
        passages=[to_proto_passage(p) for p in res.passages], confidence=res.confidence, margin=res.margin,
        chain_json=to_proto_json(res.chain or []),
    )


def from_proto_ask_result(msg: qa_memory_pb2.QAAskResponse) -> AskResult:
    return AskResult(query=msg.query, answer=_opt(msg, "answer"), answer_id=_opt(msg, "answer_id"),
                     hits=[from_proto_hit(h) for h in msg.hits], passages=[from_proto_passage(p) for p in msg.passages],
                     confidence=msg.confidence, margin=msg.margin, chain=from_proto_json(msg.chain_json, "chain") or [])


def to_proto_json_list(values: Any, what: str) -> list[str]:
    """None or a list of JSON values (None allowed) -> list of JSON texts ("null" for None)."""
    if values is None:
        return []
    if isinstance(values, (str, dict)) or not isinstance(values, Sequence):
        raise errors.InvalidArgumentError(f"{what} must be a list with one entry per item")
    return [to_proto_json(v) or "null" for v in values]


def from_proto_json_list(texts: Sequence[str], what: str) -> list[Any] | None:
    """List of JSON texts -> list of values (None for an empty list)."""
    if not texts:
        return None
    return [from_proto_json(t, f"{what} at position {i}") for i, t in enumerate(texts)]


def _opt(msg: Any, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


# ---- errors ----------------------------------------------------------------------------------------


def to_status(err: errors.VecDBError) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """A library error -> (grpc.StatusCode member name, message, trailing metadata naming its class)."""
    return err.grpc_code, str(err), ((ERROR_CLASS_KEY, type(err).__name__),)


def from_status(code_name: str, message: str, metadata: Iterable[tuple[str, Any]] = ()) -> errors.VecDBError:
    """(status code name, message, trailing metadata) -> the vecdb error to raise on the client."""
    named = dict(metadata or ()).get(ERROR_CLASS_KEY)
    cls = _ERRORS_BY_NAME.get(named) if isinstance(named, str) else None
    if cls is None or cls.grpc_code != code_name:  # no class named, or the code was changed on the way
        cls = _ERRORS_BY_CODE.get(code_name, errors.VecDBError)
    return cls(message)
