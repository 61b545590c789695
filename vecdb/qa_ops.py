"""The logic of QA memory operations, apart from storage: new records' fields, updates with history,
merging with provenance, duplicate grouping, link bookkeeping and the multi-hop beam search.

Functions here change plain ``_qa`` dicts (or whole metadata objects) in place, or compute over records
already read; `vecdb.qa_memory.QAMemory` reads, locks and writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .qa_results import RESERVED, AskResult, Hit, user_metadata

# ---- text -------------------------------------------------------------------------------------------------


def norm(text: str) -> str:
    """Case- and punctuation-folded words: "Use Settings." and "use settings" compare equal."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def mentions(question: str, answer: str) -> bool:
    """Does `question` contain every word of `answer` (the bridge entity of a multi-hop chain)?"""
    words = set(norm(answer).split())
    return bool(words) and words <= set(norm(question).split())


# ---- new records and updates ------------------------------------------------------------------------------


def pair_fields(tenant: str, question: str, answer: str, now: float, source: dict) -> dict[str, Any]:
    """The ``_qa`` dict of a new QA pair: strength 1, created and recalled now."""
    return {"kind": "pair", "t": tenant, "q": question, "a": answer, "c": now, "r": now, "s": 1.0, **source}


def passage_fields(tenant: str, text: str, now: float, source: str | None) -> dict[str, Any]:
    """The ``_qa`` dict of a new passage."""
    return {"kind": "passage", "t": tenant, "text": text, "src": source, "c": now}


def bump(qa: dict, step: float, now: float) -> None:
    """MemoryBank recall: strength += step, last recalled = now."""
    qa["s"] = float(qa.get("s", 1.0)) + step
    qa["r"] = now


def apply_update(
    meta: dict,
    question: str | None,
    answer: str | None,
    source: dict | None,
    metadata: dict | None,
    reason: str | None,
    now: float,
) -> dict:
    """A pair's new metadata object: the previous version appended to ``hist``, then the given fields
    replaced (None keeps a field; `metadata` replaces the whole user part)."""
    qa, user = meta[RESERVED], user_metadata(meta)
    qa.setdefault("hist", []).append(
        {
            "question": qa["q"],
            "answer": qa["a"],
            "source": qa.get("src"),
            "offset": qa.get("off"),
            "passage_id": qa.get("pid"),
            "metadata": user,
            "replaced_at": now,
            "reason": reason,
        }
    )
    if question is not None:
        qa["q"] = question
    if answer is not None:
        qa["a"] = answer
    if source is not None:
        for key in ("src", "off", "pid"):
            qa.pop(key, None)
        qa.update(source)
    return {**(user if metadata is None else metadata), RESERVED: qa}


# ---- links ------------------------------------------------------------------------------------------------


def add_link(qa: dict, other: int) -> bool:
    """Add `other` to a record's links; False if it was there already."""
    links = qa.setdefault("links", [])
    if other in links:
        return False
    links.append(int(other))
    return True


def drop_links(qa: dict, targets: set[int]) -> None:
    qa["links"] = [p for p in qa.get("links", []) if p not in targets]


def relink(qa: dict, gone: set[int], to: int) -> None:
    """Links to any of `gone` are dropped and one to `to` added (a merge's absorbed pairs -> survivor)."""
    drop_links(qa, gone)
    add_link(qa, to)


def plan_links(order: Sequence[int], candidates: dict[int, list[int]], qas: dict[int, dict]) -> tuple[int, set[int]]:
    """Link each id of `order` to its `candidates` both ways, in the ``_qa`` dicts `qas` (by id), skipping
    links already there. Returns (links made, ids whose dicts changed)."""
    made, changed = 0, set()
    for a in order:
        for b in candidates.get(a, []):
            if a in qas and b in qas and add_link(qas[a], b):
                add_link(qas[b], a)
                made += 1
                changed |= {a, b}
    return made, changed


# ---- merging ----------------------------------------------------------------------------------------------


def survivor(qas: dict[int, dict]) -> int:
    """The pair a merge keeps by default: strongest, then oldest, then lowest id."""
    return min(qas, key=lambda i: (-qas[i]["s"], qas[i]["c"], i))


def absorb(kept_meta: dict, others: Iterable[tuple[int, dict]]) -> set[int]:
    """Fold the metadata of absorbed pairs (id, metadata) into `kept_meta`, keeping provenance: summed
    strength, earliest creation, latest recall, a source if it had none, user keys it lacked, their
    links, and a ``merged`` entry each. Returns the ids the absorbed pairs linked to (their partners)."""
    kq = kept_meta[RESERVED]
    partners: set[int] = set()
    for i, meta in others:
        q, user = meta[RESERVED], user_metadata(meta)
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
            add_link(kq, p)
            partners.add(p)
    return partners


def duplicate_groups(
    recs: Sequence[Any], threshold: float, answer_threshold: float, embed: Callable[[list[str]], np.ndarray]
) -> list[list[int]]:
    """Groups (of 2+ ids, each in record order) of pairs whose questions have cosine similarity >=
    `threshold` and whose answers fold to the same words or embed with similarity >= `answer_threshold`
    (union-find, so duplicates chain)."""
    if len(recs) < 2:
        return []
    mat = np.stack([r.vector for r in recs]).astype(np.float32)
    mat /= np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-12)
    answers = [r.metadata[RESERVED]["a"] for r in recs]
    parent = list(range(len(recs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def same_answer(i: int, j: int) -> bool:
        if norm(answers[i]) == norm(answers[j]):
            return True
        return float(np.dot(*embed([answers[i], answers[j]]))) >= answer_threshold

    for lo in range(0, len(recs), 512):  # 512 rows of similarities at a time bounds memory
        sims = mat[lo : lo + 512] @ mat.T
        for di, j in zip(*np.nonzero(sims >= threshold), strict=True):
            i, j = lo + int(di), int(j)
            if j > i and root(i) != root(j) and same_answer(i, j):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i, r in enumerate(recs):
        groups.setdefault(root(i), []).append(r.id)
    return [g for g in groups.values() if len(g) > 1]


# ---- multi-hop --------------------------------------------------------------------------------------------

#: A chain: (query so far, links, bridged hops, total score, the last ask's result).
Chain = tuple[str, list[dict], int, float, AskResult]


def beam_search(
    ask: Callable[[str, int], AskResult], first: AskResult, hops: int, k: int, floor: float, beam: int
) -> tuple[Chain, dict[int, Hit]]:
    """The best chain of up to `hops` pairs starting from the result `first` of asking the query, and
    every pair seen (the top-k of each ask plus the chains' pairs). `ask(query, k)` runs one ask.

    Each hop extends the `beam` best chains with their best unused pairs scoring >= `floor`, preferring
    pairs whose question mentions the previous answer; the best chain is the longest, then the one
    with most bridged hops, then the highest total score."""
    seen: dict[int, Hit] = {}
    chains: list[Chain] = [(first.query, [], 0, 0.0, first)]
    for hop in range(hops):
        grown = []
        for chain in chains:
            grown += _extend(chain, hop, ask, k, floor, beam, seen)
        if not grown:
            break
        chains = sorted(grown, key=lambda c: (-len(c[1]), -c[2], -c[3]))[:beam]
    return max(chains, key=lambda c: (len(c[1]), c[2], c[3])), seen


def _extend(
    chain: Chain, hop: int, ask: Callable[[str, int], AskResult], k: int, floor: float, beam: int, seen: dict
) -> list[Chain]:
    cur, links, bridged, total, res = chain
    if hop > 0:  # look deeper: the bridged pair competes with the first hop's entity words
        res = ask(cur, max(k, 20))
    for h in res.hits[:k]:
        if h.id not in seen or (seen[h.id].score or 0.0) < (h.score or 0.0):
            seen[h.id] = h
    used = {c["id"] for c in links}
    cands = [h for h in res.hits if h.id not in used and h.score >= floor]
    via = [h for h in cands if links and mentions(h.question, links[-1]["answer"])]
    out = []
    for h in (via or cands)[:beam]:
        seen.setdefault(h.id, h)
        link = {"hop": hop, "query": cur, "id": h.id, "question": h.question, "answer": h.answer, "score": h.score}
        out.append((f"{cur} {h.answer}", links + [link], bridged + bool(via), total + h.score, res))
    return out
