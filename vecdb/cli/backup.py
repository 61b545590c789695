"""`vecdb backup DEST`: a consistent, compacted copy of an embedded database, taken while it is in use."""

from __future__ import annotations

import argparse

import vecdb


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="write a compacted copy of the database", description=__doc__)
    p.add_argument("dest", help="new (or empty) directory for the copy")
    p.add_argument("--data", default="vecdb-data", help="database directory (default: vecdb-data)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with vecdb.open(args.data) as db:
        dest = db.backup(args.dest)
    print(f"backup written to {dest}")
    return 0
