"""API keys and tenant isolation on every RPC, and TLS."""

from __future__ import annotations

import datetime
import json

import grpc
import numpy as np
import pytest

import vecdb
from server.testing import started_server
from vecdb._proto.v1 import qa_memory_pb2, qa_memory_pb2_grpc, vecdb_pb2, vecdb_pb2_grpc

DIM = 4
KEYS = {"keys": [{"key": "admin-key", "admin": True},
                 {"key": "acme-key", "tenants": ["acme"]},
                 {"key": "multi-key", "tenants": ["acme", "initech"]}]}


@pytest.fixture
def server(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(KEYS))
    db = vecdb.open(tmp_path / "db")
    col = db.create_collection("docs", dim=DIM)
    # ids 0-9: acme only; 10-19: globex only; 20-24: shared by acme and globex
    tenants = [["acme"]] * 10 + [["globex"]] * 10 + [["acme", "globex"]] * 5
    col.upsert(np.arange(25), np.random.default_rng(0).standard_normal((25, DIM)), tenants=tenants)
    with started_server(db, keys=keys) as (srv, address):
        yield srv, address


def clients(address):
    return {name: vecdb.connect(address, api_key=f"{name}-key") for name in ("admin", "acme", "multi")}


def test_every_rpc_refuses_a_missing_or_wrong_key(server):
    _, address = server
    channel = grpc.insecure_channel(address)
    services = [(vecdb_pb2_grpc.VecDBStub(channel), vecdb_pb2, "VecDB"),
                (qa_memory_pb2_grpc.QAMemoryStub(channel), qa_memory_pb2, "QAMemory")]
    for metadata in [(), (("authorization", "Bearer wrong"),), (("authorization", "Basic admin-key"),),
                     (("x-api-key", "nope"),)]:
        for stub, module, name in services:
            for method in module.DESCRIPTOR.services_by_name[name].methods:
                request = getattr(module, method.input_type.name)()
                call = getattr(stub, method.name)
                with pytest.raises(grpc.RpcError) as info:
                    call(iter([request]) if method.client_streaming else request, metadata=metadata, timeout=10)
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, method.name
    channel.close()


def test_client_errors_for_bad_keys(server):
    _, address = server
    for key in (None, "wrong"):
        client = vecdb.connect(address, api_key=key)  # health checks need no key
        with pytest.raises(vecdb.UnauthenticatedError):
            client.list_collections()
        client.close()


def test_x_api_key_header_is_accepted(server):
    _, address = server
    channel = grpc.insecure_channel(address)
    reply = vecdb_pb2_grpc.VecDBStub(channel).ListCollections(
        vecdb_pb2.ListCollectionsRequest(), metadata=(("x-api-key", "acme-key"),), timeout=10)
    assert list(reply.names) == ["docs"]
    channel.close()


def test_admin_key_can_do_everything(server):
    _, address = server
    admin = clients(address)["admin"]
    col = admin.collection("docs")
    assert col.count() == 25 and col.tenants() == ["acme", "globex"]
    assert len(col.get([10, 20])) == 2 and col.stats()["vectors"] == 25
    admin.create_collection("tmp", dim=2)
    admin.drop_collection("tmp")


def test_tenant_key_is_confined_to_its_tenants_on_every_rpc(server):
    _, address = server
    acme = clients(address)["acme"].collection("docs")
    other_vec = np.zeros((1, DIM))
    denied = {
        "search other": lambda: acme.search(np.zeros(DIM), tenant="globex"),
        "search default": lambda: acme.search(np.zeros(DIM)),
        "search_batch": lambda: acme.search_batch(np.zeros((2, DIM)), tenant="globex"),
        "search_batch filtered": lambda: acme.search_batch(np.zeros((2, DIM)), tenant="globex", where={"a": 1}),
        "upsert other": lambda: acme.upsert([100], other_vec, tenants="globex"),
        "upsert default": lambda: acme.upsert([100], other_vec),
        "upsert mixed": lambda: acme.upsert([100], other_vec, tenants=[["acme", "globex"]]),
        "upsert replacing globex's id": lambda: acme.upsert([10], other_vec, tenants="acme"),
        "upsert replacing a shared id": lambda: acme.upsert([20], other_vec, tenants="acme"),
        "bulk_upsert other": lambda: acme.bulk_upsert([([102], other_vec, "globex"), ([101], other_vec, "acme")]),
        "delete all tenants": lambda: acme.delete([10]),
        "delete other": lambda: acme.delete([10], tenant="globex"),
        "get all tenants": lambda: acme.get([10]),
        "get other": lambda: acme.get([10], tenant="globex"),
        "grant to other": lambda: acme.grant([0], "globex"),
        "revoke other": lambda: acme.revoke([20], "globex"),
        "drop other tenant": lambda: acme.drop_tenant("globex"),
        "count all": lambda: acme.count(),
        "count other": lambda: acme.count(tenant="globex"),
        "collection stats": lambda: acme.stats(),
        "all ids": lambda: acme.ids(),
        "other tenant's ids": lambda: acme.ids(tenant="globex"),
        "metadata of a shared id": lambda: acme.update_metadata([20], [{"x": 1}]),
    }
    for what, call in denied.items():
        with pytest.raises(vecdb.PermissionDeniedError):
            call()
            pytest.fail(f"{what} was allowed")
    client = clients(address)["acme"]
    for what, call in {"create": lambda: client.create_collection("x", dim=2),
                       "drop": lambda: client.drop_collection("docs"),
                       "db stats": lambda: client.stats()}.items():
        with pytest.raises(vecdb.PermissionDeniedError, match="admin"):
            call()
            pytest.fail(f"{what} was allowed")
    # the refused writes changed nothing
    admin = clients(address)["admin"].collection("docs")
    assert admin.count() == 25 and admin.count(tenant="globex") == 15
    assert admin.get([10])[0].tenants == ["globex"] and admin.get([20])[0].tenants == ["acme", "globex"]


def test_grant_of_ids_the_tenant_cannot_see_looks_like_not_found(server):
    _, address = server
    acme = clients(address)["acme"].collection("docs")
    with pytest.raises(vecdb.NotFoundError, match="id 10 not found"):
        acme.grant([0, 10], "acme")
    multi = clients(address)["multi"].collection("docs")
    assert multi.grant([0, 1], "initech") == 2  # ids acme sees, shared with its other tenant
    with pytest.raises(vecdb.NotFoundError):
        multi.grant([11], "initech")


def test_tenant_key_sees_only_its_own_data(server):
    _, address = server
    acme = clients(address)["acme"].collection("docs")
    assert acme.ids(tenant="acme").tolist() == list(range(10)) + list(range(20, 25))
    with pytest.raises(vecdb.NotFoundError, match="id 10 not found"):  # globex's id looks absent
        acme.update_metadata([0, 10], [{"x": 1}, {"x": 1}])
    assert acme.update_metadata([0], [{"x": 1}]) == 1
    res = acme.search(np.zeros(DIM), k=100, tenant="acme")
    assert sorted(res.ids.tolist()) == list(range(10)) + list(range(20, 25))
    ids, _ = acme.search_batch(np.zeros((3, DIM)), k=100, tenant="acme")
    assert set(ids[ids >= 0].tolist()) == set(range(10)) | set(range(20, 25))
    recs = acme.get([0, 10, 20], tenant="acme")
    assert [r.id for r in recs] == [0, 20]
    assert recs[1].tenants == ["acme"]  # globex's name is not revealed
    assert acme.count(tenant="acme") == 15
    assert acme.tenants() == ["acme"]
    assert clients(address)["acme"].list_collections() == ["docs"]


def test_tenant_key_writes_stay_in_its_tenants(server):
    _, address = server
    acme = clients(address)["acme"].collection("docs")
    assert acme.upsert([100, 101], np.ones((2, DIM)), tenants="acme", metadata=[{"a": 1}, None]) == 2
    assert acme.upsert([0], np.ones((1, DIM)), tenants=["acme"]) == 1  # its own id: replace is fine
    assert acme.bulk_upsert([([102], np.ones((1, DIM)), "acme")]) == 1
    assert acme.delete([20], tenant="acme") == 1  # shared: globex keeps it
    assert acme.revoke([21], "acme") == 1
    admin = clients(address)["admin"].collection("docs")
    assert admin.get([20, 21])[0].tenants == ["globex"] and admin.count(tenant="globex") == 15
    assert acme.drop_tenant("acme") > 0
    assert admin.count(tenant="globex") == 15
    multi = clients(address)["multi"].collection("docs")
    assert multi.upsert([200], np.ones((1, DIM)), tenants=[["acme", "initech"]]) == 1


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_tls_with_keys(tmp_path):
    pytest.importorskip("cryptography")
    cert, key = _self_signed(tmp_path)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(KEYS))
    with started_server(tmp_path / "db", host="localhost", keys=keys, tls_cert=cert, tls_key=key) as (_, address):
        client = vecdb.connect(address, api_key="admin-key", tls=cert)
        client.create_collection("docs", dim=2).upsert([1], [[1.0, 2.0]])
        assert client.collection("docs").search([1.0, 2.0], k=1).ids.tolist() == [1]
        client.close()
        with pytest.raises(vecdb.UnavailableError):
            vecdb.connect(address, api_key="admin-key", timeout=5)  # plaintext to a TLS port


def test_bad_keys_files_are_rejected(tmp_path):
    from server.auth import KeyStore

    bad = [{"keys": [{"key": ""}]}, {"keys": [{"key": "a"}]}, {"keys": [{"key": "a", "tenants": "acme"}]},
           {"keys": [{"key": "a", "admin": True}, {"key": "a", "admin": True}]}, {"nokeys": []}]
    for doc in bad:
        path = tmp_path / "k.json"
        path.write_text(json.dumps(doc))
        with pytest.raises(vecdb.InvalidArgumentError):
            KeyStore.load(path)
    with pytest.raises(vecdb.InvalidArgumentError, match="cannot read"):
        KeyStore.load(tmp_path / "missing.json")


def test_principal_rules():
    from server.auth import OPEN_ACCESS, Principal, extract_key

    key = Principal(admin=False, tenants=frozenset({"acme", "initech"}))
    key.check_tenants(["acme", "initech"])
    with pytest.raises(vecdb.PermissionDeniedError, match="'globex'"):
        key.check_tenants(["acme", "globex"])
    with pytest.raises(vecdb.PermissionDeniedError, match="must name a tenant"):
        key.scoped_tenant(None, "Get")
    assert key.scoped_tenant("acme", "Get") == "acme" and key.visible() == {"acme", "initech"}
    with pytest.raises(vecdb.PermissionDeniedError, match="admin"):
        key.require_admin("Stats")
    assert OPEN_ACCESS.scoped_tenant(None, "Get") is None and OPEN_ACCESS.visible() is None
    assert extract_key([("authorization", "Bearer  k1 ")]) == "k1"
    assert extract_key([("authorization", "bearer k2")]) == "k2"
    assert extract_key([("x-api-key", "k3")]) == "k3"
    assert extract_key([("authorization", "Basic k4"), ("other", "x")]) is None
