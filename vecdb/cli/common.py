"""Options and helpers shared by sub-commands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

DEFAULT_DATA = "vecdb-data"


def add_target(parser: argparse.ArgumentParser) -> None:
    """--data DIR (embedded) or --server ADDRESS (gRPC), plus --api-key / --tls-ca for the latter."""
    group = parser.add_argument_group("where the database is")
    group.add_argument("--data", default=DEFAULT_DATA, help=f"embedded database directory (default: {DEFAULT_DATA})")
    group.add_argument("--server", help="address of a vecdb server (host:port); overrides --data")
    group.add_argument("--api-key", help="API key for --server")
    group.add_argument("--tls-ca", help="CA certificate (PEM) to verify --server over TLS")


def open_target(args: argparse.Namespace):
    """The embedded Database or a gRPC client with the same API."""
    import vecdb

    if getattr(args, "server", None):
        tls: Any = False
        if args.tls_ca:
            with open(args.tls_ca, "rb") as f:
                tls = f.read()
        return vecdb.connect(args.server, api_key=args.api_key, tls=tls)
    return vecdb.open(args.data)


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=_jsonable)
    sys.stdout.write("\n")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")
