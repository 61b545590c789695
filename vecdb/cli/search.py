"""`vecdb search`: nearest neighbours of one or more queries for one tenant, printed as JSON."""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..errors import InvalidArgumentError
from .common import add_target, open_target, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search a collection for one tenant", description=__doc__)
    p.add_argument("--collection", "-c", required=True, help="collection name")
    p.add_argument("--tenant", "-t", default="default", help="tenant to search as (default: default)")
    p.add_argument("-k", type=int, default=10, help="results per query (default: 10)")
    q = p.add_mutually_exclusive_group(required=True)
    q.add_argument("--query", help="one query vector: comma-separated numbers or a JSON list "
                   "(write --query=-1,2 when it starts with a minus)")
    q.add_argument("--query-file", help=".npy file of query vectors, one per row")
    p.add_argument("--where", help='metadata filter as JSON, e.g. \'{"lang": {"$in": ["en"]}}\'')
    add_target(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    queries = _queries(args)
    where = None
    if args.where:
        try:
            where = json.loads(args.where)
        except json.JSONDecodeError as e:
            raise InvalidArgumentError(f"--where is not JSON: {e}") from e
    db = open_target(args)
    try:
        col = db.collection(args.collection)
        out = []
        for q in queries:
            res = col.search(q, k=args.k, tenant=args.tenant, where=where)
            out.append({"ids": res.ids, "distances": res.distances, "complete": res.complete})
        print_json(out[0] if args.query else out)
    finally:
        db.close()
    return 0


def _queries(args: argparse.Namespace) -> np.ndarray:
    if args.query_file:
        arr = np.load(args.query_file)
        return arr.reshape(1, -1) if arr.ndim == 1 else arr
    text = args.query.strip()
    try:
        values = json.loads(text) if text.startswith("[") else [float(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise InvalidArgumentError(f"--query must be comma-separated numbers or a JSON list: {e}") from e
    return np.asarray([values], dtype=np.float32)
