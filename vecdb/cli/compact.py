"""`vecdb compact`: shrink a closed embedded database in place, giving back the space deleted data held."""

from __future__ import annotations

import argparse

import vecdb


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compact", help="shrink a closed database in place", description=__doc__)
    p.add_argument("--data", default="vecdb-data", help="database directory (default: vecdb-data)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sizes = vecdb.compact(args.data)
    before, after = sizes["before_bytes"] / 1e6, sizes["after_bytes"] / 1e6
    print(f"compacted {args.data}: {before:.1f} MB -> {after:.1f} MB")
    return 0
