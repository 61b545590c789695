"""The QAMemory gRPC service: each RPC converts the request, checks the caller's key, calls
`vecdb.QAMemory` and converts the result (errors and metrics via `servicer.rpc`, as for VecDB)."""

from __future__ import annotations

import json
import threading

import grpc

from vecdb._proto.v1 import qa_memory_pb2 as pb
from vecdb._proto.v1 import qa_memory_pb2_grpc
from vecdb.errors import CollectionNotFound, InvalidArgumentError, NotFoundError
from vecdb.qa_memory import QAMemory

from . import convert as cv
from .auth import Principal
from .servicer import ServerContext, _jsonable, _optional, request_tenant, rpc


class QAMemoryServicer(qa_memory_pb2_grpc.QAMemoryServicer):
    """Implements vecdb.v1.QAMemory over the QA memories of one `Database`."""

    def __init__(self, ctx: ServerContext):
        self.ctx = ctx
        self._memories: dict[str, QAMemory] = {}
        self._lock = threading.Lock()

    def _memory(self, name: str, principal: Principal, embedder: str = "", create: bool = False) -> QAMemory:
        """The open QAMemory `name` (one object per name, shared by all calls: it serialises its writes)."""
        db = self.ctx.db
        with self._lock:
            mem = self._memories.get(name)
            try:
                current = db.collection(f"qa.{name}.pairs") if mem is not None else None
            except CollectionNotFound:
                current = None
            if mem is not None and current is mem.pairs:
                return mem
            self._memories.pop(name, None)
            try:
                db.collection(f"qa.{name}.meta")
            except CollectionNotFound:
                if not create:
                    raise NotFoundError(f"QA memory {name!r} not found: open it first (client.qa_memory)") from None
                principal.require_admin("creating a QA memory")
            emb = None
            if embedder:
                from vecdb.embedders import embedder_from_name

                emb = embedder_from_name(embedder)
                if emb is None:
                    raise InvalidArgumentError(f"unknown embedder {embedder!r}: the server can only build its "
                                               "built-in embedders by name")
            opened: QAMemory = db.qa_memory(name, emb)
            self._memories[name] = opened
            return opened

    # ---- opening and adding ----------------------------------------------------------------------

    @rpc
    def Open(self, request: pb.QAOpenRequest, context: grpc.ServicerContext,
             principal: Principal) -> pb.QAInfo:
        mem = self._memory(request.memory, principal, request.embedder, create=True)
        return pb.QAInfo(name=mem.name, embedder=mem.embedder.name, dim=int(mem.embedder.dim),
                         answer_threshold=mem.answer_threshold, answer_margin=mem.answer_margin,
                         time_unit=mem.time_unit)

    @rpc
    def Add(self, request: pb.QAAddRequest, context: grpc.ServicerContext,
            principal: Principal) -> pb.QAIdsResponse:
        mem = self._memory(request.memory, principal)
        ids = mem.add(list(request.questions), list(request.answers), tenant=request_tenant(request, principal),
                      sources=cv.from_proto_json_list(request.sources_json, "sources"),
                      metadata=cv.from_proto_metadata(request.metadata_json),
                      link_threshold=_optional(request, "link_threshold"))
        return pb.QAIdsResponse(ids=ids)

    @rpc
    def AddPassages(self, request: pb.QAAddPassagesRequest, context: grpc.ServicerContext,
                    principal: Principal) -> pb.QAIdsResponse:
        mem = self._memory(request.memory, principal)
        ids = mem.add_passages(list(request.texts), tenant=request_tenant(request, principal),
                               metadata=cv.from_proto_metadata(request.metadata_json),
                               sources=cv.from_proto_json_list(request.sources_json, "sources"))
        return pb.QAIdsResponse(ids=ids)

    # ---- asking ----------------------------------------------------------------------------------

    @rpc
    def Ask(self, request: pb.QAAskRequest, context: grpc.ServicerContext,
            principal: Principal) -> pb.QAAskResponse:
        mem = self._memory(request.memory, principal)
        res = mem.ask(request.query, tenant=request_tenant(request, principal), k=request.k or 5,
                      where=cv.from_proto_json(request.where_json, "where_json"),
                      passages=_optional(request, "passages"), threshold=_optional(request, "threshold"),
                      margin=_optional(request, "margin"), reinforce=_optional(request, "reinforce"),
                      min_score=_optional(request, "min_score"))
        return cv.to_proto_ask_result(res)

    @rpc
    def AskMultihop(self, request: pb.QAAskMultihopRequest, context: grpc.ServicerContext,
                    principal: Principal) -> pb.QAAskResponse:
        mem = self._memory(request.memory, principal)
        res = mem.ask_multihop(request.query, tenant=request_tenant(request, principal), hops=request.hops or 2,
                               k=request.k or 5, where=cv.from_proto_json(request.where_json, "where_json"),
                               min_score=_optional(request, "min_score"),
                               reinforce=_optional(request, "reinforce"), beam=request.beam or 3)
        return cv.to_proto_ask_result(res)

    @rpc
    def Context(self, request: pb.QAContextRequest, context: grpc.ServicerContext,
                principal: Principal) -> pb.QATextResponse:
        mem = self._memory(request.memory, principal)
        text = mem.context(request.query, tenant=request_tenant(request, principal), k=request.k or 5,
                           where=cv.from_proto_json(request.where_json, "where_json"),
                           max_chars=request.max_chars or 4000, multihop=request.multihop,
                           min_score=_optional(request, "min_score"))
        return pb.QATextResponse(text=text)

    # ---- reading ---------------------------------------------------------------------------------

    @rpc
    def Get(self, request: pb.QAIdsRequest, context: grpc.ServicerContext,
            principal: Principal) -> pb.QAHitsResponse:
        hits = self._memory(request.memory, principal).get(list(request.ids), request_tenant(request, principal))
        return pb.QAHitsResponse(hits=[cv.to_proto_hit(h) for h in hits])

    @rpc
    def GetPassages(self, request: pb.QAIdsRequest, context: grpc.ServicerContext,
                    principal: Principal) -> pb.QAPassagesResponse:
        mem = self._memory(request.memory, principal)
        found = mem.get_passages(list(request.ids), request_tenant(request, principal))
        return pb.QAPassagesResponse(passages=[cv.to_proto_passage(p) for p in found])

    @rpc
    def Memories(self, request: pb.QAMemoriesRequest, context: grpc.ServicerContext,
                 principal: Principal) -> pb.QAHitsResponse:
        mem = self._memory(request.memory, principal)
        where = cv.from_proto_json(request.where_json, "where_json")
        hits = mem.memories(request_tenant(request, principal), where)
        return pb.QAHitsResponse(hits=[cv.to_proto_hit(h) for h in hits])

    @rpc
    def History(self, request: pb.QAIdRequest, context: grpc.ServicerContext,
                principal: Principal) -> pb.QAJsonResponse:
        hist = self._memory(request.memory, principal).history(request.id, request_tenant(request, principal))
        return pb.QAJsonResponse(json=json.dumps(hist, default=_jsonable))

    @rpc
    def Retention(self, request: pb.QAIdRequest, context: grpc.ServicerContext,
                  principal: Principal) -> pb.QANumberResponse:
        value = self._memory(request.memory, principal).retention(request.id, request_tenant(request, principal))
        return pb.QANumberResponse(value=value)

    @rpc
    def Count(self, request: pb.QATenantRequest, context: grpc.ServicerContext,
              principal: Principal) -> pb.QACountResponse:
        tenant = principal.scoped_tenant(_optional(request, "tenant"), "QAMemory.Count")
        counts = self._memory(request.memory, principal).count(tenant)
        return pb.QACountResponse(pairs=counts["pairs"], passages=counts["passages"])

    @rpc
    def Tenants(self, request: pb.QATenantRequest, context: grpc.ServicerContext,
                principal: Principal) -> pb.QANamesResponse:
        names = self._memory(request.memory, principal).tenants()
        visible = principal.visible()
        return pb.QANamesResponse(names=names if visible is None else [n for n in names if n in visible])

    @rpc
    def Stats(self, request: pb.QATenantRequest, context: grpc.ServicerContext,
              principal: Principal) -> pb.QAJsonResponse:
        principal.require_admin("QAMemory.Stats")
        stats = self._memory(request.memory, principal).stats()
        return pb.QAJsonResponse(json=json.dumps(stats, default=_jsonable))

    # ---- memory operations -----------------------------------------------------------------------

    @rpc
    def Reinforce(self, request: pb.QAReinforceRequest, context: grpc.ServicerContext,
                  principal: Principal) -> pb.QANumberResponse:
        mem = self._memory(request.memory, principal)
        step = _optional(request, "step")
        n = mem.reinforce(list(request.ids), request_tenant(request, principal),
                          **({} if step is None else {"step": step}))
        return pb.QANumberResponse(value=n)

    @rpc
    def Forget(self, request: pb.QAForgetRequest, context: grpc.ServicerContext,
               principal: Principal) -> pb.QAIdsResponse:
        mem = self._memory(request.memory, principal)
        threshold = _optional(request, "threshold")
        gone = mem.forget(request_tenant(request, principal), dry_run=request.dry_run,
                          **({} if threshold is None else {"threshold": threshold}))
        return pb.QAIdsResponse(ids=gone)

    @rpc
    def Update(self, request: pb.QAUpdateRequest, context: grpc.ServicerContext,
               principal: Principal) -> pb.QAHit:
        mem = self._memory(request.memory, principal)
        metadata, source = (cv.from_proto_json(_optional(request, f) or "", f)
                            for f in ("metadata_json", "source_json"))
        hit = mem.update(request.id, request_tenant(request, principal), question=_optional(request, "question"),
                         answer=_optional(request, "answer"), source=source, metadata=metadata,
                         reason=_optional(request, "reason"))
        return cv.to_proto_hit(hit)

    @rpc
    def Delete(self, request: pb.QAIdsRequest, context: grpc.ServicerContext,
               principal: Principal) -> pb.QANumberResponse:
        n = self._memory(request.memory, principal).delete(list(request.ids), request_tenant(request, principal))
        return pb.QANumberResponse(value=n)

    @rpc
    def DropTenant(self, request: pb.QATenantRequest, context: grpc.ServicerContext,
                   principal: Principal) -> pb.QANumberResponse:
        tenant = request_tenant(request, principal)
        return pb.QANumberResponse(value=self._memory(request.memory, principal).drop_tenant(tenant or "default"))

    @rpc
    def Link(self, request: pb.QALinkRequest, context: grpc.ServicerContext,
             principal: Principal) -> pb.QAEmpty:
        self._memory(request.memory, principal).link(request.a, request.b, request_tenant(request, principal))
        return pb.QAEmpty()

    @rpc
    def Unlink(self, request: pb.QALinkRequest, context: grpc.ServicerContext,
               principal: Principal) -> pb.QAEmpty:
        self._memory(request.memory, principal).unlink(request.a, request.b, request_tenant(request, principal))
        return pb.QAEmpty()

    @rpc
    def Related(self, request: pb.QAIdRequest, context: grpc.ServicerContext,
                principal: Principal) -> pb.QARelatedResponse:
        rel = self._memory(request.memory, principal).related(request.id, request_tenant(request, principal))
        return pb.QARelatedResponse(pairs=[cv.to_proto_hit(h) for h in rel["pairs"]],
                                    passages=[cv.to_proto_passage(p) for p in rel["passages"]])

    @rpc
    def LinkRelated(self, request: pb.QALinkRelatedRequest, context: grpc.ServicerContext,
                    principal: Principal) -> pb.QANumberResponse:
        mem = self._memory(request.memory, principal)
        opts = {key: _optional(request, key) for key in ("threshold", "k") if request.HasField(key)}
        return pb.QANumberResponse(value=mem.link_related(request_tenant(request, principal), **opts))

    @rpc
    def Merge(self, request: pb.QAMergeRequest, context: grpc.ServicerContext,
              principal: Principal) -> pb.QAMergeResponse:
        mem = self._memory(request.memory, principal)
        out = mem.merge(list(request.ids), request_tenant(request, principal), into=_optional(request, "into"))
        return pb.QAMergeResponse(kept=out["kept"], merged=out["merged"])

    @rpc
    def MergeDuplicates(self, request: pb.QAMergeDuplicatesRequest, context: grpc.ServicerContext,
                        principal: Principal) -> pb.QAMergeDuplicatesResponse:
        mem = self._memory(request.memory, principal)
        opts = {key: _optional(request, key) for key in ("threshold", "answer_threshold") if request.HasField(key)}
        groups = mem.merge_duplicates(request_tenant(request, principal), **opts)
        return pb.QAMergeDuplicatesResponse(groups=[pb.QAMergeResponse(kept=g["kept"], merged=g["merged"])
                                                    for g in groups])
