"""Build, run and stop the vecdb gRPC server.

>>> server, port = create_server(vecdb.open("data/"), "127.0.0.1:0")   # port 0: pick a free port
>>> server.start(); ...; server.stop(grace=5)

`serve()` runs one until SIGTERM / SIGINT, then stops gracefully: the health service turns NOT_SERVING,
new calls are refused, in-flight calls get `grace` seconds to finish, and the database is closed.
`main()` is the container entry point (``python -m server.main``); it is the only code in vecdb that reads
environment variables (VECDB_DATA, VECDB_HOST, VECDB_PORT, VECDB_AUTH, VECDB_TLS_CERT, VECDB_TLS_KEY,
VECDB_METRICS_PORT), which become the defaults of the `vecdb serve` options.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

import vecdb
from vecdb import Database, Settings
from vecdb._proto.v1 import qa_memory_pb2, qa_memory_pb2_grpc, vecdb_pb2, vecdb_pb2_grpc
from vecdb.errors import InvalidArgumentError, UnavailableError

from .auth import KeyStore
from .metrics import Metrics
from .qa_servicer import QAMemoryServicer
from .servicer import ServerContext, VecDBServicer

log = logging.getLogger("vecdb.server")

DEFAULT_PORT = 7431
#: Largest request or reply, in bytes; bigger messages fail with RESOURCE_EXHAUSTED (raised by gRPC).
DEFAULT_MAX_MESSAGE_BYTES = 64 << 20
DEFAULT_GRACE = 30.0
SERVICE_NAME = vecdb_pb2.DESCRIPTOR.services_by_name["VecDB"].full_name
QA_SERVICE_NAME = qa_memory_pb2.DESCRIPTOR.services_by_name["QAMemory"].full_name


class VecDBServer:
    """A gRPC server with the VecDB, health and reflection services, and optional metrics endpoint."""

    def __init__(self, grpc_server: grpc.Server, ctx: ServerContext, health_servicer: health.HealthServicer,
                 metrics_port: int | None, owns_db: bool):
        self.grpc_server, self.ctx, self.health = grpc_server, ctx, health_servicer
        self.metrics_port = metrics_port
        self._owns_db = owns_db
        self._stop_lock = threading.Lock()
        self._stopped = False

    @property
    def db(self) -> Database:
        return self.ctx.db

    def start(self) -> VecDBServer:
        """Start serving (and expose /metrics when a metrics port was given)."""
        if self.metrics_port is not None and self.ctx.metrics is not None:
            self.metrics_port = self.ctx.metrics.serve(self.metrics_port)
        self.grpc_server.start()
        for name in ("", SERVICE_NAME, QA_SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self

    def stop(self, grace: float | None = DEFAULT_GRACE) -> None:
        """Refuse new calls, let in-flight ones finish for up to `grace` seconds, then release everything
        (closing the database if this server opened it). Safe to call twice, from any thread: a second
        call returns once the first has finished."""
        with self._stop_lock:
            if self._stopped:
                return
            self.health.enter_graceful_shutdown()
            self.grpc_server.stop(grace).wait()
            if self.ctx.metrics is not None:
                self.ctx.metrics.stop()
            if self._owns_db:
                self.ctx.db.close()
            self._stopped = True

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until the server stops or `timeout` passes; True if it timed out (grpc's convention)."""
        return bool(self.grpc_server.wait_for_termination(timeout))


def create_server(db: Database | str | Path, address: str = f"[::]:{DEFAULT_PORT}", *,
                  settings: Settings | None = None, keys: KeyStore | str | Path | None = None,
                  tls_cert: bytes | None = None, tls_key: bytes | None = None,
                  metrics_port: int | None = None, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                  max_workers: int = 16) -> tuple[VecDBServer, int]:
    """A server (not yet started) for `db` (a Database, or a directory to open) bound to `address`.

    Returns (server, port); bind "127.0.0.1:0" to let the OS pick the port. `keys` is a KeyStore or the
    path of a keys.json (None: no authentication). TLS is on when both `tls_cert` and `tls_key` (PEM bytes)
    are given. `metrics_port`: serve Prometheus /metrics on that port once started (0 picks a free one,
    None disables it).
    """
    owns_db = not isinstance(db, Database)
    database = db if isinstance(db, Database) else vecdb.open(db, settings=settings)
    if isinstance(keys, (str, Path)):
        keys = KeyStore.load(keys)
    if (tls_cert is None) != (tls_key is None):
        raise InvalidArgumentError("TLS needs both a certificate and its private key")
    metrics = Metrics()
    ctx = ServerContext(database, keys, metrics, max_message_bytes)
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes),
               ("grpc.so_reuseport", 0)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="vecdb-rpc"),
                         options=options)
    vecdb_pb2_grpc.add_VecDBServicer_to_server(VecDBServicer(ctx), server)
    qa_memory_pb2_grpc.add_QAMemoryServicer_to_server(QAMemoryServicer(ctx), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, QA_SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )
    cause: RuntimeError | None = None
    try:
        if tls_cert is not None and tls_key is not None:
            port = server.add_secure_port(address, grpc.ssl_server_credentials([(tls_key, tls_cert)]))
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as e:  # grpc raises on a port in use
        port, cause = 0, e
    if not port:
        if owns_db:
            database.close()
        raise UnavailableError(f"cannot listen on {address}: the address is in use or invalid") from cause
    return VecDBServer(server, ctx, health_servicer, metrics_port, owns_db), port


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(data: str | Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, auth: str | Path | None = None,
          tls_cert: str | Path | None = None, tls_key: str | Path | None = None, metrics_port: int | None = None,
          settings: Settings | None = None, grace: float = DEFAULT_GRACE, out: Any = None) -> int:
    """Serve the database in `data` until SIGTERM or SIGINT, then shut down gracefully. Returns 0.

    Without `auth` (a keys.json path) only a loopback `host` is accepted.
    """
    out = out or sys.stderr
    # OpenMP's default spin-waiting made Numba's parallel kernels 3-20x slower on a busy 2-core machine
    # (they spin against the RPC threads); passive waiting costs nothing measurable when idle. It must be
    # set before the first parallel kernel runs, which is after this point.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if auth is None and not is_loopback(host):
        raise InvalidArgumentError(
            f"refusing to serve on {host!r} without --auth: without API keys vecdb serves loopback only "
            "(127.0.0.1 / ::1); pass --auth keys.json to listen on other addresses"
        )
    keys = KeyStore.load(auth) if auth is not None else None
    cert = Path(tls_cert).read_bytes() if tls_cert else None
    key = Path(tls_key).read_bytes() if tls_key else None
    address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    server, bound = create_server(data, address, settings=settings, keys=keys, tls_cert=cert, tls_key=key,
                                  metrics_port=metrics_port or None)
    server.start()
    # The handler only notes the signal: it runs between two bytecodes of the main thread, maybe inside a
    # lock that thread holds (a second Ctrl-C inside the first's Event.set deadlocked), so the main loop
    # below does the rest.
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    mode = f"{len(keys)} API keys" if keys is not None else "no auth, loopback only"
    tls = "TLS" if cert else "plaintext"
    metrics = f", metrics on :{server.metrics_port}/metrics" if server.metrics_port else ""
    print(f"vecdb: serving {str(data)!r} on {host}:{bound} ({mode}, {tls}{metrics})", file=out, flush=True)
    try:
        # Short waits keep the main thread responsive to signals; True means "timed out, still serving".
        stopping = False
        while server.wait_for_termination(timeout=0.1 if received else 0.5):
            if received and not stopping:
                stopping = True
                print(f"vecdb: {signal.Signals(received[0]).name}: finishing in-flight requests (up to {grace:g}s)...",
                      file=out, flush=True)
                threading.Thread(target=server.stop, args=(grace,), name="vecdb-shutdown", daemon=True).start()
        server.stop(grace)  # waits until the shutdown thread has closed the database
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("vecdb: stopped", file=out, flush=True)
    return 0


def _env_defaults(env: dict[str, str]) -> dict[str, Any]:
    """`vecdb serve` option defaults from VECDB_* environment variables."""
    names = {"VECDB_DATA": "data", "VECDB_HOST": "host", "VECDB_PORT": "port", "VECDB_AUTH": "auth",
             "VECDB_TLS_CERT": "tls_cert", "VECDB_TLS_KEY": "tls_key", "VECDB_METRICS_PORT": "metrics_port"}
    out: dict[str, Any] = {}
    for var, dest in names.items():
        if env.get(var):
            out[dest] = int(env[var]) if dest.endswith("port") else env[var]
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m server.main``: `vecdb serve` with defaults taken from VECDB_* environment variables."""
    import argparse

    from vecdb.cli.serve import add_arguments, run

    parser = argparse.ArgumentParser(prog="python -m server.main", description="Run the vecdb gRPC server.")
    add_arguments(parser)
    parser.set_defaults(**_env_defaults(dict(os.environ)))
    args = parser.parse_args(argv)
    try:
        return run(args)
    except vecdb.VecDBError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
