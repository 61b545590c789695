"""Prometheus metrics per RPC: requests (by status code), latency, errors. Each server has its own registry,
so several servers (as in tests) can live in one process."""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

#: Latency buckets in seconds: sub-millisecond searches up to multi-second bulk loads.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Counters and a latency histogram labelled by RPC method (and status code)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("vecdb_rpc_requests", "RPCs handled, by method and status code",
                                ["method", "code"], registry=self.registry)
        self.errors = Counter("vecdb_rpc_errors", "RPCs that ended with an error status, by method and code",
                              ["method", "code"], registry=self.registry)
        self.latency = Histogram("vecdb_rpc_latency_seconds", "RPC handling time, by method", ["method"],
                                 buckets=BUCKETS, registry=self.registry)
        self._http: Any = None
        self._thread: threading.Thread | None = None

    def observe(self, method: str, code: str, seconds: float) -> None:
        self.requests.labels(method, code).inc()
        self.latency.labels(method).observe(seconds)
        if code != "OK":
            self.errors.labels(method, code).inc()

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Expose /metrics over HTTP on `port` (0 picks a free one); returns the port."""
        self._http, self._thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._http.server_port)

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
