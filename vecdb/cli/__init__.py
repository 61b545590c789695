"""The `vecdb` command line. Each sub-command lives in its own module with a `register(subparsers)`
function, and calls only the public API (`vecdb.open` / `vecdb.connect`), as a user's script would."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import VecDBError

#: Sub-command modules, in the order `vecdb --help` lists them.
COMMANDS = ("demo", "serve", "ingest", "search", "stats", "backup", "compact", "qa")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vecdb", description="vecdb: a multi-tenant vector database.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue  # a command whose module is not part of this build
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except VecDBError as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `vecdb search ... | head`: the reader left; exit quietly as Unix tools do.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 141
