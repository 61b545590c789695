"""The VecDB gRPC service: each RPC converts the request, checks the caller's key, calls the vecdb library
and converts the result. No database logic lives here.

`rpc` is the one place where errors become statuses: a `VecDBError` travels as its own status code
(``grpc.StatusCode[err.grpc_code]``) with its class name in the trailing metadata; anything else is a bug,
logged with its traceback and sent as INTERNAL. It also authenticates the caller and records metrics.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import numpy as np

from vecdb import Database
from vecdb._proto.v1 import types_pb2, vecdb_pb2, vecdb_pb2_grpc
from vecdb.errors import (
    InvalidArgumentError,
    ResourceExhaustedError,
    VecDBError,
)

from . import convert as cv
from .auth import OPEN_ACCESS, KeyStore, Principal
from .metrics import Metrics

log = logging.getLogger("vecdb.server")

DEFAULT_K = 10
Handler = Callable[[Any, Any, grpc.ServicerContext, Principal], Any]


class ServerContext:
    """What every RPC needs besides the request: the database, the keys, the limits and the metrics."""

    def __init__(self, db: Database, keys: KeyStore | None, metrics: Metrics | None, max_message_bytes: int):
        self.db, self.keys, self.metrics = db, keys, metrics
        self.max_message_bytes = max_message_bytes

    def authenticate(self, context: grpc.ServicerContext) -> Principal:
        if self.keys is None:
            return OPEN_ACCESS
        return self.keys.authenticate(context.invocation_metadata())


def rpc(fn: Handler) -> Callable[[Any, Any, grpc.ServicerContext], Any]:
    """Wrap an RPC implementation ``fn(self, request, context, principal)``: authenticate, map errors to
    statuses (the only place that does), and record metrics."""
    method = fn.__name__

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        start = time.perf_counter()
        code, message = "OK", ""
        trailing: tuple[tuple[str, str], ...] = ()
        try:
            return fn(self, request, context, self.ctx.authenticate(context))
        except VecDBError as err:
            code, message, trailing = cv.to_status(err)
        except Exception as err:
            if not context.is_active():  # the client cancelled or timed out (a stream breaks off): no bug
                log.info("%s ended early: the client went away (%s)", method, type(err).__name__)
                code = "CANCELLED"
            else:  # a bug: log it whole, tell the client only that it happened
                log.exception("internal error in %s", method)
                code, message = "INTERNAL", f"internal error in {method} ({type(err).__name__}); see the server log"
        finally:
            if self.ctx.metrics is not None:
                self.ctx.metrics.observe(method, code, time.perf_counter() - start)
        context.set_trailing_metadata(trailing)
        context.abort(grpc.StatusCode[code], message)

    return wrapper


class VecDBServicer(vecdb_pb2_grpc.VecDBServicer):
    """Implements vecdb.v1.VecDB over one `Database` (method names are the RPC names, hence CamelCase)."""

    def __init__(self, ctx: ServerContext):
        self.ctx = ctx

    @property
    def db(self) -> Database:
        return self.ctx.db

    # ---- collections -------------------------------------------------------------------------------

    @rpc
    def CreateCollection(self, request: vecdb_pb2.CreateCollectionRequest, context: grpc.ServicerContext,
                         principal: Principal) -> types_pb2.CollectionInfo:
        principal.require_admin("CreateCollection")
        options = cv.from_proto_json(request.options_json, "options_json") or {}
        if not isinstance(options, dict):
            raise InvalidArgumentError(f"options_json must be a JSON object, got {request.options_json!r}")
        kwargs: dict[str, Any] = {"metric": request.metric or "l2", "exist_ok": request.exist_ok, **options}
        if request.index:
            kwargs["index"] = request.index
        col = self.db.create_collection(request.name, request.dim, **kwargs)
        return cv.to_proto_collection_info(col.info)

    @rpc
    def GetCollection(self, request: vecdb_pb2.GetCollectionRequest, context: grpc.ServicerContext,
                      principal: Principal) -> types_pb2.CollectionInfo:
        return cv.to_proto_collection_info(self.db.collection(request.name).info)

    @rpc
    def ListCollections(self, request: vecdb_pb2.ListCollectionsRequest, context: grpc.ServicerContext,
                        principal: Principal) -> vecdb_pb2.ListCollectionsResponse:
        return vecdb_pb2.ListCollectionsResponse(names=self.db.list_collections())

    @rpc
    def DropCollection(self, request: vecdb_pb2.DropCollectionRequest, context: grpc.ServicerContext,
                       principal: Principal) -> vecdb_pb2.DropCollectionResponse:
        principal.require_admin("DropCollection")
        self.db.drop_collection(request.name)
        return vecdb_pb2.DropCollectionResponse()

    # ---- writes ------------------------------------------------------------------------------------

    @rpc
    def Upsert(self, request: vecdb_pb2.UpsertRequest, context: grpc.ServicerContext,
               principal: Principal) -> vecdb_pb2.UpsertResponse:
        return vecdb_pb2.UpsertResponse(count=self._upsert(request, principal))

    @rpc
    def BulkUpsert(self, request_iterator: Iterator[vecdb_pb2.UpsertRequest], context: grpc.ServicerContext,
                   principal: Principal) -> vecdb_pb2.UpsertResponse:
        total = sum(self._upsert(request, principal) for request in request_iterator)
        return vecdb_pb2.UpsertResponse(count=total)

    def _upsert(self, request: vecdb_pb2.UpsertRequest, principal: Principal) -> int:
        col = self.db.collection(request.collection)
        ids = cv.from_proto_ids(request.ids)
        tenants = cv.from_proto_tenants(request)
        principal.check_tenants(cv.tenant_names(tenants, len(ids)))
        vectors = cv.from_proto_vectors(request.vectors) if request.HasField("vectors") else np.zeros((0, col.dim))
        return col.upsert(ids, vectors, tenants=tenants, metadata=cv.from_proto_metadata(request.metadata_json),
                          scope=principal.visible())

    @rpc
    def Delete(self, request: vecdb_pb2.DeleteRequest, context: grpc.ServicerContext,
               principal: Principal) -> vecdb_pb2.CountResponse:
        col = self.db.collection(request.collection)
        tenant = principal.scoped_tenant(_optional(request, "tenant"), "Delete")
        return vecdb_pb2.CountResponse(count=col.delete(cv.from_proto_ids(request.ids), tenant=tenant))

    @rpc
    def Grant(self, request: vecdb_pb2.AccessRequest, context: grpc.ServicerContext,
              principal: Principal) -> vecdb_pb2.CountResponse:
        col = self.db.collection(request.collection)
        principal.check_tenants([request.tenant])
        ids = cv.from_proto_ids(request.ids)
        return vecdb_pb2.CountResponse(count=col.grant(ids, request.tenant, scope=principal.visible()))

    @rpc
    def UpdateMetadata(self, request: vecdb_pb2.UpdateMetadataRequest, context: grpc.ServicerContext,
                       principal: Principal) -> vecdb_pb2.CountResponse:
        col = self.db.collection(request.collection)
        ids = cv.from_proto_ids(request.ids)
        metadata = cv.from_proto_metadata(request.metadata_json) or [None] * len(request.metadata_json)
        return vecdb_pb2.CountResponse(count=col.update_metadata(ids, metadata, scope=principal.visible()))

    @rpc
    def Revoke(self, request: vecdb_pb2.AccessRequest, context: grpc.ServicerContext,
               principal: Principal) -> vecdb_pb2.CountResponse:
        col = self.db.collection(request.collection)
        principal.check_tenants([request.tenant])
        return vecdb_pb2.CountResponse(count=col.revoke(cv.from_proto_ids(request.ids), request.tenant))

    @rpc
    def DropTenant(self, request: vecdb_pb2.DropTenantRequest, context: grpc.ServicerContext,
                   principal: Principal) -> vecdb_pb2.CountResponse:
        col = self.db.collection(request.collection)
        principal.check_tenants([request.tenant])
        return vecdb_pb2.CountResponse(count=col.drop_tenant(request.tenant))

    # ---- reads -------------------------------------------------------------------------------------

    @rpc
    def Get(self, request: vecdb_pb2.GetRequest, context: grpc.ServicerContext,
            principal: Principal) -> vecdb_pb2.GetResponse:
        col = self.db.collection(request.collection)
        tenant = principal.scoped_tenant(_optional(request, "tenant"), "Get")
        records = col.get(cv.from_proto_ids(request.ids), tenant=tenant)
        visible = principal.visible()
        return vecdb_pb2.GetResponse(records=[cv.to_proto_record(r, visible) for r in records])

    @rpc
    def Search(self, request: vecdb_pb2.SearchRequest, context: grpc.ServicerContext,
               principal: Principal) -> vecdb_pb2.SearchResponse:
        col = self.db.collection(request.collection)
        tenant = request_tenant(request, principal)
        res = col.search(cv.from_proto_query(request.query), k=request.k or DEFAULT_K, tenant=tenant,
                         where=cv.from_proto_json(request.where_json, "where_json"),
                         **cv.from_proto_options(request.options))
        return cv.to_proto_search_result(res)

    @rpc
    def SearchBatch(self, request: vecdb_pb2.SearchBatchRequest, context: grpc.ServicerContext,
                    principal: Principal) -> vecdb_pb2.SearchBatchResponse:
        col = self.db.collection(request.collection)
        tenant = request_tenant(request, principal)
        queries = cv.from_proto_vectors(request.queries, "queries")
        k = request.k or DEFAULT_K
        reply_bytes = len(queries) * k * 12  # int64 id + float32 distance per result
        if reply_bytes > self.ctx.max_message_bytes:
            raise ResourceExhaustedError(
                f"{len(queries)} queries x k={k} make a {reply_bytes}-byte reply, over the server's message "
                f"limit of {self.ctx.max_message_bytes} bytes: send fewer queries per call"
            )
        ids, dists = col.search_batch(queries, k=k, tenant=tenant,
                                      where=cv.from_proto_json(request.where_json, "where_json"),
                                      **cv.from_proto_options(request.options))
        return cv.to_proto_search_batch(ids, dists)

    @rpc
    def ListIds(self, request: vecdb_pb2.ListIdsRequest, context: grpc.ServicerContext,
                principal: Principal) -> vecdb_pb2.ListIdsResponse:
        col = self.db.collection(request.collection)
        tenant = principal.scoped_tenant(_optional(request, "tenant"), "ListIds")
        ids = col.ids(tenant=tenant, after=_optional(request, "after"), limit=_optional(request, "limit"))
        if 8 * len(ids) > self.ctx.max_message_bytes:
            raise ResourceExhaustedError(
                f"{len(ids)} ids do not fit in one {self.ctx.max_message_bytes}-byte reply: page with limit= and after="
            )
        return vecdb_pb2.ListIdsResponse(ids=cv.to_proto_id_array(ids))

    @rpc
    def Count(self, request: vecdb_pb2.CountRequest, context: grpc.ServicerContext,
              principal: Principal) -> vecdb_pb2.CountResponse:
        col = self.db.collection(request.collection)
        tenant = principal.scoped_tenant(_optional(request, "tenant"), "Count")
        return vecdb_pb2.CountResponse(count=col.count(tenant=tenant))

    @rpc
    def Tenants(self, request: vecdb_pb2.TenantsRequest, context: grpc.ServicerContext,
                principal: Principal) -> vecdb_pb2.TenantsResponse:
        names = self.db.collection(request.collection).tenants()
        visible = principal.visible()
        return vecdb_pb2.TenantsResponse(names=names if visible is None else [n for n in names if n in visible])

    @rpc
    def Stats(self, request: vecdb_pb2.StatsRequest, context: grpc.ServicerContext,
              principal: Principal) -> vecdb_pb2.StatsResponse:
        principal.require_admin("Stats")
        stats = self.db.collection(request.collection).stats() if request.collection else self.db.stats()
        return vecdb_pb2.StatsResponse(stats_json=json.dumps(stats, default=_jsonable))


# ---- helpers ---------------------------------------------------------------------------------------


def _optional(request: Any, field: str) -> Any:
    return getattr(request, field) if request.HasField(field) else None


def request_tenant(request: Any, principal: Principal) -> str | None:
    """The request's optional tenant, checked against the key (unset means the tenant "default")."""
    tenant: str | None = _optional(request, "tenant")
    principal.check_tenants(["default" if tenant is None else tenant])
    return tenant


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


__all__ = ["ServerContext", "VecDBServicer", "rpc"]
