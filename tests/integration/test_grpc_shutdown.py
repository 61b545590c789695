"""`vecdb serve` in a subprocess: SIGTERM lets in-flight calls finish, refuses new ones, closes the database;
and without --auth it serves loopback only."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import vecdb
from vecdb.cli import main as cli_main

DIM = 8
CLI = [sys.executable, "-c", "import sys; from vecdb.cli import main; sys.exit(main())"]


def start_serve(*args: str) -> tuple[subprocess.Popen, str, queue.Queue]:
    """Start `vecdb serve --port 0 ARGS`; returns (process, address, queue of its stderr lines, first
    one the "serving" banner)."""
    proc = subprocess.Popen([*CLI, "serve", "--port", "0", *args], stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        match = re.search(r"serving .* on (\S+):(\d+) ", line)
        if match:
            lines.put(line)
            return proc, f"127.0.0.1:{match.group(2)}", lines
    proc.kill()
    pytest.fail("vecdb serve did not start")


def drain(lines: queue.Queue) -> str:
    out = []
    while not lines.empty():
        out.append(lines.get())
    return "".join(out)


def test_sigterm_finishes_in_flight_calls_then_closes_the_database(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [{"key": "k", "admin": True}]}))
    proc, address, lines = start_serve("--data", str(tmp_path / "db"), "--auth", str(keys), "--grace", "20")
    try:
        client = vecdb.connect(address, api_key="k")
        col = client.create_collection("docs", dim=DIM)
        first_sent, release = threading.Event(), threading.Event()
        result: dict = {}

        def batches():
            rng = np.random.default_rng(0)
            for b in range(5):
                yield np.arange(b * 100, (b + 1) * 100), rng.standard_normal((100, DIM)), "acme"
                first_sent.set()
                release.wait(30)  # the call stays in flight across the SIGTERM

        def bulk():
            try:
                result["count"] = col.bulk_upsert(batches())
            except Exception as e:  # noqa: BLE001 - asserted below
                result["error"] = e

        writer = threading.Thread(target=bulk)
        writer.start()
        assert first_sent.wait(30)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while True:  # new calls are refused during the grace period (once the signal has been handled)
            try:
                vecdb.connect(address, api_key="k", timeout=5).close()
            except vecdb.UnavailableError:
                break
            assert time.monotonic() < deadline, "the server still accepts new calls after SIGTERM"
            time.sleep(0.1)
        assert proc.poll() is None, "the server quit with a call still in flight"
        release.set()
        writer.join(30)
        assert result == {"count": 500}
        client.close()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = drain(lines)
    assert "SIGTERM" in log and "stopped" in log
    with vecdb.open(tmp_path / "db") as db:  # closed cleanly and everything acknowledged is there
        assert db.collection("docs").count() == 500


def test_serve_without_auth_refuses_non_loopback_hosts(tmp_path, capsys):
    assert cli_main(["serve", "--data", str(tmp_path / "db"), "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err
    assert "loopback only" in err and "--auth" in err


def test_serve_rejects_half_a_tls_pair(tmp_path, capsys):
    assert cli_main(["serve", "--data", str(tmp_path / "db"), "--tls-cert", "c.pem"]) == 1
    assert "--tls-key" in capsys.readouterr().err


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigint_stops_a_loopback_server(tmp_path):
    metrics_port = free_port()
    proc, address, lines = start_serve("--data", str(tmp_path / "db"), "--metrics-port", str(metrics_port))
    try:
        client = vecdb.connect(address)
        client.create_collection("docs", dim=2)
        client.close()
        import urllib.request

        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        assert 'method="CreateCollection"' in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = drain(lines)
    assert "no auth, loopback only" in log and f"metrics on :{metrics_port}" in log and "stopped" in log


def test_repeated_signals_still_stop_the_server(tmp_path):
    """Ctrl-C pressed again while the first is being handled must not hang the server: a signal handler
    runs between two bytecodes of the main thread, maybe inside a lock that thread holds."""
    proc, _, lines = start_serve("--data", str(tmp_path / "db"))
    try:
        for _ in range(5000):  # as fast as they go: some land while an earlier one is being handled
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)  # (signals after the stop may end it by SIGINT: the point is that it ends)
    finally:
        hung = proc.poll() is None
        if hung:
            proc.kill()
    assert not hung
