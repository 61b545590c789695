"""Shared fixtures: seeds, fresh databases, and an autouse guard that closes every database a test opened."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import vecdb
from vecdb.database import Database

settings.register_profile("fast", max_examples=20, stateful_step_count=20, deadline=None)
settings.register_profile(
    "ci", max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(  # a long hunt, by hand: HYPOTHESIS_PROFILE=soak pytest tests/property
    "soak", max_examples=2000, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def seed() -> int:
    return 1234


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture
def db(tmp_path) -> vecdb.Database:
    return vecdb.open(tmp_path / "db")


@pytest.fixture(autouse=True)
def close_every_database(monkeypatch):
    """Close whatever a test opened, so LMDB environments never leak between tests."""
    opened: list[Database] = []
    original = Database.__init__

    def tracking_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(Database, "__init__", tracking_init)
    yield
    for database in opened:
        database.close()


def brute_force(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int, metric: str = "l2"):
    """Exact top-k (ids, distances) with the API's distance definitions, ties broken by id."""
    if len(ids) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    x = vectors.astype(np.float64)
    q = query.astype(np.float64)
    if metric == "l2":
        d = ((x - q) ** 2).sum(1)
    elif metric == "ip":
        d = 1 - x @ q
    else:
        xn = np.linalg.norm(x, axis=1)
        qn = np.linalg.norm(q)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where((xn > 0) & (qn > 0), (x @ q) / (xn * qn), 0.0)
        d = 1 - cos
    order = np.lexsort((ids, d))[:k]
    return ids[order], d[order].astype(np.float32)


def assert_same_neighbours(got_ids, got_d, exp_ids, exp_d, dist_of: dict[int, float], tol: float = 1e-3):
    """Exact search may order ties differently: the distances must match brute force, and each returned
    id's true distance must equal the distance reported for it."""
    assert len(got_ids) == len(exp_ids), (got_ids, exp_ids)
    np.testing.assert_allclose(got_d, exp_d, rtol=tol, atol=tol)
    for i, d in zip(got_ids.tolist(), got_d.tolist(), strict=True):
        assert abs(dist_of[i] - d) <= tol * max(1.0, abs(d)), (i, d, dist_of[i])
