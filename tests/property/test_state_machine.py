"""A Hypothesis state machine drives upsert/delete/grant/revoke/search on the real database (LMDB,
flat index) and an in-memory model, checking counts, duplicates, tenant isolation and exact results
after every step, and again after reopening."""

from __future__ import annotations

import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import vecdb
from tests.property import strategies as S
from tests.property.invariants import check_counts, check_search, model_top_k
from vecdb.config import Settings


class CollectionMachine(RuleBasedStateMachine):
    index = "flat"
    cache_bytes = None
    reclaim_after = Settings.reclaim_after  # tombstones wait until a write names their ids, or a reopen

    def _open(self):
        return vecdb.open(self.dir, settings=Settings(durable=False, cache_bytes=self.cache_bytes,
                                                      reclaim_after=self.reclaim_after))

    @initialize(metric=st.sampled_from(["l2", "ip"]))
    def open_db(self, metric):
        self.dir = tempfile.mkdtemp()
        self.db = self._open()
        self.metric = metric
        self.col = self.db.create_collection("c", dim=S.DIM, metric=metric, index=self.index)
        self.model: dict[int, tuple[np.ndarray, set[str]]] = {}
        # The database remembers every tenant it has seen, even after all its vectors went away.
        self.seen: set[str] = set()

    def teardown(self):
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(ids=S.id_batches, data=st.data())
    def upsert(self, ids, data):
        vecs = [data.draw(S.vectors) for _ in ids]
        tenants = [data.draw(S.tenant_sets) for _ in ids]
        assert self.col.upsert(ids, np.stack(vecs), tenants=tenants) == len(ids)
        for i, v, ts in zip(ids, vecs, tenants, strict=True):
            self.model[i] = (v, set(ts))
            self.seen |= set(ts)

    @rule(ids=S.id_batches)
    def delete(self, ids):
        expected = sum(i in self.model for i in ids)
        assert self.col.delete(ids) == expected
        for i in ids:
            self.model.pop(i, None)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), tenant=S.tenant_names)
    def grant(self, data, tenant):
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=5, unique=True))
        expected = sum(tenant not in self.model[i][1] for i in ids)
        assert self.col.grant(ids, tenant) == expected
        for i in ids:
            self.model[i][1].add(tenant)
        self.seen.add(tenant)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), tenant=S.tenant_names)
    def revoke(self, data, tenant):
        ids = data.draw(st.lists(st.sampled_from(sorted(self.model)), min_size=1, max_size=5, unique=True))
        if tenant not in self.seen:
            with pytest.raises(vecdb.TenantNotFound):
                self.col.revoke(ids, tenant)
            return
        expected = sum(tenant in self.model[i][1] for i in ids)
        assert self.col.revoke(ids, tenant) == expected
        for i in ids:
            self.model[i][1].discard(tenant)
        # A vector no tenant holds stays stored but is invisible; the model mirrors that.

    @rule(query=S.vectors, k=S.ks, tenant=S.tenant_names)
    def search(self, query, k, tenant):
        if tenant not in self.seen:
            with pytest.raises(vecdb.TenantNotFound):
                self.col.search(query, k=k, tenant=tenant)
            return
        res = self.col.search(query, k=k, tenant=tenant)
        check_search(res.ids, res.distances, model_top_k(self.model, query, k, tenant, self.metric),
                     self.model, tenant)

    @rule(queries=st.lists(S.vectors, min_size=2, max_size=4), k=S.ks, tenant=S.tenant_names)
    def search_batch(self, queries, k, tenant):
        if tenant not in self.seen:
            with pytest.raises(vecdb.TenantNotFound):
                self.col.search_batch(np.stack(queries), k=k, tenant=tenant)
            return
        ids, dists = self.col.search_batch(np.stack(queries), k=k, tenant=tenant)
        for row, query in enumerate(queries):
            expected = model_top_k(self.model, query, k, tenant, self.metric)
            n = len(expected)
            assert (ids[row, n:] == -1).all()  # rows are padded past what the tenant holds
            check_search(ids[row, :n], dists[row, :n], expected, self.model, tenant)

    @rule()
    def reopen(self):
        self.db.close()
        self.db = self._open()
        self.col = self.db.collection("c")

    @invariant()
    def counts_match(self):
        if hasattr(self, "col"):
            check_counts(self.col, self.model, S.TENANTS)


TestFlatCollection = CollectionMachine.TestCase


class CuratorMachine(CollectionMachine):
    """The same rules on the tree index with tiny thresholds, so training, rebuilds, leaf splits,
    shortlist splits and merges all happen within a few dozen vectors. The budget pruning is exact
    (ball bounds), and the default budget exceeds these tenants, so results must equal brute force."""

    options: dict = {}

    @initialize(metric=st.sampled_from(["l2", "ip"]))
    def open_db(self, metric):
        self.dir = tempfile.mkdtemp()
        self.db = self._open()
        self.metric = metric
        self.col = self.db.create_collection("c", dim=S.DIM, metric=metric, index="curator", tau=3,
                                             max_leaf=8, train_min=12, branching=3, rebuild_growth=2.0,
                                             **self.options)
        self.model = {}
        self.seen = set()


TestCuratorCollection = CuratorMachine.TestCase


class EagerCuratorMachine(CuratorMachine):
    """Tombstones applied as soon as more than two wait, so most deletes and revokes reach the index
    while searches and grants go on around them."""

    reclaim_after = 2


TestEagerCuratorCollection = EagerCuratorMachine.TestCase


class DiskCuratorMachine(CuratorMachine):
    """The tree index in disk mode: a cache of a few hundred bytes, so postings are evicted, re-read and
    sometimes too big to cache at all. fp32 codes keep the scan exact, so results must still equal
    brute force (int8 codes are checked for recall in tests/integration/test_disk_mode.py)."""

    cache_bytes = 300
    options = {"codes": "fp32"}


TestDiskCuratorCollection = DiskCuratorMachine.TestCase
