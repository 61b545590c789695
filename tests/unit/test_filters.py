"""Mongo-style metadata filters."""

from __future__ import annotations

import pytest

from vecdb.errors import InvalidArgumentError
from vecdb.filters import compile_filter

DOC = {"lang": "en", "year": 2021, "tags": ["a", "b"], "author": {"name": "ann"}, "draft": False}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"lang": "en"}, True),
        ({"lang": {"$eq": "de"}}, False),
        ({"lang": {"$ne": "de"}}, True),
        ({"missing": {"$ne": 1}}, True),
        ({"lang": {"$in": ["de", "en"]}}, True),
        ({"lang": {"$nin": ["de", "en"]}}, False),
        ({"year": {"$gt": 2020, "$lt": 2022}}, True),
        ({"year": {"$gte": 2022}}, False),
        ({"year": {"$lte": 2021}}, True),
        ({"year": {"$gt": "2020"}}, False),  # no cross-type comparisons
        ({"tags": "a"}, True),
        ({"tags": {"$in": ["z", "b"]}}, True),
        ({"author.name": "ann"}, True),
        ({"draft": 0}, False),  # booleans are not numbers
        ({"draft": False}, True),
        ({"missing": {"$exists": False}}, True),
        ({"$or": [{"lang": "de"}, {"year": 2021}]}, True),
        ({"$and": [{"lang": "en"}, {"year": 1999}]}, False),
        ({"$not": {"lang": "de"}}, True),
        ({}, True),
    ],
)
def test_filter_semantics(where, expected):
    assert compile_filter(where)(DOC) is expected


@pytest.mark.parametrize(
    "where",
    [{"a": {"$regex": "x"}}, {"$or": []}, {"$and": {}}, {"a": {"$in": 3}}, {"a": {"$gt": [1]}}, {"$foo": 1},
     {"a": {"$exists": 1}}, [1], "x"],
)
def test_malformed_filters_raise(where):
    with pytest.raises(InvalidArgumentError):
        compile_filter(where)
