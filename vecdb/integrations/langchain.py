"""LangChain adapters (extra ``langchain``: ``pip install 'vecdb[langchain]'``).

- `VecDBVectorStore`: a langchain-core ``VectorStore`` over one vecdb collection, scoped to one tenant
  (every add, search, get and delete acts on that tenant only).
- `VecDBEmbeddings`: a vecdb `Embedder` (for example the dependency-free `HashingEmbedder`) as LangChain
  ``Embeddings``.
- `QAMemoryRetriever`: a LangChain retriever over a `QAMemory` (QA pairs and passages as Documents).

>>> from vecdb.integrations.langchain import VecDBEmbeddings, VecDBVectorStore
>>> store = VecDBVectorStore.from_texts(["hello"], VecDBEmbeddings(), database=db, tenant="acme")
>>> store.as_retriever(search_kwargs={"k": 1}).invoke("hi")

LangChain ids are strings, vecdb ids are integers: a decimal id such as "42" is used as the integer 42;
any other string is hashed (blake2b, 63 bits) and kept in the record so documents come back with the id
they were given. Texts without ids get random integer ids.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.vectorstores import VectorStore
    from langchain_core.vectorstores.utils import maximal_marginal_relevance
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("vecdb.integrations.langchain needs langchain-core: pip install 'vecdb[langchain]'") from e

from ..embedders import Embedder, default_embedder
from ..errors import InvalidArgumentError, TenantNotFound
from ..types import MAX_ID

__all__ = ["QAMemoryRetriever", "VecDBEmbeddings", "VecDBVectorStore"]

RESERVED = "_lc"


class VecDBEmbeddings(Embeddings):
    """A vecdb `Embedder` as LangChain ``Embeddings`` (default: `HashingEmbedder`, no model needed)."""

    def __init__(self, embedder: Embedder | None = None):
        self.embedder = embedder or default_embedder()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector (list of floats) per text."""
        return np.asarray(self.embedder.embed_documents(list(texts)), dtype=np.float32).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query."""
        return np.asarray(self.embedder.embed_query(text), dtype=np.float32).tolist()


class VecDBVectorStore(VectorStore):
    """A LangChain vector store over a vecdb `Collection`, for one tenant.

    Parameters
    ----------
    collection : the vecdb Collection (embedded, or a gRPC client's).
    embedding : LangChain Embeddings producing vectors of the collection's dim.
    tenant : the tenant every call acts for.

    ``filter=`` in the search methods is a vecdb Mongo-style metadata filter (``{"lang": {"$in": [...]}}``).
    ``similarity_search_with_score`` returns vecdb distances (smaller is better: ``1 - cos`` for cosine).
    """

    def __init__(self, collection: Any, embedding: Embeddings, tenant: str = "default"):
        self.collection = collection
        self.embedding = embedding
        self.tenant = tenant

    @property
    def embeddings(self) -> Embeddings:
        """The Embeddings used for texts and queries."""
        return self.embedding

    # ---- construction ------------------------------------------------------------------------------

    @classmethod
    def from_database(
        cls,
        database: Any,
        embedding: Embeddings,
        collection_name: str = "langchain",
        tenant: str = "default",
        metric: str = "cosine",
    ) -> VecDBVectorStore:
        """Open (creating if absent) the collection `collection_name` of `database`; a new collection gets
        the dim of `embedding` and `metric`."""
        dim = len(embedding.embed_query("dimension probe"))
        col = database.create_collection(collection_name, dim=dim, metric=metric, exist_ok=True)
        return cls(col, embedding, tenant=tenant)

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        database: Any = None,
        path: str | None = None,
        collection_name: str = "langchain",
        tenant: str = "default",
        metric: str = "cosine",
        **kwargs: Any,
    ) -> VecDBVectorStore:
        """Create a store (in `database`, or a database opened at `path`) and add `texts`."""
        if database is None:
            if path is None:
                raise InvalidArgumentError("from_texts needs database= (a vecdb Database) or path= (a directory)")
            import vecdb

            database = vecdb.open(path)
        store = cls.from_database(database, embedding, collection_name=collection_name, tenant=tenant, metric=metric)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    # ---- writes ------------------------------------------------------------------------------------

    def add_texts(
        self, texts: Iterable[str], metadatas: list[dict] | None = None, *, ids: list[str] | None = None, **kwargs: Any
    ) -> list[str]:
        """Embed and store texts (for this store's tenant). Returns their ids as strings."""
        texts = list(texts)
        if not texts:
            return []
        if metadatas is not None and len(metadatas) != len(texts):
            raise InvalidArgumentError(f"got {len(metadatas)} metadatas for {len(texts)} texts")
        if ids is not None and len(ids) != len(texts):
            raise InvalidArgumentError(f"got {len(ids)} ids for {len(texts)} texts")
        str_ids = [str(i) if i is not None else None for i in (ids or [None] * len(texts))]
        str_ids = [s if s is not None else str(secrets.randbelow(MAX_ID + 1)) for s in str_ids]
        records = []
        for i, text in enumerate(texts):
            meta = dict((metadatas or [{}] * len(texts))[i] or {})
            if RESERVED in meta:
                raise InvalidArgumentError(f"metadata key {RESERVED!r} is reserved")
            records.append({**meta, RESERVED: {"text": text, "id": str_ids[i]}})
        vectors = np.asarray(self.embedding.embed_documents(texts), dtype=np.float32)
        self.collection.upsert([_to_int_id(s) for s in str_ids], vectors, tenants=self.tenant, metadata=records)
        return str_ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete documents of this tenant by id; ids=None removes everything this tenant holds."""
        if ids is None:
            try:
                self.collection.drop_tenant(self.tenant)
            except TenantNotFound:
                pass
            return True
        if ids:
            try:
                self.collection.delete(sorted({_to_int_id(str(i)) for i in ids}), tenant=self.tenant)
            except TenantNotFound:
                pass
        return True

    # ---- reads -------------------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Documents with these ids that this tenant holds."""
        if not ids:
            return []
        try:
            recs = self.collection.get([_to_int_id(str(i)) for i in ids], tenant=self.tenant)
        except TenantNotFound:
            return []
        return [_document(r.id, r.metadata) for r in recs]

    def similarity_search(
        self,
        query: str,
        k: int = 4,
        filter: dict | None = None,  # noqa: A002
        **kwargs: Any,
    ) -> list[Document]:
        """The k documents most similar to `query`."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter=filter, **kwargs)]

    def similarity_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: dict | None = None,  # noqa: A002
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """The k most similar documents with their vecdb distance (smaller is better)."""
        return self._search(self.embedding.embed_query(query), k, filter)

    def similarity_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: dict | None = None,  # noqa: A002
        **kwargs: Any,
    ) -> list[Document]:
        """The k documents nearest to a vector."""
        return [doc for doc, _ in self._search(embedding, k, filter)]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: dict | None = None,
        **kwargs: Any,
    ) -> list[Document]:  # noqa: A002
        """k documents chosen from the fetch_k nearest for relevance and diversity (MMR)."""
        qvec = np.asarray(self.embedding.embed_query(query), dtype=np.float32)
        found = self._search(qvec, fetch_k, filter)
        if not found:
            return []
        recs = {r.id: r for r in self.collection.get([_to_int_id(d.id) for d, _ in found], tenant=self.tenant)}
        vecs = [recs[_to_int_id(d.id)].vector.tolist() for d, _ in found]
        keep = maximal_marginal_relevance(qvec, vecs, lambda_mult=lambda_mult, k=k)
        return [found[i][0] for i in keep]

    def _select_relevance_score_fn(self):
        metric = getattr(self.collection, "metric", "cosine")
        if metric == "l2":
            return lambda d: self._euclidean_relevance_score_fn(float(np.sqrt(max(d, 0.0))))
        return lambda d: 1.0 - d  # cosine: 1 - (1 - cos); ip: 1 - (1 - dot)

    def _search(self, vector: Any, k: int, where: dict | None) -> list[tuple[Document, float]]:
        try:
            res = self.collection.search(np.asarray(vector, dtype=np.float32), k=k, tenant=self.tenant, where=where)
        except TenantNotFound:
            return []
        if not len(res.ids):
            return []
        recs = {r.id: r for r in self.collection.get(res.ids, tenant=self.tenant)}
        return [
            (_document(i, recs[i].metadata), float(d))
            for i, d in zip(res.ids.tolist(), res.distances.tolist(), strict=True)
            if i in recs
        ]


class QAMemoryRetriever(BaseRetriever):
    """LangChain retriever over a vecdb `QAMemory`: QA pairs become Documents "Q: ...\\nA: ..." and
    passages their text, each with metadata {"id", "kind", "score", "source", ...}; pairs first."""

    memory: Any
    tenant: str = "default"
    k: int = 4
    where: dict | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        res = self.memory.ask(query, tenant=self.tenant, k=self.k, where=self.where)
        docs = [
            Document(
                page_content=f"Q: {h.question}\nA: {h.answer}",
                id=str(h.id),
                metadata={
                    **h.metadata,
                    "id": h.id,
                    "kind": "qa",
                    "score": h.score,
                    "source": h.source,
                    "answer": h.answer,
                },
            )
            for h in res.hits
        ]
        docs += [
            Document(
                page_content=p.text,
                id=str(p.id),
                metadata={**p.metadata, "id": p.id, "kind": "passage", "score": p.score, "source": p.source},
            )
            for p in res.passages
        ]
        return docs


def _to_int_id(s: str) -> int:
    if s.isascii() and s.isdigit() and len(s) <= 19 and int(s) <= MAX_ID:
        return int(s)
    return (
        int.from_bytes(
            hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=8, person=b"vecdb-lc-id").digest(), "little"
        )
        & MAX_ID
    )


def _document(id_: int, meta: dict) -> Document:
    lc = meta.get(RESERVED) or {}
    user = {k: v for k, v in meta.items() if k != RESERVED}
    return Document(page_content=lc.get("text", ""), metadata=user, id=lc.get("id", str(id_)))
