"""`vecdb qa`: store QA pairs and passages in a QA memory and ask it questions.

vecdb qa add --memory support --tenant acme --question "How do I reset my password?" --answer "Settings."
vecdb qa add --memory support --tenant acme --file pairs.jsonl     # {"question", "answer", "source"?,
                                                                   #  "metadata"?, "tenant"?} per line
vecdb qa add-passages --memory support --tenant acme --file docs.jsonl   # {"text", "source"?, ...}
vecdb qa ask --memory support --tenant acme "how can I reset my password?"  [--json | --context]
vecdb qa forget --memory support --tenant acme --threshold 0.1 [--dry-run]
vecdb qa stats --memory support
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import FailedPreconditionError, InvalidArgumentError
from .common import add_target, open_target, print_json

BATCH = 1000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "qa",
        help="QA memory: add question/answer pairs and passages, ask questions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="qa_command", required=True, metavar="ACTION")

    add = sub.add_parser("add", help="add QA pairs (one from flags, or many from a .jsonl file)")
    _common(add)
    add.add_argument("--question", help="the question")
    add.add_argument("--answer", help="its answer")
    add.add_argument("--source", help="where the answer comes from (document, URL)")
    add.add_argument("--metadata", type=_json_object, help="JSON object stored with the pair")
    add.add_argument(
        "--file", type=Path, help='.jsonl file: {"question", "answer", "source"?, "metadata"?, "tenant"?} per line'
    )
    add.set_defaults(func=cmd_add)

    passages = sub.add_parser("add-passages", help="add passages (from --text or a .jsonl / .txt file)")
    _common(passages)
    passages.add_argument("--text", action="append", help="a passage (repeatable)")
    passages.add_argument("--source", help="source of the --text passages")
    passages.add_argument(
        "--file",
        type=Path,
        help='.jsonl ({"text", "source"?, "metadata"?, "tenant"?} per line) or .txt (one passage per paragraph)',
    )
    passages.set_defaults(func=cmd_add_passages)

    ask = sub.add_parser("ask", help="ask a question: direct answer, best QA pairs and passages")
    _common(ask)
    ask.add_argument("question", help="the question")
    ask.add_argument("-k", type=int, default=5, help="QA pairs and passages to return (default 5)")
    ask.add_argument("--where", type=_json_object, help='metadata filter, e.g. \'{"lang": {"$in": ["en"]}}\'')
    ask.add_argument("--threshold", type=float, help="direct-answer similarity threshold (default: memory's)")
    ask.add_argument("--margin", type=float, help="direct-answer margin over the runner-up (default: memory's)")
    ask.add_argument("--multihop", action="store_true", help="two-hop retrieval (append the answer, ask again)")
    ask.add_argument("--no-reinforce", action="store_true", help="do not count this ask as a recall")
    out = ask.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the full result as JSON")
    out.add_argument("--context", action="store_true", help="print the prompt-ready context for an LLM")
    ask.set_defaults(func=cmd_ask)

    forget = sub.add_parser("forget", help="delete QA pairs whose retention exp(-t/S) is below a threshold")
    _common(forget)
    forget.add_argument("--threshold", type=float, default=0.1, help="retention threshold (default 0.1)")
    forget.add_argument("--dry-run", action="store_true", help="only list what would be forgotten")
    forget.set_defaults(func=cmd_forget)

    stats = sub.add_parser("stats", help="embedder, thresholds and sizes of a memory")
    _common(stats, tenant=False)
    stats.set_defaults(func=cmd_stats)


def _common(parser: argparse.ArgumentParser, tenant: bool = True) -> None:
    parser.add_argument("--memory", required=True, help="name of the QA memory")
    if tenant:
        parser.add_argument("--tenant", default="default", help="tenant (default: 'default')")
    parser.add_argument(
        "--embedder",
        choices=("hashing", "minilm"),
        help="embedder for a new memory (default: the one recorded, else hashing)",
    )
    add_target(parser)


def _json_object(text: str) -> dict:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from e
    if not isinstance(obj, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return obj


def _open_memory(args: argparse.Namespace) -> tuple[Any, Any]:
    from ..embedders import HashingEmbedder, MiniLMEmbedder

    embedder = {"hashing": HashingEmbedder, "minilm": MiniLMEmbedder, None: lambda: None}[args.embedder]()
    db = open_target(args)
    if hasattr(db, "qa_memory"):
        # Over --server the memory's embedder lives on the server, so only name it when asked to.
        mem = db.qa_memory(args.memory) if embedder is None else db.qa_memory(args.memory, embedder=embedder)
        return db, mem
    from ..database import Database

    if isinstance(db, Database):
        from ..qa_memory import QAMemory

        return db, QAMemory.open(db, args.memory, embedder)
    db.close()
    raise FailedPreconditionError("this server connection does not offer QA memory")


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidArgumentError(f"{path}:{lineno}: not valid JSON: {e}") from e
            if not isinstance(obj, dict):
                raise InvalidArgumentError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, obj


def _batches(rows: list[dict], default_tenant: str) -> Iterator[tuple[str, list[dict]]]:
    by_tenant: dict[str, list[dict]] = {}
    for row in rows:
        by_tenant.setdefault(row.get("tenant") or default_tenant, []).append(row)
    for tenant, items in by_tenant.items():
        for i in range(0, len(items), BATCH):
            yield tenant, items[i : i + BATCH]


def cmd_add(args: argparse.Namespace) -> int:
    if args.file is None and (args.question is None or args.answer is None):
        raise InvalidArgumentError("give --question and --answer, or --file pairs.jsonl")
    rows: list[dict] = []
    if args.question is not None or args.answer is not None:
        rows.append(
            {"question": args.question, "answer": args.answer, "source": args.source, "metadata": args.metadata}
        )
    if args.file is not None:
        for lineno, obj in _read_jsonl(args.file):
            if not isinstance(obj.get("question"), str) or not isinstance(obj.get("answer"), str):
                raise InvalidArgumentError(f"{args.file}:{lineno}: needs string fields 'question' and 'answer'")
            rows.append(obj)
    db, mem = _open_memory(args)
    with db:
        ids: list[int] = []
        for tenant, batch in _batches(rows, args.tenant):
            ids += mem.add(
                [r["question"] for r in batch],
                [r["answer"] for r in batch],
                tenant=tenant,
                sources=[r.get("source") for r in batch],
                metadata=[r.get("metadata") for r in batch],
            )
    print(f"added {len(ids)} QA pair(s) to memory {args.memory!r}", file=sys.stderr)
    print_json(ids)
    return 0


def cmd_add_passages(args: argparse.Namespace) -> int:
    rows = [{"text": t, "source": args.source} for t in (args.text or [])]
    if args.file is not None:
        if args.file.suffix == ".jsonl":
            for lineno, obj in _read_jsonl(args.file):
                if not isinstance(obj.get("text"), str):
                    raise InvalidArgumentError(f"{args.file}:{lineno}: needs a string field 'text'")
                rows.append(obj)
        else:
            text = args.file.read_text(encoding="utf-8")
            rows += [{"text": p.strip(), "source": str(args.file)} for p in text.split("\n\n") if p.strip()]
    if not rows:
        raise InvalidArgumentError("give --text (repeatable) or --file")
    db, mem = _open_memory(args)
    with db:
        ids: list[int] = []
        for tenant, batch in _batches(rows, args.tenant):
            ids += mem.add_passages(
                [r["text"] for r in batch],
                tenant=tenant,
                sources=[r.get("source") for r in batch],
                metadata=[r.get("metadata") for r in batch],
            )
    print(f"added {len(ids)} passage(s) to memory {args.memory!r}", file=sys.stderr)
    print_json(ids)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    db, mem = _open_memory(args)
    with db:
        reinforce = False if args.no_reinforce else None
        if args.multihop:
            res = mem.ask_multihop(args.question, tenant=args.tenant, k=args.k, where=args.where, reinforce=reinforce)
        else:
            res = mem.ask(
                args.question,
                tenant=args.tenant,
                k=args.k,
                where=args.where,
                threshold=args.threshold,
                margin=args.margin,
                reinforce=reinforce,
            )
    if args.json:
        print_json(res.to_dict())
    elif args.context:
        print(res.to_context())
    else:
        print(f"answer: {res.answer if res.answer is not None else '(no confident match)'}")
        for h in res.hits:
            src = f"  [{h.source}]" if h.source else ""
            print(f"  {h.score:.3f}  Q: {h.question}\n         A: {h.answer}{src}")
        for p in res.passages:
            print(f"  {p.score:.3f}  P: {p.text[:100]}{'...' if len(p.text) > 100 else ''}")
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    db, mem = _open_memory(args)
    with db:
        gone = mem.forget(tenant=args.tenant, threshold=args.threshold, dry_run=args.dry_run)
    verb = "would forget" if args.dry_run else "forgot"
    print(f"{verb} {len(gone)} QA pair(s)", file=sys.stderr)
    print_json(gone)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    db, mem = _open_memory(args)
    with db:
        print_json(mem.stats())
    return 0
