"""QA memory: per-tenant question/answer pairs and passages for LLM augmentation, with memory operations.

A memory called NAME is three ordinary collections of the database (so it is stored, persisted, searched
and tenant-isolated exactly like any other data):

- ``qa.NAME.pairs``: one vector per QA pair, the embedding of its *question* (cosine metric), visible to
  the one tenant that added it; question, answer, source and memory state live in the vector metadata.
- ``qa.NAME.passages``: one vector per passage, the embedding of its text.
- ``qa.NAME.meta``: a single 1-d record (tenant ``_qa``) saying which embedder (name and dim) built the
  memory, so a mismatched embedder is refused instead of silently returning nonsense.

Stored metadata is the user's own metadata object plus one reserved key, ``_qa``, holding the memory's
fields. `where` filters (``$eq $ne $in $nin $gt $gte $lt $lte $exists $and $or $not``, see
`vecdb.filters`) therefore apply to the user's metadata exactly as in `Collection.search`.

Ids are content hashes: blake2b over (memory, kind, tenant, question, answer) or (..., passage text),
truncated to 63 bits. The same content added twice gets the same id (the second add reinforces the first
instead of duplicating it), the same data loaded into two databases gets the same ids, and no counter has
to be shared between processes. Before an id is used it is checked against the collection; in the
(~n^2 / 2^64) case that it is taken by different content, a salt is bumped and the hash recomputed, so ids
are unique and still deterministic. An update keeps a memory's id although its content changes.

Memory dynamics follow MemoryBank: retention ``R = exp(-t / (S * time_unit))`` where ``t`` is the time
since the memory was last recalled (or added), ``S`` its strength (1 when added, +1 on every recall) and
``time_unit`` one day by default. `forget` deletes QA pairs whose retention fell below a threshold.
Passages are reference documents and do not decay. Time comes from the ``clock`` callable (default
``time.time``), so tests and replays are deterministic.

Concurrency: writes to one memory are serialised by a lock shared by every QAMemory handle on the same
Database object; read-modify-write operations (reinforce, update, merge, link) from two *processes* on
the same memory are last-writer-wins.

>>> mem = QAMemory.open(db, "support")
>>> mem.add(questions=["How do I reset my password?"], answers=["Settings > Security > Reset."], tenant="acme")
>>> mem.ask("how can I reset my password", tenant="acme").answer
'Settings > Security > Reset.'
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import validate as v
from .embedders import Embedder, check_embedder, default_embedder, embedder_from_name
from .errors import (
    CollectionNotFound,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    TenantNotFound,
)
from .filters import compile_filter
from .types import MAX_ID

__all__ = ["AskResult", "Hit", "Passage", "QAMemory"]

FORMAT = 1
META_TENANT = "_qa"
RESERVED = "_qa"
N_BUCKETS = 4096  # `_qa.b` = id % N_BUCKETS, used to page through a tenant bigger than max_k
DAY = 86_400.0
_MAX_NAME = 128 - len("qa.") - len(".passages")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


# ---- results ---------------------------------------------------------------------------------------------


@dataclass
class Hit:
    """One stored QA pair. ``score`` is the cosine similarity of its question to the query (None outside a
    search); ``retention`` is exp(-t / (strength * time_unit)) at the time of the call."""

    id: int
    question: str
    answer: str
    score: float | None
    source: str | None = None
    offset: int | None = None
    passage_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    strength: float = 1.0
    created_at: float = 0.0
    recalled_at: float = 0.0
    retention: float = 1.0
    links: list[int] = field(default_factory=list)
    merged_from: list[int] = field(default_factory=list)
    versions: int = 1

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


@dataclass
class Passage:
    """One stored passage. ``score`` is the cosine similarity to the query (None outside a search)."""

    id: int
    text: str
    score: float | None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    links: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


@dataclass
class AskResult:
    """What `QAMemory.ask` found. ``answer`` is set only for a confident match (see ``confidence``, the
    best score, and ``margin``, its lead over the best pair with a different answer); ``chain`` lists
    the hops of `QAMemory.ask_multihop`."""

    query: str
    answer: str | None
    answer_id: int | None
    hits: list[Hit]
    passages: list[Passage]
    confidence: float = 0.0
    margin: float = 0.0
    chain: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)

    def to_context(self, max_chars: int = 4000) -> str:
        """Prompt-ready text: the question, then [n]-labelled QA pairs and passages with their sources.
        Entries that do not fit in `max_chars` are left out (passages are cut before QA pairs)."""
        head = [
            "Answer the question using the memory below. Cite the entries you use by their [n] label; "
            "if the memory does not contain the answer, say so.",
            f"Question: {self.query}",
        ]
        if self.answer is not None:
            head.append(f"Direct answer from memory (similarity {self.confidence:.2f}): {self.answer}")
        qa_lines, p_lines = [], []
        n = 0
        for h in self.hits:
            n += 1
            src = (
                f" (source: {h.source}" + (f", offset {h.offset}" if h.offset is not None else "") + ")"
                if h.source
                else ""
            )
            qa_lines.append(f"[{n}] Q: {h.question}\n    A: {h.answer}{src}")
        for p in self.passages:
            n += 1
            src = f" (source: {p.source})" if p.source else ""
            p_lines.append(f"[{n}] {' '.join(p.text.split())}{src}")
        out = "\n".join(head)
        for title, lines in (("Question-answer memory:", qa_lines), ("Passages:", p_lines)):
            if not lines:
                continue
            block = f"\n\n{title}"
            for line in lines:
                if len(out) + len(block) + len(line) + 1 > max_chars:
                    break
                block += "\n" + line
            if block != f"\n\n{title}":
                out += block
        if not qa_lines and not p_lines:
            out += "\n\n(no relevant memory found)"
        return out[:max_chars]


class QAMemory:
    """Per-tenant QA pairs and passages with direct answers, prompt contexts and memory operations.

    Get one with ``db.qa_memory(name, embedder=None)`` or `QAMemory.open`.

    Attributes
    ----------
    answer_threshold : float
        ``ask`` answers directly only when the best stored question has cosine similarity >= this...
    answer_margin : float
        ...and beats the best hit with a *different* answer by at least this much (paraphrases of one
        answer do not compete with each other). Both default to the embedder's
        ``default_answer_threshold`` / ``default_answer_margin`` (0.8 / 0.05 if it has none); set them on
        the object or pass ``threshold=`` / ``margin=`` to one call.
    reinforce_on_recall : bool
        ``ask`` reinforces the QA pairs it recalls (score >= answer_threshold). Default True.
    time_unit : float
        Seconds per unit of strength in the retention rule (default one day).
    """

    def __init__(
        self,
        db: Any,
        name: str,
        embedder: Embedder,
        *,
        clock: Callable[[], float] | None = None,
        answer_threshold: float | None = None,
        answer_margin: float | None = None,
        time_unit: float = DAY,
    ):
        self.db, self.name, self.embedder = db, name, embedder
        self.clock = clock or time.time
        self.answer_threshold = _check_number(
            answer_threshold if answer_threshold is not None else getattr(embedder, "default_answer_threshold", 0.8),
            "answer_threshold",
        )
        self.answer_margin = _check_number(
            answer_margin if answer_margin is not None else getattr(embedder, "default_answer_margin", 0.05),
            "answer_margin",
        )
        #: ask_multihop extends a chain only with pairs scoring at least this.
        self.hop_threshold = float(getattr(embedder, "default_hop_threshold", 0.3))
        self.reinforce_on_recall = True
        self.time_unit = v.check_positive_float(time_unit, "time_unit")
        self.pairs = db.collection(f"qa.{name}.pairs")
        self.passages = db.collection(f"qa.{name}.passages")
        self._lock = _memory_lock(db, name)
        settings = getattr(db, "settings", None)
        self._max_k = getattr(settings, "max_k", 10_000)

    def __repr__(self) -> str:
        return f"QAMemory({self.name!r}, embedder={self.embedder.name!r})"

    # ---- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, db: Any, name: str, embedder: Embedder | None = None, **options: Any) -> QAMemory:
        """Open the memory `name` of database `db`, creating it (with `embedder`, default
        `HashingEmbedder()`) if absent. With embedder=None an existing memory rebuilds the built-in
        embedder it recorded. Options: clock, answer_threshold, answer_margin, time_unit.

        Raises
        ------
        InvalidArgumentError
            Bad name or embedder.
        FailedPreconditionError
            The memory was built with a different embedder (both are named), or with a custom one that
            cannot be rebuilt by name and none was passed.
        """
        _check_memory_name(name)
        unknown = set(options) - {"clock", "answer_threshold", "answer_margin", "time_unit"}
        if unknown:
            raise InvalidArgumentError(
                f"unknown QAMemory option(s) {sorted(unknown)}: expected clock, answer_threshold, "
                "answer_margin, time_unit"
            )
        clock = options.get("clock")
        if clock is not None and not callable(clock):
            raise InvalidArgumentError(f"clock must be a callable returning seconds, got {clock!r}")
        if embedder is not None:
            embedder = check_embedder(embedder)
        with _memory_lock(db, name):  # two threads creating one memory must agree on its embedder
            embedder = cls._open_or_create(db, name, embedder)
        return cls(db, name, embedder, **options)

    @staticmethod
    def _open_or_create(db: Any, name: str, embedder: Embedder | None) -> Embedder:
        meta_name = f"qa.{name}.meta"
        try:
            meta_col = db.collection(meta_name)
        except CollectionNotFound:
            meta_col = None
        recorded = None
        if meta_col is not None:
            recs = meta_col.get([0])
            recorded = recs[0].metadata if recs else None
        if recorded is None:
            embedder = embedder or default_embedder()
            dim = int(embedder.dim)
            for kind in ("pairs", "passages"):
                db.create_collection(f"qa.{name}.{kind}", dim=dim, metric="cosine", exist_ok=True)
            meta_col = db.create_collection(meta_name, dim=1, metric="l2", exist_ok=True)
            meta_col.upsert(
                [0],
                [[0.0]],
                tenants=META_TENANT,
                metadata=[{"format": FORMAT, "embedder": embedder.name, "dim": dim, "created": time.time()}],
            )
        else:
            rec_name, rec_dim = recorded.get("embedder"), recorded.get("dim")
            if embedder is None:
                embedder = embedder_from_name(str(rec_name))
                if embedder is None:
                    raise FailedPreconditionError(
                        f"QA memory {name!r} was built with embedder {rec_name!r} (dim {rec_dim}), which cannot "
                        "be rebuilt here: pass that embedder as embedder="
                    )
            elif (embedder.name, int(embedder.dim)) != (rec_name, rec_dim):
                raise FailedPreconditionError(
                    f"QA memory {name!r} was built with embedder {rec_name!r} (dim {rec_dim}), not "
                    f"{embedder.name!r} (dim {embedder.dim}): open it with the same embedder or use another name"
                )
        return embedder

    # ---- adding ----------------------------------------------------------------------------------

    def add(
        self,
        questions: Sequence[str],
        answers: Sequence[str],
        tenant: str | None = None,
        sources: Sequence[Any] | None = None,
        metadata: Sequence[dict | None] | None = None,
        link_threshold: float | None = None,
    ) -> list[int]:
        """Store QA pairs for `tenant`, keyed by the embedding of each question. Returns their ids.

        sources: None, or one entry per pair: None, a string (document name, URL...), or a dict with
        any of "source" (str), "passage_id" (int, a stored passage), "offset" (int, where the answer
        starts in that passage). metadata: None or one JSON object (or None) per pair; the key "_qa" is
        reserved. An identical (tenant, question, answer) already stored is not duplicated: it is
        reinforced and its id returned. With `link_threshold`, each new pair is linked to the tenant's
        existing pairs at least that similar (A-MEM-style linking).

        Raises
        ------
        InvalidArgumentError

        Examples
        --------
        >>> mem.add(["Where is the office?"], ["Berlin"], tenant="acme", sources=["handbook.md"])
        """
        tenant = v.check_tenant(tenant)
        qs = _check_texts(questions, "questions")
        ans = _check_texts(answers, "answers", len(qs))
        srcs = [_check_source(s, i) for i, s in enumerate(_per_item(sources, len(qs), "sources"))]
        metas = _check_user_meta(metadata, len(qs))
        if link_threshold is not None:
            link_threshold = _check_similarity(link_threshold, "link_threshold")
        with self._lock:
            now = self._now()
            ids, existing = self._allocate(self.pairs, "pair", tenant, [(q, a) for q, a in zip(qs, ans, strict=True)])
            new, seen = [], set()
            for i, id_ in enumerate(ids):
                if existing[i] is None and id_ not in seen:
                    new.append(i)
                seen.add(id_)
            if new:
                vecs = self._embed([qs[i] for i in new])
                records = []
                for i in new:
                    qa = {
                        "kind": "pair",
                        "t": tenant,
                        "q": qs[i],
                        "a": ans[i],
                        "c": now,
                        "r": now,
                        "s": 1.0,
                        "b": ids[i] % N_BUCKETS,
                        **srcs[i],
                    }
                    records.append({**(metas[i] or {}), RESERVED: qa})
                self.pairs.upsert([ids[i] for i in new], vecs, tenants=tenant, metadata=records)
            again = sorted({ids[i] for i in range(len(ids)) if existing[i] is not None})
            if again:
                self.reinforce(again, tenant=tenant)
            if link_threshold is not None and new:
                self._auto_link([ids[i] for i in new], tenant, float(link_threshold), k=5)
        return ids

    def add_passages(
        self,
        texts: Sequence[str],
        tenant: str | None = None,
        metadata: Sequence[dict | None] | None = None,
        sources: Sequence[str | None] | None = None,
    ) -> list[int]:
        """Store passages (reference text for prompts) for `tenant`. Returns their ids; an identical
        passage already stored for the tenant keeps its id. Passages do not decay.

        Raises
        ------
        InvalidArgumentError
        """
        tenant = v.check_tenant(tenant)
        texts = _check_texts(texts, "texts")
        srcs = _per_item(sources, len(texts), "sources")
        for i, s in enumerate(srcs):
            if s is not None and not isinstance(s, str):
                raise InvalidArgumentError(f"source at position {i} must be a string or None, got {s!r}")
        metas = _check_user_meta(metadata, len(texts))
        with self._lock:
            now = self._now()
            ids, existing = self._allocate(self.passages, "passage", tenant, [(t,) for t in texts])
            new, seen = [], set()
            for i, id_ in enumerate(ids):
                if existing[i] is None and id_ not in seen:
                    new.append(i)
                seen.add(id_)
            if new:
                vecs = self._embed([texts[i] for i in new])
                records = [
                    {
                        **(metas[i] or {}),
                        RESERVED: {
                            "kind": "passage",
                            "t": tenant,
                            "text": texts[i],
                            "src": srcs[i],
                            "c": now,
                            "b": ids[i] % N_BUCKETS,
                        },
                    }
                    for i in new
                ]
                self.passages.upsert([ids[i] for i in new], vecs, tenants=tenant, metadata=records)
        return ids

    # ---- asking ----------------------------------------------------------------------------------

    def ask(
        self,
        query: str,
        tenant: str | None = None,
        k: int = 5,
        where: dict | None = None,
        passages: int | None = None,
        threshold: float | None = None,
        margin: float | None = None,
        reinforce: bool | None = None,
        min_score: float | None = None,
    ) -> AskResult:
        """The `k` best QA pairs and `passages` (default k) best passages of `tenant` for `query`.

        ``answer`` is the best pair's answer when its score (cosine similarity of the questions) is
        >= threshold (default ``answer_threshold``) and exceeds the best pair with a different answer by
        >= margin (default ``answer_margin``); otherwise None. `where` filters on the metadata given at
        add time. Hits and passages scoring below `min_score` (default: none) are left out. Recalled
        pairs (score >= threshold) are reinforced unless reinforce=False. A tenant
        with no memories gets an empty result, never another tenant's data.

        Raises
        ------
        InvalidArgumentError
            Empty query, bad k or a malformed filter.

        Examples
        --------
        >>> res = mem.ask("where is the office?", tenant="acme")
        >>> res.answer, [h.score for h in res.hits]
        """
        query = _check_query(query)
        tenant = v.check_tenant(tenant)
        k = v.check_k(k, self._max_k)
        n_pass = k if passages is None else (0 if passages == 0 else v.check_k(passages, self._max_k))
        if where is not None:
            compile_filter(where)  # a malformed filter fails even for a tenant with nothing stored
        thr = self.answer_threshold if threshold is None else _check_number(threshold, "threshold")
        mar = self.answer_margin if margin is None else _check_number(margin, "margin")
        if min_score is not None:
            min_score = _check_number(min_score, "min_score")
        qvec = self._embed([query])[0]
        # Look a little past k so the runner-up with a different answer is seen even when k == 1.
        hits = self._search_pairs(qvec, tenant, max(k, 4), where)
        found = self._search_passages(qvec, tenant, n_pass, where) if n_pass else []
        if min_score is not None:
            found = [p for p in found if p.score >= min_score]
        shown = hits[:k] if min_score is None else [h for h in hits[:k] if h.score >= min_score]
        res = AskResult(query=query, answer=None, answer_id=None, hits=shown, passages=found)
        if hits:
            best = hits[0]
            rival = next((h.score for h in hits[1:] if _norm(h.answer) != _norm(best.answer)), 0.0)
            res.confidence, res.margin = best.score, best.score - max(rival, 0.0)
            if best.score >= thr and res.margin >= mar:
                res.answer, res.answer_id = best.answer, best.id
        if self.reinforce_on_recall if reinforce is None else reinforce:
            recalled = [h.id for h in res.hits if h.score >= thr]
            if recalled:
                self.reinforce(recalled, tenant=tenant)
        return res

    def ask_multihop(
        self,
        query: str,
        tenant: str | None = None,
        hops: int = 2,
        k: int = 5,
        where: dict | None = None,
        min_score: float | None = None,
        reinforce: bool | None = None,
        beam: int = 4,
    ) -> AskResult:
        """Multi-hop retrieval: ask, append a found pair's answer to the query, ask again (``hops`` times).

        A small beam search: each hop extends the `beam` best chains with their best pairs not used
        earlier in the chain that score >= `min_score` (default ``hop_threshold``). From the second hop
        on, pairs whose question mentions the previous answer (the bridge entity: "Who founded X?" ->
        "Jane Doe" -> "Where was Jane Doe born?") are preferred. The chain kept is the longest, then the
        one with most bridged hops, then the highest total score. ``chain`` lists its hops; ``answer`` is
        its last answer when it has two or more links, else the first ask's direct answer. ``hits`` are
        the top-k pairs of every ask (chain first), ``passages`` those of the chain's last ask. Costs
        1 + beam * (hops - 1) asks (hops after the first look at max(k, 20) pairs).

        Raises
        ------
        InvalidArgumentError
        """
        query = _check_query(query)
        if isinstance(hops, bool) or not isinstance(hops, int) or not 1 <= hops <= 10:
            raise InvalidArgumentError(f"hops must be an integer from 1 to 10, got {hops!r}")
        if isinstance(beam, bool) or not isinstance(beam, int) or not 1 <= beam <= 10:
            raise InvalidArgumentError(f"beam must be an integer from 1 to 10, got {beam!r}")
        floor = self.hop_threshold if min_score is None else _check_number(min_score, "min_score")
        seen: dict[int, Hit] = {}
        first = self.ask(query, tenant=tenant, k=k, where=where, reinforce=False)
        # A chain: (query so far, links, bridged hops, total score, the last ask's result).
        chains: list[tuple[str, list[dict], int, float, AskResult]] = [(query, [], 0, 0.0, first)]
        for hop in range(hops):
            grown = []
            for cur, links, bridged, total, res in chains:
                if hop > 0:  # look deeper: the bridged pair competes with the first hop's entity words
                    res = self.ask(cur, tenant=tenant, k=max(k, 20), where=where, reinforce=False)
                for h in res.hits[:k]:
                    if h.id not in seen or (seen[h.id].score or 0.0) < (h.score or 0.0):
                        seen[h.id] = h
                used = {c["id"] for c in links}
                cands = [h for h in res.hits if h.id not in used and h.score >= floor]
                via = [h for h in cands if links and _mentions(h.question, links[-1]["answer"])]
                for h in (via or cands)[:beam]:
                    seen.setdefault(h.id, h)
                    link = {
                        "hop": hop,
                        "query": cur,
                        "id": h.id,
                        "question": h.question,
                        "answer": h.answer,
                        "score": h.score,
                    }
                    grown.append((f"{cur} {h.answer}", links + [link], bridged + bool(via), total + h.score, res))
            if not grown:
                break
            chains = sorted(grown, key=lambda c: (-len(c[1]), -c[2], -c[3]))[:beam]
        best = max(chains, key=lambda c: (len(c[1]), c[2], c[3]))
        chain = best[1]
        final = best[4]  # the last ask of the chain
        ids = [c["id"] for c in chain]
        order = ids + sorted((i for i in seen if i not in ids), key=lambda i: -(seen[i].score or 0.0))
        res = AskResult(
            query=query,
            answer=first.answer,
            answer_id=first.answer_id,
            hits=[seen[i] for i in order],
            passages=final.passages,
            chain=chain,
            confidence=first.confidence,
            margin=first.margin,
        )
        if len(chain) >= 2:
            res.answer, res.answer_id = chain[-1]["answer"], chain[-1]["id"]
        if chain and (self.reinforce_on_recall if reinforce is None else reinforce):
            self.reinforce(ids, tenant=tenant)
        return res

    def context(
        self,
        query: str,
        tenant: str | None = None,
        k: int = 5,
        where: dict | None = None,
        max_chars: int = 4000,
        multihop: bool = False,
        min_score: float | None = None,
    ) -> str:
        """Prompt-ready text for an LLM: the question, the best QA pairs and passages, each labelled [n]
        with its source, and an instruction to cite the labels. At most `max_chars` characters (passages
        are cut first). Entries scoring below `min_score` are left out.

        Examples
        --------
        >>> prompt = mem.context("how do I reset my password?", tenant="acme")
        """
        if multihop:
            res = self.ask_multihop(query, tenant=tenant, k=k, where=where)
            if min_score is not None:
                res.hits = [h for h in res.hits if h.score >= min_score]
                res.passages = [p for p in res.passages if p.score >= min_score]
        else:
            res = self.ask(query, tenant=tenant, k=k, where=where, min_score=min_score)
        return res.to_context(max_chars=max_chars)

    # ---- reading ---------------------------------------------------------------------------------

    def get(self, ids: Sequence[int], tenant: str | None = None) -> list[Hit]:
        """The QA pairs with these ids that `tenant` holds (others are skipped), in the order asked;
        ``score`` is None."""
        tenant = v.check_tenant(tenant)
        return [self._to_hit(r.id, r.metadata, None) for r in self._get(self.pairs, ids, tenant)]

    def get_passages(self, ids: Sequence[int], tenant: str | None = None) -> list[Passage]:
        """The passages with these ids that `tenant` holds, in the order asked; ``score`` is None."""
        tenant = v.check_tenant(tenant)
        return [_to_passage(r.id, r.metadata, None) for r in self._get(self.passages, ids, tenant)]

    def memories(self, tenant: str | None = None, where: dict | None = None) -> list[Hit]:
        """All QA pairs of `tenant` (optionally filtered), oldest first."""
        tenant = v.check_tenant(tenant)
        hits = [self._to_hit(r.id, r.metadata, None) for r in self._scan(self.pairs, tenant, where)]
        return sorted(hits, key=lambda h: (h.created_at, h.id))

    def history(self, id: int, tenant: str | None = None) -> list[dict]:  # noqa: A002 - the natural name
        """Earlier versions of a QA pair, oldest first: dicts with question, answer, source, offset,
        passage_id, metadata, replaced_at and reason. Raises NotFoundError if the tenant has no such pair."""
        rec = self._one(self.pairs, id, v.check_tenant(tenant))
        return list(rec.metadata[RESERVED].get("hist", []))

    def retention(self, id: int, tenant: str | None = None) -> float:  # noqa: A002
        """MemoryBank retention exp(-t / (S * time_unit)) of a QA pair now."""
        rec = self._one(self.pairs, id, v.check_tenant(tenant))
        return _retention(rec.metadata[RESERVED], self._now(), self.time_unit)

    def count(self, tenant: str | None = None) -> dict[str, int]:
        """{"pairs": n, "passages": m}, for one tenant or (tenant=None) the whole memory."""
        out = {}
        for key, col in (("pairs", self.pairs), ("passages", self.passages)):
            try:
                out[key] = col.count(tenant=None if tenant is None else v.check_tenant(tenant))
            except TenantNotFound:
                out[key] = 0
        return out

    def tenants(self) -> list[str]:
        """Tenants with at least one QA pair or passage, sorted."""
        return sorted(set(self.pairs.tenants()) | set(self.passages.tenants()))

    def stats(self) -> dict[str, Any]:
        """Name, embedder, thresholds and sizes of the memory."""
        return {
            "name": self.name,
            "embedder": self.embedder.name,
            "dim": int(self.embedder.dim),
            "answer_threshold": self.answer_threshold,
            "answer_margin": self.answer_margin,
            "time_unit": self.time_unit,
            **self.count(),
            "tenants": len(self.tenants()),
        }

    # ---- memory operations -----------------------------------------------------------------------

    def reinforce(self, ids: Sequence[int], tenant: str | None = None, step: float = 1.0) -> int:
        """Recall QA pairs: strength += step and last-recalled = now (MemoryBank). Returns how many."""
        tenant = v.check_tenant(tenant)
        step = v.check_positive_float(step, "step")
        now = self._now()

        def bump(qa: dict) -> None:
            qa["s"] = float(qa.get("s", 1.0)) + step
            qa["r"] = now

        return self._rewrite(self.pairs, ids, tenant, bump)

    def forget(self, tenant: str | None = None, threshold: float = 0.1, dry_run: bool = False) -> list[int]:
        """Delete the tenant's QA pairs whose retention exp(-t / (S * time_unit)) is below `threshold`
        (t: time since last recall). Returns their ids, sorted; with dry_run=True deletes nothing."""
        tenant = v.check_tenant(tenant)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise InvalidArgumentError(f"threshold must be a number in [0, 1], got {threshold!r}")
        now = self._now()
        with self._lock:
            gone = sorted(
                r.id
                for r in self._scan(self.pairs, tenant)
                if _retention(r.metadata[RESERVED], now, self.time_unit) < threshold
            )
            if gone and not dry_run:
                self.delete(gone, tenant=tenant)
        return gone

    def update(
        self,
        id: int,
        tenant: str | None = None,
        question: str | None = None,  # noqa: A002
        answer: str | None = None,
        source: Any = None,
        metadata: dict | None = None,
        reason: str | None = None,
    ) -> Hit:
        """Change a QA pair in place, keeping its id, strength and links; the previous version is
        appended to its history (see `history`). A new question is re-embedded. `metadata` replaces the
        user metadata. Returns the updated pair.

        Raises
        ------
        NotFoundError, InvalidArgumentError
        """
        tenant = v.check_tenant(tenant)
        if question is not None:
            question = _check_texts([question], "question")[0]
        if answer is not None:
            answer = _check_texts([answer], "answer")[0]
        src = None if source is None else _check_source(source, 0)
        if metadata is not None:
            metadata = _check_user_meta([metadata], 1)[0] or {}
        if reason is not None and not isinstance(reason, str):
            raise InvalidArgumentError(f"reason must be a string, got {reason!r}")
        with self._lock:
            rec = self._one(self.pairs, id, tenant)
            meta = json.loads(json.dumps(rec.metadata))
            qa, user = meta.pop(RESERVED), meta
            qa.setdefault("hist", []).append(
                {
                    "question": qa["q"],
                    "answer": qa["a"],
                    "source": qa.get("src"),
                    "offset": qa.get("off"),
                    "passage_id": qa.get("pid"),
                    "metadata": user,
                    "replaced_at": self._now(),
                    "reason": reason,
                }
            )
            if question is not None:
                qa["q"] = question
            if answer is not None:
                qa["a"] = answer
            if src is not None:
                for key in ("src", "off", "pid"):
                    qa.pop(key, None)
                qa.update(src)
            new_user = user if metadata is None else metadata
            vec = self._embed([qa["q"]]) if question is not None else rec.vector[None, :]
            self.pairs.upsert([rec.id], vec, tenants=[rec.tenants], metadata=[{**new_user, RESERVED: qa}])
        return self.get([rec.id], tenant=tenant)[0]

    def delete(self, ids: Sequence[int], tenant: str | None = None) -> int:
        """Delete QA pairs and/or passages of `tenant` by id (other tenants' ids are skipped) and remove
        links to them. Returns how many were deleted."""
        tenant = v.check_tenant(tenant)
        ids = _check_ids(ids)
        n = 0
        with self._lock:
            for col in (self.pairs, self.passages):
                recs = self._get(col, ids, tenant)
                if not recs:
                    continue
                gone = {r.id for r in recs}
                n += col.delete(sorted(gone), tenant=tenant)
                partners = {p for r in recs for p in r.metadata[RESERVED].get("links", [])} - gone
                self._drop_links(sorted(partners), gone, tenant)
        return n

    def drop_tenant(self, tenant: str) -> int:
        """Delete everything `tenant` stored in this memory. Returns how many records went."""
        tenant = v.check_tenant(tenant)
        n = 0
        for col in (self.pairs, self.passages):
            try:
                n += col.drop_tenant(tenant)
            except TenantNotFound:
                pass
        return n

    def link(self, a: int, b: int, tenant: str | None = None) -> None:
        """Link two memories (QA pairs or passages) of `tenant` both ways (Zettelkasten-style, A-MEM).

        Raises NotFoundError if the tenant does not hold both."""
        tenant = v.check_tenant(tenant)
        a, b = (int(x) for x in _check_ids([a, b]))
        with self._lock:
            where = self._locate([a, b], tenant)
            for x in (a, b):
                if x not in where:
                    raise NotFoundError(f"no QA pair or passage {x} for tenant {tenant!r} in memory {self.name!r}")
            for x, y in ((a, b), (b, a)):
                self._rewrite(where[x], [x], tenant, lambda qa, y=y: _add_link(qa, y))

    def unlink(self, a: int, b: int, tenant: str | None = None) -> None:
        """Remove the link between two memories of `tenant` (no error if there was none)."""
        tenant = v.check_tenant(tenant)
        a, b = (int(x) for x in _check_ids([a, b]))
        with self._lock:
            self._drop_links([a], {b}, tenant)
            self._drop_links([b], {a}, tenant)

    def related(self, id: int, tenant: str | None = None) -> dict[str, list]:  # noqa: A002
        """The memories linked to `id`: {"pairs": [Hit], "passages": [Passage]}."""
        tenant = v.check_tenant(tenant)
        id = int(_check_ids([id])[0])  # noqa: A001
        where = self._locate([id], tenant)
        if id not in where:
            raise NotFoundError(f"no QA pair or passage {id} for tenant {tenant!r} in memory {self.name!r}")
        rec = self._one(where[id], id, tenant)
        links = rec.metadata[RESERVED].get("links", [])
        return {
            "pairs": self.get(links, tenant) if links else [],
            "passages": self.get_passages(links, tenant) if links else [],
        }

    def link_related(self, tenant: str | None = None, threshold: float = 0.6, k: int = 5) -> int:
        """Link every QA pair of `tenant` to its up-to-`k` most similar pairs scoring >= threshold
        (questions compared). Returns how many new links were made."""
        tenant = v.check_tenant(tenant)
        threshold = _check_similarity(threshold, "threshold")
        k = v.check_k(k, self._max_k - 1)
        with self._lock:
            ids = [r.id for r in self._scan(self.pairs, tenant)]
            return self._auto_link(ids, tenant, threshold, k)

    def merge(self, ids: Sequence[int], tenant: str | None = None, into: int | None = None) -> dict[str, Any]:
        """Merge QA pairs of `tenant` into one, keeping provenance. The survivor is `into`, else the
        strongest (then oldest, then lowest id). It gets the summed strength, the earliest creation and
        latest recall time, the union of links, metadata keys it lacked, a source if it had none, and a
        ``merged_from`` entry per absorbed pair (id, question, answer, source, created_at, metadata);
        the others are deleted and links to them redirected. Returns {"kept": id, "merged": [ids]}.

        Raises
        ------
        NotFoundError, InvalidArgumentError
        """
        tenant = v.check_tenant(tenant)
        want = [int(x) for x in _check_ids(ids)]
        with self._lock:
            recs = {r.id: r for r in self._get(self.pairs, want, tenant)}
            missing = [i for i in want if i not in recs]
            if missing:
                raise NotFoundError(f"no QA pair {missing[0]} for tenant {tenant!r} in memory {self.name!r}")
            if into is not None:
                into = int(_check_ids([into])[0])
            if into is not None and into not in recs:
                raise InvalidArgumentError(f"into={into} is not one of the ids being merged")
            qa = {i: r.metadata[RESERVED] for i, r in recs.items()}
            keep = into if into is not None else min(qa, key=lambda i: (-qa[i]["s"], qa[i]["c"], i))
            others = [i for i in want if i != keep]
            if not others:
                return {"kept": keep, "merged": []}
            kept_meta = json.loads(json.dumps(recs[keep].metadata))
            kq = kept_meta[RESERVED]
            for i in others:
                q, user = qa[i], {x: y for x, y in recs[i].metadata.items() if x != RESERVED}
                kq["s"] = float(kq["s"]) + float(q["s"])
                kq["c"], kq["r"] = min(kq["c"], q["c"]), max(kq["r"], q["r"])
                if kq.get("src") is None and q.get("src") is not None:
                    kq.update({x: q[x] for x in ("src", "off", "pid") if x in q})
                for key, val in user.items():
                    kept_meta.setdefault(key, val)
                kq.setdefault("merged", []).append(
                    {
                        "id": i,
                        "question": q["q"],
                        "answer": q["a"],
                        "source": q.get("src"),
                        "offset": q.get("off"),
                        "created_at": q["c"],
                        "metadata": user,
                        "merged_from": q.get("merged", []),
                    }
                )
                for p in q.get("links", []):
                    _add_link(kq, p)
            kq["links"] = [p for p in kq.get("links", []) if p not in others and p != keep]
            rec = recs[keep]
            self.pairs.upsert([keep], rec.vector[None, :], tenants=[rec.tenants], metadata=[kept_meta])
            partners = {p for i in others for p in qa[i].get("links", [])} - set(others) - {keep}
            self.pairs.delete(others, tenant=tenant)
            self._drop_links(sorted(partners), set(others), tenant)
            for p in sorted(partners):
                where = self._locate([p], tenant)
                if p in where:
                    self._rewrite(where[p], [p], tenant, lambda q, keep=keep: _add_link(q, keep))
        return {"kept": keep, "merged": others}

    def merge_duplicates(
        self, tenant: str | None = None, threshold: float = 0.95, answer_threshold: float = 0.9
    ) -> list[dict[str, Any]]:
        """Find and merge duplicate QA pairs of `tenant`: questions with cosine similarity >= threshold
        whose answers are equal after case/punctuation folding or embed with similarity >=
        answer_threshold. Pairs with conflicting answers are left alone (see `update`). Returns the
        `merge` result of each group."""
        tenant = v.check_tenant(tenant)
        threshold = _check_similarity(threshold, "threshold")
        answer_threshold = _check_similarity(answer_threshold, "answer_threshold")
        with self._lock:
            recs = self._scan(self.pairs, tenant)
            if len(recs) < 2:
                return []
            mat = np.stack([r.vector for r in recs]).astype(np.float32)
            mat /= np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
            parent = list(range(len(recs)))

            def root(i: int) -> int:
                while parent[i] != i:
                    parent[i] = parent[parent[i]]
                    i = parent[i]
                return i

            answers = [r.metadata[RESERVED]["a"] for r in recs]
            for lo in range(0, len(recs), 512):
                sims = mat[lo : lo + 512] @ mat.T
                for di, j in zip(*np.nonzero(sims >= threshold), strict=True):
                    i = lo + int(di)
                    if j <= i or root(i) == root(int(j)):
                        continue
                    if (
                        _norm(answers[i]) == _norm(answers[j])
                        or float(np.dot(*self._embed([answers[i], answers[j]]))) >= answer_threshold
                    ):
                        parent[root(int(j))] = root(i)
            groups: dict[int, list[int]] = {}
            for i in range(len(recs)):
                groups.setdefault(root(i), []).append(recs[i].id)
            return [self.merge(g, tenant=tenant) for g in groups.values() if len(g) > 1]

    # ---- internals -------------------------------------------------------------------------------

    def _now(self) -> float:
        now = self.clock()
        if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
            raise InvalidArgumentError(f"clock() must return finite seconds, got {now!r}")
        return float(now)

    def _embed(self, texts: list[str]) -> np.ndarray:
        vecs = np.asarray(self.embedder.embed_documents(texts), dtype=np.float32)
        if vecs.shape != (len(texts), self.embedder.dim) or not np.isfinite(vecs).all():
            raise FailedPreconditionError(
                f"embedder {self.embedder.name!r} returned shape {vecs.shape} (or non-finite values) for "
                f"{len(texts)} texts, expected ({len(texts)}, {self.embedder.dim})"
            )
        return vecs

    def _make_id(self, kind: str, tenant: str, parts: tuple, salt: int) -> int:
        payload = json.dumps([self.name, kind, tenant, *parts, salt], ensure_ascii=False)
        payload = payload.encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(payload, digest_size=8, person=b"vecdb-qa-id").digest()
        return int.from_bytes(digest, "little") & MAX_ID

    def _allocate(self, col: Any, kind: str, tenant: str, idents: list[tuple]) -> tuple[list[int], list[Any]]:
        """Content-hash ids for `idents`, with the record already stored under each (same content) or None."""
        ids: list[int] = [0] * len(idents)
        existing: list[Any] = [None] * len(idents)
        claimed: dict[int, tuple] = {}
        pending = {i: 0 for i in range(len(idents))}
        while pending:
            trial = {i: self._make_id(kind, tenant, idents[i], salt) for i, salt in pending.items()}
            stored = {r.id: r for r in col.get(sorted(set(trial.values())))} if trial else {}
            retry = {}
            for i, id_ in trial.items():
                rec, owner = stored.get(id_), claimed.get(id_)
                same_stored = rec is not None and _ident(rec.metadata, kind) == (tenant, *idents[i])
                if (rec is not None and not same_stored) or (owner is not None and owner != idents[i]):
                    retry[i] = pending[i] + 1  # the hash is taken by other content: next salt
                    continue
                ids[i], existing[i] = id_, rec if same_stored else None
                claimed[id_] = idents[i]
            pending = retry
        return ids, existing

    def _get(self, col: Any, ids: Sequence[int], tenant: str) -> list[Any]:
        arr = _check_ids(ids, unique=False)
        if not len(arr):
            return []
        try:
            recs = col.get(arr, tenant=tenant)
        except TenantNotFound:
            return []
        # Defence in depth: a record must say it belongs to this tenant, whatever the access lists say.
        return [r for r in recs if r.metadata.get(RESERVED, {}).get("t") == tenant]

    def _one(self, col: Any, id: Any, tenant: str) -> Any:  # noqa: A002
        recs = self._get(col, [id], tenant)
        if not recs:
            what = "QA pair" if col is self.pairs else "passage"
            raise NotFoundError(f"no {what} {id} for tenant {tenant!r} in memory {self.name!r}")
        return recs[0]

    def _locate(self, ids: Sequence[int], tenant: str) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for col in (self.passages, self.pairs):
            out.update({r.id: col for r in self._get(col, ids, tenant)})
        return out

    def _rewrite(self, col: Any, ids: Sequence[int], tenant: str, change: Callable[[dict], Any]) -> int:
        """Apply `change` to the `_qa` dict of each record and write it back (vector and tenants kept)."""
        with self._lock:
            recs = self._get(col, ids, tenant)
            if not recs:
                return 0
            metas = []
            for r in recs:
                meta = json.loads(json.dumps(r.metadata))
                change(meta[RESERVED])
                metas.append(meta)
            col.upsert(
                [r.id for r in recs],
                np.stack([r.vector for r in recs]),
                tenants=[r.tenants for r in recs],
                metadata=metas,
            )
            return len(recs)

    def _drop_links(self, holders: Sequence[int], targets: set[int], tenant: str) -> None:
        if not holders:
            return

        def drop(qa: dict) -> None:
            qa["links"] = [p for p in qa.get("links", []) if p not in targets]

        for col in (self.pairs, self.passages):
            self._rewrite(col, holders, tenant, drop)

    def _auto_link(self, ids: Sequence[int], tenant: str, threshold: float, k: int) -> int:
        made = 0
        for rec in self._get(self.pairs, ids, tenant):
            res = self.pairs.search(rec.vector, k=k + 1, tenant=tenant)
            for other, dist in zip(res.ids.tolist(), res.distances.tolist(), strict=True):
                if other == rec.id or 1.0 - dist < threshold:
                    continue
                current = self._get(self.pairs, [rec.id], tenant)[0].metadata[RESERVED].get("links", [])
                if other not in current:
                    self.link(rec.id, other, tenant=tenant)
                    made += 1
        return made

    def _search_pairs(self, qvec: np.ndarray, tenant: str, k: int, where: dict | None) -> list[Hit]:
        now = self._now()
        return [self._to_hit(i, m, s, now) for i, m, s in self._search(self.pairs, qvec, tenant, k, where)]

    def _search_passages(self, qvec: np.ndarray, tenant: str, k: int, where: dict | None) -> list[Passage]:
        return [_to_passage(i, m, s) for i, m, s in self._search(self.passages, qvec, tenant, k, where)]

    def _search(self, col: Any, qvec: np.ndarray, tenant: str, k: int, where: dict | None) -> list[tuple]:
        try:
            res = col.search(qvec, k=k, tenant=tenant, where=where)
        except TenantNotFound:
            return []
        if not len(res.ids):
            return []
        recs = {r.id: r for r in self._get(col, res.ids.tolist(), tenant)}
        return [
            (i, recs[i].metadata, float(1.0 - d))
            for i, d in zip(res.ids.tolist(), res.distances.tolist(), strict=True)
            if i in recs
        ]

    def _scan(self, col: Any, tenant: str, where: dict | None = None) -> list[Any]:
        """Every record of `tenant` in `col`. The Collection API has no scan, so this is a search that
        asks for all of them (a search never returns fewer than min(k, visible)); past max_k it pages by
        the `_qa.b` bucket stored in each record."""
        try:
            n = col.count(tenant=tenant)
        except TenantNotFound:
            return []
        probe = np.zeros(col.dim, dtype=np.float32)
        probe[0] = 1.0
        ids: list[int] = []
        ranges = [(0, N_BUCKETS)]
        while ranges:
            lo, hi = ranges.pop()
            cond = {"_qa.b": {"$gte": lo, "$lt": hi}}
            flt = cond if where is None else {"$and": [cond, where]}
            if (lo, hi) == (0, N_BUCKETS) and n <= self._max_k:
                flt = where
            res = col.search(probe, k=min(max(n, 1), self._max_k), tenant=tenant, where=flt)
            if len(res.ids) >= self._max_k or not res.complete:
                if hi - lo == 1:
                    raise ResourceExhaustedError(
                        f"tenant {tenant!r} has too many records in {col.name!r} to scan through search; "
                        "a Collection scan API is needed"
                    )
                mid = (lo + hi) // 2
                ranges += [(lo, mid), (mid, hi)]
                continue
            ids += res.ids.tolist()
        return self._get(col, sorted(set(ids)), tenant) if ids else []

    def _to_hit(self, id_: int, meta: dict, score: float | None, now: float | None = None) -> Hit:
        qa = meta[RESERVED]
        return Hit(
            id=int(id_),
            question=qa["q"],
            answer=qa["a"],
            score=score,
            source=qa.get("src"),
            offset=qa.get("off"),
            passage_id=qa.get("pid"),
            metadata={x: y for x, y in meta.items() if x != RESERVED},
            strength=float(qa.get("s", 1.0)),
            created_at=float(qa["c"]),
            recalled_at=float(qa["r"]),
            retention=_retention(qa, self._now() if now is None else now, self.time_unit),
            links=list(qa.get("links", [])),
            merged_from=[m["id"] for m in qa.get("merged", [])],
            versions=len(qa.get("hist", [])) + 1,
        )


# ---- helpers ---------------------------------------------------------------------------------------------

_LOCKS: weakref.WeakKeyDictionary[Any, dict[str, threading.RLock]] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _memory_lock(db: Any, name: str) -> threading.RLock:
    """One lock per (database object, memory name), shared by every QAMemory opened on it, so two
    handles of one memory in a process cannot lose each other's read-modify-write updates."""
    with _LOCKS_GUARD:
        try:
            per_db = _LOCKS.setdefault(db, {})
        except TypeError:  # not weak-referenceable: a lock per handle is the best we can do
            return threading.RLock()
        return per_db.setdefault(name, threading.RLock())


def _to_passage(id_: int, meta: dict, score: float | None) -> Passage:
    qa = meta[RESERVED]
    return Passage(
        id=int(id_),
        text=qa["text"],
        score=score,
        source=qa.get("src"),
        metadata={x: y for x, y in meta.items() if x != RESERVED},
        links=list(qa.get("links", [])),
    )


def _retention(qa: dict, now: float, unit: float) -> float:
    t = max(0.0, now - float(qa.get("r", qa.get("c", now))))
    return math.exp(-t / (max(float(qa.get("s", 1.0)), 1e-9) * unit))


def _ident(meta: dict, kind: str) -> tuple | None:
    qa = meta.get(RESERVED) or {}
    if qa.get("kind") != kind:
        return None
    return (qa.get("t"), qa.get("q"), qa.get("a")) if kind == "pair" else (qa.get("t"), qa.get("text"))


def _add_link(qa: dict, other: int) -> None:
    links = qa.setdefault("links", [])
    if other not in links:
        links.append(int(other))


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def _mentions(question: str, answer: str) -> bool:
    """Does `question` contain every word of `answer` (the bridge entity of a multi-hop chain)?"""
    words = set(_norm(answer).split())
    return bool(words) and words <= set(_norm(question).split())


def _check_memory_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > _MAX_NAME:
        raise InvalidArgumentError(
            f"invalid QA memory name {name!r}: use 1-{_MAX_NAME} characters from A-Z a-z 0-9 _ . - "
            "(not starting with . or -)"
        )
    return name


def _check_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgumentError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _check_similarity(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1.0 <= value <= 1.0:
        raise InvalidArgumentError(f"{what} must be a cosine similarity in [-1, 1], got {value!r}")
    return float(value)


def _check_query(query: Any) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidArgumentError(f"query must be a non-empty string, got {query!r}")
    return query


def _check_texts(texts: Any, what: str, n: int | None = None) -> list[str]:
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


def _per_item(values: Any, n: int, what: str) -> list[Any]:
    if values is None:
        return [None] * n
    if isinstance(values, (str, dict)) or not isinstance(values, Sequence) or len(values) != n:
        raise InvalidArgumentError(f"{what} must be a list with one entry per item ({n}), got {values!r}")
    return list(values)


def _check_source(src: Any, i: int) -> dict[str, Any]:
    """A source -> the stored fields {"src", "off", "pid"} (absent keys mean unknown)."""
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


def _check_user_meta(metadata: Any, n: int) -> list[dict | None]:
    metas = v.check_metadata(metadata, n)
    for i, m in enumerate(metas):
        if m and RESERVED in m:
            raise InvalidArgumentError(f"metadata at position {i} uses the reserved key {RESERVED!r}")
    return metas


def _check_ids(ids: Any, unique: bool = True) -> np.ndarray:
    if isinstance(ids, (list, tuple)) and not ids:
        return np.zeros(0, dtype=np.int64)
    return v.check_ids(ids, 1 << 30, unique=unique)
