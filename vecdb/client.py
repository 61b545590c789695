"""The gRPC client: the `Database` / `Collection` API over the wire (needs the `server` extra).

>>> client = vecdb.connect("localhost:7431", api_key="...")
>>> col = client.collection("docs")
>>> col.search([0.1, 0.2, 0.3], k=5, tenant="acme").ids

Methods take the same arguments, return the same types (`Record`, `SearchResult`, numpy arrays) and raise the
same exception classes as the embedded API; the server names the class of each error in the trailing
metadata. A server that cannot be reached raises `UnavailableError`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

try:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
except ModuleNotFoundError as e:  # the client needs the server extra's packages
    raise ModuleNotFoundError(f"vecdb.connect needs {e.name}: pip install 'vecdb[server]'", name=e.name) from e

from server import convert as cv

from . import validate as v
from ._proto.v1 import qa_memory_pb2, qa_memory_pb2_grpc, vecdb_pb2, vecdb_pb2_grpc
from .errors import FailedPreconditionError, InvalidArgumentError, UnavailableError, VecDBError
from .qa_memory import AskResult, Hit, Passage
from .types import CollectionInfo, Record, SearchResult

#: Matches the server's default message limit; bigger requests fail with ResourceExhaustedError.
MAX_MESSAGE_BYTES = 64 << 20
_MAX_UINT32 = (1 << 32) - 1


def connect(address: str = "localhost:7431", *, api_key: str | None = None, tls: bool | bytes = False,
            timeout: float | None = 30.0) -> Client:
    """Connect to a vecdb server. `tls`: False (plaintext), True (system CA roots) or a CA certificate
    (PEM bytes). `timeout` is the deadline of every call, in seconds (None: no deadline).

    Raises UnavailableError at once if the server cannot be reached."""
    return Client(address, api_key=api_key, tls=tls, timeout=timeout)


class Client:
    """A remote vecdb database; the same API as `vecdb.Database` (without backup). Thread-safe."""

    def __init__(self, address: str, *, api_key: str | None = None, tls: bool | bytes = False,
                 timeout: float | None = 30.0, max_message_bytes: int = MAX_MESSAGE_BYTES):
        self.address, self.timeout = address, timeout
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        if tls is False or tls is None:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            roots = tls if isinstance(tls, (bytes, bytearray)) else None
            creds = grpc.ssl_channel_credentials(root_certificates=bytes(roots) if roots else None)
            self._channel = grpc.secure_channel(address, creds, options=options)
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        self._stub = vecdb_pb2_grpc.VecDBStub(self._channel)
        self._qa_stub = qa_memory_pb2_grpc.QAMemoryStub(self._channel)
        self._closed = False
        self._check_reachable()

    def __repr__(self) -> str:
        return f"Client({self.address!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- collections -----------------------------------------------------------------------------

    def create_collection(self, name: str, dim: int, metric: str = "l2", index: str | None = None,
                          exist_ok: bool = False, **options: Any) -> RemoteCollection:
        """Create a collection (admin keys only). Raises AlreadyExistsError, InvalidArgumentError."""
        v.check_dim(dim, _MAX_UINT32)
        req = _msg(vecdb_pb2.CreateCollectionRequest, name=name, dim=dim, metric=metric, index=index or "",
                   exist_ok=exist_ok, options_json=cv.to_proto_json(options or None))
        return RemoteCollection(self, cv.from_proto_collection_info(self._call("CreateCollection", req)))

    def collection(self, name: str) -> RemoteCollection:
        """The collection called `name`. Raises CollectionNotFound if there is none."""
        info = self._call("GetCollection", _msg(vecdb_pb2.GetCollectionRequest, name=name))
        return RemoteCollection(self, cv.from_proto_collection_info(info))

    def list_collections(self) -> list[str]:
        """Names of all collections, sorted."""
        return list(self._call("ListCollections", _msg(vecdb_pb2.ListCollectionsRequest)).names)

    def drop_collection(self, name: str) -> None:
        """Delete a collection and everything in it (admin keys only)."""
        self._call("DropCollection", _msg(vecdb_pb2.DropCollectionRequest, name=name))

    def qa_memory(self, name: str, embedder: Any = None) -> RemoteQAMemory:
        """The QA memory called `name` on the server (created on first use, which needs an admin key).

        embedder: None (the one the memory was built with, or the built-in default), or a built-in
        embedder (or its name) that the server can rebuild; embedding runs on the server."""
        emb = "" if embedder is None else embedder if isinstance(embedder, str) else getattr(embedder, "name", None)
        if not isinstance(emb, str):
            raise InvalidArgumentError(f"embedder must be None, a name or a built-in embedder, got {embedder!r}")
        info = self._call("Open", _msg(qa_memory_pb2.QAOpenRequest, memory=name, embedder=emb), qa=True)
        return RemoteQAMemory(self, info)

    def stats(self) -> dict[str, Any]:
        """The server database's stats() (admin keys only)."""
        return json.loads(self._call("Stats", _msg(vecdb_pb2.StatsRequest)).stats_json)

    def close(self) -> None:
        """Close the connection; the server and its database keep running."""
        if not self._closed:
            self._closed = True
            self._channel.close()

    # ---- plumbing --------------------------------------------------------------------------------

    def _call(self, method: str, request: Any, qa: bool = False) -> Any:
        """Call one unary RPC, turning a failed status into the vecdb error the server raised."""
        stub = self._qa_stub if qa else self._stub
        try:
            return getattr(stub, method)(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise self._error(e) from None
        except ValueError as e:  # grpc raises ValueError on a closed channel
            raise self._closed_error() if self._closed else InvalidArgumentError(str(e)) from e

    def _stream(self, method: str, requests: Iterator[Any]) -> Any:
        # No deadline: a bulk load lasts as long as the caller keeps sending batches.
        try:
            return getattr(self._stub, method)(requests, metadata=self._metadata)
        except grpc.RpcError as e:
            raise self._error(e) from None

    def _error(self, e: grpc.RpcError) -> VecDBError:
        code = e.code() if callable(getattr(e, "code", None)) else grpc.StatusCode.UNKNOWN
        details = e.details() if callable(getattr(e, "details", None)) else str(e)
        trailing = e.trailing_metadata() if callable(getattr(e, "trailing_metadata", None)) else ()
        if code == grpc.StatusCode.UNAVAILABLE:
            details = f"vecdb server at {self.address} is unavailable: {details}"
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            details = f"no reply from the vecdb server at {self.address} within {self.timeout}s"
        elif self._closed and code == grpc.StatusCode.CANCELLED:
            return self._closed_error()
        return cv.from_status(code.name, details or code.name, trailing or ())

    def _closed_error(self) -> VecDBError:
        return FailedPreconditionError(f"the client for {self.address} is closed")

    def _check_reachable(self) -> None:
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=self.timeout)
        except grpc.RpcError as e:
            self._channel.close()
            raise self._error(e) from None
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            self._channel.close()
            raise UnavailableError(f"vecdb server at {self.address} is not serving (shutting down?)")


class RemoteCollection:
    """A collection on a vecdb server; the same methods and return types as `vecdb.Collection`."""

    def __init__(self, client: Client, info: CollectionInfo):
        self._client, self.info = client, info

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def dim(self) -> int:
        return self.info.dim

    @property
    def metric(self) -> str:
        return self.info.metric

    def __repr__(self) -> str:
        return (f"RemoteCollection({self.name!r}, dim={self.dim}, metric={self.metric!r}, "
                f"server={self._client.address!r})")

    # ---- writes ----------------------------------------------------------------------------------

    def upsert(self, ids: Any, vectors: Any, tenants: Any = None, metadata: Any = None,
               scope: Any = None) -> int:
        """Insert or replace vectors; see `vecdb.Collection.upsert`. Returns the number written."""
        _no_scope(scope)
        return int(self._client._call("Upsert", self._upsert_request(ids, vectors, tenants, metadata)).count)

    def bulk_upsert(self, batches: Iterable[Any]) -> int:
        """Stream many upsert batches in one call (for bulk loads); returns the number of vectors written.

        Each batch is ``(ids, vectors)``, ``(ids, vectors, tenants)``, ``(ids, vectors, tenants, metadata)``
        or a dict with those keys. Batches are sent while the server writes earlier ones. If a batch fails,
        the error is raised and the batches before it stay written.
        """
        failure: list[BaseException] = []

        def requests() -> Iterator[vecdb_pb2.UpsertRequest]:
            try:
                for batch in batches:
                    yield self._upsert_request(*_batch_args(batch))
            except BaseException as e:  # grpc would only report CANCELLED: keep the real cause
                failure.append(e)
                raise

        try:
            return int(self._client._stream("BulkUpsert", requests()).count)
        except VecDBError:
            if failure:
                raise failure[0] from None
            raise

    def delete(self, ids: Any, tenant: str | None = None) -> int:
        """Delete vectors (or, with `tenant`, that tenant's access to them). Returns how many were affected."""
        req = _msg(vecdb_pb2.DeleteRequest, collection=self.name, ids=_ids(ids), tenant=tenant)
        return int(self._client._call("Delete", req).count)

    def grant(self, ids: Any, tenant: str, scope: Any = None) -> int:
        """Share existing vectors with a tenant. Returns how many were not shared with it before."""
        _no_scope(scope)
        req = _msg(vecdb_pb2.AccessRequest, collection=self.name, ids=_ids(ids), tenant=_name(tenant))
        return int(self._client._call("Grant", req).count)

    def update_metadata(self, ids: Any, metadata: Any, scope: Any = None) -> int:
        """Replace the metadata of existing vectors (one JSON object or None per id). Returns how many."""
        _no_scope(scope)
        if isinstance(metadata, dict) or not isinstance(metadata, Iterable):
            raise InvalidArgumentError("metadata must be a list with one JSON object (or None) per id")
        metadata = list(metadata)
        req = _msg(vecdb_pb2.UpdateMetadataRequest, collection=self.name, ids=_ids(ids),
                   metadata_json=[cv.to_proto_json(m) or "null" for m in metadata])
        return int(self._client._call("UpdateMetadata", req).count)

    def revoke(self, ids: Any, tenant: str) -> int:
        """Stop sharing vectors with a tenant. Returns how many lost access."""
        req = _msg(vecdb_pb2.AccessRequest, collection=self.name, ids=_ids(ids), tenant=_name(tenant))
        return int(self._client._call("Revoke", req).count)

    def drop_tenant(self, tenant: str) -> int:
        """Remove a tenant's access to all its vectors. Returns how many vectors it lost."""
        req = _msg(vecdb_pb2.DropTenantRequest, collection=self.name, tenant=_name(tenant))
        return int(self._client._call("DropTenant", req).count)

    # ---- reads -----------------------------------------------------------------------------------

    def get(self, ids: Any, tenant: str | None = None) -> list[Record]:
        """The records of the ids that exist (and `tenant` can see), in the order asked."""
        req = _msg(vecdb_pb2.GetRequest, collection=self.name, ids=_ids(ids), tenant=tenant)
        return [cv.from_proto_record(r) for r in self._client._call("Get", req).records]

    def search(self, query: Any, k: int = 10, tenant: str | None = None, where: dict | None = None,
               **options: Any) -> SearchResult:
        """The k nearest vectors to `query` among those `tenant` can see; see `vecdb.Collection.search`."""
        q = _as_float32(query, "query")
        if q.ndim == 2 and q.shape[0] == 1:
            q = q[0]
        if q.ndim != 1:
            raise InvalidArgumentError(f"query must be one vector of dim {self.dim}, got shape {q.shape}")
        req = _msg(vecdb_pb2.SearchRequest, collection=self.name, query=cv.to_proto_query(q), k=_k(k), tenant=tenant,
                                      where_json=cv.to_proto_json(where), options=cv.to_proto_options(options))
        return cv.from_proto_search_result(self._client._call("Search", req))

    def search_batch(self, queries: Any, k: int = 10, tenant: str | None = None, where: dict | None = None,
                     **options: Any) -> tuple[np.ndarray, np.ndarray]:
        """search() for many queries: (ids int64[nq, k], distances float32[nq, k]) padded with -1 / inf."""
        req = _msg(vecdb_pb2.SearchBatchRequest, collection=self.name, queries=self._vectors(queries), k=_k(k),
                                           tenant=tenant, where_json=cv.to_proto_json(where),
                                           options=cv.to_proto_options(options))
        return cv.from_proto_search_batch(self._client._call("SearchBatch", req))

    def ids(self, tenant: str | None = None, after: int | None = None, limit: int | None = None) -> np.ndarray:
        """Ids in ascending order (int64 array): all of them, or those `tenant` can see; page with `after`
        (exclusive) and `limit`."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidArgumentError(f"limit must be a positive integer, got {limit!r}")
        req = _msg(vecdb_pb2.ListIdsRequest, collection=self.name, tenant=tenant,
                   after=None if after is None else _one_id(after),
                   limit=None if limit is None else min(limit, _MAX_UINT32))
        return cv.from_proto_id_array(self._client._call("ListIds", req).ids)

    def count(self, tenant: str | None = None) -> int:
        """Vectors in the collection, or visible to one tenant."""
        return int(self._client._call("Count", _msg(vecdb_pb2.CountRequest, collection=self.name, tenant=tenant)).count)

    def tenants(self) -> list[str]:
        """Names of the tenants that can see at least one vector (those of your key, for a tenant key)."""
        return list(self._client._call("Tenants", _msg(vecdb_pb2.TenantsRequest, collection=self.name)).names)

    def stats(self) -> dict[str, Any]:
        """Sizes, memory and disk of the collection (admin keys only)."""
        return json.loads(self._client._call("Stats", _msg(vecdb_pb2.StatsRequest, collection=self.name)).stats_json)

    # ---- conversion ------------------------------------------------------------------------------

    def _upsert_request(self, ids: Any, vectors: Any, tenants: Any = None,
                        metadata: Any = None) -> vecdb_pb2.UpsertRequest:
        return _msg(vecdb_pb2.UpsertRequest, collection=self.name, ids=_ids(ids), vectors=self._vectors(vectors),
                                       metadata_json=cv.to_proto_metadata(metadata), **cv.to_proto_tenants(tenants))

    def _vectors(self, vectors: Any) -> Any:
        arr = _as_float32(vectors, "vectors")
        if arr.ndim == 1 and arr.size == self.dim:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise InvalidArgumentError(f"vectors must be a 2-d (n, {self.dim}) array, got shape {arr.shape}")
        return cv.to_proto_vectors(arr)


class RemoteQAMemory:
    """A QA memory on a vecdb server; the same methods and return types as `vecdb.QAMemory` (texts are
    embedded on the server). ``answer_threshold``, ``answer_margin`` and ``reinforce_on_recall`` start
    at the server's values and, as on `QAMemory`, are the defaults of `ask`."""

    def __init__(self, client: Client, info: Any):
        self._client, self.name = client, info.name
        self.embedder_name, self.dim, self.time_unit = info.embedder, info.dim, info.time_unit
        self.answer_threshold, self.answer_margin = info.answer_threshold, info.answer_margin
        self.reinforce_on_recall = True

    def __repr__(self) -> str:
        return f"RemoteQAMemory({self.name!r}, embedder={self.embedder_name!r}, server={self._client.address!r})"

    def _call(self, method: str, cls: Any, **fields: Any) -> Any:
        request = _msg(cls, memory=self.name, **{k: v for k, v in fields.items() if v is not None})
        return self._client._call(method, request, qa=True)

    # ---- adding ----------------------------------------------------------------------------------

    def add(self, questions: Any, answers: Any, tenant: str | None = None, sources: Any = None,
            metadata: Any = None, link_threshold: float | None = None) -> list[int]:
        """Store QA pairs for `tenant`; see `vecdb.QAMemory.add`. Returns their ids."""
        reply = self._call("Add", qa_memory_pb2.QAAddRequest, tenant=tenant, questions=_texts(questions, "questions"),
                           answers=_texts(answers, "answers"), sources_json=cv.to_proto_json_list(sources, "sources"),
                           metadata_json=cv.to_proto_metadata(metadata), link_threshold=link_threshold)
        return list(reply.ids)

    def add_passages(self, texts: Any, tenant: str | None = None, metadata: Any = None,
                     sources: Any = None) -> list[int]:
        """Store passages for `tenant`; see `vecdb.QAMemory.add_passages`. Returns their ids."""
        reply = self._call("AddPassages", qa_memory_pb2.QAAddPassagesRequest, tenant=tenant,
                           texts=_texts(texts, "texts"), metadata_json=cv.to_proto_metadata(metadata),
                           sources_json=cv.to_proto_json_list(sources, "sources"))
        return list(reply.ids)

    # ---- asking ----------------------------------------------------------------------------------

    def ask(self, query: str, tenant: str | None = None, k: int = 5, where: dict | None = None,
            passages: int | None = None, threshold: float | None = None, margin: float | None = None,
            reinforce: bool | None = None, min_score: float | None = None) -> AskResult:
        """The best QA pairs and passages for `query`; see `vecdb.QAMemory.ask`."""
        reply = self._call(
            "Ask", qa_memory_pb2.QAAskRequest, query=query, tenant=tenant, k=_k(k), where_json=cv.to_proto_json(where),
            passages=passages, threshold=self.answer_threshold if threshold is None else threshold,
            margin=self.answer_margin if margin is None else margin,
            reinforce=self.reinforce_on_recall if reinforce is None else reinforce, min_score=min_score)
        return cv.from_proto_ask_result(reply)

    def ask_multihop(self, query: str, tenant: str | None = None, hops: int = 2, k: int = 5,
                     where: dict | None = None, min_score: float | None = None, reinforce: bool | None = None,
                     beam: int = 3) -> AskResult:
        """Multi-hop retrieval; see `vecdb.QAMemory.ask_multihop`."""
        for what, value in (("hops", hops), ("beam", beam)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
                raise InvalidArgumentError(f"{what} must be an integer from 1 to 10, got {value!r}")
        reply = self._call("AskMultihop", qa_memory_pb2.QAAskMultihopRequest, query=query, tenant=tenant, hops=hops,
                           k=_k(k), where_json=cv.to_proto_json(where), min_score=min_score,
                           reinforce=self.reinforce_on_recall if reinforce is None else reinforce, beam=beam)
        return cv.from_proto_ask_result(reply)

    def context(self, query: str, tenant: str | None = None, k: int = 5, where: dict | None = None,
                max_chars: int = 4000, multihop: bool = False, min_score: float | None = None) -> str:
        """Prompt-ready text for an LLM; see `vecdb.QAMemory.context`."""
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
            raise InvalidArgumentError(f"max_chars must be a positive integer, got {max_chars!r}")
        return self._call("Context", qa_memory_pb2.QAContextRequest, query=query, tenant=tenant, k=_k(k),
                          where_json=cv.to_proto_json(where), max_chars=min(max_chars, _MAX_UINT32),
                          multihop=multihop, min_score=min_score).text

    # ---- reading ---------------------------------------------------------------------------------

    def get(self, ids: Any, tenant: str | None = None) -> list[Hit]:
        """The QA pairs with these ids that `tenant` holds, in the order asked."""
        reply = self._call("Get", qa_memory_pb2.QAIdsRequest, ids=_ids(ids), tenant=tenant)
        return [cv.from_proto_hit(h) for h in reply.hits]

    def get_passages(self, ids: Any, tenant: str | None = None) -> list[Passage]:
        """The passages with these ids that `tenant` holds, in the order asked."""
        reply = self._call("GetPassages", qa_memory_pb2.QAIdsRequest, ids=_ids(ids), tenant=tenant)
        return [cv.from_proto_passage(p) for p in reply.passages]

    def memories(self, tenant: str | None = None, where: dict | None = None) -> list[Hit]:
        """All QA pairs of `tenant` (optionally filtered), oldest first."""
        reply = self._call("Memories", qa_memory_pb2.QAMemoriesRequest, tenant=tenant,
                           where_json=cv.to_proto_json(where))
        return [cv.from_proto_hit(h) for h in reply.hits]

    def history(self, id: int, tenant: str | None = None) -> list[dict]:  # noqa: A002 - mirrors QAMemory
        """Earlier versions of a QA pair, oldest first."""
        return json.loads(self._call("History", qa_memory_pb2.QAIdRequest, id=_one_id(id), tenant=tenant).json)

    def retention(self, id: int, tenant: str | None = None) -> float:  # noqa: A002
        """Retention exp(-t / (S * time_unit)) of a QA pair now."""
        return float(self._call("Retention", qa_memory_pb2.QAIdRequest, id=_one_id(id), tenant=tenant).value)

    def count(self, tenant: str | None = None) -> dict[str, int]:
        """{"pairs": n, "passages": m}, for one tenant or (tenant=None, admin keys) the whole memory."""
        reply = self._call("Count", qa_memory_pb2.QATenantRequest, tenant=tenant)
        return {"pairs": int(reply.pairs), "passages": int(reply.passages)}

    def tenants(self) -> list[str]:
        """Tenants with at least one QA pair or passage (only your own, for a tenant key)."""
        return list(self._call("Tenants", qa_memory_pb2.QATenantRequest).names)

    def stats(self) -> dict[str, Any]:
        """Name, embedder, thresholds and sizes of the memory (admin keys only)."""
        return json.loads(self._call("Stats", qa_memory_pb2.QATenantRequest).json)

    # ---- memory operations -----------------------------------------------------------------------

    def reinforce(self, ids: Any, tenant: str | None = None, step: float = 1.0) -> int:
        """Recall QA pairs: strength += step, last-recalled = now. Returns how many."""
        return int(self._call("Reinforce", qa_memory_pb2.QAReinforceRequest, ids=_ids(ids), tenant=tenant,
                              step=step).value)

    def forget(self, tenant: str | None = None, threshold: float = 0.1, dry_run: bool = False) -> list[int]:
        """Delete the tenant's QA pairs whose retention is below `threshold`; returns their ids."""
        return list(self._call("Forget", qa_memory_pb2.QAForgetRequest, tenant=tenant, threshold=threshold,
                               dry_run=dry_run).ids)

    def update(self, id: int, tenant: str | None = None, question: str | None = None,  # noqa: A002
               answer: str | None = None, source: Any = None, metadata: dict | None = None,
               reason: str | None = None) -> Hit:
        """Change a QA pair in place, keeping its id; see `vecdb.QAMemory.update`."""
        reply = self._call("Update", qa_memory_pb2.QAUpdateRequest, id=_one_id(id), tenant=tenant, question=question,
                           answer=answer, source_json=None if source is None else cv.to_proto_json(source),
                           metadata_json=None if metadata is None else cv.to_proto_json(metadata), reason=reason)
        return cv.from_proto_hit(reply)

    def delete(self, ids: Any, tenant: str | None = None) -> int:
        """Delete QA pairs and/or passages of `tenant` by id. Returns how many."""
        return int(self._call("Delete", qa_memory_pb2.QAIdsRequest, ids=_ids(ids), tenant=tenant).value)

    def drop_tenant(self, tenant: str) -> int:
        """Delete everything `tenant` stored in this memory. Returns how many records went."""
        return int(self._call("DropTenant", qa_memory_pb2.QATenantRequest, tenant=_name(tenant)).value)

    def link(self, a: int, b: int, tenant: str | None = None) -> None:
        """Link two memories of `tenant` both ways."""
        self._call("Link", qa_memory_pb2.QALinkRequest, a=_one_id(a), b=_one_id(b), tenant=tenant)

    def unlink(self, a: int, b: int, tenant: str | None = None) -> None:
        """Remove the link between two memories of `tenant`."""
        self._call("Unlink", qa_memory_pb2.QALinkRequest, a=_one_id(a), b=_one_id(b), tenant=tenant)

    def related(self, id: int, tenant: str | None = None) -> dict[str, list]:  # noqa: A002
        """The memories linked to `id`: {"pairs": [Hit], "passages": [Passage]}."""
        reply = self._call("Related", qa_memory_pb2.QAIdRequest, id=_one_id(id), tenant=tenant)
        return {"pairs": [cv.from_proto_hit(h) for h in reply.pairs],
                "passages": [cv.from_proto_passage(p) for p in reply.passages]}

    def link_related(self, tenant: str | None = None, threshold: float = 0.6, k: int = 5) -> int:
        """Link every QA pair of `tenant` to its most similar pairs. Returns how many links were made."""
        return int(self._call("LinkRelated", qa_memory_pb2.QALinkRelatedRequest, tenant=tenant, threshold=threshold,
                              k=_k(k)).value)

    def merge(self, ids: Any, tenant: str | None = None, into: int | None = None) -> dict[str, Any]:
        """Merge QA pairs of `tenant` into one; returns {"kept": id, "merged": [ids]}."""
        reply = self._call("Merge", qa_memory_pb2.QAMergeRequest, ids=_ids(ids), tenant=tenant,
                           into=None if into is None else _one_id(into))
        return {"kept": int(reply.kept), "merged": list(reply.merged)}

    def merge_duplicates(self, tenant: str | None = None, threshold: float = 0.95,
                         answer_threshold: float = 0.9) -> list[dict[str, Any]]:
        """Find and merge duplicate QA pairs of `tenant`; returns the merge result of each group."""
        reply = self._call("MergeDuplicates", qa_memory_pb2.QAMergeDuplicatesRequest, tenant=tenant,
                           threshold=threshold, answer_threshold=answer_threshold)
        return [{"kept": int(g.kept), "merged": list(g.merged)} for g in reply.groups]


def _no_scope(scope: Any) -> None:
    # Over the wire the scope is the API key's, derived by the server on every call.
    if scope is not None:
        raise InvalidArgumentError("scope= is set by the server from the API key: connect with a tenant-scoped key")


def _msg(cls: Any, **fields: Any) -> Any:
    """Build a request message; a value protobuf cannot hold is the caller's InvalidArgumentError."""
    tenant = fields.get("tenant")
    if tenant is not None and not isinstance(tenant, str):  # protobuf would take bytes silently
        raise InvalidArgumentError(f"invalid tenant {tenant!r}: expected a non-empty string")
    try:
        return cls(**fields)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"invalid argument for {cls.__name__}: {e}") from e


def _texts(texts: Any, what: str) -> list[Any]:
    if isinstance(texts, str) or not isinstance(texts, Iterable):
        raise InvalidArgumentError(f"{what} must be a list of strings, got {type(texts).__name__}")
    out = list(texts)
    bad = next((t for t in out if not isinstance(t, str)), None)
    if bad is not None:
        raise InvalidArgumentError(f"{what} must be strings, got {bad!r}")
    return out


def _one_id(id_: Any) -> int:
    return int(_ids([id_])[0])


def _as_float32(values: Any, what: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"{what} must be numbers convertible to float32: {e}") from e


def _ids(ids: Any) -> list[int]:
    # Only what serialisation needs (integers >= 0); the server checks the rest (range, duplicates, size).
    return v.check_ids(ids, sys.maxsize, allow_empty=True, unique=False).tolist()


def _k(k: Any) -> int:
    return min(v.check_k(k, sys.maxsize), _MAX_UINT32)  # the server rejects k over its max_k by name


def _name(tenant: Any) -> str:
    if not isinstance(tenant, str):
        raise InvalidArgumentError(f"invalid tenant {tenant!r}: expected a non-empty string")
    return tenant


def _batch_args(batch: Any) -> tuple[Any, ...]:
    if isinstance(batch, Mapping):
        return (batch["ids"], batch["vectors"], batch.get("tenants"), batch.get("metadata"))
    if isinstance(batch, tuple | list) and 2 <= len(batch) <= 4:
        return tuple(batch)
    raise InvalidArgumentError(
        "each bulk_upsert batch must be (ids, vectors[, tenants[, metadata]]) or a dict with those keys"
    )


__all__ = ["Client", "RemoteCollection", "RemoteQAMemory", "connect"]
