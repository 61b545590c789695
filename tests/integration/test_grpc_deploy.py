"""deploy/ stays consistent with the server: the Docker HEALTHCHECK really probes a live server, and the
Kubernetes and compose files use the ports, paths and options `vecdb serve` understands.
(Docker and Kubernetes themselves cannot run in CI.)"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from server.main import _env_defaults
from server.testing import running_server
from vecdb.cli.serve import add_arguments

DEPLOY = Path(__file__).resolve().parent.parent.parent / "deploy"


def healthcheck_command() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text()
    match = re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", text, re.M)
    assert match, "Dockerfile has no exec-form HEALTHCHECK"
    return json.loads(match.group(1))


def test_docker_healthcheck_probes_the_grpc_health_service(tmp_path):
    cmd = healthcheck_command()
    assert cmd[0] == "python"
    with running_server(tmp_path / "db") as address:
        env = {**os.environ, "VECDB_PORT": address.rsplit(":", 1)[1]}
        assert subprocess.run([sys.executable, *cmd[1:]], env=env, timeout=30).returncode == 0
    failed = subprocess.run([sys.executable, *cmd[1:]], env=env, timeout=30, capture_output=True)
    assert failed.returncode != 0  # nothing listening any more


def test_dockerfile_runs_as_non_root_with_a_data_volume():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root|0\b)", text, re.M)
    assert 'VOLUME ["/data"]' in text and "VECDB_DATA=/data" in text
    assert 'ENTRYPOINT ["python", "-m", "server.main"]' in text


def test_env_defaults_become_serve_options():
    defaults = _env_defaults({"VECDB_DATA": "/data", "VECDB_HOST": "0.0.0.0", "VECDB_PORT": "7431",
                              "VECDB_AUTH": "/k.json", "VECDB_METRICS_PORT": "9090", "OTHER": "x"})
    assert defaults == {"data": "/data", "host": "0.0.0.0", "port": 7431, "auth": "/k.json", "metrics_port": 9090}


def test_kubernetes_manifests_match_the_server():
    yaml = pytest.importorskip("yaml")
    docs = [d for f in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    sts = next(d for d in docs if d["kind"] == "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": args.port, "metrics": args.metrics_port}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["grpc"]["port"] == args.port
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["data"] == args.data
    assert Path(args.auth).parent == Path(mounts["keys"])
    keys_volume = next(v for v in pod["volumes"] if v["name"] == "keys")
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert keys_volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert json.loads(secret["stringData"]["keys.json"])["keys"]
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert pod["securityContext"]["runAsNonRoot"] is True
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for svc in (d for d in docs if d["kind"] == "Service"):
        assert svc["spec"]["selector"].items() <= labels.items()


def test_compose_file_matches_the_server():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    svc = compose["services"]["vecdb"]
    assert "7431:7431" in svc["ports"] and any(v.endswith(":/data") for v in svc["volumes"])
    assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parser.parse_args(svc["command"])
    assert json.loads((DEPLOY / "keys.example.json").read_text())["keys"]
