"""QA memory over gRPC: `client.qa_memory(name)` has the `QAMemory` API, gives the embedded results, and
keeps tenant keys inside their tenants."""

from __future__ import annotations

import inspect
import json

import grpc
import pytest

import vecdb
from server.testing import running_server
from vecdb._proto.v1 import qa_memory_pb2, qa_memory_pb2_grpc
from vecdb.client import RemoteQAMemory
from vecdb.qa_memory import AskResult, Hit, Passage, QAMemory

KEYS = {"keys": [{"key": "admin-key", "admin": True}, {"key": "acme-key", "tenants": ["acme"]}]}
QUESTIONS = ["How do I reset my password?", "Where is the office?", "Who founded Initech?",
             "Where was Bill Lumbergh born?"]
ANSWERS = ["Settings > Security > Reset password.", "Berlin", "Bill Lumbergh", "Austin, Texas"]


@pytest.fixture
def served(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(KEYS))
    db = vecdb.open(tmp_path / "db")
    with running_server(db, keys=keys) as address:
        admin = vecdb.connect(address, api_key="admin-key")
        acme = vecdb.connect(address, api_key="acme-key")
        yield db, admin, acme, address
        admin.close()
        acme.close()


def test_remote_memory_has_every_public_method_with_the_same_parameters():
    for name, method in inspect.getmembers(QAMemory, inspect.isfunction):
        if name.startswith("_"):
            continue
        assert hasattr(RemoteQAMemory, name), f"RemoteQAMemory lacks {name}"
        local = list(inspect.signature(method).parameters)
        remote = list(inspect.signature(getattr(RemoteQAMemory, name)).parameters)
        assert remote == local, (name, remote, local)


def test_remote_results_match_the_embedded_memory(served):
    db, admin, _, _ = served
    mem = admin.qa_memory("support")
    ids = mem.add(QUESTIONS, ANSWERS, tenant="acme", sources=["faq.md", None, {"source": "wiki"}, None],
                  metadata=[{"lang": "en"}, None, None, {"lang": "en"}])
    pids = mem.add_passages(["The office is in Berlin.", "Initech was founded in 1990."], tenant="acme",
                            sources=["handbook", None])
    local = db.qa_memory("support")
    assert ids == local.add(QUESTIONS, ANSWERS, tenant="acme")  # content ids: same pairs, same ids
    res = mem.ask("how can I reset my password", tenant="acme", reinforce=False)
    ref = local.ask("how can I reset my password", tenant="acme", reinforce=False)
    assert isinstance(res, AskResult) and all(isinstance(h, Hit) for h in res.hits)
    assert all(isinstance(p, Passage) for p in res.passages)
    assert res.answer == ref.answer == ANSWERS[0] and res.answer_id == ids[0]
    assert [h.id for h in res.hits] == [h.id for h in ref.hits]
    assert [h.score for h in res.hits] == pytest.approx([h.score for h in ref.hits])
    assert [p.id for p in res.passages] == [p.id for p in ref.passages]
    assert res.hits[0].source == "faq.md" and res.hits[0].metadata == {"lang": "en"}
    assert mem.context("where is the office", tenant="acme", k=2) == local.context("where is the office",
                                                                                   tenant="acme", k=2)
    assert mem.get_passages(pids, tenant="acme")[0].source == "handbook"
    assert [h.id for h in mem.memories(tenant="acme", where={"lang": "en"})] == \
        [h.id for h in local.memories(tenant="acme", where={"lang": "en"})]
    assert mem.count(tenant="acme") == local.count(tenant="acme") == {"pairs": 4, "passages": 2}
    assert mem.tenants() == ["acme"] and mem.stats()["pairs"] == 4
    multi = mem.ask_multihop("Where was the founder of Initech born?", tenant="acme", reinforce=False)
    assert multi.chain == local.ask_multihop("Where was the founder of Initech born?", tenant="acme",
                                             reinforce=False).chain


def test_memory_operations_over_the_wire(served):
    db, admin, _, _ = served
    mem = admin.qa_memory("ops")
    ids = mem.add(QUESTIONS, ANSWERS, tenant="acme")
    (pid,) = mem.add_passages(["Berlin is the capital."], tenant="acme")
    assert mem.reinforce(ids[:2], tenant="acme", step=2.0) == 2
    assert mem.get([ids[0]], tenant="acme")[0].strength == pytest.approx(3.0)
    assert 0.0 < mem.retention(ids[0], tenant="acme") <= 1.0
    mem.link(ids[1], pid, tenant="acme")
    assert [p.id for p in mem.related(ids[1], tenant="acme")["passages"]] == [pid]
    mem.unlink(ids[1], pid, tenant="acme")
    assert mem.related(ids[1], tenant="acme") == {"pairs": [], "passages": []}
    hit = mem.update(ids[1], tenant="acme", answer="Berlin, Germany", metadata={"v": 2}, reason="precise")
    assert (hit.answer, hit.versions, hit.metadata) == ("Berlin, Germany", 2, {"v": 2})
    assert mem.history(ids[1], tenant="acme")[0]["reason"] == "precise"
    assert mem.link_related(tenant="acme", threshold=0.0, k=1) >= 1
    assert mem.merge(ids[2:], tenant="acme", into=ids[2]) == {"kept": ids[2], "merged": [ids[3]]}
    assert mem.merge_duplicates(tenant="acme") == []
    assert mem.forget(tenant="acme", threshold=1.0, dry_run=True) == sorted(ids[:3])
    assert mem.delete([ids[0]], tenant="acme") == 1
    assert mem.drop_tenant("acme") == 3
    assert db.qa_memory("ops").count() == {"pairs": 0, "passages": 0}


def test_errors_round_trip(served):
    _, admin, _, address = served
    mem = admin.qa_memory("errs")
    with pytest.raises(vecdb.InvalidArgumentError):
        mem.ask("", tenant="acme")
    with pytest.raises(vecdb.InvalidArgumentError):
        mem.add(["q1", "q2"], ["only one answer"])
    with pytest.raises(vecdb.NotFoundError):
        mem.history(12345, tenant="acme")
    with pytest.raises(vecdb.InvalidArgumentError, match="embedder"):
        admin.qa_memory("other", embedder="no-such-embedder")
    with pytest.raises(vecdb.InvalidArgumentError):
        mem.ask_multihop("q", hops=0)
    channel = grpc.insecure_channel(address)
    stub = qa_memory_pb2_grpc.QAMemoryStub(channel)
    with pytest.raises(grpc.RpcError) as info:  # only Open creates a memory
        stub.Ask(qa_memory_pb2.QAAskRequest(memory="never-opened", query="q"),
                 metadata=(("authorization", "Bearer admin-key"),), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        stub.Ask(qa_memory_pb2.QAAskRequest(memory="errs", query="q"), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    channel.close()


def test_tenant_key_is_confined_to_its_tenants(served):
    _, admin, acme, _ = served
    with pytest.raises(vecdb.PermissionDeniedError, match="admin"):
        acme.qa_memory("new-memory")  # creating a memory is an admin operation
    admin_mem = admin.qa_memory("shared")
    secret = admin_mem.add(["What is the launch code?"], ["0000"], tenant="globex")
    mem = acme.qa_memory("shared")  # opening an existing memory is fine
    mine = mem.add(["Where is the office?"], ["Berlin"], tenant="acme")
    denied = [
        lambda: mem.ask("launch code", tenant="globex"),
        lambda: mem.ask("launch code"),  # the "default" tenant is not acme's
        lambda: mem.context("launch code", tenant="globex"),
        lambda: mem.add(["q"], ["a"], tenant="globex"),
        lambda: mem.get(secret, tenant="globex"),
        lambda: mem.delete(secret, tenant="globex"),
        lambda: mem.drop_tenant("globex"),
        lambda: mem.count(),
        lambda: mem.stats(),
        lambda: mem.merge(secret, tenant="globex"),
    ]
    for call in denied:
        with pytest.raises(vecdb.PermissionDeniedError):
            call()
    assert mem.get(secret, tenant="acme") == []  # another tenant's id is simply not there
    assert mem.delete(secret, tenant="acme") == 0
    assert mem.tenants() == ["acme"] and admin_mem.tenants() == ["acme", "globex"]
    assert mem.ask("what is the launch code", tenant="acme").answer != "0000"
    assert mem.count(tenant="acme")["pairs"] == 1 and mem.get(mine, tenant="acme")[0].answer == "Berlin"
    assert admin_mem.get(secret, tenant="globex")[0].answer == "0000"
