"""`vecdb serve`: run the gRPC server (needs the `server` extra: pip install "vecdb[server]")."""

from __future__ import annotations

import argparse
import logging

from .common import DEFAULT_DATA

DEFAULT_PORT = 7431


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=DEFAULT_DATA, help=f"database directory (default: {DEFAULT_DATA})")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1; others need --auth)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"gRPC port (default: {DEFAULT_PORT})")
    parser.add_argument("--auth", metavar="KEYS_JSON",
                        help='API keys file: {"keys": [{"key": "...", "admin": true}, '
                             '{"key": "...", "tenants": ["acme"]}]}; without it only loopback is served')
    parser.add_argument("--tls-cert", metavar="PEM", help="TLS certificate chain (PEM); needs --tls-key")
    parser.add_argument("--tls-key", metavar="PEM", help="TLS private key (PEM); needs --tls-cert")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus /metrics on this port (default: off; 0 also means off)")
    parser.add_argument("--grace", type=float, default=30.0,
                        help="seconds in-flight requests get to finish on SIGTERM (default: 30)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the gRPC server",
                                   description="Serve a database over gRPC until SIGTERM / Ctrl-C.")
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InvalidArgumentError

    if bool(args.tls_cert) != bool(args.tls_key):
        raise InvalidArgumentError("--tls-cert and --tls-key go together")
    try:
        from server.main import serve
    except ModuleNotFoundError as e:
        raise InvalidArgumentError(
            f"vecdb serve needs the server extra ({e.name} is missing): pip install 'vecdb[server]'"
        ) from e
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args.data, args.host, args.port, auth=args.auth, tls_cert=args.tls_cert, tls_key=args.tls_key,
                 metrics_port=args.metrics_port, grace=args.grace)
