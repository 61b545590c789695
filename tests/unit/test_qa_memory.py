"""QA memory: answers, tenant isolation, filters, memory dynamics (fake clock), merge/link/update, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import vecdb
from vecdb.embedders import HashingEmbedder
from vecdb.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from vecdb.qa_memory import AskResult, Hit, QAMemory

DAY = 86_400.0


def time_now() -> float:
    return 0.0


class Clock:
    """A fake clock the test moves by hand."""

    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class TableEmbedder:
    """Vectors chosen by the test, so similarities are exact."""

    name = "table-v1"
    dim = 4

    def __init__(self, table: dict[str, list[float]]):
        self.table = table

    def embed_documents(self, texts):
        return np.array([self.table.get(t, [0, 0, 0, 1]) for t in texts], dtype=np.float32)

    def embed_query(self, text):
        return self.embed_documents([text])[0]


@pytest.fixture
def db(tmp_path):
    with vecdb.open(tmp_path / "db") as d:
        yield d


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def mem(db, clock):
    return QAMemory.open(db, "support", clock=clock)


FAQ = [
    ("How do I reset my password?", "Settings > Security > Reset password."),
    ("What is your refund policy?", "Full refund within 30 days."),
    ("Where is the head office?", "Berlin, Germany."),
    ("Which payment methods do you accept?", "Visa, Mastercard and PayPal."),
]


def _load(mem, tenant="acme", **kw):
    return mem.add([q for q, _ in FAQ], [a for _, a in FAQ], tenant=tenant, **kw)


# ---- basics ----------------------------------------------------------------------------------------------


def test_open_creates_collections_and_reopens(db, tmp_path):
    mem = QAMemory.open(db, "support")
    assert {"qa.support.pairs", "qa.support.passages", "qa.support.meta"} <= set(db.list_collections())
    ids = _load(mem)
    db.close()
    with vecdb.open(tmp_path / "db") as db2:
        again = QAMemory.open(db2, "support")
        assert again.embedder.name == mem.embedder.name
        assert again.ask("how do I reset my password", tenant="acme").answer_id == ids[0]


def test_database_qa_memory_method(db):
    if not hasattr(db, "qa_memory"):
        pytest.skip("Database.qa_memory not merged yet")
    mem = db.qa_memory("support")
    assert isinstance(mem, QAMemory)


def test_direct_answer_for_paraphrase(mem):
    ids = _load(mem)
    res = mem.ask("how can I reset the password", tenant="acme", k=3)
    assert isinstance(res, AskResult)
    assert res.answer == FAQ[0][1] and res.answer_id == ids[0]
    assert len(res.hits) == 3 and isinstance(res.hits[0], Hit)
    assert res.hits[0].question == FAQ[0][0] and res.hits[0].score > 0.8
    assert [h.score for h in res.hits] == sorted((h.score for h in res.hits), reverse=True)
    assert mem.ask("what's the weather like on Mars?", tenant="acme").answer is None


def test_ids_are_content_hashes_and_deterministic(tmp_path):
    got = []
    for sub in ("a", "b"):
        with vecdb.open(tmp_path / sub) as d:
            got.append(_load(QAMemory.open(d, "support")))
    assert got[0] == got[1]
    assert len(set(got[0])) == len(FAQ) and all(0 <= i < 2**63 for i in got[0])


def test_re_adding_identical_pair_reinforces_instead_of_duplicating(mem):
    first = _load(mem)
    again = mem.add([FAQ[0][0]], [FAQ[0][1]], tenant="acme")
    assert again == first[:1]
    assert mem.count("acme")["pairs"] == len(FAQ)
    assert mem.get(again, tenant="acme")[0].strength == 2.0
    # The same question with another answer is a separate memory.
    other = mem.add([FAQ[0][0]], ["Ask support."], tenant="acme")
    assert other[0] not in first and mem.count("acme")["pairs"] == len(FAQ) + 1


def test_duplicate_within_one_batch_stored_once(mem):
    ids = mem.add(["Q one?", "Q one?"], ["A", "A"], tenant="acme")
    assert ids[0] == ids[1] and mem.count("acme")["pairs"] == 1


def test_sources_and_metadata_round_trip(mem):
    pid = mem.add_passages(
        ["The password can be reset under Settings > Security."], tenant="acme", sources=["kb/security.md"]
    )[0]
    [qid] = mem.add(
        ["How do I reset my password?"],
        ["Settings > Security"],
        tenant="acme",
        sources=[{"source": "kb/security.md", "passage_id": pid, "offset": 31}],
        metadata=[{"lang": "en", "tags": ["account"]}],
    )
    hit = mem.get([qid], tenant="acme")[0]
    assert (hit.source, hit.passage_id, hit.offset) == ("kb/security.md", pid, 31)
    assert hit.metadata == {"lang": "en", "tags": ["account"]}
    assert hit.score is None
    res = mem.ask("reset my password", tenant="acme")
    assert res.passages and res.passages[0].id == pid and res.passages[0].source == "kb/security.md"


# ---- tenant isolation ------------------------------------------------------------------------------------


def test_never_a_cross_tenant_hit(mem):
    rng = np.random.default_rng(7)
    tenants = [f"t{i}" for i in range(6)]
    owned = {}
    for t in tenants:
        qs = [
            f"{t} question about {w} number {n}"
            for w, n in zip(rng.choice(["billing", "login", "shipping"], 5), range(5), strict=True)
        ]
        owned[t] = set(mem.add(qs, [f"answer {n} for {t}" for n in range(5)], tenant=t))
        owned[t] |= set(mem.add_passages([f"passage about {t} shipping"], tenant=t))
    for t in tenants:
        for query in ("billing question", "t0 question about login number 1", "shipping"):
            res = mem.ask(query, tenant=t, k=10)
            assert {h.id for h in res.hits} <= owned[t] and {p.id for p in res.passages} <= owned[t]
            assert all(h.answer.endswith(t) for h in res.hits)


def test_other_tenant_ids_are_invisible(mem):
    acme = _load(mem, tenant="acme")
    mem.add(["Unrelated?"], ["Yes."], tenant="globex")
    assert mem.get(acme, tenant="globex") == []
    assert mem.delete(acme, tenant="globex") == 0
    assert mem.count("acme")["pairs"] == len(FAQ)
    with pytest.raises(NotFoundError):
        mem.update(acme[0], tenant="globex", answer="hijacked")
    with pytest.raises(NotFoundError):
        mem.link(acme[0], acme[1], tenant="globex")
    assert mem.forget(tenant="globex", threshold=1.0) != acme


def test_same_question_in_two_tenants_gets_each_tenants_answer(mem):
    mem.add(["What is the support email?"], ["help@acme.example"], tenant="acme")
    mem.add(["What is the support email?"], ["support@globex.example"], tenant="globex")
    assert mem.ask("support email?", tenant="acme").answer == "help@acme.example"
    assert mem.ask("support email?", tenant="globex").answer == "support@globex.example"


def test_unknown_tenant_gets_empty_result(mem):
    _load(mem)
    res = mem.ask("How do I reset my password?", tenant="nobody")
    assert res.answer is None and res.hits == [] and res.passages == []
    assert mem.count("nobody") == {"pairs": 0, "passages": 0}
    assert mem.memories("nobody") == [] and mem.forget(tenant="nobody") == []


# ---- direct-answer threshold and margin ------------------------------------------------------------------


@pytest.fixture
def table_mem(db, clock):
    emb = TableEmbedder(
        {
            "alpha": [1, 0, 0, 0],
            "beta": [0.9, math.sqrt(1 - 0.81), 0, 0],
            "alpha2": [0.98, 0, math.sqrt(1 - 0.98**2), 0],
            "query-alpha": [1, 0, 0, 0],
        }
    )
    return QAMemory.open(db, "table", embedder=emb, clock=clock, answer_threshold=0.95, answer_margin=0.05)


def test_threshold_and_margin(table_mem):
    m = table_mem
    m.add(["alpha", "beta"], ["A", "B"], tenant="acme")
    res = m.ask("query-alpha", tenant="acme", reinforce=False)
    assert res.confidence == pytest.approx(1.0) and res.margin == pytest.approx(0.1, abs=1e-5)
    assert res.answer == "A"
    assert m.ask("query-alpha", tenant="acme", margin=0.2, reinforce=False).answer is None  # too close to B
    assert m.ask("query-alpha", tenant="acme", threshold=1.01, reinforce=False).answer is None
    m.answer_margin = 0.11
    assert m.ask("query-alpha", tenant="acme", reinforce=False).answer is None


def test_margin_ignores_runner_up_with_same_answer(table_mem):
    m = table_mem
    m.add(["alpha", "alpha2"], ["A", "a."], tenant="acme")  # same answer after case/punctuation folding
    res = m.ask("query-alpha", tenant="acme", k=1, reinforce=False)
    assert res.answer == "A" and res.margin == pytest.approx(1.0)
    m.add(["beta"], ["B"], tenant="acme")
    res = m.ask("query-alpha", tenant="acme", k=1, reinforce=False)  # the rival is found even with k=1
    assert len(res.hits) == 1 and res.margin == pytest.approx(0.1, abs=1e-5)


def test_min_score_drops_weak_hits(mem):
    _load(mem)
    res = mem.ask("How do I reset my password?", tenant="acme", min_score=0.5)
    assert [h.question for h in res.hits] == [FAQ[0][0]]


# ---- where filters ---------------------------------------------------------------------------------------


def test_where_filters(mem):
    metas = [
        {"lang": "en", "year": 2020},
        {"lang": "de", "year": 2022},
        {"lang": "fr", "year": 2024},
        {"lang": "en", "year": 2025},
    ]
    ids = _load(mem, metadata=metas)
    mem.add_passages(["Refunds are paid within 30 days."], tenant="acme", metadata=[{"lang": "de"}])

    def hit_ids(where):
        return {
            h.id
            for h in mem.ask("password refund office payment", tenant="acme", k=10, where=where, reinforce=False).hits
        }

    assert hit_ids({"lang": "en"}) == {ids[0], ids[3]}
    assert hit_ids({"lang": {"$eq": "de"}}) == {ids[1]}
    assert hit_ids({"lang": {"$ne": "en"}}) == {ids[1], ids[2]}
    assert hit_ids({"lang": {"$in": ["de", "fr"]}}) == {ids[1], ids[2]}
    assert hit_ids({"lang": {"$nin": ["de", "fr"]}}) == {ids[0], ids[3]}
    assert hit_ids({"year": {"$gt": 2022}}) == {ids[2], ids[3]}
    assert hit_ids({"year": {"$lt": 2022}}) == {ids[0]}
    assert hit_ids({"$and": [{"lang": "en"}, {"year": {"$gt": 2021}}]}) == {ids[3]}
    assert hit_ids({"$or": [{"lang": "fr"}, {"year": 2020}]}) == {ids[0], ids[2]}
    res = mem.ask("refund", tenant="acme", where={"lang": "en"})
    assert res.passages == []
    with pytest.raises(InvalidArgumentError):
        mem.ask("refund", tenant="acme", where={"lang": {"$regex": "e"}})
    with pytest.raises(InvalidArgumentError):
        mem.ask("refund", tenant="nobody", where=["not", "a", "dict"])


# ---- reinforce, decay, forget (MemoryBank) ---------------------------------------------------------------


def test_retention_decays_exponentially_with_fake_clock(mem, clock):
    [qid] = mem.add(["What is the wifi password?"], ["hunter2"], tenant="acme")
    assert mem.retention(qid, tenant="acme") == 1.0
    clock.t += DAY
    assert mem.retention(qid, tenant="acme") == pytest.approx(math.exp(-1))
    clock.t += DAY
    assert mem.retention(qid, tenant="acme") == pytest.approx(math.exp(-2))


def test_reinforce_raises_strength_and_resets_time(mem, clock):
    [qid] = mem.add(["What is the wifi password?"], ["hunter2"], tenant="acme")
    clock.t += 2 * DAY
    assert mem.reinforce([qid], tenant="acme") == 1
    hit = mem.get([qid], tenant="acme")[0]
    assert hit.strength == 2.0 and hit.recalled_at == clock.t and hit.retention == 1.0
    clock.t += 2 * DAY
    assert mem.retention(qid, tenant="acme") == pytest.approx(math.exp(-1))  # t=2 days, S=2


def test_ask_reinforces_recalled_pairs_only(mem, clock):
    ids = _load(mem)
    clock.t += DAY
    res = mem.ask("How do I reset my password?", tenant="acme")
    assert res.answer_id == ids[0]
    strengths = {h.id: h.strength for h in mem.memories("acme")}
    assert strengths[ids[0]] == 2.0 and all(strengths[i] == 1.0 for i in ids[1:])
    mem.ask("How do I reset my password?", tenant="acme", reinforce=False)
    assert mem.get([ids[0]], tenant="acme")[0].strength == 2.0


def test_forget_removes_memories_below_retention(mem, clock):
    ids = _load(mem)
    clock.t += DAY
    mem.reinforce([ids[0]], tenant="acme")  # S=2, t reset
    mem.reinforce([ids[1]], tenant="acme", step=4.0)  # S=5
    clock.t += 2 * DAY
    # retentions now: ids[0] e^-1 = .37, ids[1] e^-0.4 = .67, the others e^-3 = .05
    assert mem.forget(tenant="acme", threshold=0.5, dry_run=True) == sorted([ids[0], ids[2], ids[3]])
    assert mem.count("acme")["pairs"] == 4
    assert mem.forget(tenant="acme", threshold=0.1) == sorted([ids[2], ids[3]])
    assert {h.id for h in mem.memories("acme")} == {ids[0], ids[1]}
    assert mem.forget(tenant="acme", threshold=0.1) == []
    with pytest.raises(InvalidArgumentError):
        mem.forget(tenant="acme", threshold=1.5)


def test_passages_do_not_decay(mem, clock):
    mem.add_passages(["Old but gold."], tenant="acme")
    clock.t += 1000 * DAY
    mem.forget(tenant="acme", threshold=1.0)
    assert mem.count("acme")["passages"] == 1


# ---- merge, link, update, delete -------------------------------------------------------------------------


def test_merge_keeps_provenance(mem, clock):
    a = mem.add(
        ["How do I reset my password?"],
        ["Use Settings."],
        tenant="acme",
        sources=["kb/a.md"],
        metadata=[{"lang": "en"}],
    )[0]
    clock.t += 10
    b = mem.add(
        ["How can I reset my password?"],
        ["use settings"],
        tenant="acme",
        sources=["kb/b.md"],
        metadata=[{"team": "support"}],
    )[0]
    c = mem.add(["Where is the office?"], ["Berlin"], tenant="acme")[0]
    mem.link(b, c, tenant="acme")
    out = mem.merge([a, b], tenant="acme")
    assert out == {"kept": a, "merged": [b]}
    hit = mem.get([a], tenant="acme")[0]
    assert hit.strength == 2.0 and hit.merged_from == [b] and hit.source == "kb/a.md"
    assert hit.metadata == {"lang": "en", "team": "support"}
    assert mem.get([b], tenant="acme") == []
    assert c in hit.links and mem.get([c], tenant="acme")[0].links == [a]  # link redirected
    prov = mem.get([a], tenant="acme")[0]
    assert prov.created_at == clock.t - 10


def test_merge_duplicates_leaves_conflicts(mem):
    ids = mem.add(
        [
            "How do I reset my password?",
            "How do I reset my password ?",
            "how do i reset my password",
            "Where is the office?",
        ],
        ["Use Settings.", "use settings", "Call support.", "Berlin"],
        tenant="acme",
    )
    groups = mem.merge_duplicates(tenant="acme", threshold=0.95)
    assert len(groups) == 1 and set([groups[0]["kept"], *groups[0]["merged"]]) == {ids[0], ids[1]}
    left = {h.id for h in mem.memories("acme")}
    assert ids[2] in left and ids[3] in left and len(left) == 3


def test_link_unlink_related_and_delete_cleans_links(mem):
    ids = _load(mem)
    pid = mem.add_passages(["Refunds take 30 days."], tenant="acme")[0]
    mem.link(ids[1], pid, tenant="acme")
    mem.link(ids[1], ids[3], tenant="acme")
    rel = mem.related(ids[1], tenant="acme")
    assert [h.id for h in rel["pairs"]] == [ids[3]] and [p.id for p in rel["passages"]] == [pid]
    assert [h.id for h in mem.related(pid, tenant="acme")["pairs"]] == [ids[1]]
    mem.unlink(ids[1], ids[3], tenant="acme")
    assert mem.get([ids[3]], tenant="acme")[0].links == []
    assert mem.delete([ids[1]], tenant="acme") == 1
    assert mem.get_passages([pid], tenant="acme")[0].links == []
    with pytest.raises(NotFoundError):
        mem.link(ids[1], pid, tenant="acme")


def test_link_related_auto(mem):
    ids = mem.add(
        ["How do I reset my password?", "How do I reset my password on mobile?", "Where is the office?"],
        ["Settings.", "In the app settings.", "Berlin"],
        tenant="acme",
    )
    assert mem.link_related(tenant="acme", threshold=0.5) == 1
    assert mem.get([ids[0]], tenant="acme")[0].links == [ids[1]]
    new = mem.add(
        ["How to reset my password on the mobile app?"], ["App settings."], tenant="acme", link_threshold=0.5
    )[0]
    assert set(mem.get([new], tenant="acme")[0].links) >= {ids[1]}


def test_update_with_history(mem, clock):
    [qid] = mem.add(
        ["What is the support phone number?"], ["+49 30 1234"], tenant="acme", sources=["old.md"], metadata=[{"v": 1}]
    )
    clock.t += 5
    hit = mem.update(qid, tenant="acme", answer="+49 30 9999", source="new.md", metadata={"v": 2}, reason="moved")
    assert (hit.id, hit.answer, hit.source, hit.metadata, hit.versions) == (qid, "+49 30 9999", "new.md", {"v": 2}, 2)
    hist = mem.history(qid, tenant="acme")
    assert len(hist) == 1 and hist[0]["answer"] == "+49 30 1234" and hist[0]["source"] == "old.md"
    assert hist[0]["metadata"] == {"v": 1} and hist[0]["reason"] == "moved" and hist[0]["replaced_at"] == clock.t
    mem.update(qid, tenant="acme", question="How can I call the hotline?")
    assert mem.ask("call the hotline", tenant="acme").answer == "+49 30 9999"  # re-embedded
    assert len(mem.history(qid, tenant="acme")) == 2
    with pytest.raises(NotFoundError):
        mem.update(12345, tenant="acme", answer="x")


def test_delete_and_drop_tenant(mem):
    ids = _load(mem)
    pid = mem.add_passages(["p"], tenant="acme")[0]
    assert mem.delete([ids[0], pid, 999], tenant="acme") == 2
    assert mem.count("acme") == {"pairs": 3, "passages": 0}
    mem.add_passages(["q"], tenant="acme")
    assert mem.drop_tenant("acme") == 4 and mem.count("acme") == {"pairs": 0, "passages": 0}


# ---- multi-hop and context -------------------------------------------------------------------------------


def test_ask_multihop_follows_the_answer(mem):
    mem.add(
        ["Who founded Acme Rockets?", "In which city was Jane Doe born?", "What is the refund policy?"],
        ["Jane Doe", "Paris", "30 days"],
        tenant="acme",
    )
    res = mem.ask_multihop("In which city was the founder of Acme Rockets born?", tenant="acme", hops=2)
    assert [c["answer"] for c in res.chain] == ["Jane Doe", "Paris"]
    assert res.answer == "Paris"
    assert res.hits[0].answer == "Jane Doe"
    with pytest.raises(InvalidArgumentError):
        mem.ask_multihop("x", tenant="acme", hops=0)


def test_context_is_prompt_ready_and_cites_sources(mem):
    _load(mem, sources=["kb/pw.md", "kb/refund.md", None, None])
    mem.add_passages(["Refunds are processed within 30 days of the request."], tenant="acme", sources=["terms.pdf"])
    text = mem.context("What is your refund policy?", tenant="acme", k=2)
    assert "Question: What is your refund policy?" in text
    assert "[1] Q: What is your refund policy?" in text and "(source: kb/refund.md)" in text
    assert "[3] Refunds are processed" in text and "(source: terms.pdf)" in text
    assert "Full refund within 30 days." in text
    assert len(mem.context("refund", tenant="acme", max_chars=300)) <= 300
    assert "no relevant memory" in mem.context("refund", tenant="nobody")


# ---- embedder mismatch -----------------------------------------------------------------------------------


def test_embedder_mismatch_refused(db):
    QAMemory.open(db, "support")
    with pytest.raises(FailedPreconditionError, match=r"hashing-v1:dim=1024.*hashing-v1:dim=256"):
        QAMemory.open(db, "support", embedder=HashingEmbedder(dim=256))
    with pytest.raises(FailedPreconditionError, match="table-v1"):
        QAMemory.open(db, "support", embedder=TableEmbedder({}))
    assert QAMemory.open(db, "support", embedder=HashingEmbedder()).embedder.dim == 1024


def test_custom_embedder_must_be_passed_again(db):
    QAMemory.open(db, "custom", embedder=TableEmbedder({}))
    with pytest.raises(FailedPreconditionError, match="table-v1"):
        QAMemory.open(db, "custom")
    assert QAMemory.open(db, "custom", embedder=TableEmbedder({})).embedder.name == "table-v1"


def test_embedder_returning_wrong_shape_is_caught(db):
    class Bad(TableEmbedder):
        def embed_documents(self, texts):
            return np.zeros((len(texts), 3), dtype=np.float32)

    mem = QAMemory.open(db, "bad", embedder=Bad({}))
    with pytest.raises(FailedPreconditionError, match="shape"):
        mem.add(["q"], ["a"], tenant="acme")


# ---- bad input -> typed errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", ".x", "-x", "a/b", "a b", "x" * 117, None, 3])
def test_bad_memory_name(db, name):
    with pytest.raises(InvalidArgumentError):
        QAMemory.open(db, name)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"questions": "one string", "answers": ["a"]},
        {"questions": ["q1", "q2"], "answers": ["a"]},
        {"questions": ["  "], "answers": ["a"]},
        {"questions": ["q"], "answers": [""]},
        {"questions": ["q"], "answers": [None]},
        {"questions": [], "answers": []},
        {"questions": ["q"], "answers": ["a"], "tenant": ""},
        {"questions": ["q"], "answers": ["a"], "tenant": 5},
        {"questions": ["q"], "answers": ["a"], "metadata": [{"_qa": 1}]},
        {"questions": ["q"], "answers": ["a"], "metadata": {"lang": "en"}},
        {"questions": ["q"], "answers": ["a"], "metadata": [{"x": float("nan")}]},
        {"questions": ["q"], "answers": ["a"], "sources": ["s", "t"]},
        {"questions": ["q"], "answers": ["a"], "sources": [{"url": "x"}]},
        {"questions": ["q"], "answers": ["a"], "sources": [{"offset": -1}]},
        {"questions": ["q"], "answers": ["a"], "sources": [5]},
    ],
)
def test_bad_add(mem, kwargs):
    with pytest.raises(InvalidArgumentError):
        mem.add(**kwargs)
    assert mem.count() == {"pairs": 0, "passages": 0}  # nothing written


@pytest.mark.parametrize(
    "kwargs",
    [
        {"query": ""},
        {"query": None},
        {"query": "q", "k": 0},
        {"query": "q", "k": "5"},
        {"query": "q", "tenant": ""},
        {"query": "q", "threshold": "high"},
        {"query": "q", "margin": float("nan")},
        {"query": "q", "min_score": "x"},
    ],
)
def test_bad_ask(mem, kwargs):
    with pytest.raises(InvalidArgumentError):
        mem.ask(**{"tenant": "acme", **kwargs})


def test_bad_memory_operation_arguments(mem):
    ids = _load(mem)
    with pytest.raises(InvalidArgumentError):
        mem.add(["q"], ["a"], tenant="acme", link_threshold=5)
    with pytest.raises(InvalidArgumentError):
        mem.merge_duplicates(tenant="acme", threshold=2)
    with pytest.raises(InvalidArgumentError):
        mem.link_related(tenant="acme", threshold="close")
    with pytest.raises(InvalidArgumentError):
        mem.related("abc", tenant="acme")
    with pytest.raises(InvalidArgumentError):
        mem.merge(ids[:2], tenant="acme", into="x")
    with pytest.raises(InvalidArgumentError):
        mem.merge(ids[:2], tenant="acme", into=ids[2])
    with pytest.raises(InvalidArgumentError):
        mem.link(ids[0], ids[0], tenant="acme")
    with pytest.raises(InvalidArgumentError):
        mem.reinforce(ids, tenant="acme", step=0)
    with pytest.raises(InvalidArgumentError):
        mem.ask_multihop("q", tenant="acme", beam=0)
    with pytest.raises(NotFoundError):
        mem.merge([ids[0], 5], tenant="acme")
    with pytest.raises(NotFoundError):
        mem.history(5, tenant="acme")


def test_bad_clock_and_ids(db):
    with pytest.raises(InvalidArgumentError):
        QAMemory.open(db, "x", clock="now")
    with pytest.raises(InvalidArgumentError, match="colck"):
        QAMemory.open(db, "x", colck=time_now)
    with pytest.raises(InvalidArgumentError):
        QAMemory.open(db, "x", answer_threshold="high")
    with pytest.raises(InvalidArgumentError):
        QAMemory.open(db, "x", time_unit=0)
    mem = QAMemory.open(db, "y", clock=lambda: float("nan"))
    with pytest.raises(InvalidArgumentError):
        mem.add(["q"], ["a"], tenant="acme")
    with pytest.raises(InvalidArgumentError):
        QAMemory.open(db, "z").get([-1], tenant="acme")


# ---- scale: paging past max_k ----------------------------------------------------------------------------


def test_scan_pages_past_max_k(tmp_path):
    with vecdb.open(tmp_path / "small", settings=vecdb.Settings(max_k=8)) as d:
        mem = QAMemory.open(d, "support")
        ids = mem.add([f"question number {i}" for i in range(40)], [f"answer {i}" for i in range(40)], tenant="acme")
        assert {h.id for h in mem.memories("acme")} == set(ids)
        assert mem.forget(tenant="acme", threshold=0.5) == []
        assert len(mem.forget(tenant="acme", threshold=1.0, dry_run=True)) == 40  # real clock: R < 1 now


# ---- CLI -------------------------------------------------------------------------------------------------


def test_cli_add_ask_forget_stats(tmp_path, capsys):
    import json

    from vecdb.cli import main

    data = str(tmp_path / "cli")
    base = ["--data", data, "--memory", "support"]
    assert (
        main(
            [
                "qa",
                "add",
                *base,
                "--tenant",
                "acme",
                "--question",
                FAQ[0][0],
                "--answer",
                FAQ[0][1],
                "--source",
                "kb.md",
                "--metadata",
                '{"lang": "en"}',
            ]
        )
        == 0
    )
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "\n".join(
            json.dumps({"question": q, "answer": a, "tenant": t})
            for (q, a), t in zip(FAQ[1:], ["acme", "acme", "globex"], strict=True)
        )
        + "\n"
    )
    assert main(["qa", "add", *base, "--tenant", "acme", "--file", str(pairs)]) == 0
    assert main(["qa", "add-passages", *base, "--tenant", "acme", "--text", "Refunds take 30 days."]) == 0
    capsys.readouterr()
    assert main(["qa", "ask", *base, "--tenant", "acme", "--json", "how can I reset the password"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"] == FAQ[0][1] and out["hits"][0]["source"] == "kb.md"
    assert all(h["question"] != FAQ[3][0] for h in out["hits"])  # globex's pair
    assert main(["qa", "ask", *base, "--tenant", "globex", "Which payment methods do you accept?"]) == 0
    assert FAQ[3][1] in capsys.readouterr().out
    assert main(["qa", "ask", *base, "--tenant", "acme", "--context", "refund policy"]) == 0
    assert "[1] Q: What is your refund policy?" in capsys.readouterr().out
    assert main(["qa", "forget", *base, "--tenant", "acme", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["qa", "stats", *base]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["pairs"] == 4 and stats["tenants"] == 2
    assert main(["qa", "add", *base, "--tenant", "acme"]) == 1  # nothing to add: a typed error, exit 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    assert main(["qa", "add", *base, "--file", str(bad)]) == 1
    assert main(["qa", "ask", *base, "--embedder", "hashing", "--tenant", "acme", "q"]) == 0


def test_concurrent_reinforce_from_two_handles_loses_nothing(db):
    import threading

    first, second = QAMemory.open(db, "support"), db.qa_memory("support")
    [qid] = first.add(["What is the wifi password?"], ["hunter2"], tenant="acme")

    def work(mem):
        for _ in range(10):
            mem.reinforce([qid], tenant="acme")
            mem.ask("wifi password", tenant="acme", reinforce=False)

    threads = [threading.Thread(target=work, args=(m,)) for m in (first, second, first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert first.get([qid], tenant="acme")[0].strength == 41.0
