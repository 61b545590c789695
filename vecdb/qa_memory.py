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

Costs: only adding a pair or changing its question embeds and writes a vector. Recall (reinforce),
links, merges and other updates rewrite metadata alone (`Collection.update_metadata`), leaving the
index untouched; whole-tenant operations (`memories`, `forget`, `merge_duplicates`, `link_related`)
page through the tenant's ids (`Collection.ids`), so they have no size limit.

Concurrency: writes to one memory are serialised by a lock shared by every QAMemory handle on the same
Database object; read-modify-write operations (reinforce, update, merge, link) from two *processes* on
the same memory are last-writer-wins.

Layout: this module is the public facade; `vecdb.qa_results` holds the result types, `vecdb.qa_store`
the storage of records, `vecdb.qa_ops` the logic of the memory operations, `vecdb.qa_checks` argument
checks.

>>> mem = QAMemory.open(db, "support")
>>> mem.add(questions=["How do I reset my password?"], answers=["Settings > Security > Reset."], tenant="acme")
>>> mem.ask("how can I reset my password", tenant="acme").answer
'Settings > Security > Reset.'
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import qa_store as store
from . import validate as v
from .embedders import Embedder, check_embedder
from .errors import FailedPreconditionError, InvalidArgumentError, NotFoundError, TenantNotFound
from .filters import compile_filter
from .qa_checks import (
    check_fraction,
    check_ids,
    check_memory_name,
    check_number,
    check_one_id,
    check_passage_sources,
    check_query,
    check_reason,
    check_similarity,
    check_small_int,
    check_source,
    check_texts,
    check_user_meta,
    per_item,
)
from .qa_ops import (
    absorb,
    add_link,
    apply_update,
    beam_search,
    bump,
    drop_links,
    duplicate_groups,
    norm,
    pair_fields,
    passage_fields,
    plan_links,
    relink,
    survivor,
)
from .qa_results import RESERVED, AskResult, Hit, Passage, retention, to_hit, to_passage

__all__ = ["AskResult", "Hit", "Passage", "QAMemory"]

DAY = 86_400.0
_OPTIONS = ("clock", "answer_threshold", "answer_margin", "time_unit")


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
        if answer_threshold is None:
            answer_threshold = getattr(embedder, "default_answer_threshold", 0.8)
        if answer_margin is None:
            answer_margin = getattr(embedder, "default_answer_margin", 0.05)
        self.answer_threshold = check_number(answer_threshold, "answer_threshold")
        self.answer_margin = check_number(answer_margin, "answer_margin")
        #: ask_multihop extends a chain only with pairs scoring at least this.
        self.hop_threshold = float(getattr(embedder, "default_hop_threshold", 0.3))
        self.reinforce_on_recall = True
        self.time_unit = v.check_positive_float(time_unit, "time_unit")
        self.pairs = db.collection(f"qa.{name}.pairs")
        self.passages = db.collection(f"qa.{name}.passages")
        self._lock = store.memory_lock(db, name)
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
        check_memory_name(name)
        unknown = set(options) - set(_OPTIONS)
        if unknown:
            raise InvalidArgumentError(f"unknown QAMemory option(s) {sorted(unknown)}: expected {', '.join(_OPTIONS)}")
        clock = options.get("clock")
        if clock is not None and not callable(clock):
            raise InvalidArgumentError(f"clock must be a callable returning seconds, got {clock!r}")
        if embedder is not None:
            embedder = check_embedder(embedder)
        with store.memory_lock(db, name):  # two threads creating one memory must agree on its embedder
            embedder = store.open_or_create(db, name, embedder)
        return cls(db, name, embedder, **options)

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
        qs = check_texts(questions, "questions")
        ans = check_texts(answers, "answers", len(qs))
        srcs = [check_source(s, i) for i, s in enumerate(per_item(sources, len(qs), "sources"))]
        metas = check_user_meta(metadata, len(qs))
        if link_threshold is not None:
            link_threshold = check_similarity(link_threshold, "link_threshold")
        with self._lock:
            now = self._now()
            ids, existing = store.allocate(self.pairs, self.name, "pair", tenant, list(zip(qs, ans, strict=True)))
            new = store.new_indices(ids, existing)
            if new:
                fields = [pair_fields(tenant, qs[i], ans[i], now, srcs[i]) for i in new]
                records = [{**(metas[i] or {}), RESERVED: qa} for i, qa in zip(new, fields, strict=True)]
                vecs = self._embed([qs[i] for i in new])
                self.pairs.upsert([ids[i] for i in new], vecs, tenants=tenant, metadata=records)
            again = sorted({ids[i] for i in range(len(ids)) if existing[i] is not None})
            if again:
                self.reinforce(again, tenant=tenant)
            if link_threshold is not None and new:
                added = self._get(self.pairs, [ids[i] for i in new], tenant)
                self._auto_link(added, tenant, link_threshold, k=5)
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
        texts = check_texts(texts, "texts")
        srcs = check_passage_sources(sources, len(texts))
        metas = check_user_meta(metadata, len(texts))
        with self._lock:
            now = self._now()
            ids, existing = store.allocate(self.passages, self.name, "passage", tenant, [(t,) for t in texts])
            new = store.new_indices(ids, existing)
            if new:
                records = [{**(metas[i] or {}), RESERVED: passage_fields(tenant, texts[i], now, srcs[i])} for i in new]
                vecs = self._embed([texts[i] for i in new])
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
        query = check_query(query)
        tenant = v.check_tenant(tenant)
        k = v.check_k(k, self._max_k)
        n_pass = k if passages is None else (0 if passages == 0 else v.check_k(passages, self._max_k))
        if where is not None:
            compile_filter(where)  # a malformed filter fails even for a tenant with nothing stored
        thr = self.answer_threshold if threshold is None else check_number(threshold, "threshold")
        mar = self.answer_margin if margin is None else check_number(margin, "margin")
        if min_score is not None:
            min_score = check_number(min_score, "min_score")
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
            rival = next((h.score for h in hits[1:] if norm(h.answer) != norm(best.answer)), 0.0)
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
        query = check_query(query)
        hops = check_small_int(hops, "hops")
        beam = check_small_int(beam, "beam")
        floor = self.hop_threshold if min_score is None else check_number(min_score, "min_score")
        first = self.ask(query, tenant=tenant, k=k, where=where, reinforce=False)

        def ask(text: str, depth: int) -> AskResult:
            return self.ask(text, tenant=tenant, k=depth, where=where, reinforce=False)

        (_, chain, _, _, final), seen = beam_search(ask, first, hops, k, floor, beam)
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
        now = self._now()
        return [self._to_hit(r.id, r.metadata, None, now) for r in self._get(self.pairs, ids, tenant)]

    def get_passages(self, ids: Sequence[int], tenant: str | None = None) -> list[Passage]:
        """The passages with these ids that `tenant` holds, in the order asked; ``score`` is None."""
        tenant = v.check_tenant(tenant)
        return [to_passage(r.id, r.metadata, None) for r in self._get(self.passages, ids, tenant)]

    def memories(self, tenant: str | None = None, where: dict | None = None) -> list[Hit]:
        """All QA pairs of `tenant` (optionally filtered), oldest first.

        Raises
        ------
        InvalidArgumentError
            A malformed filter.
        """
        tenant = v.check_tenant(tenant)
        keep = None if where is None else compile_filter(where)
        now = self._now()
        hits = [self._to_hit(r.id, r.metadata, None, now) for r in store.scan(self.pairs, tenant, keep)]
        return sorted(hits, key=lambda h: (h.created_at, h.id))

    def history(self, id: int, tenant: str | None = None) -> list[dict]:  # noqa: A002 - the natural name
        """Earlier versions of a QA pair, oldest first: dicts with question, answer, source, offset,
        passage_id, metadata, replaced_at and reason. Raises NotFoundError if the tenant has no such pair."""
        rec = self._one(self.pairs, id, v.check_tenant(tenant))
        return list(rec.metadata[RESERVED].get("hist", []))

    def retention(self, id: int, tenant: str | None = None) -> float:  # noqa: A002
        """MemoryBank retention exp(-t / (S * time_unit)) of a QA pair now."""
        rec = self._one(self.pairs, id, v.check_tenant(tenant))
        return retention(rec.metadata[RESERVED], self._now(), self.time_unit)

    def count(self, tenant: str | None = None) -> dict[str, int]:
        """{"pairs": n, "passages": m}, for one tenant or (tenant=None) the whole memory."""
        name = None if tenant is None else v.check_tenant(tenant)
        out = {}
        for key, col in (("pairs", self.pairs), ("passages", self.passages)):
            try:
                out[key] = col.count(tenant=name)
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
        """Recall QA pairs: strength += step and last-recalled = now (MemoryBank). Returns how many.

        Only metadata is rewritten: the vectors and the index are untouched."""
        tenant = v.check_tenant(tenant)
        step = v.check_positive_float(step, "step")
        now = self._now()
        with self._lock:
            return store.rewrite(self.pairs, ids, tenant, lambda qa: bump(qa, step, now))

    def forget(self, tenant: str | None = None, threshold: float = 0.1, dry_run: bool = False) -> list[int]:
        """Delete the tenant's QA pairs whose retention exp(-t / (S * time_unit)) is below `threshold`
        (t: time since last recall). Returns their ids, sorted; with dry_run=True deletes nothing."""
        tenant = v.check_tenant(tenant)
        threshold = check_fraction(threshold, "threshold")
        now = self._now()
        with self._lock:
            gone = [
                r.id
                for page in store.pages(self.pairs, tenant)
                for r in page
                if retention(r.metadata[RESERVED], now, self.time_unit) < threshold
            ]
            if not dry_run:
                for lo in range(0, len(gone), store.PAGE):  # bounded batches, however many are forgotten
                    self.delete(gone[lo : lo + store.PAGE], tenant=tenant)
        return sorted(gone)

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
            question = check_texts([question], "question")[0]
        if answer is not None:
            answer = check_texts([answer], "answer")[0]
        src = None if source is None else check_source(source, 0)
        if metadata is not None:
            metadata = check_user_meta([metadata], 1)[0] or {}
        reason = check_reason(reason)
        with self._lock:
            rec = self._one(self.pairs, id, tenant)
            new_vector = question is not None and question != rec.metadata[RESERVED]["q"]
            meta = apply_update(copy.deepcopy(rec.metadata), question, answer, src, metadata, reason, self._now())
            if new_vector:  # the question is the key: only a new one needs a new vector (and index work)
                self.pairs.upsert([rec.id], self._embed([meta[RESERVED]["q"]]), tenants=[rec.tenants], metadata=[meta])
            else:
                self.pairs.update_metadata([rec.id], [meta])
        return self.get([rec.id], tenant=tenant)[0]

    def delete(self, ids: Sequence[int], tenant: str | None = None) -> int:
        """Delete QA pairs and/or passages of `tenant` by id (other tenants' ids are skipped) and remove
        links to them. Returns how many were deleted."""
        tenant = v.check_tenant(tenant)
        ids = check_ids(ids)
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
                pass  # the tenant stored only pairs, or only passages
        return n

    def link(self, a: int, b: int, tenant: str | None = None) -> None:
        """Link two memories (QA pairs or passages) of `tenant` both ways (Zettelkasten-style, A-MEM).

        Raises NotFoundError if the tenant does not hold both."""
        tenant = v.check_tenant(tenant)
        a, b = (int(x) for x in check_ids([a, b]))
        with self._lock:
            where = self._locate([a, b], tenant)
            for x in (a, b):
                if x not in where:
                    raise NotFoundError(f"no QA pair or passage {x} for tenant {tenant!r} in memory {self.name!r}")
            for x, y in ((a, b), (b, a)):
                store.rewrite(where[x], [x], tenant, lambda qa, y=y: add_link(qa, y))

    def unlink(self, a: int, b: int, tenant: str | None = None) -> None:
        """Remove the link between two memories of `tenant` (no error if there was none)."""
        tenant = v.check_tenant(tenant)
        a, b = (int(x) for x in check_ids([a, b]))
        with self._lock:
            self._drop_links([a], {b}, tenant)
            self._drop_links([b], {a}, tenant)

    def related(self, id: int, tenant: str | None = None) -> dict[str, list]:  # noqa: A002
        """The memories linked to `id`: {"pairs": [Hit], "passages": [Passage]}."""
        tenant = v.check_tenant(tenant)
        id = check_one_id(id)  # noqa: A001
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
        threshold = check_similarity(threshold, "threshold")
        k = v.check_k(k, self._max_k - 1)
        with self._lock:
            return self._auto_link(store.scan(self.pairs, tenant), tenant, threshold, k)

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
        want = [int(x) for x in check_ids(ids)]
        if into is not None:
            into = check_one_id(into)
        with self._lock:
            recs = {r.id: r for r in self._get(self.pairs, want, tenant)}
            missing = [i for i in want if i not in recs]
            if missing:
                raise NotFoundError(f"no QA pair {missing[0]} for tenant {tenant!r} in memory {self.name!r}")
            if into is not None and into not in recs:
                raise InvalidArgumentError(f"into={into} is not one of the ids being merged")
            keep = into if into is not None else survivor({i: r.metadata[RESERVED] for i, r in recs.items()})
            others = [i for i in want if i != keep]
            if not others:
                return {"kept": keep, "merged": []}
            gone = set(others)
            kept_meta = copy.deepcopy(recs[keep].metadata)
            partners = absorb(kept_meta, [(i, recs[i].metadata) for i in others]) - gone - {keep}
            drop_links(kept_meta[RESERVED], gone | {keep})
            self.pairs.update_metadata([keep], [kept_meta])
            self.pairs.delete(others, tenant=tenant)
            for col in (self.pairs, self.passages):  # the absorbed pairs' partners now link to the survivor
                store.rewrite(col, sorted(partners), tenant, lambda qa: relink(qa, gone, keep))
        return {"kept": keep, "merged": others}

    def merge_duplicates(
        self, tenant: str | None = None, threshold: float = 0.95, answer_threshold: float = 0.9
    ) -> list[dict[str, Any]]:
        """Find and merge duplicate QA pairs of `tenant`: questions with cosine similarity >= threshold
        whose answers are equal after case/punctuation folding or embed with similarity >=
        answer_threshold. Pairs with conflicting answers are left alone (see `update`). Returns the
        `merge` result of each group."""
        tenant = v.check_tenant(tenant)
        threshold = check_similarity(threshold, "threshold")
        answer_threshold = check_similarity(answer_threshold, "answer_threshold")
        with self._lock:
            groups = duplicate_groups(store.scan(self.pairs, tenant), threshold, answer_threshold, self._embed)
            return [self.merge(g, tenant=tenant) for g in groups]

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

    def _get(self, col: Any, ids: Sequence[int], tenant: str) -> list[Any]:
        return store.get(col, ids, tenant)

    def _one(self, col: Any, id: Any, tenant: str) -> Any:  # noqa: A002
        recs = self._get(col, [id], tenant)
        if not recs:
            what = "QA pair" if col is self.pairs else "passage"
            raise NotFoundError(f"no {what} {id} for tenant {tenant!r} in memory {self.name!r}")
        return recs[0]

    def _locate(self, ids: Sequence[int], tenant: str) -> dict[int, Any]:
        """id -> the collection (passages or pairs) holding it for `tenant`."""
        out: dict[int, Any] = {}
        for col in (self.passages, self.pairs):
            out.update({r.id: col for r in self._get(col, ids, tenant)})
        return out

    def _drop_links(self, holders: Sequence[int], targets: set[int], tenant: str) -> None:
        if not holders:
            return
        for col in (self.pairs, self.passages):
            store.rewrite(col, holders, tenant, lambda qa: drop_links(qa, targets))

    def _auto_link(self, recs: Sequence[Any], tenant: str, threshold: float, k: int) -> int:
        """Link each of the pairs `recs` to its up-to-k nearest pairs of `tenant` scoring >= threshold;
        all new links are written in one metadata update. Returns how many were made."""
        candidates: dict[int, list[int]] = {}
        for rec in recs:
            res = self.pairs.search(rec.vector, k=min(k + 1, self._max_k), tenant=tenant)
            candidates[rec.id] = [
                other
                for other, dist in zip(res.ids.tolist(), res.distances.tolist(), strict=True)
                if other != rec.id and 1.0 - dist >= threshold
            ]
        involved = sorted(set(candidates) | {o for os in candidates.values() for o in os})
        metas = {r.id: copy.deepcopy(r.metadata) for r in self._get(self.pairs, involved, tenant)}
        made, changed = plan_links([r.id for r in recs], candidates, {i: m[RESERVED] for i, m in metas.items()})
        if changed:
            self.pairs.update_metadata(sorted(changed), [metas[i] for i in sorted(changed)])
        return made

    def _search_pairs(self, qvec: np.ndarray, tenant: str, k: int, where: dict | None) -> list[Hit]:
        now = self._now()
        return [self._to_hit(i, m, s, now) for i, m, s in store.search(self.pairs, qvec, tenant, k, where)]

    def _search_passages(self, qvec: np.ndarray, tenant: str, k: int, where: dict | None) -> list[Passage]:
        return [to_passage(i, m, s) for i, m, s in store.search(self.passages, qvec, tenant, k, where)]

    def _to_hit(self, id_: int, meta: dict, score: float | None, now: float | None = None) -> Hit:
        return to_hit(id_, meta, score, self._now() if now is None else now, self.time_unit)
