"""What a QA memory returns: `Hit` (a QA pair), `Passage` and `AskResult`, and how stored records become them.

A record's metadata is the user's own object plus the reserved key ``_qa`` (see `vecdb.qa_store`); the
converters here split the two and compute MemoryBank retention, ``exp(-t / (S * time_unit))``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["AskResult", "Hit", "Passage", "retention", "to_hit", "to_passage"]

#: The metadata key holding a memory's own fields; user metadata may not use it.
RESERVED = "_qa"


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
        qa_lines = [f"[{n}] Q: {h.question}\n    A: {h.answer}{_hit_source(h)}" for n, h in enumerate(self.hits, 1)]
        first = len(self.hits) + 1
        p_lines = [
            f"[{n}] {' '.join(p.text.split())}" + (f" (source: {p.source})" if p.source else "")
            for n, p in enumerate(self.passages, first)
        ]
        out = "\n".join(head)
        for title, lines in (("Question-answer memory:", qa_lines), ("Passages:", p_lines)):
            out += _fit_block(title, lines, len(out), max_chars)
        if not qa_lines and not p_lines:
            out += "\n\n(no relevant memory found)"
        return out[:max_chars]


def _hit_source(h: Hit) -> str:
    if not h.source:
        return ""
    return f" (source: {h.source}" + (f", offset {h.offset}" if h.offset is not None else "") + ")"


def _fit_block(title: str, lines: list[str], used: int, max_chars: int) -> str:
    """A titled block of the lines that fit after `used` characters, in order; "" if none fits."""
    block = f"\n\n{title}"
    added = False
    for line in lines:
        if used + len(block) + len(line) + 1 > max_chars:
            break
        block += "\n" + line
        added = True
    return block if added else ""


# ---- records -> results ----------------------------------------------------------------------------------


def retention(qa: dict, now: float, unit: float) -> float:
    """MemoryBank retention exp(-t / (S * unit)) of a memory's `_qa` fields, t = now - last recall."""
    t = max(0.0, now - float(qa.get("r", qa.get("c", now))))
    return math.exp(-t / (max(float(qa.get("s", 1.0)), 1e-9) * unit))


def user_metadata(meta: dict) -> dict[str, Any]:
    """The user's part of a stored metadata object (everything but the reserved key)."""
    return {x: y for x, y in meta.items() if x != RESERVED}


def to_hit(id_: int, meta: dict, score: float | None, now: float, unit: float) -> Hit:
    """A stored QA pair record (id and metadata) -> `Hit`, with its retention at `now`."""
    qa = meta[RESERVED]
    return Hit(
        id=int(id_),
        question=qa["q"],
        answer=qa["a"],
        score=score,
        source=qa.get("src"),
        offset=qa.get("off"),
        passage_id=qa.get("pid"),
        metadata=user_metadata(meta),
        strength=float(qa.get("s", 1.0)),
        created_at=float(qa["c"]),
        recalled_at=float(qa["r"]),
        retention=retention(qa, now, unit),
        links=list(qa.get("links", [])),
        merged_from=[m["id"] for m in qa.get("merged", [])],
        versions=len(qa.get("hist", [])) + 1,
    )


def to_passage(id_: int, meta: dict, score: float | None) -> Passage:
    """A stored passage record (id and metadata) -> `Passage`."""
    qa = meta[RESERVED]
    return Passage(
        id=int(id_),
        text=qa["text"],
        score=score,
        source=qa.get("src"),
        metadata=user_metadata(meta),
        links=list(qa.get("links", [])),
    )
