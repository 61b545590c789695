"""Mongo-style metadata filters: `{"lang": {"$in": ["en", "de"]}, "year": {"$gt": 2020}}`.

Operators: $eq $ne $in $nin $gt $gte $lt $lte $exists, and $and $or $not at any level. A bare value means
$eq; several fields in one object are ANDed. `compile_filter` checks the whole filter up front, so a
malformed one raises InvalidArgumentError before any search runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import InvalidArgumentError

Predicate = Callable[[dict[str, Any]], bool]
_MISSING = object()


def compile_filter(where: Any) -> Predicate:
    if not isinstance(where, dict):
        raise InvalidArgumentError(f"where must be a JSON object, got {type(where).__name__}")
    parts = [_compile_entry(key, value) for key, value in where.items()]
    return lambda meta: all(p(meta) for p in parts)


def _compile_entry(key: str, value: Any) -> Predicate:
    if key in ("$and", "$or"):
        if not isinstance(value, list) or not value:
            raise InvalidArgumentError(f"{key} takes a non-empty list of filters, got {value!r}")
        subs = [compile_filter(v) for v in value]
        if key == "$and":
            return lambda meta: all(s(meta) for s in subs)
        return lambda meta: any(s(meta) for s in subs)
    if key == "$not":
        sub = compile_filter(value)
        return lambda meta: not sub(meta)
    if key.startswith("$"):
        raise InvalidArgumentError(f"unknown operator {key!r} at the top of a filter")
    test = _compile_condition(key, value)
    return lambda meta: test(_lookup(meta, key))


def _lookup(meta: dict[str, Any], key: str) -> Any:
    """Dotted keys reach into nested objects: "author.name"."""
    cur: Any = meta
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def _compile_condition(field: str, cond: Any) -> Callable[[Any], bool]:
    if not (isinstance(cond, dict) and cond and all(str(k).startswith("$") for k in cond)):
        return _op("$eq", cond, field)
    tests = [_op(op, arg, field) for op, arg in cond.items()]
    return lambda v: all(t(v) for t in tests)


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool)
            and not isinstance(b, bool)) or (isinstance(a, str) and isinstance(b, str))


def _op(op: str, arg: Any, field: str) -> Callable[[Any], bool]:
    if op == "$eq":
        return lambda v: v is not _MISSING and _equal(v, arg)
    if op == "$ne":
        return lambda v: v is _MISSING or not _equal(v, arg)
    if op in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise InvalidArgumentError(f"{op} on {field!r} takes a list, got {arg!r}")
        if op == "$in":
            return lambda v: v is not _MISSING and any(_equal(v, a) for a in arg)
        return lambda v: v is _MISSING or not any(_equal(v, a) for a in arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(arg, bool) or not isinstance(arg, (int, float, str)):
            raise InvalidArgumentError(f"{op} on {field!r} takes a number or a string, got {arg!r}")
        cmp = {"$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
               "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b}[op]
        return lambda v: _comparable(v, arg) and cmp(v, arg)
    if op == "$exists":
        if not isinstance(arg, bool):
            raise InvalidArgumentError(f"$exists on {field!r} takes true or false, got {arg!r}")
        return lambda v: (v is not _MISSING) == arg
    raise InvalidArgumentError(f"unknown operator {op!r} on {field!r}")


def _equal(value: Any, arg: Any) -> bool:
    # A list field matches when any element matches, as in MongoDB: {"tags": "a"} finds ["a", "b"].
    if isinstance(value, list) and not isinstance(arg, list):
        return any(_equal(v, arg) for v in value)
    if isinstance(value, bool) != isinstance(arg, bool):
        return False
    return value == arg
