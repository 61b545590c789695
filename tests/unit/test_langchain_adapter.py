"""LangChain adapter: the VectorStore contract, tenant scoping, retrievers (skipped without langchain-core)."""

from __future__ import annotations

import pytest

pytest.importorskip("langchain_core")

from langchain_core.documents import Document  # noqa: E402

import vecdb  # noqa: E402
from vecdb.errors import InvalidArgumentError  # noqa: E402
from vecdb.integrations.langchain import QAMemoryRetriever, VecDBEmbeddings, VecDBVectorStore  # noqa: E402
from vecdb.qa_memory import QAMemory  # noqa: E402

TEXTS = ["The office is in Berlin.", "Refunds are paid within 30 days.", "Reset your password under Settings."]


@pytest.fixture
def db(tmp_path):
    with vecdb.open(tmp_path / "db") as d:
        yield d


@pytest.fixture
def store(db):
    return VecDBVectorStore.from_texts(
        TEXTS,
        VecDBEmbeddings(),
        metadatas=[{"n": 0}, {"n": 1}, {"n": 2}],
        ids=["office", "refund", "42"],
        database=db,
        tenant="acme",
    )


def test_from_texts_and_similarity_search(store):
    docs = store.similarity_search("where is the office", k=2)
    assert isinstance(docs[0], Document) and docs[0].page_content == TEXTS[0]
    assert docs[0].id == "office" and docs[0].metadata == {"n": 0} and len(docs) == 2


def test_similarity_search_with_score_and_relevance(store):
    (doc, dist), *_ = store.similarity_search_with_score("refund within 30 days", k=3)
    assert doc.id == "refund" and 0.0 <= dist < 0.5
    scored = store.similarity_search_with_relevance_scores("refund within 30 days", k=3)
    assert scored[0][0].id == "refund" and scored[0][1] == pytest.approx(1 - dist, abs=1e-6)


def test_add_texts_returns_ids_and_get_by_ids(store):
    ids = store.add_texts(["New text about shipping."], metadatas=[{"n": 3}])
    assert len(ids) == 1 and ids[0].isdigit()
    got = store.get_by_ids([ids[0], "42", "missing"])
    assert {d.id for d in got} == {ids[0], "42"}
    assert store.add_texts([]) == []
    with pytest.raises(InvalidArgumentError):
        store.add_texts(["a", "b"], metadatas=[{}])


def test_filter_and_delete(store):
    assert [d.id for d in store.similarity_search("anything", k=3, filter={"n": {"$gt": 0}})] != []
    assert {d.metadata["n"] for d in store.similarity_search("anything", k=3, filter={"n": {"$gt": 0}})} == {1, 2}
    assert store.delete(["refund"]) is True
    assert "refund" not in {d.id for d in store.similarity_search("refund", k=3)}
    store.delete()
    assert store.similarity_search("refund", k=3) == []


def test_as_retriever(store):
    docs = store.as_retriever(search_kwargs={"k": 1}).invoke("password settings")
    assert [d.id for d in docs] == ["42"]
    mmr = store.max_marginal_relevance_search("office berlin", k=2, fetch_k=3)
    assert mmr[0].id == "office" and len(mmr) == 2


def test_tenant_scoping(db, store):
    other = VecDBVectorStore.from_database(db, VecDBEmbeddings(), tenant="globex")
    assert other.similarity_search("office", k=5) == []
    other.add_texts(["Globex office is in Springfield."], ids=["office"])
    assert [d.page_content for d in other.similarity_search("office", k=5)] == ["Globex office is in Springfield."]
    assert other.get_by_ids(["42"]) == []
    other.delete(["42"])
    assert store.get_by_ids(["42"])[0].page_content == TEXTS[2]


def test_qa_memory_retriever(db):
    mem = QAMemory.open(db, "support")
    mem.add(["How do I reset my password?"], ["Settings > Security."], tenant="acme", sources=["kb.md"])
    mem.add_passages(["Passwords expire after 90 days."], tenant="acme")
    docs = QAMemoryRetriever(memory=mem, tenant="acme", k=2).invoke("reset password")
    assert docs[0].page_content.startswith("Q: How do I reset my password?")
    assert docs[0].metadata["kind"] == "qa" and docs[0].metadata["source"] == "kb.md"
    assert docs[-1].metadata["kind"] == "passage"
    assert QAMemoryRetriever(memory=mem, tenant="globex").invoke("reset password") == []
