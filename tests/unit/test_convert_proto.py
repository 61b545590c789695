"""The generated code in vecdb/_proto matches proto/ (run `python -m server.gen_proto` when this fails),
imports cleanly as a package, and every service, RPC and field in proto/ is documented."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from server import gen_proto

protoc = pytest.importorskip("grpc_tools.protoc", reason="grpcio-tools (dev extra) regenerates the code")


def _committed_grpc_version() -> str:
    text = (gen_proto.OUT / "v1" / "vecdb_pb2_grpc.py").read_text()
    return text.split("GRPC_GENERATED_VERSION = '")[1].split("'")[0]


def test_generated_code_is_in_sync(tmp_path):
    from importlib.metadata import version

    tools = version("grpcio-tools")
    if tools != _committed_grpc_version():
        pytest.skip(f"grpcio-tools {tools} differs from the {_committed_grpc_version()} that generated "
                    "vecdb/_proto; output would differ in version headers only")
    gen_proto.generate(tmp_path / "_proto")
    stale = gen_proto.compare(tmp_path / "_proto", gen_proto.OUT)
    assert not stale, f"run `python -m server.gen_proto`: stale files {stale}"


def test_generated_package_imports_in_a_fresh_interpreter(tmp_path):
    code = ("from vecdb._proto.v1 import types_pb2, vecdb_pb2, vecdb_pb2_grpc; "
            "print(vecdb_pb2.DESCRIPTOR.services_by_name['VecDB'].full_name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path)  # not the repo: import it as installed
    assert out.stdout.strip() == "vecdb.v1.VecDB"


def test_generated_modules_use_relative_imports():
    for path in (gen_proto.OUT / "v1").glob("*.py*"):
        assert "from vecdb.v1 import" not in path.read_text(), path.name


def _descriptor_set(tmp_path):
    from google.protobuf import descriptor_pb2

    out = tmp_path / "set.pb"
    include = Path(protoc.__file__).parent / "_proto"
    files = [str(p.relative_to(gen_proto.PROTO_ROOT)) for p in gen_proto.proto_files()]
    assert protoc.main(["protoc", f"-I{gen_proto.PROTO_ROOT}", f"-I{include}", "--include_source_info",
                        f"--descriptor_set_out={out}", *files]) == 0
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(out.read_bytes())
    return fds


def test_every_service_rpc_and_field_is_documented(tmp_path):
    undocumented = []
    for f in _descriptor_set(tmp_path).file:
        comments = {tuple(loc.path): loc.leading_comments.strip() for loc in f.source_code_info.location}
        for si, svc in enumerate(f.service):
            if not comments.get((6, si)):
                undocumented.append(f"service {svc.name}")
            for mi, method in enumerate(svc.method):
                if not comments.get((6, si, 2, mi)):
                    undocumented.append(f"rpc {svc.name}.{method.name}")
        for msi, msg in enumerate(f.message_type):
            for fi, field in enumerate(msg.field):
                if not comments.get((4, msi, 2, fi)):
                    undocumented.append(f"field {msg.name}.{field.name}")
    assert not undocumented, f"document these in proto/: {undocumented}"


def test_servicer_implements_every_rpc():
    vecdb_pb2 = importlib.import_module("vecdb._proto.v1.vecdb_pb2")
    from server.servicer import VecDBServicer

    for method in vecdb_pb2.DESCRIPTOR.services_by_name["VecDB"].methods:
        assert method.name in VecDBServicer.__dict__, f"VecDBServicer lacks {method.name}"
