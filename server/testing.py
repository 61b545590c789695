"""A server running in a background thread, for tests and notebooks.

>>> with running_server(vecdb.open(tmp_path)) as address:
...     client = vecdb.connect(address)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vecdb import Database

from .main import VecDBServer, create_server


@contextmanager
def running_server(db: Database | str | Path, host: str = "127.0.0.1", **options: Any) -> Iterator[str]:
    """Serve `db` on a free loopback port for the duration of the block; yields "host:port".

    `options` go to `create_server` (keys=, tls_cert=, tls_key=, metrics_port=, max_message_bytes=...).
    The server is stopped on exit (closing the database only if it was given as a path).
    """
    with started_server(db, host, **options) as (_, address):
        yield address


@contextmanager
def started_server(db: Database | str | Path, host: str = "127.0.0.1",
                   **options: Any) -> Iterator[tuple[VecDBServer, str]]:
    """Like `running_server`, but yields (server, address) for tests that need the server object."""
    server, port = create_server(db, f"{host}:0", **options)
    server.start()
    try:
        yield server, f"{host}:{port}"
    finally:
        server.stop(grace=2)
