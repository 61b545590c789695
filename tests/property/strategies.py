"""Hypothesis strategies for the state machine: small id, tenant and vector spaces so that operations
collide often (re-upserts, shared vectors, revoking what was granted)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

DIM = 4
TENANTS = ["acme", "globex", "initech", "umbrella"]

ids = st.integers(min_value=0, max_value=40)
id_batches = st.lists(ids, min_size=1, max_size=8, unique=True)
tenant_names = st.sampled_from(TENANTS)
tenant_sets = st.lists(tenant_names, min_size=1, max_size=3, unique=True)
# Integer grid values make duplicates and exact ties likely, the cases exact search gets wrong first.
coords = st.integers(min_value=-3, max_value=3).map(float)
vectors = st.lists(coords, min_size=DIM, max_size=DIM).map(lambda v: np.array(v, dtype=np.float32))
ks = st.integers(min_value=1, max_value=12)
