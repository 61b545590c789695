"""Numba kernels: pure functions over arrays (no Python objects), compiled once and cached on disk."""

from .distances import METRIC_CODES, cosine, inner_product, many_to_many, one_to_many, sq_l2
from .heap import scan_topk, scan_topk_batch, topk

__all__ = [
    "METRIC_CODES",
    "cosine",
    "inner_product",
    "many_to_many",
    "one_to_many",
    "scan_topk",
    "scan_topk_batch",
    "sq_l2",
    "topk",
]
