"""`vecdb stats`: collections, counts, tenants, memory and disk use, as JSON."""

from __future__ import annotations

import argparse

from .common import add_target, open_target, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="print sizes, memory and disk use", description=__doc__)
    p.add_argument("--collection", "-c", help="only this collection")
    add_target(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    db = open_target(args)
    try:
        print_json(db.collection(args.collection).stats() if args.collection else db.stats())
    finally:
        db.close()
    return 0
