"""`vecdb ingest FILE`: bulk-load vectors from .npy, .fvecs, .jsonl or .parquet, in batches, with a
progress bar; `--resume` skips batches already stored, so an interrupted load can simply be rerun."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import InvalidArgumentError, NotFoundError
from .common import add_target, open_target


@dataclass
class Batch:
    ids: Any  # validated by the library, like any user's input
    vectors: Any
    tenants: Any  # a name, or one list of names per row
    metadata: list | None = None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="bulk-load vectors from a file", description=__doc__)
    p.add_argument("file", help=".npy (n, dim) / .fvecs / .jsonl ({id, vector, tenants, metadata} per line) / .parquet")
    p.add_argument("--collection", "-c", required=True, help="collection name (created if absent)")
    p.add_argument("--metric", default="l2", choices=["l2", "ip", "cosine"], help="metric if the collection is created")
    p.add_argument("--index", default=None, help="index kind if the collection is created")
    p.add_argument("--tenant", default="default", help="tenant for .npy/.fvecs rows (default: default)")
    p.add_argument("--id-start", type=int, default=0, help="id of the first .npy/.fvecs row (default: 0)")
    p.add_argument("--batch-size", type=int, default=10_000, help="vectors per transaction (default: 10000)")
    p.add_argument("--resume", action="store_true", help="skip batches whose ids are all stored already")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_target(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        raise NotFoundError(f"input file {str(path)!r} not found")
    if args.batch_size < 1:
        raise InvalidArgumentError(f"--batch-size must be positive, got {args.batch_size}")
    total, dim, batches = read_batches(path, args.batch_size, args.tenant, args.id_start)
    db = open_target(args)
    try:
        options = {} if args.index is None else {"index": args.index}
        col = db.create_collection(args.collection, dim=dim, metric=args.metric, exist_ok=True, **options)
        done = skipped = 0
        start = time.perf_counter()
        with tqdm(total=total, unit="vec", disable=args.no_progress, desc=f"ingest {path.name}") as bar:
            for batch in batches:
                if args.resume and len(col.get(batch.ids)) == len(batch.ids):
                    skipped += len(batch.ids)
                else:
                    col.upsert(batch.ids, batch.vectors, tenants=batch.tenants, metadata=batch.metadata)
                    done += len(batch.ids)
                bar.update(len(batch.ids))
        elapsed = time.perf_counter() - start
        rate = done / elapsed if elapsed > 0 else 0.0
        print(f"ingested {done} vectors into {args.collection!r} in {elapsed:.2f} s ({rate:,.0f} vectors/s)"
              + (f"; skipped {skipped} already stored" if skipped else ""))
    finally:
        db.close()
    return 0


def read_batches(path: Path, size: int, tenant: str, id_start: int) -> tuple[int, int, Iterator[Batch]]:
    """-> (row count, dim, batches). Whole-array formats are memory-mapped, not loaded."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _array_batches(np.load(path, mmap_mode="r"), size, tenant, id_start, path)
    if suffix == ".fvecs":
        return _array_batches(read_fvecs(path), size, tenant, id_start, path)
    if suffix == ".jsonl":
        return _jsonl_batches(path, size, tenant)
    if suffix == ".parquet":
        return _parquet_batches(path, size, tenant)
    raise InvalidArgumentError(f"unsupported input {path.name!r}: expected .npy, .fvecs, .jsonl or .parquet")


def read_fvecs(path: Path) -> np.ndarray:
    """.fvecs: each row is an int32 dim followed by dim float32s."""
    raw = np.memmap(path, dtype=np.int32, mode="r")
    if raw.size == 0:
        raise InvalidArgumentError(f"{path.name!r} is empty")
    dim = int(raw[0])
    if dim <= 0 or raw.size % (dim + 1):
        raise InvalidArgumentError(f"{path.name!r} is not a valid .fvecs file (first dim {dim})")
    rows = raw.reshape(-1, dim + 1)
    if (rows[:, 0] != dim).any():
        raise InvalidArgumentError(f"{path.name!r} mixes dimensions; .fvecs rows must all have dim {dim}")
    return rows[:, 1:].view(np.float32)


def _array_batches(arr: np.ndarray, size: int, tenant: str, id_start: int, path: Path):
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InvalidArgumentError(f"{path.name!r} must hold a non-empty 2-d array, got shape {arr.shape}")
    n, dim = arr.shape

    def gen() -> Iterator[Batch]:
        for lo in range(0, n, size):
            hi = min(n, lo + size)
            yield Batch(np.arange(id_start + lo, id_start + hi, dtype=np.int64), np.asarray(arr[lo:hi]), tenant)

    return n, dim, gen()


def _jsonl_batches(path: Path, size: int, tenant: str):
    with path.open() as f:
        first = f.readline()
        n = (1 if first.strip() else 0) + sum(1 for line in f if line.strip())
    if n == 0:
        raise InvalidArgumentError(f"{path.name!r} is empty")
    dim = len(_parse_line(first, path, 1, tenant)["vector"])

    def gen() -> Iterator[Batch]:
        rows: list[dict] = []
        with path.open() as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    rows.append(_parse_line(line, path, lineno, tenant))
                if len(rows) == size:
                    yield _rows_to_batch(rows)
                    rows = []
        if rows:
            yield _rows_to_batch(rows)

    return n, dim, gen()


def _parse_line(line: str, path: Path, lineno: int, tenant: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise InvalidArgumentError(f"{path.name}:{lineno}: not JSON: {e}") from e
    if not isinstance(row, dict) or "id" not in row or "vector" not in row:
        raise InvalidArgumentError(f"{path.name}:{lineno}: expected an object with 'id' and 'vector'")
    tenants = row.get("tenants", row.get("tenant", tenant))
    row["tenants"] = [tenants] if isinstance(tenants, str) else tenants
    return row


def _rows_to_batch(rows: list[dict]) -> Batch:
    return Batch(
        ids=[r["id"] for r in rows],
        vectors=[r["vector"] for r in rows],
        tenants=[r["tenants"] for r in rows],
        metadata=[r.get("metadata") for r in rows],
    )


def _parquet_batches(path: Path, size: int, tenant: str):
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise InvalidArgumentError("reading .parquet needs pyarrow: pip install 'vecdb[parquet]'") from e
    table = pq.ParquetFile(path)
    n = table.metadata.num_rows
    first = next(table.iter_batches(batch_size=1, columns=["vector"])).to_pylist()[0]["vector"]

    def gen() -> Iterator[Batch]:
        for rb in table.iter_batches(batch_size=size):
            rows = rb.to_pylist()
            for r in rows:
                ts = r.get("tenants", r.get("tenant", tenant))
                r["tenants"] = [ts] if isinstance(ts, str) else ts
                if isinstance(r.get("metadata"), str):
                    r["metadata"] = json.loads(r["metadata"])
            yield _rows_to_batch(rows)

    return n, len(first), gen()
