"""A Node.js client (@grpc/grpc-js + @grpc/proto-loader, reading proto/ directly) against the Python server.

Needs `node` and `npm ci --prefix tests/interop` (CI does both); skips with the reason otherwise.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import vecdb
from server.testing import running_server

INTEROP = Path(__file__).resolve().parent.parent / "interop"
KEYS = {"keys": [{"key": "admin-key", "admin": True}, {"key": "acme-key", "tenants": ["acme"]}]}


def node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the interop test needs Node.js >= 18)")
    for module in ("@grpc/grpc-js", "@grpc/proto-loader"):
        if not (INTEROP / "node_modules" / module).is_dir():
            pytest.skip(f"npm module {module} is missing: run `npm ci --prefix tests/interop`")
    return node


def test_node_client_talks_to_the_python_server(tmp_path):
    node = node_or_skip()
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(KEYS))
    with running_server(tmp_path / "db", keys=keys) as address:
        proc = subprocess.run([node, str(INTEROP / "client.js"), address, "admin-key", "acme-key"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        client = vecdb.connect(address, api_key="admin-key")
        assert client.collection("interop").count() == 4  # what Node wrote, read from Python
        (qa_id,) = client.qa_memory("support").memories(tenant="acme")
        client.close()

    assert out["create"]["name"] == "interop" and out["create"]["dim"] == 3
    assert out["upsert"]["count"] == 4
    assert out["search"]["ids"] == [2, 1] and out["search"]["complete"] is True
    assert out["search"]["distances"] == pytest.approx([0.01, 0.81], abs=1e-5)
    assert out["search_where"]["ids"] == [3]
    assert out["batch"]["num_queries"] == 2 and out["batch"]["k"] == 2
    assert out["batch"]["ids"] == [3, 4, 4, 3]
    assert out["get"] == [{"id": 3, "tenants": ["acme"], "metadata": {"lang": "de"}, "vector": [0.0, 1.0, 0.0]}]
    assert out["count"]["count"] == 3
    assert out["denied"]["error"] == "PERMISSION_DENIED"
    assert out["unauthenticated"]["error"] == "UNAUTHENTICATED"
    assert out["dim_mismatch"] == {"error": "INVALID_ARGUMENT",
                                   "details": "query has dim 2, collection 'interop' expects 3",
                                   "cls": "DimensionMismatch"}
    assert out["list"]["names"] == ["interop"]
    assert out["qa_open"]["name"] == "support" and out["qa_open"]["dim"] > 0
    assert out["qa_add"]["ids"] == [str(qa_id.id)]
    assert out["qa_ask"]["answer"] == "Settings > Security > Reset." and out["qa_ask"]["answer_id"] == str(qa_id.id)
    assert out["qa_denied"]["error"] == "PERMISSION_DENIED"
