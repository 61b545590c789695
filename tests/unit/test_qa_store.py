"""QA memory storage: enumeration through `Collection.ids` (no max_k / filter_budget limit) and
metadata-only rewrites through `Collection.update_metadata` (recall, links and bookkeeping leave the
vectors and the index alone)."""

from __future__ import annotations

import pytest

import vecdb
from vecdb import qa_store
from vecdb.errors import InvalidArgumentError
from vecdb.qa_memory import QAMemory

N = 300  # pairs in the big tenant: 6x max_k below, and 3x the filter budget


class Clock:
    """A fake clock the test moves by hand."""

    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def small_db(tmp_path):
    with vecdb.open(tmp_path / "db", settings=vecdb.Settings(max_k=50, filter_budget=100)) as d:
        yield d


@pytest.fixture
def big(small_db):
    """A memory whose tenant "acme" holds N pairs (every third tagged lang=de) and "globex" holds 3."""
    clock = Clock()
    mem = QAMemory.open(small_db, "support", clock=clock)
    ids = mem.add(
        [f"question number {i}" for i in range(N)],
        [f"answer {i}" for i in range(N)],
        tenant="acme",
        metadata=[{"lang": "de" if i % 3 == 0 else "en"} for i in range(N)],
    )
    other = mem.add([f"globex question {i}" for i in range(3)], ["x", "y", "z"], tenant="globex")
    return mem, clock, ids, other


def dead_rows(col) -> int:
    """Index rows left behind by a vector rewrite or delete (the curator index counts them), plus deletes
    still waiting as tombstones."""
    st = col.stats()
    return st["index_stats"]["dead_rows"] + st["pending_tombstones"]


# ---- enumeration past max_k ------------------------------------------------------------------------------


def test_memories_lists_a_tenant_bigger_than_max_k(big):
    mem, _, ids, other = big
    assert N > mem._max_k
    got = mem.memories("acme")
    assert len(got) == N and {h.id for h in got} == set(ids)
    assert {h.id for h in mem.memories("globex")} == set(other)  # and nothing of acme's
    assert mem.memories("nobody") == []


def test_where_filter_over_more_pairs_than_the_filter_budget(big):
    mem, _, ids, _ = big
    de = mem.memories("acme", where={"lang": "de"})
    assert {h.id for h in de} == {ids[i] for i in range(0, N, 3)}
    with pytest.raises(InvalidArgumentError):
        mem.memories("nobody", where={"$bogus": 1})  # a malformed filter fails even with nothing stored


def test_forget_sees_every_pair_past_max_k(big):
    mem, clock, ids, other = big
    mem.reinforce(ids[:10], tenant="acme", step=9.0)  # S=10: retention e^-0.2 after 2 days
    clock.t += 2 * 86_400.0  # everyone else: e^-2 = 0.14
    assert mem.forget(tenant="acme", threshold=0.5, dry_run=True) == sorted(ids[10:])
    assert mem.forget(tenant="acme", threshold=0.5) == sorted(ids[10:])
    assert {h.id for h in mem.memories("acme")} == set(ids[:10])
    assert mem.count("globex")["pairs"] == len(other)


def test_merge_duplicates_and_link_related_past_max_k(big):
    mem, _, ids, _ = big
    [dup] = mem.add(["question number 7 "], ["Answer 7."], tenant="acme")  # same words, same answer words
    groups = mem.merge_duplicates(tenant="acme", threshold=0.999)
    assert [sorted([g["kept"], *g["merged"]]) for g in groups] == [sorted([ids[7], dup])]
    assert mem.count("acme")["pairs"] == N
    assert mem.link_related(tenant="acme", threshold=0.99, k=3) == 0  # distinct questions: nothing to link


def test_pages_walks_ascending_ids_of_one_tenant(big):
    mem, _, ids, _ = big
    pages = list(qa_store.pages(mem.pairs, "acme", page=64))
    assert [len(p) for p in pages] == [64, 64, 64, 64, 44]
    walked = [r.id for p in pages for r in p]
    assert walked == sorted(ids)
    assert list(qa_store.pages(mem.pairs, "nobody")) == []


def test_new_records_carry_no_paging_bucket(big):
    mem, _, ids, _ = big
    pid = mem.add_passages(["A passage."], tenant="acme")[0]
    assert "b" not in mem.pairs.get([ids[0]])[0].metadata["_qa"]
    assert "b" not in mem.passages.get([pid])[0].metadata["_qa"]


# ---- metadata-only rewrites ------------------------------------------------------------------------------


@pytest.fixture
def mem(tmp_path):
    with vecdb.open(tmp_path / "db") as d:
        yield QAMemory.open(d, "support", clock=Clock())


def _pairs(mem):
    return mem.add(
        ["How do I reset my password?", "Where is the office?", "What is the refund policy?"],
        ["Settings.", "Berlin.", "30 days."],
        tenant="acme",
    )


def test_recall_links_and_updates_leave_the_index_alone(mem, monkeypatch):
    ids = _pairs(mem)
    pid = mem.add_passages(["Refunds take 30 days."], tenant="acme")[0]
    upserts = []
    for col in (mem.pairs, mem.passages):
        real = col.upsert
        monkeypatch.setattr(col, "upsert", lambda *a, real=real, **kw: upserts.append(a[0]) or real(*a, **kw))
    assert mem.reinforce(ids, tenant="acme") == 3
    assert mem.ask("How do I reset my password?", tenant="acme").answer_id == ids[0]  # reinforces ids[0]
    mem.add(["Where is the office?"], ["Berlin."], tenant="acme")  # a re-add reinforces
    mem.link(ids[0], pid, tenant="acme")
    mem.link(ids[0], ids[1], tenant="acme")
    mem.unlink(ids[0], ids[1], tenant="acme")
    mem.link_related(tenant="acme", threshold=-1.0)
    mem.update(ids[2], tenant="acme", answer="Thirty days.", metadata={"v": 2}, reason="typo")
    mem.update(ids[2], tenant="acme", question="What is the refund policy?")  # same text: same vector
    assert upserts == []
    assert dead_rows(mem.pairs) == 0 and dead_rows(mem.passages) == 0
    hit = mem.get([ids[0]], tenant="acme")[0]
    assert hit.strength == 3.0 and pid in hit.links
    assert mem.get([ids[2]], tenant="acme")[0].versions == 3


def test_only_a_new_question_rewrites_the_vector(mem):
    ids = _pairs(mem)
    hit = mem.update(ids[1], tenant="acme", question="Where is your head office?")
    assert dead_rows(mem.pairs) == 1  # the counter does move when a vector is replaced
    assert hit.question == "Where is your head office?"
    assert mem.ask("where is your head office", tenant="acme").answer_id == ids[1]


def test_merge_writes_the_survivor_metadata_only(mem):
    a, b, c = _pairs(mem)
    mem.link(b, c, tenant="acme")
    assert mem.merge([a, b], tenant="acme", into=a) == {"kept": a, "merged": [b]}
    assert dead_rows(mem.pairs) == 1  # the absorbed pair's delete, nothing for the survivor or partner
    assert mem.get([c], tenant="acme")[0].links == [a]


def test_reinforce_never_resurrects_a_pair_another_writer_deleted(mem, monkeypatch):
    ids = _pairs(mem)
    real, calls = mem.pairs.update_metadata, []

    def racing(ids_, metas):
        if not calls:  # as another process would, between our read and our write
            calls.append(1)
            mem.pairs.delete([ids[0]])
        return real(ids_, metas)

    monkeypatch.setattr(mem.pairs, "update_metadata", racing)
    assert mem.reinforce(ids, tenant="acme") == 2
    assert mem.get([ids[0]], tenant="acme") == []
    assert [h.strength for h in mem.get(ids[1:], tenant="acme")] == [2.0, 2.0]


def test_reinforce_counts_a_repeated_id_once(mem):
    ids = _pairs(mem)
    assert mem.reinforce([ids[0], ids[0]], tenant="acme") == 1
    assert mem.get([ids[0]], tenant="acme")[0].strength == 2.0
